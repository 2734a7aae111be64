//! Segmentation formulas: hand-computed cases, the text table and CSV, the spec errors, and a
//! differential test of random formulas against a plain evaluation over the reference's
//! per-point metrics (`reference.rs`), with time-zone day boundaries and same-millisecond ties.

use std::collections::BTreeSet;

use chrono::{DateTime, Days, NaiveDate};
use chrono_tz::Tz;
use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_query::result::{QueryResult, SegmentationResult};
use sluice_query::{QueryError, QuerySpec, render_csv, render_table};

use crate::reference::{RefSeries, segmentation_measure};
use crate::segmentation::label;
use crate::segmentation_measures::close;
use crate::support::{TestEvent, ev, run_any, utc, write_dataset};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// Runs `value` over `events`; the result of each segment (one when there are none).
fn run(events: &[TestEvent], value: &Value) -> Result<Vec<SegmentationResult>, QueryError> {
    let dir = tempfile::tempdir().expect("tempdir");
    if !events.is_empty() {
        write_dataset(dir.path(), events, 2);
    }
    let spec = QuerySpec::from_json(&value.to_string())?;
    Ok(match run_any(dir.path(), &spec)? {
        QueryResult::Segmentation(result) => vec![result],
        QueryResult::Segments(compared) => compared
            .segments
            .into_iter()
            .map(|s| match s.result {
                QueryResult::Segmentation(result) => result,
                other => panic!("not a segmentation: {other:?}"),
            })
            .collect(),
        other => panic!("not a segmentation: {other:?}"),
    })
}

fn spec(days: (&str, &str), events: Value, formulas: Value) -> Value {
    json!({"version": 1, "analysis": "segmentation",
           "date_range": {"from": days.0, "to": days.1},
           "events": events, "formulas": formulas})
}

fn values(result: &SegmentationResult) -> Vec<Vec<Option<f64>>> {
    result.formulas.iter().map(|f| f.values.clone()).collect()
}

/// Three days of a small marketplace: views (A), purchases with an amount (B).
fn marketplace() -> Vec<TestEvent> {
    let d1 = utc(2025, 1, 10, 9, 0, 0);
    let (d2, d3) = (d1 + DAY, d1 + 2 * DAY);
    vec![
        // Day 1: u1..u4 view (u1 twice); u1 buys twice (10, 30), u2 once (20).
        ev(d1, "View", "u1").platform("iOS"),
        ev(d1, "View", "u1").platform("iOS"),
        ev(d1 + 1, "View", "u2").platform("Web"),
        ev(d1 + 2, "View", "u3").platform("iOS"),
        ev(d1 + 3, "View", "u4").platform("Web"),
        ev(d1 + 4, "Buy", "u1").amount(10.0).platform("iOS"),
        ev(d1 + 4, "Buy", "u1").amount(30.0).platform("iOS"),
        ev(d1 + 5, "Buy", "u2").amount(20.0).platform("Web"),
        // Day 2: only u5 views, nobody buys.
        ev(d2, "View", "u5").platform("Web"),
        // Day 3: nobody views; u6 buys (no amount), u1 buys (5).
        ev(d3, "Buy", "u6").platform("Web"),
        ev(d3 + 1, "Buy", "u1").amount(5.0).platform("iOS"),
    ]
}

const DAYS: (&str, &str) = ("2025-01-10", "2025-01-12");

#[test]
fn conversion_ratio_and_average_per_point() {
    let results = run(
        &marketplace(),
        &spec(
            DAYS,
            json!([{"event_type": "View"}, {"event_type": "Buy", "measure": "totals"}]),
            json!([
                {"formula": "UNIQUES(B)/UNIQUES(A)", "name": "View to buy"},
                {"formula": "totals(b) / uniques(b)"},
                {"formula": "AVG(B)"},
                {"formula": "UNIQUES(B)"},
                {"formula": "TOTALS(A) - 2 * -1"},
            ]),
        ),
    )
    .expect("runs");
    let result = &results[0];
    assert_eq!(
        values(result),
        [
            // 2 of 4 viewers bought; 0 of 1; nobody viewed on day 3: 2 / 0 is null.
            vec![Some(0.5), Some(0.0), None],
            // B measures totals, yet UNIQUES(B) is its persons: 3 purchases by 2, then 2 by 2.
            vec![Some(1.5), None, Some(1.0)],
            vec![Some(1.5), None, Some(1.0)],
            vec![Some(2.0), Some(0.0), Some(2.0)],
            vec![Some(7.0), Some(3.0), Some(2.0)],
        ]
    );
    assert_eq!(result.series[1].values, [Some(3.0), Some(0.0), Some(2.0)]);
    assert_eq!(result.formulas[0].name, "View to buy");
    assert_eq!(result.formulas[1].name, "totals(b) / uniques(b)");
}

/// Under a view, formulas read the view's windows: over a 2-day rolling window UNIQUES(B) is the
/// buyers of the window counted once (u1 bought on days 1 and 3, but the windows are days 1–2
/// and 2–3), and under a rolling average a formula is averaged like a series.
#[test]
fn formulas_read_the_views_windows() {
    let mut window = spec(
        DAYS,
        json!([{"event_type": "View"}, {"event_type": "Buy"}]),
        json!([{"formula": "UNIQUES(B)"}, {"formula": "UNIQUES(B) / UNIQUES(A)"}]),
    );
    window["view"] = json!({"rolling_window": 2});
    let results = run(&marketplace(), &window).expect("runs");
    let result = &results[0];
    // Windows: day 1 (with the empty day before it), days 1–2, days 2–3.
    assert_eq!(result.series[1].values, [Some(2.0), Some(2.0), Some(2.0)]);
    assert_eq!(
        values(result),
        [
            vec![Some(2.0), Some(2.0), Some(2.0)],
            vec![Some(0.5), Some(0.4), Some(2.0)],
        ]
    );
    let mut average = spec(
        DAYS,
        json!([{"event_type": "Buy", "measure": "totals"}]),
        json!([{"formula": "TOTALS(A)"}]),
    );
    average["view"] = json!({"rolling_average": 2});
    let results = run(&marketplace(), &average).expect("runs");
    let result = &results[0];
    // Totals 3, 0, 2 per day (0 the day before): means 1.5, 1.5, 1.
    assert_eq!(result.series[0].values, [Some(1.5), Some(1.5), Some(1.0)]);
    assert_eq!(values(result), [result.series[0].values.clone()]);
}

#[test]
fn property_metrics_beside_the_series_own_measure() {
    let amount = json!({"kind": "event", "property": "amount"});
    let results = run(
        &marketplace(),
        &spec(
            DAYS,
            json!([{"event_type": "View"},
                   {"event_type": "Buy", "measure": "property_sum", "property": amount}]),
            json!([
                {"formula": "$:PROPSUM(B) / UNIQUES(B)", "name": "Revenue per buyer"},
                {"formula": "PROPAVG(B)"},
                {"formula": "PROPMIN(B) + PROPMAX(B)"},
                {"formula": "PROPCOUNT(B)"},
                {"formula": "ACTIVE(B)", "format": "percent"},
            ]),
        ),
    )
    .expect("runs");
    let result = &results[0];
    assert_eq!(
        values(result),
        [
            vec![Some(30.0), None, Some(2.5)],
            vec![Some(20.0), None, Some(5.0)],
            vec![Some(40.0), None, Some(10.0)],
            vec![Some(3.0), Some(0.0), Some(1.0)],
            // Active persons: 4, 1, 2 (u6 and u1 on day 3).
            vec![Some(0.5), Some(0.0), Some(1.0)],
        ]
    );
    assert_eq!(result.series[1].values, [Some(60.0), Some(0.0), Some(5.0)]);
    let text = serde_json::to_value(result).expect("serialises");
    assert_eq!(
        text["formulas"][0],
        json!({"formula": "PROPSUM(B) / UNIQUES(B)", "name": "Revenue per buyer",
               "format": "currency", "values": [30, null, 2.5]})
    );
    assert_eq!(
        text["formulas"][3],
        json!({"formula": "PROPCOUNT(B)",
                                           "name": "PROPCOUNT(B)", "values": [3, 0, 1]})
    );
}

/// `formulas` over the marketplace's views (A) and spend (B: the sum of `amount` on purchases),
/// per day.
fn views_and_spend(formulas: Value) -> Vec<Vec<Option<f64>>> {
    let amount = json!({"kind": "event", "property": "amount"});
    let series = json!([{"event_type": "View"},
                        {"event_type": "Buy", "measure": "property_sum", "property": amount}]);
    let results = run(&marketplace(), &spec(DAYS, series, formulas)).expect("runs");
    values(&results[0])
}

#[test]
fn rolling_and_cumulative_aggregations() {
    assert_eq!(
        views_and_spend(json!([
            {"formula": "ROLLAVG(UNIQUES, A, 2)"},
            {"formula": "CUMSUM(TOTALS, B)"},
            {"formula": "ROLLWIN(PROPSUM, B, 2)"},
            {"formula": "ROLLAVG(PROPAVG, B, 3)"},
            {"formula": "CUMSUM(PROPSUM, B) / CUMSUM(TOTALS, B)"},
        ])),
        [
            vec![Some(4.0), Some(2.5), Some(0.5)],
            vec![Some(3.0), Some(3.0), Some(5.0)],
            vec![Some(60.0), Some(60.0), Some(5.0)],
            // The null middle point is left out of the mean.
            vec![Some(20.0), Some(20.0), Some(12.5)],
            vec![Some(20.0), Some(20.0), Some(13.0)],
        ]
    );
}

#[test]
fn unique_windows_revenue_per_active_person_and_percentiles() {
    assert_eq!(
        views_and_spend(json!([
            {"formula": "CUMSUM(UNIQUES, B)"},
            {"formula": "ROLLWIN(UNIQUES, B, 2)"},
            {"formula": "CUMSUM(UNIQUES, A) - ROLLWIN(UNIQUES, A, 1)"},
            {"formula": "ARPAU(B)"},
            {"formula": "CUMSUM(REVENUETOTAL, B)"},
            {"formula": "PERCENTILE(B, 25)"},
            {"formula": "PERCENTILE(B, 50)"},
        ])),
        [
            // Buyers so far: u1, u2; nobody new on day 2; u6 on day 3 (u1 again is not new).
            vec![Some(2.0), Some(2.0), Some(3.0)],
            // Buyers of the last two days: {u1, u2}, {u1, u2}, {u1, u6}.
            vec![Some(2.0), Some(2.0), Some(2.0)],
            // Viewers so far minus the day's viewers: 4 - 4, 5 - 1, 5 - 0.
            vec![Some(0.0), Some(4.0), Some(5.0)],
            // Revenue ÷ active persons: 60 / 4 (u1..u4), 0 / 1 (u5), 5 / 2 (u6, u1).
            vec![Some(15.0), Some(0.0), Some(2.5)],
            vec![Some(60.0), Some(60.0), Some(65.0)],
            // Amounts 10, 20, 30 (rank 0.5: halfway from 10 to 20); none; 5 (u6's buy has none).
            vec![Some(15.0), None, Some(5.0)],
            vec![Some(20.0), None, Some(5.0)],
        ]
    );
}

#[test]
fn formulas_are_evaluated_within_each_segment_with_the_series_conditions() {
    let results = run(
        &marketplace(),
        &json!({"version": 1, "analysis": "segmentation",
                "date_range": {"from": DAYS.0, "to": DAYS.1},
                "segments": [
                    {"name": "iOS", "where": [{"kind": "field", "property": "platform",
                                               "op": "is", "values": ["iOS"]}]},
                    {"name": "Web", "where": [{"kind": "field", "property": "platform",
                                               "op": "is", "values": ["Web"]}]}],
                "events": [{"event_type": "View"},
                           {"event_type": "Buy", "where": [
                               {"kind": "event", "property": "amount", "op": "greater",
                                "values": ["15"]}]}],
                "formulas": [{"formula": "UNIQUES(B) / UNIQUES(A)"},
                             {"formula": "ACTIVE(A)"}]}),
    )
    .expect("runs");
    // iOS: views by u1, u3 on day 1; purchases over 15 by u1 (30). Web: views by u2, u4, then
    // u5; u2's purchase of 20.
    assert_eq!(
        values(&results[0]),
        [
            vec![Some(0.5), None, None],
            vec![Some(1.0), None, Some(0.0)]
        ]
    );
    assert_eq!(
        values(&results[1]),
        [
            vec![Some(0.5), Some(0.0), None],
            vec![Some(1.0), Some(1.0), Some(0.0)]
        ]
    );
}

#[test]
fn sessions_and_percentiles_of_how_often_persons_did_it() {
    let d1 = utc(2025, 1, 10, 9, 0, 0);
    let d2 = d1 + DAY;
    let events = vec![
        // Day 1: u1 views 3 times in sessions 100 and 200, u2 once in 300, u3 once outside any.
        ev(d1, "View", "u1").session(100).category("x"),
        ev(d1 + 1, "View", "u1").session(100).category("y"),
        ev(d1 + 2, "View", "u1").session(200).category("x"),
        ev(d1 + 3, "View", "u2").session(300).category("x"),
        ev(d1 + 4, "View", "u3"),
        // Day 2: u2 views 3 times in session 400, u4 once in 500; u5 buys in 600.
        ev(d2, "View", "u2").session(400),
        ev(d2 + 1, "View", "u2").session(400),
        ev(d2 + 2, "View", "u2").session(400),
        ev(d2 + 3, "View", "u4").session(500).category("y"),
        ev(d2 + 4, "Buy", "u5").session(600),
    ];
    let results = run(
        &events,
        &spec(
            DAYS,
            json!([{"event_type": "View", "measure": "property_distinct_count",
                    "property": {"kind": "event", "property": "category"}}]),
            json!([
                {"formula": "SESSIONTOTALS(A)"},
                {"formula": "FREQPERCENTILE(A, 50)"},
                {"formula": "FREQPERCENTILE(A, 100)"},
                {"formula": "TOTALS(A) / SESSIONTOTALS(A)"},
                {"formula": "PROPCOUNTAVG(A)"},
            ]),
        ),
    )
    .expect("runs");
    assert_eq!(
        values(&results[0]),
        [
            vec![Some(3.0), Some(2.0), Some(0.0)],
            // Counts 3, 1, 1 and 3, 1; nobody on day 3.
            vec![Some(1.0), Some(2.0), None],
            vec![Some(3.0), Some(3.0), None],
            vec![Some(5.0 / 3.0), Some(2.0), None],
            // Categories per person: u1 {x, y}, u2 {x} (u3 has none); then u4 {y}.
            vec![Some(1.5), Some(1.0), None],
        ]
    );
}

/// The marketplace compared between iOS and Web, with `formulas`.
fn ios_against_web(formulas: Value) -> Value {
    json!({"version": 1, "analysis": "segmentation",
           "date_range": {"from": DAYS.0, "to": DAYS.1},
           "segments": [
               {"name": "iOS", "where": [{"kind": "field", "property": "platform",
                                          "op": "is", "values": ["iOS"]}]},
               {"name": "Web", "where": [{"kind": "field", "property": "platform",
                                          "op": "is", "values": ["Web"]}]}],
           "events": [{"event_type": "View"}, {"event_type": "Buy"}],
           "formulas": formulas})
}

#[test]
fn formulas_across_segments_are_evaluated_once_beside_the_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), &marketplace(), 2);
    let spec = QuerySpec::from_json(
        &ios_against_web(json!([
            {"formula": "UNIQUES(A1) / UNIQUES(A2)", "name": "iOS per Web viewer"},
            {"formula": "%:UNIQUES(B1) / UNIQUES(a1)", "name": "iOS conversion"},
            {"formula": "CUMSUM(UNIQUES, B2)", "name": "Web buyers so far"},
            {"formula": "UNIQUES(B)", "name": "Buyers"},
        ]))
        .to_string(),
    )
    .expect("valid");
    let result = run_any(dir.path(), &spec).expect("runs");
    let QueryResult::Segments(compared) = &result else {
        panic!("not segments: {result:?}");
    };
    let across: Vec<_> = compared.formulas.iter().map(|f| f.values.clone()).collect();
    assert_eq!(
        across,
        [
            // Viewers: iOS {u1, u3} and Web {u2, u4} on day 1; Web u5 on day 2; nobody on day 3.
            vec![Some(1.0), Some(0.0), None],
            // iOS buyers ÷ iOS viewers: u1 of {u1, u3}; nobody viewed on iOS after day 1.
            vec![Some(0.5), None, None],
            // Web buyers so far: u2, then u6 on day 3.
            vec![Some(1.0), Some(1.0), Some(2.0)],
        ]
    );
    // A formula without segment numbers stays within each segment.
    for (segment, buyers) in compared
        .segments
        .iter()
        .zip([[1.0, 0.0, 1.0], [1.0, 0.0, 1.0]])
    {
        let QueryResult::Segmentation(r) = &segment.result else {
            panic!("not a segmentation");
        };
        let names: Vec<&str> = r.formulas.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["Buyers"], "{}", segment.name);
        assert_eq!(r.formulas[0].values, buyers.map(Some), "{}", segment.name);
    }
    let table = render_table(&result);
    assert!(
        table.ends_with(
            "== Across segments ==\n\
             point       iOS per Web viewer  iOS conversion (%)  Web buyers so far\n\
             2025-01-10                   1                  50                  1\n\
             2025-01-11                   0                   -                  1\n\
             2025-01-12                   -                   -                  2\n"
        ),
        "{table}"
    );
    let csv = render_csv(&result);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "segment,point,View (uniques),Buy (uniques),Buyers,iOS per Web viewer,\
             iOS conversion (%),Web buyers so far"
        )
    );
    assert_eq!(lines.next(), Some("iOS,2025-01-10,2,1,1,1,50,1"));
    assert_eq!(lines.nth(2), Some("Web,2025-01-10,2,1,1,1,50,1"));
}

#[test]
fn formulas_across_segments_are_checked() {
    let bad = |formulas: Value, group_by: bool| {
        let mut value = ios_against_web(formulas);
        if group_by {
            value["group_by"] = json!([{"kind": "field", "property": "platform"}]);
        }
        let error = run(&marketplace(), &value).expect_err("refused");
        assert!(matches!(error, QueryError::InvalidSpec(_)), "{error:?}");
        error.to_string()
    };
    let message = bad(json!([{"formula": "UNIQUES(A3)"}]), false);
    assert!(
        message.contains("A3 names a segment the query does not compare (it compares 2"),
        "{message}"
    );
    let message = bad(json!([{"formula": "UNIQUES(A1) / UNIQUES(A)"}]), false);
    assert!(message.contains("either compares segments"), "{message}");
    let message = bad(json!([{"formula": "UNIQUES(A1) / UNIQUES(A2)"}]), true);
    assert!(
        message.contains("cannot be combined with group_by"),
        "{message}"
    );
}

#[test]
fn no_data_gives_zero_counts_and_null_ratios() {
    let amount = json!({"kind": "event", "property": "amount"});
    let results = run(
        &[],
        &spec(
            ("2025-01-10", "2025-01-11"),
            json!([{"event_type": "View"},
                   {"event_type": "Buy", "measure": "property_max", "property": amount}]),
            json!([{"formula": "UNIQUES(B)/UNIQUES(A)"}, {"formula": "PROPSUM(B) + TOTALS(A)"},
                   {"formula": "PROPMAX(B)"}, {"formula": "ACTIVE(A)"}]),
        ),
    )
    .expect("runs");
    assert_eq!(
        values(&results[0]),
        [
            vec![None, None],
            vec![Some(0.0), Some(0.0)],
            vec![None, None],
            vec![None, None]
        ]
    );
}

#[test]
fn the_table_and_csv_show_formula_columns() {
    let results = run(
        &marketplace(),
        &spec(
            DAYS,
            json!([{"event_type": "View"}, {"event_type": "Buy"}]),
            json!([{"formula": "%:UNIQUES(B)/UNIQUES(A)", "name": "Conversion"},
                   {"formula": "TOTALS(B)"}]),
        ),
    )
    .expect("runs");
    let result = QueryResult::Segmentation(results[0].clone());
    assert_eq!(
        render_table(&result),
        "point       View (uniques)  Buy (uniques)  Conversion (%)  TOTALS(B)\n\
         2025-01-10               4              2              50          3\n\
         2025-01-11               1              0               0          0\n\
         2025-01-12               0              2               -          2\n"
    );
    assert_eq!(
        render_csv(&result),
        "point,View (uniques),Buy (uniques),Conversion (%),TOTALS(B)\n\
         2025-01-10,4,2,50,3\n2025-01-11,1,0,0,0\n2025-01-12,0,2,,2\n"
    );
}

#[test]
fn bad_formulas_are_spec_errors_naming_the_field() {
    let amount = json!({"kind": "event", "property": "amount"});
    let bad = |formulas: Value| {
        let error = run(
            &[],
            &spec(
                DAYS,
                json!([{"event_type": "View"},
                       {"event_type": "Buy", "measure": "property_sum", "property": amount}]),
                formulas,
            ),
        )
        .expect_err("refused");
        assert!(matches!(error, QueryError::InvalidSpec(_)), "{error:?}");
        error.to_string()
    };
    let message = bad(json!([{"formula": "UNIQUES(A)"}, {"formula": "UNIQUES(A) *"}]));
    assert!(
        message.contains("formulas[1].formula: at character 13: expected a number"),
        "{message}"
    );
    let message = bad(json!([{"formula": "UNIQUES(C)"}]));
    assert!(message.contains("there is no series C"), "{message}");
    let message = bad(json!([{"formula": "PROPSUM(A)"}]));
    assert!(message.contains("reads series A's property"), "{message}");
    let message = bad(json!([{"formula": "CUMSUM(AVG, A)"}]));
    assert!(
        message.contains("CUMSUM over AVG is not supported"),
        "{message}"
    );
    let message = bad(json!([{"formula": "FOO(A)"}]));
    assert!(message.contains("unknown function FOO"), "{message}");
    let message = bad(json!([{"formula": "ROLLAVG(UNIQUES, A)"}]));
    assert!(message.contains("ROLLAVG takes 3 arguments"), "{message}");
    let message = bad(json!([{"formula": "1", "format": "ratio"}]));
    assert!(message.contains("unknown variant"), "{message}");
    let message = bad(json!(vec![json!({"formula": "1"}); 11]));
    assert!(message.contains("at most 10 formulas"), "{message}");
}

// ---- differential test ----

/// A series of the random segmentation: its event, a `where` on category, and its property.
#[derive(Debug, Clone)]
struct Series {
    event: &'static str,
    category: Option<&'static str>,
    property: SeriesProperty,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum SeriesProperty {
    None,
    /// `amount`, measured with this numeric property measure.
    Amount(&'static str),
    /// `category`, measured as distinct values.
    Category,
}

impl Series {
    fn json(&self) -> Value {
        let mut value = json!({"event_type": self.event});
        match self.property {
            SeriesProperty::None => value["measure"] = json!("totals"),
            SeriesProperty::Amount(measure) => {
                value["measure"] = json!(measure);
                value["property"] = json!({"kind": "event", "property": "amount"});
            }
            SeriesProperty::Category => {
                value["measure"] = json!("property_distinct_count");
                value["property"] = json!({"kind": "event", "property": "category"});
            }
        }
        if let Some(category) = self.category {
            value["where"] = json!([{"kind": "event", "property": "category", "op": "is",
                                     "values": [category]}]);
        }
        value
    }

    /// The metrics a formula may read on this series (the reference's `property_distinct_count`
    /// counts categories, its numeric measures read amounts).
    fn metrics(&self) -> Vec<&'static str> {
        let mut metrics = vec![
            "UNIQUES",
            "TOTALS",
            "ACTIVE",
            "AVG",
            "SESSIONTOTALS",
            "FREQPERCENTILE",
        ];
        match self.property {
            SeriesProperty::None => {}
            SeriesProperty::Amount(_) => {
                metrics.extend([
                    "PROPSUM",
                    "PROPAVG",
                    "PROPMIN",
                    "PROPMAX",
                    "REVENUETOTAL",
                    "ARPAU",
                    "PERCENTILE",
                ]);
            }
            SeriesProperty::Category => metrics.extend(["PROPCOUNT", "PROPCOUNTAVG"]),
        }
        metrics
    }

    /// The metrics `CUMSUM` and `ROLLWIN` take on this series.
    fn windowable(&self) -> Vec<&'static str> {
        match self.property {
            SeriesProperty::Amount(_) => vec!["TOTALS", "UNIQUES", "PROPSUM"],
            _ => vec!["TOTALS", "UNIQUES"],
        }
    }
}

/// A random formula; metric and series choices are resolved against the series list.
#[derive(Debug, Clone)]
enum F {
    Number(f64),
    Metric(usize, usize),
    /// 0: ROLLAVG, 1: CUMSUM, 2: ROLLWIN; then metric, series, window.
    Aggregate(u8, usize, usize, usize),
    Negate(Box<F>),
    Binary(char, Box<F>, Box<F>),
    Call(&'static str, Vec<F>),
}

fn formula_strategy() -> impl Strategy<Value = F> {
    let leaf = prop_oneof![
        1 => prop::sample::select(vec![0.0, 0.5, 1.0, 2.0, 3.0, 700.0, 701.0]).prop_map(F::Number),
        3 => (0..9usize, 0..3usize).prop_map(|(m, s)| F::Metric(m, s)),
        1 => (0..3u8, 0..9usize, 0..3usize, 1..4usize)
            .prop_map(|(k, m, s, n)| F::Aggregate(k, m, s, n)),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            1 => inner.clone().prop_map(|f| F::Negate(Box::new(f))),
            4 => (prop::sample::select(vec!['+', '-', '*', '/']), inner.clone(), inner.clone())
                .prop_map(|(op, a, b)| F::Binary(op, Box::new(a), Box::new(b))),
            1 => (prop::sample::select(vec!["EXP", "LN", "LOG", "LOG10", "SQRT", "TRENDLINE"]), inner.clone())
                .prop_map(|(f, a)| F::Call(f, vec![a])),
            1 => (prop::sample::select(vec!["LOG", "POWER"]), inner.clone(), inner)
                .prop_map(|(f, a, b)| F::Call(f, vec![a, b])),
        ]
    })
}

fn precedence(f: &F) -> u8 {
    match f {
        F::Binary('+' | '-', ..) => 1,
        F::Binary(..) => 2,
        F::Negate(_) => 3,
        _ => 4,
    }
}

/// The metric (name) and series (index) a choice resolves to.
/// `aggregate`: `None` for a plain metric, else the aggregation's kind (see [`F::Aggregate`]).
fn resolve(series: &[Series], m: usize, s: usize, aggregate: Option<u8>) -> (&'static str, usize) {
    let s = s % series.len();
    let metrics = match aggregate {
        None => series[s].metrics(),
        // `ARPAU` and the percentiles are calls, not metric names an aggregation takes.
        Some(0) => series[s]
            .metrics()
            .into_iter()
            .filter(|&m| !matches!(m, "ARPAU" | "PERCENTILE" | "FREQPERCENTILE"))
            .collect(),
        Some(_) => series[s].windowable(),
    };
    (metrics[m % metrics.len()], s)
}

/// The formula's text: names in `lower` case or upper, parentheses only where precedence needs them.
fn render(f: &F, series: &[Series], lower: bool) -> String {
    let case = |name: &str| {
        if lower {
            name.to_ascii_lowercase()
        } else {
            name.to_owned()
        }
    };
    let letter = |s: usize| char::from(b'A' + s as u8).to_string();
    let wrap = |child: &F, min: u8| {
        let text = render(child, series, lower);
        if precedence(child) < min {
            format!("({text})")
        } else {
            text
        }
    };
    match f {
        F::Number(n) => n.to_string(),
        F::Metric(m, s) => {
            let (name, s) = resolve(series, *m, *s, None);
            match name {
                "PERCENTILE" | "FREQPERCENTILE" => {
                    format!("{}({}, {PERCENTILE})", case(name), case(&letter(s)))
                }
                _ => format!("{}({})", case(name), case(&letter(s))),
            }
        }
        F::Aggregate(kind, m, s, n) => {
            let (name, s) = resolve(series, *m, *s, Some(*kind));
            match kind {
                0 => format!("{}({}, {}, {n})", case("ROLLAVG"), case(name), letter(s)),
                1 => format!("{}({},{})", case("CUMSUM"), case(name), letter(s)),
                _ => format!(
                    "{}( {} , {} , {n} )",
                    case("ROLLWIN"),
                    case(name),
                    letter(s)
                ),
            }
        }
        F::Negate(a) => format!("-{}", wrap(a, 3)),
        F::Binary(op, a, b) => {
            let p = precedence(f);
            format!("{} {op} {}", wrap(a, p), wrap(b, p + 1))
        }
        F::Call(name, args) => {
            let args: Vec<String> = args.iter().map(|a| render(a, series, lower)).collect();
            format!("{}({})", case(name), args.join(", "))
        }
    }
}

/// The percentile random formulas take, as written.
const PERCENTILE: f64 = 25.0;

/// [`PERCENTILE`] of `values`, linear between the nearest ranks; `None` without values.
fn linear_percentile(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let rank = PERCENTILE / 100.0 * values.len().checked_sub(1)? as f64;
    let (low, high) = (values[rank.floor() as usize], values[rank.ceil() as usize]);
    Some(low + (high - low) * rank.fract())
}

/// The persons of series `s` over points `from..=to`, counted once.
type WindowUniques<'a> = &'a dyn Fn(usize, usize, usize) -> Option<f64>;

/// The plain evaluation: per point, by the rules of `docs/query-api.md`.
fn reference_eval(
    f: &F,
    series: &[Series],
    metric: &dyn Fn(&str, usize) -> Vec<Option<f64>>,
    window_uniques: WindowUniques<'_>,
) -> Vec<Option<f64>> {
    let finite = |x: f64| x.is_finite().then_some(x);
    match f {
        F::Number(n) => {
            let points = metric("UNIQUES", 0).len();
            vec![Some(*n); points]
        }
        F::Metric(m, s) => {
            let (name, s) = resolve(series, *m, *s, None);
            metric(name, s)
        }
        F::Aggregate(kind, m, s, n) => {
            let (name, s) = resolve(series, *m, *s, Some(*kind));
            let values = metric(name, s);
            (0..values.len())
                .map(|p| {
                    let from = match kind {
                        1 => 0,
                        _ => (p + 1).saturating_sub(*n),
                    };
                    if *kind != 0 && name == "UNIQUES" {
                        return window_uniques(s, from, p);
                    }
                    let present: Vec<f64> = values[from..=p].iter().flatten().copied().collect();
                    if present.is_empty() {
                        return None;
                    }
                    let sum: f64 = present.iter().sum();
                    Some(if *kind == 0 {
                        sum / present.len() as f64
                    } else {
                        sum
                    })
                })
                .collect()
        }
        F::Negate(a) => reference_eval(a, series, metric, window_uniques)
            .into_iter()
            .map(|v| v.map(|x| -x))
            .collect(),
        F::Binary(op, a, b) => {
            let a = reference_eval(a, series, metric, window_uniques);
            let b = reference_eval(b, series, metric, window_uniques);
            a.into_iter()
                .zip(b)
                .map(|(x, y)| {
                    let (x, y) = (x?, y?);
                    finite(match op {
                        '+' => x + y,
                        '-' => x - y,
                        '*' => x * y,
                        _ if y == 0.0 => return None,
                        _ => x / y,
                    })
                })
                .collect()
        }
        F::Call("TRENDLINE", args) => {
            // Least squares over the defined (point, value) pairs, then the line at every point.
            let values = reference_eval(&args[0], series, metric, window_uniques);
            let pairs: Vec<(f64, f64)> = values
                .iter()
                .enumerate()
                .filter_map(|(p, v)| Some((p as f64, (*v)?)))
                .collect();
            if pairs.is_empty() {
                return vec![None; values.len()];
            }
            let n = pairs.len() as f64;
            let (sx, sy) = pairs
                .iter()
                .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
            let (sxx, sxy) = pairs
                .iter()
                .fold((0.0, 0.0), |(a, b), (x, y)| (a + x * x, b + x * y));
            let denominator = n * sxx - sx * sx;
            let slope = if denominator == 0.0 {
                0.0
            } else {
                (n * sxy - sx * sy) / denominator
            };
            let intercept = (sy - slope * sx) / n;
            (0..values.len())
                .map(|p| finite(intercept + slope * p as f64))
                .collect()
        }
        F::Call(name, args) => {
            let args: Vec<Vec<Option<f64>>> = args
                .iter()
                .map(|a| reference_eval(a, series, metric, window_uniques))
                .collect();
            (0..args[0].len())
                .map(|p| {
                    let x = args[0][p]?;
                    let y = match args.get(1) {
                        Some(b) => Some(b[p]?),
                        None => None,
                    };
                    finite(match (*name, y) {
                        ("EXP", _) if x > 700.0 => return None,
                        ("EXP", _) => x.exp(),
                        ("LN" | "LOG" | "LOG10", _) if x <= 0.0 => return None,
                        ("LN", _) => x.ln(),
                        ("LOG" | "LOG10", None) => x.log10(),
                        ("LOG", Some(b)) if b <= 0.0 || b == 1.0 => return None,
                        ("LOG", Some(b)) => x.ln() / b.ln(),
                        ("SQRT", _) if x < 0.0 => return None,
                        ("SQRT", _) => x.sqrt(),
                        ("POWER", Some(y)) => x.powf(y),
                        other => panic!("unknown call {other:?}"),
                    })
                })
                .collect()
        }
    }
}

fn event_strategy() -> impl Strategy<Value = TestEvent> {
    (
        0..(5 * 24i64),
        // Same-millisecond ties (0), and times just before an hour or half an hour past it.
        prop_oneof![3 => Just(0i64), 1 => Just(-1), 1 => Just(HOUR / 2)],
        prop::sample::select(vec!["A", "B", "$identify"]),
        0..5u8,
        prop::option::of(prop::sample::select(vec!["x", "y"])),
        prop::option::of(prop::sample::select(vec![0.5, 1.0, 2.0, 10.0, -3.0, 99.25])),
        (
            prop::sample::select(vec![Some("iOS"), Some("Web"), None]),
            prop::option::of(1..4i64),
        ),
    )
        .prop_map(
            |(hour, jitter, kind, user, category, amount, (platform, session))| {
                // 2025-03-07 .. 2025-03-11 UTC: crosses New York's DST change on 2025-03-09.
                let mut e = ev(
                    utc(2025, 3, 7, 0, 0, 0) + hour * HOUR + jitter,
                    kind,
                    &format!("u{user}"),
                );
                e.category = category.map(str::to_owned);
                e.amount = amount;
                e.platform = platform.map(str::to_owned);
                e.session = session;
                e
            },
        )
}

fn series_strategy() -> impl Strategy<Value = Series> {
    (
        prop::sample::select(vec!["A", "B", "_all"]),
        prop::option::of(prop::sample::select(vec!["x", "y"])),
        prop_oneof![
            Just(SeriesProperty::None),
            prop::sample::select(vec![
                "property_sum",
                "property_average",
                "property_min",
                "property_max",
                "property_median"
            ])
            .prop_map(SeriesProperty::Amount),
            Just(SeriesProperty::Category),
        ],
    )
        .prop_map(|(event, category, property)| Series {
            event,
            category,
            property,
        })
}

const ZONES: [&str; 3] = ["UTC", "Asia/Seoul", "America/New_York"];
const INTERVALS: [&str; 3] = ["hour", "day", "week"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn formulas_match_the_reference(
        events in prop::collection::vec(event_strategy(), 0..40),
        zone in 0..3usize,
        interval in 0..3usize,
        days in 1..4u64,
        series in prop::collection::vec(series_strategy(), 1..=3),
        formulas in prop::collection::vec((formula_strategy(), any::<bool>()), 1..=4),
        ios_segment in any::<bool>(),
    ) {
        let tz: Tz = ZONES[zone].parse().expect("zone");
        let from = NaiveDate::from_ymd_opt(2025, 3, 8).expect("date");
        let to = from + Days::new(days - 1);
        let interval_name = INTERVALS[interval];
        let texts: Vec<String> = formulas.iter().map(|(f, lower)| render(f, &series, *lower)).collect();
        let mut value = json!({
            "version": 1, "analysis": "segmentation",
            "date_range": {"from": from.to_string(), "to": to.to_string()},
            "time_zone": ZONES[zone], "interval": interval_name,
            "events": series.iter().map(Series::json).collect::<Vec<_>>(),
            "formulas": texts.iter().map(|t| json!({"formula": t})).collect::<Vec<_>>(),
        });
        if ios_segment {
            value["segments"] = json!([{"name": "iOS", "where": [
                {"kind": "field", "property": "platform", "op": "is", "values": ["iOS"]}]}]);
        }
        let result = run(&events, &value).expect("runs").remove(0);
        let point_of = |ms: i64| {
            let local = DateTime::from_timestamp_millis(ms).expect("time").with_timezone(&tz);
            let date = local.date_naive();
            if date < from || date > to {
                return None;
            }
            let wanted = label(ms, tz, interval_name);
            result.points.iter().position(|p| *p == wanted)
        };
        let counts = |e: &TestEvent| !ios_segment || e.platform.as_deref() == Some("iOS");
        let points = result.points.len();
        let metric = |name: &str, s: usize| -> Vec<Option<f64>> {
            let one = &series[s];
            let measure = |measure: &str| {
                segmentation_measure(&events, points, &point_of, &counts, &RefSeries {
                    event: one.event.to_owned(),
                    measure: measure.to_owned(),
                    category: one.category.map(str::to_owned),
                    buckets: Vec::new(),
                })
                .values
            };
            match name {
                "UNIQUES" => measure("uniques"),
                "TOTALS" => measure("totals"),
                "AVG" => measure("average"),
                "ACTIVE" => {
                    // Uniques ÷ the persons who did any counted event in the point.
                    let uniques = measure("uniques");
                    (0..points)
                        .map(|p| {
                            let active: BTreeSet<&str> = events
                                .iter()
                                .filter(|e| counts(e) && point_of(e.ts) == Some(p))
                                .filter(|e| e.event_type != "$identify")
                                .map(TestEvent::person)
                                .collect();
                            (!active.is_empty()).then(|| uniques[p].unwrap_or(0.0) / active.len() as f64)
                        })
                        .collect()
                }
                "PROPSUM" | "REVENUETOTAL" => measure("property_sum"),
                "SESSIONTOTALS" | "FREQPERCENTILE" | "PROPCOUNTAVG" | "PERCENTILE" => (0..points)
                    .map(|p| {
                        let selected: Vec<&TestEvent> = events
                            .iter()
                            .filter(|e| counts(e) && point_of(e.ts) == Some(p))
                            .filter(|e| match one.event {
                                "_all" => e.event_type != "$identify",
                                name => e.event_type == name,
                            })
                            .filter(|e| one.category.is_none() || e.category.as_deref() == one.category)
                            .collect();
                        if name == "PERCENTILE" {
                            // Linear between the nearest ranks of the point's sorted amounts.
                            let amounts: Vec<f64> = selected.iter().filter_map(|e| e.amount).collect();
                            return linear_percentile(amounts);
                        }
                        if name == "PROPCOUNTAVG" {
                            let pairs: BTreeSet<(&str, &String)> = selected
                                .iter()
                                .filter_map(|e| Some((e.person(), e.category.as_ref()?)))
                                .collect();
                            let persons: BTreeSet<&str> = pairs.iter().map(|(p, _)| *p).collect();
                            return (!persons.is_empty())
                                .then(|| pairs.len() as f64 / persons.len() as f64);
                        }
                        if name == "SESSIONTOTALS" {
                            let sessions: BTreeSet<i64> =
                                selected.iter().filter_map(|e| e.session).collect();
                            return Some(sessions.len() as f64);
                        }
                        let mut per_person: std::collections::BTreeMap<&str, f64> =
                            std::collections::BTreeMap::new();
                        for e in &selected {
                            *per_person.entry(e.person()).or_default() += 1.0;
                        }
                        linear_percentile(per_person.into_values().collect())
                    })
                    .collect(),
                "ARPAU" => {
                    // The property's sum ÷ the persons who did any counted event in the point.
                    let sum = measure("property_sum");
                    (0..points)
                        .map(|p| {
                            let active: BTreeSet<&str> = events
                                .iter()
                                .filter(|e| counts(e) && point_of(e.ts) == Some(p))
                                .filter(|e| e.event_type != "$identify")
                                .map(TestEvent::person)
                                .collect();
                            (!active.is_empty()).then(|| sum[p].unwrap_or(0.0) / active.len() as f64)
                        })
                        .collect()
                }
                "PROPAVG" => measure("property_average"),
                "PROPMIN" => measure("property_min"),
                "PROPMAX" => measure("property_max"),
                "PROPCOUNT" => measure("property_distinct_count"),
                other => panic!("unknown metric {other}"),
            }
        };
        // A window's persons: the uniques of one point that is the whole window.
        let window_uniques = |s: usize, from: usize, to: usize| -> Option<f64> {
            let one = &series[s];
            let in_window = |ms: i64| point_of(ms).filter(|p| (from..=to).contains(p)).map(|_| 0);
            segmentation_measure(&events, 1, &in_window, &counts, &RefSeries {
                event: one.event.to_owned(),
                measure: "uniques".to_owned(),
                category: one.category.map(str::to_owned),
                buckets: Vec::new(),
            })
            .values[0]
        };
        for (i, ((f, _), text)) in formulas.iter().zip(&texts).enumerate() {
            let want = reference_eval(f, &series, &metric, &window_uniques);
            let got = &result.formulas[i].values;
            prop_assert!(
                got.len() == want.len() && got.iter().zip(&want).all(|(a, b)| close(*a, *b)),
                "formula {} {:?}: engine {:?}, reference {:?}", i, text, got, want
            );
        }
    }
}
