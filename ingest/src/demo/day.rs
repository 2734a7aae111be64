//! One person's day: how many sessions, when, on which device, and what each is for.
//!
//! Sessions start at times drawn from the daily rhythm (a campaign click opens one at the click's
//! time) and never overlap: the next starts at least the SDK's 30-minute session timeout after the
//! previous one ended, so each is a separate session to any analysis. Tasks that are due (a
//! delivery, a review) are done in the day's first session.

use rand::Rng;
use serde_json::Value;

use super::World;
use super::calendar::MINUTE_MS;
use super::campaign::{Channel, Click};
use super::device::{Device, Platform};
use super::ids::{self, Stream};
use super::orders::{Market, Task};
use super::population::{Person, session_gap_ms};
use super::visit::Visit;
use super::{selling, shopping};

/// Simulates `person` on `day`, appending their device events to `out`.
pub(crate) fn live(
    world: &World,
    person: &mut Person,
    market: &mut Market,
    day: i32,
    tasks: Vec<Task>,
    click: Option<Click>,
    out: &mut Vec<Value>,
) {
    let mut rng = ids::rng(
        world.seed,
        Stream::Day,
        &[u64::from(person.index), day as u64],
    );
    let calendar = &world.calendar;
    let organic = if click.is_some() && day != person.arrival_day && rng.random_bool(0.6) {
        0
    } else {
        1 + u32::from(rng.random_bool(0.06)) + u32::from(rng.random_bool(0.01))
    };
    let mut starts: Vec<(i64, Option<Click>)> = (0..organic)
        .map(|_| (calendar.sample_time(day, &mut rng), None))
        .collect();
    if let Some(c) = click {
        starts.push((c.at, Some(c)));
    }
    starts.sort_by_key(|s| s.0);
    let mut free_at = person
        .last_time_ms
        .saturating_add(31 * MINUTE_MS)
        .max(calendar.day_start(day));
    let mut tasks = Some(tasks);
    for (planned, click) in starts {
        let start = planned.max(free_at);
        if start > calendar.last_session_start(day) {
            break;
        }
        let slot = choose_device(world.seed, person, day, click, &mut rng);
        if let Some(c) = click {
            person.lift = Some((c.campaign, day + 3));
        }
        let mut visit = Visit::open(
            world, person, market, &mut rng, out, day, slot, start, click,
        );
        for task in tasks.take().unwrap_or_default() {
            selling::do_task(&mut visit, task);
        }
        let selling_today = visit
            .person
            .shop
            .as_ref()
            .is_some_and(|s| s.registered_day <= day);
        if selling_today && click.is_none() {
            selling::shop_work(&mut visit);
            if visit.rng.random_bool(0.2) {
                shopping::shop(&mut visit);
            }
        } else {
            shopping::shop(&mut visit);
        }
        let end = visit.close();
        free_at = end + session_gap_ms(&mut rng);
    }
}

/// Picks the device for a session; a second device comes into use some days after sign-up.
fn choose_device(
    seed: u64,
    person: &mut Person,
    day: i32,
    click: Option<Click>,
    rng: &mut rand::rngs::StdRng,
) -> usize {
    if let Some((platform, from)) = person.second_platform
        && person.signed_up()
        && day >= from
        && person.devices.len() == 1
    {
        let device = Device::new(seed, person.index, 1, platform, rng);
        person.devices.push(device);
    }
    if let Some(click) = click {
        let wanted = |p: Platform| match click.campaign().channel {
            Channel::Push => p.is_mobile(),
            Channel::Email | Channel::Sms => p == Platform::Web,
        };
        return person
            .devices
            .iter()
            .position(|d| wanted(d.platform))
            .unwrap_or(0);
    }
    if person.devices.len() > 1 && rng.random_bool(0.35) {
        1
    } else {
        0
    }
}
