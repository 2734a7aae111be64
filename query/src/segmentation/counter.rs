//! The segmentation aggregate: events and distinct persons per (series, interval) in one pass.
//!
//! `sluice_segmentation(person, ts, mask)` takes per row the person (`Int64`), the event time
//! (Unix ms) and the series mask (bit `s` set when the row counts for series `s`), and returns
//! a `List<UInt64>`: the unique persons of every (series, point) cell, then the event totals of
//! every cell, cell `s * points + p`, where the points are the folds of the scanned points
//! (`CounterParams::folds`: each point alone, or a window of them); then, for each of
//! `CounterParams::windows` (the windows of formulas' `CUMSUM` / `ROLLWIN` over uniques), the
//! unique persons of every (series, window) cell. It is used without `GROUP BY`.
//!
//! Distinct persons are bits: person ids are dense (each log partition numbers its persons from
//! 0), so a cell's persons are a bitmap, cut into chunks of 65 536 ids (8 KiB) allocated only
//! where persons exist; for 1 M persons a cell costs 128 KiB, a 90-day series ≈ 11 MiB. Setting a
//! bit is the whole per-row cost; a cell's count is a popcount. Partitions hand their bitmaps over
//! as one binary blob and are merged with OR.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::cast::{as_binary_array, as_int64_array};
use datafusion::common::{Result, ScalarValue, internal_datafusion_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use crate::spec::PointIndex;
use crate::whole_table::one_row_list;

/// Ids per chunk: 2^16.
const CHUNK_BITS: u32 = 16;
/// 64-bit words per chunk.
const CHUNK_WORDS: usize = (1 << CHUNK_BITS) / 64;

/// The fixed parameters of one segmentation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CounterParams {
    /// Point boundaries: point `p` is `[starts[p], starts[p + 1])`.
    pub(crate) points: Arc<PointIndex>,
    /// Number of series (≤ 64).
    pub(crate) series: usize,
    /// The points returned: each unites a run of scanned points (one each without a window
    /// view; `view.rs`).
    pub(crate) folds: Vec<Range<usize>>,
    /// More runs of scanned points whose uniques are returned after the totals, one list of
    /// runs per formula window.
    pub(crate) windows: Vec<Vec<Range<usize>>>,
}

impl CounterParams {
    fn points(&self) -> usize {
        self.points.starts().len().saturating_sub(1)
    }

    fn cells(&self) -> usize {
        self.series * self.points()
    }

    fn point_of(&self, ms: i64) -> Option<usize> {
        self.points.point_of(ms)
    }
}

/// The segmentation aggregate of one query.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct SegmentationUdaf {
    params: CounterParams,
    signature: Signature,
}

impl SegmentationUdaf {
    pub(crate) fn new(params: CounterParams) -> Self {
        SegmentationUdaf {
            params,
            signature: Signature::exact(
                vec![DataType::Int64, DataType::Int64, DataType::Int64],
                Volatility::Immutable,
            ),
        }
    }

    pub(crate) fn into_udaf(self) -> AggregateUDF {
        AggregateUDF::new_from_impl(self)
    }
}

impl AggregateUDFImpl for SegmentationUdaf {
    fn name(&self) -> &str {
        "sluice_segmentation"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::UInt64,
            true,
        ))))
    }

    fn accumulator(&self, _args: AccumulatorArgs<'_>) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Counter::new(self.params.clone())))
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[cells]", args.name),
            DataType::Binary,
            true,
        ))])
    }
}

/// Totals and person bitmaps of every cell.
#[derive(Debug)]
pub(crate) struct Counter {
    params: CounterParams,
    totals: Vec<u64>,
    /// Chunk key (`person >> 16`) → index into `chunks`.
    chunk_index: HashMap<i64, usize>,
    keys: Vec<i64>,
    /// Per chunk, `cells × CHUNK_WORDS` words (cell-major).
    chunks: Vec<Box<[u64]>>,
    last: Option<(i64, usize)>,
}

impl Counter {
    pub(crate) fn new(params: CounterParams) -> Self {
        Counter {
            totals: vec![0; params.cells()],
            params,
            chunk_index: HashMap::new(),
            keys: Vec::new(),
            chunks: Vec::new(),
            last: None,
        }
    }

    /// The words of the chunk holding `key`, allocated when new.
    fn chunk(&mut self, key: i64) -> usize {
        if let Some((last, index)) = self.last
            && last == key
        {
            return index;
        }
        let cells = self.params.cells();
        let index = *self.chunk_index.entry(key).or_insert_with(|| {
            self.keys.push(key);
            self.chunks
                .push(vec![0u64; cells * CHUNK_WORDS].into_boxed_slice());
            self.chunks.len() - 1
        });
        self.last = Some((key, index));
        index
    }

    /// The counts of every returned (series, fold) cell: uniques, then totals; then the uniques
    /// of every (series, window) cell of each of the `windows`. A fold's uniques are the persons
    /// in the union of its points' bitmaps, so a person is counted once per window.
    fn counts(&self) -> Vec<u64> {
        let (points, folds) = (self.params.points(), &self.params.folds);
        let series = self.params.series;
        let mut uniques = self.uniques(folds);
        for s in 0..series {
            for fold in folds {
                let at = s * points;
                uniques.push(self.totals[at + fold.start..at + fold.end].iter().sum());
            }
        }
        for windows in &self.params.windows {
            uniques.extend(self.uniques(windows));
        }
        uniques
    }

    /// The persons of every (series, fold) cell, cell `s * folds.len() + f`. A fold extending
    /// the previous one (cumulative) extends its union.
    fn uniques(&self, folds: &[Range<usize>]) -> Vec<u64> {
        let points = self.params.points();
        let mut uniques = vec![0u64; self.params.series * folds.len()];
        let mut union = vec![0u64; CHUNK_WORDS];
        let ones = |words: &[u64]| words.iter().map(|w| u64::from(w.count_ones())).sum::<u64>();
        for chunk in &self.chunks {
            let cell = |series: usize, point: usize| {
                let at = (series * points + point) * CHUNK_WORDS;
                &chunk[at..at + CHUNK_WORDS]
            };
            for series in 0..self.params.series {
                let mut united: Option<&Range<usize>> = None;
                for (f, fold) in folds.iter().enumerate() {
                    let out = &mut uniques[series * folds.len() + f];
                    if fold.len() == 1 {
                        *out += ones(cell(series, fold.start));
                        united = None;
                        continue;
                    }
                    let from = match united {
                        Some(before) if before.start == fold.start && before.end <= fold.end => {
                            before.end
                        }
                        _ => {
                            union.fill(0);
                            fold.start
                        }
                    };
                    for point in from..fold.end {
                        for (u, w) in union.iter_mut().zip(cell(series, point)) {
                            *u |= w;
                        }
                    }
                    united = Some(fold);
                    *out += ones(&union);
                }
            }
        }
        uniques
    }

    /// The state blob: totals, then per chunk its key and words (little-endian `u64`s).
    fn encode(&self) -> Vec<u8> {
        let words = self.params.cells() * CHUNK_WORDS;
        let mut out = Vec::with_capacity(8 * (self.totals.len() + self.chunks.len() * (1 + words)));
        for total in &self.totals {
            out.extend_from_slice(&total.to_le_bytes());
        }
        for (key, chunk) in self.keys.iter().zip(&self.chunks) {
            out.extend_from_slice(&key.to_le_bytes());
            for word in chunk.iter() {
                out.extend_from_slice(&word.to_le_bytes());
            }
        }
        out
    }

    fn merge_blob(&mut self, blob: &[u8]) -> Result<()> {
        let cells = self.params.cells();
        let chunk_bytes = 8 * (1 + cells * CHUNK_WORDS);
        let totals_bytes = 8 * cells;
        if blob.len() < totals_bytes
            || !(blob.len() - totals_bytes).is_multiple_of(chunk_bytes.max(1))
        {
            return Err(internal_datafusion_err!(
                "segmentation state of {} bytes",
                blob.len()
            ));
        }
        let word = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]));
        for (total, bytes) in self.totals.iter_mut().zip(blob.chunks_exact(8)) {
            *total += word(bytes);
        }
        for chunk in blob[totals_bytes..].chunks_exact(chunk_bytes) {
            let index = self.chunk(word(&chunk[..8]) as i64);
            for (mine, bytes) in self.chunks[index]
                .iter_mut()
                .zip(chunk[8..].chunks_exact(8))
            {
                *mine |= word(bytes);
            }
        }
        Ok(())
    }
}

impl Accumulator for Counter {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [person, ts, mask] = values else {
            return Err(internal_datafusion_err!(
                "segmentation aggregate expects 3 columns, got {}",
                values.len()
            ));
        };
        let (person, ts, mask) = (
            as_int64_array(person)?,
            as_int64_array(ts)?,
            as_int64_array(mask)?,
        );
        let points = self.params.points();
        for row in 0..person.len() {
            if person.is_null(row) || ts.is_null(row) || mask.is_null(row) {
                continue;
            }
            let Some(point) = self.params.point_of(ts.value(row)) else {
                continue;
            };
            let id = person.value(row);
            let chunk = self.chunk(id >> CHUNK_BITS);
            let bit = (id & ((1 << CHUNK_BITS) - 1)) as usize;
            let mut series_bits = mask.value(row) as u64;
            while series_bits != 0 {
                let series = series_bits.trailing_zeros() as usize;
                series_bits &= series_bits - 1;
                let cell = series * points + point;
                if let Some(total) = self.totals.get_mut(cell) {
                    *total += 1;
                    self.chunks[chunk][cell * CHUNK_WORDS + bit / 64] |= 1 << (bit % 64);
                }
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [blobs] = states else {
            return Err(internal_datafusion_err!(
                "segmentation state expects 1 column"
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
        let points = self.params.points();
        if let Some(fold) = self
            .params
            .folds
            .iter()
            .chain(self.params.windows.iter().flatten())
            .find(|f| f.is_empty() || f.end > points)
        {
            return Err(internal_datafusion_err!(
                "segmentation fold {fold:?} outside {points} points"
            ));
        }
        Ok(one_row_list(Arc::new(UInt64Array::from(self.counts()))))
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + self.totals.capacity() * 8
            + self.chunks.len() * self.params.cells() * CHUNK_WORDS * 8
            + self.chunk_index.capacity() * 24
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> CounterParams {
        CounterParams {
            points: Arc::new(PointIndex::new(vec![0, 10, 20])),
            series: 2,
            folds: vec![0..1, 1..2],
            windows: Vec::new(),
        }
    }

    fn batch(rows: &[(i64, i64, i64)]) -> Vec<ArrayRef> {
        let column = |f: fn(&(i64, i64, i64)) -> i64| -> ArrayRef {
            Arc::new(
                rows.iter()
                    .map(|r| Some(f(r)))
                    .collect::<datafusion::arrow::array::Int64Array>(),
            )
        };
        vec![column(|r| r.0), column(|r| r.1), column(|r| r.2)]
    }

    /// Rows `(person, ts, mask)`; persons far apart land in different chunks.
    fn rows() -> Vec<(i64, i64, i64)> {
        let far = 5 << 40;
        vec![
            (1, 0, 0b01),
            (1, 5, 0b11),
            (2, 9, 0b01),
            (far, 10, 0b10),
            (far, 19, 0b10),
            (1, 20, 0b11), // past the last point
            (3, -1, 0b11), // before the first
        ]
    }

    fn counts(acc: &mut Counter) -> Vec<u64> {
        match acc.evaluate().unwrap() {
            ScalarValue::List(list) => {
                let values = list.value(0);
                let values = values.as_any().downcast_ref::<UInt64Array>().unwrap();
                values.values().to_vec()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn uniques_and_totals_per_cell() {
        let mut acc = Counter::new(params());
        acc.update_batch(&batch(&rows())).unwrap();
        // Cells: series 0 point 0, series 0 point 1, series 1 point 0, series 1 point 1.
        assert_eq!(counts(&mut acc), [2, 0, 1, 1, 3, 0, 1, 2]);
    }

    #[test]
    fn merged_partitions_count_each_person_once() {
        let all = rows();
        let mut finals = Counter::new(params());
        for half in [&all[..2], &all[1..]] {
            let mut partial = Counter::new(params());
            partial.update_batch(&batch(half)).unwrap();
            let state: Vec<ArrayRef> = partial
                .state()
                .unwrap()
                .into_iter()
                .map(|s| s.to_array().unwrap())
                .collect();
            finals.merge_batch(&state).unwrap();
        }
        // Row (1, 5) is in both halves: totals count it twice, uniques once.
        assert_eq!(counts(&mut finals), [2, 0, 1, 1, 4, 0, 2, 2]);
    }

    #[test]
    fn windows_unite_bitmaps_and_add_totals() {
        let far = 5 << 40;
        let params = CounterParams {
            points: Arc::new(PointIndex::new(vec![0, 10, 20, 30])),
            series: 1,
            // Rolling windows of two points, then a cumulative run.
            folds: vec![0..2, 1..3, 0..1, 0..2, 0..3],
            windows: Vec::new(),
        };
        let mut acc = Counter::new(params);
        let rows = [(1, 0, 1), (1, 15, 1), (2, 12, 1), (3, 25, 1), (far, 25, 1)];
        acc.update_batch(&batch(&rows)).unwrap();
        // Person 1 in points 0 and 1 is one person in every window holding both.
        assert_eq!(counts(&mut acc), [2, 4, 1, 2, 4, 3, 4, 1, 3, 5]);
    }

    #[test]
    fn formula_windows_follow_the_totals_with_persons_counted_once() {
        let params = CounterParams {
            points: Arc::new(PointIndex::new(vec![0, 10, 20])),
            series: 2,
            folds: vec![0..1, 1..2],
            // A cumulative window, then windows of one point.
            windows: vec![vec![0..1, 0..2], vec![0..1, 1..2]],
        };
        let mut acc = Counter::new(params);
        acc.update_batch(&batch(&rows())).unwrap();
        // Series 0: persons 1 and 2 at point 0, none at point 1; series 1: person 1 at point
        // 0, person `far` at point 1.
        let cells = [2, 0, 1, 1, 3, 0, 1, 2];
        let cumulative = [2, 2, 1, 2];
        let single = [2, 0, 1, 1];
        assert_eq!(
            counts(&mut acc),
            [&cells[..], &cumulative, &single].concat()
        );
    }

    #[test]
    fn a_fold_outside_the_points_is_an_error() {
        let mut params = params();
        params.folds = vec![0..1, 1..3];
        assert!(Counter::new(params).evaluate().is_err());
        let mut params = self::params();
        params.windows = vec![vec![0..1, 0..0]];
        assert!(Counter::new(params).evaluate().is_err());
    }

    #[test]
    fn a_truncated_state_is_an_error() {
        let mut acc = Counter::new(params());
        assert!(acc.merge_blob(&[0; 5]).is_err());
    }
}
