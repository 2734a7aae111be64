//! Running a cohort: one scan of the project's counted events up to the end of `as_of`, grouped
//! by person, with one or two columns per test (counts, sums and distinct counts over `CASE`
//! expressions, so every test reads the same rows once); then each person's row answers the
//! tests and the tree.
//!
//! The grouping is DataFusion's hash aggregate on the dense person id (an `Int64`), which is
//! what every test needs: a count or a distinct count per person, not a path through events.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, Schema};
use datafusion::datasource::TableProvider as _;
use datafusion::datasource::listing::ListingTable;
use datafusion::execution::context::SessionContext;
use datafusion::functions_aggregate::expr_fn::{count, count_distinct, max, sum};
use datafusion::functions_aggregate::min_max::min_udaf;
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::{Expr, ExprFunctionExt, ScalarUDF, lit, try_cast, when};

use super::day::DayOf;
use super::first_use::{DayFunction, DayRule};
use super::validate::{CohortQuery, DayNumbers, Matching, Measure, Node, Span, Test};
use crate::cohort::filter::{CohortCell, in_cohort};
use crate::cohort::spec::PropertyMode;
use crate::error::{QueryError, Result};
use crate::identity::PersonMap;
use crate::property::{column, null_text, resolve, time_span, timestamp};
use crate::result::{CohortMember, CohortResult};
use crate::rfm::RfmSegment;
use crate::rfm::score;
use crate::whole_table::{counted_event, event_matches};

/// Runs `query` over `table` (`None`: no data yet, nobody belongs).
pub(crate) async fn run(
    ctx: &SessionContext,
    table: Option<Arc<ListingTable>>,
    persons: &Arc<PersonMap>,
    query: &CohortQuery,
) -> Result<CohortResult> {
    let Some(table) = table else {
        return Ok(CohortResult::default());
    };
    let schema = table.schema();
    let columns = Columns::new(query, &schema);
    let mut filter = counted_event().and(column("event_time").lt_eq(timestamp(query.end_ms)));
    if let Some(project) = &query.project {
        filter = filter.and(column("project").eq(lit(project.clone())));
    }
    // The user id is read in the scan only for a user-id test: the listed members' ids are read
    // afterwards, from their rows alone (the strings of every person cost more than the rest).
    let wants_user_id = query.tests.iter().any(|t| matches!(t, Test::UserIds(_)));
    let user_id = if wants_user_id {
        column("user_id")
    } else {
        null_text()
    };
    let mut aggregates = vec![
        max(user_id).alias("user_id"),
        max(null_text()).alias("device_id"),
    ];
    aggregates.extend(columns.exprs);
    let mut scan = ctx.read_table(table.clone())?.filter(filter.clone())?;
    if query.tests.iter().any(Test::reads_first_use) {
        // Each row gets its person's first counted time (the scan holds every counted event
        // up to `as_of`, so its earliest is the first).
        let first =
            Expr::WindowFunction(Box::new(WindowFunction::new(min_udaf(), vec![event_ms()])))
                .partition_by(vec![persons.person_expr(&schema)])
                .build()?
                .alias(FIRST_MS);
        scan = scan.window(vec![first])?;
    }
    let batches = scan
        .aggregate(
            vec![persons.person_expr(&schema).alias("person")],
            aggregates,
        )?
        .collect()
        .await?;
    let mut all_rows = batches
        .iter()
        .map(|batch| Rows::read(batch, &columns.kinds))
        .collect::<Result<Vec<_>>>()?;
    score_rfm(&mut all_rows, query);
    // Funnel conditions: each funnel once, every entered person's level.
    let mut funnels = HashMap::new();
    for (index, test) in query.tests.iter().enumerate() {
        if let Test::Funnel { query: funnel, .. } = test {
            let levels =
                crate::funnel::person_levels(ctx, Some(table.clone()), persons, funnel).await?;
            funnels.insert(index, levels);
        }
    }
    let mut result = CohortResult::default();
    let mut members = Vec::new();
    for rows in &all_rows {
        for row in 0..rows.person.len() {
            let Some(person) = rows.person(row) else {
                continue;
            };
            result.persons += 1;
            let tests = |test: usize| rows.test(row, test, &query.tests[test], &funnels);
            if holds(&query.tree, &tests) {
                members.push(person);
            }
        }
    }
    result.size = members.len() as u64;
    result.all_members = members.iter().map(|&m| m as u64).collect();
    // By person id (the order persons were first seen): the same listing on every run.
    members.sort_unstable();
    members.truncate(query.limit);
    let ids = ids_of(ctx, table, persons, filter, &members).await?;
    result.members = members
        .into_iter()
        .map(|person_id| {
            let (user_id, device_id) = ids.get(&person_id).cloned().unwrap_or_default();
            CohortMember {
                person_id,
                user_id,
                device_id,
                merged_into: None,
            }
        })
        .collect();
    Ok(result)
}

/// The user id and the (greatest) device id of each of `listed`, from their rows of the scan.
pub(crate) async fn ids_of(
    ctx: &SessionContext,
    table: Arc<ListingTable>,
    persons: &Arc<PersonMap>,
    filter: Expr,
    listed: &[i64],
) -> Result<HashMap<i64, (Option<String>, Option<String>)>> {
    if listed.is_empty() {
        return Ok(HashMap::new());
    }
    let schema = table.schema();
    let cell = CohortCell::new("(listed members)");
    cell.fill(
        listed.iter().map(|&p| p as u64).collect(),
        Arc::clone(persons),
    );
    let batches = ctx
        .read_table(table)?
        .filter(filter.and(in_cohort(&cell, false, &schema)))?
        .aggregate(
            vec![persons.person_expr(&schema).alias("person")],
            vec![
                max(column("user_id")).alias("user_id"),
                max(column("device_id")).alias("device_id"),
            ],
        )?
        .collect()
        .await?;
    let mut ids = HashMap::new();
    for batch in &batches {
        let rows = Rows::read(batch, &[])?;
        for row in 0..batch.num_rows() {
            if let Some(person) = rows.person(row) {
                ids.insert(person, (rows.text(0, row), rows.text(1, row)));
            }
        }
    }
    Ok(ids)
}

/// Scores the buyers of every RFM test among all persons' rows, giving each row its segment.
fn score_rfm(all_rows: &mut [Rows], query: &CohortQuery) {
    for (index, test) in query.tests.iter().enumerate() {
        let (Test::Rfm { query: rfm, .. }, Kind::Rfm(c)) = (test, all_rows_kind(all_rows, index))
        else {
            continue;
        };
        let mut buyers = Vec::new();
        let mut measures = Vec::new();
        for (batch, rows) in all_rows.iter().enumerate() {
            for row in 0..rows.person.len() {
                let (Some(last), Some(purchases)) = (rows.int(c, row), rows.int(c + 1, row)) else {
                    continue;
                };
                if purchases == 0 {
                    continue;
                }
                let revenue = rows.float(c + 2, row).unwrap_or(0.0);
                buyers.push((batch, row));
                measures.push(rfm.measures(last, purchases as u64, revenue));
            }
        }
        for rows in all_rows.iter_mut() {
            rows.rfm.insert(index, vec![None; rows.person.len()]);
        }
        for ((batch, row), scores) in buyers.into_iter().zip(score::score(&measures)) {
            if let Some(segments) = all_rows[batch].rfm.get_mut(&index) {
                segments[row] = Some(RfmSegment::of(scores));
            }
        }
    }
}

/// How test `index`'s columns are read (the same in every batch).
fn all_rows_kind(all_rows: &[Rows], index: usize) -> Kind {
    all_rows
        .first()
        .map_or(Kind::UserId, |rows| rows.kinds[index])
}

/// Whether the tree holds, given each test's answer.
fn holds(node: &Node, test: &impl Fn(usize) -> bool) -> bool {
    match node {
        Node::All(items) => items.iter().all(|n| holds(n, test)),
        Node::Any(items) => items.iter().any(|n| holds(n, test)),
        Node::Not(inner) => !holds(inner, test),
        Node::Test(i) => test(*i),
    }
}

/// How each test's columns are read: the first column's index, after the person and the two
/// ids.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// One count or distinct count (`Int64`).
    Count(usize),
    /// One sum (`Float64`, null for none).
    Sum(usize),
    /// Two counts: before the span, through its end.
    NthTime(usize),
    /// Two times: the last event's and the last holding event's.
    LastTimes(usize),
    /// The user id (column 0).
    UserId,
    /// The person itself.
    Person,
    /// Three columns: the last purchase's time, the purchases, the revenue.
    Rfm(usize),
    /// Two counts compared with each other.
    Pair(usize),
    /// Two times and two lists (`RetentionTest::columns`).
    Retention(usize),
    /// A time and four counts (`LifecycleTest::columns`).
    Lifecycle(usize),
}

/// The aggregate expressions of every test, and how to read them back.
struct Columns {
    exprs: Vec<Expr>,
    kinds: Vec<Kind>,
}

impl Columns {
    fn new(query: &CohortQuery, schema: &Schema) -> Self {
        let mut columns = Columns {
            exprs: Vec::new(),
            kinds: Vec::new(),
        };
        for test in &query.tests {
            let kind = columns.add(test, schema);
            columns.kinds.push(kind);
        }
        columns
    }

    /// The index the next column will have among the aggregate's values (after the two ids).
    fn next(&self) -> usize {
        self.exprs.len() + 2
    }

    fn push(&mut self, expr: Expr) {
        let name = format!("c{}", self.exprs.len());
        self.exprs.push(expr.alias(name));
    }

    fn add(&mut self, test: &Test, schema: &Schema) -> Kind {
        let first = self.next();
        let time = event_ms;
        match test {
            Test::Events {
                event,
                span,
                measure,
            } => {
                let rows = matches(event, schema).and(within(span));
                match measure {
                    Measure::Count(..) => {
                        self.push(count(when(rows, lit(1i64)).end().expect("case")));
                        Kind::Count(first)
                    }
                    Measure::Sum(property, ..) => {
                        let value = try_cast(resolve(property, schema), DataType::Float64);
                        self.push(sum(when(rows, value).end().expect("case")));
                        Kind::Sum(first)
                    }
                    Measure::DistinctValues(property, ..) => {
                        let value = resolve(property, schema);
                        self.push(count_distinct(when(rows, value).end().expect("case")));
                        Kind::Count(first)
                    }
                    Measure::DistinctDays(_, _, days) => {
                        let day = match days {
                            DayNumbers::Range(days) => {
                                ScalarUDF::new_from_impl(DayOf::new(days.clone()))
                            }
                            DayNumbers::Local(tz) => {
                                ScalarUDF::new_from_impl(DayFunction::new(DayRule::LocalDay, *tz))
                            }
                        };
                        let value = day.call(vec![time()]);
                        self.push(count_distinct(when(rows, value).end().expect("case")));
                        Kind::Count(first)
                    }
                }
            }
            Test::NthTime { event, span, .. } => {
                let rows = matches(event, schema);
                let before = rows.clone().and(before(span));
                let through = rows.and(through(span));
                self.push(count(when(before, lit(1i64)).end().expect("case")));
                self.push(count(when(through, lit(1i64)).end().expect("case")));
                Kind::NthTime(first)
            }
            Test::UserProperty {
                condition, span, ..
            } => {
                let in_span = within(span);
                let holding = condition.and(in_span.clone(), schema);
                self.push(max(when(in_span, time()).end().expect("case")));
                self.push(max(when(holding, time()).end().expect("case")));
                Kind::LastTimes(first)
            }
            Test::UserIds(_) => Kind::UserId,
            Test::InCohort(_) | Test::Funnel { .. } => Kind::Person,
            Test::Then {
                first: earlier,
                then,
                span,
            } => {
                // The earliest `first` and the latest `then`: one comes after the other iff
                // these two do.
                let in_span = || within(span);
                let firsts = matches(earlier, schema).and(in_span());
                let thens = matches(then, schema).and(in_span());
                self.push(datafusion::functions_aggregate::expr_fn::min(
                    when(firsts, time()).end().expect("case"),
                ));
                self.push(max(when(thens, time()).end().expect("case")));
                Kind::LastTimes(first)
            }
            Test::RelativeCount {
                event,
                compared_to,
                span,
                ..
            } => {
                for side in [event, compared_to] {
                    let rows = matches(side, schema).and(within(span));
                    self.push(count(when(rows, lit(1i64)).end().expect("case")));
                }
                Kind::Pair(first)
            }
            Test::WasNew { .. } => {
                // Every counted event up to `as_of` is in the scan: its earliest is the first.
                self.push(datafusion::functions_aggregate::expr_fn::min(time()));
                Kind::Count(first)
            }
            Test::Retention(test) => {
                for column in test.columns(schema) {
                    self.push(column);
                }
                Kind::Retention(first)
            }
            Test::Lifecycle(test) => {
                for column in test.columns(schema) {
                    self.push(column);
                }
                Kind::Lifecycle(first)
            }
            Test::Rfm { query, .. } => {
                let rows = query.purchases(schema);
                self.push(max(when(rows.clone(), time()).end().expect("case")));
                self.push(count(when(rows.clone(), lit(1i64)).end().expect("case")));
                self.push(sum(when(rows, query.amount(schema)).end().expect("case")));
                Kind::Rfm(first)
            }
        }
    }
}

/// The column holding each row's person's first counted time, when a test reads it.
const FIRST_MS: &str = "sluice_first_ms";

/// The row's time, Unix ms.
fn event_ms() -> Expr {
    datafusion::logical_expr::cast(column("event_time"), DataType::Int64)
}

/// The end of the person's first-use range of `days` days.
fn first_use_end(days: u32, tz: chrono_tz::Tz) -> Expr {
    let end = ScalarUDF::new_from_impl(DayFunction::new(DayRule::FirstUseEnd { days }, tz));
    end.call(vec![column(FIRST_MS)])
}

/// The rows in `span`.
fn within(span: &Span) -> Expr {
    match *span {
        Span::Fixed(from, to) => time_span(from, to),
        Span::FirstUse { .. } => event_ms().gt_eq(column(FIRST_MS)).and(through(span)),
    }
}

/// The rows before `span` begins.
fn before(span: &Span) -> Expr {
    match *span {
        Span::Fixed(from, _) => column("event_time").lt(timestamp(from)),
        Span::FirstUse { .. } => event_ms().lt(column(FIRST_MS)),
    }
}

/// The rows up to the end of `span`.
fn through(span: &Span) -> Expr {
    match *span {
        Span::Fixed(_, to) => column("event_time").lt_eq(timestamp(to)),
        Span::FirstUse { days, tz } => event_ms().lt_eq(first_use_end(days, tz)),
    }
}

/// The rows a test's event selects (any time).
fn matches(event: &Matching, schema: &Schema) -> Expr {
    event.conditions.and(event_matches(&event.event), schema)
}

/// One batch of the grouped scan, its columns cast to the types read.
struct Rows {
    person: ArrayRef,
    /// The user id, the device id, then every test column, in order.
    values: Vec<ArrayRef>,
    kinds: Vec<Kind>,
    /// Per RFM test (by index), each row's segment (none: not a buyer).
    rfm: HashMap<usize, Vec<Option<RfmSegment>>>,
}

impl Rows {
    fn read(batch: &RecordBatch, kinds: &[Kind]) -> Result<Self> {
        let as_type = |i: usize, ty: &DataType| -> Result<ArrayRef> {
            cast(batch.column(i), ty).map_err(|e| QueryError::Internal(e.to_string()))
        };
        let mut values = vec![as_type(1, &DataType::Utf8)?, as_type(2, &DataType::Utf8)?];
        for i in 3..batch.num_columns() {
            let ty = match batch.column(i).data_type() {
                DataType::Float64 => DataType::Float64,
                list @ DataType::List(_) => list.clone(),
                _ => DataType::Int64,
            };
            values.push(as_type(i, &ty)?);
        }
        if batch.num_columns() < 3 {
            return Err(QueryError::Internal(
                "cohort scan lost its columns".to_owned(),
            ));
        }
        Ok(Rows {
            person: as_type(0, &DataType::Int64)?,
            values,
            kinds: kinds.to_vec(),
            rfm: HashMap::new(),
        })
    }

    fn person(&self, row: usize) -> Option<i64> {
        let person = self.person.as_primitive::<Int64Type>();
        person.is_valid(row).then(|| person.value(row))
    }

    fn text(&self, column: usize, row: usize) -> Option<String> {
        let text = self.values[column].as_string::<i32>();
        text.is_valid(row).then(|| text.value(row).to_owned())
    }

    fn int(&self, column: usize, row: usize) -> Option<i64> {
        let ints = self.values[column].as_primitive::<Int64Type>();
        ints.is_valid(row).then(|| ints.value(row))
    }

    /// The non-null values of a list column (none for a null list).
    fn list(&self, column: usize, row: usize) -> Vec<i64> {
        let lists = self.values[column].as_list::<i32>();
        if lists.is_null(row) {
            return Vec::new();
        }
        let values = lists.value(row);
        match cast(&values, &DataType::Int64) {
            Ok(values) => values
                .as_primitive::<Int64Type>()
                .iter()
                .flatten()
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn float(&self, column: usize, row: usize) -> Option<f64> {
        let floats = self.values[column].as_primitive::<Float64Type>();
        floats.is_valid(row).then(|| floats.value(row))
    }

    /// Test `index`'s answer for the person on `row`; `funnels` holds each funnel test's
    /// levels by person.
    fn test(
        &self,
        row: usize,
        index: usize,
        test: &Test,
        funnels: &HashMap<usize, HashMap<i64, u8>>,
    ) -> bool {
        match (self.kinds[index], test) {
            (Kind::Count(c), Test::WasNew { span }) => self
                .int(c, row)
                .is_some_and(|first| (span.0..=span.1).contains(&first)),
            (Kind::Count(c), Test::Events { measure, .. }) => {
                let value = self.int(c, row).unwrap_or(0) as f64;
                let (op, bound) = match measure {
                    Measure::Count(op, n)
                    | Measure::DistinctValues(_, op, n)
                    | Measure::DistinctDays(op, n, _) => (*op, n.get()),
                    Measure::Sum(_, op, n) => (*op, n.get()),
                };
                op.holds(value, bound)
            }
            (Kind::Sum(c), Test::Events { measure, .. }) => {
                // A person with none of the events never qualifies by a sum.
                let (Some(value), Measure::Sum(_, op, n)) = (self.float(c, row), measure) else {
                    return false;
                };
                op.holds(value, n.get())
            }
            (Kind::NthTime(c), Test::NthTime { n, .. }) => {
                let before = self.int(c, row).unwrap_or(0);
                let through = self.int(c + 1, row).unwrap_or(0);
                before < i64::from(*n) && i64::from(*n) <= through
            }
            (Kind::Pair(c), Test::RelativeCount { op, .. }) => {
                let (left, right) = (self.int(c, row).unwrap_or(0), self.int(c + 1, row));
                op.holds(left as f64, right.unwrap_or(0) as f64)
            }
            (Kind::LastTimes(c), Test::Then { .. }) => {
                match (self.int(c, row), self.int(c + 1, row)) {
                    (Some(first), Some(then)) => first < then,
                    _ => false,
                }
            }
            (Kind::LastTimes(c), Test::UserProperty { mode, .. }) => {
                let (last, last_holding) = (self.int(c, row), self.int(c + 1, row));
                match mode {
                    PropertyMode::AnyTime => last_holding.is_some(),
                    PropertyMode::MostRecent => last_holding.is_some() && last_holding == last,
                }
            }
            (Kind::Retention(c), Test::Retention(test)) => test.holds(
                self.int(c, row),
                self.int(c + 1, row),
                &self.list(c + 2, row),
                &self.list(c + 3, row),
            ),
            (Kind::Lifecycle(c), Test::Lifecycle(test)) => {
                let count = |i: usize| self.int(c + i, row).unwrap_or(0);
                test.holds(self.int(c, row), count(1), [count(2), count(3), count(4)])
            }
            (Kind::Rfm(_), Test::Rfm { segment, .. }) => self
                .rfm
                .get(&index)
                .and_then(|segments| segments[row])
                .is_some_and(|found| found == *segment),
            (Kind::Person, Test::Funnel { levels, .. }) => {
                let level = self
                    .person(row)
                    .and_then(|person| funnels.get(&index)?.get(&person).copied())
                    .unwrap_or(0);
                (levels.0..=levels.1).contains(&level)
            }
            (Kind::Person, Test::InCohort(cell)) => self
                .person(row)
                .and_then(|person| cell.has_person(person))
                .unwrap_or(false),
            (Kind::UserId, Test::UserIds(ids)) => {
                self.text(0, row).is_some_and(|id| ids.contains(&id))
            }
            _ => false,
        }
    }
}
