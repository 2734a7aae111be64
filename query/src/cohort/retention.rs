//! "Returned" / "did not return" (a retention cell as a condition): the person's cohort is the
//! period of their first start event in the range, and they returned when a return event falls
//! in the chosen periods after it — cut as the retention analysis cuts them (`crate::retention`),
//! so that a condition made from a chart's cell holds for exactly the persons the cell counts.
//!
//! - **Calendar** periods: the return's period (of the calendar periods from the range's first
//!   day on) is `cohort + N`.
//! - **Rolling** windows: every start of the cohort's period opens its own windows, window `N`
//!   being hours `[s + N·w, s + (N+1)·w)` after the start's hour `s` (times rounded down to the
//!   hour of the local clock); the person returned in `N` when a return falls in window `N` of
//!   any of those starts. A start's cohort is its hour's, as in the chart.
//! - **New users** (`_new`): the one start is the person's first counted event ever, if it met
//!   the start's conditions (of the events of that millisecond, one meeting them is enough).
//!
//! "Return On or After" is not offered: its last period is the chart's horizon (`periods`
//! after the date range), not something of the cell; a bracket `[N, end)` says it exactly.
//!
//! The grouped scan answers it with a few columns per person: the first start's time (for new
//! users also the first time meeting the conditions), the start hours (rolling), and the
//! distinct periods or hours of the returns.

use std::sync::Arc;

use chrono::NaiveDate;
use chrono_tz::Tz;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::functions_aggregate::expr_fn::{array_agg, min};
use datafusion::logical_expr::{Expr, ExprFunctionExt, ScalarUDF, lit};

use super::day::DayOf;
use super::spec::RetentionCondition;
use super::validate::Matching;
use crate::error::SpecError;
use crate::filter::Conditions;
use crate::property::{column, time_span};
use crate::spec::{
    CalendarInterval, HOUR_MS, Interval, MAX_POINTS, MAX_RETENTION_PERIODS, NEW_USER, PointIndex,
    RetentionBoundaries, buckets, last_day_after, series_event,
};
use crate::whole_table::event_matches;

/// A validated retention condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RetentionTest {
    start: Start,
    returns: Matching,
    /// The cohort periods: the first starts with the range, the last boundary ends it.
    cohorts: Arc<PointIndex>,
    /// The periods after the cohort's that count, `[from, to)`.
    window: (u32, u32),
    cut: Cut,
    /// Holds for the persons who returned, or for those of a cohort who did not.
    returned: bool,
}

/// What starts a cohort.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Start {
    /// The person's first counted event ever, meeting these conditions.
    New(Conditions),
    /// An event of this kind.
    Event(Matching),
}

/// How return periods are cut.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cut {
    /// Calendar periods from the range's first day, through the last one a return counts in.
    Calendar(Arc<PointIndex>),
    /// Windows of `window_hours` from each start's hour; hours begin `phase_ms` past the UTC
    /// hour (the range's first midnight); returns are read before `horizon_ms`.
    Rolling {
        window_hours: i64,
        phase_ms: i64,
        horizon_ms: i64,
    },
}

/// Most cohort periods a condition's range may hold (the retention chart's limit).
const MAX_COHORTS: usize = MAX_POINTS;

fn problem(at: &str, message: impl Into<String>) -> SpecError {
    SpecError::Cohort {
        at: at.to_owned(),
        problem: message.into(),
    }
}

impl RetentionTest {
    /// Checks `condition`, whose starts fall on the days `from..=to` in `tz`.
    pub(crate) fn new(
        condition: &RetentionCondition,
        (from, to): (NaiveDate, NaiveDate),
        tz: Tz,
        at: &str,
    ) -> Result<Self, SpecError> {
        let start = match condition.start_event.event_type.as_str() {
            NEW_USER => Start::New(Conditions::validate(
                &condition.start_event.conditions,
                &format!("{at}.start_event.where"),
            )?),
            _ => Start::Event(matching(&condition.start_event, "start_event", at)?),
        };
        let returns = matching(&condition.return_event, "return_event", at)?;
        let window = match (condition.period, condition.periods) {
            (Some(n), None) if n <= MAX_RETENTION_PERIODS => (n, n + 1),
            (None, Some([a, b])) if a < b && b <= MAX_RETENTION_PERIODS + 1 => (a, b),
            (Some(_), Some(_)) | (None, None) => {
                return Err(problem(at, "give one of \"period\" and \"periods\""));
            }
            _ => {
                return Err(problem(
                    at,
                    format!(
                        "period is at most {MAX_RETENTION_PERIODS}; periods [from, to) needs \
                         from < to <= {}",
                        MAX_RETENTION_PERIODS + 1
                    ),
                ));
            }
        };
        let interval: Interval = condition.interval.into();
        let ws = condition.week_start;
        let cohorts = buckets(from, to, tz, interval, ws);
        if cohorts.len() > MAX_COHORTS {
            return Err(problem(
                &format!("{at}.started_during"),
                format!("holds at most {MAX_COHORTS} periods"),
            ));
        }
        let (Some(&first_ms), Some(&end_ms)) = (cohorts.starts.first(), cohorts.starts.last())
        else {
            return Err(problem(&format!("{at}.started_during"), "holds no day"));
        };
        let cut = match condition.boundaries {
            RetentionBoundaries::Calendar => {
                // Periods through the last one a return of the last cohort counts in.
                let last = last_day_after(to, interval, ws, window.1 - 1)
                    .ok_or_else(|| problem(at, "the periods run past the calendar"))?;
                let periods = buckets(from, last, tz, interval, ws);
                if periods.len() > MAX_POINTS {
                    return Err(problem(
                        at,
                        format!("follows at most {MAX_POINTS} calendar periods"),
                    ));
                }
                Cut::Calendar(Arc::new(PointIndex::new(periods.starts)))
            }
            RetentionBoundaries::Rolling => {
                let window_hours = match condition.interval {
                    CalendarInterval::Day => 24,
                    CalendarInterval::Week => 7 * 24,
                    CalendarInterval::Month => 30 * 24,
                };
                Cut::Rolling {
                    window_hours,
                    phase_ms: first_ms.rem_euclid(HOUR_MS),
                    horizon_ms: end_ms + i64::from(window.1) * window_hours * HOUR_MS,
                }
            }
        };
        Ok(RetentionTest {
            start,
            returns,
            cohorts: Arc::new(PointIndex::new(cohorts.starts)),
            window,
            cut,
            returned: condition.returned,
        })
    }

    /// The scan's columns answering the test, in the order [`RetentionTest::holds`] reads
    /// them: the first start's time, the first time meeting the start's conditions, the start
    /// hours (`List<Int64>`), the return periods or hours (`List<Int64>`).
    pub(crate) fn columns(&self, schema: &Schema) -> Vec<Expr> {
        let time = || datafusion::logical_expr::cast(column("event_time"), DataType::Int64);
        let starts = self.cohorts.starts();
        let (from, end) = (starts[0], starts[starts.len() - 1]);
        let (first, first_met, start_rows) = match &self.start {
            Start::New(conditions) => {
                // Every counted event up to `as_of` is in the scan: its earliest is the first.
                let met = conditions.expr(schema).unwrap_or(lit(true));
                (
                    min(time()),
                    min(time()).filter(met).build().expect("aggregate"),
                    lit(false),
                )
            }
            Start::Event(event) => {
                let rows = matches(event, schema).and(time_span(from, end - 1));
                let first = min(time()).filter(rows.clone()).build().expect("aggregate");
                (first.clone(), first, rows)
            }
        };
        let distinct = |value: Expr, rows: Expr| {
            array_agg(value)
                .filter(rows)
                .distinct()
                .build()
                .expect("aggregate")
        };
        let return_rows = matches(&self.returns, schema);
        let (start_hours, return_values) = match &self.cut {
            Cut::Calendar(periods) => {
                let period = ScalarUDF::new_from_impl(DayOf::new(Arc::clone(periods)));
                let value = period.call(vec![time()]);
                let rows = return_rows.and(value.clone().is_not_null());
                (distinct(lit(0i64), lit(false)), distinct(value, rows))
            }
            Cut::Rolling {
                phase_ms,
                horizon_ms,
                ..
            } => {
                // Event times are after 1970, so division rounds down.
                let hour = (time() - lit(*phase_ms)) / lit(HOUR_MS);
                let rows = return_rows.and(time_span(from, horizon_ms - 1));
                (distinct(hour.clone(), start_rows), distinct(hour, rows))
            }
        };
        vec![first, first_met, start_hours, return_values]
    }

    /// Whether the person holds, from the columns: `first` the first start's time,
    /// `first_met` the first time meeting the start's conditions (new users), `starts` the
    /// start hours and `returns` the return periods or hours.
    pub(crate) fn holds(
        &self,
        first: Option<i64>,
        first_met: Option<i64>,
        starts: &[i64],
        returns: &[i64],
    ) -> bool {
        let Some(first) = first else {
            return false;
        };
        let new_users = matches!(self.start, Start::New(_));
        if new_users && first_met != Some(first) {
            return false;
        }
        let count = self.cohorts.starts().len() - 1;
        let (a, b) = (i64::from(self.window.0), i64::from(self.window.1));
        let returned = match &self.cut {
            Cut::Calendar(_) => {
                let Some(c) = self.cohorts.point_of(first).filter(|&c| c < count) else {
                    return false;
                };
                let c = c as i64;
                returns.iter().any(|&p| (c + a..c + b).contains(&p))
            }
            Cut::Rolling {
                window_hours,
                phase_ms,
                ..
            } => {
                let hour_of = |ms: i64| (ms - phase_ms).div_euclid(HOUR_MS);
                let from = self.cohorts.starts()[0];
                // A start's cohort is its hour's (the chart's rule), new users' by the time.
                let cohort_of_hour = |hour: i64| {
                    self.cohorts
                        .point_of((hour * HOUR_MS + phase_ms).max(from))
                        .filter(|&c| c < count)
                };
                let own: Vec<i64> = if new_users {
                    if self
                        .cohorts
                        .point_of(first)
                        .filter(|&c| c < count)
                        .is_none()
                    {
                        return false;
                    }
                    vec![hour_of(first)]
                } else {
                    let Some(c) = cohort_of_hour(hour_of(first)) else {
                        return false;
                    };
                    starts
                        .iter()
                        .copied()
                        .filter(|&h| cohort_of_hour(h) == Some(c))
                        .collect()
                };
                let w = *window_hours;
                own.iter()
                    .any(|&s| returns.iter().any(|&r| (s + a * w..s + b * w).contains(&r)))
            }
        };
        returned == self.returned
    }
}

fn matching(
    event: &crate::spec::EventRef,
    field: &'static str,
    at: &str,
) -> Result<Matching, SpecError> {
    Ok(Matching {
        event: series_event(event, field).map_err(|e| problem(at, e.to_string()))?,
        conditions: Conditions::validate(&event.conditions, &format!("{at}.{field}.where"))?,
    })
}

/// The rows `event` selects.
fn matches(event: &Matching, schema: &Schema) -> Expr {
    event.conditions.and(event_matches(&event.event), schema)
}
