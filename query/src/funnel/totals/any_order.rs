//! An attempt's events in any order: steps 2 to `k` each take a distinct free event of the
//! window (at or after the entry), in any order among themselves.
//!
//! The most steps are found as for persons (`funnel/any_order.rs`): steps are added one at a time
//! to a bipartite matching of steps to events while an augmenting path exists (the levels
//! reachable form a prefix). Then, step after step, the step's event is moved to the earliest
//! candidate that still leaves the later steps matched: a free candidate is simply taken; one
//! held by a later step is taken if that step finds another event along an augmenting path that
//! leaves the earlier, settled steps alone.
//!
//! # Cost
//! Per attempt, `O(steps × candidates)` augmenting searches of `O(steps × candidates)` each at
//! worst, over the events of the attempt's window.

use std::collections::{HashMap, HashSet};

use super::Attempt;

/// Writes the attempt's longest, earliest assignment into `path` (positions, step order, the
/// entry first).
pub(super) fn longest_path(attempt: &Attempt<'_>, path: &mut Vec<u32>) {
    let steps = attempt.by_step.len();
    let t0 = attempt.ts(attempt.entry);
    let candidates = (0..steps)
        .map(|step| match step {
            0 => Vec::new(),
            _ => attempt.free(step, t0, attempt.deadline).collect(),
        })
        .collect();
    let mut matching = Matching {
        candidates,
        assigned: vec![None; steps],
        owner: HashMap::new(),
    };
    let mut level = 1;
    while level < steps && matching.assign(level) {
        level += 1;
    }
    for step in 1..level {
        matching.move_earliest(step);
    }
    path.clear();
    path.push(attempt.entry);
    path.extend(matching.assigned[1..level].iter().flatten());
}

/// A matching of steps (1 to `k`, zero-based) to distinct events.
struct Matching {
    /// Per step, the events it may take, in order.
    candidates: Vec<Vec<u32>>,
    /// Per step, its event.
    assigned: Vec<Option<u32>>,
    /// Per event taken, its step.
    owner: HashMap<u32, usize>,
}

impl Matching {
    /// Adds an unmatched `step`, moving later steps where needed; false when it cannot be.
    fn assign(&mut self, step: usize) -> bool {
        self.augment(step, 0, &mut HashSet::new())
    }

    /// Kuhn's augmenting path from `step`, leaving events of steps up to `settled` alone.
    fn augment(&mut self, step: usize, settled: usize, visited: &mut HashSet<u32>) -> bool {
        for i in 0..self.candidates[step].len() {
            let event = self.candidates[step][i];
            if !visited.insert(event) {
                continue;
            }
            let free = match self.owner.get(&event) {
                None => true,
                Some(&other) if other <= settled => false,
                Some(&other) => self.augment(other, settled, visited),
            };
            if free {
                self.assigned[step] = Some(event);
                self.owner.insert(event, step);
                return true;
            }
        }
        false
    }

    /// Gives `step` (steps before it settled) the earliest candidate that keeps every later
    /// matched step matched.
    fn move_earliest(&mut self, step: usize) {
        let Some(current) = self.assigned[step] else {
            return;
        };
        for i in 0..self.candidates[step].len() {
            let event = self.candidates[step][i];
            if event == current {
                return;
            }
            match self.owner.get(&event).copied() {
                None => {
                    self.owner.remove(&current);
                    self.take(step, event);
                    return;
                }
                Some(other) if other < step => {}
                Some(other) => {
                    self.owner.remove(&current);
                    self.take(step, event);
                    self.assigned[other] = None;
                    if self.augment(other, step, &mut HashSet::new()) {
                        return;
                    }
                    self.take(other, event);
                    self.take(step, current);
                }
            }
        }
    }

    fn take(&mut self, step: usize, event: u32) {
        self.assigned[step] = Some(event);
        self.owner.insert(event, step);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::funnel::path::{positions_by_step, step_events};

    /// The path for the entry at `entry` of `rows` `(ts, mask)` (sorted), window 100, with the
    /// events at `taken` taken.
    fn path(rows: &[(i64, u64)], steps: usize, entry: u32, taken: &[u32]) -> Vec<u32> {
        let events = step_events(rows);
        let by_step = positions_by_step(&events, steps);
        let mut is_taken = vec![false; events.len()];
        for &p in taken {
            is_taken[p as usize] = true;
        }
        let attempt = Attempt {
            events: &events,
            by_step: &by_step,
            taken: &is_taken,
            entry,
            deadline: events[entry as usize].ts + 100,
        };
        let mut found = Vec::new();
        longest_path(&attempt, &mut found);
        found
    }

    #[test]
    fn steps_take_the_earliest_events_that_keep_the_most_steps() {
        // Entry A(0); C(1) matches step 3, B|C(2) steps 2 and 3, B(3) step 2. The longest takes
        // all three steps; step 2's earliest possible event is B|C(2), leaving C(1) to step 3.
        let rows = [(0, 1), (1, 0b100), (2, 0b110), (3, 0b010)];
        assert_eq!(path(&rows, 3, 0, &[]), [0, 2, 1]);
        // Without C(1), step 3 needs B|C(2), so step 2 takes B(3).
        let rows = [(0, 1), (2, 0b110), (3, 0b010)];
        assert_eq!(path(&rows, 3, 0, &[]), [0, 2, 1]);
    }

    #[test]
    fn taken_events_and_events_before_the_entry_are_not_used() {
        // B(-5) is before the entry A(0); B(1) is taken: only step 1.
        let rows = [(-5, 0b010), (0, 1), (1, 0b010)];
        assert_eq!(path(&rows, 2, 1, &[2]), [1]);
        // Not taken, B(1) serves step 2.
        assert_eq!(path(&rows, 2, 1, &[]), [1, 2]);
        // The entry's own event never serves a later step, even when it matches one.
        assert_eq!(path(&[(0, 0b011)], 2, 0, &[]), [0]);
    }

    #[test]
    fn a_level_needs_every_step_before_it() {
        // Step 3's event alone does not make level 3.
        assert_eq!(path(&[(0, 1), (5, 0b100)], 3, 0, &[]), [0]);
    }
}
