//! Hand-computed cases for the any-order funnel.

use super::*;
use crate::funnel::path::{StrictModes, person_funnel, step_events};
use crate::spec::FunnelOrder;

/// Steps `A → B → C` in any order, window 100 ms, entries in `[0, 50]`.
fn params() -> FunnelParams {
    FunnelParams {
        steps: 3,
        window_ms: 100,
        entry_from_ms: 0,
        entry_to_ms: 50,
        strict: StrictModes::default(),
        exclusion_gaps: [0; 32],
        order: FunnelOrder::Any,
        steps_compete: true,
        totals: false,
    }
}

fn level(rows: &[(i64, u64)]) -> u8 {
    let mut events = step_events(rows);
    person_funnel(&mut events, &params()).level
}

const A: u64 = 1;
const B: u64 = 2;
const C: u64 = 4;

#[test]
fn later_steps_in_any_order() {
    assert_eq!(level(&[(0, A), (5, C), (9, B)]), 3);
    assert_eq!(level(&[(0, A), (5, C)]), 1, "step 2 is missing");
    assert_eq!(level(&[(0, A), (5, B)]), 2);
}

#[test]
fn nothing_counts_before_step_1_or_after_the_window() {
    assert_eq!(level(&[(-1, B), (0, A), (5, C)]), 1);
    assert_eq!(level(&[(0, A), (100, B), (101, C)]), 2);
    // A later entry brings B into its window.
    assert_eq!(level(&[(0, A), (10, A), (100, B), (101, C)]), 3);
}

#[test]
fn steps_take_distinct_events() {
    // One event matching B and C serves one of them; two serve both.
    assert_eq!(level(&[(0, A), (5, B | C)]), 2);
    assert_eq!(level(&[(0, A), (5, B | C), (6, B | C)]), 3);
    // B must move to the B-only event so that C can take the B|C one.
    assert_eq!(level(&[(0, A), (5, B | C), (6, B)]), 3);
    // The entry cannot also be step 2.
    assert_eq!(level(&[(0, A | B)]), 1);
    assert_eq!(level(&[(0, A | B), (0, A | B), (0, C)]), 3);
}
