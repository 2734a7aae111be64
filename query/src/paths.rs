//! Paths: the sequences of events persons did right after (or right before) an anchor event, for
//! a top-paths table and a Sankey-style view (Amplitude's Journeys / Pathfinder).
//!
//! Each person who did the anchor event in the date range contributes one path: from their
//! **first** anchor event in the range, the next `depth` counted events (or, looking backwards,
//! the `depth` events before it, in time order), with repeated consecutive events collapsed into
//! one when asked. Events at the same millisecond keep the order of their event type names, and
//! of events of one type there, those meeting the anchor's conditions come first, so the answer
//! does not depend on file order.
//!
//! Plan: every counted event of the date range and of one day on either side (paths may run
//! past the range's edges, by at most a day) → per row the person, the time, the event type and
//! whether it is an anchor (the anchor type meeting the anchor's conditions) → the
//! `sluice_paths` aggregate, which collects compact rows (types interned), sorts
//! them by person and time and walks each person once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, StringArray, StringViewArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::cast::{
    as_int64_array, as_list_array, as_string_array, as_string_view_array,
};
use datafusion::common::{Result as DfResult, ScalarValue, internal_datafusion_err};
use datafusion::datasource::listing::ListingTable;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, TypeSignature, Volatility, cast, lit,
    when,
};

use crate::error::{QueryError, Result};
use crate::identity::PersonMap;
use crate::property::{column, time_span};
use crate::result::{PathCount, PathLink, PathNode, PathsResult};
use crate::spec::{PathDirection, PathsQuery};
use crate::whole_table::{aggregate_list, counted_event, one_row_list};

/// How far past the date range a path may run.
const TAIL_MS: i64 = 86_400_000;

/// Runs `query` over `table` (`None`: no data yet, nobody did the anchor).
pub(crate) async fn run(
    ctx: &SessionContext,
    table: Option<Arc<ListingTable>>,
    persons: &Arc<PersonMap>,
    query: &PathsQuery,
) -> Result<PathsResult> {
    let paths = match table {
        Some(table) => person_paths(ctx, table, persons, query).await?,
        None => Vec::new(),
    };
    Ok(summarise(query, paths))
}

/// The result from each person's path (anchor included, in time order).
fn summarise(query: &PathsQuery, paths: Vec<(Vec<String>, u64)>) -> PathsResult {
    let persons = paths.iter().map(|(_, n)| n).sum();
    let mut nodes: BTreeMap<(usize, String), u64> = BTreeMap::new();
    let mut links: BTreeMap<(usize, String, String), u64> = BTreeMap::new();
    for (path, n) in &paths {
        for (level, event) in path.iter().enumerate() {
            *nodes.entry((level, event.clone())).or_default() += n;
        }
        for (level, pair) in path.windows(2).enumerate() {
            *links
                .entry((level, pair[0].clone(), pair[1].clone()))
                .or_default() += n;
        }
    }
    let mut top: Vec<PathCount> = paths
        .into_iter()
        .map(|(events, persons)| PathCount { events, persons })
        .collect();
    top.sort_by(|a, b| {
        b.persons
            .cmp(&a.persons)
            .then_with(|| a.events.cmp(&b.events))
    });
    top.truncate(query.limit);
    PathsResult {
        anchor: query.anchor.clone(),
        direction: query.direction,
        persons,
        paths: top,
        nodes: nodes
            .into_iter()
            .map(|((level, event_type), persons)| PathNode {
                level,
                event_type,
                persons,
            })
            .collect(),
        links: links
            .into_iter()
            .map(|((level, source, target), persons)| PathLink {
                level,
                source,
                target,
                persons,
            })
            .collect(),
    }
}

/// Every distinct path with its number of persons.
async fn person_paths(
    ctx: &SessionContext,
    table: Arc<ListingTable>,
    persons: &Arc<PersonMap>,
    query: &PathsQuery,
) -> Result<Vec<(Vec<String>, u64)>> {
    use datafusion::datasource::TableProvider as _;
    let schema = table.schema();
    let mut filter = time_span(query.from_ms - TAIL_MS, query.to_ms + TAIL_MS).and(counted_event());
    if let Some(project) = &query.project {
        filter = filter.and(column("project").eq(lit(project.clone())));
    }
    let text = [DataType::Utf8, DataType::Utf8View];
    let udaf = AggregateUDF::new_from_impl(PathsUdaf {
        query: query.clone(),
        signature: Signature::one_of(
            text.into_iter()
                .map(|t| {
                    TypeSignature::Exact(vec![DataType::Int64, DataType::Int64, t, DataType::Int64])
                })
                .collect(),
            Volatility::Immutable,
        ),
    });
    let is_anchor = query
        .anchor_conditions
        .and(column("event_type").eq(lit(query.anchor.clone())), &schema);
    let arguments = vec![
        persons.person_expr(&schema),
        cast(column("event_time"), DataType::Int64),
        column("event_type"),
        when(is_anchor, lit(1i64)).otherwise(lit(0i64))?,
    ];
    let values = aggregate_list(ctx, table, filter, udaf, arguments).await?;
    decode_paths(as_string_array(&values)?)
}

/// Separates event types in an encoded path, and the count from the path.
const SEPARATOR: char = '\u{1e}';

/// Reads `count SEPARATOR type SEPARATOR type …` entries.
fn decode_paths(encoded: &StringArray) -> Result<Vec<(Vec<String>, u64)>> {
    (0..encoded.len())
        .map(|i| {
            let mut parts = encoded.value(i).split(SEPARATOR);
            let count = parts
                .next()
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| QueryError::Internal("malformed path".into()))?;
            Ok((parts.map(str::to_owned).collect(), count))
        })
        .collect()
}

/// `sluice_paths(person, ts, event_type, is_anchor)`: every distinct path and its persons, encoded as
/// text entries of a `List<Utf8>`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct PathsUdaf {
    query: PathsQuery,
    signature: Signature,
}

impl AggregateUDFImpl for PathsUdaf {
    fn name(&self) -> &str {
        "sluice_paths"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            DataType::Utf8,
            true,
        ))))
    }

    fn accumulator(&self, _args: AccumulatorArgs<'_>) -> DfResult<Box<dyn Accumulator>> {
        Ok(Box::new(Paths {
            query: self.query.clone(),
            rows: Vec::new(),
            types: Vec::new(),
            index: HashMap::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs<'_>) -> DfResult<Vec<FieldRef>> {
        let list = |suffix: &str, item: DataType| {
            Arc::new(Field::new(
                format!("{}[{suffix}]", args.name),
                DataType::List(Arc::new(Field::new_list_field(item, true))),
                true,
            ))
        };
        Ok(vec![
            list("person", DataType::Int64),
            list("ts", DataType::Int64),
            list("type", DataType::Int64),
            list("types", DataType::Utf8),
        ])
    }
}

/// Marks a row's type index as an anchor event's.
const ANCHOR: u32 = 1 << 31;

/// The collected rows of one accumulator: `(person, ts, event type index | ANCHOR)`.
#[derive(Debug)]
struct Paths {
    query: PathsQuery,
    rows: Vec<(i64, i64, u32)>,
    types: Vec<String>,
    index: HashMap<String, u32>,
}

impl Paths {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.types.len() as u32;
        self.types.push(name.to_owned());
        self.index.insert(name.to_owned(), i);
        i
    }

    fn add(
        &mut self,
        person: &Int64Array,
        ts: &Int64Array,
        name: impl Fn(usize) -> Option<String>,
        is_anchor: impl Fn(usize) -> bool,
    ) {
        for row in 0..person.len() {
            if person.is_null(row) || ts.is_null(row) {
                continue;
            }
            if let Some(name) = name(row) {
                let t = self.intern(&name) | if is_anchor(row) { ANCHOR } else { 0 };
                self.rows.push((person.value(row), ts.value(row), t));
            }
        }
    }

    /// Every distinct path, encoded (see [`decode_paths`]).
    fn paths(&mut self) -> Vec<String> {
        // Same-millisecond events in type-name order: rank the types.
        let mut order: Vec<u32> = (0..self.types.len() as u32).collect();
        order.sort_by(|&a, &b| self.types[a as usize].cmp(&self.types[b as usize]));
        let mut rank = vec![0u32; order.len()];
        for (r, &t) in order.iter().enumerate() {
            rank[t as usize] = r as u32;
        }
        // Of same-type events at one millisecond, the anchors (meeting the conditions) first.
        self.rows.sort_unstable_by_key(|&(person, ts, t)| {
            (person, ts, rank[(t & !ANCHOR) as usize], t & ANCHOR == 0)
        });
        let q = &self.query;
        let mut counts: HashMap<Vec<u32>, u64> = HashMap::new();
        for events in self.rows.chunk_by(|a, b| a.0 == b.0) {
            let Some(start) = events
                .iter()
                .position(|&(_, ts, t)| t & ANCHOR != 0 && (q.from_ms..=q.to_ms).contains(&ts))
            else {
                continue;
            };
            let mut path: Vec<u32> = vec![events[start].2 & !ANCHOR];
            let steps: Box<dyn Iterator<Item = &(i64, i64, u32)>> = match q.direction {
                PathDirection::After => Box::new(events[start + 1..].iter()),
                PathDirection::Before => Box::new(events[..start].iter().rev()),
            };
            for &(_, _, t) in steps {
                let t = t & !ANCHOR;
                if path.len() > q.depth {
                    break;
                }
                if q.collapse_repeats && path.last() == Some(&t) {
                    continue;
                }
                path.push(t);
            }
            path.truncate(q.depth + 1);
            if q.direction == PathDirection::Before {
                path.reverse();
            }
            *counts.entry(path).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|(path, n)| {
                let mut text = n.to_string();
                for t in path {
                    text.push(SEPARATOR);
                    text.push_str(&self.types[t as usize]);
                }
                text
            })
            .collect()
    }
}

/// A text column read in place (`Utf8` or `Utf8View`).
fn text_at(array: &ArrayRef) -> DfResult<Box<dyn Fn(usize) -> Option<String> + '_>> {
    match array.data_type() {
        DataType::Utf8 => {
            let a: &StringArray = as_string_array(array)?;
            Ok(Box::new(move |i| {
                a.is_valid(i).then(|| a.value(i).to_owned())
            }))
        }
        DataType::Utf8View => {
            let a: &StringViewArray = as_string_view_array(array)?;
            Ok(Box::new(move |i| {
                a.is_valid(i).then(|| a.value(i).to_owned())
            }))
        }
        other => Err(internal_datafusion_err!(
            "paths: event types of type {other}"
        )),
    }
}

impl Accumulator for Paths {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        let [person, ts, event_type, anchor] = values else {
            return Err(internal_datafusion_err!("paths expects 4 columns"));
        };
        let name = text_at(event_type)?;
        let anchor = as_int64_array(anchor)?;
        let is_anchor = |i: usize| anchor.is_valid(i) && anchor.value(i) != 0;
        self.add(
            as_int64_array(person)?,
            as_int64_array(ts)?,
            name,
            is_anchor,
        );
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        let [person, ts, t, types] = states else {
            return Err(internal_datafusion_err!("paths state expects 4 columns"));
        };
        let (person, ts, t, types) = (
            as_list_array(person)?,
            as_list_array(ts)?,
            as_list_array(t)?,
            as_list_array(types)?,
        );
        for state in 0..person.len() {
            if person.is_null(state) {
                continue;
            }
            let names = types.value(state);
            let names = as_string_array(&names)?;
            let indexes = t.value(state);
            let indexes = as_int64_array(&indexes)?;
            let name = |i: usize| -> Option<String> {
                let index = usize::try_from(indexes.value(i) & i64::from(!ANCHOR)).ok()?;
                (index < names.len()).then(|| names.value(index).to_owned())
            };
            let is_anchor = |i: usize| indexes.value(i) & i64::from(ANCHOR) != 0;
            let (p, s) = (person.value(state), ts.value(state));
            self.add(as_int64_array(&p)?, as_int64_array(&s)?, name, is_anchor);
        }
        Ok(())
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        let ints = |f: fn(&(i64, i64, u32)) -> i64| -> ArrayRef {
            Arc::new(self.rows.iter().map(f).collect::<Int64Array>())
        };
        Ok(vec![
            one_row_list(ints(|r| r.0)),
            one_row_list(ints(|r| r.1)),
            one_row_list(ints(|r| i64::from(r.2))),
            one_row_list(Arc::new(
                self.types
                    .iter()
                    .map(|t| Some(t.as_str()))
                    .collect::<StringArray>(),
            )),
        ])
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        let paths: StringArray = self.paths().into_iter().map(Some).collect();
        Ok(one_row_list(Arc::new(paths)))
    }

    fn size(&self) -> usize {
        size_of_val(self)
            + self.rows.capacity() * 24
            + self.types.iter().map(|t| t.len() * 2 + 64).sum::<usize>()
    }
}
