//! The funnel aggregate's accumulator: collect, sort, run each person, count.
//!
//! The aggregate has no `GROUP BY`: each partition's accumulator collects compact step rows
//! (`state.rs`) for all persons, the final one gathers them, sorts them by (person, held values,
//! time) and walks the sorted rows once, running the per-person algorithm (`path.rs`) on each
//! person's run of rows. The result is already the funnel's answer: persons per (group,
//! level); the group is found after the path (`group.rs`). This is the sort-based plan: no hash table keyed by person, no per-person
//! allocation, and only the step events of the query's time span are held.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, StringBuilder, StructArray, UInt8Array, UInt32Array, UInt64Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::Accumulator;

use super::group::{GroupSteps, PairRanks, counted_step_event};
use super::path::{FunnelParams, StepEvent, person_funnel};
use super::state::{Collected, NONE, Ranking, Row};
use super::times::{TimesTally, step_times};
use super::totals::attempts;
use super::udaf::{LEVELS_FIELD, TIMES_FIELD, level_fields, result_fields};
use crate::person_sort::sort_by_person;
use crate::spec::{ConversionTimes, PointIndex};

/// The funnel's state in one partition, then for all.
#[derive(Debug)]
pub(crate) struct FunnelAccumulator {
    params: FunnelParams,
    /// Conversion over time: count each person in the point of their entry.
    points: Option<Arc<PointIndex>>,
    /// Time to convert, when asked for.
    times: Option<ConversionTimes>,
    /// The step each group-by property is read from.
    groups: GroupSteps,
    collected: Collected,
}

impl FunnelAccumulator {
    pub(crate) fn new(params: FunnelParams) -> Self {
        FunnelAccumulator {
            params,
            points: None,
            times: None,
            groups: GroupSteps::default(),
            collected: Collected::default(),
        }
    }

    /// Also tallies the time to convert.
    pub(crate) fn with_times(mut self, times: Option<ConversionTimes>) -> Self {
        self.times = times;
        self
    }

    /// Also counts per point of conversion over time.
    pub(crate) fn with_points(mut self, points: Option<Arc<PointIndex>>) -> Self {
        self.points = points;
        self
    }

    /// Also counts per group-by value.
    pub(crate) fn with_groups(mut self, groups: GroupSteps) -> Self {
        self.groups = groups;
        self
    }
}

impl Accumulator for FunnelAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.collected.update(values)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.collected.merge(states)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(self.collected.to_state())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let mut tally = self
            .times
            .clone()
            .map(|request| TimesTally::new(request, usize::from(self.params.steps)));
        let counts = count_levels(
            &mut self.collected,
            &self.params,
            self.groups,
            self.points.as_deref(),
            tally.as_mut(),
        );
        let levels = to_list(&counts, &self.collected);
        let times = tally.map(TimesTally::into_list).unwrap_or_default();
        let times = ScalarValue::new_list_nullable(
            &times
                .into_iter()
                .map(ScalarValue::Float64)
                .collect::<Vec<_>>(),
            &DataType::Float64,
        );
        let columns: Vec<ArrayRef> = vec![Arc::new(levels), times as ArrayRef];
        let fields = result_fields();
        debug_assert_eq!(fields[0].name(), LEVELS_FIELD);
        debug_assert_eq!(fields[1].name(), TIMES_FIELD);
        Ok(ScalarValue::Struct(Arc::new(StructArray::new(
            fields, columns, None,
        ))))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.collected.size()
    }
}

/// The key persons are counted under: the two group values (dictionary indexes, [`NONE`] for
/// none), whether the path stopped before a grouped later step, the point and the level.
type CountKey = ([u32; 2], bool, u32, u8);

/// Persons per (group, point, level ≥ 1), over every (person, held values) group. The point is
/// that of the entry's time when `points` are given, [`NONE`] otherwise. With a `tally`, each
/// counted group's step times go into it.
fn count_levels(
    collected: &mut Collected,
    params: &FunnelParams,
    groups: GroupSteps,
    points: Option<&PointIndex>,
    mut tally: Option<&mut TimesTally>,
) -> BTreeMap<CountKey, u64> {
    let ranking = collected.groups.ranking();
    // Ties at one millisecond are broken by group values (none first), so sort by their rank.
    sort_by_person(
        &mut collected.rows,
        |r: &Row| r.person,
        |r: &Row| (r.held, r.ts, PairRanks::packed(r.groups, &ranking), r.mask),
    );
    let pairs = PairRanks::new(&collected.rows, &ranking);
    let rows = &collected.rows;
    let mut counts = BTreeMap::new();
    let mut events: Vec<StepEvent> = Vec::new();
    let mut times = Vec::new();
    for group in rows.chunk_by(|a, b| a.person == b.person && a.held == b.held) {
        events.clear();
        events.extend(group.iter().map(|r| StepEvent {
            ts: r.ts,
            breakdown: pairs.rank(PairRanks::packed(r.groups, &ranking)),
            mask: r.mask,
        }));
        if params.totals {
            count_attempts(&mut events, params, &pairs, &ranking, points, &mut counts);
            continue;
        }
        let outcome = person_funnel(&mut events, params);
        let Some(entry) = outcome.entry.filter(|_| outcome.level > 0) else {
            continue;
        };
        let mut values = [NONE; 2];
        let mut did_not_reach = false;
        for (slot, step) in groups.0.iter().enumerate() {
            let Some(step) = step.map(usize::from) else {
                continue;
            };
            let event = match step {
                0 => Some(entry),
                _ if usize::from(outcome.level) <= step => None,
                _ => counted_step_event(&events, entry, step, params.window_ms),
            };
            match event {
                Some(event) => values[slot] = pairs.pair(event.breakdown, &ranking)[slot],
                None => did_not_reach = true,
            }
        }
        let point = entry_point(points, entry.ts);
        *counts
            .entry((values, did_not_reach, point, outcome.level))
            .or_insert(0) += 1;
        if let Some(tally) = tally.as_deref_mut() {
            step_times(
                &events,
                params,
                entry,
                usize::from(outcome.level),
                &mut times,
            );
            tally.add(&times);
        }
    }
    counts
}

/// Counts every attempt of one person (`counting: totals`) under its entry's group values and
/// point (a later-step group-by is refused with totals).
fn count_attempts(
    events: &mut [StepEvent],
    params: &FunnelParams,
    pairs: &PairRanks,
    ranking: &Ranking,
    points: Option<&PointIndex>,
    counts: &mut BTreeMap<CountKey, u64>,
) {
    if !events.is_sorted() {
        events.sort_unstable();
    }
    for (entry, level) in attempts(events, params) {
        let values = pairs.pair(entry.breakdown, ranking);
        let point = entry_point(points, entry.ts);
        *counts.entry((values, false, point, level)).or_insert(0) += 1;
    }
}

/// The conversion-over-time point an entry at `ts` is counted in ([`NONE`] without points or
/// outside them).
fn entry_point(points: Option<&PointIndex>, ts: i64) -> u32 {
    points
        .and_then(|points| points.point_of(ts))
        .map_or(NONE, |p| p as u32)
}

/// The counts as the aggregate's result: a list of `{group_1, group_2, did_not_reach, point,
/// level, persons}`.
fn to_list(
    counts: &BTreeMap<CountKey, u64>,
    collected: &Collected,
) -> datafusion::arrow::array::ListArray {
    let mut firsts = StringBuilder::new();
    let mut seconds = StringBuilder::new();
    let mut not_reached = Vec::with_capacity(counts.len());
    let mut points = Vec::with_capacity(counts.len());
    let mut levels = Vec::with_capacity(counts.len());
    let mut persons = Vec::with_capacity(counts.len());
    for (&([first, second], missed, point, level), &count) in counts {
        firsts.append_option(collected.groups.get(first));
        seconds.append_option(collected.groups.get(second));
        not_reached.push(missed);
        points.push((point != NONE).then_some(point));
        levels.push(level);
        persons.push(count);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(firsts.finish()),
        Arc::new(seconds.finish()),
        Arc::new(BooleanArray::from(not_reached)),
        Arc::new(UInt32Array::from(points)),
        Arc::new(UInt8Array::from(levels)),
        Arc::new(UInt64Array::from(persons)),
    ];
    let entries = StructArray::new(level_fields(), columns, None);
    let field = Arc::new(Field::new_list_field(
        DataType::Struct(level_fields()),
        true,
    ));
    let offsets = OffsetBuffer::from_lengths([entries.len()]);
    datafusion::arrow::array::ListArray::new(field, offsets, Arc::new(entries), None)
}

#[cfg(test)]
mod tests;
