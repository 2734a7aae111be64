//! Funnel event totals (`counting: totals`, Amplitude's "Count by: event totals"): every attempt
//! is counted, not each person's best one.
//!
//! Each step-1 event in the entry range starts an attempt, in time order (the order of
//! [`StepEvent`]s). An attempt takes, for each later step in turn, the earliest event (in that
//! order) that matches the step, is at or after the previous step's time, no later than the
//! entry plus the window, is not already on the attempt's path and was not taken for a later step
//! by an earlier attempt. Its level is the number of steps it reached. So "search ×4 → add to
//! cart" is four attempts, one of which converts: the one add to cart serves the first search.
//!
//! A later step's group-by value and, with time to convert, each step's time are those of the
//! attempt's path's events.
//!
//! # Cost
//! Per attempt and step, a binary search in the step's event list and a walk over events already
//! taken: `O(attempts × steps × (log n + taken))` for a person.

use super::path::{FunnelParams, StepEvent, positions_by_step};

/// Calls `f(path)` for each attempt of a person, in entry order: the events of the steps it
/// reached, its step-1 event first (its level is `path.len()`, at least 1). `events` are sorted.
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
    let mut taken = vec![false; events.len()];
    let mut path: Vec<u32> = Vec::with_capacity(steps);
    let mut reached: Vec<StepEvent> = Vec::with_capacity(steps);
    let first = entries.partition_point(|&p| events[p as usize].ts < params.entry_from_ms);
    for &entry in &entries[first..] {
        let entry_event = events[entry as usize];
        if entry_event.ts > params.entry_to_ms {
            break;
        }
        let deadline = entry_event.ts.saturating_add(params.window_ms);
        path.clear();
        path.push(entry);
        let mut previous_ts = entry_event.ts;
        for candidates in &by_step[1..] {
            let from = candidates.partition_point(|&p| events[p as usize].ts < previous_ts);
            let next = candidates[from..]
                .iter()
                .take_while(|&&p| events[p as usize].ts <= deadline)
                .find(|&&p| !taken[p as usize] && !path.contains(&p));
            let Some(&next) = next else {
                break;
            };
            path.push(next);
            previous_ts = events[next as usize].ts;
        }
        for &p in &path[1..] {
            taken[p as usize] = true;
        }
        reached.clear();
        reached.extend(path.iter().map(|&p| events[p as usize]));
        f(&reached);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::funnel::path::StrictModes;
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
        let mut events: Vec<StepEvent> = rows
            .iter()
            .map(|&(ts, mask)| StepEvent {
                ts,
                breakdown: 0,
                mask,
            })
            .collect();
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
