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
//! Partitions hand their rows over sorted, as three columns (person, time, flags) that the final
//! aggregate reads in place.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, ListArray, UInt8Array};
use datafusion::arrow::buffer::{OffsetBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::cast::{as_int64_array, as_list_array, as_uint8_array};
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

/// A run of rows sorted in [`row_order`], as columns: a partition's rows handed over (read in
/// place), or the final aggregate's own.
#[derive(Debug, Clone)]
struct Run {
    person: ScalarBuffer<i64>,
    ts: ScalarBuffer<i64>,
    flags: ScalarBuffer<u8>,
}

impl Run {
    /// `rows`, sorted in [`row_order`], as columns.
    fn from_sorted(rows: &[Row]) -> Run {
        Run {
            person: rows.iter().map(|r| r.person).collect(),
            ts: rows.iter().map(|r| r.ts).collect(),
            flags: rows.iter().map(|r| r.flags).collect(),
        }
    }

    fn len(&self) -> usize {
        self.person.len()
    }

    fn row(&self, i: usize) -> Row {
        Row {
            person: self.person[i],
            ts: self.ts[i],
            flags: self.flags[i],
        }
    }

    fn rows(&self) -> impl Iterator<Item = Row> + '_ {
        (0..self.len()).map(|i| self.row(i))
    }
}

/// The state's columns: the persons, times and flags of the sorted rows.
const STATE_COLUMNS: [(&str, DataType); 3] = [
    ("persons", DataType::Int64),
    ("times", DataType::Int64),
    ("flags", DataType::UInt8),
];

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
        Ok(STATE_COLUMNS
            .iter()
            .map(|(name, data_type)| {
                let item = Arc::new(Field::new_list_field(data_type.clone(), true));
                Arc::new(Field::new(
                    format!("{}[{name}]", args.name),
                    DataType::List(item),
                    true,
                ))
            })
            .collect())
    }
}

/// The rows collected by one partition, and the sorted runs of rows handed over by others.
#[derive(Debug)]
struct RollingRows {
    params: RollingParams,
    rows: Vec<Row>,
    /// Rows handed over by other partitions (and this one's, once sorted), each run sorted by
    /// person, time and flags.
    runs: Vec<Run>,
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

    /// Sorts this partition's rows into one run (with the runs it holds, if any: then every
    /// row is sorted again). Each partition sorts its own rows when it hands them over, in
    /// parallel with the others.
    fn seal(&mut self) {
        if self.rows.is_empty() && self.runs.len() <= 1 {
            return;
        }
        let mut rows = std::mem::take(&mut self.rows);
        rows.extend(self.runs.iter().flat_map(Run::rows));
        self.runs = vec![sorted_run(rows)];
    }

    /// Sorts this partition's own rows into a run beside the others.
    fn sort_own_rows(&mut self) {
        if !self.rows.is_empty() {
            let own = std::mem::take(&mut self.rows);
            self.runs.push(sorted_run(own));
        }
    }

    /// Takes the runs of states written by `state`, read in place (a run not in
    /// [`row_order`] is sorted first).
    fn merge_columns(
        &mut self,
        persons: &ListArray,
        times: &ListArray,
        flags: &ListArray,
    ) -> Result<()> {
        if persons.len() != times.len() || persons.len() != flags.len() {
            return Err(internal_datafusion_err!(
                "rolling retention state of uneven columns"
            ));
        }
        for i in 0..persons.len() {
            if persons.is_null(i) {
                continue;
            }
            let (person, ts, flag) = (persons.value(i), times.value(i), flags.value(i));
            let (person, ts, flag) = (
                as_int64_array(&person)?,
                as_int64_array(&ts)?,
                as_uint8_array(&flag)?,
            );
            if person.len() != ts.len()
                || person.len() != flag.len()
                || person.null_count() + ts.null_count() + flag.null_count() > 0
            {
                return Err(internal_datafusion_err!(
                    "rolling retention state of uneven or null columns"
                ));
            }
            let run = Run {
                person: person.values().clone(),
                ts: ts.values().clone(),
                flags: flag.values().clone(),
            };
            let sorted =
                (1..run.len()).all(|k| row_order(&run.row(k - 1)) <= row_order(&run.row(k)));
            self.runs.push(match sorted {
                true => run,
                false => sorted_run(run.rows().collect()),
            });
        }
        Ok(())
    }

    /// The counts (see the module docs): the runs (this partition's rows sorted as one more)
    /// are walked together, person by person, in the order of their ids.
    fn counts(&mut self) -> Vec<u64> {
        self.sort_own_rows();
        let p = &self.params;
        let mut table = WindowTable::new(p.cohort_count(), p.windows.window_hours, &p.columns);
        let (mut starts, mut returns) = (Vec::new(), Vec::new());
        let mut heads = vec![0usize; self.runs.len()];
        let mut person = Vec::new();
        loop {
            let next = self
                .runs
                .iter()
                .zip(&heads)
                .filter_map(|(run, &head)| run.person.get(head).copied())
                .min();
            let Some(id) = next else { break };
            person.clear();
            for (run, head) in self.runs.iter().zip(heads.iter_mut()) {
                while run.person.get(*head) == Some(&id) {
                    person.push(run.row(*head));
                    *head += 1;
                }
            }
            if self.runs.len() > 1 {
                person.sort_unstable_by_key(row_order);
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

/// `rows` sorted into [`row_order`], as a run.
fn sorted_run(mut rows: Vec<Row>) -> Run {
    sort_by_person(&mut rows, |r| r.person, |r| (r.ts, r.flags));
    Run::from_sorted(&rows)
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
        let [persons, times, flags] = states else {
            return Err(internal_datafusion_err!(
                "rolling retention state expects 3 columns, got {}",
                states.len()
            ));
        };
        self.merge_columns(
            as_list_array(persons)?,
            as_list_array(times)?,
            as_list_array(flags)?,
        )
    }

    /// The sorted rows as three one-value lists whose values are the run's own buffers.
    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.seal();
        let run = self
            .runs
            .first()
            .cloned()
            .unwrap_or_else(|| Run::from_sorted(&[]));
        let columns: [ArrayRef; 3] = [
            Arc::new(Int64Array::new(run.person, None)),
            Arc::new(Int64Array::new(run.ts, None)),
            Arc::new(UInt8Array::new(run.flags, None)),
        ];
        Ok(columns
            .into_iter()
            .zip(STATE_COLUMNS)
            .map(|(values, (_, data_type))| {
                let item = Arc::new(Field::new_list_field(data_type, true));
                let offsets = OffsetBuffer::from_lengths([values.len()]);
                ScalarValue::List(Arc::new(ListArray::new(item, offsets, values, None)))
            })
            .collect())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(list_scalar(self.counts()))
    }

    fn size(&self) -> usize {
        let runs: usize = self.runs.iter().map(Run::len).sum();
        let run_row = 2 * size_of::<i64>() + size_of::<u8>();
        size_of_val(self) + self.rows.capacity() * size_of::<Row>() + runs * run_row
    }
}

#[cfg(test)]
mod tests;
