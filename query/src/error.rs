//! Errors of the query layer, split by whose fault they are: a [`SpecError`] is the caller's (the
//! HTTP layer answers 400), everything else is ours (500).

use std::path::PathBuf;

use datafusion::error::DataFusionError;

/// Result alias for the query layer.
pub(crate) type Result<T, E = QueryError> = std::result::Result<T, E>;

/// Anything that can stop a query.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query spec is invalid; the caller must change it.
    #[error("invalid query spec: {0}")]
    InvalidSpec(#[from] SpecError),
    /// DataFusion failed while planning or running the query.
    #[error("query execution failed: {0}")]
    DataFusion(#[from] DataFusionError),
    /// Reading the data directory failed.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path being read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Reading or writing saved cohorts failed, or no cohort has the name asked for.
    #[error(transparent)]
    Cohort(#[from] crate::cohort::store::StoreError),
    /// The engine produced something it should not have: a bug on our side.
    #[error("internal error: {0}")]
    Internal(String),
}

impl QueryError {
    /// True when the caller caused the error (an invalid spec: HTTP 400); false when the engine or
    /// the stored data did (HTTP 500).
    pub fn is_user_error(&self) -> bool {
        match self {
            QueryError::InvalidSpec(_) => true,
            QueryError::Cohort(e) => e.is_user_error(),
            _ => false,
        }
    }

    /// True when a file the query had listed was gone when it was read: files are replaced
    /// atomically but may be deleted (quarantine replay, compaction), so running the query again
    /// over a fresh listing succeeds.
    pub(crate) fn is_vanished_file(&self) -> bool {
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(error) = current {
            if let Some(io) = error.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::NotFound
            {
                return true;
            }
            current = error.source();
        }
        false
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        QueryError::Io {
            path: path.into(),
            source,
        }
    }
}

/// What is wrong with a query spec. Every message says which field to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// The text is not valid JSON for a query spec (unknown field, wrong type, …).
    #[error("{0}")]
    Json(String),
    /// `version` is not one this engine understands.
    #[error("unsupported spec version {found}; this engine understands version {supported}")]
    UnsupportedVersion {
        /// The version in the spec.
        found: u32,
        /// The version this engine understands.
        supported: u32,
    },
    /// A date is not `YYYY-MM-DD`.
    #[error("date_range.{field}: {value:?} is not a date in YYYY-MM-DD form")]
    InvalidDate {
        /// `from` or `to`.
        field: &'static str,
        /// The text given.
        value: String,
    },
    /// `date_range` has neither `from` and `to` nor `last_days`, or mixes them.
    #[error("date_range: give either \"from\" and \"to\" (YYYY-MM-DD) or \"last_days\", not both")]
    AmbiguousDateRange,
    /// `date_range.last_days` is 0.
    #[error("date_range.last_days: must be at least 1")]
    NoDays,
    /// `date_range.from` is after `date_range.to`.
    #[error("date_range: from ({from}) is after to ({to})")]
    ReversedDateRange {
        /// The start date given.
        from: String,
        /// The end date given.
        to: String,
    },
    /// The date range is longer than allowed.
    #[error("date_range covers {days} days; at most {max} are allowed")]
    DateRangeTooLong {
        /// Days in the range given.
        days: i64,
        /// The limit.
        max: i64,
    },
    /// `time_zone` is not an IANA time-zone name.
    #[error("time_zone: {0:?} is not an IANA time zone name such as \"UTC\" or \"Asia/Seoul\"")]
    UnknownTimeZone(String),
    /// `project` is given but empty.
    #[error("project: must not be empty when given")]
    EmptyProject,
    /// The number of funnel steps is out of range.
    #[error("steps: a funnel needs {min} to {max} steps, got {found}")]
    StepCount {
        /// Steps given.
        found: usize,
        /// Fewest allowed.
        min: usize,
        /// Most allowed.
        max: usize,
    },
    /// A step has an empty event type.
    #[error("steps[{index}].event_type: must not be empty")]
    EmptyEventType {
        /// Zero-based index of the step.
        index: usize,
    },
    /// The conversion window is zero or longer than allowed.
    #[error("conversion_window: {value} {unit} is outside 1 second ..= 366 days")]
    WindowOutOfRange {
        /// The value given.
        value: u64,
        /// The unit given.
        unit: &'static str,
    },
    /// An exclusion's event type is empty.
    #[error("exclusions[{index}].event_type: must not be empty")]
    EmptyExclusionEventType {
        /// Zero-based index of the exclusion.
        index: usize,
    },
    /// An exclusion's `between` does not name two steps of the funnel in order.
    #[error(
        "exclusions[{index}].between: [{from}, {to}] must name two steps with 1 <= from < to <= {steps}"
    )]
    ExclusionBetween {
        /// Zero-based index of the exclusion.
        index: usize,
        /// First step given.
        from: usize,
        /// Second step given.
        to: usize,
        /// Steps in the funnel.
        steps: usize,
    },
    /// More exclusions than the step mask has room for.
    #[error("exclusions: at most {max} exclusion steps are allowed, got {found}")]
    TooManyExclusions {
        /// Exclusions given.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// A cohort definition's condition at `at` cannot be used.
    #[error("{at}: {problem}")]
    Cohort {
        /// Where in the spec (`definition.all[1].performed.count`).
        at: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// Two funnel options that cannot be combined.
    #[error("{first} cannot be combined with {second}: {why}")]
    IncompatibleFunnelOptions {
        /// The first option.
        first: &'static str,
        /// The second option.
        second: &'static str,
        /// Why not.
        why: &'static str,
    },
    /// Time-to-convert steps outside the funnel or not in order.
    #[error(
        "time_to_convert: from_step {from} and to_step {to} must satisfy 1 <= from_step < to_step <= {steps} (the funnel's steps)"
    )]
    ConversionSteps {
        /// First step given (1-based).
        from: usize,
        /// Second step given (1-based).
        to: usize,
        /// Steps in the funnel.
        steps: usize,
    },
    /// Time-to-convert bucket bounds that are not strictly increasing from 0.
    #[error("time_to_convert.buckets_ms: {0}")]
    ConversionBuckets(&'static str),
    /// The breakdown property name is empty.
    #[error("breakdown.property: must not be empty")]
    EmptyBreakdownProperty,
    /// A funnel has both `breakdown` and `group_by`.
    #[error(
        "breakdown: give either breakdown (one property) or group_by (up to 2 properties), not both"
    )]
    BreakdownAndGroupBy,
    /// More than 2 group-by properties.
    #[error("group_by: at most {max} properties, got {found}")]
    TooManyGroupBy {
        /// Properties given.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// A group-by property name is empty.
    #[error("group_by[{index}].property: must not be empty")]
    EmptyGroupByProperty {
        /// Zero-based index of the property.
        index: usize,
    },
    /// A `field` group-by names no top-level event column.
    #[error(
        "group_by[{index}].property: {name:?} is not a top-level event field (such as platform, country, os_name)"
    )]
    UnknownGroupByField {
        /// Zero-based index of the property.
        index: usize,
        /// The name given.
        name: String,
    },
    /// A group-by `step` outside the funnel's steps.
    #[error("group_by[{index}].step: must be 1 to {steps} (the funnel's steps), got {step}")]
    GroupByStep {
        /// Zero-based index of the property.
        index: usize,
        /// The step given.
        step: usize,
        /// The funnel's number of steps.
        steps: usize,
    },
    /// A `step` on a user property or field: those are read on the entry (step 1) only.
    #[error(
        "group_by[{index}].step: only an event property (kind \"event\") can be read from a later step; user properties and fields group by the entry (step 1)"
    )]
    GroupByStepKind {
        /// Zero-based index of the property.
        index: usize,
    },
    /// Both group-by properties read a step other than 1.
    #[error(
        "group_by[1].step: at most one group-by property may read a step other than 1 (Amplitude's limit of one event-property group-by on a later step)"
    )]
    TwoLaterGroupBySteps,
    /// `group_limit` out of range.
    #[error("group_limit: must be 1 to {max}, got {found}")]
    GroupLimit {
        /// The limit given.
        found: usize,
        /// The most allowed.
        max: usize,
    },
    /// A `field` breakdown names no top-level event column.
    #[error(
        "breakdown.property: {0:?} is not a top-level event field (such as platform, country, os_name)"
    )]
    UnknownField(String),
    /// A segmentation has no series or too many.
    #[error("events: a segmentation needs 1 to {max} series, got {found}")]
    SeriesCount {
        /// Series given.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// A `property_*` measure without `property`, or `property` on another measure.
    #[error(
        "events[{index}].property: measure {measure} {}",
        if *needed { "needs a property ({\"kind\": \"event\", \"property\": \"price\"})" } else { "reads no property; remove it" }
    )]
    MeasureProperty {
        /// Zero-based index of the series.
        index: usize,
        /// The series' measure.
        measure: &'static str,
        /// Whether the measure needs a property (else one was given that it does not read).
        needed: bool,
    },
    /// A series' measure property names nothing readable.
    #[error("events[{index}].property: {problem}")]
    MeasurePropertyInvalid {
        /// Zero-based index of the series.
        index: usize,
        /// What is wrong.
        problem: FilterProblem,
    },
    /// Frequency buckets that are not strictly increasing bounds from 1, or on another measure.
    #[error("events[{index}].frequency_buckets: {problem}")]
    FrequencyBuckets {
        /// Zero-based index of the series.
        index: usize,
        /// What is wrong.
        problem: &'static str,
    },
    /// A series has an empty event type.
    #[error("events[{index}].event_type: must not be empty (use \"_all\" for any event)")]
    EmptySeriesEvent {
        /// Zero-based index of the series.
        index: usize,
    },
    /// A view's window is out of range for the interval.
    #[error(
        "view.{view}: a window of {found} points is out of range; give 1 to {max} for interval {interval}"
    )]
    ViewWindow {
        /// The view's name.
        view: &'static str,
        /// The window asked for.
        found: u32,
        /// The longest window for the interval.
        max: u32,
        /// The interval.
        interval: &'static str,
    },
    /// A series' measure has no meaning under the view.
    #[error("events[{index}].measure: {measure} cannot be shown as view {view}: {reason}")]
    ViewMeasure {
        /// Zero-based index of the series.
        index: usize,
        /// The series' measure.
        measure: &'static str,
        /// The view's name.
        view: &'static str,
        /// Why not.
        reason: &'static str,
    },
    /// The intervals a rolling view reads before the date range are outside the calendar.
    #[error("view.{view}: the intervals before date_range are outside the calendar")]
    ViewLeadIn {
        /// The view's name.
        view: &'static str,
    },
    /// The date range and interval give too many points.
    #[error(
        "date_range and interval give {found} points; at most {max} are allowed (use a longer interval)"
    )]
    TooManyPoints {
        /// Points the spec asks for.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// An event field is empty.
    #[error(
        "{field}.event_type: must not be empty (an event type, \"_all\", or for a retention start_event \"_new\")"
    )]
    EmptyEvent {
        /// `start_event`, `return_event`, `return_events[i]` or `event`.
        field: &'static str,
    },
    /// `_new` given where only retention's start event allows it.
    #[error(
        "{field}.event_type: \"_new\" is only a retention start_event; use an event type or \"_all\""
    )]
    NewUserNotAllowed {
        /// The field.
        field: &'static str,
    },
    /// Both `return_event` and `return_events` given.
    #[error("give either return_event or return_events, not both")]
    AmbiguousReturnEvent,
    /// No return event, or more than a retention follows.
    #[error("return_events: give 1 to {max} return events (or one return_event), got {found}")]
    ReturnEventCount {
        /// Return events given.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// Too many retention periods.
    #[error("periods: at most {max} periods can be followed, got {found}")]
    TooManyPeriods {
        /// Periods given.
        found: u32,
        /// The limit.
        max: u32,
    },
    /// No custom brackets, or too many.
    #[error("method.brackets: give 1 to {max} brackets, got {found}")]
    BracketCount {
        /// Brackets given.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// A bracket is empty or reaches past the periods followed.
    #[error(
        "method.brackets[{index}]: [{from}, {to}) must have from < to <= periods + 1 (periods is {periods})"
    )]
    InvalidBracket {
        /// Zero-based index of the bracket.
        index: usize,
        /// Its first period.
        from: u32,
        /// Its end (exclusive).
        to: u32,
        /// The periods followed.
        periods: u32,
    },
    /// The paths anchor is not a specific event type.
    #[error("anchor.event_type: give the event type paths start (or end) at")]
    PathAnchor,
    /// The path depth is out of range.
    #[error("depth: paths follow 1 to {max} events, got {found}")]
    PathDepth {
        /// Depth given.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// The number of paths listed is out of range.
    #[error("limit: list 1 to {max} paths, got {found}")]
    PathLimit {
        /// Limit given.
        found: usize,
        /// The maximum.
        max: usize,
    },
    /// More properties held constant than allowed.
    #[error("hold_constant: at most {max} properties can be held constant, got {found}")]
    TooManyHeldProperties {
        /// Properties given.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// A filter is given but empty.
    #[error("{field}: must not be empty when given")]
    EmptyFilter {
        /// The field.
        field: &'static str,
    },
    /// A `where` condition is wrong.
    #[error("{at}: {problem}")]
    Filter {
        /// Which condition (`steps[1].where[0]`).
        at: String,
        /// What is wrong with it.
        problem: FilterProblem,
    },
    /// Too many segments.
    #[error("segments: at most {max} segments can be compared, got {found}")]
    SegmentCount {
        /// Segments given.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// Too many formulas in a segmentation.
    #[error("formulas: at most {max} formulas are allowed, got {found}")]
    FormulaCount {
        /// Formulas given.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// A segmentation formula is wrong.
    #[error("formulas[{index}].{field}: {problem}")]
    Formula {
        /// Zero-based index of the formula.
        index: usize,
        /// `formula`, `name` or `format`.
        field: &'static str,
        /// What is wrong with it.
        problem: FormulaProblem,
    },
    /// `limit` is above the maximum.
    #[error("limit: at most {max} events can be listed, got {found}")]
    LimitTooLarge {
        /// The limit given.
        found: usize,
        /// The maximum.
        max: usize,
    },
}

/// What is wrong with one `where` condition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterProblem {
    /// The property name is empty.
    #[error("property must not be empty")]
    EmptyProperty,
    /// A `field` condition names no top-level event column.
    #[error("{0:?} is not a top-level event field (such as platform, country, os_name)")]
    UnknownField(String),
    /// Too few or too many values for a list operator.
    #[error("\"{op}\" needs 1 to {max} values, got {found}")]
    ValueCount {
        /// The operator.
        op: &'static str,
        /// Values given.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// Values given to `set` / `not_set`.
    #[error("\"{op}\" takes no values")]
    NoValuesExpected {
        /// The operator.
        op: &'static str,
    },
    /// A comparison without exactly one number.
    #[error("\"{op}\" compares with exactly one number")]
    OneNumber {
        /// The operator.
        op: &'static str,
    },
    /// A value that should be a number is not one.
    #[error("\"{op}\": {value:?} is not a number")]
    NotANumber {
        /// The operator.
        op: &'static str,
        /// The value given.
        value: String,
    },
    /// A cohort where a property is needed (a breakdown or group-by).
    #[error(
        "cohort {0:?}: a cohort is not a property to group by; compare cohorts side by side with \
         segments ({{\"where\": [{{\"kind\": \"cohort\", \"property\": {0:?}, \"op\": \"is\"}}]}})"
    )]
    CohortIsNotAProperty(String),
    /// A cohort condition with another operator than `is` / `is_not`, or with values.
    #[error(
        "a cohort condition is \"op\": \"is\" (members) or \"is_not\" (everyone else), without values"
    )]
    CohortCondition,
    /// Too many conditions in one list.
    #[error("at most {max} conditions, got {found}")]
    TooManyConditions {
        /// Conditions given.
        found: usize,
        /// The limit.
        max: usize,
    },
}

/// What is wrong with one segmentation formula. `at` is the 1-based character position in the
/// formula text (after an output-format prefix such as `%:`, which counts too).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormulaProblem {
    /// Nothing to evaluate.
    #[error("must not be empty; write an expression such as UNIQUES(B)/UNIQUES(A)")]
    Empty,
    /// The text is longer than allowed.
    #[error("is {found} characters long; at most {max} are allowed")]
    TooLong {
        /// Characters given.
        found: usize,
        /// The limit.
        max: usize,
    },
    /// Parentheses and function calls nested too deep.
    #[error("at character {at}: nested deeper than {max} levels")]
    TooDeep {
        /// Where.
        at: usize,
        /// The limit.
        max: usize,
    },
    /// Something else than what the grammar allows here.
    #[error("at character {at}: expected {expected}, found {found}")]
    Expected {
        /// Where.
        at: usize,
        /// What would have been valid.
        expected: &'static str,
        /// What was there (`end of formula` at the end).
        found: String,
    },
    /// A name that is no function of formulas.
    #[error(
        "at character {at}: unknown function {name}; use UNIQUES, TOTALS, ACTIVE, AVG, PROPSUM, \
         PROPAVG, PROPMIN, PROPMAX, PROPCOUNT, CUMSUM, ROLLAVG, ROLLWIN, EXP, LN, LOG, LOG10, \
         POWER or SQRT"
    )]
    UnknownFunction {
        /// Where.
        at: usize,
        /// The name as written.
        name: String,
    },
    /// A metric where a value is expected, or a value where a metric is expected.
    #[error("at character {at}: {name} is a metric; {hint}")]
    MisplacedMetric {
        /// Where.
        at: usize,
        /// The metric's name.
        name: String,
        /// How to write it instead.
        hint: &'static str,
    },
    /// A series letter past the segmentation's series.
    #[error(
        "at character {at}: there is no series {letter}; this segmentation has series A to {last}"
    )]
    UnknownSeries {
        /// Where.
        at: usize,
        /// The letter as written.
        letter: String,
        /// The last series' letter.
        last: char,
    },
    /// A reference to a segment's series (`A1`), which formulas do not support.
    #[error(
        "at character {at}: {reference} names a segment the query does not compare (it compares \
         {segments}; A1 is series A in the first segment, and a formula without segment numbers \
         is evaluated within each segment)"
    )]
    SegmentReference {
        /// Where.
        at: usize,
        /// The reference as written.
        reference: String,
        /// The segments the query compares.
        segments: usize,
    },
    /// A formula mixing references to segments (`A1`) with references within the segment (`A`).
    #[error(
        "a formula either compares segments (every series with its segment number, as in \
         UNIQUES(A1) / UNIQUES(A2)) or is evaluated within each segment (no segment numbers), \
         not both"
    )]
    MixedSegmentReferences,
    /// A formula across segments in a query with a group-by.
    #[error(
        "a formula across segments cannot be combined with group_by: each group would need its \
         own comparison; drop the group_by or the segment numbers"
    )]
    SegmentsWithGroupBy,
    /// A function called with the wrong number of arguments.
    #[error("at character {at}: {function} takes {expected}, got {found}")]
    Arity {
        /// Where (the function's name).
        at: usize,
        /// The function.
        function: &'static str,
        /// The arguments it takes (`1 argument (a series letter)`).
        expected: &'static str,
        /// Arguments given.
        found: usize,
    },
    /// A property metric on a series without a property.
    #[error(
        "at character {at}: {metric}({letter}) reads series {letter}'s property, but it has none; \
         give that series a property measure with a \"property\""
    )]
    NoProperty {
        /// Where.
        at: usize,
        /// The metric.
        metric: &'static str,
        /// The series letter.
        letter: char,
    },
    /// `CUMSUM` / `ROLLWIN` over a metric that does not add up across points (other than
    /// `UNIQUES`, counted once per window).
    #[error(
        "at character {at}: {aggregation} over {metric} is not supported: {metric} of several \
         points is not the sum of each point's (persons or values would have to be counted once \
         across points); {aggregation} takes TOTALS, PROPSUM or UNIQUES (persons counted once \
         per window)"
    )]
    NotAdditive {
        /// Where.
        at: usize,
        /// `CUMSUM` or `ROLLWIN`.
        aggregation: &'static str,
        /// The metric.
        metric: &'static str,
    },
    /// A rolling window that is not a whole number of points in range.
    #[error(
        "at character {at}: the window must be a whole number of points from 1 to {max} \
         ({max} {unit} is Amplitude's longest window), got {found}"
    )]
    Window {
        /// Where.
        at: usize,
        /// The text given.
        found: String,
        /// The longest window at the query's interval.
        max: usize,
        /// The interval's unit (`days`).
        unit: &'static str,
    },
    /// A `name` given empty.
    #[error("must not be empty when given")]
    EmptyName,
    /// An output-format prefix (`%:`, `$:`) that contradicts `format`.
    #[error("the formula's {prefix:?} prefix asks for {implied}, but format is {given}")]
    FormatConflict {
        /// The prefix written.
        prefix: &'static str,
        /// The format it implies.
        implied: &'static str,
        /// The format given.
        given: &'static str,
    },
    /// A rolling or cumulative formula function under a view that already windows the points.
    #[error(
        "{function} cannot be combined with view {view}: the view already rolls or accumulates every point (and a rolling average reads points before the range); drop the view or the {function}"
    )]
    AggregationUnderView {
        /// The function written (`CUMSUM`, `ROLLAVG`, `ROLLWIN`).
        function: &'static str,
        /// The view's name.
        view: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vanished_file_is_recognised_through_the_error_chain() {
        let gone = || std::io::Error::from(std::io::ErrorKind::NotFound);
        assert!(QueryError::io("/x", gone()).is_vanished_file());
        assert!(QueryError::DataFusion(DataFusionError::IoError(gone())).is_vanished_file());
        let wrapped =
            DataFusionError::Context("scan".into(), Box::new(DataFusionError::IoError(gone())));
        assert!(QueryError::DataFusion(wrapped).is_vanished_file());
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert!(!QueryError::io("/x", denied).is_vanished_file());
        assert!(!QueryError::Internal("bug".into()).is_vanished_file());
    }
}
