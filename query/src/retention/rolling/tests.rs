use datafusion::arrow::array::Int64Array;

use super::*;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// Two daily cohorts from t = 0, day-and-1 return-on columns, returns read for 3 days.
fn params(new_users: bool) -> RollingParams {
    RollingParams {
        cohorts: Arc::new(PointIndex::new(vec![0, DAY, 2 * DAY])),
        windows: RollingWindows {
            window_hours: 24,
            hour_phase_ms: 0,
            horizon_ms: 4 * DAY,
        },
        new_users,
        columns: Arc::new(vec![(0, Some(1)), (1, Some(2))]),
    }
}

/// What `part` hands over, as arrays.
fn handed_over(part: &mut RollingRows) -> Vec<ArrayRef> {
    part.state()
        .expect("state")
        .into_iter()
        .map(|s| s.to_array().expect("array"))
        .collect()
}

fn run(params: RollingParams, rows: &[(i64, i64, i64)]) -> RollingRows {
    let column = |f: fn(&(i64, i64, i64)) -> i64| -> ArrayRef {
        Arc::new(rows.iter().map(|r| Some(f(r))).collect::<Int64Array>())
    };
    let mut acc = RollingRows {
        params,
        rows: Vec::new(),
        runs: Vec::new(),
    };
    acc.update_batch(&[column(|r| r.0), column(|r| r.1), column(|r| r.2)])
        .expect("update");
    acc
}

#[test]
fn starts_open_cohorts_and_returns_count_by_hour() {
    let both = START | RETURN;
    let mut acc = run(
        params(false),
        &[
            // Person 1: starts at 17:59 on day 0, returns at 17:00 on day 1 (hour 41 - 17 = 24).
            (1, 17 * HOUR + 59 * 60_000, START),
            (1, DAY + 17 * HOUR, RETURN),
            // Person 2: starts (and returns) on day 1 and again on day 0; counted in both cohorts.
            (2, DAY + 3 * HOUR, both),
            (2, 5 * HOUR, both),
            // Person 3: a start after the range, a return after the horizon: no row kept.
            (3, 2 * DAY, START),
            (3, 4 * DAY, RETURN),
        ],
    );
    assert_eq!(acc.rows.len(), 4);
    // Cohort 0: persons 1 and 2; day 0: person 2 (the start itself; the return at hour 27 is
    // 22 hours after the start at hour 5, still day 0); day 1: person 1.
    // Cohort 1: person 2, back on day 0 (the start itself).
    assert_eq!(acc.counts(), [2, 1, 1, 1, 1, 0, 2]);
}

#[test]
fn new_users_start_at_their_first_event_only() {
    let any = START;
    let mut acc = run(
        params(true),
        &[
            // Person 1: events before the range, collapsed into one row: not new.
            (1, -3 * HOUR, any),
            (1, -2 * HOUR, any),
            (1, 2 * HOUR, any | RETURN),
            // Person 2: first event on day 0 at 10:00, back 24 h later.
            (2, 10 * HOUR, any),
            (2, 34 * HOUR, any | RETURN),
        ],
    );
    assert_eq!(acc.rows.len(), 4);
    assert_eq!(acc.counts(), [1, 0, 1, 0, 0, 0, 1]);
}

#[test]
fn state_crosses_partitions_as_rows() {
    let first = run(params(false), &[(1, HOUR, START), (2, HOUR, START)]);
    let second = run(params(false), &[(1, 30 * HOUR, RETURN)]);
    let mut merged = run(params(false), &[]);
    for mut part in [first, second] {
        merged.merge_batch(&handed_over(&mut part)).expect("merge");
    }
    assert_eq!(merged.counts(), [2, 0, 1, 0, 0, 0, 2]);
    // Columns of different lengths are refused.
    let mut uneven = handed_over(&mut run(params(false), &[(1, HOUR, START)]));
    uneven[1] = handed_over(&mut run(params(false), &[]))[1].clone();
    assert!(run(params(false), &[]).merge_batch(&uneven).is_err());
}

#[test]
fn runs_from_several_partitions_are_walked_together_person_by_person() {
    // Person 2's start is in one partition, the return in another; person 1 only in the third,
    // whose rows arrive unsorted (a state from elsewhere is sorted when taken).
    let first = run(params(false), &[(2, HOUR, START), (3, 2 * HOUR, START)]);
    let second = run(
        params(false),
        &[(2, 26 * HOUR, RETURN), (3, 50 * HOUR, RETURN)],
    );
    let mut merged = run(params(false), &[(1, 3 * HOUR, START)]);
    for mut part in [first, second] {
        let state = handed_over(&mut part);
        // The state's values are the run's own buffers.
        let persons = as_list_array(&state[0]).unwrap().value(0);
        let held = part.runs[0].person.as_ptr();
        assert_eq!(as_int64_array(&persons).unwrap().values().as_ptr(), held);
        merged.merge_batch(&state).expect("merge");
    }
    let list = |values: ArrayRef| -> ArrayRef {
        let item = Arc::new(Field::new_list_field(values.data_type().clone(), true));
        Arc::new(ListArray::new(
            item,
            OffsetBuffer::from_lengths([values.len()]),
            values,
            None,
        ))
    };
    let unsorted = [
        list(Arc::new(Int64Array::from(vec![5, 5]))),
        list(Arc::new(Int64Array::from(vec![30 * HOUR, 4 * HOUR]))),
        list(Arc::new(UInt8Array::from(vec![ROW_RETURN, ROW_START]))),
    ];
    merged.merge_batch(&unsorted).expect("merge");
    // Cohort 0: persons 1, 2, 3, 5; back on day 1: 2 (hour 26 - 1) and 5 (hour 30 - 4); on
    // day 2, which no column reads: 3 (hour 50 - 2).
    assert_eq!(merged.counts(), [4, 0, 2, 0, 0, 0, 4]);
}
