//! Retention: cohorts by the calendar period of the start event (in the query's time zone), and
//! who came back N periods later — in rolling windows opened by each start event (Amplitude's
//! default) or in calendar periods (Amplitude's definitions, reference §4.3).
//!
//! Plan: scan the events that can start or return (for "new user" retention every counted event
//! before the end, since a person is new at their first event ever), with `event_date` pruning
//! → per row the person, the time and the start/return flags → one aggregate without
//! `GROUP BY`: `sluice_retention` (`persons.rs`, per-person period bitmaps) for calendar
//! periods, `sluice_retention_rolling` (`rolling.rs`, per-person hours with a start or a
//! return) for rolling windows → the table, and the overall row weighted over the cohorts that have completed each
//! column. With two return events this runs once per return event (two scans), each giving its
//! own table.

mod persons;
mod rolling;
mod windows;

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::as_uint64_array;
use datafusion::datasource::listing::ListingTable;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{Expr, cast, lit, when};

use crate::error::{QueryError, Result};
use crate::filter::Conditions;
use crate::identity::PersonMap;
use crate::person_periods::{Kept, PeriodLayout};
use crate::property::{column, time_span, timestamp};
use crate::result::{RetentionCohort, RetentionOverall, RetentionResult, RetentionSeries};
use crate::spec::{PointIndex, RetentionQuery, ReturnPeriods, SeriesEvent, StartEvent};
use crate::whole_table::{aggregate_list, event_matches};
use persons::{RETURN, RetentionParams, RetentionUdaf, START, START_UNMET};
pub(crate) use persons::{list_scalar, list_type};
use rolling::RollingUdaf;

/// Runs `query` over `table` (`None`: no data yet, every count is zero): one scan and one
/// table per return event.
pub(crate) async fn run(
    ctx: &SessionContext,
    table: Option<Arc<ListingTable>>,
    persons: &Arc<PersonMap>,
    query: &RetentionQuery,
) -> Result<RetentionResult> {
    let mut tables = Vec::with_capacity(query.returns.len());
    for ret in query.returns.iter().zip(&query.return_conditions) {
        let counts = match &table {
            Some(table) => counts(ctx, Arc::clone(table), persons, query, ret).await?,
            None => vec![0; query.cohort_periods * (1 + query.columns.len()) + 1],
        };
        tables.push(cohort_table(query, &counts)?);
    }
    let mut tables = tables.into_iter();
    let Some((cohorts, overall)) = tables.next() else {
        return Err(QueryError::Internal(
            "retention without a return event".into(),
        ));
    };
    let second_return =
        tables
            .next()
            .zip(query.return_labels.get(1))
            .map(|((cohorts, overall), label)| RetentionSeries {
                return_event: label.clone(),
                cohorts,
                overall,
            });
    Ok(RetentionResult {
        columns: query.column_labels.clone(),
        cohorts,
        overall,
        second_return,
    })
}

/// The cohort rows and the overall row from the aggregate's counts (per cohort its persons and
/// returned per column, then the distinct persons).
fn cohort_table(
    query: &RetentionQuery,
    counts: &[u64],
) -> Result<(Vec<RetentionCohort>, RetentionOverall)> {
    let cohorts = query.cohort_periods;
    let width = 1 + query.columns.len();
    if counts.len() != cohorts * width + 1 {
        return Err(QueryError::Internal(format!(
            "retention returned {} counts for {cohorts} cohorts",
            counts.len()
        )));
    }
    let mut rows = Vec::with_capacity(cohorts);
    let mut eligible = vec![0u64; query.columns.len()];
    let mut returned = vec![0u64; query.columns.len()];
    for (c, row) in counts.chunks_exact(width).take(cohorts).enumerate() {
        let complete: Vec<bool> = query
            .columns
            .iter()
            .map(|&(from, to)| {
                // A column is complete once its last period has ended ("or after": its first).
                let last = to.unwrap_or(from + 1);
                column_end_ms(query, c, last).is_some_and(|end| end <= query.now_ms)
            })
            .collect();
        for (j, &done) in complete.iter().enumerate() {
            if done {
                eligible[j] += row[0];
                returned[j] += row[1 + j];
            }
        }
        rows.push(RetentionCohort {
            period: query.buckets.labels[c].clone(),
            persons: row[0],
            returned: row[1..].to_vec(),
            complete,
        });
    }
    let rate = eligible
        .iter()
        .zip(&returned)
        .map(|(&e, &r)| (e > 0).then(|| r as f64 / e as f64))
        .collect();
    let overall = RetentionOverall {
        persons: counts[cohorts * width],
        eligible,
        returned,
        rate,
    };
    Ok((rows, overall))
}

/// When the first `last` periods after cohort `cohort` have ended for every person of the
/// cohort: for calendar periods, the start of period `cohort + last`; for rolling windows, the end
/// of window `last - 1` of a start in the cohort period's last hour.
fn column_end_ms(query: &RetentionQuery, cohort: usize, last: u32) -> Option<i64> {
    let starts = &query.buckets.starts;
    match &query.return_periods {
        ReturnPeriods::Calendar => starts.get(cohort + last as usize).copied(),
        ReturnPeriods::Rolling(windows) => {
            let last_hour = windows.hour_of(starts.get(cohort + 1)? - 1);
            let end_hour = last_hour + i64::from(last) * windows.window_hours;
            Some(windows.hour_start_ms(end_hour))
        }
    }
}

/// Per cohort its persons and returned counts for return event `ret`, then the distinct persons.
async fn counts(
    ctx: &SessionContext,
    table: Arc<ListingTable>,
    persons: &Arc<PersonMap>,
    query: &RetentionQuery,
    (ret, ret_conditions): (&SeriesEvent, &Conditions),
) -> Result<Vec<u64>> {
    use datafusion::datasource::TableProvider as _;
    let schema = table.schema();
    let starts = &query.buckets.starts;
    let (Some(&from), Some(&end)) = (starts.first(), starts.last()) else {
        return Ok(Vec::new());
    };
    // New users start at their first counted event, whatever its values; the conditions say
    // whether that first event opens a cohort (Amplitude: they must hold at the "new user"
    // event), so an unmet one is flagged rather than left out.
    let unmet = match (&query.start, query.start_conditions.expr(&schema)) {
        (StartEvent::New, Some(conditions)) => {
            when(conditions, lit(0i64)).otherwise(lit(START_UNMET))?
        }
        _ => lit(0i64),
    };
    let start_matches = match &query.start {
        StartEvent::New => event_matches(&SeriesEvent::Any),
        StartEvent::Event(event) => query.start_conditions.and(event_matches(event), &schema),
    };
    let return_matches = ret_conditions.and(event_matches(ret), &schema);
    let in_project = |filter: Expr| match &query.project {
        Some(project) => filter.and(column("project").eq(lit(project.clone()))),
        None => filter,
    };
    let person = persons.person_expr(&schema);
    let ts = cast(column("event_time"), DataType::Int64);
    let new_users = matches!(query.start, StartEvent::New);
    let points = Arc::new(PointIndex::new(starts.clone()));
    // Rows are read up to the end of the last period (calendar) or window (rolling) a return
    // is counted in.
    let (read_end, udaf) = match &query.return_periods {
        ReturnPeriods::Calendar => {
            let udaf = RetentionUdaf::new(RetentionParams {
                layout: PeriodLayout {
                    points,
                    a_end_ms: query.cohort_end_ms,
                    a_periods: query.cohort_periods,
                    // New users start at their first time, others in bitmap A.
                    kept: Kept {
                        first: new_users,
                        before: false,
                        a: !new_users,
                        b: true,
                    },
                },
                new_users,
                columns: Arc::new(query.columns.clone()),
            });
            (end, udaf.into_udaf())
        }
        ReturnPeriods::Rolling(windows) => {
            let udaf = RollingUdaf::new(
                points,
                query.cohort_end_ms,
                *windows,
                &query.columns,
                new_users,
            )?;
            (windows.horizon_ms, udaf.into_udaf())
        }
    };
    let mut filter = in_project(match &query.start {
        // New users: every counted event before that end, from the beginning of time.
        StartEvent::New => column("event_time").lt(timestamp(read_end)),
        StartEvent::Event(_) => time_span(from, read_end - 1),
    });
    if let Some(types) = read_types(&query.start, ret) {
        filter = filter.and(types);
    }
    let flags = row_flags(start_matches, unmet, return_matches)?;
    let values = aggregate_list(ctx, table, filter, udaf, vec![person, ts, flags]).await?;
    Ok(as_uint64_array(&values)?.values().to_vec())
}

/// Both modes read start and return rows in one scan: per row, [`START`] (with
/// [`START_UNMET`]) and [`RETURN`].
fn row_flags(start_matches: Expr, start_unmet: Expr, return_matches: Expr) -> Result<Expr> {
    let start = when(start_matches, lit(START) | start_unmet).otherwise(lit(0i64))?;
    let ret = when(return_matches, lit(RETURN)).otherwise(lit(0i64))?;
    Ok(start | ret)
}

/// When both the start and the return are specific event types, only those types are read.
fn read_types(start: &StartEvent, ret: &SeriesEvent) -> Option<Expr> {
    match (start, ret) {
        (StartEvent::Event(SeriesEvent::Type(a)), SeriesEvent::Type(b)) => {
            let types: BTreeSet<&str> = [a.as_str(), b.as_str()].into();
            Some(column("event_type").in_list(types.into_iter().map(lit).collect(), false))
        }
        _ => None,
    }
}
