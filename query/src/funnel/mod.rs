//! The funnel analysis: plan a [`FunnelQuery`] onto DataFusion and read back the counts.
//!
//! Plan: scan events in `[entry_from, entry_to + window]` whose type is one of the steps (with
//! `event_date` partition pruning) → per row the time, the step mask and the breakdown value →
//! `sluice_funnel` aggregate grouped by person (and the values of held properties) → group by
//! (breakdown, level) and count. Only that
//! last, small table comes back to Rust. No joins, no window functions.

mod accumulator;
mod path;
mod state;
mod udaf;

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::{as_int64_array, as_string_array, as_uint8_array};
use datafusion::datasource::listing::ListingTable;
use datafusion::execution::context::SessionContext;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{Expr, cast, lit, when};
use datafusion::prelude::get_field;

use crate::error::{QueryError, Result};
use crate::identity::PersonMap;
use crate::property::{column, null_text, resolve, time_span};
use crate::result::FunnelResult;
use crate::spec::{Breakdown, FunnelQuery};
use path::FunnelParams;
use udaf::{BREAKDOWN_FIELD, FunnelUdaf, LEVEL_FIELD};

/// Runs `query` over `table` (`None`: no data yet, every count is zero).
pub(crate) async fn run(
    ctx: &SessionContext,
    table: Option<Arc<ListingTable>>,
    persons: &Arc<PersonMap>,
    query: &FunnelQuery,
    breakdown: Option<Breakdown>,
) -> Result<FunnelResult> {
    let steps = query.steps.clone();
    let Some(table) = table else {
        return Ok(FunnelResult::from_levels(steps, breakdown, []));
    };
    let groups = level_counts(ctx, table, persons, query).await?;
    Ok(FunnelResult::from_levels(steps, breakdown, groups))
}

/// `(breakdown value, level, persons)` for every level >= 1.
async fn level_counts(
    ctx: &SessionContext,
    table: Arc<ListingTable>,
    persons: &Arc<PersonMap>,
    query: &FunnelQuery,
) -> Result<Vec<(Option<String>, u8, u64)>> {
    use datafusion::datasource::TableProvider as _;
    let schema = table.schema();
    let steps = u8::try_from(query.steps.len())
        .map_err(|_| QueryError::Internal("too many funnel steps".into()))?;
    let funnel = FunnelUdaf::new(FunnelParams {
        steps,
        window_ms: query.window_ms,
        entry_from_ms: query.entry_from_ms,
        entry_to_ms: query.entry_to_ms,
    })
    .into_udaf();
    let breakdown = match &query.breakdown {
        Some(property) => when(step_matches(query, 0), resolve(property, &schema)).end()?,
        None => null_text(),
    };
    let arguments = vec![
        cast(column("event_time"), DataType::Int64),
        step_mask(query)?,
        cast(breakdown, DataType::Utf8),
    ];
    // Held properties join the person in the group key, so each (person, values) pair runs its
    // own funnel; events lacking a held value cannot be on any path.
    let mut group = vec![persons.person_expr(&schema).alias("person")];
    let mut filter = scan_filter(query);
    for (i, property) in query.hold_constant.iter().enumerate() {
        let value = resolve(property, &schema);
        filter = filter.and(value.clone().is_not_null());
        group.push(value.alias(format!("held_{i}")));
    }
    let batches = ctx
        .read_table(table)?
        .filter(filter)?
        .aggregate(group, vec![funnel.call(arguments).alias("funnel")])?
        .select(vec![
            get_field(column("funnel"), LEVEL_FIELD).alias("level"),
            get_field(column("funnel"), BREAKDOWN_FIELD).alias("breakdown"),
        ])?
        .filter(column("level").gt(lit(0u8)))?
        .aggregate(
            vec![column("breakdown"), column("level")],
            vec![count(lit(1i64)).alias("persons")],
        )?
        .collect()
        .await?;
    let mut groups = Vec::new();
    for batch in &batches {
        let (Some(values), Some(levels), Some(persons)) = (
            batch.column_by_name("breakdown"),
            batch.column_by_name("level"),
            batch.column_by_name("persons"),
        ) else {
            return Err(QueryError::Internal("funnel counts lack a column".into()));
        };
        let values = as_string_array(values)?;
        let levels = as_uint8_array(levels)?;
        let persons = as_int64_array(persons)?;
        for row in 0..batch.num_rows() {
            let value = values.is_valid(row).then(|| values.value(row).to_owned());
            let count = u64::try_from(persons.value(row))
                .map_err(|_| QueryError::Internal("negative person count".into()))?;
            groups.push((value, levels.value(row), count));
        }
    }
    Ok(groups)
}

/// Rows that can matter: the right project, a step's event type, inside the scanned time span;
/// plus the same span as `event_date` folders (one day of margin each side, since folders are
/// dated in the project's time zone and the span is in UTC).
fn scan_filter(query: &FunnelQuery) -> Expr {
    let from = query.entry_from_ms;
    let to = query.scan_to_ms();
    let types: BTreeSet<&str> = query.steps.iter().map(String::as_str).collect();
    let mut filter = time_span(from, to)
        .and(column("event_type").in_list(types.into_iter().map(lit).collect(), false));
    if let Some(project) = &query.project {
        filter = filter.and(column("project").eq(lit(project.clone())));
    }
    filter
}

/// `event_type = <type of step k>`.
fn step_matches(query: &FunnelQuery, k: usize) -> Expr {
    column("event_type").eq(lit(query.steps[k].clone()))
}

/// Bit `k` set when the row matches step `k + 1`: one CASE per step, OR-ed, so a row can match
/// several steps (repeated event types).
fn step_mask(query: &FunnelQuery) -> Result<Expr> {
    let mut mask = lit(0i64);
    for k in 0..query.steps.len() {
        mask = mask | when(step_matches(query, k), lit(1i64 << k)).otherwise(lit(0i64))?;
    }
    Ok(mask)
}
