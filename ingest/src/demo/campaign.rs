//! CRM campaigns and acquisition sources.
//!
//! Campaign messages are sent by the CRM tool, which reports `Campaign Message Sent`,
//! `Campaign Message Delivered` (e-mail; a few bounce), `Campaign Message Opened` and
//! `Campaign Unsubscribed` server-side (a `user_id`, no device, no session), as its engagement
//! export would through `POST /currents`; SMS has no open tracking. A purchase the campaign is
//! credited with is reported as `Campaign Converted`. A click opens a session on the person's device that starts with
//! `Campaign Message Clicked`; for a few days afterwards the person buys more readily (the lift an
//! analysis should find), and purchases in that time carry the campaign's id. Every campaign runs
//! an A/B test of two message variants, split by person, with different click rates.
//!
//! The last campaign, the drop-off rescue, is the seed scenario's: its audience is not a rule
//! but the members of a cohort synced to the campaign engine ([`SyncedAudience`], set by
//! `sluice demo` mid-simulation from the cohort sync's files), and the engine reports its
//! engagement the way Braze does — Currents events, translated by the collector's `/currents`
//! code into the same `Campaign …` events.

use chrono::Weekday;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::World;
use super::calendar::MINUTE_MS;
use super::ids::{self, Stream};
use super::population::Person;
use super::visit::props;

/// How a message reaches people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    /// App push notification (needs an app).
    Push,
    /// E-mail.
    Email,
    /// Text message (no open tracking).
    Sms,
}

impl Channel {
    /// The `channel` property value.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Channel::Push => "push",
            Channel::Email => "email",
            Channel::Sms => "sms",
        }
    }
}

/// Who a campaign targets (among signed-up people who accept marketing).
#[derive(Debug, Clone, Copy)]
enum Audience {
    /// People who signed up the day before.
    NewSignups,
    /// People who left a checkout unpaid the day before.
    AbandonedCheckout,
    /// People active in the last 7 days.
    RecentlyActive,
    /// People last seen 14 to 60 days ago.
    Dormant,
    /// People whose favourite category is one of these.
    Fans(&'static [u8]),
    /// Everyone reachable.
    Everyone,
    /// The members of a cohort synced to the campaign engine.
    Synced,
}

/// The members of a cohort synced to the campaign engine (their user ids), and the day the
/// rescue campaign is sent to them.
#[derive(Debug, Clone, Default)]
pub struct SyncedAudience {
    /// The simulated day (0-based) the campaign sends on.
    pub day: i32,
    /// The user ids the sync delivered.
    pub users: std::collections::HashSet<String>,
}

/// When a campaign sends.
#[derive(Debug, Clone, Copy)]
enum Schedule {
    /// Every day (triggered campaigns).
    Daily,
    /// Once a week on this weekday.
    Weekly(Weekday),
    /// Once, at this fraction of the window.
    Once(f64),
    /// Once, on the day a cohort was synced to the engine for it.
    Synced,
}

/// One CRM campaign.
#[derive(Debug)]
pub(crate) struct Campaign {
    /// The `campaign_id` property.
    pub(crate) id: &'static str,
    /// The `campaign_name` property.
    pub(crate) name: &'static str,
    /// How it is delivered.
    pub(crate) channel: Channel,
    audience: Audience,
    schedule: Schedule,
    /// Send hour (UTC; KST is 9 hours ahead).
    send_hour_utc: i64,
    /// Share of sent messages opened (ignored for SMS).
    open_rate: f64,
    /// Share of opened (SMS: sent) messages clicked, variant A.
    click_rate: f64,
    /// Variant B's click rate relative to A's.
    variant_b: f64,
    /// How much more likely inquiries, checkouts and payments are after a click.
    pub(crate) lift: f64,
}

/// The campaigns; a person gets at most one message a day, the first of [`PRIORITY`] that
/// targets them.
#[rustfmt::skip]
pub(crate) const CAMPAIGNS: [Campaign; 7] = [
    Campaign { id: "cmp_welcome_coupon", name: "Welcome coupon 10%", channel: Channel::Email, audience: Audience::NewSignups, schedule: Schedule::Daily, send_hour_utc: 1, open_rate: 0.45, click_rate: 0.25, variant_b: 1.3, lift: 1.6 },
    Campaign { id: "cmp_checkout_reminder", name: "Checkout reminder", channel: Channel::Push, audience: Audience::AbandonedCheckout, schedule: Schedule::Daily, send_hour_utc: 10, open_rate: 0.25, click_rate: 0.7, variant_b: 1.15, lift: 2.0 },
    Campaign { id: "cmp_design_week", name: "Design Week: up to 30% off", channel: Channel::Push, audience: Audience::Fans(&[0, 3, 7]), schedule: Schedule::Once(0.55), send_hour_utc: 3, open_rate: 0.12, click_rate: 0.45, variant_b: 1.1, lift: 1.6 },
    Campaign { id: "cmp_autumn_sale", name: "Autumn Mega Sale", channel: Channel::Sms, audience: Audience::Everyone, schedule: Schedule::Once(0.93), send_hour_utc: 3, open_rate: 0.0, click_rate: 0.05, variant_b: 1.25, lift: 1.7 },
    Campaign { id: "cmp_winback_20", name: "We miss you: 20% off", channel: Channel::Email, audience: Audience::Dormant, schedule: Schedule::Weekly(Weekday::Thu), send_hour_utc: 9, open_rate: 0.15, click_rate: 0.12, variant_b: 1.5, lift: 1.8 },
    Campaign { id: "cmp_weekly_picks", name: "Weekly picks", channel: Channel::Email, audience: Audience::RecentlyActive, schedule: Schedule::Weekly(Weekday::Tue), send_hour_utc: 2, open_rate: 0.22, click_rate: 0.10, variant_b: 1.4, lift: 1.3 },
    Campaign { id: "cmp_dropoff_rescue", name: "Still deciding? 10% off what you viewed", channel: Channel::Email, audience: Audience::Synced, schedule: Schedule::Synced, send_hour_utc: 1, open_rate: 0.42, click_rate: 0.3, variant_b: 1.35, lift: 2.2 },
];

/// The drop-off rescue campaign's index in [`CAMPAIGNS`].
const RESCUE: usize = 6;
/// The order campaigns are considered in: the rescue (sent once, to a synced cohort) first.
const PRIORITY: [usize; 7] = [RESCUE, 0, 1, 2, 3, 4, 5];

/// A click on a campaign message: it opens a session at `at`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Click {
    /// Index into [`CAMPAIGNS`].
    pub(crate) campaign: u8,
    /// When the click happened.
    pub(crate) at: i64,
    /// Whether the person got variant B.
    pub(crate) variant_b: bool,
}

impl Click {
    /// The campaign clicked.
    pub(crate) fn campaign(&self) -> &'static Campaign {
        &CAMPAIGNS[usize::from(self.campaign)]
    }

    /// The campaign's id (also its `utm_campaign`).
    pub(crate) fn id(&self) -> &'static str {
        self.campaign().id
    }

    /// The channel's name (also the link's `utm_medium`).
    pub(crate) fn channel(&self) -> &'static str {
        self.campaign().channel.name()
    }

    /// The link's `utm_source`.
    pub(crate) fn utm_source(&self) -> &'static str {
        "crm"
    }

    /// The campaign properties every campaign event carries.
    pub(crate) fn properties(&self) -> Map<String, Value> {
        campaign_properties(self.campaign(), self.variant_b)
    }
}

fn campaign_properties(c: &Campaign, variant_b: bool) -> Map<String, Value> {
    props([
        ("campaign_id", json!(c.id)),
        ("campaign_name", json!(c.name)),
        ("channel", json!(c.channel.name())),
        ("variant", json!(if variant_b { "B" } else { "A" })),
    ])
}

impl Campaign {
    fn sends_on(&self, day: i32, world: &World, synced: Option<&SyncedAudience>) -> bool {
        match self.schedule {
            Schedule::Daily => true,
            Schedule::Weekly(weekday) => world.calendar.weekday(day) == weekday,
            Schedule::Once(at) => day == (f64::from(world.calendar.days()) * at) as i32,
            Schedule::Synced => synced.is_some_and(|s| s.day == day),
        }
    }

    fn targets(&self, p: &Person, day: i32, synced: Option<&SyncedAudience>) -> bool {
        if self.channel == Channel::Push && !p.has_app() {
            return false;
        }
        let idle = day - p.last_active_day;
        match self.audience {
            Audience::NewSignups => p.signup_day == Some(day - 1),
            Audience::AbandonedCheckout => p.abandoned.is_some_and(|(_, d)| d == day - 1),
            Audience::RecentlyActive => idle <= 7,
            Audience::Dormant => (14..=60).contains(&idle),
            Audience::Fans(categories) => categories.contains(&p.favourite),
            Audience::Everyone => true,
            Audience::Synced => synced.is_some_and(|s| s.users.contains(&ids::user_id(p.index))),
        }
    }
}

/// Sends today's message to `person`, if a campaign targets them; writes the CRM's events and
/// returns the click, if they click.
pub(crate) fn deliver(
    world: &World,
    person: &Person,
    day: i32,
    synced: Option<&SyncedAudience>,
    out: &mut Vec<Value>,
) -> Option<Click> {
    if !person.opt_in || !person.signed_up() || person.shop.is_some() {
        return None;
    }
    let (index, campaign) = PRIORITY
        .iter()
        .map(|&i| (i, &CAMPAIGNS[i]))
        .find(|(_, c)| c.sends_on(day, world, synced) && c.targets(person, day, synced))?;
    let seed = world.seed;
    let key = |what: u64| [u64::from(person.index), index as u64, day as u64, what];
    let variant_b = ids::hash(
        seed,
        Stream::Campaign,
        &[u64::from(person.index), index as u64],
    ) & 1
        == 1;
    let base = campaign_properties(campaign, variant_b);
    let send_window = (ids::unit(seed, Stream::Campaign, &key(1)) * 20.0 * MINUTE_MS as f64) as i64;
    let sent =
        world.calendar.day_start(day) + campaign.send_hour_utc * 60 * MINUTE_MS + send_window;
    let latest = world.calendar.last_session_start(day);
    out.push(engine_event(
        world,
        person,
        index,
        Report::Sent,
        sent,
        &base,
        key(10),
    ));
    let mut engaged_at = sent;
    if campaign.channel == Channel::Email {
        // About 2 % of e-mails bounce.
        if ids::unit(seed, Stream::Campaign, &key(6)) < BOUNCE_RATE {
            return None;
        }
        out.push(engine_event(
            world,
            person,
            index,
            Report::Delivered,
            sent + 2_000,
            &base,
            key(12),
        ));
    }
    if campaign.channel != Channel::Sms {
        if ids::unit(seed, Stream::Campaign, &key(2)) >= campaign.open_rate {
            return None;
        }
        // Opens spread from minutes to hours after the send.
        let delay =
            (2.0 * MINUTE_MS as f64) * 240f64.powf(ids::unit(seed, Stream::Campaign, &key(3)));
        engaged_at = sent + delay as i64;
        if engaged_at > latest {
            return None;
        }
        out.push(engine_event(
            world,
            person,
            index,
            Report::Opened,
            engaged_at,
            &base,
            key(11),
        ));
    }
    if campaign.channel == Channel::Email
        && ids::unit(seed, Stream::Campaign, &key(7)) < UNSUBSCRIBE_RATE
    {
        out.push(engine_event(
            world,
            person,
            index,
            Report::Unsubscribed,
            engaged_at + 30_000,
            &base,
            key(13),
        ));
        return None;
    }
    let click_rate = campaign.click_rate * if variant_b { campaign.variant_b } else { 1.0 };
    if ids::unit(seed, Stream::Campaign, &key(4)) >= click_rate {
        return None;
    }
    let at = engaged_at + 5_000 + (ids::unit(seed, Stream::Campaign, &key(5)) * 240_000.0) as i64;
    (at <= latest).then_some(Click {
        campaign: index as u8,
        at,
        variant_b,
    })
}

/// Share of campaign e-mails that bounce (no delivery, no open).
const BOUNCE_RATE: f64 = 0.02;
/// Share of opened campaign e-mails whose reader unsubscribes instead of reading on.
const UNSUBSCRIBE_RATE: f64 = 0.01;

/// The CRM's report that `person`'s purchase (order `order`, at `at`) converted campaign
/// `campaign` (an index of [`CAMPAIGNS`]), a minute after it.
pub(crate) fn converted(
    world: &World,
    person: &Person,
    campaign: u8,
    order: u64,
    at: i64,
    out: &mut Vec<Value>,
) {
    let c = &CAMPAIGNS[usize::from(campaign)];
    let variant_b = ids::hash(
        world.seed,
        Stream::Campaign,
        &[u64::from(person.index), u64::from(campaign)],
    ) & 1
        == 1;
    let mut properties = campaign_properties(c, variant_b);
    properties.remove("channel");
    out.push(engine_event(
        world,
        person,
        usize::from(campaign),
        Report::Converted,
        at + 60_000,
        &properties,
        [u64::from(person.index), u64::from(campaign), order, 14],
    ));
}

/// What the campaign engine reports.
#[derive(Debug, Clone, Copy)]
enum Report {
    Sent,
    Delivered,
    Opened,
    Unsubscribed,
    Converted,
}

impl Report {
    /// The event's name in the data.
    fn event_type(self) -> &'static str {
        match self {
            Report::Sent => "Campaign Message Sent",
            Report::Delivered => "Campaign Message Delivered",
            Report::Opened => "Campaign Message Opened",
            Report::Unsubscribed => "Campaign Unsubscribed",
            Report::Converted => "Campaign Converted",
        }
    }

    /// The Currents event type Braze exports it as.
    fn currents_type(self, channel: Channel) -> String {
        let channel = match channel {
            Channel::Push => "pushnotification",
            Channel::Email => "email",
            Channel::Sms => "sms",
        };
        match self {
            Report::Sent => format!("users.messages.{channel}.Send"),
            Report::Delivered => format!("users.messages.{channel}.Delivery"),
            Report::Opened => format!("users.messages.{channel}.Open"),
            Report::Unsubscribed => format!("users.messages.{channel}.Unsubscribe"),
            Report::Converted => "users.campaigns.Conversion".to_owned(),
        }
    }
}

/// An event the campaign engine reports about `campaign` (an index of [`CAMPAIGNS`]): the
/// rescue campaign's as a Braze Currents event translated by the collector's `/currents` code
/// (the engine it was synced to exports that way); the others' as the CRM's own events.
fn engine_event(
    world: &World,
    person: &Person,
    campaign: usize,
    report: Report,
    time: i64,
    properties: &Map<String, Value>,
    key: [u64; 4],
) -> Value {
    if campaign != RESCUE {
        return server_event(world, person, report.event_type(), time, properties, key);
    }
    let c = &CAMPAIGNS[campaign];
    let text = |name: &str| properties.get(name).cloned().unwrap_or(Value::Null);
    let currents = json!({
        "event_type": report.currents_type(c.channel),
        "id": ids::uuid_for(world.seed, Stream::ServerInsert, &key),
        "time": time / 1000,
        "user": {
            "user_id": format!("braze-{:06}", person.index),
            "external_user_id": ids::user_id(person.index),
            "timezone": "Asia/Seoul",
        },
        "properties": {
            "campaign_id": c.id,
            "campaign_name": c.name,
            "message_variation_name": text("variant"),
            "send_id": format!("{}-{}", c.id, time / 86_400_000),
        },
    });
    let body = json!({ "events": [currents] }).to_string();
    crate::collector::currents::amplitude_events(body.as_bytes())
        .ok()
        .and_then(|mut events| events.pop())
        .unwrap_or(Value::Null)
}

/// An event reported by the CRM: `user_id` only (the collector derives a device id), no session.
fn server_event(
    world: &World,
    person: &Person,
    event_type: &str,
    time: i64,
    properties: &Map<String, Value>,
    key: [u64; 4],
) -> Value {
    json!({
        "event_type": event_type,
        "user_id": ids::user_id(person.index),
        "time": time,
        "insert_id": ids::uuid_for(world.seed, Stream::ServerInsert, &key),
        "event_properties": properties,
    })
}

/// Where a first-time web visitor came from: `utm_source`, `utm_medium`, `utm_campaign`, referrer.
pub(crate) type Acquisition = (
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

/// Acquisition sources of first web visits, with weights.
#[rustfmt::skip]
const SOURCES: [(f64, Acquisition); 7] = [
    (0.30, (None, None, None, Some("https://www.google.com/"))),
    (0.22, (None, None, None, Some("https://search.naver.com/"))),
    (0.12, (Some("instagram"), Some("paid_social"), Some("fall_brand_2026"), Some("https://l.instagram.com/"))),
    (0.08, (Some("kakao"), Some("display"), Some("bizboard_nov"), None)),
    (0.06, (Some("naver"), Some("cpc"), Some("brand_keyword"), Some("https://search.naver.com/"))),
    (0.04, (Some("youtube"), Some("video"), Some("creator_collab"), Some("https://www.youtube.com/"))),
    (0.18, (None, None, None, None)),
];

/// Draws the acquisition source of a first web visit.
pub(crate) fn acquisition(rng: &mut StdRng) -> Acquisition {
    let i = super::device::weighted(rng, SOURCES.iter().map(|s| s.0));
    SOURCES[i].1
}
