//! The view of a segmentation's series: rolling average, rolling window or cumulative
//! (Amplitude's "Rolling average", "Rolling window" and "Cumulative", amplitude.md §4.1), and
//! the points a view makes the scan read.
//!
//! A rolling view's windows are full from the first point of the range: the scan also reads
//! the `N - 1` intervals before it (the lead-in), on the same grid of hours, days, weeks or
//! months. When the range starts inside a week or a month, the part of that interval before
//! the range start is read too, as a point of its own, so the first window still covers `N`
//! whole intervals. A cumulative view starts at the range start and reads nothing before it.

use std::ops::Range;

use chrono::{Datelike, Days, Months, NaiveDate};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::Interval;
use super::intervals::{Buckets, week_of};
use super::{Measure, SeriesSpec, WeekStart};
use crate::error::SpecError;

/// How every series of a segmentation is shown over time; each point on its own when absent.
///
/// Written `{"rolling_average": 7}`, `{"rolling_window": 7}` or `"cumulative"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// Each point is the unweighted mean of the series' values at the last `N` points,
    /// the current one included (amplitude.md §4.1 "Rolling average"); null values (a ratio
    /// of nobody) are left out of the mean, which is null when all `N` are.
    RollingAverage(u32),
    /// Each point is the measure over the last `N` intervals taken as one window (amplitude.md
    /// §4.1 "Rolling window"): totals and property sums add up, uniques are distinct persons
    /// over the window, active % and average are the ratios over the window, property
    /// averages, minimums, maximums, medians and distinct counts are over every value of the
    /// window.
    RollingWindow(u32),
    /// Each point is the measure from the range start to the end of the point, as one window
    /// (amplitude.md §4.1 "Cumulative sum with uniques"): totals add up, uniques are the
    /// distinct persons seen so far.
    Cumulative,
}

impl View {
    /// The view's name as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            View::RollingAverage(_) => "rolling_average",
            View::RollingWindow(_) => "rolling_window",
            View::Cumulative => "cumulative",
        }
    }

    /// The view as a column header reads it: `rolling average of 7`, `cumulative`.
    pub fn label(self) -> String {
        match self {
            View::RollingAverage(n) => format!("rolling average of {n}"),
            View::RollingWindow(n) => format!("rolling window of {n}"),
            View::Cumulative => "cumulative".to_owned(),
        }
    }
}

/// Longest rolling view per interval (Amplitude's limits): 72 hours, 90 days, 12 weeks,
/// 12 months.
pub(crate) fn max_window(interval: Interval) -> u32 {
    match interval {
        Interval::Hour => 72,
        Interval::Day => 90,
        Interval::Week | Interval::Month => 12,
    }
}

/// A validated view and the points it reads: the lead-in points, then the range's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ViewPlan {
    pub(crate) view: View,
    /// Boundaries of the points scanned (lead-in, then the range's): scanned point `i` is
    /// `[starts[i], starts[i + 1])`.
    pub(crate) starts: Vec<i64>,
    /// Per scanned point, its interval counted from the range's first one (negative in the
    /// lead-in; the part of the first interval before the range start is 0 too).
    pub(crate) intervals: Vec<i64>,
    /// The scanned index of the range's first point.
    pub(crate) lead: usize,
}

impl ViewPlan {
    /// Checks `view` against the interval and the series' measures, and adds the lead-in
    /// before `range` (the points of `from..` in `tz`).
    pub(crate) fn new(
        view: View,
        events: &[SeriesSpec],
        range: &Buckets,
        from: NaiveDate,
        tz: Tz,
        interval: Interval,
        week_start: WeekStart,
    ) -> Result<Self, SpecError> {
        for (index, series) in events.iter().enumerate() {
            if let Some(reason) = refused(view, series.measure) {
                return Err(SpecError::ViewMeasure {
                    index,
                    measure: series.measure.as_str(),
                    view: view.as_str(),
                    reason,
                });
            }
        }
        let n = match view {
            View::RollingAverage(n) | View::RollingWindow(n) => n,
            View::Cumulative => 1,
        };
        let max = max_window(interval);
        if n == 0 || n > max {
            return Err(SpecError::ViewWindow {
                view: view.as_str(),
                found: n,
                max,
                interval: interval_name(interval),
            });
        }
        let rolling = view != View::Cumulative;
        let lead_in = lead_in(n - 1, rolling, range, from, tz, interval, week_start);
        let (mut starts, mut intervals) = lead_in.ok_or(SpecError::ViewLeadIn {
            view: view.as_str(),
        })?;
        let lead = starts.len();
        starts.extend_from_slice(&range.starts);
        intervals.extend(0..range.len() as i64);
        Ok(ViewPlan {
            view,
            starts,
            intervals,
            lead,
        })
    }

    /// Number of points of the range.
    fn points(&self) -> usize {
        self.intervals.len() - self.lead
    }

    /// For the window views, per point of the range the scanned points its window unites; for
    /// a rolling average, every scanned point on its own (the mean is taken afterwards).
    pub(crate) fn folds(&self) -> Vec<Range<usize>> {
        match self.view {
            View::RollingAverage(_) => (0..self.intervals.len()).map(|i| i..i + 1).collect(),
            View::RollingWindow(n) => (0..self.points())
                .map(|p| {
                    let first = p as i64 - i64::from(n) + 1;
                    let start = self.intervals.partition_point(|&i| i < first);
                    start..self.lead + p + 1
                })
                .collect(),
            View::Cumulative => (0..self.points())
                .map(|p| self.lead..self.lead + p + 1)
                .collect(),
        }
    }

    /// For a rolling average, per point of the range the scanned points whose values are
    /// averaged: the range's points and the lead-in's whole intervals among the last `N`
    /// (the piece of the first interval before the range start is not a point of the series).
    pub(crate) fn averaged(&self) -> Vec<Vec<usize>> {
        let View::RollingAverage(n) = self.view else {
            return Vec::new();
        };
        (0..self.points())
            .map(|p| {
                let first = p as i64 - i64::from(n) + 1;
                (0..self.lead + p + 1)
                    .filter(|&i| {
                        let interval = self.intervals[i];
                        interval >= first && (i >= self.lead || interval < 0)
                    })
                    .collect()
            })
            .collect()
    }
}

/// Why `view` refuses `measure`, if it does.
fn refused(view: View, measure: Measure) -> Option<&'static str> {
    match (view, measure) {
        (_, Measure::Frequency) => {
            Some("a frequency histogram over a window is not defined; use uniques or totals")
        }
        _ => None,
    }
}

fn interval_name(interval: Interval) -> &'static str {
    match interval {
        Interval::Hour => "hour",
        Interval::Day => "day",
        Interval::Week => "week",
        Interval::Month => "month",
    }
}

/// The `count` whole intervals before the range and, for a rolling view, the part of the
/// first interval before the range start when the range starts inside it: their start
/// boundaries and intervals (counted from the range's first). `None` when the calendar runs
/// out.
fn lead_in(
    count: u32,
    rolling: bool,
    range: &Buckets,
    from: NaiveDate,
    tz: Tz,
    interval: Interval,
    week_start: WeekStart,
) -> Option<(Vec<i64>, Vec<i64>)> {
    let range_start = *range.starts.first()?;
    let mut starts = Vec::new();
    let mut intervals = Vec::new();
    let day = |date: NaiveDate| super::validate::start_of_day(date, tz);
    // The first interval's own start (on the grid), at or before the range start.
    let first: Option<NaiveDate> = match interval {
        Interval::Hour | Interval::Day => None,
        Interval::Week => Some(week_of(from, week_start)),
        Interval::Month => from.with_day(1),
    };
    for k in (1..=i64::from(count)).rev() {
        let back = k as u32;
        let start = match interval {
            Interval::Hour => range_start - k * 3_600_000,
            Interval::Day => day(from.checked_sub_days(Days::new(u64::from(back)))?),
            Interval::Week => day(first?.checked_sub_days(Days::new(7 * u64::from(back)))?),
            Interval::Month => day(first?.checked_sub_months(Months::new(back))?),
        };
        starts.push(start);
        intervals.push(-k);
    }
    if let Some(first) = first
        && first < from
        && rolling
    {
        starts.push(day(first));
        intervals.push(0);
    }
    Some((starts, intervals))
}

#[cfg(test)]
mod tests;
