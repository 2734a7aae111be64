//! Running one of the analyses' aggregates over the whole filtered table (no `GROUP BY`) and
//! reading back its single result list — the plumbing every per-person analysis shares.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::common::cast::as_list_array;
use datafusion::datasource::listing::ListingTable;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{AggregateUDF, Expr, lit};

use crate::error::{QueryError, Result};
use crate::property::column;

/// Stored event types that are not counted events: identifies update properties (Amplitude does
/// not count `$identify` / `$groupidentify` as events).
const NOT_COUNTED: [&str; 2] = ["$identify", "$groupidentify"];

/// `event_type` is a counted event.
pub(crate) fn counted_event() -> Expr {
    column("event_type").in_list(NOT_COUNTED.iter().map(|t| lit(*t)).collect(), true)
}

/// Runs `aggregate(arguments)` over the rows of `table` passing `filter` and returns the
/// values of the list it answers with (`name` says which analysis, for errors).
pub(crate) async fn aggregate_list(
    ctx: &SessionContext,
    table: Arc<ListingTable>,
    filter: Expr,
    aggregate: AggregateUDF,
    arguments: Vec<Expr>,
) -> Result<ArrayRef> {
    let name = aggregate.name().to_owned();
    let batches = ctx
        .read_table(table)?
        .filter(filter)?
        .aggregate(vec![], vec![aggregate.call(arguments).alias("result")])?
        .collect()
        .await?;
    for batch in &batches {
        let Some(lists) = batch.column_by_name("result") else {
            continue;
        };
        let lists = as_list_array(lists)?;
        if lists.len() == 1 && lists.is_valid(0) {
            return Ok(lists.value(0));
        }
    }
    Err(QueryError::Internal(format!("{name} returned no row")))
}
