//! Per-device and per-user rate limits (Amplitude's EPDS/EPUS): the source of `429` answers.
//!
//! Each device id and user id of a project has a token bucket that holds `eps × window` events and
//! refills at `eps` per second, so a client may burst up to a window's worth and then sustain `eps`:
//! "events per second, averaged over a recent window". A request is checked as a whole: if any of
//! its ids lacks tokens for its events, nothing is taken from any bucket and the request gets a
//! 429 listing the throttled ids and the indexes of the events beyond their budget, in order (SDKs
//! hold those back 30 s and resend the rest at once, which then fits); otherwise every bucket pays
//! for its events.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Rate-limit settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleConfig {
    /// Sustained events per second allowed per device id and per user id.
    pub events_per_second: f64,
    /// The averaging window: a client may send `events_per_second × window` events at once.
    pub window: Duration,
}

/// What a throttled request is told (Amplitude's 429 body).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Throttled {
    /// Indexes of the events held back.
    pub events: Vec<usize>,
    /// Throttled device ids with the events they sent in the window, counting this request.
    pub devices: BTreeMap<String, u64>,
    /// Throttled user ids, likewise.
    pub users: BTreeMap<String, u64>,
    /// The configured events per second.
    pub eps_threshold: u64,
}

/// The ids of one event, as the throttle sees it.
#[derive(Debug, Clone, Copy)]
pub struct EventIds<'a> {
    /// Device id.
    pub device_id: &'a str,
    /// User id, if any.
    pub user_id: Option<&'a str>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets per (project, device) and (project, user).
#[derive(Debug)]
pub struct Throttle {
    config: ThrottleConfig,
    buckets: Mutex<Buckets>,
}

#[derive(Debug, Default)]
struct Buckets {
    by_id: HashMap<BucketKey, Bucket>,
    checks_since_sweep: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum BucketKey {
    Device(String, String),
    User(String, String),
}

/// Buckets are swept of idle (full) entries after this many checks, bounding memory.
const SWEEP_EVERY: usize = 10_000;

impl Throttle {
    /// A throttle with `config`.
    pub fn new(config: ThrottleConfig) -> Self {
        Throttle {
            config,
            buckets: Mutex::new(Buckets::default()),
        }
    }

    fn capacity(&self) -> f64 {
        (self.config.events_per_second * self.config.window.as_secs_f64()).max(1.0)
    }

    /// Admits the events of one request at `now`, or says which are throttled (taking nothing).
    pub fn admit(
        &self,
        project: &str,
        events: &[EventIds<'_>],
        now: Instant,
    ) -> Result<(), Throttled> {
        let mut wanted: HashMap<BucketKey, u64> = HashMap::new();
        for ids in events {
            *wanted
                .entry(BucketKey::Device(
                    project.to_owned(),
                    ids.device_id.to_owned(),
                ))
                .or_default() += 1;
            if let Some(user) = ids.user_id {
                *wanted
                    .entry(BucketKey::User(project.to_owned(), user.to_owned()))
                    .or_default() += 1;
            }
        }
        let capacity = self.capacity();
        let rate = self.config.events_per_second;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let mut throttled = Throttled {
            eps_threshold: rate.round() as u64,
            ..Throttled::default()
        };
        // Whole events each id can still send now.
        let mut budget: HashMap<&BucketKey, u64> = HashMap::new();
        for (key, &count) in &wanted {
            let tokens = buckets
                .by_id
                .get(key)
                .map_or(capacity, |b| refilled(b, capacity, rate, now));
            if tokens < count as f64 {
                let in_window = (capacity - tokens).round() as u64 + count;
                match key {
                    BucketKey::Device(_, id) => throttled.devices.insert(id.clone(), in_window),
                    BucketKey::User(_, id) => throttled.users.insert(id.clone(), in_window),
                };
            }
            budget.insert(key, tokens.max(0.0).floor() as u64);
        }
        if !throttled.devices.is_empty() || !throttled.users.is_empty() {
            // Only the events beyond each id's budget are held back, in order, so the rest
            // (which SDKs resend at once) fits exactly.
            for (index, ids) in events.iter().enumerate() {
                let device = BucketKey::Device(project.to_owned(), ids.device_id.to_owned());
                let user = ids
                    .user_id
                    .map(|u| BucketKey::User(project.to_owned(), u.to_owned()));
                let fits = budget.get(&device).is_some_and(|&b| b > 0)
                    && user
                        .as_ref()
                        .is_none_or(|u| budget.get(u).is_some_and(|&b| b > 0));
                if fits {
                    for key in std::iter::once(&device).chain(user.as_ref()) {
                        if let Some(b) = budget.get_mut(key) {
                            *b -= 1;
                        }
                    }
                } else {
                    throttled.events.push(index);
                }
            }
            return Err(throttled);
        }
        for (key, count) in wanted {
            let bucket = buckets.by_id.entry(key).or_insert(Bucket {
                tokens: capacity,
                updated: now,
            });
            bucket.tokens = refilled(bucket, capacity, rate, now) - count as f64;
            bucket.updated = now;
        }
        buckets.checks_since_sweep += 1;
        if buckets.checks_since_sweep >= SWEEP_EVERY {
            buckets.checks_since_sweep = 0;
            buckets
                .by_id
                .retain(|_, b| refilled(b, capacity, rate, now) < capacity);
        }
        Ok(())
    }
}

fn refilled(bucket: &Bucket, capacity: f64, rate: f64, now: Instant) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
    (bucket.tokens + elapsed * rate).min(capacity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(eps: f64, window_s: u64) -> Throttle {
        Throttle::new(ThrottleConfig {
            events_per_second: eps,
            window: Duration::from_secs(window_s),
        })
    }

    fn device(id: &str) -> EventIds<'_> {
        EventIds {
            device_id: id,
            user_id: None,
        }
    }

    #[test]
    fn a_window_worth_is_admitted_then_the_next_event_is_throttled() {
        let t = throttle(2.0, 5);
        let now = Instant::now();
        let ten = vec![device("dev-a"); 10];
        assert_eq!(t.admit("p", &ten, now), Ok(()));
        let err = t
            .admit("p", &[device("dev-b"), device("dev-a")], now)
            .unwrap_err();
        assert_eq!(err.events, vec![1]);
        assert_eq!(err.devices, BTreeMap::from([("dev-a".to_owned(), 11)]));
        assert!(err.users.is_empty());
        assert_eq!(err.eps_threshold, 2);
    }

    #[test]
    fn a_throttled_request_takes_no_tokens_from_anyone() {
        let t = throttle(1.0, 3);
        let now = Instant::now();
        // dev-b would fit, but the request also carries 4 events of dev-a (capacity 3).
        let mut events = vec![device("dev-b"); 3];
        events.extend(vec![device("dev-a"); 4]);
        assert_eq!(t.admit("p", &events, now).unwrap_err().events, vec![6]);
        assert_eq!(t.admit("p", &[device("dev-b"); 3], now), Ok(()));
    }

    #[test]
    fn a_request_larger_than_the_budget_lands_in_two_steps_as_sdks_resend_it() {
        let t = throttle(1.0, 4);
        let start = Instant::now();
        let ids = |d| EventIds {
            device_id: d,
            user_id: Some("user-1"),
        };
        // Six events, four tokens: the last two are held back.
        let six = vec![ids("dev-a"); 6];
        assert_eq!(t.admit("p", &six, start).unwrap_err().events, vec![4, 5]);
        // The SDK resends the first four at once: they fit.
        assert_eq!(t.admit("p", &six[..4], start), Ok(()));
        // 30 s later the held-back two fit too.
        let later = start + Duration::from_secs(30);
        assert_eq!(t.admit("p", &six[4..], later), Ok(()));
    }

    #[test]
    fn an_event_waits_when_its_user_is_over_even_if_its_device_is_not() {
        let t = throttle(1.0, 2);
        let now = Instant::now();
        let ids = |d| EventIds {
            device_id: d,
            user_id: Some("user-1"),
        };
        let err = t
            .admit(
                "p",
                &[ids("dev-a"), ids("dev-b"), ids("dev-c"), device("dev-d")],
                now,
            )
            .unwrap_err();
        assert_eq!(err.events, vec![2]);
        assert_eq!(err.users, BTreeMap::from([("user-1".to_owned(), 3)]));
    }

    #[test]
    fn tokens_refill_at_the_rate() {
        let t = throttle(2.0, 1);
        let start = Instant::now();
        assert_eq!(
            t.admit("p", &[device("dev-a"), device("dev-a")], start),
            Ok(())
        );
        assert!(t.admit("p", &[device("dev-a")], start).is_err());
        let later = start + Duration::from_millis(500);
        assert_eq!(t.admit("p", &[device("dev-a")], later), Ok(()));
        assert!(t.admit("p", &[device("dev-a")], later).is_err());
    }

    #[test]
    fn users_are_limited_across_devices_and_projects_are_separate() {
        let t = throttle(1.0, 2);
        let now = Instant::now();
        let ids = |d| EventIds {
            device_id: d,
            user_id: Some("user-1"),
        };
        assert_eq!(t.admit("p", &[ids("dev-a"), ids("dev-b")], now), Ok(()));
        let err = t.admit("p", &[ids("dev-c")], now).unwrap_err();
        assert_eq!(err.users, BTreeMap::from([("user-1".to_owned(), 3)]));
        assert!(err.devices.is_empty());
        assert_eq!(err.events, vec![0]);
        assert_eq!(t.admit("other", &[ids("dev-c")], now), Ok(()));
    }
}
