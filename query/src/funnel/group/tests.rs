//! The counted path's step event, and the order of value pairs.

use super::*;

fn event(ts: i64, breakdown: Option<u32>, mask: u64) -> StepEvent {
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
        event(0, None, 1),
        event(5, Some(1), 2),
        event(6, Some(2), 4),
        event(7, Some(3), 2),
        event(9, Some(4), 4),
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
    let mut events = vec![
        event(3, Some(0), 3),
        event(3, Some(1), 3),
        event(8, None, 3),
    ];
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
    let mut events = vec![
        event(0, None, 1),
        event(6, Some(7), 2),
        event(6, Some(2), 2),
    ];
    events.sort_unstable();
    let taken = counted_step_event(&events, events[0], 1, 100).expect("reached");
    assert_eq!(taken.breakdown, Some(2));
}

#[test]
fn an_entry_not_in_the_events_gives_none() {
    let events = vec![event(0, None, 1), event(1, None, 2)];
    assert_eq!(counted_step_event(&events, event(5, None, 1), 1, 100), None);
}

#[test]
fn pairs_rank_in_value_order_and_map_back() {
    use crate::funnel::state::Values;
    let mut values = Values::default();
    let (b, a) = (values.intern("b").unwrap(), values.intern("a").unwrap());
    let ranking = values.ranking();
    let row = |groups| Row {
        person: 0,
        held: NONE,
        ts: 0,
        groups,
        mask: 1,
    };
    let rows = [
        row([b, NONE]),
        row([a, b]),
        row([NONE, a]),
        row([NONE, NONE]),
    ];
    let ranks = PairRanks::new(&rows, &ranking);
    let rank = |groups| ranks.rank(PairRanks::packed(groups, &ranking));
    // (none, a) < (a, b) < (b, none); (none, none) has no rank.
    assert_eq!(rank([NONE, a]), Some(0));
    assert_eq!(rank([a, b]), Some(1));
    assert_eq!(rank([b, NONE]), Some(2));
    assert_eq!(rank([NONE, NONE]), None);
    assert_eq!(ranks.pair(Some(1), &ranking), [a, b]);
    assert_eq!(ranks.pair(None, &ranking), [NONE, NONE]);
}
