//! Wall-clock times as Unix milliseconds, the way stored files (cohort computations, syncs,
//! saved charts, sessions) record them.

use std::time::{SystemTime, UNIX_EPOCH};

/// `at` as Unix ms (0 before 1970, `i64::MAX` beyond what it holds).
pub fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Now, Unix ms.
pub fn now_ms() -> i64 {
    unix_ms(SystemTime::now())
}
