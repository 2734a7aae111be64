//! The funnel analysis: plan a [`FunnelQuery`] onto DataFusion and read back the counts.
//!
//! Plan: scan events in `[entry_from, entry_to + window]` whose type is a step's or an
//! exclusion's (with
//! `event_date` partition pruning) → per row the person, the time, the step mask, the held
//! values and the two group-by values → the `sluice_funnel` aggregate (no `GROUP BY`: it sorts the
//! step rows by person itself and returns the counts per group and level). Only those
//! counts come back to Rust. No joins, no window functions, no hash table keyed by person.

mod accumulator;
mod any_order;
mod exclusion;
mod group;
mod path;
mod runs;
mod state;
mod times;
mod totals;
mod udaf;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::cast::{
    as_boolean_array, as_float64_array, as_int64_array, as_list_array, as_string_array,
    as_struct_array, as_uint8_array, as_uint32_array, as_uint64_array,
};
use datafusion::datasource::listing::ListingTable;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{Expr, cast, lit, when};
use datafusion::prelude::concat_ws;

use crate::error::{QueryError, Result};
use crate::identity::PersonMap;
use crate::property::{column, null_text, resolve, time_span, timestamp};
use crate::result::{ConversionBucket, FunnelResult, GroupKey, StepTime, TimeToConvert};
use crate::spec::{
    Breakdown, ConversionTimes, FunnelCounting, FunnelOrder, FunnelQuery, GroupBy, PointIndex,
};
use crate::whole_table::{aggregate_row, counted_event};
use group::GroupSteps;
use path::{FunnelParams, StrictModes};
use times::TimesSummary;
use udaf::{
    FunnelUdaf, GROUP_FIELDS, LEVEL_FIELD, LEVELS_FIELD, NOT_REACHED_FIELD, PERSON_LEVELS_FIELD,
    PERSONS_FIELD, POINT_FIELD, TIMES_FIELD,
};

/// The group-by as the spec gave it, echoed in the result: `breakdown` (the one-property form)
/// or `group_by`.
#[derive(Debug, Clone, Default)]
pub(crate) struct GroupLabels {
    pub(crate) breakdown: Option<Breakdown>,
    pub(crate) group_by: Vec<GroupBy>,
}

/// Runs `query` over `table` (`None`: no data yet, every count is zero).
pub(crate) async fn run(
    ctx: &SessionContext,
    table: Option<Arc<ListingTable>>,
    persons: &Arc<PersonMap>,
    query: &FunnelQuery,
    labels: GroupLabels,
) -> Result<FunnelResult> {
    let steps = query.steps.clone();
    let Answer { counts, times, .. } = match table {
        Some(table) => level_counts(ctx, table, persons, query, false).await?,
        None => Answer::default(),
    };
    let properties = query.group_by.len().min(2);
    let groups = counts
        .iter()
        .map(|c| (c.key(properties), c.level, c.persons));
    let mut result = FunnelResult::from_levels(
        steps,
        labels.breakdown,
        labels.group_by,
        query.group_limit,
        groups,
    );
    if query.totals {
        result.counting = FunnelCounting::Totals;
    }
    if let Some(buckets) = &query.over_time {
        let points = counts
            .iter()
            .filter_map(|c| Some((c.key(properties), c.point? as usize, c.level, c.persons)));
        result = result.with_over_time(&buckets.labels, points);
    }
    if let Some(request) = &query.time_to_convert {
        let steps = query.steps.len();
        result.time_to_convert = Some(time_to_convert(request, steps, times.as_ref()));
    }
    Ok(result)
}

/// The time-to-convert result from the aggregate's tally (`None`: no data, nobody counted).
fn time_to_convert(
    request: &ConversionTimes,
    steps: usize,
    summary: Option<&TimesSummary>,
) -> TimeToConvert {
    let average = |total: f64, persons: u64| (persons > 0).then(|| total / persons as f64);
    let bounds = &request.bounds;
    let histogram = bounds
        .iter()
        .enumerate()
        .map(|(b, &from)| ConversionBucket {
            from_ms: from as u64,
            to_ms: bounds.get(b + 1).map(|&to| to as u64),
            persons: summary.map_or(0, |s| s.histogram[b]),
        })
        .collect();
    let steps = (1..steps)
        .map(|k| {
            let (persons, total) = summary.map_or((0, 0.0), |s| s.steps[k - 1]);
            StepTime {
                step: k + 1,
                persons,
                average_ms: average(total, persons),
            }
        })
        .collect();
    let persons = summary.map_or(0, |s| s.persons);
    TimeToConvert {
        from_step: request.from + 1,
        to_step: request.to + 1,
        persons,
        median_ms: summary.and_then(|s| s.median_ms),
        average_ms: summary.and_then(|s| average(s.total_ms, persons)),
        histogram,
        steps,
    }
}

/// What the funnel aggregate answers.
#[derive(Default)]
struct Answer {
    counts: Vec<LevelCount>,
    /// The time-to-convert tally, when asked for.
    times: Option<TimesSummary>,
    /// Each entered person's level, when asked for.
    person_levels: HashMap<i64, u8>,
}

/// Each person who entered the funnel, with the level their best path reached (held values:
/// the best of their values). A cohort's "reached step k" and "dropped after step k" read it.
pub(crate) async fn person_levels(
    ctx: &SessionContext,
    table: Option<Arc<ListingTable>>,
    persons: &Arc<PersonMap>,
    query: &FunnelQuery,
) -> Result<HashMap<i64, u8>> {
    match table {
        Some(table) => Ok(level_counts(ctx, table, persons, query, true)
            .await?
            .person_levels),
        None => Ok(HashMap::new()),
    }
}

/// Persons whose best path reached exactly `level` steps, per group and point.
struct LevelCount {
    /// The values of the group-by properties (unused ones are null).
    groups: [Option<String>; 2],
    /// The path stopped before the step a group-by property is read from.
    did_not_reach: bool,
    /// The point of conversion over time holding the entry (none without it).
    point: Option<u32>,
    level: u8,
    persons: u64,
}

impl LevelCount {
    /// The group counted, for a group-by of `properties` properties.
    fn key(&self, properties: usize) -> GroupKey {
        GroupKey {
            values: self.groups[..properties].to_vec(),
            did_not_reach: self.did_not_reach,
        }
    }
}

/// The counts for every level >= 1, the time-to-convert tally and, with `per_person`, each
/// entered person's level.
async fn level_counts(
    ctx: &SessionContext,
    table: Arc<ListingTable>,
    persons: &Arc<PersonMap>,
    query: &FunnelQuery,
    per_person: bool,
) -> Result<Answer> {
    use datafusion::datasource::TableProvider as _;
    let schema = table.schema();
    let steps = u8::try_from(query.steps.len())
        .map_err(|_| QueryError::Internal("too many funnel steps".into()))?;
    let params = FunnelParams {
        steps,
        window_ms: query.window_ms,
        entry_from_ms: query.entry_from_ms,
        entry_to_ms: query.entry_to_ms,
        strict: StrictModes {
            deduplication: query.strict_deduplication,
            increase: query.strict_increase,
        },
        exclusion_gaps: exclusion_gaps(query),
        order: query.order,
        steps_compete: query.steps_compete(),
        totals: query.totals,
    };
    let points = query
        .over_time
        .as_ref()
        .map(|buckets| Arc::new(PointIndex::new(buckets.starts.clone())));
    let mut group_steps = GroupSteps::default();
    let mut group_values = [null_text(), null_text()];
    for (slot, group) in query.group_by.iter().enumerate().take(2) {
        group_steps.0[slot] = u8::try_from(group.step).ok();
        // Only the grouped step's events carry the value (step 1: entries in the date range).
        let mut on_step = step_matches(query, group.step, &schema);
        if group.step == 0 {
            let time = column("event_time");
            on_step = on_step
                .and(time.clone().gt_eq(timestamp(query.entry_from_ms)))
                .and(time.lt_eq(timestamp(query.entry_to_ms)));
        }
        group_values[slot] = when(on_step, resolve(&group.property, &schema)).end()?;
    }
    let mut funnel = FunnelUdaf::new(params, points, query.time_to_convert.clone(), group_steps);
    if per_person {
        funnel = funnel.with_person_levels();
    }
    let funnel = funnel.into_udaf();
    // Held properties: events lacking a value cannot be on any path; the values travel as one
    // text, so each (person, values) pair runs its own funnel.
    let mut filter = scan_filter(query);
    let mut held = Vec::new();
    for property in &query.hold_constant {
        let value = resolve(property, &schema);
        filter = filter.and(value.clone().is_not_null());
        held.push(value);
    }
    let held = match held.len() {
        0 => null_text(),
        1 => held.remove(0),
        _ => concat_ws(
            lit(HELD_SEPARATOR),
            held.into_iter().map(|h| cast(h, DataType::Utf8)).collect(),
        ),
    };
    let mut arguments = vec![
        persons.person_expr(&schema),
        cast(column("event_time"), DataType::Int64),
        step_mask(query, &schema)?,
        held,
    ];
    arguments.extend(group_values);
    let row = aggregate_row(ctx, table, filter, vec![(funnel, arguments)]).await?;
    let answer = row
        .first()
        .ok_or_else(|| QueryError::Internal("the funnel returned no answer".into()))?;
    let answer = as_struct_array(answer)?;
    let (Some(levels), Some(times), Some(pairs)) = (
        answer.column_by_name(LEVELS_FIELD),
        answer.column_by_name(TIMES_FIELD),
        answer.column_by_name(PERSON_LEVELS_FIELD),
    ) else {
        return Err(QueryError::Internal(
            "the funnel's answer lacks a field".into(),
        ));
    };
    let times = match &query.time_to_convert {
        Some(request) => {
            let list = as_list_array(times)?.value(0);
            let list: Vec<Option<f64>> = as_float64_array(&list)?.iter().collect();
            let summary = TimesSummary::from_list(&list, query.steps.len(), request.bounds.len())
                .ok_or_else(|| {
                QueryError::Internal("the funnel's time tally has the wrong length".into())
            })?;
            Some(summary)
        }
        None => None,
    };
    let entries = as_list_array(levels)?.value(0);
    let entries = as_struct_array(&entries)?;
    let (Some(firsts), Some(seconds), Some(missed), Some(points), Some(levels), Some(persons)) = (
        entries.column_by_name(GROUP_FIELDS[0]),
        entries.column_by_name(GROUP_FIELDS[1]),
        entries.column_by_name(NOT_REACHED_FIELD),
        entries.column_by_name(POINT_FIELD),
        entries.column_by_name(LEVEL_FIELD),
        entries.column_by_name(PERSONS_FIELD),
    ) else {
        return Err(QueryError::Internal("funnel counts lack a field".into()));
    };
    let (firsts, seconds) = (as_string_array(firsts)?, as_string_array(seconds)?);
    let missed = as_boolean_array(missed)?;
    let points = as_uint32_array(points)?;
    let levels = as_uint8_array(levels)?;
    let persons = as_uint64_array(persons)?;
    let counts = (0..entries.len())
        .map(|i| LevelCount {
            groups: [firsts, seconds].map(|a| a.is_valid(i).then(|| a.value(i).to_owned())),
            did_not_reach: missed.value(i),
            point: points.is_valid(i).then(|| points.value(i)),
            level: levels.value(i),
            persons: persons.value(i),
        })
        .collect();
    let pairs = as_list_array(pairs)?.value(0);
    let pairs = as_int64_array(&pairs)?.values();
    let person_levels = pairs
        .chunks_exact(2)
        .map(|pair| (pair[0], pair[1] as u8))
        .collect();
    Ok(Answer {
        counts,
        times,
        person_levels,
    })
}

/// Separates the values of several held properties in the text the aggregate groups by (a
/// control character no property value is expected to hold).
const HELD_SEPARATOR: &str = "\u{1f}";

/// Rows that can matter: the right project, a step's event type, inside the scanned time span;
/// plus the same span as `event_date` folders (one day of margin each side, since folders are
/// dated in the project's time zone and the span is in UTC).
fn scan_filter(query: &FunnelQuery) -> Expr {
    let from = query.entry_from_ms;
    let to = query.scan_to_ms();
    let types: BTreeSet<&str> = query
        .steps
        .iter()
        .chain(query.exclusions.iter().map(|e| &e.event_type))
        .map(String::as_str)
        .collect();
    // Exact order: every other counted event can break a sequence, so all of them are read.
    let events = match query.order {
        FunnelOrder::Exact => counted_event(),
        _ => column("event_type").in_list(types.into_iter().map(lit).collect(), false),
    };
    let mut filter = time_span(from, to).and(events);
    if let Some(project) = &query.project {
        filter = filter.and(column("project").eq(lit(project.clone())));
    }
    filter
}

/// `event_type = <type of step k>` and the step's conditions.
fn step_matches(query: &FunnelQuery, k: usize, schema: &Schema) -> Expr {
    let event_type = column("event_type").eq(lit(query.steps[k].clone()));
    match query.step_conditions.get(k) {
        Some(conditions) => conditions.and(event_type, schema),
        None => event_type,
    }
}

/// Bit `k` set when the row matches step `k + 1`, bit `32 + j` when it matches exclusion `j`,
/// bit 63 on every row in exact order: one CASE per step and exclusion, OR-ed, so a row can
/// match several (repeated event types).
fn step_mask(query: &FunnelQuery, schema: &Schema) -> Result<Expr> {
    let mut mask = lit(0i64);
    for k in 0..query.steps.len() {
        mask = mask | when(step_matches(query, k, schema), lit(1i64 << k)).otherwise(lit(0i64))?;
    }
    for (j, exclusion) in query.exclusions.iter().enumerate() {
        let event_type = column("event_type").eq(lit(exclusion.event_type.clone()));
        let matches = exclusion.conditions.and(event_type, schema);
        let bit = 1i64 << (EXCLUSION_BIT + j);
        mask = mask | when(matches, lit(bit)).otherwise(lit(0i64))?;
    }
    if query.order == FunnelOrder::Exact {
        mask = mask | lit(ANY_EVENT_BIT as i64);
    }
    Ok(mask)
}

/// The mask bit every row carries in exact order: it breaks every gap it lies strictly inside.
const ANY_EVENT_BIT: u64 = 1 << 63;

/// Where the exclusion bits of the event mask start.
const EXCLUSION_BIT: usize = 32;

/// Per gap `k` (between steps `k + 1` and `k + 2`), the mask bits of the exclusions whose
/// `between` covers it.
fn exclusion_gaps(query: &FunnelQuery) -> [u64; 32] {
    if query.order == FunnelOrder::Exact {
        return [ANY_EVENT_BIT; 32];
    }
    let mut gaps = [0u64; 32];
    for (j, exclusion) in query.exclusions.iter().enumerate() {
        let (from, to) = exclusion.between;
        for gap in &mut gaps[from..to] {
            *gap |= 1u64 << (EXCLUSION_BIT + j);
        }
    }
    gaps
}
