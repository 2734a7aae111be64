//! Retention in rolling windows, in one scan whose memory follows persons and the days they
//! were active, never the events read.
//!
//! `sluice_retention_rolling(person, ts, flags)` is used without `GROUP BY` over the rows that
//! can start or return (flags as the calendar aggregate's: start, unmet, return) and returns the
//! same `List<UInt64>` as the calendar aggregate: per cohort its persons then its returned count
//! per column, then the distinct persons.
//!
//! 1. **Scan** (`person_hours.rs`): per person and 24-hour block of the date range and of the
//!    windows followed, one word of the hours with a start and the hours with a return; for
//!    "new user" retention, also the person's first counted event ever. Partitions hand their
//!    words over without copying them.
//! 2. **Count** (`cohort_table.rs`): per person, their words sorted by block give the start
//!    groups of each cohort (starts less than a window apart, `windows.rs`) and the return
//!    hours; the windows of each group holding a return, united per cohort, answer the columns.
//!    Chunks of persons are counted in parallel, one thread per core.
//!
//! Windows are counted in whole hours of the local clock (as Amplitude's are), so an hour's
//! bit says all a window needs of the events in it.

mod cohort_table;
mod person_hours;

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue, internal_datafusion_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use crate::handover::buffers_field;
use crate::retention::persons::{list_scalar, list_type};
use crate::spec::{PointIndex, RollingWindows};
use cohort_table::{CohortTable, CountParams};
use person_hours::{HourLayout, PersonHours};

/// The rolling retention aggregate.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct RollingUdaf {
    params: Arc<CountParams>,
    signature: Signature,
}

impl RollingUdaf {
    /// The aggregate of cohorts `cohorts` (their boundaries; the last is the date range's end),
    /// starts before `cohort_end_ms`, windows `windows` and columns `columns` (`[from, to)` in
    /// windows; `None`: every later one); `new_users`: cohorts open on each person's first
    /// counted event ever.
    pub(crate) fn new(
        cohorts: Arc<PointIndex>,
        cohort_end_ms: i64,
        windows: RollingWindows,
        columns: &[(u32, Option<u32>)],
        new_users: bool,
    ) -> crate::error::Result<Self> {
        let from = cohorts.starts().first().copied().unwrap_or(cohort_end_ms);
        let layout = HourLayout::new(windows, from, cohort_end_ms, new_users)?;
        Ok(RollingUdaf {
            params: Arc::new(CountParams::new(
                layout,
                cohorts,
                windows.window_hours,
                columns,
            )),
            signature: Signature::exact(
                vec![DataType::Int64, DataType::Int64, DataType::Int64],
                Volatility::Immutable,
            ),
        })
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
        Ok(Box::new(RollingState::new(Arc::clone(&self.params))))
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> Result<Vec<FieldRef>> {
        Ok(vec![buffers_field(format!("{}[hours]", args.name))])
    }
}

/// One partition's (or the final phase's) persons.
#[derive(Debug)]
struct RollingState {
    params: Arc<CountParams>,
    hours: PersonHours,
}

impl RollingState {
    fn new(params: Arc<CountParams>) -> Self {
        RollingState {
            hours: PersonHours::new(params.layout.clone()),
            params,
        }
    }

    /// Per cohort its persons and returned per column, then the distinct persons: the chunks
    /// of persons dealt in turn to one thread per core (this one and others).
    fn counts(&mut self) -> Result<Vec<u64>> {
        let params = &*self.params;
        let parts = self.hours.parts();
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(parts.len())
            .max(1);
        let count = |first: usize| {
            let mut table = CohortTable::new(params);
            for part in parts.iter().skip(first).step_by(threads) {
                part.for_each(|_, first, words| table.add(first, words));
            }
            table
        };
        std::thread::scope(|scope| {
            let workers: Vec<_> = (1..threads)
                .map(|first| {
                    std::thread::Builder::new()
                        .name("sluice-retention".into())
                        .spawn_scoped(scope, move || count(first))
                        .map_err(|_| first)
                })
                .collect();
            let mut table = count(0);
            for worker in workers {
                match worker {
                    Ok(worker) => {
                        let part = worker.join().map_err(|_| {
                            internal_datafusion_err!("a retention worker thread panicked")
                        })?;
                        table.add_table(&part);
                    }
                    // No thread to be had: these chunks are counted here instead.
                    Err(first) => table.add_table(&count(first)),
                }
            }
            Ok(table.counts())
        })
    }
}

impl Accumulator for RollingState {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.hours.update(values)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [hours] = states else {
            return Err(internal_datafusion_err!(
                "rolling retention state expects 1 column, got {}",
                states.len()
            ));
        };
        self.hours.merge(hours)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.hours.state()?])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(list_scalar(self.counts()?))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.hours.size()
    }
}

#[cfg(test)]
mod tests;
