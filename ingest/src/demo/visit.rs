//! One session on one device, and how its events are written.
//!
//! A [`Visit`] is what an SDK instance sees between `session_start` and `session_end`: it stamps
//! every event with the device's context, the session id (the session's start in ms), the next
//! `event_id` and a fresh `insert_id`, and advances the clock a few seconds per step. The account
//! moments that change identity — sign-up and login, after which the same device id carries a
//! `user_id` — and the `$identify` calls that go with them live here too.

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::World;
use super::campaign::Click;
use super::catalog::CATEGORIES;
use super::device::{PLACES, Platform};
use super::drift;
use super::ids::{self, Stream};
use super::orders::Market;
use super::population::{METHODS, Person};

/// The site's host, for page-view properties.
const SITE: &str = "www.pumasi.example";

/// One session in progress.
pub(crate) struct Visit<'a> {
    /// Shared, read-only facts (seed, calendar, catalog).
    pub(crate) world: &'a World,
    /// The person visiting.
    pub(crate) person: &'a mut Person,
    /// Orders and their follow-up tasks.
    pub(crate) market: &'a mut Market,
    /// This person-day's random stream.
    pub(crate) rng: &'a mut StdRng,
    /// Where events go.
    out: &'a mut Vec<Value>,
    /// The simulated day.
    pub(crate) day: i32,
    /// Which of the person's devices is in use.
    slot: usize,
    session_id: i64,
    /// The current time.
    t: i64,
    deadline: i64,
    page_counter: i64,
    /// The campaign click that opened this session, if any.
    pub(crate) click: Option<Click>,
}

impl<'a> Visit<'a> {
    /// Starts a session at `start` on device `slot`: `session_start`, the landing page on the web,
    /// and a login if the device does not know the user yet.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn open(
        world: &'a World,
        person: &'a mut Person,
        market: &'a mut Market,
        rng: &'a mut StdRng,
        out: &'a mut Vec<Value>,
        day: i32,
        slot: usize,
        start: i64,
        click: Option<Click>,
    ) -> Visit<'a> {
        let mut visit = Visit {
            world,
            person,
            market,
            rng,
            out,
            day,
            slot,
            session_id: start,
            t: start,
            deadline: world.calendar.day_end(day),
            page_counter: 0,
            click,
        };
        let first_on_device = visit.device().sessions == 0;
        visit.person.devices[slot].sessions += 1;
        visit.emit("session_start", Map::new());
        if visit.platform() == Platform::Web {
            visit.landing(first_on_device);
        }
        if visit.person.signed_up() && !visit.device().logged_in {
            visit.wait(10, 60);
            visit.person.devices[slot].logged_in = true;
            let method = METHODS[usize::from(visit.person.method)].1;
            visit.track("Logged In", props([("method", json!(method))]));
        }
        visit
    }

    /// Ends the session (`session_end` carries the time of the last event) and returns that time.
    pub(crate) fn close(mut self) -> i64 {
        self.emit("session_end", Map::new());
        self.person.sessions += 1;
        self.person.last_active_day = self.day;
        self.person.last_time_ms = self.t;
        self.t
    }

    /// The platform of the device in use.
    pub(crate) fn platform(&self) -> Platform {
        self.device().platform
    }

    fn device(&self) -> &super::device::Device {
        &self.person.devices[self.slot]
    }

    /// Lets `min_s..=max_s` seconds pass (never past the end of the day).
    pub(crate) fn wait(&mut self, min_s: i64, max_s: i64) {
        let secs = self.rng.random_range(min_s..=max_s);
        self.t = (self.t + secs * 1000).min(self.deadline);
    }

    /// Tracks an event with properties; now and then adds tracking-plan drift (see `drift.rs`).
    pub(crate) fn track(&mut self, event_type: &str, mut properties: Map<String, Value>) {
        let platform = self.platform();
        if let Some((key, value)) = drift::unexpected_property(platform, self.rng) {
            properties.insert(key.to_owned(), value);
        }
        let mut event = self.envelope(event_type);
        if !properties.is_empty() {
            event.insert("event_properties".into(), Value::Object(properties));
        }
        self.out.push(Value::Object(event));
        if let Some((name, extra)) = drift::unplanned_event(platform, self.rng) {
            self.wait(1, 8);
            let mut event = self.envelope(name);
            event.insert("event_properties".into(), Value::Object(extra));
            self.out.push(Value::Object(event));
        }
    }

    /// Tracks a revenue event: the HTTP API's top-level revenue fields plus event properties.
    pub(crate) fn track_revenue(
        &mut self,
        event_type: &str,
        properties: Map<String, Value>,
        price: f64,
        product_id: &str,
        revenue_type: &str,
    ) {
        let mut event = self.envelope(event_type);
        event.insert("event_properties".into(), Value::Object(properties));
        event.insert("price".into(), json!(price));
        event.insert("quantity".into(), json!(1));
        event.insert("revenue".into(), json!(price));
        event.insert("productId".into(), json!(product_id));
        event.insert("revenueType".into(), json!(revenue_type));
        event.insert("currency".into(), json!("KRW"));
        self.out.push(Value::Object(event));
    }

    /// Sends an `$identify` with the given user-property operations (`$set`, `$setOnce`, `$add`).
    /// The CRM's report that the purchase of `order` just made converted `campaign`.
    pub(crate) fn report_conversion(&mut self, campaign: u8, order: u32) {
        super::campaign::converted(
            self.world,
            self.person,
            campaign,
            u64::from(order),
            self.t,
            self.out,
        );
    }

    pub(crate) fn identify(&mut self, operations: Map<String, Value>) {
        self.wait(0, 1);
        let mut event = self.envelope("$identify");
        event.insert("user_properties".into(), Value::Object(operations));
        self.out.push(Value::Object(event));
    }

    /// A web page view (`[Amplitude] Page Viewed`, as the browser SDK's page-view tracking sends
    /// it); does nothing in the apps, which do not track screens by default.
    pub(crate) fn page(&mut self, path: &str, title: &str) {
        self.page_with(path, "", title, Map::new());
    }

    /// A web page view of a page with a query string (`?q=…`, percent-encoded here).
    pub(crate) fn page_query(&mut self, path: &str, query: &str, title: &str) {
        self.page_with(path, &encode_query(query), title, Map::new());
    }

    fn page_with(&mut self, path: &str, query: &str, title: &str, extra: Map<String, Value>) {
        if self.platform() != Platform::Web {
            return;
        }
        self.page_counter += 1;
        let url = format!("https://{SITE}{path}");
        let mut p = props([
            ("[Amplitude] Page Counter", json!(self.page_counter)),
            ("[Amplitude] Page Domain", json!(SITE)),
            ("[Amplitude] Page Location", json!(format!("{url}{query}"))),
            ("[Amplitude] Page Path", json!(path)),
            ("[Amplitude] Page Title", json!(format!("{title} | 품앗이"))),
            ("[Amplitude] Page URL", json!(url)),
        ]);
        p.extend(extra);
        self.track("[Amplitude] Page Viewed", p);
    }

    /// The first page of a web session, with where the visitor came from. A device's very first
    /// visit also records its attribution once (`$setOnce` of the `initial_*` properties), like
    /// the browser SDK's web-attribution tracking.
    fn landing(&mut self, first_on_device: bool) {
        let (source, medium, campaign, referrer) = match &self.click {
            Some(click) => (
                Some(click.utm_source()),
                Some(click.channel()),
                Some(click.id()),
                None,
            ),
            None if first_on_device => {
                let s = super::campaign::acquisition(self.rng);
                (s.0, s.1, s.2, s.3)
            }
            None => (None, None, None, None),
        };
        let mut extra = Map::new();
        let mut query = String::new();
        for (key, value) in [
            ("utm_source", source),
            ("utm_medium", medium),
            ("utm_campaign", campaign),
        ] {
            if let Some(v) = value {
                extra.insert(key.into(), json!(v));
                query.push(if query.is_empty() { '?' } else { '&' });
                query.push_str(&format!("{key}={v}"));
            }
        }
        let domain = referrer.map(|r: &str| r.trim_start_matches("https://").trim_end_matches('/'));
        if let (Some(r), Some(d)) = (referrer, domain) {
            extra.insert("referrer".into(), json!(r));
            extra.insert("referring_domain".into(), json!(d));
        }
        let path = if self.click.is_some() { "/event" } else { "/" };
        self.page_with(path, &query, "프리랜서 마켓", extra);
        if first_on_device {
            let set_once = props([
                ("initial_utm_source", json!(source.unwrap_or("EMPTY"))),
                ("initial_utm_campaign", json!(campaign.unwrap_or("EMPTY"))),
                ("initial_referring_domain", json!(domain.unwrap_or("EMPTY"))),
            ]);
            self.identify(props([("$setOnce", Value::Object(set_once))]));
        }
    }

    /// Creates the account: the app calls `setUserId`, tracks `Signed Up`, and identifies.
    pub(crate) fn sign_up(&mut self) {
        if self.person.signed_up() {
            return;
        }
        self.page("/signup", "회원가입");
        self.wait(20, 90);
        self.person.signup_day = Some(self.day);
        self.person.devices[self.slot].logged_in = true;
        let method = METHODS[usize::from(self.person.method)].1;
        self.track("Signed Up", props([("method", json!(method))]));
        let p = &self.person;
        let set = props([
            ("plan", json!(if p.business { "business" } else { "free" })),
            ("buyer_or_seller", json!("buyer")),
            ("marketing_opt_in", json!(p.opt_in)),
            ("city", json!(PLACES[usize::from(p.place)].1.city)),
            (
                "preferred_category",
                json!(CATEGORIES[usize::from(p.favourite)].slug),
            ),
        ]);
        let set_once = props([
            ("signup_platform", json!(self.platform().name())),
            ("signup_method", json!(method)),
        ]);
        self.identify(props([
            ("$set", Value::Object(set)),
            ("$setOnce", Value::Object(set_once)),
        ]));
    }

    /// The fields every event of this device carries, with a fresh `event_id` and `insert_id`.
    fn envelope(&mut self, event_type: &str) -> Map<String, Value> {
        let seed = self.world.seed;
        let day = self.day;
        let place = &PLACES[usize::from(self.person.place)].1;
        let person = self.person.index;
        let device = &mut self.person.devices[self.slot];
        let event_id = device.next_event_id;
        device.next_event_id += 1;
        let mut e = Map::new();
        e.insert("event_type".into(), json!(event_type));
        if device.logged_in {
            e.insert("user_id".into(), json!(ids::user_id(person)));
        }
        e.insert("device_id".into(), json!(device.device_id));
        e.insert("time".into(), json!(self.t));
        e.insert("session_id".into(), json!(self.session_id));
        e.insert("event_id".into(), json!(event_id));
        let insert_id = ids::uuid_for(seed, Stream::Insert, &[device.key, event_id as u64]);
        e.insert("insert_id".into(), json!(insert_id));
        device.write_context(day, place, &mut e);
        e
    }

    /// Emits an SDK-generated event as is (no drift: SDK events follow the plan).
    fn emit(&mut self, event_type: &str, properties: Map<String, Value>) {
        let mut event = self.envelope(event_type);
        if !properties.is_empty() {
            event.insert("event_properties".into(), Value::Object(properties));
        }
        self.out.push(Value::Object(event));
    }
}

/// Percent-encodes what a browser would in a query string (spaces become `+`).
fn encode_query(query: &str) -> String {
    let mut out = String::with_capacity(query.len() * 3);
    for b in query.bytes() {
        match b {
            b' ' => out.push('+'),
            b if b.is_ascii_alphanumeric() || b"?=&-_.".contains(&b) => out.push(char::from(b)),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A property map from key-value pairs.
pub(crate) fn props<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}
