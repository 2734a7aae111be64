//! Lifecycle: per period, the persons who did the event as new, current or resurrected, and the
//! dormant ones (Amplitude's definitions, reference §4.4).
//!
//! Plan: every counted event up to the end of the last period, from the beginning of time (a
//! person's first event ever makes them new; any earlier doing of the event makes them
//! resurrected rather than new) → per row the person, the time and flags (first-event time,
//! "did the event" in a period, "did it before the tracked periods") → the `sluice_lifecycle`
//! aggregate over a [`PersonPeriods`] store → per period the counts.
//!
//! The state of a person who did the event in period `k`: **new** if their first event ever is
//! in `k`, or if they never did the event before `k`; else **current** if they did it in `k - 1`;
//! else **resurrected**. A person who did it in `k - 1` but not in `k` is **dormant** in `k`,
//! counted under their state in `k - 1`. New, current and resurrected do not overlap, so together
//! they are the period's active persons. (Amplitude's wording leaves open what a person is who
//! first does this event long after their first event; here they are new to the event.)

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::cast::as_uint64_array;
use datafusion::common::{Result as DfResult, ScalarValue, internal_datafusion_err};
use datafusion::datasource::listing::ListingTable;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Expr, Signature, Volatility, cast, lit, when,
};

use crate::error::{QueryError, Result};
use crate::identity::PersonMap;
use crate::person_periods::{
    BEFORE, FIRST, Kept, MARK_A, NO_FIRST, PeriodLayout, PersonPeriods, PersonView, bit,
};
use crate::property::{column, timestamp};
use crate::result::{LifecyclePoint, LifecycleResult};
use crate::retention::{list_scalar, list_type};
use crate::spec::{LIFECYCLE_LEAD, LifecycleQuery, PointIndex};
use crate::whole_table::{aggregate_list, counted_event, event_matches};

/// Counts per reported period: new, current, resurrected, then dormant by previous state.
const PER_PERIOD: usize = 6;

/// A person's state in a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    New,
    Current,
    Resurrected,
}

/// The state of `person` in tracked period `k` (≥ 1), if they did the event in it.
pub(crate) fn state(
    person: &PersonView<'_>,
    first_period: Option<usize>,
    k: usize,
) -> Option<State> {
    if !bit(person.a, k) {
        return None;
    }
    let did_before = person.before || (0..k).any(|j| bit(person.a, j));
    Some(if first_period == Some(k) || !did_before {
        State::New
    } else if bit(person.a, k - 1) {
        State::Current
    } else {
        State::Resurrected
    })
}

/// Runs `query` over `table` (`None`: no data yet, every count is zero).
pub(crate) async fn run(
    ctx: &SessionContext,
    table: Option<Arc<ListingTable>>,
    persons: &Arc<PersonMap>,
    query: &LifecycleQuery,
) -> Result<LifecycleResult> {
    let reported = query.buckets.len().saturating_sub(LIFECYCLE_LEAD);
    let counts = match table {
        Some(table) => counts(ctx, table, persons, query).await?,
        None => vec![0; reported * PER_PERIOD],
    };
    if counts.len() != reported * PER_PERIOD {
        return Err(QueryError::Internal(format!(
            "lifecycle returned {} counts for {reported} periods",
            counts.len()
        )));
    }
    let points = counts
        .chunks_exact(PER_PERIOD)
        .zip(&query.buckets.labels[LIFECYCLE_LEAD..])
        .map(|(c, label)| {
            let dormant = c[3] + c[4] + c[5];
            LifecyclePoint {
                period: label.clone(),
                new: c[0],
                current: c[1],
                resurrected: c[2],
                dormant,
                dormant_new: c[3],
                dormant_current: c[4],
                dormant_resurrected: c[5],
                pulse: (dormant > 0).then(|| (c[0] + c[2]) as f64 / dormant as f64),
            }
        })
        .collect();
    Ok(LifecycleResult { points })
}

async fn counts(
    ctx: &SessionContext,
    table: Arc<ListingTable>,
    persons: &Arc<PersonMap>,
    query: &LifecycleQuery,
) -> Result<Vec<u64>> {
    use datafusion::datasource::TableProvider as _;
    let schema = table.schema();
    let counted = counted_event();
    let event = query
        .event_conditions
        .and(event_matches(&query.event), &schema);
    let mut filter = column("event_time")
        .lt(timestamp(query.end_ms))
        .and(counted.clone());
    if let Some(project) = &query.project {
        filter = filter.and(column("project").eq(lit(project.clone())));
    }
    let flags = lit(FIRST) | when(event, lit(MARK_A | BEFORE)).otherwise(lit(0i64))?;
    let udaf = AggregateUDF::new_from_impl(LifecycleUdaf {
        layout: PeriodLayout {
            points: Arc::new(PointIndex::new(query.buckets.starts.clone())),
            a_end_ms: query.end_ms,
            a_periods: query.buckets.len(),
            kept: Kept {
                first: true,
                before: true,
                a: true,
                b: false,
            },
        },
        signature: Signature::exact(
            vec![DataType::Int64, DataType::Int64, DataType::Int64],
            Volatility::Immutable,
        ),
    });
    let arguments: Vec<Expr> = vec![
        persons.person_expr(&schema),
        cast(column("event_time"), DataType::Int64),
        flags,
    ];
    let values = aggregate_list(ctx, table, filter, udaf, arguments).await?;
    Ok(as_uint64_array(&values)?.values().to_vec())
}

/// `sluice_lifecycle(person, ts, flags)`: the counts of every reported period, as a
/// `List<UInt64>` of [`PER_PERIOD`] values per period.
#[derive(Debug, PartialEq, Eq, Hash)]
struct LifecycleUdaf {
    layout: PeriodLayout,
    signature: Signature,
}

impl AggregateUDFImpl for LifecycleUdaf {
    fn name(&self) -> &str {
        "sluice_lifecycle"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(list_type())
    }

    fn accumulator(&self, _args: AccumulatorArgs<'_>) -> DfResult<Box<dyn Accumulator>> {
        Ok(Box::new(Lifecycle(PersonPeriods::new(self.layout.clone()))))
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> DfResult<Vec<FieldRef>> {
        Ok(vec![PersonPeriods::state_field(format!(
            "{}[persons]",
            args.name
        ))])
    }
}

#[derive(Debug)]
struct Lifecycle(PersonPeriods);

impl Lifecycle {
    fn counts(&self) -> Vec<u64> {
        let layout = self.0.layout();
        let tracked = layout.periods();
        let reported = tracked.saturating_sub(LIFECYCLE_LEAD);
        let mut counts = vec![0u64; reported * PER_PERIOD];
        self.0.for_each(|person| {
            if person.first == NO_FIRST {
                return;
            }
            let first_period = layout.points.point_of(person.first);
            for k in LIFECYCLE_LEAD..tracked {
                let row = &mut counts[(k - LIFECYCLE_LEAD) * PER_PERIOD..][..PER_PERIOD];
                match state(&person, first_period, k) {
                    Some(State::New) => row[0] += 1,
                    Some(State::Current) => row[1] += 1,
                    Some(State::Resurrected) => row[2] += 1,
                    None => match state(&person, first_period, k - 1) {
                        Some(State::New) => row[3] += 1,
                        Some(State::Current) => row[4] += 1,
                        Some(State::Resurrected) => row[5] += 1,
                        None => {}
                    },
                }
            }
        });
        counts
    }
}

impl Accumulator for Lifecycle {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        self.0.update(values)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let [chunks] = states else {
            return Err(internal_datafusion_err!("lifecycle state expects 1 column"));
        };
        self.0.merge(chunks)
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        Ok(vec![self.0.state()?])
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        Ok(list_scalar(self.counts()))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.0.size()
    }
}
