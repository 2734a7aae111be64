//! The rolling-window retention aggregate: collect each start or return event as a compact
//! row, sort the rows by person (each partition its own, when it hands them over), and walk
//! each person once across the partitions' sorted runs (`windows.rs`).
//!
//! `sluice_retention_rolling(person, ts, flags)` takes the same arguments as the calendar
//! aggregate (`persons.rs`: the person, the event time in Unix ms, [`START`] / [`RETURN`]
//! flags), is used without `GROUP BY` and returns the same `List<UInt64>`: per cohort period
//! its persons then its returned count per column, then the distinct persons.
//!
//! Memory grows with the rows read, never with persons × periods: a row is 24 bytes, and for
//! "new user" retention, whose scan reaches back to the beginning of time, a person's run of
//! rows before the date range is kept as one row, and so is a run of a person's rows of the same
//! kind in one hour (files are sorted by person).
//! Partitions hand their rows over as one binary blob.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::cast::{as_binary_array, as_int64_array};
use datafusion::common::{Result, ScalarValue, internal_datafusion_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use super::persons::{RETURN, START, START_UNMET, list_scalar, list_type};
use super::windows::{Start, WindowTable};
use crate::person_sort::sort_by_person;
use crate::spec::{PointIndex, RollingWindows};

/// The fixed parameters of one rolling retention query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RollingParams {
    /// The cohort periods (calendar periods of the date range).
    pub(crate) cohorts: Arc<PointIndex>,
    /// The windows and how far returns are read.
    pub(crate) windows: RollingWindows,
    /// Cohorts open on the person's first start event ever ("new user"), not on every one.
    pub(crate) new_users: bool,
    /// Each column's windows after the start's, `[from, to)`; `None`: every later one.
    pub(crate) columns: Arc<Vec<(u32, Option<u32>)>>,
}

impl RollingParams {
    fn range_start_ms(&self) -> i64 {
        self.cohorts.starts().first().copied().unwrap_or(i64::MAX)
    }

    fn range_end_ms(&self) -> i64 {
        self.cohorts.starts().last().copied().unwrap_or(i64::MIN)
    }

    fn cohort_count(&self) -> usize {
        self.cohorts.starts().len().saturating_sub(1)
    }
}

/// Row flag: a start event.
const ROW_START: u8 = 1;
/// Row flag: a return event.
const ROW_RETURN: u8 = 2;
/// Row flag ("new user" retention): the person had a counted event before the date range.
const ROW_EARLIER: u8 = 4;
/// Row flag ("new user" retention), with [`ROW_START`]: the event does not meet the start
/// event's conditions (sorting after one that does in the same millisecond).
const ROW_UNMET: u8 = 8;

/// One collected event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Row {
    person: i64,
    ts: i64,
    flags: u8,
}

/// Bytes of one row in the state blob.
const ROW_BYTES: usize = 17;

/// The rolling retention aggregate of one query.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct RollingUdaf {
    params: RollingParams,
    signature: Signature,
}

impl RollingUdaf {
    pub(crate) fn new(params: RollingParams) -> Self {
        RollingUdaf {
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

impl AggregateUDFImpl for RollingUdaf {
    fn name(&self) -> &str {
        "sluice_retention_rolling"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(list_type())
    }

    fn accumulator(&self, _args: AccumulatorArgs<'_>) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(RollingRows {
            params: self.params.clone(),
            rows: Vec::new(),
            runs: Vec::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[rows]", args.name),
            DataType::Binary,
            true,
        ))])
    }
}

/// The rows collected by one partition, and the sorted runs of rows handed over by others.
#[derive(Debug)]
struct RollingRows {
    params: RollingParams,
    rows: Vec<Row>,
    /// Rows handed over by other partitions, each sorted by person, time and flags.
    runs: Vec<Vec<Row>>,
}

impl RollingRows {
    /// The row for an event, if it can matter.
    fn row(&self, person: i64, ts: i64, flags: i64) -> Option<Row> {
        let p = &self.params;
        let in_range = ts >= p.range_start_ms();
        let mut row_flags = 0;
        if flags & START != 0 && ts < p.range_end_ms() {
            row_flags |= match (in_range, p.new_users) {
                (true, true) if flags & START_UNMET != 0 => ROW_START | ROW_UNMET,
                (true, _) => ROW_START,
                (false, true) => ROW_EARLIER,
                (false, false) => 0,
            };
        }
        // A return before the range precedes every start's hour (the range starts on an hour).
        if flags & RETURN != 0 && in_range && ts < p.windows.horizon_ms {
            row_flags |= ROW_RETURN;
        }
        (row_flags != 0).then_some(Row {
            person,
            ts,
            flags: row_flags,
        })
    }

    /// Keeps `row`, unless the last row kept says the same: the same person and flags, and
    /// before the range, or in the same hour (and, for a start, the same cohort). The walk only
    /// reads a row's hour and whether it is the person's earliest of its kind, so the pair
    /// becomes one row at the earlier time. Files are sorted by person, so a busy person's
    /// events of an hour arrive together and shrink to one row.
    fn push(&mut self, row: Row) {
        let p = &self.params;
        if let Some(last) = self.rows.last_mut()
            && last.person == row.person
            && last.flags == row.flags
        {
            if row.flags == ROW_EARLIER {
                return;
            }
            let same_hour = p.windows.hour_of(last.ts) == p.windows.hour_of(row.ts);
            let same_cohort = row.flags & ROW_START == 0
                || p.cohorts.point_of(last.ts) == p.cohorts.point_of(row.ts);
            if same_hour && same_cohort {
                last.ts = last.ts.min(row.ts);
                return;
            }
        }
        self.rows.push(row);
    }

    /// Every row, sorted by person, time and flags, as one blob: each partition sorts its own
    /// rows when it hands them over, in parallel with the others.
    fn encode(&mut self) -> Vec<u8> {
        for run in std::mem::take(&mut self.runs) {
            self.rows.extend(run);
        }
        sort_rows(&mut self.rows);
        let mut out = Vec::with_capacity(self.rows.len() * ROW_BYTES);
        for row in &self.rows {
            out.extend_from_slice(&row.person.to_le_bytes());
            out.extend_from_slice(&row.ts.to_le_bytes());
            out.push(row.flags);
        }
        out
    }

    fn merge_blob(&mut self, blob: &[u8]) -> Result<()> {
        if !blob.len().is_multiple_of(ROW_BYTES) {
            return Err(internal_datafusion_err!(
                "rolling retention state of {} bytes",
                blob.len()
            ));
        }
        let word = |bytes: &[u8]| i64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]));
        let mut run: Vec<Row> = blob
            .chunks_exact(ROW_BYTES)
            .map(|bytes| Row {
                person: word(&bytes[..8]),
                ts: word(&bytes[8..16]),
                flags: bytes[16],
            })
            .collect();
        if !run.is_sorted_by_key(row_order) {
            sort_rows(&mut run);
        }
        self.runs.push(run);
        Ok(())
    }

    /// The counts (see the module docs): the runs (this partition's rows sorted as one more)
    /// are walked together, person by person, in the order of their ids.
    fn counts(&mut self) -> Vec<u64> {
        let p = &self.params;
        if !self.rows.is_empty() {
            let mut own = std::mem::take(&mut self.rows);
            sort_rows(&mut own);
            self.runs.push(own);
        }
        let mut table = WindowTable::new(p.cohort_count(), p.windows.window_hours, &p.columns);
        let (mut starts, mut returns) = (Vec::new(), Vec::new());
        let mut heads = vec![0usize; self.runs.len()];
        let mut person = Vec::new();
        loop {
            let next = self
                .runs
                .iter()
                .zip(&heads)
                .filter_map(|(run, &head)| run.get(head).map(|r| r.person))
                .min();
            let Some(id) = next else { break };
            person.clear();
            for (run, head) in self.runs.iter().zip(heads.iter_mut()) {
                let from = *head;
                while run.get(*head).is_some_and(|r| r.person == id) {
                    *head += 1;
                }
                person.extend_from_slice(&run[from..*head]);
            }
            if self.runs.len() > 1 {
                person.sort_unstable_by_key(|r| (r.ts, r.flags));
            }
            let person = &person[..];
            starts.clear();
            returns.clear();
            let start_of = |row: &Row| {
                p.cohorts.point_of(row.ts).map(|cohort| Start {
                    cohort,
                    hour: p.windows.hour_of(row.ts),
                })
            };
            if p.new_users {
                // The person's first counted event, if it is in the range and meets the
                // conditions (in one millisecond, an event meeting them sorts first).
                let first = person
                    .iter()
                    .find(|r| r.flags & (ROW_START | ROW_EARLIER) != 0);
                if let Some(first) = first.filter(|r| r.flags & (ROW_EARLIER | ROW_UNMET) == 0) {
                    starts.extend(start_of(first));
                }
            } else {
                let rows = person.iter().filter(|r| r.flags & ROW_START != 0);
                starts.extend(rows.filter_map(start_of));
            }
            let rows = person.iter().filter(|r| r.flags & ROW_RETURN != 0);
            returns.extend(rows.map(|r| p.windows.hour_of(r.ts)));
            // Starts (returns) in one hour have the same windows: a busy person's thousands of
            // events shrink to at most a few per hour.
            starts.dedup();
            returns.dedup();
            table.add_person(&starts, &returns);
        }
        table.into_counts()
    }
}

/// The order the walk reads rows in: by person, then time, then flags (in one millisecond, a
/// start meeting the conditions before one that does not).
fn row_order(row: &Row) -> (i64, i64, u8) {
    (row.person, row.ts, row.flags)
}

/// Sorts rows into [`row_order`].
fn sort_rows(rows: &mut Vec<Row>) {
    sort_by_person(rows, |r| r.person, |r| (r.ts, r.flags));
}

impl Accumulator for RollingRows {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [person, ts, flags] = values else {
            return Err(internal_datafusion_err!(
                "rolling retention expects 3 columns, got {}",
                values.len()
            ));
        };
        let (person, ts, flags) = (
            as_int64_array(person)?,
            as_int64_array(ts)?,
            as_int64_array(flags)?,
        );
        for i in 0..person.len() {
            if person.is_null(i) || ts.is_null(i) || flags.is_null(i) {
                continue;
            }
            if let Some(row) = self.row(person.value(i), ts.value(i), flags.value(i)) {
                self.push(row);
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [blobs] = states else {
            return Err(internal_datafusion_err!(
                "rolling retention state expects 1 column"
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
        Ok(list_scalar(self.counts()))
    }

    fn size(&self) -> usize {
        let runs: usize = self.runs.iter().map(Vec::capacity).sum();
        size_of_val(self) + (self.rows.capacity() + runs) * size_of::<Row>()
    }
}

#[cfg(test)]
mod tests;
