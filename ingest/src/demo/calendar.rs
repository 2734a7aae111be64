//! The simulated calendar: which UTC days the data covers and when in a day people are online.
//!
//! Days are UTC days (`day 0` is the first, `days - 1` ends at the end of `end_date`). People live
//! in Korea, so activity follows a KST daily rhythm (lunch and late-evening peaks, quiet nights),
//! which in UTC puts the quiet hours at the end of each day. No session starts in a day's last
//! hour, which keeps every event of day `d` inside day `d`.

use chrono::{Datelike, NaiveDate, Weekday};
use rand::Rng;
use rand::rngs::StdRng;

/// Milliseconds in a minute.
pub(crate) const MINUTE_MS: i64 = 60_000;
/// Milliseconds in a day.
pub(crate) const DAY_MS: i64 = 86_400_000;
/// Sessions may not start later than this before the end of their day.
const LAST_START_BEFORE_END_MS: i64 = 60 * MINUTE_MS;

/// Relative activity by KST hour of day (0 = midnight KST).
const KST_HOUR_WEIGHTS: [f64; 24] = [
    3.0, 2.0, 1.0, 0.5, 0.3, 0.4, 1.0, 2.0, 3.0, 4.0, 5.0, 5.5, 6.5, 6.0, 5.5, 5.5, 5.5, 5.0, 5.0,
    6.0, 7.0, 8.0, 8.0, 6.0,
];
/// KST is UTC+9 all year.
const KST_OFFSET_HOURS: usize = 9;

/// The days the data set covers.
#[derive(Debug, Clone)]
pub(crate) struct Calendar {
    first_day: NaiveDate,
    start_ms: i64,
    days: u32,
    /// Cumulative weights of the UTC hours, for sampling times of day.
    hour_cdf: [f64; 24],
}

impl Calendar {
    /// The `days` UTC days ending with (and including) `end_date`.
    pub(crate) fn new(end_date: NaiveDate, days: u32) -> Calendar {
        let first_day = end_date - chrono::Days::new(u64::from(days.max(1) - 1));
        let start_ms = first_day
            .and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp_millis());
        let mut hour_cdf = [0.0; 24];
        let mut total = 0.0;
        for (utc_hour, slot) in hour_cdf.iter_mut().enumerate() {
            total += KST_HOUR_WEIGHTS[(utc_hour + KST_OFFSET_HOURS) % 24];
            *slot = total;
        }
        for slot in &mut hour_cdf {
            *slot /= total;
        }
        Calendar {
            first_day,
            start_ms,
            days,
            hour_cdf,
        }
    }

    /// Number of days covered.
    pub(crate) fn days(&self) -> u32 {
        self.days
    }

    /// The date of day `day`.
    pub(crate) fn date(&self, day: i32) -> NaiveDate {
        let offset = chrono::Days::new(u64::try_from(day).unwrap_or(0));
        self.first_day + offset
    }

    /// The first millisecond of day `day`.
    pub(crate) fn day_start(&self, day: i32) -> i64 {
        self.start_ms + i64::from(day) * DAY_MS
    }

    /// The last moment a session may start on day `day`.
    pub(crate) fn last_session_start(&self, day: i32) -> i64 {
        self.day_start(day) + DAY_MS - LAST_START_BEFORE_END_MS
    }

    /// The latest time an event of day `day` may carry.
    pub(crate) fn day_end(&self, day: i32) -> i64 {
        self.day_start(day) + DAY_MS - 1
    }

    /// The weekday of day `day`.
    pub(crate) fn weekday(&self, day: i32) -> Weekday {
        (self.first_day + chrono::Duration::days(i64::from(day))).weekday()
    }

    /// Whether day `day` is a Saturday or Sunday.
    pub(crate) fn is_weekend(&self, day: i32) -> bool {
        matches!(self.weekday(day), Weekday::Sat | Weekday::Sun)
    }

    /// A time on day `day` drawn from the daily activity rhythm (never in the day's last hour).
    pub(crate) fn sample_time(&self, day: i32, rng: &mut StdRng) -> i64 {
        let u: f64 = rng.random();
        let hour = self.hour_cdf.iter().position(|&c| u < c).unwrap_or(23) as i64;
        let within = rng.random_range(0..60 * MINUTE_MS);
        let t = self.day_start(day) + hour * 60 * MINUTE_MS + within;
        t.min(self.last_session_start(day))
    }
}
