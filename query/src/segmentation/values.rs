//! The per-event measures of one segmentation series: frequency and property measures.
//!
//! `sluice_segmentation_values(person, ts, mask, number, text)` takes per row the person
//! (`Int64`), the event time (Unix ms), the counter's series mask (`Int64`; the row counts for
//! this series when the series' bit is set), the property as a number (`Float64`, null when
//! absent or not a number) and as text (`Utf8`). It returns a `List<Float64>`:
//!
//! - `frequency`: persons per (point, bucket), cell `p * buckets + b`, from each person's event
//!   count in the point (a map of dense person id → count per point), then one more row of
//!   buckets for the whole range (each person once, by their count over every point);
//! - `property_*`: one value per point (null where undefined), from every numeric value of the
//!   point (kept, sorted at the end, so the sum is the same however the rows were split);
//! - `property_distinct_count`: distinct texts per point.
//!
//! The points returned are the params' folds of the scanned points: each point alone, or for
//! a rolling window or cumulative view a run of them measured together (`view.rs`).
//!
//! Partitions hand their state over as one binary blob per accumulator.
//!
//! The mask, not the series' own predicate, says which rows count: the mask is the counter's
//! argument too, so the scan computes it once and every predicate appears once in the plan
//! (`selection.rs` says why that matters).

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::cast::{
    as_binary_array, as_float64_array, as_int64_array, as_string_array,
};
use datafusion::common::{Result, ScalarValue, internal_datafusion_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use crate::spec::{Measure, PointIndex};
use crate::whole_table::one_row_list;

/// The fixed parameters of one series' values aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ValuesParams {
    /// Point boundaries: point `p` is `[starts[p], starts[p + 1])`.
    pub(crate) points: Arc<PointIndex>,
    /// The series' measure (frequency or a property measure).
    pub(crate) measure: Measure,
    /// Lower bounds of the frequency buckets.
    pub(crate) buckets: Vec<u64>,
    /// The series' bit in the mask.
    pub(crate) bit: u32,
    /// The points returned: each unites a run of scanned points (one each without a window
    /// view; `view.rs`).
    pub(crate) folds: Vec<Range<usize>>,
    /// For a formula's `PERCENTILE` (`FREQPERCENTILE`): the numbers (the persons' event counts)
    /// are summarised at this percentile (hundredths of a percent) instead of by the measure.
    pub(crate) percentile: Option<u32>,
    /// For a formula's `PROPCOUNTAVG`: a distinct count counts (person, value) pairs and
    /// returns them per person.
    pub(crate) per_person: bool,
}

impl ValuesParams {
    fn points(&self) -> usize {
        self.points.starts().len().saturating_sub(1)
    }
}

/// The values aggregate of one series.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct ValuesUdaf {
    params: ValuesParams,
    signature: Signature,
}

impl ValuesUdaf {
    pub(crate) fn new(params: ValuesParams) -> Self {
        ValuesUdaf {
            params,
            signature: Signature::exact(
                vec![
                    DataType::Int64,
                    DataType::Int64,
                    DataType::Int64,
                    DataType::Float64,
                    DataType::Utf8,
                ],
                Volatility::Immutable,
            ),
        }
    }

    pub(crate) fn into_udaf(self) -> AggregateUDF {
        AggregateUDF::new_from_impl(self)
    }
}

impl AggregateUDFImpl for ValuesUdaf {
    fn name(&self) -> &str {
        "sluice_segmentation_values"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Float64,
            true,
        ))))
    }

    fn accumulator(&self, _args: AccumulatorArgs<'_>) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Values::new(self.params.clone())))
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[points]", args.name),
            DataType::Binary,
            true,
        ))])
    }
}

/// What one point keeps: only the part the measure needs is filled.
#[derive(Debug, Default, Clone)]
struct Point {
    /// Events per person (frequency).
    times: HashMap<i64, u64>,
    /// Every numeric value (property measures but distinct count).
    numbers: Vec<f64>,
    /// Distinct texts (distinct count).
    texts: HashSet<String>,
}

/// The state of one series' values aggregate.
#[derive(Debug)]
pub(crate) struct Values {
    params: ValuesParams,
    points: Vec<Point>,
}

impl Values {
    pub(crate) fn new(params: ValuesParams) -> Self {
        Values {
            points: vec![Point::default(); params.points()],
            params,
        }
    }

    /// The result list: frequency cells, or one value per returned point. A point uniting
    /// several scanned points (a window) is measured over all of their events: the persons'
    /// counts added up, every number, every distinct text.
    fn finish(&self) -> Result<Vec<Option<f64>>> {
        let scanned = self.points.len();
        let mut out = Vec::new();
        for fold in &self.params.folds {
            let points = self.points.get(fold.clone()).ok_or_else(|| {
                internal_datafusion_err!("segmentation fold {fold:?} outside {scanned} points")
            })?;
            match self.params.measure {
                Measure::Frequency => {
                    let times = times_per_person(points);
                    if let Some(hundredths) = self.params.percentile {
                        let mut counts: Vec<f64> = times.values().map(|&n| n as f64).collect();
                        counts.sort_by(f64::total_cmp);
                        out.push(percentile(&counts, hundredths));
                        continue;
                    }
                    out.extend(self.bucket_cells(&times));
                }
                Measure::PropertyDistinctCount => {
                    let texts: HashSet<&String> = points.iter().flat_map(|p| &p.texts).collect();
                    out.push(if self.params.per_person {
                        // Distinct (person, value) pairs ÷ the persons among them.
                        let persons: HashSet<&str> = texts
                            .iter()
                            .filter_map(|t| t.split_once(PERSON_SEPARATOR).map(|(p, _)| p))
                            .collect();
                        (!persons.is_empty()).then(|| texts.len() as f64 / persons.len() as f64)
                    } else {
                        Some(texts.len() as f64)
                    });
                }
                measure => {
                    let mut numbers: Vec<f64> = points
                        .iter()
                        .flat_map(|p| p.numbers.iter().copied())
                        .collect();
                    numbers.sort_by(f64::total_cmp);
                    out.push(match self.params.percentile {
                        Some(hundredths) => percentile(&numbers, hundredths),
                        None => summarise(measure, &numbers),
                    });
                }
            }
        }
        if self.params.measure == Measure::Frequency && self.params.percentile.is_none() {
            // The whole range: each person once, by their count over every returned point.
            let range = match (self.params.folds.first(), self.params.folds.last()) {
                (Some(first), Some(last)) => first.start..last.end,
                _ => 0..0,
            };
            let points = self.points.get(range.clone()).ok_or_else(|| {
                internal_datafusion_err!("segmentation range {range:?} outside {scanned} points")
            })?;
            out.extend(self.bucket_cells(&times_per_person(points)));
        }
        Ok(out)
    }

    /// Persons per frequency bucket, from each person's count.
    fn bucket_cells(&self, times: &HashMap<i64, u64>) -> impl Iterator<Item = Option<f64>> {
        let mut persons = vec![0u64; self.params.buckets.len()];
        for &n in times.values() {
            if let Some(b) = bucket_of(&self.params.buckets, n) {
                persons[b] += 1;
            }
        }
        persons.into_iter().map(|n| Some(n as f64))
    }

    /// The state blob: per point, the lengths and items of its three parts (little-endian).
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let put = |out: &mut Vec<u8>, n: u64| out.extend_from_slice(&n.to_le_bytes());
        for point in &self.points {
            put(&mut out, point.times.len() as u64);
            for (&person, &times) in &point.times {
                put(&mut out, person as u64);
                put(&mut out, times);
            }
            put(&mut out, point.numbers.len() as u64);
            for number in &point.numbers {
                put(&mut out, number.to_bits());
            }
            put(&mut out, point.texts.len() as u64);
            for text in &point.texts {
                put(&mut out, text.len() as u64);
                out.extend_from_slice(text.as_bytes());
            }
        }
        out
    }

    fn merge_blob(&mut self, blob: &[u8]) -> Result<()> {
        let mut reader = Reader { blob, at: 0 };
        for point in &mut self.points {
            for _ in 0..reader.u64()? {
                let person = reader.u64()? as i64;
                *point.times.entry(person).or_default() += reader.u64()?;
            }
            for _ in 0..reader.u64()? {
                point.numbers.push(f64::from_bits(reader.u64()?));
            }
            for _ in 0..reader.u64()? {
                let len = usize::try_from(reader.u64()?)
                    .map_err(|_| internal_datafusion_err!("segmentation values: text length"))?;
                let text = std::str::from_utf8(reader.bytes(len)?)
                    .map_err(|_| internal_datafusion_err!("segmentation values: text not UTF-8"))?;
                point.texts.insert(text.to_owned());
            }
        }
        if reader.at != blob.len() {
            return Err(internal_datafusion_err!(
                "segmentation values: {} bytes left over",
                blob.len() - reader.at
            ));
        }
        Ok(())
    }
}

/// The bucket holding `times`: the last bound at or below it.
/// Each person's events over `points`, added up.
fn times_per_person(points: &[Point]) -> HashMap<i64, u64> {
    let mut times: HashMap<i64, u64> = HashMap::new();
    for point in points {
        for (&person, &n) in &point.times {
            *times.entry(person).or_default() += n;
        }
    }
    times
}

pub(crate) fn bucket_of(bounds: &[u64], times: u64) -> Option<usize> {
    bounds.partition_point(|&b| b <= times).checked_sub(1)
}

/// A property measure over sorted values; null when undefined.
pub(crate) fn summarise(measure: Measure, sorted: &[f64]) -> Option<f64> {
    // From +0.0: `Iterator::sum` of no floats is -0.0, which would print as "-0".
    let sum = || sorted.iter().fold(0.0, |sum, v| sum + v);
    match measure {
        Measure::PropertySum => Some(sum()),
        _ if sorted.is_empty() => None,
        Measure::PropertyAverage => Some(sum() / sorted.len() as f64),
        Measure::PropertyMin => sorted.first().copied(),
        Measure::PropertyMax => sorted.last().copied(),
        Measure::PropertyMedian => {
            let middle = sorted.len() / 2;
            Some(if sorted.len() % 2 == 1 {
                sorted[middle]
            } else {
                (sorted[middle - 1] + sorted[middle]) / 2.0
            })
        }
        _ => None,
    }
}

/// Between a person and a value in a distinct count per person (a unit separator).
const PERSON_SEPARATOR: char = '\u{1f}';

/// A (person, value) pair as one distinct text: the person's id, the separator, the value.
fn person_value(person: i64, value: &str) -> String {
    format!("{person}{PERSON_SEPARATOR}{value}")
}

/// The percentile `hundredths` / 100 of sorted values, interpolated linearly between the two
/// nearest ranks (the 50th is the median); null without values.
pub(crate) fn percentile(sorted: &[f64], hundredths: u32) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let rank = f64::from(hundredths.min(10_000)) / 10_000.0 * last as f64;
    let (below, fraction) = (rank.floor() as usize, rank.fract());
    let low = sorted[below];
    Some(match sorted.get(below + 1) {
        Some(&high) if fraction > 0.0 => low + (high - low) * fraction,
        _ => low,
    })
}

/// Reads a state blob front to back.
struct Reader<'b> {
    blob: &'b [u8],
    at: usize,
}

impl<'b> Reader<'b> {
    fn bytes(&mut self, len: usize) -> Result<&'b [u8]> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.blob.len())
            .ok_or_else(|| internal_datafusion_err!("segmentation values: truncated state"))?;
        let bytes = &self.blob[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn u64(&mut self) -> Result<u64> {
        let bytes = self.bytes(8)?;
        Ok(u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8])))
    }
}

impl Accumulator for Values {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [person, ts, mask, number, text] = values else {
            return Err(internal_datafusion_err!(
                "segmentation values expects 5 columns, got {}",
                values.len()
            ));
        };
        let (person, ts, mask) = (
            as_int64_array(person)?,
            as_int64_array(ts)?,
            as_int64_array(mask)?,
        );
        let (number, text) = (as_float64_array(number)?, as_string_array(text)?);
        let bit = 1i64 << self.params.bit;
        for row in 0..person.len() {
            if person.is_null(row) || ts.is_null(row) || mask.is_null(row) {
                continue;
            }
            if mask.value(row) & bit == 0 {
                continue;
            }
            let Some(p) = self.params.points.point_of(ts.value(row)) else {
                continue;
            };
            let point = &mut self.points[p];
            match self.params.measure {
                Measure::Frequency => *point.times.entry(person.value(row)).or_default() += 1,
                Measure::PropertyDistinctCount if self.params.per_person => {
                    if text.is_valid(row) {
                        point
                            .texts
                            .insert(person_value(person.value(row), text.value(row)));
                    }
                }
                Measure::PropertyDistinctCount => {
                    if text.is_valid(row) && !point.texts.contains(text.value(row)) {
                        point.texts.insert(text.value(row).to_owned());
                    }
                }
                _ => {
                    if number.is_valid(row) && number.value(row).is_finite() {
                        point.numbers.push(number.value(row));
                    }
                }
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [blobs] = states else {
            return Err(internal_datafusion_err!(
                "segmentation values state expects 1 column"
            ));
        };
        let blobs = as_binary_array(blobs)?;
        for i in 0..blobs.len() {
            if blobs.is_valid(i) {
                self.merge_blob(blobs.value(i))?;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(self.encode()))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(one_row_list(Arc::new(Float64Array::from(self.finish()?))))
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + self
                .points
                .iter()
                .map(|p| {
                    size_of::<Point>()
                        + p.times.capacity() * 24
                        + p.numbers.capacity() * 8
                        + p.texts.iter().map(|t| t.capacity() + 32).sum::<usize>()
                })
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests;
