//! The retention aggregate: per person, in which periods they started and returned.
//!
//! `sluice_retention(person, ts, flags)` takes per row the person (`Int64`), the event time
//! (Unix ms) and flags (bit 0: the row is a start event — for "new user" retention, any counted
//! event, whose earliest time is the person's first; bit 1: the row is a return event). It is
//! used without `GROUP BY` and returns a `List<UInt64>`: per cohort period its persons then its
//! returned count per column, followed by the number of distinct persons in any cohort.
//!
//! Per person it keeps the earliest start time and two bitmaps over the periods (started in,
//! returned in), in chunks of 65 536 consecutive person ids allocated only where persons exist
//! (person ids are dense), so a 98-period query over 1 M persons holds ≈ 40 MB and a row costs a
//! couple of bit sets. Partitions hand their chunks over as one binary blob, merged with OR/min.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, ListArray, UInt64Array};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::cast::{as_binary_array, as_int64_array};
use datafusion::common::{Result, ScalarValue, internal_datafusion_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use crate::spec::PointIndex;

/// Ids per chunk: 2^16.
const CHUNK_BITS: u32 = 16;
const CHUNK_PERSONS: usize = 1 << CHUNK_BITS;
/// Flag: the row is a start event.
pub(crate) const START: i64 = 1;
/// Flag: the row is a return event.
pub(crate) const RETURN: i64 = 2;

/// The fixed parameters of one retention query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RetentionParams {
    /// Period boundaries from the first cohort period to the last period followed.
    pub(crate) points: Arc<PointIndex>,
    /// The first `cohort_periods` periods can open cohorts,
    pub(crate) cohort_periods: usize,
    /// and only with start events before this instant (the end of the date range, which may
    /// cut the last week or month).
    pub(crate) cohort_end_ms: i64,
    /// Cohorts open on the person's first start event ever ("new user"), not on every one.
    pub(crate) new_users: bool,
    /// Each column's periods after the cohort's, `[from, to)`; `None`: to the last one.
    pub(crate) columns: Arc<Vec<(u32, Option<u32>)>>,
}

impl RetentionParams {
    fn periods(&self) -> usize {
        self.points.starts().len().saturating_sub(1)
    }

    /// Words per bitmap.
    fn words(&self) -> usize {
        self.periods().div_ceil(64).max(1)
    }

    /// Words per person: the first start time, then the start and return bitmaps.
    fn stride(&self) -> usize {
        1 + 2 * self.words()
    }
}

/// The retention aggregate of one query.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct RetentionUdaf {
    params: RetentionParams,
    signature: Signature,
}

impl RetentionUdaf {
    pub(crate) fn new(params: RetentionParams) -> Self {
        RetentionUdaf {
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

impl AggregateUDFImpl for RetentionUdaf {
    fn name(&self) -> &str {
        "sluice_retention"
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
        Ok(Box::new(Persons::new(self.params.clone())))
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[persons]", args.name),
            DataType::Binary,
            true,
        ))])
    }
}

/// The per-person state of every person seen.
#[derive(Debug)]
pub(crate) struct Persons {
    params: RetentionParams,
    chunk_index: HashMap<i64, usize>,
    keys: Vec<i64>,
    /// Per chunk, `CHUNK_PERSONS × stride` words.
    chunks: Vec<Box<[u64]>>,
    last: Option<(i64, usize)>,
}

/// The first-start word of a person nobody saw start.
const NO_START: u64 = i64::MAX as u64;

impl Persons {
    pub(crate) fn new(params: RetentionParams) -> Self {
        Persons {
            params,
            chunk_index: HashMap::new(),
            keys: Vec::new(),
            chunks: Vec::new(),
            last: None,
        }
    }

    fn chunk(&mut self, key: i64) -> usize {
        if let Some((last, index)) = self.last
            && last == key
        {
            return index;
        }
        let stride = self.params.stride();
        let index = *self.chunk_index.entry(key).or_insert_with(|| {
            let mut words = vec![0u64; CHUNK_PERSONS * stride].into_boxed_slice();
            for person in words.chunks_exact_mut(stride) {
                person[0] = NO_START;
            }
            self.keys.push(key);
            self.chunks.push(words);
            self.chunks.len() - 1
        });
        self.last = Some((key, index));
        index
    }

    /// The counts (see the module docs).
    fn counts(&self) -> Vec<u64> {
        let p = &self.params;
        let (words, periods) = (p.words(), p.periods());
        let columns = p.columns.len();
        let mut cohorts = vec![0u64; p.cohort_periods * (1 + columns)];
        let mut distinct = 0u64;
        for chunk in &self.chunks {
            for person in chunk.chunks_exact(p.stride()) {
                let (first, maps) = person.split_at(1);
                let (started, returned) = maps.split_at(words);
                let mut in_a_cohort = false;
                let mut count_cohort = |c: usize| {
                    in_a_cohort = true;
                    let row = &mut cohorts[c * (1 + columns)..(c + 1) * (1 + columns)];
                    row[0] += 1;
                    for (j, &(from, to)) in p.columns.iter().enumerate() {
                        let from = c + from as usize;
                        let to = to.map_or(periods, |to| (c + to as usize).min(periods));
                        if any_bit(returned, from, to) {
                            row[1 + j] += 1;
                        }
                    }
                };
                if p.new_users {
                    let first = first[0] as i64;
                    if first < p.cohort_end_ms
                        && let Some(c) = p.points.point_of(first)
                        && c < p.cohort_periods
                    {
                        count_cohort(c);
                    }
                } else {
                    for c in set_bits(started).take_while(|&c| c < p.cohort_periods) {
                        count_cohort(c);
                    }
                }
                distinct += u64::from(in_a_cohort);
            }
        }
        cohorts.push(distinct);
        cohorts
    }

    fn encode(&self) -> Vec<u8> {
        let stride = self.params.stride();
        let mut out = Vec::with_capacity(self.chunks.len() * 8 * (1 + CHUNK_PERSONS * stride));
        for (key, chunk) in self.keys.iter().zip(&self.chunks) {
            out.extend_from_slice(&key.to_le_bytes());
            for word in chunk.iter() {
                out.extend_from_slice(&word.to_le_bytes());
            }
        }
        out
    }

    fn merge_blob(&mut self, blob: &[u8]) -> Result<()> {
        let stride = self.params.stride();
        let chunk_bytes = 8 * (1 + CHUNK_PERSONS * stride);
        if !blob.len().is_multiple_of(chunk_bytes) {
            return Err(internal_datafusion_err!(
                "retention state of {} bytes",
                blob.len()
            ));
        }
        let word = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]));
        for chunk in blob.chunks_exact(chunk_bytes) {
            let index = self.chunk(word(&chunk[..8]) as i64);
            let mine = &mut self.chunks[index];
            for (i, bytes) in chunk[8..].chunks_exact(8).enumerate() {
                let theirs = word(bytes);
                if i % stride == 0 {
                    mine[i] = mine[i].min(theirs);
                } else {
                    mine[i] |= theirs;
                }
            }
        }
        Ok(())
    }
}

/// Whether any bit in `[from, to)` is set.
fn any_bit(words: &[u64], from: usize, to: usize) -> bool {
    (from..to).any(|bit| {
        words
            .get(bit / 64)
            .is_some_and(|w| w >> (bit % 64) & 1 == 1)
    })
}

/// The set bits of `words`, in order.
fn set_bits(words: &[u64]) -> impl Iterator<Item = usize> + '_ {
    words.iter().enumerate().flat_map(|(i, &word)| {
        let mut rest = word;
        std::iter::from_fn(move || {
            (rest != 0).then(|| {
                let bit = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                i * 64 + bit
            })
        })
    })
}

impl Accumulator for Persons {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [person, ts, flags] = values else {
            return Err(internal_datafusion_err!(
                "retention aggregate expects 3 columns, got {}",
                values.len()
            ));
        };
        let (person, ts, flags) = (
            as_int64_array(person)?,
            as_int64_array(ts)?,
            as_int64_array(flags)?,
        );
        let (stride, words) = (self.params.stride(), self.params.words());
        for row in 0..person.len() {
            if person.is_null(row) || ts.is_null(row) || flags.is_null(row) {
                continue;
            }
            let (flags, ts) = (flags.value(row), ts.value(row));
            if flags & (START | RETURN) == 0 {
                continue;
            }
            let id = person.value(row);
            let chunk = self.chunk(id >> CHUNK_BITS);
            let slot = (id & (CHUNK_PERSONS as i64 - 1)) as usize * stride;
            let period = self.params.points.point_of(ts);
            let state = &mut self.chunks[chunk][slot..slot + stride];
            if flags & START != 0 {
                if self.params.new_users {
                    state[0] = state[0].min(ts.max(0) as u64);
                } else if ts < self.params.cohort_end_ms
                    && let Some(p) = period.filter(|&p| p < self.params.cohort_periods)
                {
                    state[1 + p / 64] |= 1 << (p % 64);
                }
            }
            if flags & RETURN != 0
                && let Some(p) = period
            {
                state[1 + words + p / 64] |= 1 << (p % 64);
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [blobs] = states else {
            return Err(internal_datafusion_err!("retention state expects 1 column"));
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
        let values = UInt64Array::from(self.counts());
        let field = Arc::new(Field::new_list_field(DataType::UInt64, true));
        let offsets = OffsetBuffer::from_lengths([values.len()]);
        Ok(ScalarValue::List(Arc::new(ListArray::new(
            field,
            offsets,
            Arc::new(values),
            None,
        ))))
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + self.chunks.len() * CHUNK_PERSONS * self.params.stride() * 8
            + self.chunk_index.capacity() * 24
    }
}
