//! Hand-computed cases for the funnel with exclusions.

use super::*;
use crate::funnel::path::{StrictModes, person_funnel};

/// Steps `A → B → C`; exclusion `X` breaks the gaps in `gaps` (zero-based).
fn params(gaps: &[usize]) -> FunnelParams {
    let mut exclusion_gaps = [0; 32];
    for &gap in gaps {
        exclusion_gaps[gap] = 1 << 32;
    }
    FunnelParams {
        steps: 3,
        window_ms: 100,
        entry_from_ms: 0,
        entry_to_ms: 50,
        strict: StrictModes::default(),
        exclusion_gaps,
        order: crate::spec::FunnelOrder::This,
        steps_compete: true,
        totals: false,
    }
}

fn events(rows: &[(i64, &str)]) -> Vec<StepEvent> {
    rows.iter()
        .map(|&(ts, kind)| StepEvent {
            ts,
            breakdown: 0,
            mask: match kind {
                "A" => 1,
                "B" => 2,
                "C" => 4,
                "AB" => 3,
                _ => 1 << 32,
            },
        })
        .collect()
}

fn level(rows: &[(i64, &str)], gaps: &[usize]) -> u8 {
    person_funnel(&mut events(rows), &params(gaps)).level
}

#[test]
fn a_later_step_event_can_avoid_the_exclusion() {
    // Greedy would take B(1), which X(2) separates from C(4); B(3) converts.
    let rows = [(0, "A"), (1, "B"), (2, "X"), (3, "B"), (4, "C")];
    assert_eq!(level(&rows, &[1]), 3);
    assert_eq!(
        level(&rows, &[0, 1]),
        2,
        "A → B(1) is clear, but X cuts B(1) from C and A from B(3)"
    );
}

#[test]
fn the_exclusion_stops_the_path_at_the_gap() {
    let rows = [(0, "A"), (1, "B"), (2, "X"), (4, "C")];
    assert_eq!(level(&rows, &[1]), 2);
    assert_eq!(level(&rows, &[0]), 3, "X is after step 2, outside gap 1→2");
    assert_eq!(level(&rows, &[]), 3);
}

#[test]
fn an_exclusion_at_the_same_millisecond_as_a_step_does_not_exclude() {
    assert_eq!(
        level(&[(0, "A"), (0, "X"), (5, "B"), (5, "X"), (9, "C")], &[0, 1]),
        3
    );
    assert_eq!(level(&[(0, "A"), (1, "X"), (5, "B"), (9, "C")], &[0, 1]), 1);
}

#[test]
fn a_later_entry_after_the_exclusion_converts() {
    let rows = [(0, "A"), (1, "X"), (2, "A"), (3, "B"), (4, "C")];
    let funnel = person_funnel(&mut events(&rows), &params(&[0, 1]));
    assert_eq!(funnel.level, 3);
    assert_eq!(funnel.entry.map(|e| e.ts), Some(2));
}

#[test]
fn steps_at_one_millisecond_take_distinct_events() {
    // One event matching A and B cannot be both steps; a second one at the same ms can.
    assert_eq!(level(&[(0, "AB"), (9, "C")], &[1]), 1);
    assert_eq!(level(&[(0, "AB"), (0, "AB"), (9, "C")], &[1]), 3);
    // The "A" event enters and the "AB" one at the same ms takes step B.
    assert_eq!(level(&[(0, "AB"), (0, "A"), (2, "C")], &[1]), 3);
}

#[test]
fn the_window_still_bounds_the_path() {
    assert_eq!(level(&[(0, "A"), (50, "B"), (101, "C")], &[0]), 2);
    assert_eq!(level(&[(0, "A"), (50, "B"), (100, "C")], &[0]), 3);
}
