//! A realistic demo data set: a freelance-services marketplace (buyers on web, iOS and Android,
//! sellers, 16 categories, CRM campaigns) producing events exactly as Amplitude's SDKs send them.
//!
//! [`generate`] simulates the configured days one at a time. Each day, every person who has
//! arrived may receive a campaign message and may come back; those who do have one or more
//! sessions (`day.rs`) in which they browse, inquire, buy, sell and review (`shopping.rs`,
//! `selling.rs`). The day's events are sorted by time and handed out in upload batches.
//!
//! Invariants: the same [`DemoConfig`] gives the same events (every random draw derives from the
//! seed); all event times fall within the configured days; a device's events have increasing
//! `time` and `event_id`; memory holds the population and one day of events, never the data set.
//! The tracking plan these events follow is `schema/plans/marketplace.toml`; a small share of
//! events deliberately deviates from it (`drift.rs`).

mod calendar;
mod campaign;
mod catalog;
mod day;
mod device;
mod drift;
mod ids;
mod orders;
mod population;
mod selling;
mod shopping;
mod visit;

use chrono::NaiveDate;
use serde_json::Value;

use calendar::Calendar;
use catalog::Catalog;
use ids::Stream;
use orders::Market;
use population::Person;

/// The API key the demo project is registered under.
pub const DEMO_API_KEY: &str = "demo-marketplace-key";

/// Most events in one [`DemoBatch`].
const MAX_BATCH_EVENTS: usize = 1000;

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoConfig {
    /// Number of people (a few hundred sellers included).
    pub users: u32,
    /// Number of days of history.
    pub days: u32,
    /// The last simulated day (UTC), included.
    pub end_date: NaiveDate,
    /// Random seed: the same seed gives the same events.
    pub seed: u64,
}

impl Default for DemoConfig {
    /// 60,000 people over the 90 days up to 2026-11-21: 1,372,672 events.
    fn default() -> DemoConfig {
        DemoConfig {
            users: 60_000,
            days: 90,
            end_date: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap_or_default(),
            seed: 7,
        }
    }
}

/// One upload request's worth of events in the exact JSON shape the Amplitude SDKs send to
/// `POST /2/httpapi`.
///
/// A batch holds many people's events (like a server-side integration's upload); each event
/// carries its own ids and context, so it reads the same as if its device had sent it alone.
#[derive(Debug, Clone)]
pub struct DemoBatch {
    /// The events, in time order.
    pub events: Vec<Value>,
    /// When the batch was uploaded (ms): a few seconds after its last event, so that the
    /// collector's clock-skew correction leaves event times alone.
    pub client_upload_time_ms: i64,
}

pub use campaign::SyncedAudience;

/// Generates the demo events, in time order, at most 1000 per batch.
///
/// Deterministic: the same config gives the same batches. Memory is bounded by the population
/// and one simulated day; the data set is never held at once.
pub fn generate(config: &DemoConfig) -> impl Iterator<Item = DemoBatch> + use<> {
    Simulation::new(config)
}

/// Facts every part of the simulation reads and none changes.
#[derive(Debug)]
pub(crate) struct World {
    /// The configured seed.
    pub(crate) seed: u64,
    /// The simulated days.
    pub(crate) calendar: Calendar,
    /// Every listing.
    pub(crate) catalog: Catalog,
}

/// The simulation's state between batches: an iterator of the demo's batches that can also be
/// taken a few days at a time ([`Simulation::batches_before`]), so that the seed scenario can
/// look at the data so far and hand the campaign engine a synced cohort
/// ([`Simulation::send_rescue_to`]) before the simulation goes on.
pub struct Simulation {
    world: World,
    people: Vec<Person>,
    market: Market,
    next_day: i32,
    pending: std::vec::IntoIter<Value>,
    synced: Option<SyncedAudience>,
}

impl Simulation {
    /// The simulation of `config`, before its first day.
    pub fn new(config: &DemoConfig) -> Simulation {
        let calendar = Calendar::new(config.end_date, config.days);
        let (people, catalog) = population::build(config.seed, config.users, &calendar);
        Simulation {
            world: World {
                seed: config.seed,
                calendar,
                catalog,
            },
            people,
            market: Market::default(),
            next_day: 0,
            pending: Vec::new().into_iter(),
            synced: None,
        }
    }

    /// Days simulated in all.
    pub fn days(&self) -> i32 {
        self.world.calendar.days() as i32
    }

    /// The date of simulated day `day` (0-based).
    pub fn date(&self, day: i32) -> NaiveDate {
        self.world.calendar.date(day)
    }

    /// The batches of the days before `day` not handed out yet; the simulation stops there
    /// until asked for more.
    pub fn batches_before(&mut self, day: i32) -> impl Iterator<Item = DemoBatch> + '_ {
        std::iter::from_fn(move || self.next_batch(day))
    }

    /// The campaign engine received `users` (user ids) from a cohort sync: the drop-off rescue
    /// campaign goes to them on the next simulated day.
    pub fn send_rescue_to(&mut self, users: std::collections::HashSet<String>) {
        self.synced = Some(SyncedAudience {
            day: self.next_day,
            users,
        });
    }

    /// The next batch of the days before `until`.
    fn next_batch(&mut self, until: i32) -> Option<DemoBatch> {
        loop {
            let events: Vec<Value> = self.pending.by_ref().take(MAX_BATCH_EVENTS).collect();
            if let Some(last) = events.last() {
                let last_time = last.get("time").and_then(Value::as_i64).unwrap_or_default();
                let delay =
                    ids::hash(self.world.seed, Stream::Upload, &[last_time as u64]) % 30_000;
                return Some(DemoBatch {
                    events,
                    client_upload_time_ms: last_time + 2_000 + delay as i64,
                });
            }
            if self.next_day >= until.min(self.days()) {
                return None;
            }
            let day = self.next_day;
            self.next_day += 1;
            self.pending = self.simulate_day(day).into_iter();
        }
    }

    /// Simulates one day for everyone who has arrived; returns its events sorted by time.
    fn simulate_day(&mut self, day: i32) -> Vec<Value> {
        let Simulation {
            world,
            people,
            market,
            synced,
            ..
        } = self;
        let mut out = Vec::new();
        let mut tasks = market.take(day).into_iter().peekable();
        let weekend = world.calendar.is_weekend(day);
        for person in people.iter_mut() {
            if person.arrival_day > day {
                break; // people are ordered by arrival
            }
            let mut mine = Vec::new();
            while let Some((_, task)) = tasks.next_if(|(who, _)| *who == person.index) {
                mine.push(task);
            }
            let click = campaign::deliver(world, person, day, synced.as_ref(), &mut out);
            let returns = || {
                let draw = ids::unit(
                    world.seed,
                    Stream::Activity,
                    &[u64::from(person.index), day as u64],
                );
                draw < person.return_probability(day, weekend)
            };
            let active = day == person.arrival_day
                || !mine.is_empty()
                || click.is_some()
                || person.has_shop_work(day, &world.catalog)
                || returns();
            if active {
                day::live(world, person, market, day, mine, click, &mut out);
            }
        }
        out.sort_by_cached_key(|e| e.get("time").and_then(Value::as_i64).unwrap_or_default());
        out
    }
}

impl Iterator for Simulation {
    type Item = DemoBatch;

    fn next(&mut self) -> Option<DemoBatch> {
        let all = self.days();
        self.next_batch(all)
    }
}

#[cfg(test)]
mod tests;
