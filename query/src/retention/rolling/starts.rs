//! The start scan of rolling retention: each person's start groups, per cohort the first and
//! last hour of starts less than a window apart (`windows.rs`).
//!
//! `sluice_retention_starts(person, ts, unmet)` is used without `GROUP BY` and returns the
//! groups sorted by person, cohort and hour, as one `List<Int64>` of four equal parts: the
//! persons, the cohorts, the first hours, the last hours ([`Starts::decode`] reads them in place).
//!
//! - A specific start event: every start row is kept, as a group of its own hour, unless the
//!   person's last group kept is of the same cohort and span, which then takes it in
//!   ([`LastGroups`]). The final phase sorts the groups and joins those of one span that came
//!   from different partitions.
//! - "New user": the person's first counted event ever, in a [`PersonPeriods`] store that keeps
//!   only that time (and whether it met the start's conditions): one word per person.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array};
use datafusion::arrow::buffer::ScalarBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::cast::{as_int64_array, as_list_array};
use datafusion::common::{Result, ScalarValue, internal_datafusion_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

use super::RollingParams;
use crate::error::QueryError;
use crate::person_periods::{
    FIRST, FIRST_KEYED, FIRST_UNMET, Kept, PeriodLayout, PersonPeriods, first_keyed,
};
use crate::person_sort::{counting_starts, sort_by_person};
use crate::retention::windows::{StartGroup, span_of};
use crate::spec::{PointIndex, RollingWindows};
use crate::whole_table::one_row_list;

/// The fixed parameters of the start scan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct StartParams {
    cohorts: Arc<PointIndex>,
    windows: RollingWindows,
    new_users: bool,
    /// Each cohort's first hour, where its spans begin.
    first_hours: Arc<Vec<i64>>,
}

impl StartParams {
    pub(crate) fn new(params: &RollingParams) -> Self {
        let starts = params.cohorts.starts();
        let cohorts = starts.len().saturating_sub(1);
        let first_hours = starts[..cohorts]
            .iter()
            .map(|&ms| params.windows.hour_of(ms))
            .collect();
        StartParams {
            cohorts: Arc::clone(&params.cohorts),
            windows: params.windows,
            new_users: params.new_users,
            first_hours: Arc::new(first_hours),
        }
    }

    /// Number of cohorts.
    pub(crate) fn cohort_count(&self) -> usize {
        self.first_hours.len()
    }

    /// The group of a start at `ts`, if it is in a cohort.
    fn group(&self, person: i64, ts: i64) -> Option<Group> {
        let cohort = self
            .cohorts
            .point_of(ts)
            .filter(|&c| c < self.cohort_count())?;
        let hour = self.windows.hour_of(ts);
        Some(Group {
            person,
            cohort: cohort as i64,
            lo: hour,
            hi: hour,
        })
    }

    /// The span of `group`'s first hour in its cohort.
    fn span(&self, group: &Group) -> i64 {
        let first = self.first_hours[group.cohort as usize];
        span_of(self.windows.window_hours, first, group.lo)
    }

    /// Whether `b` belongs to the same person, cohort and span as `a`.
    fn same_span(&self, a: &Group, b: &Group) -> bool {
        a.person == b.person && a.cohort == b.cohort && self.span(a) == self.span(b)
    }
}

/// One person's starts in one span of a cohort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Group {
    person: i64,
    cohort: i64,
    lo: i64,
    hi: i64,
}

impl Group {
    fn join(&mut self, other: &Group) {
        self.lo = self.lo.min(other.lo);
        self.hi = self.hi.max(other.hi);
    }
}

/// The start scan's aggregate.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct StartsUdaf {
    params: StartParams,
    signature: Signature,
}

impl StartsUdaf {
    pub(crate) fn new(params: StartParams) -> Self {
        StartsUdaf {
            params,
            signature: Signature::exact(
                vec![DataType::Int64, DataType::Int64, DataType::Int64],
                Volatility::Immutable,
            ),
        }
    }

    pub(crate) fn into_udaf(self) -> AggregateUDF {
        AggregateUDF::new_from_impl(self)
    }
}

/// `List<Int64>`.
fn int64_list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true)))
}

/// `values` as a one-row `List<Int64>` scalar.
fn int64_list(values: Int64Array) -> ScalarValue {
    one_row_list(Arc::new(values))
}

/// The columns of a specific start's state.
const ROW_COLUMNS: [&str; 4] = ["persons", "cohorts", "first_hours", "last_hours"];

impl AggregateUDFImpl for StartsUdaf {
    fn name(&self) -> &str {
        "sluice_retention_starts"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(int64_list_type())
    }

    fn accumulator(&self, _args: AccumulatorArgs<'_>) -> Result<Box<dyn Accumulator>> {
        let params = self.params.clone();
        Ok(match params.new_users {
            true => Box::new(FirstStarts::new(params)),
            false => Box::new(StartRows::new(params)),
        })
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> Result<Vec<FieldRef>> {
        Ok(match self.params.new_users {
            true => vec![PersonPeriods::state_field(format!("{}[firsts]", args.name))],
            false => ROW_COLUMNS
                .iter()
                .map(|name| {
                    Arc::new(Field::new(
                        format!("{}[{name}]", args.name),
                        int64_list_type(),
                        true,
                    ))
                })
                .collect(),
        })
    }
}

/// The groups sorted by person, cohort and first hour, those of one span joined, as the
/// aggregate's answer.
fn answer(params: &StartParams, mut groups: Vec<Group>) -> ScalarValue {
    sort_by_person(&mut groups, |g| g.person, |g| (g.cohort, g.lo));
    // Joined in place: the groups can be tens of millions, so no second copy is made.
    groups.dedup_by(|group, kept| {
        let same = params.same_span(kept, group);
        if same {
            kept.join(group);
        }
        same
    });
    let mut values = Vec::with_capacity(4 * groups.len());
    values.extend(groups.iter().map(|g| g.person));
    values.extend(groups.iter().map(|g| g.cohort));
    values.extend(groups.iter().map(|g| g.lo));
    values.extend(groups.iter().map(|g| g.hi));
    drop(groups);
    int64_list(Int64Array::from(values))
}

/// The rows' three `Int64` columns.
fn columns(values: &[ArrayRef]) -> Result<[&Int64Array; 3]> {
    let [person, ts, unmet] = values else {
        return Err(internal_datafusion_err!(
            "retention starts expect 3 columns, got {}",
            values.len()
        ));
    };
    Ok([
        as_int64_array(person)?,
        as_int64_array(ts)?,
        as_int64_array(unmet)?,
    ])
}

/// Person ids per chunk of [`LastGroups`]: 2^16.
const CHUNK_BITS: u32 = 16;

/// Each person's last group kept, so that a start joins it even when other persons' starts
/// came between (files are sorted by event type first: with "any event" as the start, a
/// person's starts of one day arrive once per event type). Dense person ids index chunks of
/// 65 536 slots (4 bytes a person); ids too sparse for chunks (more chunks than one per 4 096
/// groups kept) fall back to joining the last group only.
#[derive(Debug, Default)]
struct LastGroups {
    chunk_index: HashMap<i64, usize>,
    chunks: Vec<Box<[u32]>>,
    /// The chunk found last (rows of one person, and of neighbouring ones, come together).
    last: Option<(i64, usize)>,
}

impl LastGroups {
    /// The slot of `person`'s last group (its index + 1, 0: none), if it has one or a chunk
    /// may be added for it while `kept` groups are kept.
    fn slot(&mut self, person: i64, kept: usize) -> Option<&mut u32> {
        let key = person >> CHUNK_BITS;
        let chunk = match self.last {
            Some((last, chunk)) if last == key => chunk,
            _ => {
                let chunk = match self.chunk_index.get(&key) {
                    Some(&chunk) => chunk,
                    None if self.chunks.len() > 16 + kept / 4_096 => return None,
                    None => {
                        self.chunks
                            .push(vec![0u32; 1 << CHUNK_BITS].into_boxed_slice());
                        self.chunk_index.insert(key, self.chunks.len() - 1);
                        self.chunks.len() - 1
                    }
                };
                self.last = Some((key, chunk));
                chunk
            }
        };
        let index = (person & ((1 << CHUNK_BITS) - 1)) as usize;
        Some(&mut self.chunks[chunk][index])
    }

    fn size(&self) -> usize {
        self.chunks.len() * (4 << CHUNK_BITS)
    }
}

/// A specific start event's groups, as collected.
#[derive(Debug)]
struct StartRows {
    params: StartParams,
    groups: Vec<Group>,
    last: LastGroups,
}

impl StartRows {
    fn new(params: StartParams) -> Self {
        StartRows {
            params,
            groups: Vec::new(),
            last: LastGroups::default(),
        }
    }

    /// Keeps `group`, or joins it to the person's last one kept when of the same span.
    fn push(&mut self, group: Group) {
        let kept = self.groups.len();
        let slot = self.last.slot(group.person, kept);
        // The person's last group: from the index, or (ids too sparse) the last one kept.
        let last = match &slot {
            Some(slot) => (**slot as usize).checked_sub(1),
            None => kept.checked_sub(1),
        };
        if let Some(last) = last.map(|at| &mut self.groups[at])
            && self.params.same_span(last, &group)
        {
            last.join(&group);
            return;
        }
        if let Some(slot) = slot {
            *slot = u32::try_from(kept + 1).unwrap_or(0);
        }
        self.groups.push(group);
    }
}

impl Accumulator for StartRows {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [person, ts, _] = columns(values)?;
        for i in 0..person.len() {
            if person.is_valid(i)
                && ts.is_valid(i)
                && let Some(group) = self.params.group(person.value(i), ts.value(i))
            {
                self.push(group);
            }
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        if states.len() != ROW_COLUMNS.len() {
            return Err(internal_datafusion_err!(
                "retention starts state expects 4 columns, got {}",
                states.len()
            ));
        }
        let lists = states
            .iter()
            .map(|state| as_list_array(state))
            .collect::<Result<Vec<_>>>()?;
        // Room for every group handed over at once, rather than growing by doubling.
        let handed: usize = lists[0].iter().flatten().map(|run| run.len()).sum();
        self.groups.reserve(handed);
        for i in 0..lists[0].len() {
            if lists[0].is_null(i) {
                continue;
            }
            let parts: Vec<ArrayRef> = lists.iter().map(|list| list.value(i)).collect();
            let columns = parts
                .iter()
                .map(|part| as_int64_array(part))
                .collect::<Result<Vec<_>>>()?;
            let n = columns[0].len();
            if columns.iter().any(|c| c.len() != n || c.null_count() > 0) {
                return Err(internal_datafusion_err!(
                    "retention starts state of uneven or null columns"
                ));
            }
            for k in 0..n {
                let cohort = columns[1].value(k);
                if usize::try_from(cohort).map_or(true, |c| c >= self.params.cohort_count()) {
                    return Err(internal_datafusion_err!(
                        "retention starts state with cohort {cohort}"
                    ));
                }
                self.groups.push(Group {
                    person: columns[0].value(k),
                    cohort,
                    lo: columns[2].value(k),
                    hi: columns[3].value(k),
                });
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let column = |f: fn(&Group) -> i64| {
            int64_list(Int64Array::from_iter_values(self.groups.iter().map(f)))
        };
        Ok(vec![
            column(|g| g.person),
            column(|g| g.cohort),
            column(|g| g.lo),
            column(|g| g.hi),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(answer(&self.params, std::mem::take(&mut self.groups)))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.groups.capacity() * size_of::<Group>() + self.last.size()
    }
}

/// "New user" starts: each person's first counted event ever.
#[derive(Debug)]
struct FirstStarts {
    params: StartParams,
    firsts: PersonPeriods,
}

impl FirstStarts {
    fn new(params: StartParams) -> Self {
        let layout = PeriodLayout {
            points: Arc::clone(&params.cohorts),
            a_end_ms: i64::MIN,
            a_periods: 0,
            kept: Kept {
                first: true,
                before: false,
                a: false,
                b: false,
            },
        };
        FirstStarts {
            params,
            firsts: PersonPeriods::new(layout),
        }
    }
}

impl Accumulator for FirstStarts {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let [person, ts, unmet] = columns(values)?;
        // The earliest row, keyed so that it also says whether it met the conditions.
        let flags: Int64Array = unmet.unary(|unmet| match unmet {
            0 => FIRST | FIRST_KEYED,
            _ => FIRST | FIRST_KEYED | FIRST_UNMET,
        });
        let rows: [ArrayRef; 3] = [
            Arc::new(person.clone()),
            Arc::new(ts.clone()),
            Arc::new(flags),
        ];
        self.firsts.update(&rows)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let [firsts] = states else {
            return Err(internal_datafusion_err!(
                "retention firsts state expects 1 column"
            ));
        };
        self.firsts.merge(firsts)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.firsts.state()?])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let mut groups = Vec::new();
        self.firsts.for_each(|person| {
            if let Some((first, true)) = first_keyed(person.first)
                && let Some(group) = self.params.group(person.id, first)
            {
                groups.push(group);
            }
        });
        Ok(answer(&self.params, groups))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.firsts.size()
    }
}

/// The start groups of a query, sorted by person, cohort and first hour, and where each
/// person's begin.
#[derive(Debug)]
pub(crate) struct Starts {
    persons: ScalarBuffer<i64>,
    cohorts: ScalarBuffer<i64>,
    /// Each group's hours, side by side (the return scan reads them per row, in no order).
    spans: Vec<StartGroup>,
    index: PersonIndex,
}

/// Where a person's groups begin.
#[derive(Debug)]
enum PersonIndex {
    /// Ids dense enough for a table: per id from `min`, where its groups begin (one more entry
    /// at the end).
    Table { min: i64, starts: Vec<u32> },
    /// Ids too sparse for a table: a binary search over the sorted persons.
    Search,
}

impl Starts {
    /// Reads the answer of [`StartsUdaf`] in place.
    pub(crate) fn decode(values: &ArrayRef) -> crate::error::Result<Starts> {
        let values = as_int64_array(values)?.values();
        if values.len() % 4 != 0 {
            return Err(QueryError::Internal(format!(
                "retention starts of {} values",
                values.len()
            )));
        }
        let n = values.len() / 4;
        let part = |k: usize| values.slice(k * n, n);
        let persons = part(0);
        let index = match counting_starts(&persons, |&p| p) {
            Some((min, starts)) if u32::try_from(n).is_ok() => PersonIndex::Table {
                min,
                starts: starts.into_iter().map(|s| s as u32).collect(),
            },
            _ => PersonIndex::Search,
        };
        let (lo, hi) = (part(2), part(3));
        let spans = lo
            .iter()
            .zip(hi.iter())
            .map(|(&lo, &hi)| StartGroup { lo, hi })
            .collect();
        Ok(Starts {
            persons,
            cohorts: part(1),
            spans,
            index,
        })
    }

    /// Number of groups.
    pub(crate) fn len(&self) -> usize {
        self.persons.len()
    }

    /// The groups of `person`.
    pub(crate) fn groups_of(&self, person: i64) -> Range<usize> {
        match &self.index {
            PersonIndex::Table { min, starts } => {
                let Some(at) = person
                    .checked_sub(*min)
                    .and_then(|at| usize::try_from(at).ok())
                    .filter(|&at| at + 1 < starts.len())
                else {
                    return 0..0;
                };
                starts[at] as usize..starts[at + 1] as usize
            }
            PersonIndex::Search => {
                let first = self.persons.partition_point(|&p| p < person);
                let end = first + self.persons[first..].partition_point(|&p| p == person);
                first..end
            }
        }
    }

    /// Group `g`'s person.
    pub(crate) fn person(&self, g: usize) -> i64 {
        self.persons[g]
    }

    /// Group `g`'s cohort.
    pub(crate) fn cohort(&self, g: usize) -> usize {
        self.cohorts[g] as usize
    }

    /// Every group's hours, by group.
    pub(crate) fn spans(&self) -> &[StartGroup] {
        &self.spans
    }
}

#[cfg(test)]
pub(crate) mod tests;

/// The starts of `rows` (person, time, unmet: 0 or 1) as one partition finds them.
#[cfg(test)]
pub(crate) fn starts_of(params: &RollingParams, rows: &[[i64; 3]]) -> Starts {
    let params = StartParams::new(params);
    let mut acc: Box<dyn Accumulator> = match params.new_users {
        true => Box::new(FirstStarts::new(params)),
        false => Box::new(StartRows::new(params)),
    };
    acc.update_batch(&tests::columns_of(rows)).expect("update");
    let answer = acc.evaluate().expect("evaluate").to_array().expect("array");
    Starts::decode(&as_list_array(&answer).expect("list").value(0)).expect("decode")
}
