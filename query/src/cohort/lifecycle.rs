//! "Was new / current / resurrected / dormant in the interval starting on day D" (a lifecycle
//! bar as a condition): the state is decided by the lifecycle analysis's own rule
//! (`crate::lifecycle::state`) from what the grouped scan gives per person — their first
//! counted event, whether they did the event before the two intervals preceding D's, and in
//! which of those three intervals they did it — so that a condition made from a chart's bar
//! holds for exactly the persons the bar counts.

use std::sync::Arc;

use chrono::{Days, Months, NaiveDate};
use chrono_tz::Tz;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::functions_aggregate::expr_fn::{count, min};
use datafusion::logical_expr::{Expr, lit, when};

use super::spec::{LifecycleCondition, LifecycleState};
use super::validate::Matching;
use crate::error::SpecError;
use crate::filter::Conditions;
use crate::lifecycle::{State, state};
use crate::person_periods::PersonView;
use crate::property::{column, time_span, timestamp};
use crate::spec::{CalendarInterval, Interval, PointIndex, buckets, first_day_of, series_event};
use crate::whole_table::event_matches;

/// Intervals read: the two before the one asked about (as the chart's lead), and it.
const READ: usize = 3;

/// A validated lifecycle condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LifecycleTest {
    event: Matching,
    state: LifecycleState,
    /// The boundaries of the three intervals read; the asked one is the last.
    periods: Arc<PointIndex>,
}

fn problem(at: &str, message: impl Into<String>) -> SpecError {
    SpecError::Cohort {
        at: at.to_owned(),
        problem: message.into(),
    }
}

impl LifecycleTest {
    /// Checks `condition`, its days in `tz`.
    pub(crate) fn new(condition: &LifecycleCondition, tz: Tz, at: &str) -> Result<Self, SpecError> {
        let event = Matching {
            event: series_event(&condition.event, "event")
                .map_err(|e| problem(at, e.to_string()))?,
            conditions: Conditions::validate(
                &condition.event.conditions,
                &format!("{at}.event.where"),
            )?,
        };
        let day = NaiveDate::parse_from_str(&condition.starting, "%Y-%m-%d").map_err(|_| {
            problem(
                &format!("{at}.in"),
                format!("{:?} is not a date in YYYY-MM-DD form", condition.starting),
            )
        })?;
        let interval: Interval = condition.interval.into();
        let first = first_day_of(day, interval, condition.week_start);
        if first != day {
            return Err(problem(
                &format!("{at}.in"),
                format!(
                    "{day} does not start a {}: give {first}",
                    interval_name(condition.interval)
                ),
            ));
        }
        let earlier = match condition.interval {
            CalendarInterval::Day => day.checked_sub_days(Days::new(2)),
            CalendarInterval::Week => day.checked_sub_days(Days::new(14)),
            CalendarInterval::Month => day.checked_sub_months(Months::new(2)),
        };
        let last = match condition.interval {
            CalendarInterval::Day => Some(day),
            CalendarInterval::Week => day.checked_add_days(Days::new(6)),
            CalendarInterval::Month => day
                .checked_add_months(Months::new(1))
                .and_then(|next| next.checked_sub_days(Days::new(1))),
        };
        let (Some(earlier), Some(last)) = (earlier, last) else {
            return Err(problem(
                &format!("{at}.in"),
                "too close to the ends of the calendar",
            ));
        };
        let periods = buckets(earlier, last, tz, interval, condition.week_start);
        if periods.len() != READ {
            return Err(SpecError::Cohort {
                at: format!("{at}.in"),
                problem: "the intervals could not be cut".to_owned(),
            });
        }
        Ok(LifecycleTest {
            event,
            state: condition.state,
            periods: Arc::new(PointIndex::new(periods.starts)),
        })
    }

    /// The scan's columns answering the test, in the order [`LifecycleTest::holds`] reads
    /// them: the first counted event's time, then counts of the event before the intervals
    /// read and in each of them.
    pub(crate) fn columns(&self, schema: &Schema) -> Vec<Expr> {
        let time = datafusion::logical_expr::cast(column("event_time"), DataType::Int64);
        let rows = self
            .event
            .conditions
            .and(event_matches(&self.event.event), schema);
        let starts = self.periods.starts();
        let counted = |when_: Expr| {
            count(
                when(rows.clone().and(when_), lit(1i64))
                    .end()
                    .expect("case"),
            )
        };
        // Every counted event up to `as_of` is in the scan: its earliest is the first.
        let mut columns = vec![
            min(time),
            counted(column("event_time").lt(timestamp(starts[0]))),
        ];
        for period in starts.windows(2) {
            columns.push(counted(time_span(period[0], period[1] - 1)));
        }
        columns
    }

    /// Whether the person holds, from the columns: `first` their first counted event's time,
    /// `before` their events of the kind before the intervals read, `in_periods` those in
    /// each of them.
    pub(crate) fn holds(&self, first: Option<i64>, before: i64, in_periods: [i64; READ]) -> bool {
        let Some(first) = first else {
            return false;
        };
        let bits = in_periods
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .fold(0u64, |bits, (i, _)| bits | 1 << i);
        let person = PersonView {
            first,
            before: before > 0,
            a: &[bits],
            b: &[],
        };
        let first_period = self.periods.point_of(first);
        let now = state(&person, first_period, READ - 1);
        match self.state {
            LifecycleState::New => now == Some(State::New),
            LifecycleState::Current => now == Some(State::Current),
            LifecycleState::Resurrected => now == Some(State::Resurrected),
            LifecycleState::Dormant => {
                now.is_none() && state(&person, first_period, READ - 2).is_some()
            }
        }
    }
}

fn interval_name(interval: CalendarInterval) -> &'static str {
    match interval {
        CalendarInterval::Day => "day",
        CalendarInterval::Week => "week",
        CalendarInterval::Month => "month",
    }
}
