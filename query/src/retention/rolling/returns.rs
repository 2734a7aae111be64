//! The return scan of rolling retention: per start group, the windows with a return.
//!
//! `sluice_retention_returns(person, ts)` is used without `GROUP BY` over the return rows and
//! returns the same `List<UInt64>` as the calendar aggregate: per cohort its persons then its
//! returned count per column, then the distinct persons. Each partition holds the window bits
//! of every start group ([`WindowBits::words`] words each) and hands them over without copying;
//! the final phase unites them group by group as it counts.

use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, UInt64Array};
use datafusion::arrow::buffer::{Buffer, ScalarBuffer};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::cast::{as_int64_array, as_list_array, as_uint64_array};
use datafusion::common::{Result, ScalarValue, internal_datafusion_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use super::RollingParams;
use super::starts::Starts;
use crate::person_periods::{PREFETCH_DISTANCE, prefetch};
use crate::retention::persons::{list_scalar, list_type};
use crate::retention::windows::WindowBits;
use crate::shared::Shared;
use crate::spec::RollingWindows;
use crate::whole_table::one_row_list;

/// The fixed parameters of the return scan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ReturnParams {
    /// The start groups the starts scan found.
    pub(crate) starts: Shared<Starts>,
    /// The windows of a group and the columns they answer.
    pub(crate) bits: Arc<WindowBits>,
    pub(crate) windows: RollingWindows,
    /// Number of cohorts.
    pub(crate) cohorts: usize,
}

impl ReturnParams {
    /// The return scan of `params` over the groups `starts`.
    pub(crate) fn new(params: &RollingParams, starts: Starts) -> Self {
        ReturnParams {
            starts: Shared(Arc::new(starts)),
            bits: Arc::new(WindowBits::new(
                params.windows.window_hours,
                &params.columns,
            )),
            windows: params.windows,
            cohorts: params.cohorts.starts().len().saturating_sub(1),
        }
    }

    /// Words of window bits for every group.
    fn state_words(&self) -> usize {
        self.starts.len() * self.bits.words()
    }
}

/// The return scan's aggregate.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct ReturnsUdaf {
    params: ReturnParams,
    signature: Signature,
}

impl ReturnsUdaf {
    pub(crate) fn new(params: ReturnParams) -> Self {
        ReturnsUdaf {
            params,
            signature: Signature::exact(
                vec![DataType::Int64, DataType::Int64],
                Volatility::Immutable,
            ),
        }
    }

    pub(crate) fn into_udaf(self) -> AggregateUDF {
        AggregateUDF::new_from_impl(self)
    }
}

impl AggregateUDFImpl for ReturnsUdaf {
    fn name(&self) -> &str {
        "sluice_retention_returns"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(list_type())
    }

    fn accumulator(&self, _args: AccumulatorArgs<'_>) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(ReturnBits::new(self.params.clone())))
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[windows]", args.name),
            list_type(),
            true,
        ))])
    }
}

/// The window bits of every start group: this partition's (allocated at its first return of
/// a person with starts) and those handed over, read in place.
#[derive(Debug)]
struct ReturnBits {
    params: ReturnParams,
    bits: Vec<u64>,
    handed: Vec<Buffer>,
    /// The rows of the batch being applied: their groups and hour (kept to reuse the
    /// allocation).
    pending: Vec<(Range<usize>, i64)>,
}

impl ReturnBits {
    fn new(params: ReturnParams) -> Self {
        ReturnBits {
            params,
            bits: Vec::new(),
            handed: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Per cohort its persons and returned per column, then the distinct persons.
    fn counts(&self) -> Vec<u64> {
        let p = &self.params;
        let (starts, bits) = (&p.starts, &p.bits);
        let words = bits.words();
        let handed = self.handed.iter().map(|b| b.typed_data::<u64>());
        let sources: Vec<&[u64]> = std::iter::once(&self.bits[..])
            .chain(handed)
            .filter(|s| !s.is_empty())
            .collect();
        let width = 1 + bits.columns();
        let mut cells = vec![0u64; p.cohorts * width];
        let mut distinct = 0u64;
        let mut united = vec![0u64; words];
        let mut g = 0;
        while g < starts.len() {
            let person = starts.person(g);
            distinct += 1;
            while g < starts.len() && starts.person(g) == person {
                let cohort = starts.cohort(g);
                united.fill(0);
                while g < starts.len() && starts.person(g) == person && starts.cohort(g) == cohort {
                    for source in &sources {
                        unite(&mut united, &source[g * words..(g + 1) * words]);
                    }
                    g += 1;
                }
                let row = &mut cells[cohort * width..(cohort + 1) * width];
                row[0] += 1;
                for (j, cell) in row[1..].iter_mut().enumerate() {
                    *cell += u64::from(bits.returned(&united, j));
                }
            }
        }
        cells.push(distinct);
        cells
    }
}

/// ORs the words `from` into `into`.
fn unite(into: &mut [u64], from: &[u64]) {
    for (u, &b) in into.iter_mut().zip(from) {
        *u |= b;
    }
}

impl Accumulator for ReturnBits {
    /// Applies the batch in two passes, as [`PersonPeriods::update`] does: the first finds
    /// each row's groups, the second sets their bits while prefetching the groups of the row
    /// [`PREFETCH_DISTANCE`] ahead, so the cache misses of rows far apart overlap.
    ///
    /// [`PersonPeriods::update`]: crate::person_periods::PersonPeriods::update
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [person, ts] = values else {
            return Err(internal_datafusion_err!(
                "retention returns expect 2 columns, got {}",
                values.len()
            ));
        };
        let (person, ts) = (as_int64_array(person)?, as_int64_array(ts)?);
        let p = &self.params;
        let (starts, words) = (&p.starts, p.bits.words());
        let mut pending = std::mem::take(&mut self.pending);
        pending.clear();
        for i in 0..person.len() {
            if person.is_null(i) || ts.is_null(i) || ts.value(i) >= p.windows.horizon_ms {
                continue;
            }
            let groups = starts.groups_of(person.value(i));
            if !groups.is_empty() {
                pending.push((groups, p.windows.hour_of(ts.value(i))));
            }
        }
        if !pending.is_empty() && self.bits.is_empty() {
            self.bits = vec![0; p.state_words()];
        }
        let spans = starts.spans();
        for (i, (groups, hour)) in pending.iter().enumerate() {
            if let Some((ahead, _)) = pending.get(i + PREFETCH_DISTANCE) {
                prefetch(&spans[ahead.start..]);
                prefetch(&self.bits[ahead.start * words..]);
            }
            // A person's groups are in time order: those after the return hold none of it,
            // and the earlier ones are taken latest first until one was already past.
            let before = spans[groups.clone()].partition_point(|span| span.lo <= *hour);
            for g in (groups.start..groups.start + before).rev() {
                let group_bits = &mut self.bits[g * words..(g + 1) * words];
                if !p.bits.add_return(spans[g], *hour, group_bits) {
                    break;
                }
            }
        }
        self.pending = pending;
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [lists] = states else {
            return Err(internal_datafusion_err!(
                "retention returns state expects 1 column"
            ));
        };
        let lists = as_list_array(lists)?;
        for i in 0..lists.len() {
            if lists.is_null(i) {
                continue;
            }
            let value = lists.value(i);
            let words = as_uint64_array(&value)?;
            match words.len() {
                0 => {}
                n if n == self.params.state_words() && words.null_count() == 0 => {
                    self.handed.push(words.values().inner().clone());
                }
                n => {
                    return Err(internal_datafusion_err!(
                        "retention returns state of {n} words, expected {}",
                        self.params.state_words()
                    ));
                }
            }
        }
        Ok(())
    }

    /// The bits held, as one list: this partition's own without copying them (kept to be
    /// read in place); several sets are united first.
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        if !self.bits.is_empty() {
            self.handed
                .push(Buffer::from_vec(std::mem::take(&mut self.bits)));
        }
        if self.handed.len() > 1 {
            let mut united = vec![0u64; self.params.state_words()];
            for set in &self.handed {
                unite(&mut united, set.typed_data::<u64>());
            }
            self.handed = vec![Buffer::from_vec(united)];
        }
        let values = match self.handed.first() {
            Some(set) => ScalarBuffer::new(set.clone(), 0, set.len() / 8),
            None => ScalarBuffer::from(Vec::<u64>::new()),
        };
        Ok(vec![one_row_list(Arc::new(UInt64Array::new(values, None)))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(list_scalar(self.counts()))
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + 8 * self.bits.capacity()
            + self.handed.iter().map(Buffer::len).sum::<usize>()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::starts::starts_of;
    use super::super::starts::tests::{HOUR, columns_of, params};
    use super::*;

    /// The counts of `returns` (person, time) against `starts`, the rows dealt to
    /// `partitions` partitions in turn, whose states the last one merges.
    pub(crate) fn returns_of(
        params: &RollingParams,
        starts: Starts,
        returns: &[[i64; 2]],
        partitions: usize,
    ) -> Vec<u64> {
        let return_params = ReturnParams::new(params, starts);
        let mut parts: Vec<ReturnBits> = (0..partitions)
            .map(|_| ReturnBits::new(return_params.clone()))
            .collect();
        for (i, row) in returns.iter().enumerate() {
            parts[i % partitions]
                .update_batch(&columns_of(&[*row]))
                .expect("update");
        }
        let mut last = parts.pop().expect("a partition");
        for mut part in parts {
            let state = part.state().expect("state")[0].to_array().expect("array");
            last.merge_batch(&[state]).expect("merge");
        }
        last.counts()
    }

    #[test]
    fn window_bits_are_handed_over_in_place() {
        let starts = starts_of(&params(false), &[[1, HOUR, 0]]);
        let return_params = ReturnParams::new(&params(false), starts);
        let mut acc = ReturnBits::new(return_params.clone());
        acc.update_batch(&columns_of(&[[1, 30 * HOUR]]))
            .expect("update");
        let held = acc.bits.as_ptr();
        let state = acc.state().expect("state")[0].to_array().expect("array");
        let words = as_list_array(&state).expect("list").value(0);
        let words = words.as_any().downcast_ref::<UInt64Array>().expect("u64");
        assert_eq!(words.values().as_ptr(), held);
        // A state of the wrong size is refused.
        let mut other = ReturnBits::new(return_params);
        let wrong: ArrayRef = list_scalar(vec![1, 2]).to_array().expect("array");
        assert!(other.merge_batch(&[wrong]).is_err());
    }
}
