//! Checking a spec's values and turning them into the typed query the planner runs.

use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone};
use chrono_tz::Tz;
use sluice_schema::layout::StorageLayout;

use super::intervals::{Buckets, buckets, first_day_of, last_day_after};
use super::view::{View, ViewPlan};
use super::{
    ANY_EVENT, Breakdown, BreakdownKind, CalendarInterval, DEFAULT_CONVERSION_BUCKETS_MS,
    DEFAULT_FREQUENCY_BUCKETS, Dataset, DateRange, EventRef, EventsSpec, FunnelCounting,
    FunnelExclusion, FunnelOrder, FunnelSpec, Interval, LifecycleSpec, MAX_CONVERSION_BUCKETS,
    MAX_EVENTS_LIMIT, MAX_FREQUENCY_BUCKETS, MAX_PATH_DEPTH, MAX_RETENTION_PERIODS, MAX_SERIES,
    Measure, NEW_USER, PathDirection, PathsSpec, RetentionBoundaries, RetentionMethod,
    RetentionSpec, SPEC_VERSION, SegmentationSpec, SeriesSpec, StickinessInterval, StickinessSpec,
    StrictMode, TimeToConvertSpec,
};
use crate::error::{FilterProblem, SpecError};
use crate::filter::Conditions;
use crate::segmentation::formula::Formula;

/// Fewest funnel steps.
pub(crate) const MIN_STEPS: usize = 2;
/// Most funnel steps (the step mask is 32 bits wide).
pub(crate) const MAX_STEPS: usize = 32;
/// Most exclusion steps (their bits fill the upper half of the 64-bit event mask but its top
/// bit, which marks "any event" for exact order).
pub(crate) const MAX_EXCLUSIONS: usize = 31;
/// Most properties a funnel may hold constant (Amplitude's limit).
pub(crate) const MAX_HELD_PROPERTIES: usize = 3;
/// Most funnel group-by properties (Amplitude's "group-by up to 2 properties").
pub(crate) const MAX_GROUP_BY: usize = 2;
/// Groups listed when the spec gives no `group_limit`.
pub(crate) const DEFAULT_GROUP_LIMIT: usize = 10;
/// Most groups a funnel may list (Amplitude's Dashboard REST `limit` maximum).
pub(crate) const MAX_GROUP_LIMIT: usize = 1_000;
/// Longest conversion window: 366 days, as in Amplitude.
pub(crate) const MAX_WINDOW_MS: i64 = 366 * 86_400_000;
/// Longest date range: ten years keeps every timestamp far from overflow.
pub(crate) const MAX_RANGE_DAYS: i64 = 3_660;

/// Fixed columns that are not fields: the JSON property bags are reached with `kind: event|user`.
const NOT_FIELDS: &[&str] = &["event_properties", "user_properties"];

/// A validated funnel query. Times are Unix milliseconds, all bounds inclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FunnelQuery {
    /// Only this project's events, when given.
    pub(crate) project: Option<String>,
    /// The event type of each step, in order (2 to 32, may repeat).
    pub(crate) steps: Vec<String>,
    /// Conversion window in ms (1 s ..= 366 days).
    pub(crate) window_ms: i64,
    /// First instant at which step 1 may happen: start of `from` in the time zone.
    pub(crate) entry_from_ms: i64,
    /// Last instant at which step 1 may happen: end of `to` in the time zone.
    pub(crate) entry_to_ms: i64,
    /// The group-by properties (0 to 2; `breakdown` is the one-property form), in order.
    pub(crate) group_by: Vec<GroupProperty>,
    /// How many groups are listed before the rest are summed into "(other)" (unbounded for a
    /// `breakdown` without `group_limit`).
    pub(crate) group_limit: usize,
    /// Properties held constant along a path (persons are counted per distinct value).
    pub(crate) hold_constant: Vec<PropertyRef>,
    /// Each step's conditions (step 1's also hold the segment's).
    pub(crate) step_conditions: Vec<Conditions>,
    /// ClickHouse modes (`strict_deduplication`, `strict_increase`).
    pub(crate) strict_deduplication: bool,
    pub(crate) strict_increase: bool,
    /// Exclusion steps, in the spec's order.
    pub(crate) exclusions: Vec<ExclusionStep>,
    /// The order mode.
    pub(crate) order: FunnelOrder,
    /// Count attempts (`counting: totals`) instead of persons.
    pub(crate) totals: bool,
    /// The points of conversion over time (entries are counted in the point of their time).
    pub(crate) over_time: Option<Buckets>,
    /// Time to convert, when asked for.
    pub(crate) time_to_convert: Option<ConversionTimes>,
    /// No event after this instant is read (a cohort computed on a past day); `i64::MAX` for a
    /// funnel spec.
    pub(crate) read_to_ms: i64,
}

/// A validated time-to-convert request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ConversionTimes {
    /// Zero-based step the time is measured from.
    pub(crate) from: usize,
    /// Zero-based step the time is measured to (`from < to`).
    pub(crate) to: usize,
    /// Lower bounds of the histogram buckets in ms, strictly increasing from 0.
    pub(crate) bounds: Vec<i64>,
}

impl FunnelQuery {
    /// Whether two steps share an event type but not their conditions (after a segment's or a
    /// group's were added to step 1): an event may then match one and not the other.
    pub(crate) fn steps_compete(&self) -> bool {
        let steps = self.steps.iter().zip(&self.step_conditions);
        steps.clone().enumerate().any(|(i, (a, a_where))| {
            steps
                .clone()
                .skip(i + 1)
                .any(|(b, b_where)| a == b && a_where != b_where)
        })
    }
}

/// A validated group-by property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupProperty {
    /// The property.
    pub(crate) property: PropertyRef,
    /// Zero-based step whose event on the counted path gives the value (0: the entry).
    pub(crate) step: usize,
}

/// A validated exclusion step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExclusionStep {
    /// The excluded event type.
    pub(crate) event_type: String,
    /// Conditions the excluded event must meet.
    pub(crate) conditions: Conditions,
    /// Zero-based steps `(from, to)`, `from < to`: the event excludes strictly between them.
    pub(crate) between: (usize, usize),
}

impl FunnelQuery {
    /// Last instant an event can matter: a path entered at the very end of the range may finish
    /// one window later.
    pub(crate) fn scan_to_ms(&self) -> i64 {
        (self.entry_to_ms + self.window_ms).min(self.read_to_ms)
    }
}

/// A reference to a value of an event, resolved against the table schema at plan time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum PropertyRef {
    /// Event property: `ep:<name>` column, else `event_properties` JSON.
    Event(String),
    /// User property: `up:<name>` column, else `user_properties` JSON.
    User(String),
    /// A top-level column.
    Field(String),
    /// Membership of a saved cohort (group-by only): the cohort's name for its members'
    /// events, none for everyone else's.
    Cohort(std::sync::Arc<crate::cohort::filter::CohortCell>),
}

pub(crate) fn today_in(tz: Tz) -> NaiveDate {
    chrono::Utc::now().with_timezone(&tz).date_naive()
}

impl DateRange {
    /// The first and last day of the range, given what day it is today.
    pub(crate) fn days(&self, today: NaiveDate) -> Result<(NaiveDate, NaiveDate), SpecError> {
        let (from, to) = match (&self.from, &self.to, self.last_days) {
            (Some(from), Some(to), None) => {
                let (from_date, to_date) = (parse_date("from", from)?, parse_date("to", to)?);
                if from_date > to_date {
                    return Err(SpecError::ReversedDateRange {
                        from: from.clone(),
                        to: to.clone(),
                    });
                }
                (from_date, to_date)
            }
            (None, None, Some(0)) => return Err(SpecError::NoDays),
            (None, None, Some(days)) => {
                let from = today
                    .checked_sub_days(Days::new(u64::from(days) - 1))
                    .unwrap_or(NaiveDate::MIN);
                (from, today)
            }
            _ => return Err(SpecError::AmbiguousDateRange),
        };
        let days = (to - from).num_days() + 1;
        if days > MAX_RANGE_DAYS {
            return Err(SpecError::DateRangeTooLong {
                days,
                max: MAX_RANGE_DAYS,
            });
        }
        Ok((from, to))
    }
}

impl DateRange {
    /// Whether the range names days at all: one form, dates in order, not too long (what a
    /// query would refuse, checked for a range stored on its own, such as a dashboard's).
    pub fn check(&self) -> Result<(), SpecError> {
        self.days(chrono::Utc::now().date_naive()).map(|_| ())
    }

    /// The first and last instant of the range in `time_zone`, in Unix ms (both included).
    pub(crate) fn span_ms(&self, time_zone: &str) -> Result<(i64, i64), SpecError> {
        let tz: Tz = time_zone
            .parse()
            .map_err(|_| SpecError::UnknownTimeZone(time_zone.to_owned()))?;
        let (from, to) = self.days(today_in(tz))?;
        let day_after = to
            .checked_add_days(Days::new(1))
            .ok_or_else(|| invalid_date("to", &to.to_string()))?;
        Ok((start_of_day(from, tz), start_of_day(day_after, tz) - 1))
    }
}

pub(crate) fn check_version(version: u32) -> Result<(), SpecError> {
    if version != SPEC_VERSION {
        return Err(SpecError::UnsupportedVersion {
            found: version,
            supported: SPEC_VERSION,
        });
    }
    Ok(())
}

pub(crate) fn check_project(project: &Option<String>) -> Result<Option<String>, SpecError> {
    match project {
        Some(p) if p.is_empty() => Err(SpecError::EmptyProject),
        other => Ok(other.clone()),
    }
}

/// A validated events listing. Times are Unix milliseconds, bounds inclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventsQuery {
    pub(crate) dataset: Dataset,
    pub(crate) project: Option<String>,
    pub(crate) user_id: Option<String>,
    pub(crate) device_id: Option<String>,
    pub(crate) event_types: Vec<String>,
    pub(crate) insert_id: Option<String>,
    /// `(from, to)` when a date range is given.
    pub(crate) span_ms: Option<(i64, i64)>,
    pub(crate) limit: usize,
}

impl EventsSpec {
    /// Checks every value and builds the typed query; the first problem found is returned.
    pub(crate) fn validate(&self) -> Result<EventsQuery, SpecError> {
        check_version(self.version)?;
        let project = check_project(&self.project)?;
        let non_empty = |field: &'static str, value: &Option<String>| match value {
            Some(v) if v.is_empty() => Err(SpecError::EmptyFilter { field }),
            other => Ok(other.clone()),
        };
        if self.event_types.iter().any(String::is_empty) {
            return Err(SpecError::EmptyFilter {
                field: "event_types",
            });
        }
        if self.limit > MAX_EVENTS_LIMIT {
            return Err(SpecError::LimitTooLarge {
                found: self.limit,
                max: MAX_EVENTS_LIMIT,
            });
        }
        let span_ms = match &self.date_range {
            Some(range) => Some(range.span_ms(&self.time_zone)?),
            None => None,
        };
        Ok(EventsQuery {
            dataset: self.dataset,
            project,
            user_id: non_empty("user_id", &self.user_id)?,
            device_id: non_empty("device_id", &self.device_id)?,
            event_types: self.event_types.clone(),
            insert_id: non_empty("insert_id", &self.insert_id)?,
            span_ms,
            limit: self.limit,
        })
    }
}

/// What a segmentation series selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SeriesEvent {
    /// Events of this type.
    Type(String),
    /// Any counted event (not `$identify` / `$groupidentify`).
    Any,
}

/// One validated segmentation series: what it selects and what it measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeriesQuery {
    pub(crate) event: SeriesEvent,
    pub(crate) measure: Measure,
    /// The property a `property_*` measure reads.
    pub(crate) property: Option<PropertyRef>,
    /// Lower bounds of the frequency buckets (empty unless `measure` is frequency).
    pub(crate) frequency_buckets: Vec<u64>,
}

/// A validated segmentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentationQuery {
    pub(crate) project: Option<String>,
    pub(crate) series: Vec<SeriesQuery>,
    /// Each series' conditions (with the segment's).
    pub(crate) series_conditions: Vec<Conditions>,
    /// The segment's conditions alone: who counts as active for `active_percent`.
    pub(crate) active_conditions: Conditions,
    pub(crate) buckets: Buckets,
    /// The view and the points it scans, when the spec asks for one.
    pub(crate) view: Option<ViewPlan>,
    /// Formulas over the series, evaluated per point after the scan.
    pub(crate) formulas: Vec<Formula>,
}

impl SegmentationSpec {
    /// Checks every value and builds the typed query; the first problem found is returned.
    pub(crate) fn validate(&self) -> Result<SegmentationQuery, SpecError> {
        check_version(self.version)?;
        let project = check_project(&self.project)?;
        let tz = parse_time_zone(&self.time_zone)?;
        let (from, to) = self.date_range.days(today_in(tz))?;
        let found = self.events.len();
        if found == 0 || found > MAX_SERIES {
            return Err(SpecError::SeriesCount {
                found,
                max: MAX_SERIES,
            });
        }
        let mut series = Vec::with_capacity(found);
        let mut series_conditions = Vec::with_capacity(found);
        for (index, event) in self.events.iter().enumerate() {
            let at = format!("events[{index}].where");
            series_conditions.push(Conditions::validate(&event.conditions, &at)?);
            let selected = match event.event_type.as_str() {
                "" => return Err(SpecError::EmptySeriesEvent { index }),
                ANY_EVENT => SeriesEvent::Any,
                other => SeriesEvent::Type(other.to_owned()),
            };
            series.push(SeriesQuery {
                event: selected,
                measure: event.measure,
                property: measure_property(index, event)?,
                frequency_buckets: frequency_buckets(index, event)?,
            });
        }
        let buckets = buckets(from, to, tz, self.interval, self.week_start);
        if buckets.len() > MAX_POINTS {
            return Err(SpecError::TooManyPoints {
                found: buckets.len(),
                max: MAX_POINTS,
            });
        }
        let view = self
            .view
            .map(|view| {
                ViewPlan::new(
                    view,
                    &self.events,
                    &buckets,
                    from,
                    tz,
                    self.interval,
                    self.week_start,
                )
            })
            .transpose()?;
        let formulas = crate::segmentation::formula::validate(
            &self.formulas,
            &series,
            (self.segments.len(), !self.group_by.is_empty()),
            self.interval,
            self.view.map(View::as_str),
        )?;
        Ok(SegmentationQuery {
            project,
            series,
            series_conditions,
            active_conditions: Conditions::default(),
            buckets,
            view,
            formulas,
        })
    }
}

/// The property of a `property_*` measure, refused on other measures.
fn measure_property(index: usize, series: &SeriesSpec) -> Result<Option<PropertyRef>, SpecError> {
    let measure = series.measure;
    match (&series.property, measure.reads_property()) {
        (Some(property), true) => property_ref(property.kind, &property.property)
            .map(Some)
            .map_err(|problem| SpecError::MeasurePropertyInvalid { index, problem }),
        (None, false) => Ok(None),
        (_, needed) => Err(SpecError::MeasureProperty {
            index,
            measure: measure.as_str(),
            needed,
        }),
    }
}

/// The frequency buckets' lower bounds: the default, or the spec's when they are valid.
fn frequency_buckets(index: usize, series: &SeriesSpec) -> Result<Vec<u64>, SpecError> {
    let problem = |problem| SpecError::FrequencyBuckets { index, problem };
    let given = series.frequency_buckets.as_deref();
    if series.measure != Measure::Frequency {
        return match given {
            Some(_) => Err(problem("only a frequency measure has buckets")),
            None => Ok(Vec::new()),
        };
    }
    let Some(bounds) = given else {
        return Ok(DEFAULT_FREQUENCY_BUCKETS.to_vec());
    };
    if bounds.is_empty() || bounds.len() > MAX_FREQUENCY_BUCKETS {
        return Err(problem("give 1 to 50 lower bounds"));
    }
    if bounds[0] == 0 {
        return Err(problem(
            "the first bound must be 1 or more (persons did the event at least once)",
        ));
    }
    if bounds.windows(2).any(|w| w[0] >= w[1]) {
        return Err(problem("bounds must be strictly increasing"));
    }
    Ok(bounds.to_vec())
}

/// What opens a retention cohort.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StartEvent {
    /// The person's first counted event ever.
    New,
    /// An event of this kind.
    Event(SeriesEvent),
}

/// A validated retention query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RetentionQuery {
    pub(crate) project: Option<String>,
    pub(crate) start: StartEvent,
    /// The start event's conditions (with the segment's).
    pub(crate) start_conditions: Conditions,
    /// The return events (one or two), each answered with its own table.
    pub(crate) returns: Vec<SeriesEvent>,
    /// Each return event's conditions.
    pub(crate) return_conditions: Vec<Conditions>,
    /// Their names as given.
    pub(crate) return_labels: Vec<String>,
    /// Periods from the first cohort period to `periods` past the last one.
    pub(crate) buckets: Buckets,
    /// How many of the periods are cohort periods (inside the date range).
    pub(crate) cohort_periods: usize,
    /// The end of the date range (Unix ms, exclusive): later start events open no cohort.
    pub(crate) cohort_end_ms: i64,
    /// Each column's periods after the cohort's, `[from, to)`; `to` is `None` for "or after".
    pub(crate) columns: Vec<(u32, Option<u32>)>,
    /// Column names (`0`, `1`, … or `1+`, or `1-7`).
    pub(crate) column_labels: Vec<String>,
    /// Now, Unix ms: a cohort's column is complete once its last period has ended.
    pub(crate) now_ms: i64,
    /// How return periods are cut.
    pub(crate) return_periods: ReturnPeriods,
}

/// How a validated retention query cuts the periods in which persons return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReturnPeriods {
    /// The calendar periods of the query's buckets (which run `periods` past the last cohort).
    Calendar,
    /// Windows opened by each start event.
    Rolling(RollingWindows),
}

/// Rolling return windows: window N of a start event is hours `[N·w, (N+1)·w)` after the start's
/// hour, every time rounded down to the hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RollingWindows {
    /// Hours per window: 24 (day), 168 (week) or 720 (month).
    pub(crate) window_hours: i64,
    /// Where hours begin, in ms past the UTC hour (`0..HOUR_MS`): the date range's first local
    /// midnight, so hours follow the local clock also in zones offset by :30 or :45.
    pub(crate) hour_phase_ms: i64,
    /// Returns are read before this instant: the end of the last window followed for a start
    /// at the very end of the date range.
    pub(crate) horizon_ms: i64,
}

/// One hour in ms.
pub(crate) const HOUR_MS: i64 = 3_600_000;

impl RollingWindows {
    /// The hour number of instant `ms` (hours since the epoch, shifted by the phase).
    pub(crate) fn hour_of(&self, ms: i64) -> i64 {
        (ms - self.hour_phase_ms).div_euclid(HOUR_MS)
    }

    /// The instant at which hour number `hour` begins.
    pub(crate) fn hour_start_ms(&self, hour: i64) -> i64 {
        hour * HOUR_MS + self.hour_phase_ms
    }
}

impl RetentionSpec {
    /// Checks every value and builds the typed query; the first problem found is returned.
    pub(crate) fn validate(&self) -> Result<RetentionQuery, SpecError> {
        check_version(self.version)?;
        let project = check_project(&self.project)?;
        let tz = parse_time_zone(&self.time_zone)?;
        let (from, to) = self.date_range.days(today_in(tz))?;
        let start = match self.start_event.event_type.as_str() {
            "" => {
                return Err(SpecError::EmptyEvent {
                    field: "start_event",
                });
            }
            NEW_USER => StartEvent::New,
            ANY_EVENT => StartEvent::Event(SeriesEvent::Any),
            other => StartEvent::Event(SeriesEvent::Type(other.to_owned())),
        };
        let (returns, return_conditions, return_labels) = self.validate_returns()?;
        if self.periods > MAX_RETENTION_PERIODS {
            return Err(SpecError::TooManyPeriods {
                found: self.periods,
                max: MAX_RETENTION_PERIODS,
            });
        }
        let n = self.periods;
        let (columns, column_labels): (Vec<(u32, Option<u32>)>, Vec<String>) = match &self.method {
            RetentionMethod::ReturnOn => (0..=n).map(|k| ((k, Some(k + 1)), k.to_string())).unzip(),
            RetentionMethod::ReturnOnOrAfter => {
                (0..=n).map(|k| ((k, None), format!("{k}+"))).unzip()
            }
            RetentionMethod::Brackets(brackets) => {
                if brackets.is_empty() || brackets.len() > MAX_BRACKETS {
                    return Err(SpecError::BracketCount {
                        found: brackets.len(),
                        max: MAX_BRACKETS,
                    });
                }
                for (index, &[a, b]) in brackets.iter().enumerate() {
                    if a >= b || b > n + 1 {
                        return Err(SpecError::InvalidBracket {
                            index,
                            from: a,
                            to: b,
                            periods: n,
                        });
                    }
                }
                brackets
                    .iter()
                    .map(|&[a, b]| ((a, Some(b)), format!("{a}-{b}")))
                    .unzip()
            }
        };
        let interval = self.interval.into();
        let cohort_buckets = buckets(from, to, tz, interval, self.week_start);
        let cohort_periods = cohort_buckets.len();
        let cohort_end_ms = cohort_buckets.starts.last().copied().unwrap_or(i64::MIN);
        let (buckets, return_periods) = match self.boundaries {
            RetentionBoundaries::Calendar => {
                // Returns are followed to the end of the period `n` periods after the last
                // cohort's (whole periods, even where the date range cuts the last cohort's
                // period short).
                let extended_to = last_day_after(to, interval, self.week_start, n);
                let extended_to = extended_to.ok_or_else(|| invalid_date("to", &to.to_string()))?;
                let buckets = buckets(from, extended_to, tz, interval, self.week_start);
                (buckets, ReturnPeriods::Calendar)
            }
            RetentionBoundaries::Rolling => {
                let window_hours = match self.interval {
                    CalendarInterval::Day => 24,
                    CalendarInterval::Week => 7 * 24,
                    CalendarInterval::Month => 30 * 24,
                };
                let first_ms = cohort_buckets.starts.first().copied().unwrap_or(0);
                let windows = RollingWindows {
                    window_hours,
                    hour_phase_ms: first_ms.rem_euclid(HOUR_MS),
                    horizon_ms: cohort_end_ms + (i64::from(n) + 1) * window_hours * HOUR_MS,
                };
                (cohort_buckets, ReturnPeriods::Rolling(windows))
            }
        };
        if buckets.len() > MAX_POINTS {
            return Err(SpecError::TooManyPoints {
                found: buckets.len(),
                max: MAX_POINTS,
            });
        }
        Ok(RetentionQuery {
            project,
            start,
            start_conditions: Conditions::validate(
                &self.start_event.conditions,
                "start_event.where",
            )?,
            returns,
            return_conditions,
            return_labels,
            buckets,
            cohort_periods,
            cohort_end_ms,
            columns,
            column_labels,
            now_ms: chrono::Utc::now().timestamp_millis(),
            return_periods,
        })
    }
}

/// Return events, their conditions and their names.
type ValidReturns = (Vec<SeriesEvent>, Vec<Conditions>, Vec<String>);

/// Most return events of one retention query (Amplitude's limit).
pub(crate) const MAX_RETURN_EVENTS: usize = 2;

impl RetentionSpec {
    /// The return events, from `return_event` or `return_events`, and their names.
    fn validate_returns(&self) -> Result<ValidReturns, SpecError> {
        const FIELDS: [&str; MAX_RETURN_EVENTS] = ["return_events[0]", "return_events[1]"];
        let named: Vec<(&EventRef, &'static str)> = match (&self.return_event, &self.return_events)
        {
            (Some(_), events) if !events.is_empty() => {
                return Err(SpecError::AmbiguousReturnEvent);
            }
            (Some(event), _) => vec![(event, "return_event")],
            (None, events) if (1..=MAX_RETURN_EVENTS).contains(&events.len()) => {
                events.iter().zip(FIELDS).collect()
            }
            (None, events) => {
                return Err(SpecError::ReturnEventCount {
                    found: events.len(),
                    max: MAX_RETURN_EVENTS,
                });
            }
        };
        let mut returns = Vec::with_capacity(named.len());
        let mut conditions = Vec::with_capacity(named.len());
        for &(event, field) in &named {
            returns.push(series_event(event, field)?);
            conditions.push(Conditions::validate(
                &event.conditions,
                &format!("{field}.where"),
            )?);
        }
        let labels = named.iter().map(|(e, _)| e.event_type.clone()).collect();
        Ok((returns, conditions, labels))
    }
}

/// A validated lifecycle query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LifecycleQuery {
    pub(crate) project: Option<String>,
    pub(crate) event: SeriesEvent,
    /// The event's conditions (with the segment's).
    pub(crate) event_conditions: Conditions,
    /// Whole periods from two before the one holding the date range's first day to the one
    /// holding its last (the two earlier ones tell the state of the first reported period and
    /// of the one before it).
    pub(crate) buckets: Buckets,
    /// The end of the date range, Unix ms (exclusive).
    pub(crate) end_ms: i64,
}

/// Periods tracked before the first reported one.
pub(crate) const LIFECYCLE_LEAD: usize = 2;

impl LifecycleSpec {
    /// Checks every value and builds the typed query; the first problem found is returned.
    pub(crate) fn validate(&self) -> Result<LifecycleQuery, SpecError> {
        check_version(self.version)?;
        let project = check_project(&self.project)?;
        let tz = parse_time_zone(&self.time_zone)?;
        let (from, to) = self.date_range.days(today_in(tz))?;
        let event = series_event(&self.event, "event")?;
        // Whole periods: from the start of the period holding `from`, two more before it, to
        // the end of the period holding `to`.
        let interval: Interval = self.interval.into();
        let first = first_day_of(from, interval, self.week_start);
        let earlier = match self.interval {
            CalendarInterval::Day => first.checked_sub_days(Days::new(2)),
            CalendarInterval::Week => first.checked_sub_days(Days::new(14)),
            CalendarInterval::Month => first.checked_sub_months(chrono::Months::new(2)),
        }
        .ok_or_else(|| invalid_date("from", &from.to_string()))?;
        let last = last_day_after(to, interval, self.week_start, 0)
            .ok_or_else(|| invalid_date("to", &to.to_string()))?;
        let buckets = buckets(earlier, last, tz, interval, self.week_start);
        let end_ms = buckets.starts.last().copied().unwrap_or(i64::MIN);
        if buckets.len() > MAX_POINTS {
            return Err(SpecError::TooManyPoints {
                found: buckets.len(),
                max: MAX_POINTS,
            });
        }
        Ok(LifecycleQuery {
            project,
            event,
            event_conditions: Conditions::validate(&self.event.conditions, "event.where")?,
            buckets,
            end_ms,
        })
    }
}

impl From<CalendarInterval> for Interval {
    fn from(interval: CalendarInterval) -> Self {
        match interval {
            CalendarInterval::Day => Interval::Day,
            CalendarInterval::Week => Interval::Week,
            CalendarInterval::Month => Interval::Month,
        }
    }
}

/// A validated stickiness query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StickinessQuery {
    pub(crate) project: Option<String>,
    pub(crate) event: SeriesEvent,
    /// The event's conditions (with the segment's).
    pub(crate) event_conditions: Conditions,
    /// The days of the reported weeks or months, whole.
    pub(crate) days: Buckets,
    /// The weeks or months: labels, and the index of each one's first day in `days`
    /// (`labels.len() + 1` entries).
    pub(crate) periods: Vec<String>,
    pub(crate) first_days: Vec<usize>,
}

impl StickinessSpec {
    /// Checks every value and builds the typed query; the first problem found is returned.
    pub(crate) fn validate(&self) -> Result<StickinessQuery, SpecError> {
        check_version(self.version)?;
        let project = check_project(&self.project)?;
        let tz = parse_time_zone(&self.time_zone)?;
        let (from, to) = self.date_range.days(today_in(tz))?;
        let event = series_event(&self.event, "event")?;
        let interval = match self.interval {
            StickinessInterval::Week => Interval::Week,
            StickinessInterval::Month => Interval::Month,
        };
        let first = first_day_of(from, interval, self.week_start);
        let last = last_day_after(to, interval, self.week_start, 0)
            .ok_or_else(|| invalid_date("to", &to.to_string()))?;
        let days = buckets(first, last, tz, Interval::Day, self.week_start);
        let periods = buckets(first, last, tz, interval, self.week_start);
        if days.len() > MAX_POINTS {
            return Err(SpecError::TooManyPoints {
                found: days.len(),
                max: MAX_POINTS,
            });
        }
        let first_days = periods
            .starts
            .iter()
            .map(|start| days.starts.partition_point(|s| s < start))
            .collect();
        Ok(StickinessQuery {
            project,
            event,
            event_conditions: Conditions::validate(&self.event.conditions, "event.where")?,
            days,
            periods: periods.labels,
            first_days,
        })
    }
}

/// A validated paths query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PathsQuery {
    pub(crate) project: Option<String>,
    pub(crate) anchor: String,
    /// The anchor event's conditions (with the segment's).
    pub(crate) anchor_conditions: Conditions,
    pub(crate) direction: PathDirection,
    pub(crate) depth: usize,
    pub(crate) collapse_repeats: bool,
    pub(crate) limit: usize,
    /// The anchor's first and last instant (Unix ms, inclusive).
    pub(crate) from_ms: i64,
    pub(crate) to_ms: i64,
}

/// Most paths listed.
pub(crate) const MAX_PATHS: usize = 1_000;

impl PathsSpec {
    /// Checks every value and builds the typed query; the first problem found is returned.
    pub(crate) fn validate(&self) -> Result<PathsQuery, SpecError> {
        check_version(self.version)?;
        let project = check_project(&self.project)?;
        let (from_ms, to_ms) = self.date_range.span_ms(&self.time_zone)?;
        let anchor = match self.anchor.event_type.as_str() {
            "" | ANY_EVENT | NEW_USER => return Err(SpecError::PathAnchor),
            other => other.to_owned(),
        };
        if !(1..=MAX_PATH_DEPTH).contains(&self.depth) {
            return Err(SpecError::PathDepth {
                found: self.depth,
                max: MAX_PATH_DEPTH,
            });
        }
        if !(1..=MAX_PATHS).contains(&self.limit) {
            return Err(SpecError::PathLimit {
                found: self.limit,
                max: MAX_PATHS,
            });
        }
        Ok(PathsQuery {
            project,
            anchor,
            anchor_conditions: Conditions::validate(&self.anchor.conditions, "anchor.where")?,
            direction: self.direction,
            depth: self.depth,
            collapse_repeats: self.collapse_repeats,
            limit: self.limit,
            from_ms,
            to_ms,
        })
    }
}

/// Checks a time-to-convert request against a funnel of `steps` steps and its window (ms).
fn validate_conversion_times(
    times: &TimeToConvertSpec,
    steps: usize,
    window_ms: i64,
) -> Result<ConversionTimes, SpecError> {
    let from = times.from_step.unwrap_or(1);
    let to = times.to_step.unwrap_or(steps);
    if from < 1 || from >= to || to > steps {
        return Err(SpecError::ConversionSteps { from, to, steps });
    }
    let bounds = match &times.buckets_ms {
        Some(bounds) => {
            let problem = if bounds.is_empty() || bounds.len() > MAX_CONVERSION_BUCKETS {
                Some("give 1 to 50 lower bounds")
            } else if bounds[0] != 0 {
                Some("the first bound must be 0")
            } else if bounds.windows(2).any(|pair| pair[0] >= pair[1]) {
                Some("bounds must be strictly increasing")
            } else if bounds.iter().any(|&b| b > MAX_WINDOW_MS as u64) {
                Some("bounds must not exceed 366 days (the longest conversion window)")
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(SpecError::ConversionBuckets(problem));
            }
            bounds.iter().map(|&b| b as i64).collect()
        }
        None => DEFAULT_CONVERSION_BUCKETS_MS
            .iter()
            .map(|&b| b as i64)
            .filter(|&b| b == 0 || b <= window_ms)
            .collect(),
    };
    Ok(ConversionTimes {
        from: from - 1,
        to: to - 1,
        bounds,
    })
}

/// The event a spec field names: a type or `_all` (`_new` only opens retention cohorts).
pub(crate) fn series_event(
    event: &EventRef,
    field: &'static str,
) -> Result<SeriesEvent, SpecError> {
    match event.event_type.as_str() {
        "" => Err(SpecError::EmptyEvent { field }),
        NEW_USER => Err(SpecError::NewUserNotAllowed { field }),
        ANY_EVENT => Ok(SeriesEvent::Any),
        other => Ok(SeriesEvent::Type(other.to_owned())),
    }
}

/// Most custom brackets (Amplitude's limit).
pub(crate) const MAX_BRACKETS: usize = 100;

/// Most points in one series: a year of days, or 7 days of hours with room to spare.
pub(crate) const MAX_POINTS: usize = 1_000;

pub(crate) fn parse_time_zone(time_zone: &str) -> Result<Tz, SpecError> {
    time_zone
        .parse()
        .map_err(|_| SpecError::UnknownTimeZone(time_zone.to_owned()))
}

impl FunnelSpec {
    /// Checks every value and builds the typed query; the first problem found is returned.
    pub(crate) fn validate(&self) -> Result<FunnelQuery, SpecError> {
        check_version(self.version)?;
        let project = check_project(&self.project)?;
        let (entry_from_ms, entry_to_ms) = self.date_range.span_ms(&self.time_zone)?;
        let steps = self.validate_steps()?;
        let window_ms = self.validate_window()?;
        let group_by = self.validate_group_by(steps.len())?;
        let group_limit = match self.group_limit {
            // A `breakdown` lists every value unless asked otherwise, as it always has (the
            // benchmark compares every category with ClickHouse's rows).
            None if self.breakdown.is_some() => usize::MAX,
            None => DEFAULT_GROUP_LIMIT,
            Some(found @ 1..=MAX_GROUP_LIMIT) => found,
            Some(found) => {
                return Err(SpecError::GroupLimit {
                    found,
                    max: MAX_GROUP_LIMIT,
                });
            }
        };
        if self.hold_constant.len() > MAX_HELD_PROPERTIES {
            return Err(SpecError::TooManyHeldProperties {
                found: self.hold_constant.len(),
                max: MAX_HELD_PROPERTIES,
            });
        }
        let hold_constant = self
            .hold_constant
            .iter()
            .map(validate_breakdown)
            .collect::<Result<_, _>>()?;
        let step_conditions = self
            .steps
            .iter()
            .enumerate()
            .map(|(k, step)| Conditions::validate(&step.conditions, &format!("steps[{k}].where")))
            .collect::<Result<_, _>>()?;
        let exclusions = self.validate_exclusions(steps.len())?;
        self.check_combinations()?;
        let time_to_convert = self
            .time_to_convert
            .as_ref()
            .map(|times| validate_conversion_times(times, steps.len(), window_ms))
            .transpose()?;
        let over_time = match self.interval {
            Some(interval) => {
                let tz = parse_time_zone(&self.time_zone)?;
                let (from, to) = self.date_range.days(today_in(tz))?;
                Some(buckets(from, to, tz, interval, self.week_start))
            }
            None => None,
        };
        Ok(FunnelQuery {
            over_time,
            time_to_convert,
            project,
            steps,
            exclusions,
            order: self.order,
            totals: self.counting == FunnelCounting::Totals,
            step_conditions,
            window_ms,
            entry_from_ms,
            entry_to_ms,
            group_by,
            group_limit,
            hold_constant,
            strict_deduplication: self.strict.contains(&StrictMode::StrictDeduplication),
            strict_increase: self.strict.contains(&StrictMode::StrictIncrease),
            read_to_ms: i64::MAX,
        })
    }

    fn validate_steps(&self) -> Result<Vec<String>, SpecError> {
        let found = self.steps.len();
        if !(MIN_STEPS..=MAX_STEPS).contains(&found) {
            return Err(SpecError::StepCount {
                found,
                min: MIN_STEPS,
                max: MAX_STEPS,
            });
        }
        self.steps
            .iter()
            .enumerate()
            .map(|(index, step)| match step.event_type.as_str() {
                "" => Err(SpecError::EmptyEventType { index }),
                name => Ok(name.to_owned()),
            })
            .collect()
    }

    /// Group-by properties (amplitude.md §4.2): up to 2; a user property or field is read on the
    /// entry, an event property on any step, and at most one property on a step other than 1.
    fn validate_group_by(&self, steps: usize) -> Result<Vec<GroupProperty>, SpecError> {
        if self.breakdown.is_some() && !self.group_by.is_empty() {
            return Err(SpecError::BreakdownAndGroupBy);
        }
        if let Some(breakdown) = &self.breakdown {
            let property = validate_breakdown(breakdown)?;
            return Ok(vec![GroupProperty { property, step: 0 }]);
        }
        if self.group_by.len() > MAX_GROUP_BY {
            return Err(SpecError::TooManyGroupBy {
                found: self.group_by.len(),
                max: MAX_GROUP_BY,
            });
        }
        let mut checked = Vec::with_capacity(self.group_by.len());
        for (index, group) in self.group_by.iter().enumerate() {
            let property = group_by_property(index, group.kind, &group.property)?;
            let step = match group.step {
                None => 1,
                Some(_) if group.kind != BreakdownKind::Event => {
                    return Err(SpecError::GroupByStepKind { index });
                }
                Some(step) if !(1..=steps).contains(&step) => {
                    return Err(SpecError::GroupByStep { index, step, steps });
                }
                Some(step) => step,
            };
            checked.push(GroupProperty {
                property,
                step: step - 1,
            });
        }
        if checked.iter().filter(|g| g.step > 0).count() > 1 {
            return Err(SpecError::TwoLaterGroupBySteps);
        }
        Ok(checked)
    }

    /// Whether two steps share an event type but not their conditions (step 1 also carries a
    /// segment's): an event could then match one step and not the other.
    fn competing_steps(&self) -> bool {
        self.steps.iter().enumerate().any(|(i, a)| {
            self.steps[i + 1..].iter().any(|b| {
                a.event_type == b.event_type
                    && (a.conditions != b.conditions || (i == 0 && !self.segments.is_empty()))
            })
        })
    }

    /// Options whose combination has no defined answer are refused rather than guessed at.
    fn check_combinations(&self) -> Result<(), SpecError> {
        let incompatible =
            |first, second, why| Err(SpecError::IncompatibleFunnelOptions { first, second, why });
        let exclusions = !self.exclusions.is_empty();
        let totals = self.counting == FunnelCounting::Totals;
        if totals && !self.strict.is_empty() {
            return incompatible(
                "counting \"totals\"",
                "strict",
                "ClickHouse's scan counts one level per person",
            );
        }
        if self.time_to_convert.is_some() && !self.strict.is_empty() {
            return incompatible(
                "time_to_convert",
                "strict",
                "ClickHouse's strict scan keeps no step times",
            );
        }
        // A later step's value is read from the one counted path: the greedy earliest path of a
        // person, or an attempt's own events; the other person modes count a level without
        // naming one path's events.
        let later_step = self.group_by.iter().any(|g| g.step.is_some_and(|s| s > 1));
        if later_step && !totals {
            let refused = if !self.strict.is_empty() {
                Some((
                    "strict",
                    "ClickHouse's scan keeps no path of events to read a later step from",
                ))
            } else if exclusions {
                Some((
                    "exclusions",
                    "a person's level may come from several paths, so no one event is counted for the later step",
                ))
            } else if self.order == FunnelOrder::Any {
                Some((
                    "order \"any\"",
                    "unordered steps may take their events in several ways, so no one event is counted for the later step",
                ))
            } else if self.order == FunnelOrder::Exact {
                Some((
                    "order \"exact\"",
                    "exact order runs as exclusions: no one event is counted for the later step",
                ))
            } else if self.competing_steps() {
                Some((
                    "steps sharing an event type with different conditions",
                    "events of one millisecond could serve either step, so no one event is counted for the later step",
                ))
            } else {
                None
            };
            if let Some((second, why)) = refused {
                return incompatible("group_by step other than 1", second, why);
            }
        }
        if exclusions && !self.strict.is_empty() {
            return incompatible(
                "exclusions",
                "strict",
                "ClickHouse's strict scan has no exclusion steps",
            );
        }
        match self.order {
            FunnelOrder::This => Ok(()),
            _ if !self.strict.is_empty() => incompatible(
                "order",
                "strict",
                "the strict modes are ClickHouse's ordered scan; use order \"this\"",
            ),
            FunnelOrder::Any if exclusions => incompatible(
                "exclusions",
                "order \"any\"",
                "unordered steps have no \"between\"",
            ),
            FunnelOrder::Exact if exclusions => incompatible(
                "exclusions",
                "order \"exact\"",
                "exact order already breaks on every other event",
            ),
            FunnelOrder::Exact if !self.hold_constant.is_empty() => incompatible(
                "hold_constant",
                "order \"exact\"",
                "events without the held property would not break the sequence",
            ),
            _ => Ok(()),
        }
    }

    fn validate_exclusions(&self, steps: usize) -> Result<Vec<ExclusionStep>, SpecError> {
        if self.exclusions.len() > MAX_EXCLUSIONS {
            return Err(SpecError::TooManyExclusions {
                found: self.exclusions.len(),
                max: MAX_EXCLUSIONS,
            });
        }
        self.exclusions
            .iter()
            .enumerate()
            .map(|(index, exclusion)| validate_exclusion(index, exclusion, steps))
            .collect()
    }

    fn validate_window(&self) -> Result<i64, SpecError> {
        let window = self.conversion_window;
        let out_of_range = || SpecError::WindowOutOfRange {
            value: window.value,
            unit: window.unit.as_str(),
        };
        let ms = window
            .value
            .checked_mul(window.unit.millis())
            .and_then(|ms| i64::try_from(ms).ok())
            .ok_or_else(out_of_range)?;
        if ms == 0 || ms > MAX_WINDOW_MS {
            return Err(out_of_range());
        }
        Ok(ms)
    }
}

fn validate_exclusion(
    index: usize,
    exclusion: &FunnelExclusion,
    steps: usize,
) -> Result<ExclusionStep, SpecError> {
    if exclusion.event_type.is_empty() {
        return Err(SpecError::EmptyExclusionEventType { index });
    }
    let [from, to] = exclusion.between.unwrap_or([1, steps]);
    if !(1 <= from && from < to && to <= steps) {
        return Err(SpecError::ExclusionBetween {
            index,
            from,
            to,
            steps,
        });
    }
    Ok(ExclusionStep {
        event_type: exclusion.event_type.clone(),
        conditions: Conditions::validate(
            &exclusion.conditions,
            &format!("exclusions[{index}].where"),
        )?,
        between: (from - 1, to - 1),
    })
}

fn validate_breakdown(breakdown: &Breakdown) -> Result<PropertyRef, SpecError> {
    if breakdown.kind == BreakdownKind::Cohort {
        return group_by_property(0, breakdown.kind, &breakdown.property)
            .map_err(|_| SpecError::EmptyBreakdownProperty);
    }
    property_ref(breakdown.kind, &breakdown.property).map_err(|problem| match problem {
        FilterProblem::UnknownField(name) => SpecError::UnknownField(name),
        _ => SpecError::EmptyBreakdownProperty,
    })
}

/// Group-by property `index` (of any analysis' `group_by`), checked; errors name its place.
pub(crate) fn group_by_property(
    index: usize,
    kind: BreakdownKind,
    name: &str,
) -> Result<PropertyRef, SpecError> {
    if kind == BreakdownKind::Cohort {
        if name.is_empty() {
            return Err(SpecError::EmptyGroupByProperty { index });
        }
        return Ok(PropertyRef::Cohort(crate::cohort::filter::CohortCell::new(
            name,
        )));
    }
    property_ref(kind, name).map_err(|problem| match problem {
        FilterProblem::UnknownField(name) => SpecError::UnknownGroupByField { index, name },
        FilterProblem::CohortIsNotAProperty(name) => SpecError::Filter {
            at: format!("group_by[{index}]"),
            problem: FilterProblem::CohortIsNotAProperty(name),
        },
        _ => SpecError::EmptyGroupByProperty { index },
    })
}

/// The property a spec names by kind and name (a `field` must be a top-level event column).
pub(crate) fn property_ref(kind: BreakdownKind, name: &str) -> Result<PropertyRef, FilterProblem> {
    let name = name.to_owned();
    if name.is_empty() {
        return Err(FilterProblem::EmptyProperty);
    }
    Ok(match kind {
        BreakdownKind::Event => PropertyRef::Event(name),
        BreakdownKind::User => PropertyRef::User(name),
        BreakdownKind::Field => {
            let schema = StorageLayout::default().schema();
            let known =
                schema.field_with_name(&name).is_ok() && !NOT_FIELDS.contains(&name.as_str());
            if !known {
                return Err(FilterProblem::UnknownField(name));
            }
            PropertyRef::Field(name)
        }
        BreakdownKind::Cohort => return Err(FilterProblem::CohortIsNotAProperty(name)),
    })
}

fn invalid_date(field: &'static str, value: &str) -> SpecError {
    SpecError::InvalidDate {
        field,
        value: value.to_owned(),
    }
}

/// Parses `YYYY-MM-DD` strictly (four-digit year, zero-padded month and day).
fn parse_date(field: &'static str, value: &str) -> Result<NaiveDate, SpecError> {
    let date =
        NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| invalid_date(field, value))?;
    if value.len() != 10 || !(1000..=9999).contains(&date.year()) {
        return Err(invalid_date(field, value));
    }
    Ok(date)
}

/// The first instant of `date` in `tz`, in Unix ms. Where a DST gap swallows midnight the day
/// starts at the first local time that exists; where midnight happens twice, at the earlier one.
pub(crate) fn start_of_day(date: NaiveDate, tz: Tz) -> i64 {
    let midnight = NaiveDateTime::new(date, NaiveTime::MIN);
    // Gaps are at most a few hours; probe forward in 15-minute steps.
    (0..=96)
        .filter_map(|quarter| {
            let local = midnight + TimeDelta::minutes(15 * quarter);
            tz.from_local_datetime(&local).earliest()
        })
        .map(|t| t.timestamp_millis())
        .next()
        .unwrap_or_else(|| midnight.and_utc().timestamp_millis())
}
