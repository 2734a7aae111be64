//! Time to convert (Amplitude's "Time to Convert", reference §4.2): when the counted path of a
//! person reached each step, and the tally of those times over all persons.
//!
//! # Semantics
//!
//! The times are those of the person's counted entry (the earliest entry reaching the person's
//! level, `path.rs`), so a person who converted is measured on their first conversion. Step `k`
//! of that entry is reached at the **earliest instant a valid path from the entry has done steps
//! 1 to `k`** under the funnel's rules (order mode, window, exclusions, held values):
//! - this order: the greedy path's step-`k` event, which is that earliest instant;
//! - with exclusions, in exact order, or where steps with conditions compete for events of one
//!   millisecond: the first time the scan of `exclusion.rs` finds a valid prefix ending with
//!   step `k`;
//! - any order: the first instant by which steps 2 to `k` can all be matched to distinct events
//!   of the window.
//!
//! The tally keeps, per step `k ≥ 2`, the persons reaching it and the sum of their times from
//! step `k - 1` (for averages), and the exact times from `from` to `to` of the persons reaching
//! `to` (for the median and the histogram): 8 bytes per converted person, only when asked.

use super::any_order::any_order_times;
use super::exclusion::exclusion_times;
use super::path::{FunnelParams, StepEvent, greedy_times, needs_matching};
use crate::spec::{ConversionTimes, FunnelOrder};

/// Fills `times` with the instant each step `1..=level` was reached from `entry` (an event of
/// `events`, which are sorted). Not for ClickHouse's strict modes.
pub(crate) fn step_times(
    events: &[StepEvent],
    params: &FunnelParams,
    entry: StepEvent,
    level: usize,
    times: &mut Vec<i64>,
) {
    times.clear();
    let position = events.partition_point(|e| *e < entry);
    if events.get(position) != Some(&entry) {
        return;
    }
    if params.order == FunnelOrder::Any {
        any_order_times(events, params, position, times);
    } else if needs_matching(events, params) {
        exclusion_times(events, params, position, times);
    } else {
        greedy_times(events, params, position, times);
    }
    times.truncate(level);
}

/// The times of all counted persons.
#[derive(Debug)]
pub(crate) struct TimesTally {
    request: ConversionTimes,
    /// Per zero-based step `k`: persons whose path reached it (index 0 unused).
    reached: Vec<u64>,
    /// Per zero-based step `k`: the sum of their times from step `k - 1`, ms.
    from_previous_ms: Vec<i128>,
    /// Time from step `from` to step `to` of each person reaching `to`, ms.
    durations: Vec<i64>,
}

impl TimesTally {
    /// An empty tally for a funnel of `steps` steps.
    pub(crate) fn new(request: ConversionTimes, steps: usize) -> Self {
        TimesTally {
            request,
            reached: vec![0; steps],
            from_previous_ms: vec![0; steps],
            durations: Vec::new(),
        }
    }

    /// Adds one counted person's step times.
    pub(crate) fn add(&mut self, times: &[i64]) {
        for (k, pair) in times.windows(2).enumerate() {
            if let (Some(reached), Some(sum)) = (
                self.reached.get_mut(k + 1),
                self.from_previous_ms.get_mut(k + 1),
            ) {
                *reached += 1;
                *sum += i128::from(pair[1] - pair[0]);
            }
        }
        if let (Some(from), Some(to)) = (times.get(self.request.from), times.get(self.request.to)) {
            self.durations.push(to - from);
        }
    }

    /// Adds the persons of another tally of the same request.
    pub(crate) fn merge(&mut self, other: TimesTally) {
        for (reached, other) in self.reached.iter_mut().zip(other.reached) {
            *reached += other;
        }
        for (sum, other) in self.from_previous_ms.iter_mut().zip(other.from_previous_ms) {
            *sum += other;
        }
        self.durations.extend(other.durations);
    }

    /// The tally as the aggregate's flat list (see [`TimesSummary::from_list`]).
    pub(crate) fn into_list(mut self) -> Vec<Option<f64>> {
        let mut list = Vec::with_capacity(2 * self.reached.len() + 3 + self.request.bounds.len());
        for k in 1..self.reached.len() {
            list.push(Some(self.reached[k] as f64));
            list.push(Some(self.from_previous_ms[k] as f64));
        }
        let total: i128 = self.durations.iter().map(|&d| i128::from(d)).sum();
        list.push(Some(self.durations.len() as f64));
        list.push(Some(total as f64));
        list.push(median(&mut self.durations));
        let bounds = &self.request.bounds;
        let mut histogram = vec![0u64; bounds.len()];
        for &d in &self.durations {
            let bucket = bounds.partition_point(|&b| b <= d);
            if let Some(count) = bucket.checked_sub(1).and_then(|b| histogram.get_mut(b)) {
                *count += 1;
            }
        }
        list.extend(histogram.into_iter().map(|n| Some(n as f64)));
        list
    }
}

/// The exact median (the mean of the two middle values for an even count); `None` when empty.
fn median(values: &mut [i64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let (_, &mut upper, _) = values.select_nth_unstable(n / 2);
    if n % 2 == 1 {
        return Some(upper as f64);
    }
    let lower = values[..n / 2].iter().copied().max().unwrap_or(upper);
    Some((lower as f64 + upper as f64) / 2.0)
}

/// The tally read back from the aggregate's list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TimesSummary {
    /// Per step 2..=n: persons reaching it and their summed time from the step before (ms).
    pub(crate) steps: Vec<(u64, f64)>,
    /// Persons reaching `to`.
    pub(crate) persons: u64,
    /// Their summed time from `from` to `to` (ms).
    pub(crate) total_ms: f64,
    /// The median of that time.
    pub(crate) median_ms: Option<f64>,
    /// Persons per histogram bucket.
    pub(crate) histogram: Vec<u64>,
}

impl TimesSummary {
    /// Reads the list [`TimesTally::into_list`] writes for a funnel of `steps` steps and
    /// `buckets` buckets: per step 2..=n its persons and summed time, then the persons, summed
    /// time and median from `from` to `to`, then the histogram. `None` when the length is off.
    pub(crate) fn from_list(list: &[Option<f64>], steps: usize, buckets: usize) -> Option<Self> {
        let pairs = 2 * steps.checked_sub(1)?;
        if list.len() != pairs + 3 + buckets {
            return None;
        }
        let count = |v: Option<f64>| v.map_or(0, |v| v as u64);
        Some(TimesSummary {
            steps: list[..pairs]
                .chunks(2)
                .map(|pair| (count(pair[0]), pair[1].unwrap_or(0.0)))
                .collect(),
            persons: count(list[pairs]),
            total_ms: list[pairs + 1].unwrap_or(0.0),
            median_ms: list[pairs + 2],
            histogram: list[pairs + 3..].iter().map(|&v| count(v)).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(from: usize, to: usize, bounds: &[i64]) -> ConversionTimes {
        ConversionTimes {
            from,
            to,
            bounds: bounds.to_vec(),
        }
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [7]), Some(7.0));
        assert_eq!(median(&mut [9, 1, 5]), Some(5.0));
        assert_eq!(median(&mut [10, 1, 4, 7]), Some(5.5));
    }

    #[test]
    fn tally_round_trips_through_the_list() {
        let mut tally = TimesTally::new(request(0, 2, &[0, 1_000, 60_000]), 3);
        tally.add(&[0, 500, 2_000]);
        tally.add(&[100, 100, 70_100]);
        tally.add(&[0, 4_000]);
        let summary = TimesSummary::from_list(&tally.into_list(), 3, 3).expect("layout");
        assert_eq!(summary.steps, vec![(3, 4_500.0), (2, 71_500.0)]);
        assert_eq!(summary.persons, 2);
        assert_eq!(summary.total_ms, 72_000.0);
        assert_eq!(summary.median_ms, Some(36_000.0));
        assert_eq!(summary.histogram, vec![0, 1, 1]);
    }

    #[test]
    fn a_duration_on_a_bound_falls_in_the_bucket_it_starts() {
        let mut tally = TimesTally::new(request(0, 1, &[0, 1_000]), 2);
        tally.add(&[0, 999]);
        tally.add(&[0, 1_000]);
        tally.add(&[5, 5]);
        let summary = TimesSummary::from_list(&tally.into_list(), 2, 2).expect("layout");
        assert_eq!(summary.histogram, vec![2, 1]);
    }

    #[test]
    fn a_list_of_the_wrong_length_is_refused() {
        assert_eq!(TimesSummary::from_list(&[Some(1.0)], 3, 2), None);
    }
}
