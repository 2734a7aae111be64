//! The counted path's step event, and the order of value pairs.

use super::*;

/// An event whose group values have the key `breakdown` (0: none).
fn event(ts: i64, breakdown: u64, mask: u64) -> StepEvent {
    StepEvent {
        ts,
        breakdown,
        mask,
    }
}

#[test]
fn takes_the_earliest_unused_event_of_each_step() {
    // A → B → C: entry at 0, B at 5 and 7, C at 6 and 9.
    let mut events = vec![
        event(0, 0, 1),
        event(5, 2, 2),
        event(6, 3, 4),
        event(7, 4, 2),
        event(9, 5, 4),
    ];
    events.sort_unstable();
    let entry = events[0];
    assert_eq!(counted_step_event(&events, entry, 1, 100), Some(events[1]));
    assert_eq!(counted_step_event(&events, entry, 2, 100), Some(events[2]));
    // The window ends before C: the path stops at step 2.
    assert_eq!(counted_step_event(&events, entry, 2, 5), None);
}

#[test]
fn a_repeated_step_never_reuses_the_entry() {
    // A → A: the entry cannot be its own step 2; the next A is.
    let mut events = vec![event(3, 1, 3), event(3, 2, 3), event(8, 0, 3)];
    events.sort_unstable();
    let entry = events[0];
    assert_eq!(counted_step_event(&events, entry, 1, 100), Some(events[1]));
    // From the later same-millisecond entry, the earlier one is free and at the same time.
    assert_eq!(
        counted_step_event(&events, events[1], 1, 100),
        Some(events[0])
    );
}

#[test]
fn same_millisecond_candidates_go_by_value() {
    // Two C events at 6: the one with the smaller rank (value) is taken.
    let mut events = vec![event(0, 0, 1), event(6, 8, 2), event(6, 3, 2)];
    events.sort_unstable();
    let taken = counted_step_event(&events, events[0], 1, 100).expect("reached");
    assert_eq!(taken.breakdown, 3);
}

#[test]
fn an_entry_not_in_the_events_gives_none() {
    let events = vec![event(0, 0, 1), event(1, 0, 2)];
    assert_eq!(counted_step_event(&events, event(5, 0, 1), 1, 100), None);
}

#[test]
fn pair_keys_order_like_the_values_and_map_back() {
    use crate::funnel::state::Values;
    let mut values = Values::default();
    let (b, a) = (values.intern("b").unwrap(), values.intern("a").unwrap());
    let ranking = values.ranking();
    let key = |groups| pair_key(groups, &ranking);
    // (none, none) < (none, a) < (a, b) < (b, none)
    assert_eq!(key([NONE, NONE]), 0);
    assert!(key([NONE, NONE]) < key([NONE, a]));
    assert!(key([NONE, a]) < key([a, b]));
    assert!(key([a, b]) < key([b, NONE]));
    for pair in [[a, b], [NONE, a], [b, NONE], [NONE, NONE]] {
        assert_eq!(pair_of(key(pair), &ranking), pair);
    }
}
