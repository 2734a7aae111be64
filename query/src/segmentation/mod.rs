//! Event segmentation: per point of the date range (hour, day, week, month in the query's time
//! zone), each series' measure: unique persons, event totals, active %, average, a frequency
//! histogram or a property measure.
//!
//! Plan: scan the range's events (the series' event types only, unless a series is "any
//! event" or asks for active %), with `event_date` pruning → per row the person, the time and
//! the series mask (`selection.rs`: a bit per distinct series predicate, shared by series that
//! select the same rows) → the `sluice_segmentation` aggregate (`counter.rs`, no `GROUP BY`),
//! which returns every cell's uniques and totals at once (plus, for active %, the active persons
//! as one more hidden series); in the same scan one `sluice_segmentation_values` aggregate
//! (`values.rs`) per series measuring frequency or a property, reading the same mask. Ratios
//! (active %, average) are computed from the counts afterwards (`measures.rs`).
//! The spec's formulas over the series (`formula/`: parsed at validation) are evaluated per
//! point from the same counts and values, with a values aggregate more for a property metric
//! that no series measures.
//!
//! A view (`view.rs`) makes the scan read the lead-in before the range and the aggregates
//! return windows of points (rolling window, cumulative), which formulas then read too; a
//! rolling average is the mean of the points' values of every series and formula, taken last.

mod counter;
pub(crate) mod formula;
mod measures;
mod selection;
mod values;
mod view;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::ScalarValue;
use datafusion::common::cast::{as_float64_array, as_uint64_array};
use datafusion::datasource::listing::ListingTable;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{Expr, cast, lit, try_cast, when};

use crate::error::{QueryError, Result};
use crate::identity::PersonMap;
use crate::property::{column, resolve, time_span};
use crate::result::{FormulaResult, SegmentationResult, SeriesResult};
use crate::spec::{
    Interval, Measure, PointIndex, PropertyRef, SegmentationQuery, SeriesEvent, SeriesQuery,
};
use crate::whole_table::aggregate_lists;
use counter::{CounterParams, SegmentationUdaf};
use formula::{Metric, MetricRef, Window, WindowedRef};
use measures::{Counts, metric_values, series_result};
use selection::Selection;
use values::{ValuesParams, ValuesUdaf};

/// Runs `query` over `table` (`None`: no data yet, every count is zero).
pub(crate) async fn run(
    ctx: &SessionContext,
    table: Option<Arc<ListingTable>>,
    persons: &Arc<PersonMap>,
    query: &SegmentationQuery,
    interval: Interval,
) -> Result<SegmentationResult> {
    Ok(run_measured(ctx, table, persons, query, interval).await?.0)
}

/// Runs `query` over `table` like [`run`], and returns beside the result what its formulas
/// read, for the formulas across segments ([`across_segments`]).
pub(crate) async fn run_measured(
    ctx: &SessionContext,
    table: Option<Arc<ListingTable>>,
    persons: &Arc<PersonMap>,
    query: &SegmentationQuery,
    interval: Interval,
) -> Result<(SegmentationResult, formula::Inputs)> {
    let (_, folds) = view::folding(query);
    let points = folds.len();
    let Scanned {
        counts,
        selection,
        values,
        formula_values,
    } = match table {
        Some(table) => scan(ctx, table, persons, query).await?,
        None => Scanned::empty(query),
    };
    let cells = selection.width() * points;
    let windows = formula_windows(query);
    if counts.len() != (2 + windows.len()) * cells
        || values.len() != query.series.len()
        || formula_values.len() != formula_value_metrics(query).len()
    {
        return Err(QueryError::Internal(format!(
            "segmentation returned {} counts for {cells} cells and {} value lists for {} series",
            counts.len(),
            values.len(),
            query.series.len()
        )));
    }
    let counts = Counts {
        counts: &counts,
        points,
        bits: &selection.bits,
        width: selection.width(),
    };
    let series = query
        .series
        .iter()
        .zip(values)
        .enumerate()
        .map(|(s, (series, values))| series_result(s, series, &counts, values))
        .collect::<Result<Vec<_>>>()?;
    let (formulas, measured) = formula_results(query, &counts, &series, formula_values, points)?;
    let (series, formulas) = match view::averaged(query) {
        Some(members) => (
            series
                .into_iter()
                .map(|mut series| {
                    series.values = view::rolling_mean(&series.values, &members);
                    series
                })
                .collect(),
            formulas
                .into_iter()
                .map(|mut formula| {
                    formula.values = view::rolling_mean(&formula.values, &members);
                    formula
                })
                .collect(),
        ),
        None => (series, formulas),
    };
    let result = SegmentationResult {
        interval,
        view: query.view.as_ref().map(|plan| plan.view),
        points: query.buckets.labels.clone(),
        series,
        formulas,
    };
    Ok((result, measured))
}

/// The formulas across segments (`UNIQUES(A1) / UNIQUES(A2)`), evaluated once from what each
/// segment's formulas read (`measured`, in the segments' order) at each point; under a rolling
/// average, averaged as the segments' own formulas are.
pub(crate) fn across_segments(
    query: &SegmentationQuery,
    measured: Vec<formula::Inputs>,
) -> Result<Vec<FormulaResult>> {
    let points = view::folding(query).1.len();
    let mut inputs = formula::Inputs::default();
    for (segment, measured) in measured.into_iter().enumerate() {
        let mine = |m: MetricRef| MetricRef {
            segment: Some(segment),
            ..m
        };
        for (m, values) in measured.metrics {
            inputs.metrics.insert(mine(m), values);
        }
        for (w, values) in measured.windowed {
            let w = WindowedRef {
                metric: mine(w.metric),
                ..w
            };
            inputs.windowed.insert(w, values);
        }
    }
    let averaged = view::averaged(query);
    query
        .formulas
        .iter()
        .filter(|f| f.crosses_segments())
        .map(|f| {
            let mut result = formula_result(f, &inputs, points)?;
            if let Some(members) = &averaged {
                result.values = view::rolling_mean(&result.values, members);
            }
            Ok(result)
        })
        .collect()
}

/// One formula's result: its values at each of `points` points.
fn formula_result(
    f: &formula::Formula,
    inputs: &formula::Inputs,
    points: usize,
) -> Result<FormulaResult> {
    Ok(FormulaResult {
        formula: f.text.clone(),
        name: f.name.clone(),
        format: f.format,
        values: formula::evaluate(&f.expr, inputs, points).map_err(QueryError::Internal)?,
    })
}

/// Each formula's values per point (of the scan: with a rolling average, before averaging),
/// from the counter's counts, the series' values and the values aggregates added for formulas;
/// formulas across segments are left out, and what every formula reads is returned beside.
fn formula_results(
    query: &SegmentationQuery,
    counts: &Counts<'_>,
    series: &[SeriesResult],
    formula_values: Vec<Vec<Option<f64>>>,
    points: usize,
) -> Result<(Vec<FormulaResult>, formula::Inputs)> {
    if query.formulas.is_empty() {
        Ok((Vec::new(), formula::Inputs::default()))
    } else {
        // Each metric the formulas read: from the counter, the series' own values, or the
        // values aggregates added for the formulas.
        let mut extra: BTreeMap<MetricRef, Vec<Option<f64>>> = formula_value_metrics(query)
            .into_iter()
            .zip(formula_values)
            .collect();
        let mut inputs = BTreeMap::new();
        for m in formula_metrics(query) {
            let values = match metric_values(m, counts) {
                Some(values) => values,
                None => match extra.remove(&m) {
                    Some(values) => values,
                    None => series
                        .get(m.series)
                        .map(|s| s.values.clone())
                        .ok_or_else(|| {
                            QueryError::Internal(format!("formula reads series {}", m.series))
                        })?,
                },
            };
            inputs.insert(m, values);
        }
        let windows = formula_windows(query);
        let mut windowed = BTreeMap::new();
        for w in formula_windowed(query) {
            let at = windows.iter().position(|&window| window == w.window);
            let persons = at
                .and_then(|at| counts.windowed_uniques(at, w.metric.series))
                .ok_or_else(|| {
                    QueryError::Internal(format!(
                        "formula window {:?} of series {} was not counted",
                        w.window, w.metric.series
                    ))
                })?;
            windowed.insert(w, measures::whole(persons));
        }
        let inputs = formula::Inputs {
            metrics: inputs,
            windowed,
        };
        let results = query
            .formulas
            .iter()
            .filter(|f| !f.crosses_segments())
            .map(|f| formula_result(f, &inputs, points))
            .collect::<Result<Vec<_>>>()?;
        Ok((results, inputs))
    }
}

/// Every metric the formulas read, in the segment being scanned (a formula across segments
/// reads its metrics in each).
fn formula_metrics(query: &SegmentationQuery) -> BTreeSet<MetricRef> {
    let mut metrics = BTreeSet::new();
    for f in &query.formulas {
        f.metrics(&mut metrics);
    }
    metrics.into_iter().map(MetricRef::in_own_segment).collect()
}

/// Every metric the formulas read over a window of points (uniques of `CUMSUM` / `ROLLWIN`).
fn formula_windowed(query: &SegmentationQuery) -> BTreeSet<WindowedRef> {
    let mut windowed = BTreeSet::new();
    for f in &query.formulas {
        f.windowed(&mut windowed);
    }
    windowed
        .into_iter()
        .map(|w| WindowedRef {
            metric: w.metric.in_own_segment(),
            ..w
        })
        .collect()
}

/// The distinct windows the formulas count uniques over, in the order the counter returns them.
fn formula_windows(query: &SegmentationQuery) -> Vec<Window> {
    let windows: BTreeSet<Window> = formula_windowed(query).iter().map(|w| w.window).collect();
    windows.into_iter().collect()
}

/// The property metrics the formulas read that their series does not measure itself: each
/// gets a values aggregate of its own, in this order.
fn formula_value_metrics(query: &SegmentationQuery) -> Vec<MetricRef> {
    formula_metrics(query)
        .into_iter()
        .filter(|m| {
            // A percentile always has its own aggregate; another property metric only where
            // the series does not measure it already.
            m.metric.property_measure().is_some_and(|measure| {
                m.metric.own_values()
                    || query
                        .series
                        .get(m.series)
                        .is_some_and(|s| s.measure != measure)
            })
        })
        .collect()
}

/// Whether a series measures active % (or a formula reads `ACTIVE` or `ARPAU`), so the active
/// persons are counted.
fn needs_active(query: &SegmentationQuery) -> bool {
    query
        .series
        .iter()
        .any(|s| s.measure == Measure::ActivePercent)
        || formula_metrics(query)
            .iter()
            .any(|m| matches!(m.metric, Metric::Active | Metric::ActivePersons))
}

/// Whether a series has its own values aggregate.
fn has_values(series: &SeriesQuery) -> bool {
    series.measure == Measure::Frequency || series.measure.reads_property()
}

/// The values of a series with no data: zero counts, null values.
fn empty_values(series: &SeriesQuery, points: usize) -> Vec<Option<f64>> {
    match series.measure {
        // Each point's buckets, then the whole range's.
        Measure::Frequency => vec![Some(0.0); (points + 1) * series.frequency_buckets.len()],
        measure => empty_measure(measure, points),
    }
}

/// A property measure's values with no data: zero sums and counts, otherwise null.
fn empty_measure(measure: Measure, points: usize) -> Vec<Option<f64>> {
    match measure {
        Measure::PropertySum | Measure::PropertyDistinctCount => vec![Some(0.0); points],
        m if m.reads_property() => vec![None; points],
        _ => Vec::new(),
    }
}

/// What one scan answers.
struct Scanned {
    /// The counter's list: uniques of every (bit, point) cell, then totals.
    counts: Vec<u64>,
    /// The counted series' bits.
    selection: Selection,
    /// Each series' values list (empty for series without a values aggregate).
    values: Vec<Vec<Option<f64>>>,
    /// The values of each of `formula_value_metrics`, in its order.
    formula_values: Vec<Vec<Option<f64>>>,
}

impl Scanned {
    /// The answer over no data: zero counts, null or zero values.
    fn empty(query: &SegmentationQuery) -> Self {
        let points = view::folding(query).1.len();
        let selection = Selection::unshared(query.series.len() + usize::from(needs_active(query)));
        Scanned {
            counts: vec![0; (2 + formula_windows(query).len()) * selection.width() * points],
            selection,
            values: query
                .series
                .iter()
                .map(|s| empty_values(s, points))
                .collect(),
            formula_values: formula_value_metrics(query)
                .into_iter()
                .map(|m| match m.metric.property_measure() {
                    // Nobody did the event: no percentile of their counts, and no persons to
                    // average their distinct values over.
                    Some(Measure::Frequency) | None => vec![None; points],
                    _ if m.metric == Metric::PropertyDistinctPerPerson => vec![None; points],
                    Some(measure) => empty_measure(measure, points),
                })
                .collect(),
        }
    }
}

/// One scan: the counter and, in the same pass, a values aggregate per series measuring
/// frequency or a property.
async fn scan(
    ctx: &SessionContext,
    table: Arc<ListingTable>,
    persons: &Arc<PersonMap>,
    query: &SegmentationQuery,
) -> Result<Scanned> {
    use datafusion::datasource::TableProvider as _;
    let schema = table.schema();
    let (starts, folds) = view::folding(query);
    let (Some(&from), Some(&end)) = (starts.first(), starts.last()) else {
        return Ok(Scanned::empty(query));
    };
    let mut filter = time_span(from, end - 1);
    if let Some(project) = &query.project {
        filter = filter.and(column("project").eq(lit(project.clone())));
    }
    let any = needs_active(query) || query.series.iter().any(|s| s.event == SeriesEvent::Any);
    if !any {
        let types: BTreeSet<&str> = query
            .series
            .iter()
            .filter_map(|s| match &s.event {
                SeriesEvent::Type(name) => Some(name.as_str()),
                SeriesEvent::Any => None,
            })
            .collect();
        filter =
            filter.and(column("event_type").in_list(types.into_iter().map(lit).collect(), false));
    }
    let selection = Selection::new(query, &schema, needs_active(query));
    let mask = selection.mask()?;
    let points = Arc::new(PointIndex::new(starts));
    let person = persons.person_expr(&schema);
    let time = cast(column("event_time"), DataType::Int64);
    // Formula windows are refused with a view (`formula::validate`), so the scanned points are
    // the points returned.
    let windows = formula_windows(query);
    if query.view.is_some() && !windows.is_empty() {
        return Err(QueryError::Internal(
            "formula windows over uniques with a view".to_owned(),
        ));
    }
    let counter = SegmentationUdaf::new(CounterParams {
        points: points.clone(),
        series: selection.width(),
        folds: folds.clone(),
        windows: windows.iter().map(|w| w.folds(folds.len())).collect(),
    })
    .into_udaf();
    let mut aggregates = vec![(counter, vec![person.clone(), time.clone(), mask.clone()])];
    let mut owners = Vec::new();
    for (s, series) in query.series.iter().enumerate() {
        if !has_values(series) {
            continue;
        }
        let udaf = ValuesUdaf::new(ValuesParams {
            points: points.clone(),
            measure: series.measure,
            buckets: series.frequency_buckets.clone(),
            bit: u32::try_from(selection.bits[s])
                .map_err(|_| QueryError::Internal(format!("series {s} has no mask bit")))?,
            folds: folds.clone(),
            percentile: None,
            per_person: false,
        })
        .into_udaf();
        let (number, text) = property_arguments(series.property.as_ref(), series.measure, &schema);
        aggregates.push((
            udaf,
            vec![person.clone(), time.clone(), mask.clone(), number, text],
        ));
        owners.push(s);
    }
    let extra = formula_value_metrics(query);
    for m in &extra {
        let (Some(measure), Some(series)) =
            (m.metric.property_measure(), query.series.get(m.series))
        else {
            return Err(QueryError::Internal(format!(
                "formula metric {} of series {} is no property measure",
                m.metric.name(),
                m.series
            )));
        };
        let udaf = ValuesUdaf::new(ValuesParams {
            points: points.clone(),
            measure,
            buckets: Vec::new(),
            bit: u32::try_from(selection.bits[m.series]).map_err(|_| {
                QueryError::Internal(format!("series {} has no mask bit", m.series))
            })?,
            folds: folds.clone(),
            percentile: m.metric.percentile(),
            per_person: m.metric == Metric::PropertyDistinctPerPerson,
        })
        .into_udaf();
        let (number, text) = match m.metric {
            Metric::SessionTotals => session_arguments(&schema)?,
            _ => property_arguments(series.property.as_ref(), measure, &schema),
        };
        aggregates.push((
            udaf,
            vec![person.clone(), time.clone(), mask.clone(), number, text],
        ));
    }
    let lists = aggregate_lists(ctx, table, filter, aggregates).await?;
    let counts = as_uint64_array(&lists[0])?.values().to_vec();
    let mut values = vec![Vec::new(); query.series.len()];
    for (s, list) in owners.iter().zip(&lists[1..]) {
        values[*s] = as_float64_array(list)?.iter().collect();
    }
    let formula_values = lists[1 + owners.len()..]
        .iter()
        .map(|list| Ok(as_float64_array(list)?.iter().collect::<Vec<_>>()))
        .collect::<Result<Vec<_>>>()?;
    Ok(Scanned {
        counts,
        selection,
        values,
        formula_values,
    })
}

/// The values aggregate's arguments for `SESSIONTOTALS`: no number, the session id as text
/// (null without a session: Amplitude's `-1`, or files without the column).
fn session_arguments(schema: &Schema) -> Result<(Expr, Expr)> {
    let no_number = lit(ScalarValue::Float64(None));
    if schema.field_with_name("session_id").is_err() {
        return Ok((no_number, lit(ScalarValue::Utf8(None))));
    }
    let session = column("session_id");
    let text = when(
        session.clone().not_eq(lit(-1i64)),
        cast(session, DataType::Utf8),
    )
    .otherwise(lit(ScalarValue::Utf8(None)))?;
    Ok((no_number, text))
}

/// The values aggregate's property arguments: the property as a number (`Float64`, null when
/// it is not one) for the numeric measures, as text for the distinct count; typed nulls for
/// what the measure does not read.
fn property_arguments(
    property: Option<&PropertyRef>,
    measure: Measure,
    schema: &Schema,
) -> (Expr, Expr) {
    let value = property.map(|p| resolve(p, schema));
    let distinct = measure == Measure::PropertyDistinctCount;
    let number = match &value {
        Some(v) if !distinct => try_cast(v.clone(), DataType::Float64),
        _ => lit(ScalarValue::Float64(None)),
    };
    let text = match value {
        Some(v) if distinct => cast(v, DataType::Utf8),
        _ => lit(ScalarValue::Utf8(None)),
    };
    (number, text)
}
