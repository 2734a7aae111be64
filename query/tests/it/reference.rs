//! Slow, obviously correct references. The funnel: exhaustive search over every way to assign
//! distinct events to the steps, for each entry. Segmentation measures: each point's events
//! filtered from the whole list and measured directly. Only for small inputs.
//!
//! Funnel order modes: in any order the later steps only need to lie between the entry and the
//! window's end; in exact order no event of the person lies strictly between two consecutive
//! steps. Exclusions: a step may follow the previous one only when no event of an exclusion
//! covering that gap lies strictly between their times.
//!
//! Funnel group-by (amplitude.md §4.2): the person's counted path is, among the paths from the
//! counted entry that reach the person's level, the earliest one — the smallest sequence of
//! (time, group values) over its steps, compared step by step. An event's group values are the
//! value of each group-by property when the event is that property's step event (for step 1:
//! inside the entry range), none otherwise; they also order entries of one millisecond. A
//! property read on step k takes the counted path's step-k event's value; a path shorter than k
//! puts the person in the "did not reach" group.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::TestEvent;

/// The funnel parameters, with the entry range already in Unix ms (inclusive).
#[derive(Debug, Clone)]
pub(crate) struct RefFunnel {
    pub(crate) steps: Vec<String>,
    pub(crate) window_ms: i64,
    pub(crate) entry_from_ms: i64,
    pub(crate) entry_to_ms: i64,
    pub(crate) project: Option<String>,
    /// Properties held constant: one funnel per (person, values of these), events lacking
    /// one of them left out.
    pub(crate) held: Vec<RefProperty>,
    /// Exclusion steps.
    pub(crate) exclusions: Vec<RefExclusion>,
    /// The order mode.
    pub(crate) order: RefOrder,
    /// Group-by properties (0 to 2); a later step only in "this" order without exclusions.
    pub(crate) groups: Vec<RefGroup>,
    /// Per step, the category its events must have (the step's `where`), if any.
    pub(crate) step_categories: Vec<Option<String>>,
    /// ClickHouse `windowFunnel` modes: the person is counted by ClickHouse's scan instead.
    pub(crate) strict: Option<RefStrict>,
    /// A compared segment's condition, which applies to step 1 only (Amplitude).
    pub(crate) segment: Option<RefCondition>,
}

/// A condition on one property of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RefCondition {
    /// The property has this value.
    Is(RefProperty, String),
    /// The property lacks this value (or is absent).
    IsNot(RefProperty, String),
}

impl RefCondition {
    fn holds(&self, e: &TestEvent) -> bool {
        match self {
            RefCondition::Is(property, value) => property.of(e).as_ref() == Some(value),
            RefCondition::IsNot(property, value) => property.of(e).as_ref() != Some(value),
        }
    }
}

/// ClickHouse's strict modes (at least one is on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RefStrict {
    pub(crate) deduplication: bool,
    pub(crate) increase: bool,
}

/// A group-by property and the zero-based step it is read on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RefGroup {
    pub(crate) property: RefProperty,
    pub(crate) step: usize,
}

/// The properties the generated events carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefProperty {
    /// Event property `category`.
    Category,
    /// User property `plan`.
    Plan,
    /// Field `platform`.
    Platform,
}

impl RefProperty {
    fn of(self, e: &TestEvent) -> Option<String> {
        match self {
            RefProperty::Category => e.category.clone(),
            RefProperty::Plan => e.plan.clone(),
            RefProperty::Platform => e.platform.clone(),
        }
    }
}

impl RefFunnel {
    /// True when `e` can be taken for the zero-based `step` (its type; the entry range for 0).
    fn is_step(&self, e: &TestEvent, step: usize) -> bool {
        self.matches_step(e, step)
            && (step > 0 || (self.entry_from_ms..=self.entry_to_ms).contains(&e.ts))
    }

    /// The event has step `step`'s type and meets its condition (and, for step 1, the
    /// segment's).
    fn matches_step(&self, e: &TestEvent, step: usize) -> bool {
        (step > 0 || self.segment.as_ref().is_none_or(|c| c.holds(e)))
            && e.event_type == self.steps[step]
            && self
                .step_categories
                .get(step)
                .and_then(Option::as_ref)
                .is_none_or(|c| e.category.as_ref() == Some(c))
    }

    /// The event's group values: each property's value where the event is its step's event.
    fn tie_key(&self, e: &TestEvent) -> Vec<Option<String>> {
        self.groups
            .iter()
            .map(|g| {
                if self.is_step(e, g.step) {
                    g.property.of(e)
                } else {
                    None
                }
            })
            .collect()
    }
}

/// A group of persons: the values of the group-by properties, and whether the path stopped
/// before the step a property is read on.
pub(crate) type RefGroupKey = (Vec<Option<String>>, bool);

/// Amplitude's order modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefOrder {
    /// Steps in order, anything in between.
    This,
    /// Later steps anywhere in `[entry, entry + window]`.
    Any,
    /// Steps in order with no other event strictly between consecutive steps.
    Exact,
}

/// An exclusion step.
#[derive(Debug, Clone)]
pub(crate) struct RefExclusion {
    pub(crate) event_type: String,
    /// Only events whose event property `category` is this value, when given.
    pub(crate) category: Option<String>,
    /// Zero-based steps `(from, to)`: the exclusion covers the gaps from step `from` to `to`.
    pub(crate) between: (usize, usize),
}

impl RefExclusion {
    fn matches(&self, e: &TestEvent) -> bool {
        e.event_type == self.event_type
            && self
                .category
                .as_ref()
                .is_none_or(|c| e.category.as_ref() == Some(c))
    }
}

/// True when no exclusion covering the gap before `step` has an event strictly between
/// `previous_ts` and `ts`.
fn gap_clear(
    events: &[&TestEvent],
    funnel: &RefFunnel,
    step: usize,
    previous_ts: i64,
    ts: i64,
) -> bool {
    funnel
        .exclusions
        .iter()
        .filter(|x| x.between.0 < step && step <= x.between.1)
        .all(|x| {
            !events
                .iter()
                .any(|e| x.matches(e) && previous_ts < e.ts && e.ts < ts)
        })
}

/// Counts per step overall, and per group (empty key without group-by).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefCounts {
    pub(crate) overall: Vec<u64>,
    pub(crate) by_group: BTreeMap<RefGroupKey, Vec<u64>>,
    /// `(entry time, level, group)` of every counted person (or person-value pair).
    pub(crate) entries: Vec<(i64, usize, RefGroupKey)>,
    /// Per counted person (or person-value pair), when its counted entry reached each step: the
    /// earliest instant any valid path from that entry had done steps 1 to k.
    pub(crate) step_times: Vec<Vec<i64>>,
}

pub(crate) fn reference(events: &[TestEvent], funnel: &RefFunnel) -> RefCounts {
    let mut persons: BTreeMap<(&str, Vec<String>), Vec<&TestEvent>> = BTreeMap::new();
    for e in events {
        if funnel.project.as_ref().is_some_and(|p| *p != e.project) {
            continue;
        }
        let held: Option<Vec<String>> = funnel.held.iter().map(|p| p.of(e)).collect();
        if let Some(held) = held {
            persons.entry((e.person(), held)).or_default().push(e);
        }
    }
    let n = funnel.steps.len();
    let mut counts = RefCounts {
        overall: vec![0; n],
        by_group: BTreeMap::new(),
        entries: Vec::new(),
        step_times: Vec::new(),
    };
    for events in persons.values() {
        let counted = match funnel.strict {
            Some(modes) => clickhouse_scan(events, funnel, modes),
            None => person(events, funnel),
        };
        let Some((level, entry)) = counted else {
            continue;
        };
        let path = match funnel.strict {
            Some(_) => vec![entry],
            None => counted_path(events, funnel, entry, level),
        };
        let mut missed = false;
        let values = funnel
            .groups
            .iter()
            .enumerate()
            .map(|(j, g)| match path.get(g.step) {
                Some(&i) => funnel.tie_key(events[i])[j].clone(),
                None => {
                    missed = true;
                    None
                }
            })
            .collect::<Vec<_>>();
        if funnel.strict.is_none() {
            counts
                .step_times
                .push(entry_times(events, funnel, entry, level));
        }
        let key = (values, missed);
        counts.entries.push((events[entry].ts, level, key.clone()));
        let row = counts.by_group.entry(key).or_insert_with(|| vec![0; n]);
        for (total, own) in counts.overall.iter_mut().zip(row.iter_mut()).take(level) {
            *total += 1;
            *own += 1;
        }
    }
    counts
}

/// The person's level and counted entry (an index into `events`), `None` when they never
/// entered.
/// The level of the person whose events are `events` (0: never entered).
pub(crate) fn person_level(events: &[&TestEvent], funnel: &RefFunnel) -> usize {
    person(events, funnel).map_or(0, |(level, _)| level)
}

fn person(events: &[&TestEvent], funnel: &RefFunnel) -> Option<(usize, usize)> {
    let mut best: Option<(usize, i64, Vec<Option<String>>, usize)> = None;
    for (i, entry) in events.iter().enumerate() {
        let enters = funnel.matches_step(entry, 0)
            && (funnel.entry_from_ms..=funnel.entry_to_ms).contains(&entry.ts);
        if !enters {
            continue;
        }
        let mut used = vec![i];
        let level = 1 + longest(
            events,
            funnel,
            1,
            entry.ts,
            entry.ts + funnel.window_ms,
            &mut used,
        );
        let key = funnel.tie_key(entry);
        // Longest first; among equals the earliest entry, same-ms ties by value (null first).
        let better = match &best {
            None => true,
            Some((l, ts, k, _)) => level > *l || (level == *l && (entry.ts, &key) < (*ts, k)),
        };
        if better {
            best = Some((level, entry.ts, key, i));
        }
    }
    best.map(|(level, _, _, i)| (level, i))
}

/// ClickHouse's `windowFunnel(window, 'strict_deduplication' / 'strict_increase')` for one
/// person, as ClickHouse states it: every (event, step it matches) pair in (time, step) order
/// (same-millisecond pairs of one step by group values, null first); a step-1 pair inside the
/// entry range (re)starts the chain at its time; a step-k pair extends step k - 1 if it is
/// within the window of the chain's start and, with `increase`, strictly later than step k - 1;
/// with `deduplication`, a step k ≥ 2 already reached happening again ends the scan. The level
/// is the highest step reached, the entry the start of the chain that reached it.
fn clickhouse_scan(
    events: &[&TestEvent],
    funnel: &RefFunnel,
    modes: RefStrict,
) -> Option<(usize, usize)> {
    let n = funnel.steps.len();
    let mut pairs = Vec::new();
    for (i, e) in events.iter().enumerate() {
        for step in (0..n).filter(|&step| funnel.matches_step(e, step)) {
            pairs.push((e.ts, step, funnel.tie_key(e), i));
        }
    }
    pairs.sort();
    // Per step: (chain start time, time the step was reached, the chain's entry).
    let mut reached: Vec<Option<(i64, i64, usize)>> = vec![None; n];
    for (ts, step, _, i) in pairs {
        if step == 0 {
            if (funnel.entry_from_ms..=funnel.entry_to_ms).contains(&ts) {
                reached[0] = Some((ts, ts, i));
            }
            continue;
        }
        if modes.deduplication && reached[step].is_some() {
            break;
        }
        let Some((start, previous, entry)) = reached[step - 1] else {
            continue;
        };
        if ts <= start + funnel.window_ms && (!modes.increase || ts > previous) {
            reached[step] = Some((start, ts, entry));
            if step + 1 == n {
                break;
            }
        }
    }
    let top = reached.iter().rposition(Option::is_some)?;
    reached[top].map(|(_, _, entry)| (top + 1, entry))
}

/// The counted path from `entry` (indexes into `events`, the entry first): of its paths in
/// "this" order reaching `level` steps, the one with the smallest (time, group values) step by
/// step. Only meaningful in "this" order without exclusions (where group-by reads later steps);
/// elsewhere only its first element, the entry, is used.
fn counted_path(
    events: &[&TestEvent],
    funnel: &RefFunnel,
    entry: usize,
    level: usize,
) -> Vec<usize> {
    if funnel.order != RefOrder::This || !funnel.exclusions.is_empty() {
        return vec![entry];
    }
    let mut all = Vec::new();
    let mut path = vec![entry];
    let deadline = events[entry].ts + funnel.window_ms;
    complete_paths(events, funnel, level, deadline, &mut path, &mut all);
    let key = |path: &Vec<usize>| -> Vec<(i64, Vec<Option<String>>)> {
        path.iter()
            .map(|&i| (events[i].ts, funnel.tie_key(events[i])))
            .collect()
    };
    all.into_iter()
        .min_by_key(key)
        .unwrap_or_else(|| vec![entry])
}

/// Every way to extend `path` to `level` steps in "this" order, appended to `all`.
fn complete_paths(
    events: &[&TestEvent],
    funnel: &RefFunnel,
    level: usize,
    deadline: i64,
    path: &mut Vec<usize>,
    all: &mut Vec<Vec<usize>>,
) {
    let step = path.len();
    if step == level {
        all.push(path.clone());
        return;
    }
    let previous_ts = path.last().map_or(i64::MIN, |&i| events[i].ts);
    for (i, e) in events.iter().enumerate() {
        let fits = funnel.matches_step(e, step)
            && e.ts >= previous_ts
            && e.ts <= deadline
            && !path.contains(&i);
        if fits {
            path.push(i);
            complete_paths(events, funnel, level, deadline, path, all);
            path.pop();
        }
    }
}

/// When the counted entry (`events[i]`) reached each of its `level` steps: over every valid
/// partial path from it, the earliest instant by which its steps had all happened.
fn entry_times(events: &[&TestEvent], funnel: &RefFunnel, i: usize, level: usize) -> Vec<i64> {
    let entry_ts = events[i].ts;
    let mut earliest = vec![None; funnel.steps.len()];
    earliest[0] = Some(entry_ts);
    let mut used = vec![i];
    earliest_ends(
        events,
        funnel,
        1,
        entry_ts,
        entry_ts,
        entry_ts + funnel.window_ms,
        &mut used,
        &mut earliest,
    );
    earliest.into_iter().take(level).flatten().collect()
}

/// Tries every way to extend a valid path ending at `step - 1` (previous step at
/// `previous_ts`, all its steps done by `done_ts`), recording per step the earliest instant a
/// path had done it and every step before.
#[allow(clippy::too_many_arguments)]
fn earliest_ends(
    events: &[&TestEvent],
    funnel: &RefFunnel,
    step: usize,
    previous_ts: i64,
    done_ts: i64,
    deadline: i64,
    used: &mut Vec<usize>,
    earliest: &mut [Option<i64>],
) {
    if step == funnel.steps.len() {
        return;
    }
    for (i, e) in events.iter().enumerate() {
        if step_fits(events, funnel, step, previous_ts, deadline, used, i) {
            let done = done_ts.max(e.ts);
            if earliest[step].is_none_or(|t| done < t) {
                earliest[step] = Some(done);
            }
            used.push(i);
            let next = next_previous(funnel, previous_ts, e.ts);
            earliest_ends(
                events,
                funnel,
                step + 1,
                next,
                done,
                deadline,
                used,
                earliest,
            );
            used.pop();
        }
    }
}

/// Whether `events[i]` can take step `step` after a previous step at `previous_ts`: the step's
/// type, inside `[previous_ts, deadline]`, not on the path yet, no exclusion event in the gap,
/// and in exact order no event of the person strictly between.
fn step_fits(
    events: &[&TestEvent],
    funnel: &RefFunnel,
    step: usize,
    previous_ts: i64,
    deadline: i64,
    used: &[usize],
    i: usize,
) -> bool {
    let e = events[i];
    funnel.matches_step(e, step)
        && e.ts >= previous_ts
        && e.ts <= deadline
        && !used.contains(&i)
        && gap_clear(events, funnel, step, previous_ts, e.ts)
        && (funnel.order != RefOrder::Exact
            || !events.iter().any(|x| previous_ts < x.ts && x.ts < e.ts))
}

/// The time the step after one taken at `ts` must not precede: in any order every step only
/// needs to be at or after the entry, so it stays the entry's.
fn next_previous(funnel: &RefFunnel, previous_ts: i64, ts: i64) -> i64 {
    match funnel.order {
        RefOrder::Any => previous_ts,
        _ => ts,
    }
}

/// The most further steps from `step` on, trying every unused event that fits.
fn longest(
    events: &[&TestEvent],
    funnel: &RefFunnel,
    step: usize,
    previous_ts: i64,
    deadline: i64,
    used: &mut Vec<usize>,
) -> usize {
    if step == funnel.steps.len() {
        return 0;
    }
    let mut best = 0;
    for (i, e) in events.iter().enumerate() {
        if step_fits(events, funnel, step, previous_ts, deadline, used, i) {
            used.push(i);
            let next = next_previous(funnel, previous_ts, e.ts);
            best = best.max(1 + longest(events, funnel, step + 1, next, deadline, used));
            used.pop();
        }
    }
    best
}

/// A segmentation series as the measures reference reads it.
#[derive(Debug, Clone)]
pub(crate) struct RefSeries {
    /// An event type, or `_all` (anything but `$identify`).
    pub(crate) event: String,
    /// The measure's spec name.
    pub(crate) measure: String,
    /// Only events whose category is this one (the series' `where`).
    pub(crate) category: Option<String>,
    /// Lower bounds of the frequency buckets.
    pub(crate) buckets: Vec<u64>,
}

/// What the measures reference answers for one series: a value per point, and for frequency
/// the persons per bucket per point (`frequency[b][p]`) and over the whole range
/// (`in_range[b]`, each person once by their count over every point).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RefMeasure {
    pub(crate) values: Vec<Option<f64>>,
    pub(crate) frequency: Vec<Vec<u64>>,
    pub(crate) in_range: Vec<u64>,
}

/// Segmentation measures, computed point by point from the raw events: `point_of` gives an
/// event's point (None outside the range), `counts` says whether an event counts at all
/// (project and segment).
pub(crate) fn segmentation_measure(
    events: &[TestEvent],
    points: usize,
    point_of: &dyn Fn(i64) -> Option<usize>,
    counts: &dyn Fn(&TestEvent) -> bool,
    series: &RefSeries,
) -> RefMeasure {
    let mut values = Vec::new();
    let mut frequency = vec![Vec::with_capacity(points); series.buckets.len()];
    for p in 0..points {
        let in_point: Vec<&TestEvent> = events
            .iter()
            .filter(|e| counts(e) && point_of(e.ts) == Some(p))
            .collect();
        let active: BTreeSet<&str> = in_point
            .iter()
            .filter(|e| e.event_type != "$identify")
            .map(|e| e.person())
            .collect();
        let selected: Vec<&TestEvent> = in_point
            .iter()
            .copied()
            .filter(|e| match series.event.as_str() {
                "_all" => e.event_type != "$identify",
                name => e.event_type == name,
            })
            .filter(|e| series.category.is_none() || e.category == series.category)
            .collect();
        let mut times: BTreeMap<&str, u64> = BTreeMap::new();
        for e in &selected {
            *times.entry(e.person()).or_default() += 1;
        }
        let uniques = times.len() as f64;
        let totals = selected.len() as f64;
        let mut amounts: Vec<f64> = selected.iter().filter_map(|e| e.amount).collect();
        amounts.sort_by(f64::total_cmp);
        let categories: BTreeSet<&String> = selected
            .iter()
            .filter_map(|e| e.category.as_ref())
            .collect();
        let sum: f64 = amounts.iter().sum();
        let n = amounts.len();
        let value = match series.measure.as_str() {
            "uniques" | "frequency" => Some(uniques),
            "totals" => Some(totals),
            "active_percent" => (!active.is_empty()).then(|| uniques / active.len() as f64 * 100.0),
            "average" => (uniques > 0.0).then(|| totals / uniques),
            "property_sum" => Some(sum),
            "property_average" => (n > 0).then(|| sum / n as f64),
            "property_min" => amounts.first().copied(),
            "property_max" => amounts.last().copied(),
            "property_median" => (n > 0).then(|| {
                if n % 2 == 1 {
                    amounts[n / 2]
                } else {
                    (amounts[n / 2 - 1] + amounts[n / 2]) / 2.0
                }
            }),
            "property_distinct_count" => Some(categories.len() as f64),
            other => panic!("unknown measure {other}"),
        };
        values.push(value);
        let mut persons = vec![0u64; series.buckets.len()];
        for &count in times.values() {
            // The bucket is the last bound at or below the count.
            if let Some(b) = series.buckets.iter().rposition(|&bound| bound <= count) {
                persons[b] += 1;
            }
        }
        for (bucket, n) in frequency.iter_mut().zip(persons) {
            bucket.push(n);
        }
    }
    // The whole range: every selected event in any point, each person once by their total.
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| counts(e) && point_of(e.ts).is_some())
    {
        let selected = match series.event.as_str() {
            "_all" => e.event_type != "$identify",
            name => e.event_type == name,
        } && (series.category.is_none() || e.category == series.category);
        if selected {
            *totals.entry(e.person()).or_default() += 1;
        }
    }
    let mut in_range = vec![0u64; series.buckets.len()];
    for &count in totals.values() {
        if let Some(b) = series.buckets.iter().rposition(|&bound| bound <= count) {
            in_range[b] += 1;
        }
    }
    RefMeasure {
        values,
        frequency,
        in_range,
    }
}

/// A segmentation view as the view reference reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefView {
    /// Mean of the point values of the last N intervals.
    RollingAverage(i64),
    /// The measure over the last N intervals as one window.
    RollingWindow(i64),
    /// The measure from the range start to the end of the point.
    Cumulative,
}

/// A segmentation series under a view, straight from Amplitude's definitions (amplitude.md
/// §4.1): every window is measured by [`segmentation_measure`] as one point holding exactly the
/// window's events. `interval_of` gives an event's interval counted from the range's first (any
/// integer: negative before it), `range` the range's `[start, end)` in Unix ms.
///
/// - rolling window N at point p: the events of intervals p - N + 1 ..= p, up to the range end
///   (before the range start too: the whole of the first interval and the N - 1 before it);
/// - cumulative at p: the events of the range in intervals ..= p;
/// - rolling average N at p: the mean of the defined values of intervals p - N + 1 ..= p, each
///   interval's value over its events (inside the range for the range's points).
pub(crate) fn segmentation_view(
    events: &[TestEvent],
    points: usize,
    interval_of: &dyn Fn(i64) -> i64,
    range: (i64, i64),
    counts: &dyn Fn(&TestEvent) -> bool,
    series: &RefSeries,
    view: RefView,
) -> Vec<Option<f64>> {
    let in_range = |ts: i64| range.0 <= ts && ts < range.1;
    let measure = |holds: &dyn Fn(i64) -> bool| {
        segmentation_measure(events, 1, &|ts| holds(ts).then_some(0), counts, series).values[0]
    };
    (0..points as i64)
        .map(|p| match view {
            RefView::RollingWindow(n) => {
                measure(&|ts| (p - n + 1..=p).contains(&interval_of(ts)) && ts < range.1)
            }
            RefView::Cumulative => measure(&|ts| in_range(ts) && interval_of(ts) <= p),
            RefView::RollingAverage(n) => {
                let values: Vec<f64> = (p - n + 1..=p)
                    .filter_map(|k| measure(&|ts| interval_of(ts) == k && (k < 0 || in_range(ts))))
                    .collect();
                (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
            }
        })
        .collect()
}
