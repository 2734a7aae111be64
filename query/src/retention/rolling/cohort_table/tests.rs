use super::*;
use crate::retention::persons::{RETURN, START};
use crate::retention::rolling::person_hours::sort_and_unite;
use crate::spec::RollingWindows;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// Local midnight half an hour past the UTC hour (e.g. Asia/Kolkata).
const PHASE: i64 = HOUR / 2;

/// Two daily cohorts from `PHASE`, hours starting at `PHASE`, day-0 and day-1 columns.
fn params(new_users: bool) -> CountParams {
    let windows = RollingWindows {
        window_hours: 24,
        hour_phase_ms: PHASE,
        horizon_ms: PHASE + 4 * DAY,
    };
    let layout = HourLayout::new(windows, PHASE, PHASE + 2 * DAY, new_users).expect("layout");
    let cohorts = Arc::new(PointIndex::new(vec![PHASE, PHASE + DAY, PHASE + 2 * DAY]));
    CountParams::new(layout, cohorts, 24, &[(0, Some(1)), (1, Some(2))])
}

/// The counts of one person with rows `rows` (time, flags) and first-time key `first`.
fn counts(params: &CountParams, first: i64, rows: &[(i64, i64)]) -> Vec<u64> {
    let mut words: Vec<u64> = rows
        .iter()
        .filter_map(|&(ts, flags)| params.layout.word(ts, flags))
        .collect();
    sort_and_unite(&mut words);
    let mut table = CohortTable::new(params);
    table.add(first, &words);
    table.counts()
}

#[test]
fn hours_follow_the_local_clock_so_cohorts_change_on_an_hour() {
    let p = params(false);
    assert_eq!(p.hour_cohorts.len(), 48);
    assert!(p.hour_cohorts[..24].iter().all(|&c| c == (0, 0)));
    assert!(p.hour_cohorts[24..].iter().all(|&c| c == (1, 0)));
    assert_eq!(p.first_hours, [0, 24]);
    // A start at 23:59 local on day 0 and one at 00:00 on day 1: one in each cohort, each
    // with its own day 0 (the return at 00:10 is day 0 of both).
    let rows = [
        (PHASE + DAY - 60_000, START),
        (PHASE + DAY, START),
        (PHASE + DAY + 600_000, RETURN),
    ];
    assert_eq!(counts(&p, NO_FIRST_KEY, &rows), [1, 1, 0, 1, 1, 0, 1]);
}

/// A first-time key saying "no first time".
const NO_FIRST_KEY: i64 = i64::MAX;

#[test]
fn a_new_user_s_cohort_is_that_of_their_first_time() {
    let p = params(true);
    // First at 00:20 local on day 1 (a met condition: an even key); a return 24 h later.
    let first = 2 * (PHASE + DAY + 1_200_000);
    let rows = [(PHASE + 2 * DAY + 1_200_000, RETURN)];
    assert_eq!(counts(&p, first, &rows), [0, 0, 0, 1, 0, 1, 1]);
    // A new user with no return at all is in their cohort all the same.
    assert_eq!(counts(&p, first, &[]), [0, 0, 0, 1, 0, 0, 1]);
    // An unmet first time (an odd key) opens no cohort; nor does one before the range.
    assert_eq!(counts(&p, first + 1, &rows), [0; 7]);
    assert_eq!(counts(&p, -2 * HOUR, &rows), [0; 7]);
}
