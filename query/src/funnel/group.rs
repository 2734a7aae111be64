//! Funnel group-by: the group a person's counted path falls in.
//!
//! # Semantics (Amplitude, `shared/reference/amplitude.md` §4.2 "Group-by / breakdown")
//!
//! Group-by finds the person's earliest, longest path first, then buckets it:
//! - a property read on step 1 (any user property or field, or an event property without a
//!   later `step`) takes the value on the **entry** of the counted path, the step-1 event it
//!   starts at ("applied to step 1, bucketed by the value on the first occurrence");
//! - an event property read on a later step `k` takes the value on the event the counted path
//!   uses for step `k`: the greedy path of `path.rs` from the counted entry, where each step takes
//!   the earliest unused matching event at or after the previous step. A person whose path
//!   stopped before step `k` is in the "did not reach step k" bucket.
//!
//! Events in one millisecond are ordered by their group values (the first property's, then
//! the second's, none first), so ties between same-millisecond entries or step events are
//! settled by value, independently of file and row order. The plan passes a row's value of a
//! property only when the row is that property's step event (for step 1: inside the entry
//! range), so only those values order ties.
//!
//! # Cost
//! The values are ranked once per query (a sort of the distinct values); a person
//! grouped on a later step replays the greedy path from the counted entry, `O(steps × events)`
//! for that person.

use super::path::StepEvent;
use super::state::{NONE, Ranking};

/// The zero-based step each group-by property is read from; `None` for an unused slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct GroupSteps(pub(crate) [Option<u8>; 2]);

/// The (first, second) group values of a row as one key ordered like the values:
/// `(rank of the first + 1) << 32 | (rank of the second + 1)`, 0 standing for none; the key
/// [`StepEvent::breakdown`] holds.
pub(crate) fn pair_key(groups: [u32; 2], ranking: &Ranking) -> u64 {
    let rank = |index: u32| match index {
        NONE => 0,
        index => u64::from(ranking.rank_of[index as usize]) + 1,
    };
    rank(groups[0]) << 32 | rank(groups[1])
}

/// The dictionary indexes of the pair a [`pair_key`] stands for (`[NONE, NONE]` for 0).
pub(crate) fn pair_of(key: u64, ranking: &Ranking) -> [u32; 2] {
    let index = |rank: u64| match rank {
        0 => NONE,
        rank => ranking.index_of[(rank - 1) as usize],
    };
    [index(key >> 32), index(key & u64::from(u32::MAX))]
}

/// The event the greedy path from `entry` takes for the zero-based step `step` (≥ 1), over the
/// person's `events` sorted as `path.rs` sorts them; `None` when the path stops before it.
/// Each step takes the first event in sorted order that matches it, is not yet on the path, is
/// at or after the previous step's time and no later than the entry plus `window_ms`: the same
/// choice `path.rs` makes, so this is the counted path's event.
pub(crate) fn counted_step_event(
    events: &[StepEvent],
    entry: StepEvent,
    step: usize,
    window_ms: i64,
) -> Option<StepEvent> {
    // Equal events are interchangeable: start from the first of them.
    let start = events.partition_point(|e| *e < entry);
    if events.get(start) != Some(&entry) {
        return None;
    }
    let deadline = entry.ts.saturating_add(window_ms);
    let mut path = vec![start];
    let mut previous_ts = entry.ts;
    for s in 1..=step.min(63) {
        let from = events.partition_point(|e| e.ts < previous_ts);
        let taken = (from..events.len())
            .take_while(|&p| events[p].ts <= deadline)
            .find(|&p| events[p].mask & (1u64 << s) != 0 && !path.contains(&p))?;
        path.push(taken);
        previous_ts = events[taken].ts;
    }
    path.last().map(|&p| events[p])
}

#[cfg(test)]
mod tests;
