//! Query results, as returned by the engine and sent over HTTP (JSON, tagged by `"analysis"`).

use serde::{Deserialize, Serialize};

use crate::spec::{
    Breakdown, Dataset, FormulaFormat, FunnelCounting, GroupBy, Interval, Measure, PathDirection,
    View,
};

/// The result of a query: one variant per analysis, matching [`crate::QuerySpec`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "analysis", rename_all = "snake_case")]
pub enum QueryResult {
    /// Result of a funnel.
    Funnel(FunnelResult),
    /// Result of an events listing.
    Events(EventsResult),
    /// Result of an event segmentation.
    Segmentation(SegmentationResult),
    /// Result of a retention analysis.
    Retention(RetentionResult),
    /// Result of a lifecycle analysis.
    Lifecycle(LifecycleResult),
    /// Result of a stickiness analysis.
    Stickiness(StickinessResult),
    /// Result of a paths analysis.
    Paths(PathsResult),
    /// The members of a cohort.
    Cohort(CohortResult),
    /// Buyers by RFM segment.
    Rfm(crate::rfm::RfmResult),
    /// The same analysis once per segment of the spec, side by side.
    Segments(SegmentsResult),
    /// The analysis overall and once per group of group-by values (every analysis but the
    /// funnel, whose groups are rows of its own result).
    Groups(GroupsResult),
}

/// An analysis split by group-by values: everyone, then each listed group and "(other)".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupsResult {
    /// The group-by properties, as the spec gave them.
    pub group_by: Vec<Breakdown>,
    /// The analysis over everyone (as without `group_by`).
    pub overall: Box<QueryResult>,
    /// The `group_limit` groups with the most persons first (ties by value, none first), then,
    /// when more groups exist, one `other` group holding all the rest.
    pub groups: Vec<GroupResult>,
}

/// One group of a [`GroupsResult`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupResult {
    /// The group's value of each group-by property, in order; null where the events lack the
    /// property ("(none)"), and every entry null for the "(other)" group.
    pub values: Vec<Option<String>>,
    /// The "(other)" group: the events whose values are none of the listed groups'.
    #[serde(default, skip_serializing_if = "is_false")]
    pub other: bool,
    /// The persons the groups are ranked by: those who did the event the group-by is read on
    /// (see the spec's `group_by`) in the date range with the group's values.
    pub persons: u64,
    /// The analysis over the group's events.
    pub result: QueryResult,
}

impl GroupResult {
    /// The group's name in tables: its values joined by " / " ("(none)" for a missing one), or
    /// "(other)".
    pub fn label(&self) -> String {
        if self.other {
            return "(other)".to_owned();
        }
        self.values
            .iter()
            .map(|v| v.as_deref().unwrap_or("(none)"))
            .collect::<Vec<_>>()
            .join(" / ")
    }
}

/// One analysis per segment, in the spec's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentsResult {
    /// Each segment's name and result.
    pub segments: Vec<SegmentResult>,
    /// A segmentation's formulas across segments (`UNIQUES(A1) / UNIQUES(A2)`), in the spec's
    /// order, each evaluated once at every point.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub formulas: Vec<FormulaResult>,
}

/// One segment's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentResult {
    /// The segment's name (`segment N` when the spec gave none).
    pub name: String,
    /// The analysis over the segment's persons.
    pub result: QueryResult,
}

/// Paths from (or to) an anchor event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathsResult {
    /// The anchor event type.
    pub anchor: String,
    /// Whether paths follow or lead to the anchor.
    pub direction: PathDirection,
    /// Persons who did the anchor event in the date range (one path each).
    pub persons: u64,
    /// The most common paths (anchor included, in time order), most persons first.
    pub paths: Vec<PathCount>,
    /// Sankey nodes: persons at each event type at each level (level 0 is the first event of
    /// the paths: the anchor looking forward, the earliest event looking backward).
    pub nodes: Vec<PathNode>,
    /// Sankey links: persons going from one node to the next.
    pub links: Vec<PathLink>,
}

/// One path and how many persons took it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathCount {
    /// The event types, in time order.
    pub events: Vec<String>,
    /// Persons whose path it is.
    pub persons: u64,
}

/// A Sankey node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathNode {
    /// Position in the paths.
    pub level: usize,
    /// The event type.
    pub event_type: String,
    /// Persons whose path has it there.
    pub persons: u64,
}

/// A Sankey link from `source` at `level` to `target` at `level + 1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathLink {
    /// The source's level.
    pub level: usize,
    /// The source event type.
    pub source: String,
    /// The target event type.
    pub target: String,
    /// Persons going that way.
    pub persons: u64,
}

/// A cohort: how many persons belong, and the first of them with their ids.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CohortResult {
    /// Every member's person id, for storing a computation (not part of the answer).
    #[serde(skip)]
    pub(crate) all_members: roaring::RoaringTreemap,
    /// Persons who belong.
    pub size: u64,
    /// Persons considered: those with a counted event of the project up to the end of `as_of`
    /// (what `not` and `did_not_perform` are taken within).
    pub persons: u64,
    /// Members in the order they were first seen (by person id); at most the spec's `limit`.
    pub members: Vec<CohortMember>,
}

/// Who entered and who exited a saved cohort at one computation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CohortChanges {
    /// The computation (its counts are the whole numbers).
    pub run: crate::cohort::store::CohortRun,
    /// The computation before it, compared with (`None` for the first: everyone entered).
    pub previous_ms: Option<i64>,
    /// Persons who entered, by person id; at most the limit asked for.
    pub entered: Vec<CohortMember>,
    /// Persons who exited, by person id; at most the limit asked for.
    pub exited: Vec<CohortMember>,
}

/// One member of a cohort.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CohortMember {
    /// The person's id (stable: merges map later ids to the first).
    pub person_id: i64,
    /// The person's user id; null for a person never identified.
    pub user_id: Option<String>,
    /// One of the person's device ids (the greatest), for matching persons without a user id.
    pub device_id: Option<String>,
    /// In the changes of a computation: the person this one has since been merged into (an
    /// anonymous device that logged in), whose ids are then shown. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<i64>,
}

/// Stickiness: one entry per week or month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StickinessResult {
    /// The periods, in order.
    pub periods: Vec<StickinessPeriod>,
}

/// One week or month: persons who did the event there, by number of different days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StickinessPeriod {
    /// The period, as its local start date.
    pub period: String,
    /// Persons who did the event at least once in the period (the denominator).
    pub persons: u64,
    /// `exactly[n - 1]`: persons who did it on exactly `n` days (n = 1 ..= days in the period).
    pub exactly: Vec<u64>,
    /// `at_least[n - 1]`: persons who did it on `n` days or more (`at_least[0]` = `persons`).
    pub at_least: Vec<u64>,
}

impl StickinessPeriod {
    /// A period from its "exactly n days" counts.
    pub fn new(period: String, exactly: Vec<u64>) -> Self {
        let mut at_least = exactly.clone();
        for n in (0..at_least.len().saturating_sub(1)).rev() {
            at_least[n] += at_least[n + 1];
        }
        StickinessPeriod {
            period,
            persons: at_least.first().copied().unwrap_or(0),
            exactly,
            at_least,
        }
    }
}

/// Lifecycle: one entry per period of the date range (whole periods).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleResult {
    /// The periods, in order.
    pub points: Vec<LifecyclePoint>,
}

/// The persons of one period by lifecycle state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecyclePoint {
    /// The period, as its local start date.
    pub period: String,
    /// Did the event, and were new (first event ever in this period, or first time doing it).
    pub new: u64,
    /// Did the event in this period and the one before.
    pub current: u64,
    /// Did the event in this period, not the one before, but earlier.
    pub resurrected: u64,
    /// Did the event the period before but not in this one (shown below zero).
    pub dormant: u64,
    /// Dormant persons who were new the period before.
    pub dormant_new: u64,
    /// Dormant persons who were current the period before.
    pub dormant_current: u64,
    /// Dormant persons who were resurrected the period before.
    pub dormant_resurrected: u64,
    /// `(new + resurrected) / dormant`: above 1, the period grew; null without dormant persons.
    pub pulse: Option<f64>,
}

/// A retention table: one row per cohort period, one column per period after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionResult {
    /// Column names: periods after the cohort's (`0`, `1`, …), `N+` for "on or after", `a-b`
    /// for brackets of periods `[a, b)`.
    pub columns: Vec<String>,
    /// One row per period of the date range, in order (empty cohorts included).
    pub cohorts: Vec<RetentionCohort>,
    /// All cohorts together (Amplitude's "All users" row).
    pub overall: RetentionOverall,
    /// With two return events (`return_events`), the second one's table; the fields above
    /// answer the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_return: Option<RetentionSeries>,
}

/// The table of one more return event, over the same cohorts and columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSeries {
    /// The return event, as given.
    pub return_event: String,
    /// One row per period of the date range, as in [`RetentionResult::cohorts`].
    pub cohorts: Vec<RetentionCohort>,
    /// All cohorts together.
    pub overall: RetentionOverall,
}

/// One cohort: the persons who did the start event in a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionCohort {
    /// The cohort's period, as its local start date.
    pub period: String,
    /// Persons in the cohort.
    pub persons: u64,
    /// Per column, the cohort's persons who returned.
    pub returned: Vec<u64>,
    /// Per column, whether its periods have all ended (incomplete cells may still grow).
    pub complete: Vec<bool>,
}

/// The "All users" row: per column, the returned persons over the persons of the cohorts that
/// have completed that column (a weighted average of the cohort rates, as Amplitude computes it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionOverall {
    /// Distinct persons in any cohort (a person in several cohorts counts once).
    pub persons: u64,
    /// Per column, the persons of the cohorts that completed it.
    pub eligible: Vec<u64>,
    /// Per column, those who returned.
    pub returned: Vec<u64>,
    /// Per column, `returned / eligible`; null when no cohort completed it.
    pub rate: Vec<Option<f64>>,
}

/// Event segmentation: one value per point per series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentationResult {
    /// The length of a point.
    pub interval: Interval,
    /// The view every series is shown in (rolling average, rolling window, cumulative), as
    /// the spec asked; absent for each point on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<View>,
    /// Each point's interval, as its local start (`2025-01-06`, or `2025-01-06T13:00` for hours).
    pub points: Vec<String>,
    /// The series, in the spec's order.
    pub series: Vec<SeriesResult>,
    /// The spec's formulas, in order, each evaluated at every point (within the segment).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub formulas: Vec<FormulaResult>,
}

impl SegmentationResult {
    /// The result as columns of a table, one per series (one per bucket for a frequency
    /// series), each with its header (`event (measure)`, `event (measure property)`,
    /// `event (frequency 2-3)`, with a view `event (measure, rolling window of 7)`) and its
    /// value at every point, then one per formula (headed by its name, with `(%)` and the values
    /// × 100 for a percent formula, `($)` for currency); the text table and CSV print these.
    pub fn columns(&self) -> Vec<(String, Vec<Option<f64>>)> {
        let mut columns = Vec::new();
        for s in &self.series {
            let mut measure = match &s.property {
                Some(p) => format!("{} {}", s.measure.as_str(), p.property),
                None => s.measure.as_str().to_owned(),
            };
            if let Some(view) = self.view {
                measure = format!("{measure}, {}", view.label());
            }
            if s.frequency.is_empty() {
                columns.push((format!("{} ({measure})", s.event_type), s.values.clone()));
            }
            for bucket in &s.frequency {
                columns.push((
                    format!("{} ({measure} {})", s.event_type, bucket.label),
                    bucket.persons.iter().map(|&n| Some(n as f64)).collect(),
                ));
            }
        }
        columns.extend(self.formulas.iter().map(FormulaResult::column));
        columns
    }
}

impl SegmentsResult {
    /// The formulas across segments as table columns ([`FormulaResult::column`]).
    pub fn formula_columns(&self) -> Vec<(String, Vec<Option<f64>>)> {
        self.formulas.iter().map(FormulaResult::column).collect()
    }

    /// The points of the segments' segmentations (the same in every segment); empty for other
    /// analyses.
    pub fn points(&self) -> &[String] {
        match self.segments.first().map(|s| &s.result) {
            Some(QueryResult::Segmentation(r)) => &r.points,
            _ => &[],
        }
    }
}

impl FormulaResult {
    /// The formula as a table column: its header (the name, with `(%)` or `($)` for a
    /// format) and its values (× 100 for a percent).
    pub fn column(&self) -> (String, Vec<Option<f64>>) {
        match self.format {
            FormulaFormat::Number => (self.name.clone(), self.values.clone()),
            FormulaFormat::Currency => (format!("{} ($)", self.name), self.values.clone()),
            FormulaFormat::Percent => (
                format!("{} (%)", self.name),
                self.values.iter().map(|v| v.map(|x| x * 100.0)).collect(),
            ),
        }
    }
}

/// One formula of a segmentation, evaluated at every point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormulaResult {
    /// The expression as written (without an output-format prefix).
    pub formula: String,
    /// Its name (the expression when the spec gave none).
    pub name: String,
    /// How the values are meant to be shown; left out for plain numbers. The values of a
    /// `percent` formula are fractions (0.25 is 25 %).
    #[serde(default, skip_serializing_if = "FormulaFormat::is_number")]
    pub format: FormulaFormat,
    /// The formula at each point; `null` where it is undefined (a division by zero, the
    /// logarithm of a number ≤ 0, …, or a null metric). Whole numbers are written without a
    /// fraction.
    #[serde(serialize_with = "whole_numbers")]
    pub values: Vec<Option<f64>>,
}

/// One series of a segmentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesResult {
    /// The event type counted (`_all` for any event).
    pub event_type: String,
    /// What is counted.
    pub measure: Measure,
    /// The property a `property_*` measure reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<Breakdown>,
    /// The measure at each point: a count, a ratio or a property value; `null` where it is
    /// undefined (an average of nobody, a minimum of no values). Whole numbers are written
    /// without a fraction (`3`, not `3.0`).
    #[serde(serialize_with = "whole_numbers")]
    pub values: Vec<Option<f64>>,
    /// For `measure: frequency`: persons per bucket of "times done in the interval", one entry
    /// per bucket in order (`values` then holds the uniques).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frequency: Vec<FrequencyBucket>,
}

impl SeriesResult {
    /// The value at `point` as a count (0 for null), for counting measures.
    pub fn count(&self, point: usize) -> u64 {
        self.values
            .get(point)
            .copied()
            .flatten()
            .map_or(0, |v| v as u64)
    }
}

/// One frequency bucket: persons who did the event `from` times or more and fewer than `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrequencyBucket {
    /// The bucket's name: `3` for exactly 3, `3-4` for 3 to 4, `10+` for the open last one.
    pub label: String,
    /// Fewest times (included).
    pub from: u64,
    /// Most times, excluded; absent for the last bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<u64>,
    /// Persons in the bucket at each point.
    pub persons: Vec<u64>,
    /// Persons in the bucket over the whole date range: each person once, by how many times
    /// they did the event in all of it (Amplitude's "number of times fired in the range").
    pub in_range: u64,
}

impl FrequencyBucket {
    /// The bucket `[from, to)` with its label.
    pub fn new(from: u64, to: Option<u64>, persons: Vec<u64>, in_range: u64) -> Self {
        let label = match to {
            Some(to) if to == from + 1 => from.to_string(),
            Some(to) => format!("{from}-{}", to - 1),
            None => format!("{from}+"),
        };
        FrequencyBucket {
            label,
            from,
            to,
            persons,
            in_range,
        }
    }
}

/// Writes whole numbers (below 2^53) as JSON integers and the rest as floats.
fn whole_numbers<S: serde::Serializer>(
    values: &[Option<f64>],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = serializer.serialize_seq(Some(values.len()))?;
    for value in values {
        match value {
            Some(v) if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 => {
                seq.serialize_element(&(*v as i64))?;
            }
            Some(v) if v.is_finite() => seq.serialize_element(v)?,
            _ => seq.serialize_element(&None::<f64>)?,
        }
    }
    seq.end()
}

/// Stored events matching an [`crate::spec::EventsSpec`], newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsResult {
    /// The dataset read.
    pub dataset: Dataset,
    /// How many events match (all of them, not only those listed).
    pub total: u64,
    /// Matching events per event type, the most frequent first (ties by name).
    pub by_event_type: Vec<EventTypeCount>,
    /// The user's (or device's) current state, when the spec names a user or a device and the
    /// dataset is `events`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserSnapshot>,
    /// Up to `limit` events, latest `event_time` first: every stored field that has a value,
    /// flat as in Amplitude's HTTP API, with `event_properties`, `user_properties` (as they were
    /// when the event arrived), `groups`, `group_properties`, and `taxonomy_issues` when any.
    /// Times are Unix milliseconds.
    pub events: Vec<serde_json::Value>,
}

/// One event type's count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventTypeCount {
    /// The event type.
    pub event_type: String,
    /// Matching events of that type.
    pub events: u64,
}

/// A user's state now: the properties stamped on their most recently received event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSnapshot {
    /// The user id of that event (null for a device that never logged in).
    pub user_id: Option<String>,
    /// Every device the matching events came from, in name order.
    pub device_ids: Vec<String>,
    /// User properties after every update received so far.
    pub user_properties: serde_json::Map<String, serde_json::Value>,
    /// The groups the user belongs to.
    pub groups: serde_json::Map<String, serde_json::Value>,
    /// Properties of those groups, as `{group type: {group value: {property: value}}}`.
    pub group_properties: serde_json::Map<String, serde_json::Value>,
    /// `event_time` of the user's first and last matching events (Unix ms).
    pub first_event_time: i64,
    /// See `first_event_time`.
    pub last_event_time: i64,
}

/// Funnel counts in unique persons, overall and per group (breakdown value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunnelResult {
    /// The event type of each step, in order.
    pub steps: Vec<String>,
    /// What the counts count: left out for persons; `totals` when every attempt is counted
    /// (each `persons` of the result then counts attempts).
    #[serde(default, skip_serializing_if = "FunnelCounting::is_default")]
    pub counting: FunnelCounting,
    /// The breakdown asked for, if any (the one-property form of `group_by`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<Breakdown>,
    /// The group-by properties asked for, if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<GroupBy>,
    /// Every person who entered the funnel.
    pub overall: FunnelRow,
    /// One row per group (empty without a breakdown or group-by): the `group_limit` groups with
    /// the most persons at step 1 first (ties by value, null first), then, when more groups
    /// exist, one `other` row summing the rest. Each person is in exactly one row.
    pub by_breakdown: Vec<FunnelRow>,
    /// Conversion over time (only when the spec has an `interval`): per point of the date range,
    /// the funnel of the persons whose entry (the step-1 event their counted path starts at) is
    /// in that point. Every person is in exactly one point, so the points add up to `overall`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub over_time: Vec<FunnelPoint>,
    /// Time to convert (only when the spec asks for it), over all counted persons whatever
    /// their breakdown value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_convert: Option<TimeToConvert>,
}

/// How long the counted persons took between steps (Amplitude's "Time to Convert"): each
/// person's counted path, each step at the earliest instant that path reached it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeToConvert {
    /// The step the time is measured from (1-based).
    pub from_step: usize,
    /// The step the time is measured to (1-based).
    pub to_step: usize,
    /// Persons who reached `to_step`.
    pub persons: u64,
    /// The exact median time from `from_step` to `to_step` in ms (the mean of the two middle
    /// times for an even count); null when nobody reached `to_step`.
    pub median_ms: Option<f64>,
    /// The mean of those times in ms; null when nobody reached `to_step`.
    pub average_ms: Option<f64>,
    /// Those persons by their time, one entry per bucket.
    pub histogram: Vec<ConversionBucket>,
    /// Per step from the second: how many reached it and their mean time from the step before.
    pub steps: Vec<StepTime>,
}

/// One bucket of the time-to-convert histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversionBucket {
    /// Shortest time in the bucket, ms (included).
    pub from_ms: u64,
    /// Shortest time of the next bucket, ms (excluded); null for the last, open bucket.
    pub to_ms: Option<u64>,
    /// Persons whose time falls in the bucket.
    pub persons: u64,
}

/// The time the persons reaching one step took from the step before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepTime {
    /// The step (1-based, from 2).
    pub step: usize,
    /// Persons who reached it.
    pub persons: u64,
    /// Their mean time from the step before, ms; null when nobody reached it.
    pub average_ms: Option<f64>,
}

/// The funnel of the persons who entered in one point of the date range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunnelPoint {
    /// The point's local start (`2025-01-06`, or `2025-01-06T13:00` for hours).
    pub start: String,
    /// One entry per funnel step.
    pub steps: Vec<StepCount>,
}

/// The counts of one group of persons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunnelRow {
    /// The (first) group-by value; null for the overall row, the `other` row, entries without a
    /// value ("(none)") and persons who did not reach the grouped step.
    pub value: Option<String>,
    /// With two group-by properties, each one's value in order (`value` is the first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Option<String>>,
    /// The persons whose counted path stopped before the step a group-by property is read
    /// from (Amplitude's "did not reach step" bucket); that property's value is null.
    #[serde(default, skip_serializing_if = "is_false")]
    pub did_not_reach: bool,
    /// The "(other)" row: every group past `group_limit`, summed (its values are null).
    #[serde(default, skip_serializing_if = "is_false")]
    pub other: bool,
    /// One entry per funnel step.
    pub steps: Vec<StepCount>,
    /// Conversion over time of this group (only on group rows, when the spec has an
    /// `interval`): per point, the funnel of the group's persons whose entry is in that point.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub over_time: Vec<FunnelPoint>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The group a person is counted in: one value per group-by property (null for "(none)"), and
/// whether their path stopped before the step a property is read from.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct GroupKey {
    pub(crate) values: Vec<Option<String>>,
    pub(crate) did_not_reach: bool,
}

/// How many persons reached one step, and the rates that follow.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepCount {
    /// Persons whose best path reached at least this step.
    pub persons: u64,
    /// `persons / persons at step 1` (0 when nobody entered).
    pub conversion_from_first: f64,
    /// `persons / persons at the previous step` (for step 1: 1 when anybody entered, else 0).
    pub conversion_from_previous: f64,
    /// Persons at the previous step who did not reach this one (0 for step 1).
    pub drop_off: u64,
}

impl FunnelRow {
    /// A row from `levels[l]` = persons whose level is exactly `l` (index 0 unused).
    pub(crate) fn from_levels(value: Option<String>, levels: &[u64], steps: usize) -> Self {
        // Persons reaching at least step k = those whose level is k or more.
        let reached: Vec<u64> = (0..steps)
            .map(|k| levels.iter().skip(k + 1).sum())
            .collect();
        let first = reached.first().copied().unwrap_or(0);
        let steps = reached
            .iter()
            .enumerate()
            .map(|(k, &persons)| {
                let previous = if k == 0 { persons } else { reached[k - 1] };
                StepCount {
                    persons,
                    conversion_from_first: ratio(persons, first),
                    conversion_from_previous: ratio(persons, previous),
                    drop_off: previous - persons,
                }
            })
            .collect();
        FunnelRow {
            value,
            values: Vec::new(),
            did_not_reach: false,
            other: false,
            steps,
            over_time: Vec::new(),
        }
    }

    /// Persons who did step 1.
    pub fn entered(&self) -> u64 {
        self.steps.first().map_or(0, |s| s.persons)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl FunnelResult {
    /// Builds the result from `(group, level, persons)` triples with level >= 1. `breakdown`
    /// and `group_by` are the spec's (at most one of them given); with either, groups are
    /// ranked by persons at step 1 (ties by group, null first), the first `limit` listed and
    /// the rest summed into one `other` row.
    pub(crate) fn from_levels(
        steps: Vec<String>,
        breakdown: Option<Breakdown>,
        group_by: Vec<GroupBy>,
        limit: usize,
        groups: impl IntoIterator<Item = (GroupKey, u8, u64)>,
    ) -> Self {
        let n = steps.len();
        let mut overall = vec![0u64; n + 1];
        let mut by_group: std::collections::BTreeMap<GroupKey, Vec<u64>> = Default::default();
        for (key, level, persons) in groups {
            let level = usize::from(level).min(n);
            if level == 0 {
                continue;
            }
            overall[level] += persons;
            by_group.entry(key).or_insert_with(|| vec![0; n + 1])[level] += persons;
        }
        let properties = group_by.len() + usize::from(breakdown.is_some());
        let grouped = properties > 0;
        let mut ranked: Vec<(GroupKey, Vec<u64>)> = match grouped {
            true => by_group.into_iter().collect(),
            false => Vec::new(),
        };
        // Persons at step 1 = everyone in the group; the stable sort keeps the map's group order
        // (null first) among equal counts.
        ranked.sort_by_key(|(_, levels)| std::cmp::Reverse(levels.iter().sum::<u64>()));
        let mut other = vec![0u64; n + 1];
        let folded = ranked.len() > limit;
        for (_, levels) in ranked.drain(limit.min(ranked.len())..) {
            for (total, count) in other.iter_mut().zip(levels) {
                *total += count;
            }
        }
        let mut by_breakdown: Vec<FunnelRow> = ranked
            .into_iter()
            .map(|(key, levels)| {
                let mut row = FunnelRow::from_levels(None, &levels, n);
                row.value = key.values.first().cloned().flatten();
                if key.values.len() > 1 {
                    row.values = key.values;
                }
                row.did_not_reach = key.did_not_reach;
                row
            })
            .collect();
        if folded {
            let mut row = FunnelRow::from_levels(None, &other, n);
            row.other = true;
            if properties > 1 {
                row.values = vec![None; properties];
            }
            by_breakdown.push(row);
        }
        FunnelResult {
            counting: FunnelCounting::Uniques,
            overall: FunnelRow::from_levels(None, &overall, n),
            steps,
            breakdown,
            group_by,
            by_breakdown,
            over_time: Vec::new(),
            time_to_convert: None,
        }
    }

    /// The group-by properties in effect (the breakdown as a one-property group-by).
    pub fn groups(&self) -> Vec<GroupBy> {
        match &self.breakdown {
            Some(breakdown) => vec![breakdown.clone().into()],
            None => self.group_by.clone(),
        }
    }

    /// A row's value of each group-by property as the table and CSV print it: the value,
    /// `(none)`, `(did not reach step k)` or `(other)`.
    pub fn row_labels(&self, row: &FunnelRow) -> Vec<String> {
        let groups = self.groups();
        let values: Vec<Option<String>> = match row.values.is_empty() {
            true => vec![row.value.clone()],
            false => row.values.clone(),
        };
        groups
            .iter()
            .enumerate()
            .map(|(j, group)| {
                let later = group.step.filter(|&s| s > 1);
                match (row.other, row.did_not_reach, later) {
                    (true, _, _) => "(other)".to_owned(),
                    (false, true, Some(step)) => format!("(did not reach step {step})"),
                    _ => values
                        .get(j)
                        .cloned()
                        .flatten()
                        .unwrap_or_else(|| "(none)".to_owned()),
                }
            })
            .collect()
    }

    /// Adds conversion over time from `(group, point, level, persons)` (level >= 1): one point
    /// per label, points without entries included with zeros, overall and on each group row
    /// (the "(other)" row sums the groups not listed). Call after [`FunnelResult::from_levels`].
    pub(crate) fn with_over_time(
        mut self,
        labels: &[String],
        groups: impl IntoIterator<Item = (GroupKey, usize, u8, u64)>,
    ) -> Self {
        let n = self.steps.len();
        let rows: std::collections::HashMap<GroupKey, usize> = self
            .by_breakdown
            .iter()
            .enumerate()
            .filter(|(_, row)| !row.other)
            .map(|(i, row)| (row.key(), i))
            .collect();
        let other = self.by_breakdown.iter().position(|row| row.other);
        let empty = vec![vec![0u64; n + 1]; labels.len()];
        let mut overall = empty.clone();
        let mut per_row = vec![empty; self.by_breakdown.len()];
        for (key, point, level, persons) in groups {
            let level = usize::from(level).min(n);
            let Some(all) = overall.get_mut(point) else {
                continue;
            };
            all[level] += persons;
            if let Some(row) = rows.get(&key).copied().or(other) {
                per_row[row][point][level] += persons;
            }
        }
        self.over_time = funnel_points(labels, overall, n);
        for (row, levels) in self.by_breakdown.iter_mut().zip(per_row) {
            row.over_time = funnel_points(labels, levels, n);
        }
        self
    }
}

impl FunnelRow {
    /// The group this row lists (meaningless for the overall and "(other)" rows).
    fn key(&self) -> GroupKey {
        GroupKey {
            values: match self.values.is_empty() {
                true => vec![self.value.clone()],
                false => self.values.clone(),
            },
            did_not_reach: self.did_not_reach,
        }
    }
}

/// One point per label from `levels[point][l]` = persons whose level is exactly `l`.
fn funnel_points(labels: &[String], levels: Vec<Vec<u64>>, steps: usize) -> Vec<FunnelPoint> {
    labels
        .iter()
        .zip(levels)
        .map(|(label, levels)| FunnelPoint {
            start: label.clone(),
            steps: FunnelRow::from_levels(None, &levels, steps).steps,
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::spec::BreakdownKind;

    /// Two days of a property average (undefined on the second) and a frequency series.
    pub(crate) fn measures_result() -> SegmentationResult {
        SegmentationResult {
            interval: Interval::Day,
            view: None,
            points: vec!["2025-01-01".into(), "2025-01-02".into()],
            series: vec![
                SeriesResult {
                    event_type: "Buy".into(),
                    measure: Measure::PropertyAverage,
                    property: Some(Breakdown {
                        kind: BreakdownKind::Event,
                        property: "price".into(),
                    }),
                    values: vec![Some(35.0 / 3.0), None],
                    frequency: Vec::new(),
                },
                SeriesResult {
                    event_type: "Buy".into(),
                    measure: Measure::Frequency,
                    property: None,
                    values: vec![Some(3.0), Some(3.0)],
                    frequency: vec![
                        FrequencyBucket::new(1, Some(2), vec![1, 0], 0),
                        FrequencyBucket::new(2, Some(4), vec![2, 0], 2),
                        FrequencyBucket::new(4, None, vec![0, 3], 3),
                    ],
                },
            ],
            formulas: Vec::new(),
        }
    }

    #[test]
    fn values_serialise_whole_numbers_as_integers_and_undefined_as_null() {
        let mut result = measures_result();
        result.series[0].values = vec![Some(2.0), Some(2.5), None, Some(-0.0), Some(f64::NAN)];
        let json = serde_json::to_value(&result.series[0]).expect("serialises");
        assert_eq!(json["values"], serde_json::json!([2, 2.5, null, 0, null]));
        assert_eq!(json["values"][0].as_u64(), Some(2));
        let frequency = serde_json::to_value(&result.series[1]).expect("serialises");
        assert_eq!(
            frequency["frequency"][2],
            serde_json::json!({"label": "4+", "from": 4, "persons": [0, 3], "in_range": 3})
        );
    }

    #[test]
    fn counts_are_cumulative_and_rates_follow() {
        // 2 persons stopped at step 1, 1 at step 2, 1 finished step 3.
        let row = FunnelRow::from_levels(None, &[0, 2, 1, 1], 3);
        let persons: Vec<u64> = row.steps.iter().map(|s| s.persons).collect();
        assert_eq!(persons, [4, 2, 1]);
        assert_eq!(row.steps[1].drop_off, 2);
        assert_eq!(row.steps[2].conversion_from_first, 0.25);
        assert_eq!(row.steps[2].conversion_from_previous, 0.5);
        assert_eq!(row.steps[0].conversion_from_previous, 1.0);
    }

    #[test]
    fn nobody_entered_gives_zero_rates() {
        let row = FunnelRow::from_levels(None, &[0, 0, 0], 2);
        assert!(
            row.steps
                .iter()
                .all(|s| s.persons == 0 && s.conversion_from_first == 0.0)
        );
    }

    fn key(values: &[Option<&str>]) -> GroupKey {
        GroupKey {
            values: values.iter().map(|v| v.map(str::to_owned)).collect(),
            did_not_reach: false,
        }
    }

    #[test]
    fn groups_past_the_limit_are_summed_into_other() {
        // Entrants: a 4, b 3, (none) 3, c 1; limit 2 keeps a and the null group (null sorts
        // before b among equal counts), and sums b and c.
        let groups = [
            (key(&[Some("a")]), 2, 4),
            (key(&[Some("b")]), 1, 2),
            (key(&[Some("b")]), 2, 1),
            (key(&[None]), 1, 3),
            (key(&[Some("c")]), 2, 1),
        ];
        let result =
            FunnelResult::from_levels(vec!["A".into(), "B".into()], None, group_by(), 2, groups);
        let rows: Vec<(Option<&str>, bool, u64, u64)> = result
            .by_breakdown
            .iter()
            .map(|r| (r.value.as_deref(), r.other, r.entered(), r.steps[1].persons))
            .collect();
        assert_eq!(
            rows,
            [
                (Some("a"), false, 4, 4),
                (None, false, 3, 0),
                (None, true, 4, 2)
            ]
        );
        let json = serde_json::to_value(&result.by_breakdown[2]).expect("serialises");
        assert_eq!(json["other"], serde_json::json!(true));
        assert!(json.get("did_not_reach").is_none() && json.get("values").is_none());
        // Every person is in exactly one row.
        let total: u64 = result.by_breakdown.iter().map(FunnelRow::entered).sum();
        assert_eq!(total, result.overall.entered());
    }

    #[test]
    fn no_other_row_when_every_group_fits() {
        let groups = [(key(&[Some("a")]), 1, 1), (key(&[Some("b")]), 1, 1)];
        let result =
            FunnelResult::from_levels(vec!["A".into(), "B".into()], None, group_by(), 2, groups);
        assert!(result.by_breakdown.iter().all(|r| !r.other));
        assert_eq!(result.by_breakdown.len(), 2);
    }

    #[test]
    fn two_properties_fill_values_and_labels() {
        let group_by = vec![
            GroupBy {
                kind: BreakdownKind::User,
                property: "plan".into(),
                step: None,
            },
            GroupBy {
                kind: BreakdownKind::Event,
                property: "category".into(),
                step: Some(2),
            },
        ];
        let missed = GroupKey {
            values: vec![Some("pro".into()), None],
            did_not_reach: true,
        };
        let groups = [(missed, 1, 2), (key(&[None, Some("design")]), 2, 1)];
        let result =
            FunnelResult::from_levels(vec!["A".into(), "B".into()], None, group_by, 10, groups);
        let first = &result.by_breakdown[0];
        assert_eq!(first.values, [Some("pro".to_owned()), None]);
        assert_eq!(first.value.as_deref(), Some("pro"));
        assert!(first.did_not_reach);
        assert_eq!(result.row_labels(first), ["pro", "(did not reach step 2)"]);
        assert_eq!(
            result.row_labels(&result.by_breakdown[1]),
            ["(none)", "design"]
        );
    }

    fn group_by() -> Vec<GroupBy> {
        vec![GroupBy {
            kind: BreakdownKind::Event,
            property: "c".into(),
            step: None,
        }]
    }

    #[test]
    fn breakdown_rows_sorted_by_entries_then_value() {
        let breakdown = Some(Breakdown {
            kind: crate::spec::BreakdownKind::Event,
            property: "c".into(),
        });
        let groups = [
            (key(&[Some("b")]), 1, 1),
            (key(&[Some("a")]), 2, 1),
            (key(&[None]), 1, 1),
            (key(&[Some("z")]), 1, 3),
        ];
        let result = FunnelResult::from_levels(
            vec!["A".into(), "B".into()],
            breakdown,
            Vec::new(),
            10,
            groups,
        );
        let values: Vec<Option<&str>> = result
            .by_breakdown
            .iter()
            .map(|r| r.value.as_deref())
            .collect();
        assert_eq!(values, [Some("z"), None, Some("a"), Some("b")]);
        assert_eq!(result.overall.entered(), 6);
        assert_eq!(result.overall.steps[1].persons, 1);
    }
}
