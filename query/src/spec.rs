//! The query spec: the versioned JSON a caller sends to ask for an analysis.
//!
//! The spec is tagged by `"analysis"` so more analyses can join the funnel. Unknown fields are
//! rejected (a typo must not silently change a result). Deserialising only checks the shape;
//! `FunnelSpec::validate` checks the values and turns them into the typed `FunnelQuery` that
//! the planner uses. Example:
//!
//! ```json
//! {"version": 1, "analysis": "funnel", "project": "marketplace",
//!  "date_range": {"from": "2025-01-01", "to": "2025-01-31"},
//!  "time_zone": "Asia/Seoul",
//!  "steps": [{"event_type": "Category Viewed"}, {"event_type": "Purchase Completed"}],
//!  "conversion_window": {"value": 7, "unit": "day"},
//!  "breakdown": {"kind": "event", "property": "category"}}
//! ```

pub mod filter;
mod intervals;
mod parse;
mod validate;
mod view;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use crate::error::{QueryError, SpecError};

pub use filter::{FilterOp, FilterValue, PropertyFilter, Segment};
pub(crate) use intervals::{PointIndex, buckets, first_day_of, last_day_after};
pub(crate) use validate::{
    ConversionTimes, EventsQuery, FunnelQuery, HOUR_MS, LIFECYCLE_LEAD, LifecycleQuery, MAX_POINTS,
    PathsQuery, PropertyRef, RetentionQuery, ReturnPeriods, RollingWindows, SegmentationQuery,
    SeriesEvent, SeriesQuery, StartEvent, StickinessQuery, check_project, check_version,
    group_by_property, parse_time_zone, property_ref, series_event, start_of_day, today_in,
};
pub use view::View;

/// The spec version this engine understands.
pub const SPEC_VERSION: u32 = 1;

/// A query: which analysis to run and its parameters.
///
/// Written with its `analysis` tag by serde; read by [`parse`] (the same JSON), so that a
/// shape error names its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "analysis", rename_all = "snake_case")]
pub enum QuerySpec {
    /// A conversion funnel (Amplitude's "Funnel Analysis", ordered mode, unique users).
    Funnel(FunnelSpec),
    /// Stored events themselves: a user's event stream and current properties (Amplitude's
    /// "User Look-Up"), or the quarantine.
    Events(EventsSpec),
    /// Event counts over time (Amplitude's "Event Segmentation"): unique persons or event
    /// totals per interval, one series per event.
    Segmentation(SegmentationSpec),
    /// Retention (Amplitude's "Retention Analysis"): of the persons who did the start event in
    /// each period, how many did the return event N periods later.
    Retention(RetentionSpec),
    /// Lifecycle (Amplitude's "Lifecycle"): per period, the persons who did an event split into
    /// new, current and resurrected, and those who stopped (dormant).
    Lifecycle(LifecycleSpec),
    /// Stickiness (Amplitude's "Stickiness"): per week or month, how many persons did an event on
    /// exactly (or at least) N different days.
    Stickiness(StickinessSpec),
    /// Paths (Amplitude's "Journeys"): the most common sequences of events right after or right
    /// before an event, and the flows between them for a Sankey view.
    Paths(PathsSpec),
    /// A behavioural cohort (Amplitude's cohort definition): the persons meeting conditions on
    /// what they did, counted and listed with their ids.
    Cohort(crate::cohort::spec::CohortSpec),
    /// RFM (recency, frequency, monetary): every buyer scored 1–5 on each, and the named
    /// segments (champions, loyal, at risk, hibernating, …).
    Rfm(crate::rfm::RfmSpec),
}

impl QuerySpec {
    /// Parses a spec from JSON text; any problem is a [`SpecError`] (the caller's fault).
    pub fn from_json(text: &str) -> Result<QuerySpec, QueryError> {
        let value = serde_json::from_str(text).map_err(|e| SpecError::Json(e.to_string()))?;
        Ok(parse::spec_from_value(value)?)
    }
}

impl<'de> Deserialize<'de> for QuerySpec {
    fn deserialize<D: serde::Deserializer<'de>>(reader: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(reader)?;
        parse::spec_from_value(value).map_err(serde::de::Error::custom)
    }
}

/// An ordered funnel counted in unique users ("earliest, longest path"; see `funnel::path`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunnelSpec {
    /// Spec version; must be [`SPEC_VERSION`].
    pub version: u32,
    /// Only events of this project count; all projects when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Groups of persons compared side by side (at most 10), each with its own result; one
    /// group of everyone when absent. Segment conditions apply to the step-1 event (as in Amplitude).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
    /// The days in which step 1 must happen (inclusive, in `time_zone`).
    pub date_range: DateRange,
    /// IANA time zone for the date range, "UTC" when absent.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// The steps in order, 2 to 32 of them. A step may repeat an earlier event type.
    pub steps: Vec<FunnelStep>,
    /// How long after step 1 the later steps may happen; 1 day when absent.
    #[serde(default = "ConversionWindow::one_day")]
    pub conversion_window: ConversionWindow,
    /// Split the counts by a property of the step-1 event: the one-property form of
    /// `group_by` (not both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<Breakdown>,
    /// Split the counts by up to 2 properties (Amplitude's group-by, amplitude.md §4.2): a user
    /// property or field of the entry (step 1), or an event property of any step (at most one
    /// property on a step other than 1). Each person is in exactly one group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<GroupBy>,
    /// How many groups are listed (most persons entering first, ties by value); the others are
    /// summed into one "(other)" row. At most 1,000; when absent 10 with `group_by`, and every
    /// value with `breakdown` (as before `group_by` existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_limit: Option<usize>,
    /// Hold these properties constant (at most 3): a path counts only through events sharing
    /// their values, events lacking one do not count, and persons are counted once per distinct
    /// value (Amplitude's "hold property constant": unique (user, value) pairs). Breaking down by
    /// a held property splits by that value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hold_constant: Vec<Breakdown>,
    /// ClickHouse `windowFunnel` modes instead of Amplitude's earliest-longest path:
    /// `strict_deduplication` (a step already reached firing again ends the scan) and
    /// `strict_increase` (each step strictly after the previous one's time).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub strict: Vec<StrictMode>,
    /// Exclusion steps (at most 31): a path whose steps have one of these events strictly
    /// between them (inside the exclusion's `between` steps) does not convert past the step after
    /// it (Amplitude's "exclude users who did"). Not with `strict` modes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusions: Vec<FunnelExclusion>,
    /// How the steps must be ordered: `this` (the default), `any` or `exact`.
    #[serde(default, skip_serializing_if = "FunnelOrder::is_default")]
    pub order: FunnelOrder,
    /// What the counts count: `uniques` (persons, each by their earliest longest path; the
    /// default) or `totals` (every attempt: each step-1 event in the date range starts a path,
    /// and a later step's event serves one path at most). `totals` works in every order, with
    /// exclusions, time to convert and a later-step group-by; not with strict modes.
    #[serde(default, skip_serializing_if = "FunnelCounting::is_default")]
    pub counting: FunnelCounting,
    /// Conversion over time: when given, the result also has the funnel of the persons whose
    /// entry fell in each point of this interval (hour, day, week or month).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Interval>,
    /// The first day of a week, for `interval: week`; Monday when absent.
    #[serde(default, skip_serializing_if = "WeekStart::is_default")]
    pub week_start: WeekStart,
    /// Time to convert: when given, the result also has the time between two steps of each
    /// counted path (median, average, histogram) and each step's average time from the one
    /// before. Not with `strict` modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_convert: Option<TimeToConvertSpec>,
}

/// What time to convert measures (Amplitude's "Time to Convert" chart).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeToConvertSpec {
    /// The step the time is measured from (1-based); step 1 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_step: Option<usize>,
    /// The step the time is measured to (1-based, after `from_step`); the last step when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_step: Option<usize>,
    /// Lower bounds of the histogram's buckets in milliseconds, strictly increasing from 0 (a
    /// bucket holds times from its bound, included, to the next, excluded; the last is open).
    /// When absent: 0, 1 s, 10 s, 1 min, 10 min, 1 h, 1 day, 7 days and 30 days, those inside the
    /// conversion window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets_ms: Option<Vec<u64>>,
}

/// Default lower bounds of the time-to-convert buckets (ms), cut at the conversion window.
pub const DEFAULT_CONVERSION_BUCKETS_MS: [u64; 9] = [
    0,
    1_000,
    10_000,
    60_000,
    600_000,
    3_600_000,
    86_400_000,
    7 * 86_400_000,
    30 * 86_400_000,
];

/// Most time-to-convert buckets a funnel may ask for.
pub const MAX_CONVERSION_BUCKETS: usize = 50;

/// Amplitude's funnel order modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FunnelOrder {
    /// "This order": the steps in the order given; other events may happen in between.
    #[default]
    This,
    /// "Any order": step 1 enters; the later steps may happen in any order inside the window
    /// (not before step 1).
    Any,
    /// "Exact order": the steps in the order given with no other event strictly between two
    /// consecutive steps (an event in the same millisecond as a step does not break it).
    Exact,
}

impl FunnelOrder {
    fn is_default(&self) -> bool {
        *self == FunnelOrder::This
    }

    /// The mode's name as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            FunnelOrder::This => "this",
            FunnelOrder::Any => "any",
            FunnelOrder::Exact => "exact",
        }
    }
}

/// What a funnel counts (Amplitude's "Count by": unique users or event totals).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FunnelCounting {
    /// Persons, each counted once by their earliest, longest path.
    #[default]
    Uniques,
    /// Attempts: every step-1 event in the date range starts one, in time order; each attempt
    /// takes, step after step, the earliest matching event at or after the previous step's time,
    /// inside the window, that no earlier attempt took for a later step ("search ×4 → add to
    /// cart" is 4 attempts at step 1 and 1 at step 2).
    Totals,
}

impl FunnelCounting {
    /// Whether this is the default, persons (left out of specs and results).
    pub fn is_default(&self) -> bool {
        *self == FunnelCounting::Uniques
    }
}

/// An exclusion step: an event that must not happen between two steps of a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunnelExclusion {
    /// The `event_type` of the excluded event.
    pub event_type: String,
    /// Conditions the excluded event must meet (all of them); none when absent.
    #[serde(rename = "where", default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<PropertyFilter>,
    /// The steps (1-based, `from < to`) between which the event excludes; between the first and
    /// the last step when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub between: Option<[usize; 2]>,
}

/// A ClickHouse `windowFunnel` mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrictMode {
    /// `strict_deduplication`.
    StrictDeduplication,
    /// `strict_increase`.
    StrictIncrease,
}

pub(crate) fn default_time_zone() -> String {
    "UTC".to_owned()
}

/// The days in which step 1 must happen: either fixed dates (`from` and `to`, `YYYY-MM-DD`, both
/// included) or `last_days`, the N days ending with today in the query's time zone (Amplitude's
/// "Last N days", today included).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateRange {
    /// First day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Last day (included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The number of days ending with today, instead of `from` and `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_days: Option<u32>,
}

impl DateRange {
    /// A fixed range of days, both included.
    pub fn between(from: &str, to: &str) -> Self {
        DateRange {
            from: Some(from.to_owned()),
            to: Some(to.to_owned()),
            last_days: None,
        }
    }

    /// The `days` days ending with today.
    pub fn last_days(days: u32) -> Self {
        DateRange {
            last_days: Some(days),
            ..DateRange::default()
        }
    }
}

/// One funnel step: an event type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunnelStep {
    /// The `event_type` an event must have to count for this step.
    pub event_type: String,
    /// Conditions the event must meet (all of them); none when absent.
    #[serde(rename = "where", default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<PropertyFilter>,
}

/// The conversion window, measured from the step-1 event of a path (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionWindow {
    /// How many units.
    pub value: u64,
    /// The unit.
    pub unit: WindowUnit,
}

impl ConversionWindow {
    pub(crate) fn one_day() -> Self {
        ConversionWindow {
            value: 1,
            unit: WindowUnit::Day,
        }
    }
}

/// Unit of a [`ConversionWindow`]. A day is 24 hours, not a calendar day (as in Amplitude).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowUnit {
    /// 1,000 ms.
    Second,
    /// 60 seconds.
    Minute,
    /// 60 minutes.
    Hour,
    /// 24 hours.
    Day,
}

impl WindowUnit {
    /// The unit's length in milliseconds.
    pub fn millis(self) -> u64 {
        match self {
            WindowUnit::Second => 1_000,
            WindowUnit::Minute => 60_000,
            WindowUnit::Hour => 3_600_000,
            WindowUnit::Day => 86_400_000,
        }
    }

    /// The unit's name as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            WindowUnit::Second => "second",
            WindowUnit::Minute => "minute",
            WindowUnit::Hour => "hour",
            WindowUnit::Day => "day",
        }
    }
}

/// Split the funnel by a property of the person's entry (step-1) event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Breakdown {
    /// Where the property lives.
    pub kind: BreakdownKind,
    /// Its name (without the `ep:`/`up:` column prefix).
    pub property: String,
}

/// One funnel group-by property: where it lives, its name, and for an event property the step
/// whose event it is read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupBy {
    /// Where the property lives.
    pub kind: BreakdownKind,
    /// Its name (without the `ep:`/`up:` column prefix).
    pub property: String,
    /// The 1-based step whose event on the person's counted path gives the value; only for
    /// `kind: event`. Step 1 (the entry) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
}

impl From<Breakdown> for GroupBy {
    fn from(b: Breakdown) -> Self {
        GroupBy {
            kind: b.kind,
            property: b.property,
            step: None,
        }
    }
}

/// Where a breakdown property is looked up on the step-1 event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakdownKind {
    /// An event property (typed `ep:` column, else `event_properties` JSON).
    Event,
    /// A user property as sent with the event (typed `up:` column, else `user_properties` JSON).
    User,
    /// A top-level event field such as `platform` or `country`.
    Field,
    /// Membership of a saved cohort, by its latest computation: `property` is the cohort's
    /// name, `op` `is` (members) or `is_not` (everyone else). In conditions and segments only.
    Cohort,
}

/// Most events an [`EventsSpec`] may list.
pub const MAX_EVENTS_LIMIT: usize = 10_000;

/// Stored events, newest first, with their count per event type. With `user_id` or `device_id`
/// it is that user's event stream, and the result also carries the user's current properties.
/// Example: `{"version": 1, "analysis": "events", "project": "marketplace", "user_id": "u-42"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsSpec {
    /// Spec version; must be [`SPEC_VERSION`].
    pub version: u32,
    /// Which dataset: the main one, or the events the tracking plan rejected.
    #[serde(default)]
    pub dataset: Dataset,
    /// Only events of this project; all projects when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Only events with this `user_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Only events with this `device_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// Only events of these types (all types when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_types: Vec<String>,
    /// Only events with this `insert_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insert_id: Option<String>,
    /// Only events on these days (in `time_zone`); all time when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_range: Option<DateRange>,
    /// IANA time zone for the date range, "UTC" when absent.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// How many events to return, newest first (0 ..= 10 000, default 100); counts cover all.
    #[serde(default = "default_events_limit")]
    pub limit: usize,
}

fn default_events_limit() -> usize {
    100
}

/// A stored dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dataset {
    /// Accepted events (`events/`), what every analysis reads.
    #[default]
    Events,
    /// Events the tracking plan rejected (`quarantine/`), each with its reasons in
    /// `taxonomy_issues`; `sluice quarantine replay` moves them back once the plan is fixed.
    Quarantine,
}

/// The event that stands for "any event" in a series (Amplitude's `_all`): every stored event
/// except `$identify` and `$groupidentify`, which are not counted events.
pub const ANY_EVENT: &str = "_all";

/// Most series in one segmentation (Amplitude's limit).
pub const MAX_SERIES: usize = 10;

/// Event segmentation: per interval of the date range, each series' unique persons or event
/// totals. Example (daily active users and purchases in Seoul time):
///
/// ```json
/// {"version": 1, "analysis": "segmentation", "project": "marketplace",
///  "date_range": {"last_days": 30}, "time_zone": "Asia/Seoul", "interval": "day",
///  "events": [{"event_type": "_all"},
///             {"event_type": "Purchase Completed", "measure": "totals"}]}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentationSpec {
    /// Spec version; must be [`SPEC_VERSION`].
    pub version: u32,
    /// Only events of this project count; all projects when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Groups of persons compared side by side (at most 10), each with its own result; one
    /// group of everyone when absent. Segment conditions apply to every counted event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
    /// Split the result by up to 2 properties (Amplitude's group-by), read on every counted event
    /// (as the segments): the analysis runs once per group of values, over those events having the
    /// values, as a segment would. Groups are ranked by the persons who did that event in the date
    /// range with those values (ties by value, none first); the first `group_limit` are listed and
    /// the rest summed into one "(other)" group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<Breakdown>,
    /// How many groups are listed before "(other)": 1 to 100, 10 when absent. Each group is
    /// one more pass over the events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_limit: Option<usize>,
    /// The days counted (inclusive, in `time_zone`).
    pub date_range: DateRange,
    /// IANA time zone for days, weeks and months; "UTC" when absent.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// The length of one point of the series; a day when absent.
    #[serde(default)]
    pub interval: Interval,
    /// The first day of a week, for `interval: week`; Monday when absent.
    #[serde(default)]
    pub week_start: WeekStart,
    /// The series, 1 to 10: each an event type (or `_all`) and what to count.
    pub events: Vec<SeriesSpec>,
    /// How every series is shown over time: a rolling average or rolling window of N points,
    /// or cumulative; each point on its own when absent. Rolling views read the N - 1
    /// intervals before the date range too, so their first window is full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<View>,
    /// Up to 10 formulas over the series (Amplitude's custom formulas), each evaluated per
    /// point (and per segment): `UNIQUES(B)/UNIQUES(A)`, `ROLLAVG(TOTALS, A, 7)`, …
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub formulas: Vec<FormulaSpec>,
}

/// Most formulas in one segmentation (Amplitude's limit).
pub const MAX_FORMULAS: usize = 10;

/// One formula of a segmentation. Grammar and semantics: `docs/query-api.md`, "Formulas".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormulaSpec {
    /// The expression, e.g. `UNIQUES(B) / UNIQUES(A)`; letters name the series in order (A is
    /// the first). Function names and letters are case-insensitive. A leading `%:` or `$:`
    /// (Amplitude's output-format prefixes) sets `format`.
    pub formula: String,
    /// The name shown in tables and CSV headers; the formula's text when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How the values are meant to be shown; `number` when absent (or what the prefix says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FormulaFormat>,
}

/// How a formula's values are shown. The values themselves never change: a `percent` formula's
/// values are fractions (0.25), which the text table and CSV print as 25 under a `(%)` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormulaFormat {
    /// A plain number.
    #[default]
    Number,
    /// A fraction shown as a percentage (Amplitude's `%:` prefix).
    Percent,
    /// An amount of money (Amplitude's `$:` prefix).
    Currency,
}

impl FormulaFormat {
    /// The format's name as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            FormulaFormat::Number => "number",
            FormulaFormat::Percent => "percent",
            FormulaFormat::Currency => "currency",
        }
    }

    /// Whether this is the default format (left out of results).
    pub fn is_number(&self) -> bool {
        *self == FormulaFormat::Number
    }
}

/// One series of a segmentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesSpec {
    /// The event type counted, or [`ANY_EVENT`] (`_all`) for any event.
    pub event_type: String,
    /// What is counted; unique persons when absent.
    #[serde(default)]
    pub measure: Measure,
    /// The event property (or user property, or field) a `property_*` measure reads; required
    /// by those measures and refused by the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<Breakdown>,
    /// For `measure: frequency`: the lower bounds of the buckets, strictly increasing from 1 or
    /// more (a bucket holds counts from its bound, included, to the next one, excluded; the last
    /// is open). `[1, 2, …, 10]` when absent: exactly 1 to 9 times, then 10 or more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_buckets: Option<Vec<u64>>,
    /// Conditions the event must meet (all of them); none when absent.
    #[serde(rename = "where", default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<PropertyFilter>,
}

/// Default lower bounds of the frequency buckets: 1 to 9 times exactly, then 10 or more.
pub const DEFAULT_FREQUENCY_BUCKETS: [u64; 10] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

/// Most frequency buckets a series may ask for.
pub const MAX_FREQUENCY_BUCKETS: usize = 50;

/// What a segmentation series counts per interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Distinct persons who did the event in the interval (Amplitude's "Uniques").
    #[default]
    Uniques,
    /// Events (Amplitude's "Event Totals").
    Totals,
    /// Uniques as a percentage of the persons active in the interval (who did any counted
    /// event, in the segment), Amplitude's "Active %"; null when nobody was active.
    ActivePercent,
    /// Events per person who did the event (totals ÷ uniques, Amplitude's "Average"); null when
    /// nobody did it.
    Average,
    /// Persons by how many times they did the event in the interval (Amplitude's "Frequency"),
    /// one count per bucket; `values` holds the uniques.
    Frequency,
    /// Sum of a numeric property over the events (Amplitude's "Property Sum"); values that are
    /// not numbers and events without the property are left out.
    PropertySum,
    /// Mean of a numeric property over the events having it (`PROPSUM / events with a value`,
    /// Amplitude's "Property Average", ignoring "(none)"); null without values.
    PropertyAverage,
    /// Smallest value of a numeric property; null without values.
    PropertyMin,
    /// Largest value of a numeric property; null without values.
    PropertyMax,
    /// Median of a numeric property over the events (the mean of the two middle values for an
    /// even count); null without values.
    PropertyMedian,
    /// Distinct values of the property (any type, compared as text exactly) in the interval;
    /// exact, where Amplitude's `PROPCOUNT` estimates.
    PropertyDistinctCount,
}

impl Measure {
    /// The measure's name as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Uniques => "uniques",
            Measure::Totals => "totals",
            Measure::ActivePercent => "active_percent",
            Measure::Average => "average",
            Measure::Frequency => "frequency",
            Measure::PropertySum => "property_sum",
            Measure::PropertyAverage => "property_average",
            Measure::PropertyMin => "property_min",
            Measure::PropertyMax => "property_max",
            Measure::PropertyMedian => "property_median",
            Measure::PropertyDistinctCount => "property_distinct_count",
        }
    }

    /// Whether the measure reads a property (`property` required).
    pub fn reads_property(self) -> bool {
        matches!(
            self,
            Measure::PropertySum
                | Measure::PropertyAverage
                | Measure::PropertyMin
                | Measure::PropertyMax
                | Measure::PropertyMedian
                | Measure::PropertyDistinctCount
        )
    }
}

/// The length of one point of a time series, cut in the query's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    /// One clock hour.
    Hour,
    /// One calendar day.
    #[default]
    Day,
    /// Seven days from the week start.
    Week,
    /// One calendar month.
    Month,
}

/// The first day of a week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeekStart {
    /// Weeks run Monday to Sunday.
    #[default]
    Monday,
    /// Weeks run Sunday to Saturday.
    Sunday,
}

impl WeekStart {
    fn is_default(&self) -> bool {
        *self == WeekStart::Monday
    }
}

/// The start event meaning "the person's first event ever" (Amplitude's `_new`).
pub const NEW_USER: &str = "_new";

/// Most periods a retention table may follow (a year of days).
pub const MAX_RETENTION_PERIODS: u32 = 366;

/// Retention: cohorts by the period (day, week, month in the query's time zone) in which
/// persons did the start event inside the date range, and for each cohort how many did the
/// return event N periods later. Example (new users, 7-day retention, any event counts):
///
/// ```json
/// {"version": 1, "analysis": "retention", "project": "marketplace",
///  "date_range": {"from": "2025-01-01", "to": "2025-01-31"}, "time_zone": "Asia/Seoul",
///  "start_event": {"event_type": "_new"}, "return_event": {"event_type": "_all"},
///  "periods": 7}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSpec {
    /// Spec version; must be [`SPEC_VERSION`].
    pub version: u32,
    /// Only events of this project count; all projects when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Groups of persons compared side by side (at most 10), each with its own result; one
    /// group of everyone when absent. Segment conditions apply to the start event (as in Amplitude).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
    /// Split the result by up to 2 properties (Amplitude's group-by), read on the start event (as
    /// the segments: return events are not split): the analysis runs once per group of values,
    /// over those events having the values, as a segment would. Groups are ranked by the persons
    /// who did that event in the date range with those values (ties by value, none first); the
    /// first `group_limit` are listed and the rest summed into one "(other)" group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<Breakdown>,
    /// How many groups are listed before "(other)": 1 to 100, 10 when absent. Each group is
    /// one more pass over the events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_limit: Option<usize>,
    /// The days in which start events open cohorts (inclusive, in `time_zone`); return events
    /// may fall after it.
    pub date_range: DateRange,
    /// IANA time zone for days, weeks and months; "UTC" when absent.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// The start event: an event type, `_all` (any event) or `_new` (the person's first event
    /// ever, so each person is in one cohort at most).
    pub start_event: EventRef,
    /// The return event: an event type or `_all`. Give this or `return_events`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_event: Option<EventRef>,
    /// One or two return events (Amplitude's return-event series), each answered with its own
    /// table; instead of `return_event`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub return_events: Vec<EventRef>,
    /// How return periods are cut: `rolling` windows of 24 hours (7 × 24, 30 × 24) from each
    /// start event, Amplitude's default, when absent; or `calendar` days (weeks, months) in the
    /// time zone.
    #[serde(default)]
    pub boundaries: RetentionBoundaries,
    /// The length of a period; a day when absent.
    #[serde(default)]
    pub interval: CalendarInterval,
    /// The first day of a week, for `interval: week`; Monday when absent.
    #[serde(default)]
    pub week_start: WeekStart,
    /// How many periods after the start are followed (period 0 is the start period itself).
    pub periods: u32,
    /// What counts as returning in period N; `return_on` when absent.
    #[serde(default)]
    pub method: RetentionMethod,
}

/// An event picked in a spec: a type, or one of the special names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRef {
    /// The event type, or `_all` / `_new` where allowed.
    pub event_type: String,
    /// Conditions the event must meet (all of them); none when absent.
    #[serde(rename = "where", default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<PropertyFilter>,
}

/// How retention periods are cut. Cohorts are calendar periods of the start event either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetentionBoundaries {
    /// Windows per start event (Amplitude's default): period N is hours `[24N, 24(N+1))` after
    /// the start's hour for days (168-hour windows for weeks, 720-hour ones for months), times
    /// rounded down to the hour; each start event of a cohort opens its own windows.
    #[default]
    Rolling,
    /// Calendar days (weeks, months) in the query's time zone; several start events in one
    /// period put the person in that period's cohort once.
    Calendar,
}

/// The length of a period counted per person (retention, lifecycle): calendar days, weeks or
/// months in the query's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalendarInterval {
    /// Days.
    #[default]
    Day,
    /// Weeks from the week start.
    Week,
    /// Calendar months.
    Month,
}

/// What counts as returning in period N.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetentionMethod {
    /// The return event in exactly period N (Amplitude's "Return On", N-day retention).
    #[default]
    ReturnOn,
    /// The return event in period N or any later one (Amplitude's "Return On or After").
    ReturnOnOrAfter,
    /// Custom brackets `[from, to)` of periods, e.g. `[[1, 2], [2, 7], [7, 30]]` (Amplitude's
    /// "Return On (Custom)"): returned in any period of the bracket.
    Brackets(Vec<[u32; 2]>),
}

/// Lifecycle: for each period of the date range, who did the event — **new** (first event ever
/// in this period, or doing this event for the first time), **current** (also did it the period
/// before) or **resurrected** (not the period before, but at some time earlier) — and who did it
/// the period before but not in this one (**dormant**, split by the state they left).
/// Example: `{"version": 1, "analysis": "lifecycle", "project": "marketplace",
/// "date_range": {"last_days": 56}, "time_zone": "Asia/Seoul", "interval": "week",
/// "event": {"event_type": "Service Viewed"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleSpec {
    /// Spec version; must be [`SPEC_VERSION`].
    pub version: u32,
    /// Only events of this project count; all projects when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Groups of persons compared side by side (at most 10), each with its own result; one
    /// group of everyone when absent. Segment conditions apply to the events counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
    /// Split the result by up to 2 properties (Amplitude's group-by), read on the events counted
    /// (as the segments): the analysis runs once per group of values, over those events having the
    /// values, as a segment would. Groups are ranked by the persons who did that event in the date
    /// range with those values (ties by value, none first); the first `group_limit` are listed and
    /// the rest summed into one "(other)" group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<Breakdown>,
    /// How many groups are listed before "(other)": 1 to 100, 10 when absent. Each group is
    /// one more pass over the events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_limit: Option<usize>,
    /// The periods reported (inclusive days, in `time_zone`); history before it is read to tell
    /// new from resurrected persons.
    pub date_range: DateRange,
    /// IANA time zone for days, weeks and months; "UTC" when absent.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// The length of a period; a day when absent.
    #[serde(default)]
    pub interval: CalendarInterval,
    /// The first day of a week, for `interval: week`; Monday when absent.
    #[serde(default)]
    pub week_start: WeekStart,
    /// The event: a type, or `_all` (any event).
    pub event: EventRef,
}

/// Stickiness: for each week or month (whole, in the time zone) overlapping the date range, the
/// persons who did the event there, by the number of different days they did it on. Example:
/// `{"version": 1, "analysis": "stickiness", "project": "marketplace",
/// "date_range": {"last_days": 28}, "time_zone": "Asia/Seoul", "interval": "week",
/// "event": {"event_type": "Service Viewed"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StickinessSpec {
    /// Spec version; must be [`SPEC_VERSION`].
    pub version: u32,
    /// Only events of this project count; all projects when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Groups of persons compared side by side (at most 10), each with its own result; one
    /// group of everyone when absent. Segment conditions apply to the events counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
    /// Split the result by up to 2 properties (Amplitude's group-by), read on the events counted
    /// (as the segments): the analysis runs once per group of values, over those events having the
    /// values, as a segment would. Groups are ranked by the persons who did that event in the date
    /// range with those values (ties by value, none first); the first `group_limit` are listed and
    /// the rest summed into one "(other)" group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<Breakdown>,
    /// How many groups are listed before "(other)": 1 to 100, 10 when absent. Each group is
    /// one more pass over the events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_limit: Option<usize>,
    /// The days whose weeks or months are reported (inclusive, in `time_zone`).
    pub date_range: DateRange,
    /// IANA time zone for days, weeks and months; "UTC" when absent.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// `week` (default) or `month`.
    #[serde(default)]
    pub interval: StickinessInterval,
    /// The first day of a week; Monday when absent.
    #[serde(default)]
    pub week_start: WeekStart,
    /// The event: a type, or `_all` (any event).
    pub event: EventRef,
}

/// The period stickiness counts days in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StickinessInterval {
    /// Weeks: 1 to 7 days.
    #[default]
    Week,
    /// Calendar months: 1 to 31 days.
    Month,
}

/// Most events a path follows after (or before) its anchor.
pub const MAX_PATH_DEPTH: usize = 10;

/// Paths from (or to) an anchor event: for each person who did the anchor event in the date
/// range, the events they did right after their first such event (or right before it). Example:
/// `{"version": 1, "analysis": "paths", "project": "marketplace",
/// "date_range": {"last_days": 7}, "time_zone": "Asia/Seoul",
/// "anchor": {"event_type": "Search Performed"}, "depth": 3}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathsSpec {
    /// Spec version; must be [`SPEC_VERSION`].
    pub version: u32,
    /// Only events of this project count; all projects when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Groups of persons compared side by side (at most 10), each with its own result; one
    /// group of everyone when absent. Segment conditions apply to the anchor event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
    /// Split the result by up to 2 properties (Amplitude's group-by), read on the anchor event (as
    /// the segments): the analysis runs once per group of values, over those events having the
    /// values, as a segment would. Groups are ranked by the persons who did that event in the date
    /// range with those values (ties by value, none first); the first `group_limit` are listed and
    /// the rest summed into one "(other)" group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<Breakdown>,
    /// How many groups are listed before "(other)": 1 to 100, 10 when absent. Each group is
    /// one more pass over the events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_limit: Option<usize>,
    /// The days in which the anchor event must happen (inclusive, in `time_zone`).
    pub date_range: DateRange,
    /// IANA time zone for the date range; "UTC" when absent.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// The event paths start (or end) at.
    pub anchor: EventRef,
    /// `after` (default): the events following the anchor; `before`: those leading to it.
    #[serde(default)]
    pub direction: PathDirection,
    /// How many events after (before) the anchor, 1 to 10; 3 when absent.
    #[serde(default = "default_depth")]
    pub depth: usize,
    /// Count a run of the same event as one step (`search, search, view` → `search, view`).
    #[serde(default)]
    pub collapse_repeats: bool,
    /// How many of the most common paths to list, 1 to 1,000; 20 when absent.
    #[serde(default = "default_path_limit")]
    pub limit: usize,
}

fn default_depth() -> usize {
    3
}

fn default_path_limit() -> usize {
    20
}

/// Which side of the anchor a path covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathDirection {
    /// The events after the anchor.
    #[default]
    After,
    /// The events before the anchor (paths end with it).
    Before,
}
