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
    let mut lists = aggregate_lists(ctx, table, filter, vec![(aggregate, arguments)]).await?;
    lists
        .pop()
        .ok_or_else(|| QueryError::Internal("aggregate returned no list".to_owned()))
}

/// Runs several list aggregates over the same filtered rows in one scan and returns each one's
/// values, in order.
pub(crate) async fn aggregate_lists(
    ctx: &SessionContext,
    table: Arc<ListingTable>,
    filter: Expr,
    aggregates: Vec<(AggregateUDF, Vec<Expr>)>,
) -> Result<Vec<ArrayRef>> {
    let names: Vec<String> = (0..aggregates.len())
        .map(|i| format!("result{i}"))
        .collect();
    let labels: Vec<String> = aggregates
        .iter()
        .map(|(a, _)| a.name().to_owned())
        .collect();
    let calls = aggregates
        .into_iter()
        .zip(&names)
        .map(|((aggregate, arguments), name)| aggregate.call(arguments).alias(name))
        .collect::<Vec<_>>();
    let batches = ctx
        .read_table(table)?
        .filter(filter)?
        .aggregate(vec![], calls)?
        .collect()
        .await?;
    let mut found = Vec::with_capacity(names.len());
    for (name, label) in names.iter().zip(&labels) {
        let list = batches.iter().find_map(|batch| {
            let lists = as_list_array(batch.column_by_name(name)?).ok()?;
            (lists.len() == 1 && lists.is_valid(0)).then(|| lists.value(0))
        });
        match list {
            Some(list) => found.push(list),
            None => return Err(QueryError::Internal(format!("{label} returned no row"))),
        }
    }
    Ok(found)
}
