use datafusion::arrow::array::Int64Array;

use super::*;
use crate::retention::persons::{RETURN, START, START_UNMET};

pub(crate) const HOUR: i64 = 3_600_000;
pub(crate) const DAY: i64 = 24 * HOUR;
const BOTH: i64 = START | RETURN;

/// Two daily cohorts from t = 0, day-0 and day-1 columns, returns read for 4 days.
fn windows() -> RollingWindows {
    RollingWindows {
        window_hours: 24,
        hour_phase_ms: 0,
        horizon_ms: 4 * DAY,
    }
}

const DAY_0_AND_1: [(u32, Option<u32>); 2] = [(0, Some(1)), (1, Some(2))];

fn udaf(new_users: bool) -> RollingUdaf {
    let cohorts = Arc::new(PointIndex::new(vec![0, DAY, 2 * DAY]));
    RollingUdaf::new(cohorts, 2 * DAY, windows(), &DAY_0_AND_1, new_users).expect("udaf")
}

/// `rows` as the `Int64` columns of an update.
pub(crate) fn columns_of(rows: &[[i64; 3]]) -> Vec<ArrayRef> {
    (0..3)
        .map(|k| Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r[k]))) as ArrayRef)
        .collect()
}

/// The counts of `rows` (person, time, flags), dealt to `partitions` partitions in turn, whose
/// states the last one merges.
fn counts_of(udaf: &RollingUdaf, rows: &[[i64; 3]], partitions: usize) -> Vec<u64> {
    let mut parts: Vec<RollingState> = (0..partitions)
        .map(|_| RollingState::new(Arc::clone(&udaf.params)))
        .collect();
    for (i, row) in rows.iter().enumerate() {
        parts[i % partitions]
            .update_batch(&columns_of(&[*row]))
            .expect("update");
    }
    let mut last = parts.pop().expect("a partition");
    for mut part in parts {
        let state = part.state().expect("state")[0].to_array().expect("array");
        last.merge_batch(&[state]).expect("merge");
    }
    last.counts().expect("counts")
}

#[test]
fn starts_open_cohorts_and_returns_count_by_hour() {
    let rows = [
        // Person 1: starts at 17:59 on day 0, returns at 17:00 on day 1 (hour 41 − 17 = 24:
        // day 1).
        [1, 17 * HOUR + 59 * 60_000, START],
        [1, DAY + 17 * HOUR, RETURN],
        // Person 2: starts on day 1 and on day 0, returning with each; the return at hour 27 is
        // 22 hours after the start at hour 5, still day 0 of it. Counted in both cohorts.
        [2, DAY + 3 * HOUR, BOTH],
        [2, 5 * HOUR, BOTH],
        // Person 3: a start after the range, a return after the horizon.
        [3, 2 * DAY, START],
        [3, 4 * DAY, RETURN],
    ];
    for partitions in 1..=3 {
        // Cohort 0: persons 1 and 2, day 0: 2, day 1: 1. Cohort 1: person 2, day 0.
        assert_eq!(
            counts_of(&udaf(false), &rows, partitions),
            [2, 1, 1, 1, 1, 0, 2]
        );
    }
}

#[test]
fn new_users_count_from_their_first_event_only() {
    let rows = [
        // Person 1 is not new (an event before the range).
        [1, -3 * HOUR, START],
        [1, 2 * HOUR, BOTH],
        // Person 2: first at hour 10, returns 24 h later (day 1).
        [2, 10 * HOUR, START],
        [2, 34 * HOUR, BOTH],
        // Person 3: the first event does not meet the start's conditions; a later one does.
        [3, HOUR, START | START_UNMET],
        [3, 2 * HOUR, START],
    ];
    for partitions in 1..=2 {
        assert_eq!(
            counts_of(&udaf(true), &rows, partitions),
            [1, 0, 1, 0, 0, 0, 1]
        );
    }
}

#[test]
fn a_return_before_the_start_or_of_a_person_without_starts_counts_nowhere() {
    let rows = [
        [1, 10 * HOUR, START],
        [1, 9 * HOUR, RETURN],
        [5, 11 * HOUR, RETURN],
    ];
    assert_eq!(counts_of(&udaf(false), &rows, 1), [1, 0, 0, 0, 0, 0, 1]);
}

#[test]
fn returns_past_every_window_count_for_each_cohort_of_the_person() {
    // "On or after" columns 0+ and 1+; starts on day 0 and day 1, each its own cohort.
    let mut w = windows();
    w.horizon_ms = 10 * DAY;
    let cohorts = Arc::new(PointIndex::new(vec![0, DAY, 2 * DAY]));
    let columns = [(0, None), (1, None)];
    let udaf = RollingUdaf::new(cohorts, 2 * DAY, w, &columns, false).expect("udaf");
    let rows = [
        [1, HOUR, START],
        [1, DAY + HOUR, START],
        [1, 8 * DAY, RETURN],
        [1, 9 * DAY, RETURN],
    ];
    for partitions in 1..=2 {
        assert_eq!(counts_of(&udaf, &rows, partitions), [1, 1, 1, 1, 1, 1, 1]);
    }
}

#[test]
fn starts_less_than_a_window_apart_unite_their_windows() {
    // Person 1 starts at hours 0 and 20 of day 0 and returns at hour 44: day 1 of both starts
    // (day 0 of the second ends at hour 44). Person 2 starts at hours 0 and 23 and returns at
    // hour 46: day 1 of the first start, day 0 of the second.
    let rows = [
        [1, 0, START],
        [1, 20 * HOUR, START],
        [1, 44 * HOUR, RETURN],
        [2, 0, START],
        [2, 23 * HOUR, START],
        [2, 46 * HOUR + 5, RETURN],
    ];
    for partitions in 1..=3 {
        assert_eq!(
            counts_of(&udaf(false), &rows, partitions),
            [2, 1, 2, 0, 0, 0, 2]
        );
    }
}

#[test]
fn a_cohort_longer_than_a_window_groups_its_starts_by_span() {
    // One cohort of 31 days, 30-day windows, "on" columns 0 and 1. Starts at hours 0 and 720
    // are in different spans: a return at hour 1 439 is window 1 of the first start and
    // window 0 of the second.
    let w = RollingWindows {
        window_hours: 720,
        hour_phase_ms: 0,
        horizon_ms: 100 * DAY,
    };
    let cohorts = Arc::new(PointIndex::new(vec![0, 31 * DAY]));
    let udaf = RollingUdaf::new(cohorts, 31 * DAY, w, &DAY_0_AND_1, false).expect("udaf");
    let rows = [
        [1, 0, START],
        [1, 720 * HOUR, START],
        [1, 1_439 * HOUR, RETURN],
    ];
    assert_eq!(counts_of(&udaf, &rows, 2), [1, 1, 1, 1]);
    // Without the second start, only window 1.
    assert_eq!(counts_of(&udaf, &[rows[0], rows[2]], 2), [1, 0, 1, 1]);
}

#[test]
fn a_state_of_another_layout_is_refused() {
    let mut specific = RollingState::new(Arc::clone(&udaf(false).params));
    specific
        .update_batch(&columns_of(&[[1, HOUR, START]]))
        .expect("update");
    let state = specific.state().expect("state")[0]
        .to_array()
        .expect("array");
    // A "new user" state keeps first times, so its chunks are larger.
    let mut new_users = RollingState::new(Arc::clone(&udaf(true).params));
    assert!(new_users.merge_batch(&[state]).is_err());
}

#[test]
fn a_range_of_more_blocks_than_a_word_numbers_is_refused() {
    let w = RollingWindows {
        window_hours: 24,
        hour_phase_ms: 0,
        horizon_ms: 70_000 * DAY,
    };
    let cohorts = Arc::new(PointIndex::new(vec![0, DAY]));
    assert!(RollingUdaf::new(cohorts, DAY, w, &DAY_0_AND_1, false).is_err());
}
