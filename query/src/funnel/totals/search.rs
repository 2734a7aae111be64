//! An attempt's path in "this" or exact order when the earliest free event is not always right:
//! with exclusions (or exact order, where every event breaks), taking an early step-2 event can
//! leave an exclusion between it and step 3 where a later one would not; and events of one
//! millisecond matching overlapping steps can be assigned in several ways.
//!
//! A depth-first search over paths in order — step 2's candidates earliest first, then step
//! 3's — keeps the first path that is longer than every earlier one: the longest, earliest path.
//! A candidate is skipped when an upper bound on what it can reach is no more than the best
//! path so far. The bound is the longest path through the candidate when only its own event is
//! kept off the rest (the events the path used before, which can share its millisecond, are
//! ignored); it is memoized per (step, event) for the attempt, and exact unless several events of
//! one millisecond compete, so the search follows the answer with little backtracking.
//!
//! # Cost
//! Per attempt, the bound at most once per (step, event) of its window, each a walk over the next
//! step's candidates up to the first barrier: `O(steps × window events²)` at worst.

use std::collections::HashMap;

use super::Attempt;
use crate::funnel::exclusion::Barriers;

/// Writes the attempt's longest, earliest path across `barriers` into `path` (positions, step
/// order, the entry first).
pub(super) fn longest_path(attempt: &Attempt<'_>, barriers: &Barriers, path: &mut Vec<u32>) {
    let mut search = Search {
        attempt,
        barriers,
        bounds: HashMap::new(),
        best: vec![attempt.entry],
    };
    path.clear();
    path.push(attempt.entry);
    search.extend(path);
    path.clone_from(&search.best);
}

struct Search<'a> {
    attempt: &'a Attempt<'a>,
    barriers: &'a Barriers,
    /// Per (zero-based step, position): the bound on the level of a path taking that event for
    /// that step.
    bounds: HashMap<(usize, u32), usize>,
    /// The longest, earliest path found so far.
    best: Vec<u32>,
}

impl Search<'_> {
    fn steps(&self) -> usize {
        self.attempt.by_step.len()
    }

    /// The free events that may follow `previous` (taken for step `step - 1`) as step `step`:
    /// at or after it, before the window ends and no later than the gap's next barrier.
    fn candidates(&self, step: usize, previous: u32) -> Vec<u32> {
        let from = self.attempt.ts(previous);
        let to = self
            .attempt
            .deadline
            .min(self.barriers.limit(step - 1, from));
        self.attempt
            .free(step, from, to)
            .filter(|&p| p != previous)
            .collect()
    }

    /// The bound on the level of a path taking `at` for `step`.
    fn bound(&mut self, step: usize, at: u32) -> usize {
        if step + 1 == self.steps() {
            return self.steps();
        }
        if let Some(&bound) = self.bounds.get(&(step, at)) {
            return bound;
        }
        let mut bound = step + 1;
        for next in self.candidates(step + 1, at) {
            bound = bound.max(self.bound(step + 1, next));
            if bound == self.steps() {
                break;
            }
        }
        self.bounds.insert((step, at), bound);
        bound
    }

    /// Searches the paths extending `path` (at least the entry), in order.
    fn extend(&mut self, path: &mut Vec<u32>) {
        if path.len() > self.best.len() {
            self.best.clone_from(path);
        }
        let step = path.len();
        if self.best.len() == self.steps() || step == self.steps() {
            return;
        }
        for next in self.candidates(step, path[step - 1]) {
            if path.contains(&next) || self.bound(step, next) <= self.best.len() {
                continue;
            }
            path.push(next);
            self.extend(path);
            path.pop();
            if self.best.len() == self.steps() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::funnel::path::{FunnelParams, StepEvent, StrictModes, positions_by_step};
    use crate::spec::FunnelOrder;

    /// The path positions for the entry at position 0 of `rows` `(ts, mask)`, with `gaps`
    /// exclusion bits, nothing taken, window 100.
    fn path(rows: &[(i64, u64)], steps: u8, gaps: &[(usize, u64)]) -> Vec<u32> {
        let events: Vec<StepEvent> = rows
            .iter()
            .map(|&(ts, mask)| StepEvent {
                ts,
                breakdown: 0,
                mask,
            })
            .collect();
        let mut exclusion_gaps = [0; 32];
        for &(gap, bits) in gaps {
            exclusion_gaps[gap] = bits;
        }
        let params = FunnelParams {
            steps,
            window_ms: 100,
            entry_from_ms: 0,
            entry_to_ms: 1_000,
            strict: StrictModes::default(),
            exclusion_gaps,
            order: FunnelOrder::This,
            steps_compete: false,
            totals: true,
        };
        let by_step = positions_by_step(&events, usize::from(steps));
        let taken = vec![false; events.len()];
        let attempt = Attempt {
            events: &events,
            by_step: &by_step,
            taken: &taken,
            entry: 0,
            deadline: events[0].ts + 100,
        };
        let barriers = Barriers::new(&events, &params, usize::from(steps));
        let mut found = Vec::new();
        longest_path(&attempt, &barriers, &mut found);
        found
    }

    const X: u64 = 1 << 32;

    #[test]
    fn a_later_step_event_is_taken_when_an_exclusion_follows_the_earlier_one() {
        // A(0) B(1) X(2) B(3) C(4), X excluded between B and C: B(3) converts.
        let rows = [(0, 1), (1, 2), (2, X), (3, 2), (4, 4)];
        assert_eq!(path(&rows, 3, &[(1, X)]), [0, 3, 4]);
        // Without the exclusion, the earliest B.
        assert_eq!(path(&rows, 3, &[]), [0, 1, 4]);
    }

    #[test]
    fn an_exclusion_in_the_steps_millisecond_does_not_break() {
        // A(0) X(5) B(5): the exclusion shares B's millisecond.
        assert_eq!(path(&[(0, 1), (5, X), (5, 2)], 2, &[(0, X)]), [0, 2]);
        // A(0) X(3) B(5): broken, the attempt stays at step 1.
        assert_eq!(path(&[(0, 1), (3, X), (5, 2)], 2, &[(0, X)]), [0]);
    }

    #[test]
    fn events_of_one_millisecond_are_assigned_so_the_path_is_longest() {
        // Steps A → A|B → B at one millisecond: the first event (matching steps 2 and 3) must
        // go to step 3 if the second (step 2 only) is to be used at all.
        let rows = [(0, 1), (1, 0b110), (1, 0b010)];
        assert_eq!(path(&rows, 3, &[]), [0, 2, 1]);
    }
}
