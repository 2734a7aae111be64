//! Funnel event totals (`counting: totals`, Amplitude's "Count by: event totals"): every attempt
//! is counted, not each person's best one.
//!
//! # Semantics
//! Each step-1 event in the entry range starts an attempt, in time order (the order of
//! [`StepEvent`]s). An attempt takes one event for each step it reaches: the entry for step 1,
//! then events that are *free* — not taken for a step after the first by an earlier attempt —
//! inside `[entry, entry + window]`, each used once. Of the ways to take them it keeps one that
//! reaches the most steps and, among those, the earliest: step 2's event as early as possible,
//! then step 3's, and so on. Its events are then taken. So "search ×4 → add to cart" is four
//! attempts, one of which converts: the one add to cart serves the first search.
//!
//! Per order mode, what a way of taking events must satisfy:
//! - **this**: each step at or after the previous one; an exclusion event (or, in exact order,
//!   any event) strictly between two consecutive steps of a gap it covers breaks it, as for
//!   persons (`exclusion.rs`);
//! - **any**: every step at or after the entry, in any order among themselves.
//!
//! A later step's group-by value and, with time to convert, each step's time are those of the
//! attempt's own events; step `k` is reached when all of steps `1..=k` have happened (the
//! latest of their times, which in "this" order is step `k`'s own).
//!
//! # Cost
//! Without exclusions and competing steps, taking the earliest free event for each step in turn
//! is that path (as for persons, `path.rs`): per attempt and step, a binary search and a walk over
//! taken events. Otherwise `search.rs` and `any_order.rs` search, bounded per attempt by the
//! events of its window.

mod any_order;
mod search;

use super::exclusion::Barriers;
use super::path::{FunnelParams, StepEvent, needs_matching, positions_by_step};
use crate::spec::FunnelOrder;

/// Calls `f(path)` for each attempt of a person, in entry order: the events of the steps it
/// reached, in step order, its step-1 event first (its level is `path.len()`, at least 1).
/// `events` are sorted.
pub(crate) fn for_each_attempt(
    events: &[StepEvent],
    params: &FunnelParams,
    mut f: impl FnMut(&[StepEvent]),
) {
    let steps = usize::from(params.steps.min(32));
    let by_step = positions_by_step(events, steps);
    let Some(entries) = by_step.first() else {
        return;
    };
    let way = if params.order == FunnelOrder::Any {
        Way::AnyOrder
    } else if needs_matching(events, params) {
        Way::Search(Barriers::new(events, params, steps))
    } else {
        Way::Earliest
    };
    let mut taken = vec![false; events.len()];
    let mut path: Vec<u32> = Vec::with_capacity(steps);
    let mut reached: Vec<StepEvent> = Vec::with_capacity(steps);
    let first = entries.partition_point(|&p| events[p as usize].ts < params.entry_from_ms);
    for &entry in &entries[first..] {
        let entry_ts = events[entry as usize].ts;
        if entry_ts > params.entry_to_ms {
            break;
        }
        let attempt = Attempt {
            events,
            by_step: &by_step,
            taken: &taken,
            entry,
            deadline: entry_ts.saturating_add(params.window_ms),
        };
        match &way {
            Way::Earliest => attempt.earliest_path(&mut path),
            Way::Search(barriers) => search::longest_path(&attempt, barriers, &mut path),
            Way::AnyOrder => any_order::longest_path(&attempt, &mut path),
        }
        for &p in &path[1..] {
            taken[p as usize] = true;
        }
        reached.clear();
        reached.extend(path.iter().map(|&p| events[p as usize]));
        f(&reached);
    }
}

/// How a person's attempts choose their events.
enum Way {
    /// The earliest free event for each step in turn.
    Earliest,
    /// A search for the longest, earliest path across the barriers.
    Search(Barriers),
    /// Unordered steps: a matching of steps to the window's events.
    AnyOrder,
}

/// One attempt's inputs: the person's sorted events, their positions per step, which are taken,
/// the entry's position and the window's last instant.
struct Attempt<'a> {
    events: &'a [StepEvent],
    by_step: &'a [Vec<u32>],
    taken: &'a [bool],
    entry: u32,
    deadline: i64,
}

impl Attempt<'_> {
    fn ts(&self, position: u32) -> i64 {
        self.events[position as usize].ts
    }

    /// The free events matching zero-based `step` from time `from` to `to` (inclusive), in
    /// order; the entry is never one.
    fn free(&self, step: usize, from: i64, to: i64) -> impl Iterator<Item = u32> + '_ {
        let list = &self.by_step[step];
        let start = list.partition_point(|&p| self.ts(p) < from);
        list[start..]
            .iter()
            .copied()
            .take_while(move |&p| self.ts(p) <= to)
            .filter(move |&p| !self.taken[p as usize] && p != self.entry)
    }

    /// The earliest free event for each step in turn, at or after the previous step's.
    fn earliest_path(&self, path: &mut Vec<u32>) {
        path.clear();
        path.push(self.entry);
        for step in 1..self.by_step.len() {
            let previous = self.ts(path[path.len() - 1]);
            let next = self
                .free(step, previous, self.deadline)
                .find(|p| !path.contains(p));
            let Some(next) = next else {
                break;
            };
            path.push(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::funnel::path::{StrictModes, step_events};
    use crate::spec::FunnelOrder;

    fn params(steps: u8) -> FunnelParams {
        FunnelParams {
            steps,
            window_ms: 100,
            entry_from_ms: 0,
            entry_to_ms: 1_000,
            strict: StrictModes::default(),
            exclusion_gaps: [0; 32],
            order: FunnelOrder::This,
            steps_compete: false,
            totals: true,
        }
    }

    /// Events `(ts, step mask)`, sorted.
    fn events(rows: &[(i64, u64)]) -> Vec<StepEvent> {
        let mut events = step_events(rows);
        events.sort_unstable();
        events
    }

    fn levels(rows: &[(i64, u64)], steps: u8) -> Vec<u8> {
        let mut levels = Vec::new();
        for_each_attempt(&events(rows), &params(steps), |path| {
            levels.push(path.len() as u8);
        });
        levels
    }

    #[test]
    fn each_attempt_reports_when_it_reached_each_step() {
        // search at 1 and 2, cart at 5, checkout at 7 and 9: the first attempt takes cart 5
        // and checkout 7; the second finds no cart left.
        let mut times = Vec::new();
        let rows = events(&[(1, 1), (2, 1), (5, 2), (7, 4), (9, 4)]);
        for_each_attempt(&rows, &params(3), |path| {
            times.push((path[0].ts, path.iter().map(|e| e.ts).collect::<Vec<_>>()));
        });
        assert_eq!(times, [(1, vec![1, 5, 7]), (2, vec![2])]);
    }

    #[test]
    fn a_later_step_event_serves_one_attempt() {
        // search ×4 → add to cart: four attempts, the first converts.
        assert_eq!(
            levels(&[(1, 1), (2, 1), (3, 1), (4, 1), (5, 2)], 2),
            [2, 1, 1, 1]
        );
        // Two carts: the first two searches convert.
        assert_eq!(levels(&[(1, 1), (2, 1), (5, 2), (6, 2)], 2), [2, 2]);
    }

    #[test]
    fn a_repeated_step_type_does_not_serve_its_own_attempt_twice() {
        // A → A: events matching both steps. The first attempt takes the second A as step 2; the
        // second attempt (from that A) finds no untaken A after it.
        assert_eq!(levels(&[(1, 3), (2, 3)], 2), [2, 1]);
    }

    #[test]
    fn window_and_range_bound_attempts() {
        // The cart at 150 is past the first search's window but inside the second's.
        assert_eq!(levels(&[(10, 1), (60, 1), (150, 2)], 2), [1, 2]);
        // A search after the entry range starts no attempt.
        assert_eq!(levels(&[(10, 1), (1_001, 1), (1_002, 2)], 2), [1]);
    }
}
