//! An attempt's path in "this" or exact order when the earliest free event is not always right:
//! with exclusions (or exact order, where every event breaks), taking an early step-2 event can
//! leave an exclusion between it and step 3 where a later one would not; and events of one
//! millisecond matching overlapping steps can be assigned in several ways.
//!
//! A depth-first search over paths in order — step 2's candidates earliest first, then step
//! 3's — keeps the first path that is longer than every earlier one: the longest, earliest path.
//! A candidate is skipped when an upper bound on what it can reach is no more than the best
//! path so far. The bound of an event for a step is the most steps a path through it reaches
//! when distinctness is only asked of consecutive steps' events (so it never falls short, and is
//! exact unless several events of one millisecond compete): computed for every event of the
//! attempt's window, from the last step back, each step's bounds as a sliding-window maximum of
//! the next step's over the candidates that may follow (from the event's time to the gap's next
//! barrier or the window's end, both of which move back with the event).
//!
//! # Cost
//! Per attempt, `O(steps × window events)` for the bounds; the search then mostly walks down
//! the answer, backtracking only where the bound is not exact.

use std::collections::VecDeque;

use super::Attempt;
use crate::funnel::exclusion::Barriers;

/// Writes the attempt's longest, earliest path across `barriers` into `path` (positions, step
/// order, the entry first).
pub(super) fn longest_path(attempt: &Attempt<'_>, barriers: &Barriers, path: &mut Vec<u32>) {
    let mut search = Search::new(attempt, barriers);
    path.clear();
    path.push(attempt.entry);
    search.extend(path);
    path.clone_from(&search.best);
}

struct Search<'a> {
    attempt: &'a Attempt<'a>,
    barriers: &'a Barriers,
    /// Per step, the range of its event list inside the window (`[entry, deadline]`).
    window: Vec<std::ops::Range<usize>>,
    /// Per step, for each event of its window range, the bound on the level of a path taking
    /// it for that step (0 for a taken event).
    bounds: Vec<Vec<usize>>,
    /// The longest, earliest path found so far.
    best: Vec<u32>,
}

impl<'a> Search<'a> {
    fn new(attempt: &'a Attempt<'a>, barriers: &'a Barriers) -> Self {
        let t0 = attempt.ts(attempt.entry);
        let window: Vec<_> = attempt
            .by_step
            .iter()
            .map(|list| {
                let start = list.partition_point(|&p| attempt.ts(p) < t0);
                let end = list.partition_point(|&p| attempt.ts(p) <= attempt.deadline);
                start..end.max(start)
            })
            .collect();
        let mut search = Search {
            attempt,
            barriers,
            window,
            bounds: Vec::new(),
            best: vec![attempt.entry],
        };
        search.bounds = search.compute_bounds();
        search
    }

    fn steps(&self) -> usize {
        self.attempt.by_step.len()
    }

    /// The step's events inside the window.
    fn events_of(&self, step: usize) -> &'a [u32] {
        &self.attempt.by_step[step][self.window[step].clone()]
    }

    fn is_free(&self, position: u32) -> bool {
        !self.attempt.taken[position as usize] && position != self.attempt.entry
    }

    /// The last time a step may have to follow a step at `previous` as step `step`.
    fn limit(&self, step: usize, previous: i64) -> i64 {
        self.attempt
            .deadline
            .min(self.barriers.limit(step - 1, previous))
    }

    /// Every step's bounds, from the last step back (step 1's are not needed).
    fn compute_bounds(&self) -> Vec<Vec<usize>> {
        let steps = self.steps();
        let mut bounds = vec![Vec::new(); steps];
        if steps < 2 {
            return bounds;
        }
        bounds[steps - 1] = self
            .events_of(steps - 1)
            .iter()
            .map(|&p| if self.is_free(p) { steps } else { 0 })
            .collect();
        for step in (1..steps - 1).rev() {
            let mine = self.events_of(step);
            let next = self.events_of(step + 1);
            let next_bounds = &bounds[step + 1];
            let mut own = vec![0; mine.len()];
            // Going back in time, the next step's events at or after this event's time enter
            // the window; those past its limit leave it. `window` holds indices into `next`
            // with decreasing bounds from back (earliest entered) to front.
            let mut window: VecDeque<usize> = VecDeque::new();
            let mut entered = next.len();
            for (i, &p) in mine.iter().enumerate().rev() {
                if !self.is_free(p) {
                    continue;
                }
                let ts = self.attempt.ts(p);
                while entered > 0 && self.attempt.ts(next[entered - 1]) >= ts {
                    entered -= 1;
                    let value = next_bounds[entered];
                    while window.back().is_some_and(|&j| next_bounds[j] <= value) {
                        window.pop_back();
                    }
                    window.push_back(entered);
                }
                let limit = self.limit(step + 1, ts);
                while window
                    .front()
                    .is_some_and(|&j| self.attempt.ts(next[j]) > limit)
                {
                    window.pop_front();
                }
                let reach = window.front().map_or(0, |&j| next_bounds[j]);
                own[i] = reach.max(step + 1);
            }
            bounds[step] = own;
        }
        bounds
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
        let from = self.attempt.ts(path[step - 1]);
        let to = self.limit(step, from);
        let mine = self.events_of(step);
        let start = mine.partition_point(|&p| self.attempt.ts(p) < from);
        for (i, &next) in mine.iter().enumerate().skip(start) {
            if self.attempt.ts(next) > to {
                break;
            }
            if self.bounds[step][i] <= self.best.len() || path.contains(&next) {
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
    use crate::funnel::path::{FunnelParams, StrictModes, positions_by_step, step_events};
    use crate::spec::FunnelOrder;

    /// The path positions for the entry at position 0 of `rows` `(ts, mask)`, with `gaps`
    /// exclusion bits, nothing taken, window 100.
    fn path(rows: &[(i64, u64)], steps: u8, gaps: &[(usize, u64)]) -> Vec<u32> {
        let events = step_events(rows);
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
