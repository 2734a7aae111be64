//! Checking a cohort spec and turning it into the typed [`CohortQuery`]: a tree of conditions
//! over per-person tests, each test one or two columns of the one grouped scan (`run.rs`).

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{Days, NaiveDate};
use chrono_tz::Tz;

use super::filter::CohortCell;
use super::lifecycle::LifecycleTest;
use super::retention::RetentionTest;
use super::spec::{
    CohortCondition, CohortSpec, CompareOp, Comparison, During, FunnelCondition, Performed,
    PropertyComparison, PropertyMode,
};
use crate::error::SpecError;
use crate::filter::Conditions;
use crate::rfm::{RfmQuery, RfmSegment};
use crate::spec::{
    BreakdownKind, DateRange, FilterValue, Interval, PointIndex, PropertyFilter, PropertyRef,
    SeriesEvent, buckets, parse_time_zone, property_ref, series_event, start_of_day, today_in,
};
use crate::spec::{FunnelQuery, FunnelSpec, SPEC_VERSION, check_project, check_version};

/// Most members listed (the count is always whole).
pub const MAX_COHORT_LIMIT: usize = 100_000;
/// Members listed when the spec does not say.
const DEFAULT_LIMIT: usize = 100;
/// Most conditions in one definition, counting every node.
const MAX_CONDITIONS: usize = 100;
/// Most distinct days a "distinct days" condition may span (a year, as other ranges).
const MAX_DAYS: usize = 366;

/// A validated cohort. Times are Unix ms, bounds inclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CohortQuery {
    pub(crate) project: Option<String>,
    /// The day computed on.
    pub(crate) as_of: NaiveDate,
    /// The last instant read: the end of `as_of`.
    pub(crate) end_ms: i64,
    pub(crate) limit: usize,
    /// The per-person tests the tree reads, each by index.
    pub(crate) tests: Vec<Test>,
    pub(crate) tree: Node,
}

/// The definition as a tree over tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    All(Vec<Node>),
    Any(Vec<Node>),
    Not(Box<Node>),
    Test(usize),
}

/// One per-person test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Test {
    /// A measure of the events matching `event` in `span`, compared.
    Events {
        event: Matching,
        span: Span,
        measure: Measure,
    },
    /// The person's `n`-th matching event ever fell in `span`.
    NthTime { event: Matching, span: Span, n: u32 },
    /// A user property condition on the person's events in `span`.
    UserProperty {
        condition: Conditions,
        mode: PropertyMode,
        span: Span,
    },
    /// The person's user id is one of these.
    UserIds(Arc<HashSet<String>>),
    /// The person is a member of a saved cohort.
    InCohort(Arc<CohortCell>),
    /// The person is a buyer in `segment`.
    Rfm {
        query: RfmQuery,
        segment: RfmSegment,
    },
    /// `count(event) op count(compared_to)` over `span`.
    RelativeCount {
        event: Matching,
        op: CompareOp,
        compared_to: Matching,
        span: Span,
    },
    /// The person's first counted event is in `span`.
    WasNew { span: (i64, i64) },
    /// An event of `first`, then one of `then` strictly later, both in `span`.
    Then {
        first: Matching,
        then: Matching,
        span: Span,
    },
    /// The person's funnel level is in `levels` (inclusive).
    Funnel {
        query: Box<FunnelQuery>,
        levels: (u8, u8),
    },
    /// The person's retention cohort and whether they returned (`retention.rs`).
    Retention(Box<RetentionTest>),
    /// The person's lifecycle state in an interval (`lifecycle.rs`).
    Lifecycle(Box<LifecycleTest>),
}

impl Test {
    /// Whether the scan must give each row its person's first counted time.
    pub(crate) fn reads_first_use(&self) -> bool {
        let first_use = |span: &Span| matches!(span, Span::FirstUse { .. });
        match self {
            Test::Events { span, .. }
            | Test::NthTime { span, .. }
            | Test::UserProperty { span, .. }
            | Test::RelativeCount { span, .. }
            | Test::Then { span, .. } => first_use(span),
            _ => false,
        }
    }
}

/// When a test's events happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Span {
    /// Between two instants (Unix ms, inclusive).
    Fixed(i64, i64),
    /// From the person's first counted event through the end of the day `days` days after its
    /// day in `tz` (the scan stops at `as_of`).
    FirstUse { days: u32, tz: Tz },
}

/// Which events a test reads: a type or any counted event, with conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Matching {
    pub(crate) event: SeriesEvent,
    pub(crate) conditions: Conditions,
}

/// What is measured over a test's events and how it is compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Measure {
    Count(CompareOp, Number),
    Sum(PropertyRef, CompareOp, Number),
    DistinctValues(PropertyRef, CompareOp, Number),
    /// Distinct days, numbered as `DayNumbers` says.
    DistinctDays(CompareOp, Number, DayNumbers),
}

/// How "distinct days" numbers the days of its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DayNumbers {
    /// The days of a fixed range, given by their starts.
    Range(Arc<PointIndex>),
    /// Every local day of the time zone (a range per person).
    Local(Tz),
}

/// A compared number, kept as its bits so queries stay `Eq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Number(u64);

impl Number {
    pub(crate) fn get(self) -> f64 {
        f64::from_bits(self.0)
    }
}

impl CohortSpec {
    /// Checks every value and builds the typed query; the first problem found is returned.
    pub(crate) fn validate(&self) -> Result<CohortQuery, SpecError> {
        check_version(self.version)?;
        check_project(&self.project)?;
        let tz = parse_time_zone(&self.time_zone)?;
        let as_of = match &self.as_of {
            Some(day) => parse_day("as_of", day)?,
            None => today_in(tz),
        };
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if limit > MAX_COHORT_LIMIT {
            return Err(SpecError::LimitTooLarge {
                found: limit,
                max: MAX_COHORT_LIMIT,
            });
        }
        let mut checker = Checker {
            project: self.project.clone(),
            tz,
            as_of,
            tests: Vec::new(),
            nodes: 0,
        };
        let tree = checker.node(&self.definition, "definition")?;
        Ok(CohortQuery {
            project: self.project.clone(),
            as_of,
            end_ms: day_end(as_of, tz),
            limit,
            tests: checker.tests,
            tree,
        })
    }
}

/// The last millisecond of `day` in `tz`.
fn day_end(day: NaiveDate, tz: Tz) -> i64 {
    day.checked_add_days(Days::new(1))
        .map_or(i64::MAX, |next| start_of_day(next, tz) - 1)
}

struct Checker {
    project: Option<String>,
    tz: Tz,
    as_of: NaiveDate,
    tests: Vec<Test>,
    nodes: usize,
}

fn problem(at: &str, message: impl Into<String>) -> SpecError {
    SpecError::Cohort {
        at: at.to_owned(),
        problem: message.into(),
    }
}

impl Checker {
    fn node(&mut self, condition: &CohortCondition, at: &str) -> Result<Node, SpecError> {
        self.nodes += 1;
        if self.nodes > MAX_CONDITIONS {
            return Err(problem(
                at,
                format!("a definition has at most {MAX_CONDITIONS} conditions"),
            ));
        }
        let list = |checker: &mut Checker, items: &[CohortCondition], name: &str| {
            if items.is_empty() {
                return Err(problem(
                    at,
                    format!("\"{name}\" needs at least one condition"),
                ));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, item)| checker.node(item, &format!("{at}.{name}[{i}]")))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(match condition {
            CohortCondition::All(items) => Node::All(list(self, items, "all")?),
            CohortCondition::Any(items) => Node::Any(list(self, items, "any")?),
            CohortCondition::Not(inner) => {
                Node::Not(Box::new(self.node(inner, &format!("{at}.not"))?))
            }
            CohortCondition::Performed(performed) => {
                let at = format!("{at}.performed");
                let test = self.performed(performed, &at)?;
                self.test(test)
            }
            CohortCondition::DidNotPerform(did_not) => {
                let at = format!("{at}.did_not_perform");
                let test = Test::Events {
                    event: matching(&did_not.event, &at)?,
                    span: self.span(&did_not.during, &format!("{at}.during"))?,
                    measure: Measure::Count(CompareOp::GreaterOrEqual, number(1.0)),
                };
                Node::Not(Box::new(self.test(test)))
            }
            CohortCondition::UserProperty(condition) => {
                let at = format!("{at}.user_property");
                let filter = PropertyFilter {
                    kind: BreakdownKind::User,
                    property: condition.property.clone(),
                    op: condition.op,
                    values: condition.values.clone(),
                };
                let test = Test::UserProperty {
                    condition: Conditions::validate(std::slice::from_ref(&filter), &at)?,
                    mode: condition.mode,
                    span: self.span(&condition.during, &format!("{at}.during"))?,
                };
                self.test(test)
            }
            CohortCondition::UserIds(ids) => {
                if ids.is_empty() || ids.iter().any(String::is_empty) {
                    return Err(problem(
                        &format!("{at}.user_ids"),
                        "list one or more user ids, none empty",
                    ));
                }
                self.test(Test::UserIds(Arc::new(ids.iter().cloned().collect())))
            }
            CohortCondition::Rfm(rfm) => {
                let at = format!("{at}.rfm");
                let span = self.fixed_span(&rfm.during, &format!("{at}.during"))?;
                let query = RfmQuery::new(
                    self.project.clone(),
                    &rfm.revenue_event,
                    &rfm.revenue_property,
                    span,
                    &format!("{at}.revenue_event"),
                )?;
                self.test(Test::Rfm {
                    query,
                    segment: rfm.segment,
                })
            }
            CohortCondition::RelativeCount(relative) => {
                let at = format!("{at}.relative_count");
                self.test(Test::RelativeCount {
                    event: matching(&relative.event, &format!("{at}.event"))?,
                    op: relative.op,
                    compared_to: matching(&relative.compared_to, &format!("{at}.compared_to"))?,
                    span: self.span(&relative.during, &format!("{at}.during"))?,
                })
            }
            CohortCondition::Then(then) => {
                let at = format!("{at}.then");
                self.test(Test::Then {
                    first: matching(&then.first, &format!("{at}.first"))?,
                    then: matching(&then.then, &format!("{at}.then"))?,
                    span: self.span(&then.during, &format!("{at}.during"))?,
                })
            }
            CohortCondition::WasNew(new) => {
                let span = self.fixed_span(&new.during, &format!("{at}.was_new.during"))?;
                self.test(Test::WasNew { span })
            }
            CohortCondition::Funnel(funnel) => {
                let at = format!("{at}.funnel");
                let test = self.funnel(funnel, &at)?;
                self.test(test)
            }
            CohortCondition::Retention(retention) => {
                let at = format!("{at}.retention");
                let days = self.days(&retention.started_during, &format!("{at}.started_during"))?;
                let test = RetentionTest::new(retention, days, self.tz, &at)?;
                self.test(Test::Retention(Box::new(test)))
            }
            CohortCondition::Lifecycle(lifecycle) => {
                let at = format!("{at}.lifecycle");
                let test = LifecycleTest::new(lifecycle, self.tz, &at)?;
                self.test(Test::Lifecycle(Box::new(test)))
            }
            CohortCondition::InCohort(name) => {
                if name.is_empty() {
                    return Err(problem(&format!("{at}.in_cohort"), "name a saved cohort"));
                }
                self.test(Test::InCohort(CohortCell::new(name)))
            }
        })
    }

    fn test(&mut self, test: Test) -> Node {
        self.tests.push(test);
        Node::Test(self.tests.len() - 1)
    }

    fn performed(&self, performed: &Performed, at: &str) -> Result<Test, SpecError> {
        let event = matching(&performed.event, at)?;
        let span = self.span(&performed.during, &format!("{at}.during"))?;
        let measures = [
            performed.count.is_some(),
            performed.sum.is_some(),
            performed.distinct_values.is_some(),
            performed.distinct_days.is_some(),
            performed.nth_time.is_some(),
        ];
        if measures.iter().filter(|&&m| m).count() > 1 {
            return Err(problem(
                at,
                "give at most one of count, sum, distinct_values, distinct_days and nth_time",
            ));
        }
        if let Some(n) = performed.nth_time {
            if !(1..=5).contains(&n) {
                return Err(problem(
                    &format!("{at}.nth_time"),
                    "must be 1 to 5 (Amplitude's historical count)",
                ));
            }
            return Ok(Test::NthTime { event, span, n });
        }
        let measure = if let Some(count) = &performed.count {
            let (op, value) = counted(count, &format!("{at}.count"))?;
            if value < 1.0 || (op == CompareOp::Less && value <= 1.0) {
                return Err(problem(
                    &format!("{at}.count"),
                    "a count of 0 (or below 1) matches persons who did not do the event: use \
                     \"did_not_perform\"",
                ));
            }
            Measure::Count(op, number(value))
        } else if let Some(sum) = &performed.sum {
            let (property, op, value) = property_measure(sum, &format!("{at}.sum"))?;
            Measure::Sum(property, op, number(value))
        } else if let Some(distinct) = &performed.distinct_values {
            let at = format!("{at}.distinct_values");
            let (property, op, value) = property_measure(distinct, &at)?;
            Measure::DistinctValues(property, op, number(value))
        } else if let Some(days) = &performed.distinct_days {
            let at_days = format!("{at}.distinct_days");
            let (op, value) = counted(days, &at_days)?;
            let days = match span {
                // Per person, any day counts: the days are numbered in the time zone.
                Span::FirstUse { tz, .. } => DayNumbers::Local(tz),
                Span::Fixed(..) => {
                    let (from, to) = self.days(&performed.during, &format!("{at}.during"))?;
                    let days = buckets(from, to, self.tz, Interval::Day, Default::default());
                    if days.len() > MAX_DAYS {
                        return Err(problem(
                            &at_days,
                            format!("counts days over at most {MAX_DAYS} days"),
                        ));
                    }
                    DayNumbers::Range(Arc::new(PointIndex::new(days.starts)))
                }
            };
            Measure::DistinctDays(op, number(value), days)
        } else {
            Measure::Count(CompareOp::GreaterOrEqual, number(1.0))
        };
        Ok(Test::Events {
            event,
            span,
            measure,
        })
    }

    /// A funnel condition: the funnel spec it makes (entries on the `during` days), checked as
    /// any funnel spec, and the levels it keeps.
    fn funnel(&self, funnel: &FunnelCondition, at: &str) -> Result<Test, SpecError> {
        let (from, to) = self.days(&funnel.during, &format!("{at}.during"))?;
        let spec = FunnelSpec {
            version: SPEC_VERSION,
            project: self.project.clone(),
            segments: Vec::new(),
            date_range: DateRange::between(&from.to_string(), &to.to_string()),
            time_zone: self.tz.name().to_owned(),
            steps: funnel.steps.clone(),
            conversion_window: funnel.conversion_window,
            breakdown: None,
            group_by: Vec::new(),
            group_limit: None,
            hold_constant: Vec::new(),
            strict: Vec::new(),
            exclusions: funnel.exclusions.clone(),
            order: funnel.order,
            counting: Default::default(),
            interval: None,
            week_start: Default::default(),
            time_to_convert: None,
        };
        let mut query = spec.validate().map_err(|e| problem(at, e.to_string()))?;
        // As every condition: nothing after `as_of` is read.
        query.read_to_ms = day_end(self.as_of, self.tz);
        let steps = funnel.steps.len() as u8;
        let levels = match (funnel.reached, funnel.dropped_after) {
            (Some(k), None) if (1..=steps).contains(&k) => (k, steps),
            (None, Some(k)) if (1..steps).contains(&k) => (k, k),
            (None, None) | (Some(_), Some(_)) => {
                return Err(problem(at, "give one of \"reached\" and \"dropped_after\""));
            }
            _ => {
                return Err(problem(
                    at,
                    format!(
                        "reached is a step from 1 to {steps}, dropped_after a step from 1 to {}",
                        steps.saturating_sub(1)
                    ),
                ));
            }
        };
        Ok(Test::Funnel {
            query: Box::new(query),
            levels,
        })
    }

    /// The first and last day of `during`.
    fn days(&self, during: &During, at: &str) -> Result<(NaiveDate, NaiveDate), SpecError> {
        if during.within_days_of_first_use.is_some() {
            return Err(problem(
                at,
                "within_days_of_first_use is a range per person; this condition needs the same \
                 days for everyone: give \"from\" and \"to\", \"last_days\" or \"since\"",
            ));
        }
        let range = match (&during.since, &during.from, &during.to, during.last_days) {
            (Some(since), None, None, None) => {
                let from = parse_day(&format!("{at}.since"), since)?;
                if from > self.as_of {
                    return Err(problem(at, "since: the day is after as_of"));
                }
                return Ok((from, self.as_of));
            }
            (None, from, to, last_days) => DateRange {
                from: from.clone(),
                to: to.clone(),
                last_days,
            },
            _ => {
                return Err(problem(
                    at,
                    "give \"from\" and \"to\", \"last_days\" or \"since\", one form only",
                ));
            }
        };
        range.days(self.as_of)
    }

    /// When `during` is: fixed instants, or per person from their first use.
    fn span(&self, during: &During, at: &str) -> Result<Span, SpecError> {
        let Some(days) = during.within_days_of_first_use else {
            let (from, to) = self.fixed_span(during, at)?;
            return Ok(Span::Fixed(from, to));
        };
        let others = [
            during.from.is_some(),
            during.to.is_some(),
            during.last_days.is_some(),
            during.since.is_some(),
        ];
        if others.contains(&true) {
            return Err(problem(
                at,
                "give \"from\" and \"to\", \"last_days\", \"since\" or \
                 \"within_days_of_first_use\", one form only",
            ));
        }
        if days > MAX_DAYS as u32 {
            return Err(problem(
                &format!("{at}.within_days_of_first_use"),
                format!("at most {MAX_DAYS} days"),
            ));
        }
        Ok(Span::FirstUse { days, tz: self.tz })
    }

    /// The first and last instant of `during`, the same for everyone.
    fn fixed_span(&self, during: &During, at: &str) -> Result<(i64, i64), SpecError> {
        let (from, to) = self.days(during, at)?;
        Ok((start_of_day(from, self.tz), day_end(to, self.tz)))
    }
}

fn matching(event: &crate::spec::EventRef, at: &str) -> Result<Matching, SpecError> {
    Ok(Matching {
        event: series_event(event, "event")?,
        conditions: Conditions::validate(&event.conditions, &format!("{at}.event.where"))?,
    })
}

fn parse_day(at: &str, value: &str) -> Result<NaiveDate, SpecError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| problem(at, format!("{value:?} is not a date in YYYY-MM-DD form")))
}

fn number(value: f64) -> Number {
    Number(value.to_bits())
}

fn value_of(value: &FilterValue, at: &str) -> Result<f64, SpecError> {
    match value {
        FilterValue::Number(n) => n
            .as_f64()
            .filter(|v| v.is_finite())
            .ok_or_else(|| problem(at, "value: not a finite number")),
        _ => Err(problem(at, "value: must be a number")),
    }
}

/// A count's operator and whole-number value.
fn counted(comparison: &Comparison, at: &str) -> Result<(CompareOp, f64), SpecError> {
    let value = value_of(&comparison.value, at)?;
    if value < 0.0 || value.fract() != 0.0 {
        return Err(problem(at, "value: must be a whole number, 0 or more"));
    }
    Ok((comparison.op, value))
}

fn property_measure(
    measure: &PropertyComparison,
    at: &str,
) -> Result<(PropertyRef, CompareOp, f64), SpecError> {
    let property = property_ref(BreakdownKind::Event, &measure.property)
        .map_err(|e| problem(at, format!("property: {e}")))?;
    Ok((property, measure.op, value_of(&measure.value, at)?))
}
