//! Stickiness: per week or month, persons by the number of different days they did an event on
//! (Amplitude's definitions, reference §4.5).
//!
//! Plan: the event's rows in the whole weeks or months → per row the person, the time and a
//! "did it" flag → the `sluice_stickiness` aggregate, whose [`PersonPeriods`] store keeps a day
//! bitmap per person → per period, a popcount of the person's days in it.
//!
//! Each period's denominator is the persons who did the event in it at least once; "exactly N
//! days" counts are the base numbers, "at least N" their running sums from the top.

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::cast::as_uint64_array;
use datafusion::common::{Result as DfResult, ScalarValue, internal_datafusion_err};
use datafusion::datasource::listing::ListingTable;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Expr, Signature, Volatility, cast, lit,
};

use crate::error::{QueryError, Result};
use crate::identity::PersonMap;
use crate::person_periods::{Kept, MARK_A, PeriodLayout, PersonPeriods, bit};
use crate::property::{column, time_span};
use crate::result::{StickinessPeriod, StickinessResult};
use crate::retention::{list_scalar, list_type};
use crate::spec::{PointIndex, StickinessQuery};
use crate::whole_table::{aggregate_list, event_matches};

/// Runs `query` over `table` (`None`: no data yet, every count is zero).
pub(crate) async fn run(
    ctx: &SessionContext,
    table: Option<Arc<ListingTable>>,
    persons: &Arc<PersonMap>,
    query: &StickinessQuery,
) -> Result<StickinessResult> {
    let width = max_days(query);
    let expected = query.periods.len() * width;
    let counts = match table {
        Some(table) => counts(ctx, table, persons, query).await?,
        None => vec![0; expected],
    };
    if counts.len() != expected {
        return Err(QueryError::Internal(format!(
            "stickiness returned {} counts for {expected}",
            counts.len()
        )));
    }
    let periods: Vec<StickinessPeriod> = counts
        .chunks_exact(width.max(1))
        .zip(&query.periods)
        .zip(query.first_days.windows(2))
        .map(|((exactly, label), days)| {
            let exactly = exactly[..days[1] - days[0]].to_vec();
            StickinessPeriod::new(label.clone(), exactly)
        })
        .collect();
    Ok(StickinessResult { periods })
}

/// The most days any period has (7 for weeks, up to 31 for months).
fn max_days(query: &StickinessQuery) -> usize {
    query
        .first_days
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or(0)
}

async fn counts(
    ctx: &SessionContext,
    table: Arc<ListingTable>,
    persons: &Arc<PersonMap>,
    query: &StickinessQuery,
) -> Result<Vec<u64>> {
    use datafusion::datasource::TableProvider as _;
    let schema = table.schema();
    let starts = &query.days.starts;
    let (Some(&from), Some(&end)) = (starts.first(), starts.last()) else {
        return Ok(Vec::new());
    };
    let event = event_matches(&query.event);
    let mut filter = time_span(from, end - 1).and(query.event_conditions.and(event, &schema));
    if let Some(project) = &query.project {
        filter = filter.and(column("project").eq(lit(project.clone())));
    }
    let udaf = AggregateUDF::new_from_impl(StickinessUdaf {
        layout: PeriodLayout {
            points: Arc::new(PointIndex::new(starts.clone())),
            a_end_ms: end,
            a_periods: query.days.len(),
            kept: Kept {
                first: false,
                before: false,
                a: true,
                b: false,
            },
        },
        first_days: Arc::new(query.first_days.clone()),
        width: max_days(query),
        signature: Signature::exact(
            vec![DataType::Int64, DataType::Int64, DataType::Int64],
            Volatility::Immutable,
        ),
    });
    let arguments: Vec<Expr> = vec![
        persons.person_expr(&schema),
        cast(column("event_time"), DataType::Int64),
        lit(MARK_A),
    ];
    let values = aggregate_list(ctx, table, filter, udaf, arguments).await?;
    Ok(as_uint64_array(&values)?.values().to_vec())
}

/// `sluice_stickiness(person, ts, flags)`: per period, persons by exact number of days
/// (`width` values per period, index `n - 1` for n days).
#[derive(Debug, PartialEq, Eq, Hash)]
struct StickinessUdaf {
    layout: PeriodLayout,
    first_days: Arc<Vec<usize>>,
    width: usize,
    signature: Signature,
}

impl AggregateUDFImpl for StickinessUdaf {
    fn name(&self) -> &str {
        "sluice_stickiness"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(list_type())
    }

    fn accumulator(&self, _args: AccumulatorArgs<'_>) -> DfResult<Box<dyn Accumulator>> {
        Ok(Box::new(Stickiness {
            days: PersonPeriods::new(self.layout.clone()),
            first_days: Arc::clone(&self.first_days),
            width: self.width,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> DfResult<Vec<FieldRef>> {
        Ok(vec![PersonPeriods::state_field(format!(
            "{}[persons]",
            args.name
        ))])
    }
}

#[derive(Debug)]
struct Stickiness {
    days: PersonPeriods,
    first_days: Arc<Vec<usize>>,
    width: usize,
}

impl Stickiness {
    fn counts(&self) -> Vec<u64> {
        let periods = self.first_days.len().saturating_sub(1);
        let mut counts = vec![0u64; periods * self.width];
        self.days.for_each(|person| {
            for (p, days) in self.first_days.windows(2).enumerate() {
                let active = (days[0]..days[1]).filter(|&d| bit(person.a, d)).count();
                if active > 0 {
                    counts[p * self.width + active - 1] += 1;
                }
            }
        });
        counts
    }
}

impl Accumulator for Stickiness {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        self.days.update(values)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let [chunks] = states else {
            return Err(internal_datafusion_err!(
                "stickiness state expects 1 column"
            ));
        };
        self.days.merge(chunks)
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        Ok(vec![self.days.state()?])
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        Ok(list_scalar(self.counts()))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.days.size()
    }
}
