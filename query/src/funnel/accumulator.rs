//! The funnel aggregate's accumulator: collect, sort, run each person, count.
//!
//! The aggregate has no `GROUP BY`: each partition's accumulator collects compact step rows
//! (`state.rs`) for all persons and, when its input ends, sorts them by person in its own
//! thread (`runs.rs`). The final accumulator keeps those sorted runs as they arrive and walks
//! the persons across all of them, one person range per partition in parallel threads; each
//! person's rows are ordered by (held values, time, group values) and the per-person algorithm
//! (`path.rs`) runs on each (person, held values) group. The result is already the funnel's
//! answer: persons per (group, level); the group is found after the path (`group.rs`). This is
//! the sort-based plan: no hash table keyed by person, no per-person allocation, rows copied
//! once after collection, and only the step events of the query's time span are held.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, StringBuilder, StructArray, UInt8Array, UInt32Array, UInt64Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, ScalarValue, internal_datafusion_err};
use datafusion::logical_expr::Accumulator;

use super::group::{GroupSteps, counted_step_event, pair_key, pair_of};
use super::path::{FunnelParams, StepEvent, person_funnel};
use super::runs::{PersonWalk, Run, person_splits};
use super::state::{Collected, NONE, Ranking};
use super::times::{TimesTally, step_times};
use super::totals::for_each_attempt;
use super::udaf::{LEVELS_FIELD, TIMES_FIELD, level_fields, result_fields};
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
    /// Also answer each entered person's level.
    person_levels: bool,
    collected: Collected,
}

impl FunnelAccumulator {
    pub(crate) fn new(params: FunnelParams) -> Self {
        FunnelAccumulator {
            params,
            points: None,
            times: None,
            groups: GroupSteps::default(),
            person_levels: false,
            collected: Collected::default(),
        }
    }

    /// Also answers each entered person's level (the highest of their held values' paths).
    pub(crate) fn with_person_levels(mut self, person_levels: bool) -> Self {
        self.person_levels = person_levels;
        self
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
        Ok(self.collected.state())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.collected.seal();
        let ranking = self.collected.groups.ranking();
        let counter = Counter {
            params: &self.params,
            groups: self.groups,
            points: self.points.as_deref(),
            times: self.times.as_ref(),
            ranking: &ranking,
            person_levels: self.person_levels,
        };
        let counted = counter.count_in_parallel(&self.collected.runs)?;
        let levels = to_list(&counted.counts, &self.collected);
        let person_levels = ScalarValue::new_list_nullable(
            &counted
                .person_levels
                .iter()
                .map(|&v| ScalarValue::Int64(Some(v)))
                .collect::<Vec<_>>(),
            &DataType::Int64,
        );
        let times = counted.tally.map(TimesTally::into_list).unwrap_or_default();
        let times = ScalarValue::new_list_nullable(
            &times
                .into_iter()
                .map(ScalarValue::Float64)
                .collect::<Vec<_>>(),
            &DataType::Float64,
        );
        let columns: Vec<ArrayRef> = vec![
            Arc::new(levels),
            times as ArrayRef,
            person_levels as ArrayRef,
        ];
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

/// What the walk over persons counted.
#[derive(Debug, Default)]
struct Counted {
    /// Persons per (group, point, level ≥ 1), over every (person, held values) group.
    counts: BTreeMap<CountKey, u64>,
    /// The counted paths' step times, when asked for.
    tally: Option<TimesTally>,
    /// `person, level` of every entered person, when asked for.
    person_levels: Vec<i64>,
}

impl Counted {
    fn add(&mut self, other: Counted) {
        for (key, persons) in other.counts {
            *self.counts.entry(key).or_insert(0) += persons;
        }
        self.person_levels.extend(other.person_levels);
        match (&mut self.tally, other.tally) {
            (Some(tally), Some(other)) => tally.merge(other),
            (tally @ None, other) => *tally = other,
            (Some(_), None) => {}
        }
    }
}

/// Counts persons by the funnel's rules: the query's constants and the group values' ranking.
#[derive(Clone, Copy)]
struct Counter<'a> {
    params: &'a FunnelParams,
    groups: GroupSteps,
    /// Conversion over time: count each person in the point of their entry.
    points: Option<&'a PointIndex>,
    times: Option<&'a ConversionTimes>,
    ranking: &'a Ranking,
    person_levels: bool,
}

impl Counter<'_> {
    /// Counts the persons of `runs`, in one person range per run (one per partition that
    /// collected them, so as many threads as DataFusion ran partitions, at most one per core),
    /// the first range on this thread and each other one in a thread of its own.
    fn count_in_parallel(&self, runs: &[Run]) -> Result<Counted> {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let splits = person_splits(runs, runs.len().min(threads).max(1));
        let starts = std::iter::once(None).chain(splits.iter().copied().map(Some));
        let ends = splits
            .iter()
            .copied()
            .map(Some)
            .chain(std::iter::once(None));
        let ranges: Vec<(Option<i64>, Option<i64>)> = starts.zip(ends).collect();
        let Some((&(from, to), others)) = ranges.split_first() else {
            return Ok(Counted::default());
        };
        std::thread::scope(|scope| {
            let workers: Vec<_> = others
                .iter()
                .map(|&(from, to)| {
                    std::thread::Builder::new()
                        .name("sluice-funnel".into())
                        .spawn_scoped(scope, move || self.count(runs, from, to))
                        .map_err(|_| (from, to))
                })
                .collect();
            let mut counted = self.count(runs, from, to);
            for worker in workers {
                let part = match worker {
                    Ok(worker) => worker
                        .join()
                        .map_err(|_| internal_datafusion_err!("a funnel worker thread panicked"))?,
                    // No thread to be had: this range is counted here instead.
                    Err((from, to)) => self.count(runs, from, to),
                };
                counted.add(part);
            }
            Ok(counted)
        })
    }

    /// Counts the persons `from ≤ person < to` of `runs`.
    fn count(&self, runs: &[Run], from: Option<i64>, to: Option<i64>) -> Counted {
        let steps = usize::from(self.params.steps);
        let mut counted = Counted {
            counts: BTreeMap::new(),
            tally: self
                .times
                .map(|request| TimesTally::new(request.clone(), steps)),
            person_levels: Vec::new(),
        };
        let mut walk = PersonWalk::new(runs, from, to);
        let mut rows = Vec::new();
        let mut keyed: Vec<(u32, StepEvent)> = Vec::new();
        let mut events: Vec<StepEvent> = Vec::new();
        let mut times = Vec::new();
        while walk.next_person(&mut rows) {
            keyed.clear();
            keyed.extend(rows.iter().map(|r| {
                let event = StepEvent {
                    ts: r.ts,
                    breakdown: pair_key(r.groups, self.ranking),
                    mask: r.mask,
                };
                (r.held, event)
            }));
            // Ties at one millisecond are broken by group values (none first).
            if !keyed.is_sorted() {
                keyed.sort_unstable();
            }
            let mut level = 0;
            for group in keyed.chunk_by(|a, b| a.0 == b.0) {
                events.clear();
                events.extend(group.iter().map(|&(_, event)| event));
                level = level.max(self.count_person(&mut events, &mut counted, &mut times));
            }
            if self.person_levels
                && level > 0
                && let Some(row) = rows.first()
            {
                counted.person_levels.extend([row.person, i64::from(level)]);
            }
        }
        counted
    }

    /// Counts one (person, held values) group's `events`, sorted; returns the highest level
    /// counted (0: never entered).
    fn count_person(
        &self,
        events: &mut [StepEvent],
        counted: &mut Counted,
        times: &mut Vec<i64>,
    ) -> u8 {
        let params = self.params;
        if params.totals {
            let mut highest = 0;
            for_each_attempt(events, params, |path| {
                highest = highest.max(path.len() as u8);
                let (values, did_not_reach) = self.group_values(|step| path.get(step).copied());
                let point = entry_point(self.points, path[0].ts);
                let level = path.len() as u8;
                *counted
                    .counts
                    .entry((values, did_not_reach, point, level))
                    .or_insert(0) += 1;
                if let Some(tally) = counted.tally.as_mut() {
                    // A step is reached when it and every step before it happened (in any
                    // order, the latest of their times).
                    times.clear();
                    times.extend(path.iter().scan(i64::MIN, |reached, e| {
                        *reached = (*reached).max(e.ts);
                        Some(*reached)
                    }));
                    tally.add(times);
                }
            });
            return highest;
        }
        let outcome = person_funnel(events, params);
        let Some(entry) = outcome.entry.filter(|_| outcome.level > 0) else {
            return 0;
        };
        let (values, did_not_reach) = self.group_values(|step| match step {
            0 => Some(entry),
            _ if usize::from(outcome.level) <= step => None,
            _ => counted_step_event(events, entry, step, params.window_ms),
        });
        let point = entry_point(self.points, entry.ts);
        *counted
            .counts
            .entry((values, did_not_reach, point, outcome.level))
            .or_insert(0) += 1;
        if let Some(tally) = counted.tally.as_mut() {
            step_times(events, params, entry, usize::from(outcome.level), times);
            tally.add(times);
        }
        outcome.level
    }

    /// The group-by values of a counted path, `step_event(k)` giving the event of its
    /// zero-based step `k` (`None`: not reached), and whether a grouped step was not reached.
    fn group_values(&self, step_event: impl Fn(usize) -> Option<StepEvent>) -> ([u32; 2], bool) {
        let mut values = [NONE; 2];
        let mut did_not_reach = false;
        for (slot, step) in self.groups.0.iter().enumerate() {
            let Some(step) = step.map(usize::from) else {
                continue;
            };
            match step_event(step) {
                Some(event) => values[slot] = pair_of(event.breakdown, self.ranking)[slot],
                None => did_not_reach = true,
            }
        }
        (values, did_not_reach)
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
