//! The per-person funnel algorithm: how far one person got, and through which entry.
//!
//! # Semantics ("earliest, longest path", Amplitude's unique-user counting)
//!
//! Input: the person's events that match at least one step, as `(time, step mask, breakdown)`
//! in any order. Bit `k` of the mask is set when the event matches step `k + 1`; an event can match
//! several steps (a funnel `A → A → B` sets bits 0 and 1 on every `A`).
//!
//! 1. **Entries.** Every event matching step 1 whose time lies in `[entry_from, entry_to]` (the
//!    date range, both ends inclusive) is an entry. A person with no entry has level 0.
//! 2. **Path of an entry.** Starting from the entry event `e` at time `t0`, the path is built
//!    greedily: step `k + 1` takes the *earliest unused* event matching step `k + 1` whose time is
//!    `>=` the time of the event taken for step `k` and `<= t0 + window`. Equal milliseconds count
//!    as in order (ClickHouse's stable sort, Amplitude's "same second, either order"); no event is
//!    used twice in one path; the window bound is inclusive and measured from the entry. The
//!    entry's level is the number of steps on its path.
//! 3. **Person.** The level is the maximum over all entries. The chosen entry is the earliest entry
//!    reaching that level, ordered by time, then by breakdown value (null first), which makes the
//!    choice independent of row and file order. Its breakdown value is the person's.
//!
//! Greedy is exact here: events matching a step all share an event type, so they are
//! interchangeable, and taking the earliest candidate never removes a possibility a later choice
//! would keep (the differential test checks this against an exhaustive search).
//!
//! # Cost
//! One sort (skipped when the input is already sorted), then per entry one binary search per step
//! in that step's event list: `O(n log n + entries × steps × log n)`, never quadratic in events.
//! The scan stops as soon as an entry completes every step.

use super::any_order::any_order_funnel;
use super::exclusion::exclusion_funnel;
use crate::spec::FunnelOrder;

/// One event of a person, as the aggregate stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct StepEvent {
    /// Event time, Unix ms.
    pub(crate) ts: i64,
    /// The group-by values, as a key ordered like the values themselves (0 = none, first; see
    /// `group::pair_key`).
    pub(crate) breakdown: u64,
    /// Bit `k` set when the event matches step `k + 1`, bit `32 + j` when it matches exclusion
    /// `j + 1`.
    pub(crate) mask: u64,
}

/// The fixed parameters of one funnel query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FunnelParams {
    /// Number of steps, 1 to 32.
    pub(crate) steps: u8,
    /// Conversion window in ms, measured from the entry (inclusive).
    pub(crate) window_ms: i64,
    /// First instant an entry may have (inclusive).
    pub(crate) entry_from_ms: i64,
    /// Last instant an entry may have (inclusive).
    pub(crate) entry_to_ms: i64,
    /// ClickHouse `windowFunnel` modes; with any of them the person is counted by ClickHouse's
    /// scan ([`strict_funnel`]) instead of the earliest-longest path.
    pub(crate) strict: StrictModes,
    /// Per gap `k` (from step `k + 1` to step `k + 2`), the mask bits of the exclusion events
    /// that break it (all zero without exclusions; see `exclusion.rs`).
    pub(crate) exclusion_gaps: [u64; 32],
    /// The order mode; exact order is run as exclusions (every event breaks every gap).
    pub(crate) order: FunnelOrder,
    /// Two steps share an event type but not their conditions, so one event may match one of
    /// them and not the other; only then can events of one millisecond compete
    /// ([`needs_matching`]).
    pub(crate) steps_compete: bool,
    /// Count every attempt (`counting: totals`, `totals.rs`) instead of each person's best path.
    pub(crate) totals: bool,
}

impl FunnelParams {
    /// True when some exclusion applies.
    fn has_exclusions(&self) -> bool {
        self.exclusion_gaps.iter().any(|&gap| gap != 0)
    }
}

/// Whether the greedy path may choose wrongly for this person, so that the per-millisecond
/// matching of `exclusion.rs` must decide: with exclusions, or when two events of one
/// millisecond match overlapping but different sets of steps (a step with conditions repeating
/// another step's event type: `V` and `V where category = x`). Events are sorted by time.
///
/// Across milliseconds the earliest candidate is always safe (an event a later step could use
/// lies at or after every step in between), and events of one millisecond with equal or
/// disjoint step masks are interchangeable or never compete; only overlapping, different masks
/// in one millisecond make the order of choice matter, which needs competing steps: events of
/// one type match steps of that type only, and steps with equal conditions match the same events.
pub(crate) fn needs_matching(events: &[StepEvent], params: &FunnelParams) -> bool {
    if params.has_exclusions() {
        return true;
    }
    if !params.steps_compete {
        return false;
    }
    let steps = step_bits(usize::from(params.steps.min(32)));
    events.chunk_by(|a, b| a.ts == b.ts).any(|run| {
        run.iter().enumerate().any(|(i, a)| {
            run[i + 1..].iter().any(|b| {
                let (a, b) = (a.mask & steps, b.mask & steps);
                a != b && a & b != 0
            })
        })
    })
}

/// ClickHouse `windowFunnel` modes (reference: performance.md §1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct StrictModes {
    /// `strict_deduplication`: a step already reached (other than step 1) firing again ends the
    /// scan at the level reached.
    pub(crate) deduplication: bool,
    /// `strict_increase`: a step counts only strictly after the previous step's time.
    pub(crate) increase: bool,
}

impl StrictModes {
    fn any(self) -> bool {
        self.deduplication || self.increase
    }
}

/// What the algorithm found for one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PersonFunnel {
    /// Steps reached, 0 when the person never entered.
    pub(crate) level: u8,
    /// The earliest entry reaching `level`; `None` when `level` is 0.
    pub(crate) entry: Option<StepEvent>,
}

/// Runs the funnel for one person. Sorts `events` in place (time, breakdown, mask).
pub(crate) fn person_funnel(events: &mut [StepEvent], params: &FunnelParams) -> PersonFunnel {
    if !events.is_sorted() {
        events.sort_unstable();
    }
    if params.strict.any() {
        return strict_funnel(events, params);
    }
    if params.order == FunnelOrder::Any {
        return any_order_funnel(events, params);
    }
    if events.iter().all(|e| e.mask == 1) {
        // Only step-1 events (most persons): the first entry in the range is the whole path.
        return entry_only(events, params);
    }
    if needs_matching(events, params) {
        return exclusion_funnel(events, params);
    }
    let steps = usize::from(params.steps.min(32));
    let by_step = positions_by_step(events, steps);
    let mut best = PersonFunnel {
        level: 0,
        entry: None,
    };
    let Some(entries) = by_step.first() else {
        return best;
    };
    let first = entries.partition_point(|&p| events[p as usize].ts < params.entry_from_ms);
    let mut path = Vec::with_capacity(steps);
    for &entry in &entries[first..] {
        let entry_event = events[entry as usize];
        if entry_event.ts > params.entry_to_ms {
            break;
        }
        let level = path_length(events, &by_step, entry, params.window_ms, &mut path);
        if level > usize::from(best.level) {
            best = PersonFunnel {
                level: level as u8,
                entry: Some(entry_event),
            };
            if level == steps {
                break;
            }
        }
    }
    best
}

/// The funnel of a person whose `events` (sorted) all match step 1 and nothing else: level 1
/// through the earliest entry in the range, or level 0.
fn entry_only(events: &[StepEvent], params: &FunnelParams) -> PersonFunnel {
    let first = events.partition_point(|e| e.ts < params.entry_from_ms);
    match events.get(first) {
        Some(&entry) if entry.ts <= params.entry_to_ms => PersonFunnel {
            level: 1,
            entry: Some(entry),
        },
        _ => PersonFunnel {
            level: 0,
            entry: None,
        },
    }
}

/// ClickHouse's `windowFunnel` scan with its strict modes, over entries `(time, step)` in
/// `(time, step)` order (an event matching several steps gives one entry per step):
/// - a step-1 entry inside the entry range starts a chain (the latest one replaces the earlier
///   chain start, keeping the higher levels already reached);
/// - with `deduplication`, a step ≥ 2 that is already reached firing again ends the scan;
/// - a step-`k` entry extends level `k - 1` if its time is within the window of that chain's
///   start (inclusive) and, with `increase`, strictly after the level's last time.
///
/// The level is the highest reached; the entry is the start of the chain that reached it.
pub(crate) fn strict_funnel(events: &[StepEvent], params: &FunnelParams) -> PersonFunnel {
    let steps = usize::from(params.steps.min(32));
    let mut entries: Vec<(i64, usize, usize)> = Vec::new();
    for (position, event) in events.iter().enumerate() {
        let mut mask = event.mask & step_bits(steps);
        while mask != 0 {
            let step = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if step < steps {
                entries.push((event.ts, step, position));
            }
        }
    }
    entries.sort_by_key(|&(ts, step, _)| (ts, step));
    // Per level: the chain's start time, the level's last time, the chain's entry event.
    let mut levels: Vec<Option<(i64, i64, usize)>> = vec![None; steps];
    for (ts, step, position) in entries {
        if step == 0 {
            if (params.entry_from_ms..=params.entry_to_ms).contains(&ts) {
                levels[0] = Some((ts, ts, position));
            }
            continue;
        }
        if params.strict.deduplication && levels[step].is_some() {
            break;
        }
        let Some((start, last, entry)) = levels[step - 1] else {
            continue;
        };
        let in_window = ts <= start.saturating_add(params.window_ms);
        if in_window && (!params.strict.increase || ts > last) {
            levels[step] = Some((start, ts, entry));
            if step + 1 == steps {
                break;
            }
        }
    }
    match levels.iter().rposition(Option::is_some) {
        Some(top) => PersonFunnel {
            level: (top + 1) as u8,
            entry: levels[top].map(|(_, _, entry)| events[entry]),
        },
        None => PersonFunnel {
            level: 0,
            entry: None,
        },
    }
}

/// Time to convert in this order without exclusions: the times of the greedy path from the
/// entry at `position` (each step the earliest it can be reached, see `times.rs`).
pub(crate) fn greedy_times(
    events: &[StepEvent],
    params: &FunnelParams,
    position: usize,
    times: &mut Vec<i64>,
) {
    let steps = usize::from(params.steps.min(32));
    let by_step = positions_by_step(events, steps);
    let mut path = Vec::with_capacity(steps);
    path_length(
        events,
        &by_step,
        position as u32,
        params.window_ms,
        &mut path,
    );
    times.extend(path.iter().map(|&p| events[p as usize].ts));
}

/// For each step, the positions (into the sorted `events`) of the events matching it.
pub(crate) fn positions_by_step(events: &[StepEvent], steps: usize) -> Vec<Vec<u32>> {
    let mut by_step = vec![Vec::new(); steps];
    for (position, event) in events.iter().enumerate() {
        let mut mask = event.mask & step_bits(steps);
        while mask != 0 {
            let step = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if let Some(list) = by_step.get_mut(step) {
                list.push(position as u32);
            }
        }
    }
    by_step
}

/// The mask bits of the first `steps` steps.
pub(crate) fn step_bits(steps: usize) -> u64 {
    if steps >= 64 {
        u64::MAX
    } else {
        (1u64 << steps) - 1
    }
}

/// Length of the greedy path from `entry`; `path` is scratch space for the positions taken.
fn path_length(
    events: &[StepEvent],
    by_step: &[Vec<u32>],
    entry: u32,
    window_ms: i64,
    path: &mut Vec<u32>,
) -> usize {
    path.clear();
    path.push(entry);
    let entry_ts = events[entry as usize].ts;
    let deadline = entry_ts.saturating_add(window_ms);
    let mut previous_ts = entry_ts;
    for candidates in &by_step[1..] {
        let mut i = candidates.partition_point(|&p| events[p as usize].ts < previous_ts);
        // Events already on the path and not before `previous_ts` share its millisecond: skip them.
        while i < candidates.len() && path.contains(&candidates[i]) {
            i += 1;
        }
        let Some(&taken) = candidates.get(i) else {
            break;
        };
        let ts = events[taken as usize].ts;
        if ts > deadline {
            break;
        }
        path.push(taken);
        previous_ts = ts;
    }
    path.len()
}

/// Events `(ts, step mask)` without group values, in the order given (tests build persons so).
#[cfg(test)]
pub(crate) fn step_events(rows: &[(i64, u64)]) -> Vec<StepEvent> {
    rows.iter()
        .map(|&(ts, mask)| StepEvent {
            ts,
            breakdown: 0,
            mask,
        })
        .collect()
}

#[cfg(test)]
mod tests;
