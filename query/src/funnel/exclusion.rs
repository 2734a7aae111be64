//! The per-person funnel with exclusion steps.
//!
//! # Semantics
//!
//! An exclusion `j` between steps `a` and `b` breaks a path when one of its events lies strictly
//! inside a gap `(t_k, t_{k+1})` between consecutive steps of the path with `a <= k < b`. An
//! exclusion event at the same millisecond as a step of the path does not break it (Amplitude:
//! "an excluded event in the same second as a funnel step does not exclude"). A broken path does
//! not convert past the gap: an entry's level is the most steps any of its paths reaches while
//! every gap it crossed is unbroken ("a user converts if at least one of their conversions
//! satisfies the exclusion constraint"). Entries, window and the choice of the person's entry are
//! as in `path.rs`.
//!
//! # Why not the greedy path
//!
//! Taking the earliest event for each step is no longer exact: `A(0) B(1) X(2) B(3) C(4)` with
//! `X` excluded between steps 2 and 3 converts only through `B(3)`. The constraint is local to a
//! gap, and the latest time at which a prefix can end dominates every earlier one (its next
//! exclusion event is no earlier), so the entry is run as a scan over the person's distinct
//! times: per step, the latest time a valid prefix ends at. Steps sharing one millisecond need
//! distinct events; a run of such steps is a small bipartite matching of steps to the events of
//! that millisecond.
//!
//! # Cost
//! Per entry, one pass over the distinct times inside its window, `O(steps)` each (plus the
//! matching where several events share a millisecond): `O(entries × times × steps)`.

use super::path::{FunnelParams, PersonFunnel, StepEvent, step_bits};

/// Runs the funnel with exclusions for one person over `events` sorted by time.
pub(crate) fn exclusion_funnel(events: &[StepEvent], params: &FunnelParams) -> PersonFunnel {
    let steps = usize::from(params.steps.min(32));
    let walk = Walk::new(events, params, steps);
    let mut best = PersonFunnel {
        level: 0,
        entry: None,
    };
    let mut scratch = Scratch::new(steps);
    for (position, entry) in events.iter().enumerate() {
        if entry.mask & 1 == 0 || entry.ts < params.entry_from_ms {
            continue;
        }
        if entry.ts > params.entry_to_ms {
            break;
        }
        let level = walk.entry_level(position, &mut scratch);
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

/// Time to convert with exclusions (and in exact order): for the entry at `position`, the first
/// time the scan finds a valid prefix ending with each step.
pub(crate) fn exclusion_times(
    events: &[StepEvent],
    params: &FunnelParams,
    position: usize,
    times: &mut Vec<i64>,
) {
    let steps = usize::from(params.steps.min(32));
    let walk = Walk::new(events, params, steps);
    let mut scratch = Scratch::new(steps);
    let level = walk.entry_level(position, &mut scratch);
    times.extend(scratch.first_reach.iter().map_while(|&t| t).take(level));
}

/// Per gap `k` (step `k + 1` to step `k + 2`), the sorted times of one person's events that
/// break it: its exclusions, or every event in exact order.
pub(crate) struct Barriers(Vec<Vec<i64>>);

impl Barriers {
    /// The barriers of the first `steps` steps' gaps among `events` (sorted by time).
    pub(crate) fn new(events: &[StepEvent], params: &FunnelParams, steps: usize) -> Self {
        Barriers(
            (0..steps.saturating_sub(1))
                .map(|gap| {
                    let bits = params.exclusion_gaps[gap];
                    events
                        .iter()
                        .filter(|e| bits != 0 && e.mask & bits != 0)
                        .map(|e| e.ts)
                        .collect()
                })
                .collect(),
        )
    }

    /// The latest time a step may have to follow a step at `previous` across gap `gap`: the
    /// first barrier after `previous` (a step in the barrier's own millisecond is not broken by
    /// it), `i64::MAX` when there is none.
    pub(crate) fn limit(&self, gap: usize, previous: i64) -> i64 {
        let barriers = &self.0[gap];
        let next = barriers.partition_point(|&x| x <= previous);
        barriers.get(next).copied().unwrap_or(i64::MAX)
    }

    /// True when a step at `ts` may follow a step at `previous` across gap `gap`: no event
    /// breaking the gap lies strictly between them.
    fn crosses(&self, gap: usize, previous: i64, ts: i64) -> bool {
        ts <= self.limit(gap, previous)
    }
}

/// One person's events grouped by millisecond, and the exclusion times of each gap.
struct Walk<'a> {
    events: &'a [StepEvent],
    /// `(start, end)` of each run of events sharing a millisecond, in time order.
    groups: Vec<(usize, usize)>,
    barriers: Barriers,
    steps: usize,
    window_ms: i64,
}

/// Buffers reused across entries.
struct Scratch {
    /// Per step, the latest time a valid prefix ending with that step was found at.
    reach: Vec<Option<i64>>,
    /// Per step, the first time a valid prefix ending with that step was found at.
    first_reach: Vec<Option<i64>>,
    /// Steps that can start a run at the current millisecond.
    starts: Vec<usize>,
    /// Per event of the current millisecond, the step it is matched to.
    owner: Vec<Option<usize>>,
    visited: Vec<bool>,
}

impl Scratch {
    fn new(steps: usize) -> Self {
        Scratch {
            reach: vec![None; steps],
            first_reach: vec![None; steps],
            starts: Vec::with_capacity(steps),
            owner: Vec::new(),
            visited: Vec::new(),
        }
    }
}

impl Scratch {
    /// Valid prefixes end with steps `from..=to` at `ts`.
    fn reached(&mut self, from: usize, to: usize, ts: i64) {
        self.reach[from..=to].fill(Some(ts));
        for first in &mut self.first_reach[from..=to] {
            first.get_or_insert(ts);
        }
    }
}

impl<'a> Walk<'a> {
    fn new(events: &'a [StepEvent], params: &FunnelParams, steps: usize) -> Self {
        let mut groups = Vec::new();
        let mut start = 0;
        for (i, pair) in events.windows(2).enumerate() {
            if pair[0].ts != pair[1].ts {
                groups.push((start, i + 1));
                start = i + 1;
            }
        }
        if start < events.len() {
            groups.push((start, events.len()));
        }
        Walk {
            events,
            groups,
            barriers: Barriers::new(events, params, steps),
            steps,
            window_ms: params.window_ms,
        }
    }

    /// The most steps a path from the entry at `entry` reaches.
    fn entry_level(&self, entry: usize, scratch: &mut Scratch) -> usize {
        let t0 = self.events[entry].ts;
        let deadline = t0.saturating_add(self.window_ms);
        scratch.reach.fill(None);
        scratch.first_reach.fill(None);
        let first = self.groups.partition_point(|&(start, _)| start <= entry) - 1;
        let (start, end) = self.groups[first];
        let mut level = 0;
        if let Some(top) = self.run_end(start, end, Some(entry), 0, scratch) {
            scratch.reached(0, top, t0);
            level = top + 1;
        }
        for &(start, end) in &self.groups[first + 1..] {
            if level == self.steps {
                break;
            }
            let ts = self.events[start].ts;
            if ts > deadline {
                break;
            }
            scratch.starts.clear();
            for step in 1..self.steps {
                if let Some(previous) = scratch.reach[step - 1]
                    && self.barriers.crosses(step - 1, previous, ts)
                {
                    scratch.starts.push(step);
                }
            }
            for i in 0..scratch.starts.len() {
                let step = scratch.starts[i];
                if let Some(top) = self.run_end(start, end, None, step, scratch) {
                    scratch.reached(step, top, ts);
                    level = level.max(top + 1);
                }
            }
        }
        level
    }

    /// The last step `j` such that steps `first..=j` can take distinct events of
    /// `events[start..end]` (one millisecond), with `forced` taking `first` when given; `None`
    /// when not even `first` can.
    fn run_end(
        &self,
        start: usize,
        end: usize,
        forced: Option<usize>,
        first: usize,
        scratch: &mut Scratch,
    ) -> Option<usize> {
        let group = &self.events[start..end];
        scratch.owner.clear();
        scratch.owner.resize(group.len(), None);
        let mut step = first;
        if let Some(forced) = forced {
            scratch.owner[forced - start] = Some(first);
            step += 1;
        }
        let steps_mask = step_bits(self.steps);
        while step < self.steps {
            scratch.visited.clear();
            scratch.visited.resize(group.len(), false);
            if let Some(forced) = forced {
                scratch.visited[forced - start] = true;
            }
            if !augment(
                group,
                steps_mask,
                step,
                &mut scratch.owner,
                &mut scratch.visited,
            ) {
                break;
            }
            step += 1;
        }
        (step > first).then(|| step - 1)
    }
}

/// Kuhn's augmenting path: gives `step` an event of `group`, moving other steps to other events
/// where needed.
fn augment(
    group: &[StepEvent],
    steps_mask: u64,
    step: usize,
    owner: &mut [Option<usize>],
    visited: &mut [bool],
) -> bool {
    for i in 0..group.len() {
        if visited[i] || group[i].mask & steps_mask & (1u64 << step) == 0 {
            continue;
        }
        visited[i] = true;
        let free = match owner[i] {
            None => true,
            Some(other) => augment(group, steps_mask, other, owner, visited),
        };
        if free {
            owner[i] = Some(step);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests;
