use super::*;

pub(crate) const HOUR: i64 = 3_600_000;
pub(crate) const DAY: i64 = 24 * HOUR;

/// Two daily cohorts from t = 0, day-0 and day-1 columns, returns read for 4 days.
pub(crate) fn params(new_users: bool) -> RollingParams {
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

/// `rows` as the `Int64` columns of an update.
pub(crate) fn columns_of<const N: usize>(rows: &[[i64; N]]) -> Vec<ArrayRef> {
    (0..N)
        .map(|k| Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r[k]))) as ArrayRef)
        .collect()
}

/// Each group of `starts` as (person, cohort, first hour, last hour).
fn groups(starts: &Starts) -> Vec<(i64, usize, i64, i64)> {
    (0..starts.len())
        .map(|g| {
            let group = starts.spans()[g];
            (starts.person(g), starts.cohort(g), group.lo, group.hi)
        })
        .collect()
}

fn rows(params: StartParams) -> StartRows {
    StartRows::new(params)
}

#[test]
fn a_person_s_starts_of_one_span_form_one_group() {
    let starts = starts_of(
        &params(false),
        &[
            // Person 1: hours 3 and 20 of day 0 (one group), hour 30 (day 1's cohort).
            [1, 3 * HOUR + 59 * 60_000, 0],
            [1, 20 * HOUR, 0],
            [1, 30 * HOUR, 0],
            // Person 2: after the range, and before it: no group.
            [2, 2 * DAY, 0],
            [2, -HOUR, 0],
            // Person 0, last: sorted first.
            [0, 5 * HOUR, 0],
        ],
    );
    assert_eq!(
        groups(&starts),
        [(0, 0, 5, 5), (1, 0, 3, 20), (1, 1, 30, 30)]
    );
    assert_eq!(starts.groups_of(1), 1..3);
    assert_eq!(starts.groups_of(2), 0..0);
    assert_eq!(starts.groups_of(-7), 0..0);
}

#[test]
fn a_cohort_longer_than_a_window_has_several_spans() {
    // One cohort of 31 days, 30-day windows: hours 0 and 720 are in different spans.
    let mut p = params(false);
    p.cohorts = Arc::new(PointIndex::new(vec![0, 31 * DAY]));
    p.windows.window_hours = 720;
    p.windows.horizon_ms = 100 * DAY;
    let starts = starts_of(&p, &[[1, 0, 0], [1, 719 * HOUR, 0], [1, 720 * HOUR, 0]]);
    assert_eq!(groups(&starts), [(1, 0, 0, 719), (1, 0, 720, 720)]);
}

#[test]
fn groups_from_several_partitions_are_joined() {
    let p = StartParams::new(&params(false));
    let mut first = rows(p.clone());
    first
        .update_batch(&columns_of(&[[1, 5 * HOUR, 0], [2, HOUR, 0]]))
        .expect("update");
    let mut second = rows(p.clone());
    second
        .update_batch(&columns_of(&[[1, 2 * HOUR, 0], [1, 7 * HOUR, 0]]))
        .expect("update");
    let mut merged = rows(p);
    for part in [&mut first, &mut second] {
        let state: Vec<ArrayRef> = part
            .state()
            .expect("state")
            .into_iter()
            .map(|s| s.to_array().expect("array"))
            .collect();
        merged.merge_batch(&state).expect("merge");
    }
    let answer = merged
        .evaluate()
        .expect("evaluate")
        .to_array()
        .expect("array");
    let starts = Starts::decode(&as_list_array(&answer).expect("list").value(0)).expect("decode");
    assert_eq!(groups(&starts), [(1, 0, 2, 7), (2, 0, 1, 1)]);
}

#[test]
fn a_state_with_a_cohort_out_of_range_is_refused() {
    let p = StartParams::new(&params(false));
    let list = |v: i64| {
        int64_list(Int64Array::from(vec![v]))
            .to_array()
            .expect("array")
    };
    let mut acc = rows(p);
    assert!(
        acc.merge_batch(&[list(1), list(9), list(0), list(0)])
            .is_err()
    );
}

#[test]
fn new_users_start_at_their_first_event_if_it_meets_the_conditions() {
    let starts = starts_of(
        &params(true),
        &[
            // Person 1: first event before the range: not new in it.
            [1, -3 * HOUR, 0],
            [1, 2 * HOUR, 0],
            // Person 2: first event on day 1 at 10:00 (the later ones do not start).
            [2, 34 * HOUR, 0],
            [2, 40 * HOUR, 0],
            // Person 3: the first event does not meet the conditions; in the same millisecond
            // one that does wins (person 4).
            [3, 5 * HOUR, 1],
            [3, 6 * HOUR, 0],
            [4, 5 * HOUR, 1],
            [4, 5 * HOUR, 0],
        ],
    );
    assert_eq!(groups(&starts), [(2, 1, 34, 34), (4, 0, 5, 5)]);
}

#[test]
fn sparse_person_ids_are_found_by_search() {
    let ids = [-(1 << 40), 3, 1 << 50];
    let rows: Vec<[i64; 3]> = ids.iter().map(|&id| [id, HOUR, 0]).collect();
    let starts = starts_of(&params(false), &rows);
    assert!(matches!(starts.index, PersonIndex::Search));
    for (g, &id) in ids.iter().enumerate() {
        assert_eq!(starts.groups_of(id), g..g + 1);
    }
    assert!(starts.groups_of(4).is_empty());
    let dense = starts_of(&params(false), &[[10, HOUR, 0], [12, HOUR, 0]]);
    assert!(matches!(dense.index, PersonIndex::Table { .. }));
    assert!(dense.groups_of(11).is_empty());
    assert_eq!(dense.groups_of(12), 1..2);
}

#[test]
fn a_start_joins_its_person_s_last_group_across_other_persons() {
    // "Any event" starts of one day arrive once per event type: person 1, 2, then 1 again.
    let mut acc = rows(StartParams::new(&params(false)));
    let day_rows = [
        [1, HOUR, 0],
        [2, HOUR, 0],
        [1, 9 * HOUR, 0],
        [2, 3 * HOUR, 0],
    ];
    acc.update_batch(&columns_of(&day_rows)).expect("update");
    assert_eq!(acc.groups.len(), 2);
    // A start in the next cohort opens a group of its own.
    acc.update_batch(&columns_of(&[[1, 30 * HOUR, 0]]))
        .expect("update");
    assert_eq!(acc.groups.len(), 3);
}

#[test]
fn sparse_ids_stop_adding_chunks_and_still_join_in_the_answer() {
    let p = StartParams::new(&params(false));
    let mut acc = rows(p);
    let ids: Vec<i64> = (0..40).map(|k| k << 30).collect();
    let rows_of: Vec<[i64; 3]> = ids
        .iter()
        .chain(&ids)
        .enumerate()
        .map(|(i, &id)| [id, HOUR + i as i64 * 60_000, 0])
        .collect();
    acc.update_batch(&columns_of(&rows_of)).expect("update");
    assert!(acc.last.chunks.len() <= 17);
    let answer = acc.evaluate().expect("evaluate").to_array().expect("array");
    let starts = Starts::decode(&as_list_array(&answer).expect("list").value(0)).expect("decode");
    assert_eq!(starts.len(), ids.len());
}
