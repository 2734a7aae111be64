//! From the aggregates' counts and values to each series' result: ratios (active %, average)
//! are computed here, with null where the denominator is zero.

use super::formula::{Metric, MetricRef};
use crate::error::{QueryError, Result};
use crate::result::{FrequencyBucket, SeriesResult};
use crate::spec::{
    ANY_EVENT, Breakdown, BreakdownKind, Measure, PropertyRef, SeriesEvent, SeriesQuery,
};

/// The counter's output: uniques of every (bit, point) cell, then totals, then the uniques of
/// every (bit, point) cell per formula window; series `s` is bit `bits[s]`.
pub(super) struct Counts<'c> {
    pub(super) counts: &'c [u64],
    pub(super) points: usize,
    /// Per counted series (the spec's, then the active persons when asked for), its bit.
    pub(super) bits: &'c [usize],
    /// Bits counted.
    pub(super) width: usize,
}

impl Counts<'_> {
    fn uniques(&self, series: usize) -> &[u64] {
        let start = self.bits[series] * self.points;
        &self.counts[start..start + self.points]
    }

    fn totals(&self, series: usize) -> &[u64] {
        let start = (self.width + self.bits[series]) * self.points;
        &self.counts[start..start + self.points]
    }

    /// Active persons per point (the last counted series).
    fn active(&self) -> &[u64] {
        self.uniques(self.bits.len() - 1)
    }

    /// Series `s`'s persons per point over the counter's `w`-th formula window (after the
    /// totals).
    pub(super) fn windowed_uniques(&self, w: usize, series: usize) -> Option<&[u64]> {
        let start = (2 + w) * self.width * self.points + self.bits.get(series)? * self.points;
        self.counts.get(start..start + self.points)
    }
}

/// `numerator × scale / denominator`, null when the denominator is zero (scaled first: for
/// counts below 2^53 the product is exact, so the result is the correctly rounded ratio).
fn ratio(numerator: &[u64], denominator: &[u64], scale: f64) -> Vec<Option<f64>> {
    numerator
        .iter()
        .zip(denominator)
        .map(|(&n, &d)| (d > 0).then(|| n as f64 * scale / d as f64))
        .collect()
}

pub(super) fn whole(counts: &[u64]) -> Vec<Option<f64>> {
    counts.iter().map(|&n| Some(n as f64)).collect()
}

/// A formula metric read from the counter (`None` for property metrics, which come from a
/// values aggregate): uniques and totals as counted, `ACTIVE` as a fraction of the active
/// persons and `AVG` as totals ÷ uniques, null where the denominator is zero (§4.1).
pub(super) fn metric_values(m: MetricRef, counts: &Counts<'_>) -> Option<Vec<Option<f64>>> {
    let s = m.series;
    Some(match m.metric {
        Metric::Uniques => whole(counts.uniques(s)),
        Metric::Totals => whole(counts.totals(s)),
        Metric::Active => ratio(counts.uniques(s), counts.active(), 1.0),
        Metric::Average => ratio(counts.totals(s), counts.uniques(s), 1.0),
        Metric::ActivePersons => whole(counts.active()),
        _ => return None,
    })
}

/// Series `s`'s result from the counts and its values aggregate's list.
pub(super) fn series_result(
    s: usize,
    series: &SeriesQuery,
    counts: &Counts<'_>,
    values: Vec<Option<f64>>,
) -> Result<SeriesResult> {
    let uniques = counts.uniques(s);
    let mut frequency = Vec::new();
    let values = match series.measure {
        Measure::Uniques => whole(uniques),
        Measure::Totals => whole(counts.totals(s)),
        Measure::ActivePercent => ratio(uniques, counts.active(), 100.0),
        Measure::Average => ratio(counts.totals(s), uniques, 1.0),
        Measure::Frequency => {
            // Each point's buckets, then one more row: the whole range's.
            let bounds = &series.frequency_buckets;
            if values.len() != (counts.points + 1) * bounds.len() {
                return Err(QueryError::Internal(format!(
                    "frequency returned {} cells for {} points (and the range) × {} buckets",
                    values.len(),
                    counts.points,
                    bounds.len()
                )));
            }
            let cell = |p: usize, b: usize| values[p * bounds.len() + b].map_or(0, |n| n as u64);
            for (b, &from) in bounds.iter().enumerate() {
                let persons = (0..counts.points).map(|p| cell(p, b)).collect();
                frequency.push(FrequencyBucket::new(
                    from,
                    bounds.get(b + 1).copied(),
                    persons,
                    cell(counts.points, b),
                ));
            }
            whole(uniques)
        }
        _ => {
            if values.len() != counts.points {
                return Err(QueryError::Internal(format!(
                    "{} returned {} values for {} points",
                    series.measure.as_str(),
                    values.len(),
                    counts.points
                )));
            }
            values
        }
    };
    Ok(SeriesResult {
        event_type: match &series.event {
            SeriesEvent::Type(name) => name.clone(),
            SeriesEvent::Any => ANY_EVENT.to_owned(),
        },
        measure: series.measure,
        property: series.property.as_ref().map(breakdown),
        values,
        frequency,
    })
}

/// The property as the spec wrote it.
fn breakdown(property: &PropertyRef) -> Breakdown {
    let (kind, name) = match property {
        PropertyRef::Event(name) => (BreakdownKind::Event, name),
        PropertyRef::User(name) => (BreakdownKind::User, name),
        PropertyRef::Field(name) => (BreakdownKind::Field, name),
        PropertyRef::Cohort(cell) => (BreakdownKind::Cohort, &cell.name),
    };
    Breakdown {
        kind,
        property: name.clone(),
    }
}
