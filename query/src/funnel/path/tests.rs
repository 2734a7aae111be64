//! Hand-computed cases for the per-person algorithm.

use super::*;

const DAY: i64 = 86_400_000;

/// Events from `(time, event type, breakdown)`, masks computed against `steps`.
fn events(steps: &[&str], rows: &[(i64, &str, Option<u32>)]) -> Vec<StepEvent> {
    rows.iter()
        .map(|&(ts, kind, breakdown)| StepEvent {
            ts,
            breakdown: key(breakdown),
            mask: steps
                .iter()
                .enumerate()
                .filter(|(_, s)| **s == kind)
                .fold(0, |m, (k, _)| m | 1 << k),
        })
        .collect()
}

/// The key of a breakdown value rank (`group::pair_key` with one value): 0 for none.
fn key(rank: Option<u32>) -> u64 {
    rank.map_or(0, |r| u64::from(r) + 1)
}

fn params(steps: usize, window_ms: i64) -> FunnelParams {
    FunnelParams {
        steps: steps as u8,
        window_ms,
        entry_from_ms: 0,
        entry_to_ms: DAY - 1,
        strict: StrictModes::default(),
        exclusion_gaps: [0; 32],
        order: crate::spec::FunnelOrder::This,
        steps_compete: true,
        totals: false,
    }
}

fn level(steps: &[&str], window_ms: i64, rows: &[(i64, &str, Option<u32>)]) -> u8 {
    person_funnel(&mut events(steps, rows), &params(steps.len(), window_ms)).level
}

#[test]
fn steps_in_order_convert_and_out_of_order_do_not() {
    let steps = ["A", "B", "C"];
    assert_eq!(
        level(
            &steps,
            DAY,
            &[(30, "C", None), (10, "A", None), (20, "B", None)]
        ),
        3
    );
    assert_eq!(
        level(
            &steps,
            DAY,
            &[(10, "B", None), (20, "A", None), (30, "C", None)]
        ),
        1
    );
    assert_eq!(level(&steps, DAY, &[(10, "B", None), (20, "C", None)]), 0);
}

#[test]
fn same_millisecond_counts_as_in_order() {
    assert_eq!(
        level(
            &["A", "B", "C"],
            DAY,
            &[(5, "C", None), (5, "B", None), (5, "A", None)]
        ),
        3
    );
}

#[test]
fn an_event_is_used_once_per_path() {
    let steps = ["A", "A", "B"];
    assert_eq!(level(&steps, DAY, &[(0, "A", None), (1, "B", None)]), 1);
    assert_eq!(
        level(
            &steps,
            DAY,
            &[(0, "A", None), (0, "A", None), (0, "B", None)]
        ),
        3
    );
    assert_eq!(
        level(
            &steps,
            DAY,
            &[(0, "A", None), (2, "A", None), (1, "B", None)]
        ),
        2
    );
}

#[test]
fn window_is_inclusive_from_the_entry() {
    let steps = ["A", "B", "C"];
    assert_eq!(
        level(
            &steps,
            100,
            &[(0, "A", None), (50, "B", None), (100, "C", None)]
        ),
        3
    );
    assert_eq!(
        level(
            &steps,
            100,
            &[(0, "A", None), (50, "B", None), (101, "C", None)]
        ),
        2
    );
}

#[test]
fn entries_must_be_inside_the_date_range_but_later_steps_need_not() {
    let steps = ["A", "B"];
    assert_eq!(level(&steps, DAY, &[(-1, "A", None), (5, "B", None)]), 0);
    assert_eq!(
        level(&steps, DAY, &[(DAY, "A", None), (DAY + 5, "B", None)]),
        0
    );
    assert_eq!(
        level(
            &steps,
            DAY,
            &[(DAY - 1, "A", None), (2 * DAY - 1, "B", None)]
        ),
        2
    );
}

#[test]
fn breakdown_comes_from_the_earliest_entry_of_the_longest_path() {
    let steps = ["A", "B"];
    let mut rows = events(
        &steps,
        &[(0, "A", Some(1)), (10, "A", Some(2)), (20, "B", None)],
    );
    let found = person_funnel(&mut rows, &params(2, 15));
    assert_eq!(
        (found.level, found.entry.map(|e| e.breakdown)),
        (2, Some(key(Some(2))))
    );

    let mut rows = events(
        &steps,
        &[(10, "A", Some(2)), (0, "A", Some(1)), (20, "B", None)],
    );
    let found = person_funnel(&mut rows, &params(2, 100));
    assert_eq!(
        (found.level, found.entry.map(|e| e.breakdown)),
        (2, Some(key(Some(1))))
    );

    let mut rows = events(&steps, &[(0, "A", Some(1)), (10, "A", Some(2))]);
    let found = person_funnel(&mut rows, &params(2, 100));
    assert_eq!(
        (found.level, found.entry.map(|e| e.breakdown)),
        (1, Some(key(Some(1))))
    );
}

#[test]
fn same_millisecond_entries_are_ordered_by_breakdown_value() {
    let steps = ["A", "B"];
    let mut rows = events(
        &steps,
        &[(0, "A", Some(5)), (0, "A", Some(3)), (0, "A", None)],
    );
    let found = person_funnel(&mut rows, &params(2, 100));
    assert_eq!(
        (found.level, found.entry.map(|e| e.breakdown)),
        (1, Some(key(None)))
    );
    let mut rows = events(&steps, &[(0, "A", Some(5)), (0, "A", Some(3))]);
    let found = person_funnel(&mut rows, &params(2, 100));
    assert_eq!(found.entry.map(|e| e.breakdown), Some(key(Some(3))));
}

#[test]
fn many_entries_stay_fast_and_exact() {
    // 200k entries, each a minute apart, with the only completion at the very end.
    let steps = ["A", "B", "C"];
    let mut rows: Vec<(i64, &str, Option<u32>)> = (0..200_000)
        .map(|i| (i * 60_000 % DAY, "A", None))
        .collect();
    rows.push((DAY - 10, "B", None));
    rows.push((DAY - 5, "C", None));
    assert_eq!(level(&steps, 60_000, &rows), 3);
    rows.pop();
    assert_eq!(level(&steps, 60_000, &rows), 2);
}

#[test]
fn no_events_means_level_zero() {
    let found = person_funnel(&mut [], &params(2, DAY));
    assert_eq!(
        found,
        PersonFunnel {
            level: 0,
            entry: None
        }
    );
}
