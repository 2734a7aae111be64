//! A segmentation's view over time (rolling average, rolling window, cumulative; amplitude.md
//! §4.1) as the aggregates see it: which points the scan reads and how they fold into the
//! points returned.
//!
//! Window views (rolling window, cumulative) are folded inside the aggregates: the counter
//! unites the person bitmaps of a window's points (`counter.rs`), so a person on several days
//! of a window is one person, and the values aggregate measures a window's events together
//! (`values.rs`). Memory stays one bitmap per scanned point; the lead-in adds at most N - 1
//! (or N, for a range starting inside a week or month) points. A rolling average needs each
//! point's own value, so the aggregates return every scanned point and [`rolling_mean`] takes
//! the means afterwards.

use std::ops::Range;

use crate::spec::{SegmentationQuery, View};

/// What the aggregates of `query` read and return: the boundaries of the points scanned, and
/// per point returned the run of scanned points it unites.
pub(super) fn folding(query: &SegmentationQuery) -> (Vec<i64>, Vec<Range<usize>>) {
    match &query.view {
        Some(plan) => (plan.starts.clone(), plan.folds()),
        None => (
            query.buckets.starts.clone(),
            (0..query.buckets.len()).map(|p| p..p + 1).collect(),
        ),
    }
}

/// Per point of the range, the scanned points whose values a rolling average takes the mean
/// of; `None` for other views.
pub(super) fn averaged(query: &SegmentationQuery) -> Option<Vec<Vec<usize>>> {
    query
        .view
        .as_ref()
        .filter(|plan| matches!(plan.view, View::RollingAverage(_)))
        .map(|plan| plan.averaged())
}

/// The rolling average of `values` (one per scanned point): per point, the unweighted mean of
/// the defined values among `members`; null when none is defined (a ratio of nobody at every
/// point of the window).
pub(super) fn rolling_mean(values: &[Option<f64>], members: &[Vec<usize>]) -> Vec<Option<f64>> {
    members
        .iter()
        .map(|points| {
            let defined: Vec<f64> = points
                .iter()
                .filter_map(|&i| values.get(i).copied().flatten())
                .collect();
            // From +0.0, so an average of zeros is 0 and not -0.
            let sum = defined.iter().fold(0.0, |sum, v| sum + v);
            (!defined.is_empty()).then(|| sum / defined.len() as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_mean_skips_undefined_values() {
        let values = [Some(1.0), None, Some(4.0), Some(7.0), None];
        let members = [vec![0], vec![0, 1], vec![0, 1, 2], vec![1, 2, 3], vec![4]];
        assert_eq!(
            rolling_mean(&values, &members),
            [Some(1.0), Some(1.0), Some(2.5), Some(5.5), None]
        );
    }
}
