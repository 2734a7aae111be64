//! The retention aggregate: per person, in which periods they started and returned.
//!
//! `sluice_retention(person, ts, flags)` takes per row the person (`Int64`), the event time
//! (Unix ms) and flags (bit 0: the row is a start event — for "new user" retention, any counted
//! event, whose earliest time is the person's first; bit 1: the row is a return event; bit 2:
//! for "new user" retention, the start does not meet the start event's conditions). It is
//! used without `GROUP BY` and returns a `List<UInt64>`: per cohort period its persons then its
//! returned count per column, followed by the number of distinct persons in any cohort.
//!
//! Per person it keeps the earliest start time and two bitmaps over the periods (started in,
//! returned in): a [`PersonPeriods`] store, so a 98-period query over 1 M persons holds ≈ 50 MB
//! and a row costs a table lookup and a couple of bit sets.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, internal_datafusion_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use crate::person_periods::{
    FIRST, FIRST_KEYED, FIRST_UNMET, MARK_A, MARK_B, PeriodLayout, PersonPeriods, any_bit,
    first_keyed, set_bits,
};
use crate::whole_table::one_row_list;

/// Flag: the row is a start event.
pub(crate) const START: i64 = 1;
/// Flag: the row is a return event.
pub(crate) const RETURN: i64 = 2;
/// Flag ("new user" retention with conditions): the row, a start, does not meet the start
/// event's conditions; a person whose first event ever does not meet them is in no cohort.
pub(crate) const START_UNMET: i64 = 4;

/// The fixed parameters of one retention query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RetentionParams {
    /// The periods (from the first cohort period to the last followed), and which can open
    /// cohorts: the first `a_periods`, with start events before `a_end_ms` (the end of the date
    /// range, which may cut the last week or month).
    pub(crate) layout: PeriodLayout,
    /// Cohorts open on the person's first start event ever ("new user"), not on every one.
    pub(crate) new_users: bool,
    /// Each column's periods after the cohort's, `[from, to)`; `None`: to the last one.
    pub(crate) columns: Arc<Vec<(u32, Option<u32>)>>,
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
        Ok(list_type())
    }

    fn accumulator(&self, _args: AccumulatorArgs<'_>) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Persons {
            periods: PersonPeriods::new(self.params.layout.clone()),
            params: self.params.clone(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> Result<Vec<FieldRef>> {
        Ok(vec![PersonPeriods::state_field(format!(
            "{}[persons]",
            args.name
        ))])
    }
}

/// `List<UInt64>`: what the per-person aggregates return.
pub(crate) fn list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::UInt64, true)))
}

/// `counts` as a one-row `List<UInt64>` scalar.
pub(crate) fn list_scalar(counts: Vec<u64>) -> ScalarValue {
    one_row_list(Arc::new(UInt64Array::from(counts)))
}

/// The per-person state of every person seen.
#[derive(Debug)]
pub(crate) struct Persons {
    params: RetentionParams,
    periods: PersonPeriods,
}

impl Persons {
    /// The counts (see the module docs).
    fn counts(&self) -> Vec<u64> {
        let p = &self.params;
        let layout = self.periods.layout();
        let (periods, cohort_periods) = (layout.periods(), layout.a_periods);
        let columns = p.columns.len();
        let masks = ColumnMasks::new(&p.columns, cohort_periods, periods);
        let mut cohorts = vec![0u64; cohort_periods * (1 + columns)];
        let mut distinct = 0u64;
        self.periods.for_each(|person| {
            let mut in_a_cohort = false;
            let mut count_cohort = |c: usize| {
                in_a_cohort = true;
                let row = &mut cohorts[c * (1 + columns)..(c + 1) * (1 + columns)];
                row[0] += 1;
                masks.count_returns(c, person.b, &mut row[1..]);
            };
            if p.new_users {
                if let Some((first, true)) = first_keyed(person.first)
                    && first < layout.a_end_ms
                    && let Some(c) = layout.points.point_of(first)
                    && c < cohort_periods
                {
                    count_cohort(c);
                }
            } else {
                for c in set_bits(person.a).take_while(|&c| c < cohort_periods) {
                    count_cohort(c);
                }
            }
            distinct += u64::from(in_a_cohort);
        });
        cohorts.push(distinct);
        cohorts
    }
}

/// Each column's periods of each cohort as a mask over the 128 periods from the cohort's, so a
/// person's returns in every column are read with one shift and one `and` each; columns reaching
/// further are read bit by bit.
struct ColumnMasks {
    /// Per cohort, per column: the mask, or `None` when the column reaches past 128 periods.
    masks: Vec<Option<u128>>,
    /// Per cohort, per column: the column's periods, absolute `[from, to)`.
    ranges: Vec<(usize, usize)>,
    columns: usize,
}

impl ColumnMasks {
    fn new(columns: &[(u32, Option<u32>)], cohorts: usize, periods: usize) -> Self {
        let mut masks = Vec::with_capacity(cohorts * columns.len());
        let mut ranges = Vec::with_capacity(cohorts * columns.len());
        for c in 0..cohorts {
            for &(from, to) in columns {
                let from = c + from as usize;
                let to = to.map_or(periods, |to| (c + to as usize).min(periods));
                ranges.push((from, to));
                let (start, end) = (from - c, to.saturating_sub(c));
                masks.push(match end {
                    _ if end <= start => Some(0),
                    end if end <= 128 => Some((u128::MAX >> (128 - (end - start))) << start),
                    _ => None,
                });
            }
        }
        ColumnMasks {
            masks,
            ranges,
            columns: columns.len(),
        }
    }

    /// Adds 1 to `row[j]` for each column `j` in which a person of cohort `c` with return
    /// bitmap `b` returned.
    fn count_returns(&self, c: usize, b: &[u64], row: &mut [u64]) {
        let at = c * self.columns;
        let window = bits_from(b, c);
        for (j, count) in row.iter_mut().enumerate() {
            let returned = match self.masks[at + j] {
                Some(mask) => window & mask != 0,
                None => {
                    let (from, to) = self.ranges[at + j];
                    any_bit(b, from, to)
                }
            };
            *count += u64::from(returned);
        }
    }
}

/// Bits `start..start + 128` of `words` (bit `start` lowest), zero past the end.
fn bits_from(words: &[u64], start: usize) -> u128 {
    let (word, shift) = (start / 64, start % 64);
    let get = |i: usize| u128::from(words.get(i).copied().unwrap_or(0));
    let low = get(word) | get(word + 1) << 64;
    match shift {
        0 => low,
        s => low >> s | get(word + 2) << (128 - s),
    }
}

impl Accumulator for Persons {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        // Retention's flags become the store's: a start is the first time (new users) or a
        // bit in A; a return is a bit in B.
        let [person, ts, flags] = values else {
            return Err(internal_datafusion_err!(
                "retention aggregate expects 3 columns, got {}",
                values.len()
            ));
        };
        // New users: the earliest start, keyed so that it also says whether it met the
        // conditions.
        let new_users = self.params.new_users;
        let flags = datafusion::common::cast::as_int64_array(flags)?;
        let mapped: datafusion::arrow::array::Int64Array = flags.unary(|f| {
            let start = match (f & START != 0, new_users) {
                (false, _) => 0,
                (true, false) => MARK_A,
                (true, true) if f & START_UNMET != 0 => FIRST | FIRST_KEYED | FIRST_UNMET,
                (true, true) => FIRST | FIRST_KEYED,
            };
            start | (if f & RETURN != 0 { MARK_B } else { 0 })
        });
        let mapped: ArrayRef = Arc::new(mapped);
        self.periods
            .update(&[Arc::clone(person), Arc::clone(ts), mapped])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [chunks] = states else {
            return Err(internal_datafusion_err!("retention state expects 1 column"));
        };
        self.periods.merge(chunks)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.periods.state()?])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(list_scalar(self.counts()))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.periods.size()
    }
}

#[cfg(test)]
mod tests;
