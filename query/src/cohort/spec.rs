//! The cohort spec: which persons belong to a behavioural cohort (Amplitude's cohort conditions,
//! amplitude.md §4.6), as JSON. Example — *persons who viewed a service at least 3 times in the
//! last 7 days and did not purchase*:
//!
//! ```json
//! {"version": 1, "analysis": "cohort", "project": "marketplace", "time_zone": "Asia/Seoul",
//!  "definition": {"all": [
//!    {"performed": {"event": {"event_type": "Service Viewed"}, "during": {"last_days": 7},
//!                   "count": {"op": "greater_or_equal", "value": 3}}},
//!    {"did_not_perform": {"event": {"event_type": "Purchase Completed"},
//!                         "during": {"last_days": 7}}}]}}
//! ```

use serde::{Deserialize, Serialize};

use crate::spec::{
    CalendarInterval, EventRef, FilterOp, FilterValue, RetentionBoundaries, WeekStart,
    default_time_zone,
};

/// The `cohort` analysis: the persons meeting a definition, counted and listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CohortSpec {
    /// Spec version; must be [`crate::spec::SPEC_VERSION`].
    pub version: u32,
    /// Only events of this project count; all projects when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// IANA time zone of the days in the definition, "UTC" when absent.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// The day the cohort is computed on (`YYYY-MM-DD`, in `time_zone`): "last 7 days" ends
    /// with it, and events after it are not read. Today when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// Who belongs.
    pub definition: CohortCondition,
    /// How many members are listed with their ids (the count is always whole): 100 when
    /// absent, at most 100 000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// A condition on a person. The universe is every person with a counted event of the project up
/// to the end of `as_of`; `not` and `did_not_perform` are taken within it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CohortCondition {
    /// Every condition holds (Amplitude's "+ Add"). At least one.
    All(Vec<CohortCondition>),
    /// At least one holds (Amplitude's "…or"). At least one.
    Any(Vec<CohortCondition>),
    /// The condition does not hold (Amplitude's exclusions: "did not", "not part of").
    Not(Box<CohortCondition>),
    /// The person did an event during a range, measured one way.
    Performed(Performed),
    /// The person did not do the event during the range (Amplitude's "did not"): the same as
    /// `not` of `performed` with the default measure.
    DidNotPerform(DidNotPerform),
    /// A user property, as it was at the person's events in a range.
    UserProperty(UserPropertyCondition),
    /// A static list: the persons with one of these user ids (an uploaded CSV of ids).
    UserIds(Vec<String>),
    /// A member of another saved cohort, by its latest computation (Amplitude's "in cohort";
    /// "not part of" is `not` of this).
    InCohort(String),
    /// A buyer in an RFM segment, scored among the buyers of the range (`crate::rfm`).
    Rfm(RfmCondition),
    /// Entered a funnel in the range and reached a step, or stopped right after one (Amplitude's
    /// funnel drop-off cohorts: "reached step 2 but not step 3").
    Funnel(FunnelCondition),
    /// The person's first counted event ever fell in the range (Amplitude's "had been new").
    WasNew(WasNew),
    /// Did one event, then later another, in the range (Amplitude's "…then").
    Then(Then),
    /// Did one event more (or fewer, or as many) times than another in the range (Amplitude's
    /// "relative count").
    RelativeCount(RelativeCount),
    /// Started in a range and returned (or did not) in a period after, as a retention chart
    /// counts a cell.
    Retention(RetentionCondition),
    /// Was new, current, resurrected or dormant in one interval, as a lifecycle chart counts a
    /// bar.
    Lifecycle(LifecycleCondition),
}

/// "Returned" / "did not return": the person's cohort is the period (day, week, month) of
/// their first start event in `started_during`; they returned when a return event falls in
/// the periods `period` (or `periods`) after it, cut as a retention chart with these
/// `boundaries` cuts them. Persons with no start in the range hold neither way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionCondition {
    /// The start event: a type, `_all` or `_new` (the person's first counted event ever).
    pub start_event: EventRef,
    /// The return event: a type or `_all`.
    pub return_event: EventRef,
    /// The days the start must fall on (`from`/`to`, `last_days` or `since`).
    pub started_during: During,
    /// The length of a period; a day when absent.
    #[serde(default)]
    pub interval: CalendarInterval,
    /// The first day of a week, for `interval: week`; Monday when absent.
    #[serde(default)]
    pub week_start: WeekStart,
    /// Rolling windows from each start (the default) or calendar periods.
    #[serde(default)]
    pub boundaries: RetentionBoundaries,
    /// Returned in exactly period N after the start's (N-day retention, "Return On").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u32>,
    /// Returned in any period of `[from, to)` after the start's ("Return On (Custom)").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub periods: Option<[u32; 2]>,
    /// `true`: the persons who returned; `false`: those of the cohort who did not.
    pub returned: bool,
}

/// "Was new / current / resurrected / dormant" in the interval starting on day `in`, by the
/// lifecycle chart's definitions for `event`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleCondition {
    /// The event: a type or `_all`, with optional `where` conditions.
    pub event: EventRef,
    /// The state in the interval.
    pub state: LifecycleState,
    /// Day, week or month; a day when absent.
    #[serde(default)]
    pub interval: CalendarInterval,
    /// The first day of a week, for `interval: week`; Monday when absent.
    #[serde(default)]
    pub week_start: WeekStart,
    /// The interval's first day (`YYYY-MM-DD`): a week's first day, a month's 1st.
    #[serde(rename = "in")]
    pub starting: String,
}

/// A person's lifecycle state in an interval (amplitude.md §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleState {
    /// Did the event, and was new in the interval (or did it for the first time).
    New,
    /// Did the event in the interval and in the one before.
    Current,
    /// Did the event in the interval, not in the one before, but at some time earlier.
    Resurrected,
    /// Did the event in the interval before, not in this one.
    Dormant,
}

/// "Relative count": how often `event` happened compared with `compared_to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelativeCount {
    /// The event counted.
    pub event: EventRef,
    /// How its count compares with the other's.
    pub op: CompareOp,
    /// The event it is compared with.
    pub compared_to: EventRef,
    /// When both are counted.
    pub during: During,
}

/// "Performed `first` … then `then`": an event of `first`, and an event of `then` strictly
/// after it, both in the range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Then {
    /// The earlier event.
    pub first: EventRef,
    /// The later event.
    pub then: EventRef,
    /// When both happened.
    pub during: During,
}

/// "Had been new": the days the person's first event must fall on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WasNew {
    /// The days.
    pub during: During,
}

/// "Reached step k" / "dropped after step k" of a funnel whose step 1 happened `during`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunnelCondition {
    /// The steps, as in a funnel spec.
    pub steps: Vec<crate::spec::FunnelStep>,
    /// The conversion window; 1 day when absent.
    #[serde(default = "crate::spec::ConversionWindow::one_day")]
    pub conversion_window: crate::spec::ConversionWindow,
    /// The order mode, as in a funnel spec.
    #[serde(default)]
    pub order: crate::spec::FunnelOrder,
    /// Exclusion steps, as in a funnel spec.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusions: Vec<crate::spec::FunnelExclusion>,
    /// The days step 1 must happen on.
    pub during: During,
    /// Holds for persons whose best path reached at least this step (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reached: Option<u8>,
    /// Holds for persons whose best path reached exactly this step and not the next (1-based,
    /// before the last step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped_after: Option<u8>,
}

/// "In RFM segment": the segment, and how buyers are scored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RfmCondition {
    /// The segment (`champions`, `at_risk`, …).
    pub segment: crate::rfm::RfmSegment,
    /// The revenue event.
    pub revenue_event: EventRef,
    /// The event property holding each purchase's amount.
    pub revenue_property: String,
    /// The purchases looked at; recency is measured to the range's end.
    pub during: During,
}

/// "Performed event": the event, the range, and at most one measure (at least once when none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Performed {
    /// The event: a type or `_all` (any counted event), with optional `where` conditions.
    pub event: EventRef,
    /// When it happened.
    pub during: During,
    /// How many times (Amplitude's "Count"). `= 0` and `< 1` are refused: use `did_not_perform`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<Comparison>,
    /// The sum of a numeric property over those events (Amplitude's "Total sum of property").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<PropertyComparison>,
    /// How many different values of a property those events had (Amplitude's "Distinct values
    /// of property").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_values: Option<PropertyComparison>,
    /// On how many different days (in `time_zone`) the person did it (Amplitude's "Count in
    /// interval").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_days: Option<Comparison>,
    /// The person's `n`-th time ever (1 to 5) fell in the range (Amplitude's "Historical
    /// count").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nth_time: Option<u32>,
}

/// "Did not perform": the event and the range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DidNotPerform {
    /// The event, as in [`Performed`].
    pub event: EventRef,
    /// When the person did not do it.
    pub during: During,
}

/// A user property condition: its value as sent with the person's events in the range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPropertyCondition {
    /// The user property.
    pub property: String,
    /// How its value is compared (as in a `where` condition).
    pub op: FilterOp,
    /// What it is compared with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<FilterValue>,
    /// Which events are looked at: the most recent one (Amplitude's "most recently") or any.
    #[serde(default)]
    pub mode: PropertyMode,
    /// The range of events looked at.
    pub during: During,
}

/// Which of the person's events a user property condition reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PropertyMode {
    /// The value on the person's most recent counted event in the range (every event of that
    /// millisecond is looked at: one holding is enough).
    #[default]
    MostRecent,
    /// The value on any counted event of the range.
    AnyTime,
}

/// When: days `from`–`to`, the last `last_days` days ending with `as_of`, every day `since`
/// through `as_of`, or per person from their first counted event through
/// `within_days_of_first_use` days after its day. Exactly one form.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct During {
    /// First day (`YYYY-MM-DD`), with `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Last day, included, with `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The number of days ending with `as_of`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_days: Option<u32>,
    /// First day, through `as_of`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Per person (Amplitude's "within N days of first use"): from their first counted event
    /// through the end of the day N days after its day (in `time_zone`; 0 is that day alone),
    /// and not after `as_of`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_days_of_first_use: Option<u32>,
}

/// A number compared: `{"op": "greater_or_equal", "value": 3}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    /// How.
    pub op: CompareOp,
    /// With what (a whole number for counts and days).
    pub value: FilterValue,
}

/// A property's measure compared: `{"property": "price", "op": "greater", "value": 100}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertyComparison {
    /// The event property.
    pub property: String,
    /// How.
    pub op: CompareOp,
    /// With what.
    pub value: FilterValue,
}

/// Amplitude's count operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareOp {
    /// `=`.
    Equal,
    /// `>`.
    Greater,
    /// `≥`.
    GreaterOrEqual,
    /// `<`.
    Less,
    /// `≤`.
    LessOrEqual,
}

impl CompareOp {
    /// The operator's name as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Equal => "equal",
            CompareOp::Greater => "greater",
            CompareOp::GreaterOrEqual => "greater_or_equal",
            CompareOp::Less => "less",
            CompareOp::LessOrEqual => "less_or_equal",
        }
    }

    /// Whether `left op right`.
    pub(crate) fn holds(self, left: f64, right: f64) -> bool {
        match self {
            CompareOp::Equal => left == right,
            CompareOp::Greater => left > right,
            CompareOp::GreaterOrEqual => left >= right,
            CompareOp::Less => left < right,
            CompareOp::LessOrEqual => left <= right,
        }
    }
}
