//! The per-person funnel in any order (Amplitude's "Any order").
//!
//! # Semantics
//!
//! Entries are as in `path.rs`: a step-1 event inside the date range. An entry at `t0` reaches
//! level `k` when steps `2..=k` can take distinct events other than the entry, each at a time in
//! `[t0, t0 + window]`, in any order among themselves (none before step 1: "users who fire the
//! later events without firing the first event are not part of the funnel"). The levels reachable
//! form a prefix (dropping the last step of a matching leaves a matching), so an entry's level is
//! found by adding steps one at a time to a bipartite matching of steps to events. The person's
//! level and entry are chosen as in `path.rs`.
//!
//! # Cost
//! Entries come in time order, so their windows slide: events enter and leave a count per distinct
//! step mask (events with the same mask are interchangeable), and each entry's matching runs over
//! those few masks: `O(n + entries × steps² × masks)`.

use super::path::{FunnelParams, PersonFunnel, StepEvent, step_bits};

/// Runs the any-order funnel for one person over `events` sorted by time.
pub(crate) fn any_order_funnel(events: &[StepEvent], params: &FunnelParams) -> PersonFunnel {
    let steps = usize::from(params.steps.min(32));
    let steps_mask = step_bits(steps);
    let mut best = PersonFunnel {
        level: 0,
        entry: None,
    };
    let mut window = Window::default();
    let (mut added, mut removed) = (0, 0);
    for entry in events {
        if entry.mask & 1 == 0 || entry.ts < params.entry_from_ms {
            continue;
        }
        if entry.ts > params.entry_to_ms {
            break;
        }
        let deadline = entry.ts.saturating_add(params.window_ms);
        while added < events.len() && events[added].ts <= deadline {
            window.add(events[added].mask & steps_mask, 1);
            added += 1;
        }
        while events[removed].ts < entry.ts {
            window.add(events[removed].mask & steps_mask, -1);
            removed += 1;
        }
        let level = window.entry_level(entry.mask & steps_mask, steps);
        if level > usize::from(best.level) {
            best = PersonFunnel {
                level: level as u8,
                entry: Some(*entry),
            };
            if level == steps {
                break;
            }
        }
    }
    best
}

/// Time to convert in any order: for the entry at `position`, the first instant by which steps
/// 2 to `k` can all take distinct events of the window (other than the entry), for each `k`.
pub(crate) fn any_order_times(
    events: &[StepEvent],
    params: &FunnelParams,
    position: usize,
    times: &mut Vec<i64>,
) {
    let steps = usize::from(params.steps.min(32));
    let steps_mask = step_bits(steps);
    let entry = events[position];
    let deadline = entry.ts.saturating_add(params.window_ms);
    times.push(entry.ts);
    let mut window = Window::default();
    let mut i = events.partition_point(|e| e.ts < entry.ts);
    while i < events.len() && events[i].ts <= deadline && times.len() < steps {
        let ts = events[i].ts;
        while i < events.len() && events[i].ts == ts {
            if i != position {
                window.add(events[i].mask & steps_mask, 1);
            }
            i += 1;
        }
        let level = window.level(steps);
        while times.len() < level {
            times.push(ts);
        }
    }
}

/// The events inside the current window, counted per distinct step mask.
#[derive(Default)]
struct Window {
    masks: Vec<u64>,
    counts: Vec<i64>,
}

impl Window {
    fn add(&mut self, mask: u64, delta: i64) {
        if mask == 0 {
            return;
        }
        match self.masks.iter().position(|&m| m == mask) {
            Some(i) => self.counts[i] += delta,
            None => {
                self.masks.push(mask);
                self.counts.push(delta);
            }
        }
    }

    /// The level of an entry whose event has `entry_mask` (it takes step 1 and nothing else).
    fn entry_level(&mut self, entry_mask: u64, steps: usize) -> usize {
        self.add(entry_mask, -1);
        let level = self.level(steps);
        self.add(entry_mask, 1);
        level
    }

    /// The level of an entry whose event is not in the window: 1 plus the most steps `2..=k`
    /// the window's events can take, each a distinct event.
    fn level(&self, steps: usize) -> usize {
        let mut taken: Vec<Vec<usize>> = vec![Vec::new(); self.masks.len()];
        let mut level = 1;
        while level < steps {
            let mut visited = vec![false; self.masks.len()];
            if !self.augment(level, &mut taken, &mut visited) {
                break;
            }
            level += 1;
        }
        level
    }

    /// Kuhn's augmenting path with capacities: gives `step` an event, moving other steps to
    /// other masks where needed.
    fn augment(&self, step: usize, taken: &mut [Vec<usize>], visited: &mut [bool]) -> bool {
        for g in 0..self.masks.len() {
            if visited[g] || self.masks[g] & (1u64 << step) == 0 {
                continue;
            }
            visited[g] = true;
            if (taken[g].len() as i64) < self.counts[g] {
                taken[g].push(step);
                return true;
            }
            for i in 0..taken[g].len() {
                let other = taken[g][i];
                if self.augment(other, taken, visited) {
                    taken[g][i] = step;
                    return true;
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests;
