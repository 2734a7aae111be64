//! Event segmentation: per point of the date range (hour, day, week, month in the query's time
//! zone), each series' unique persons or event totals.
//!
//! Plan: scan the range's events (the series' event types only, unless a series is "any
//! event"), with `event_date` pruning → per row the person, the time and the series mask → the
//! `sluice_segmentation` aggregate (`counter.rs`, no `GROUP BY`), which returns every cell's
//! uniques and totals at once.

mod counter;

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::as_uint64_array;
use datafusion::datasource::listing::ListingTable;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{Expr, cast, lit, when};

use crate::error::{QueryError, Result};
use crate::identity::PersonMap;
use crate::property::{column, time_span};
use crate::result::{SegmentationResult, SeriesResult};
use crate::spec::{ANY_EVENT, Interval, Measure, PointIndex, SegmentationQuery, SeriesEvent};
use crate::whole_table::{aggregate_list, counted_event};
use counter::{CounterParams, SegmentationUdaf};

/// Runs `query` over `table` (`None`: no data yet, every count is zero).
pub(crate) async fn run(
    ctx: &SessionContext,
    table: Option<Arc<ListingTable>>,
    persons: &Arc<PersonMap>,
    query: &SegmentationQuery,
    interval: Interval,
) -> Result<SegmentationResult> {
    let cells = query.series.len() * query.buckets.len();
    let counts = match table {
        Some(table) => cell_counts(ctx, table, persons, query).await?,
        None => vec![0; 2 * cells],
    };
    if counts.len() != 2 * cells {
        return Err(QueryError::Internal(format!(
            "segmentation returned {} counts for {cells} cells",
            counts.len()
        )));
    }
    let points = query.buckets.len();
    let total_cells = cells;
    let series = query
        .series
        .iter()
        .enumerate()
        .map(|(s, (event, measure))| {
            let cells = s * points..(s + 1) * points;
            let values = match measure {
                Measure::Uniques => counts[cells].to_vec(),
                Measure::Totals => {
                    counts[total_cells + cells.start..total_cells + cells.end].to_vec()
                }
            };
            let event_type = match event {
                SeriesEvent::Type(name) => name.clone(),
                SeriesEvent::Any => ANY_EVENT.to_owned(),
            };
            SeriesResult {
                event_type,
                measure: *measure,
                values,
            }
        })
        .collect();
    Ok(SegmentationResult {
        interval,
        points: query.buckets.labels.clone(),
        series,
    })
}

/// Uniques of every (series, point) cell, then totals.
async fn cell_counts(
    ctx: &SessionContext,
    table: Arc<ListingTable>,
    persons: &Arc<PersonMap>,
    query: &SegmentationQuery,
) -> Result<Vec<u64>> {
    use datafusion::datasource::TableProvider as _;
    let schema = table.schema();
    let starts = &query.buckets.starts;
    let (Some(&from), Some(&end)) = (starts.first(), starts.last()) else {
        return Ok(Vec::new());
    };
    let mut filter = time_span(from, end - 1);
    if let Some(project) = &query.project {
        filter = filter.and(column("project").eq(lit(project.clone())));
    }
    let any = query.series.iter().any(|(e, _)| *e == SeriesEvent::Any);
    if !any {
        let types: BTreeSet<&str> = query
            .series
            .iter()
            .filter_map(|(e, _)| match e {
                SeriesEvent::Type(name) => Some(name.as_str()),
                SeriesEvent::Any => None,
            })
            .collect();
        filter =
            filter.and(column("event_type").in_list(types.into_iter().map(lit).collect(), false));
    }
    let mut mask = lit(0i64);
    for (s, (event, _)) in query.series.iter().enumerate() {
        let matches = match event {
            SeriesEvent::Type(name) => column("event_type").eq(lit(name.clone())),
            SeriesEvent::Any => counted_event(),
        };
        let matches = match query.series_conditions.get(s) {
            Some(conditions) => conditions.and(matches, &schema),
            None => matches,
        };
        mask = mask | when(matches, lit(1i64 << s)).otherwise(lit(0i64))?;
    }
    let udaf = SegmentationUdaf::new(CounterParams {
        points: Arc::new(PointIndex::new(starts.clone())),
        series: query.series.len(),
    })
    .into_udaf();
    let arguments: Vec<Expr> = vec![
        persons.person_expr(&schema),
        cast(column("event_time"), DataType::Int64),
        mask,
    ];
    let values = aggregate_list(ctx, table, filter, udaf, arguments).await?;
    Ok(as_uint64_array(&values)?.values().to_vec())
}
