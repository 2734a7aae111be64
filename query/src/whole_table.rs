//! Running one of the analyses' aggregates over the whole filtered table (no `GROUP BY`) and
//! reading back its single result list — the plumbing every per-person analysis shares.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::Field;
use datafusion::common::ScalarValue;
use datafusion::common::cast::as_list_array;
use datafusion::datasource::listing::ListingTable;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{AggregateUDF, Expr, lit};

use crate::error::{QueryError, Result};
use crate::property::column;
use crate::spec::SeriesEvent;

/// Stored event types that are not counted events: identifies update properties (Amplitude does
/// not count `$identify` / `$groupidentify` as events).
const NOT_COUNTED: [&str; 2] = ["$identify", "$groupidentify"];

/// `event_type` is a counted event.
pub(crate) fn counted_event() -> Expr {
    column("event_type").in_list(NOT_COUNTED.iter().map(|t| lit(*t)).collect(), true)
}

/// A row is a counted event of `event`: of its type, or any counted event.
pub(crate) fn event_matches(event: &SeriesEvent) -> Expr {
    match event {
        SeriesEvent::Type(name) => column("event_type").eq(lit(name.clone())),
        SeriesEvent::Any => counted_event(),
    }
}

/// `values` as a one-row list scalar: how an aggregate without `GROUP BY` hands over a column
/// of its state or answers with a list (read back by [`aggregate_list`]).
pub(crate) fn one_row_list(values: ArrayRef) -> ScalarValue {
    let field = Arc::new(Field::new_list_field(values.data_type().clone(), true));
    let offsets = OffsetBuffer::from_lengths([values.len()]);
    ScalarValue::List(Arc::new(ListArray::new(field, offsets, values, None)))
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
    let labels: Vec<String> = aggregates
        .iter()
        .map(|(a, _)| a.name().to_owned())
        .collect();
    let rows = aggregate_row(ctx, table, filter, aggregates).await?;
    rows.iter()
        .zip(&labels)
        .map(|(row, label)| {
            let lists = as_list_array(row)?;
            match lists.is_valid(0) {
                true => Ok(lists.value(0)),
                false => Err(QueryError::Internal(format!("{label} returned null"))),
            }
        })
        .collect()
}

/// Runs several aggregates over the same filtered rows in one scan (no `GROUP BY`) and returns
/// each one's answer as a one-row array, in order.
pub(crate) async fn aggregate_row(
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
        let row = batches.iter().find_map(|batch| {
            let column = batch.column_by_name(name)?;
            (column.len() == 1).then(|| column.clone())
        });
        match row {
            Some(row) => found.push(row),
            None => return Err(QueryError::Internal(format!("{label} returned no row"))),
        }
    }
    Ok(found)
}
