use super::returns::tests::returns_of;
use super::starts::starts_of;
use super::starts::tests::{DAY, HOUR, params};
use super::*;

/// The counts of a rolling query over `starts` rows (person, time, unmet) and `returns` rows
/// (person, time), the returns split over `partitions` partitions in turn.
fn counts_of(
    params: &RollingParams,
    starts: &[[i64; 3]],
    returns: &[[i64; 2]],
    partitions: usize,
) -> Vec<u64> {
    returns_of(params, starts_of(params, starts), returns, partitions)
}

#[test]
fn starts_open_cohorts_and_returns_count_by_hour() {
    let starts = [
        // Person 1: starts at 17:59 on day 0.
        [1, 17 * HOUR + 59 * 60_000, 0],
        // Person 2: starts on day 1 and on day 0; counted in both cohorts.
        [2, DAY + 3 * HOUR, 0],
        [2, 5 * HOUR, 0],
        // Person 3: a start after the range.
        [3, 2 * DAY, 0],
    ];
    let returns = [
        // Person 1 returns at 17:00 on day 1 (hour 41 - 17 = 24): day 1.
        [1, DAY + 17 * HOUR],
        // Person 2 returns with each start; the one at hour 27 is 22 hours after the start at
        // hour 5, still day 0 of it.
        [2, DAY + 3 * HOUR],
        [2, 5 * HOUR],
        // Person 3 returns after the horizon.
        [3, 4 * DAY],
    ];
    for partitions in 1..=3 {
        // Cohort 0: persons 1 and 2, day 0: 2, day 1: 1. Cohort 1: person 2, day 0.
        assert_eq!(
            counts_of(&params(false), &starts, &returns, partitions),
            [2, 1, 1, 1, 1, 0, 2]
        );
    }
}

#[test]
fn new_users_count_from_their_first_event_only() {
    let starts = [
        [1, -3 * HOUR, 0],
        [1, 2 * HOUR, 0],
        [2, 10 * HOUR, 0],
        [2, 34 * HOUR, 0],
    ];
    // Person 2 returns 24 h after the first event (day 1); person 1 is not new.
    let returns = [[1, 2 * HOUR], [2, 34 * HOUR]];
    assert_eq!(
        counts_of(&params(true), &starts, &returns, 2),
        [1, 0, 1, 0, 0, 0, 1]
    );
}

#[test]
fn a_return_before_the_start_or_of_a_person_without_starts_counts_nowhere() {
    let starts = [[1, 10 * HOUR, 0]];
    let returns = [[1, 9 * HOUR], [5, 11 * HOUR]];
    assert_eq!(
        counts_of(&params(false), &starts, &returns, 1),
        [1, 0, 0, 0, 0, 0, 1]
    );
}

#[test]
fn returns_past_every_window_count_for_each_start_group_of_the_person() {
    // "On or after" columns 0+ and 1+; starts on day 0 and day 1, each its own cohort.
    let mut p = params(false);
    p.columns = Arc::new(vec![(0, None), (1, None)]);
    p.windows.horizon_ms = 10 * DAY;
    let starts = [[1, HOUR, 0], [1, DAY + HOUR, 0]];
    // Two returns past the last tracked window of both groups: the second stops at the first
    // group it finds already counted; both cohorts count the person in both columns.
    let returns = [[1, 8 * DAY], [1, 9 * DAY]];
    for partitions in 1..=2 {
        assert_eq!(
            counts_of(&p, &starts, &returns, partitions),
            [1, 1, 1, 1, 1, 1, 1]
        );
    }
}
