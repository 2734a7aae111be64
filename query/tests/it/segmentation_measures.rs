//! Segmentation measures (active %, average, frequency, property measures): the engine against
//! the plain reference in `reference.rs` on random datasets, plus hand-computed cases and the
//! spec errors.

use std::sync::Arc;

use arrow::array::{BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{DateTime, Days, NaiveDate};
use chrono_tz::Tz;
use parquet::arrow::ArrowWriter;
use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_query::result::{QueryResult, SegmentationResult};
use sluice_query::{QueryError, QuerySpec};

use crate::reference::{RefSeries, segmentation_measure};
use crate::segmentation::label;
use crate::support::{FileShape, TestEvent, batch, ev, partition, run_any, utc, write_dataset};

const HOUR: i64 = 3_600_000;
const ZONES: [&str; 3] = ["UTC", "Asia/Seoul", "America/New_York"];
const INTERVALS: [&str; 4] = ["hour", "day", "week", "month"];
const MEASURES: [&str; 11] = [
    "uniques",
    "totals",
    "active_percent",
    "average",
    "frequency",
    "property_sum",
    "property_average",
    "property_min",
    "property_max",
    "property_median",
    "property_distinct_count",
];

/// Runs `value` over `events` and returns the segmentation (of the only segment, if any).
pub(crate) fn answer(
    events: &[TestEvent],
    value: &Value,
) -> Result<SegmentationResult, QueryError> {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), events, 2);
    let spec = QuerySpec::from_json(&value.to_string())?;
    match run_any(dir.path(), &spec)? {
        QueryResult::Segmentation(result) => Ok(result),
        QueryResult::Segments(mut compared) => match compared.segments.remove(0).result {
            QueryResult::Segmentation(result) => Ok(result),
            other => panic!("not a segmentation: {other:?}"),
        },
        other => panic!("not a segmentation: {other:?}"),
    }
}

fn event_strategy() -> impl Strategy<Value = TestEvent> {
    (
        0..(6 * 24i64),
        prop_oneof![3 => Just(0i64), 1 => Just(-1), 1 => Just(HOUR / 2)],
        prop::sample::select(vec!["A", "B", "$identify"]),
        0..5u8,
        prop::option::of(prop::sample::select(vec!["x", "y", "z"])),
        prop::option::of(prop::sample::select(vec![0.5, 1.0, 2.0, 10.0, -3.0, 99.25])),
        prop::sample::select(vec![Some("iOS"), Some("Web"), None]),
        prop_oneof![6 => Just("p1"), 1 => Just("p2")],
    )
        .prop_map(
            |(hour, jitter, kind, user, category, amount, platform, project)| {
                // 2025-03-05 .. 2025-03-11 UTC: crosses New York's DST change on 2025-03-09.
                let mut e = ev(
                    utc(2025, 3, 5, 0, 0, 0) + hour * HOUR + jitter,
                    kind,
                    &format!("u{user}"),
                );
                e.category = category.map(str::to_owned);
                e.amount = amount;
                e.platform = platform.map(str::to_owned);
                e.project = project.to_owned();
                e
            },
        )
}

fn series_strategy() -> impl Strategy<Value = RefSeries> {
    (
        prop::sample::select(vec!["A", "B", "_all"]),
        0..MEASURES.len(),
        prop::option::of(prop::sample::select(vec!["x", "y"])),
        prop_oneof![
            Just(vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
            Just(vec![1, 3]),
            Just(vec![2, 3, 5]),
        ],
    )
        .prop_map(|(event, measure, category, buckets)| {
            let measure = MEASURES[measure].to_owned();
            RefSeries {
                buckets: if measure == "frequency" {
                    buckets
                } else {
                    Vec::new()
                },
                event: event.to_owned(),
                measure,
                category: category.map(str::to_owned),
            }
        })
}

/// The series as the spec writes it.
pub(crate) fn series_json(series: &RefSeries) -> Value {
    let mut value = json!({"event_type": series.event, "measure": series.measure});
    if series.measure == "property_distinct_count" {
        value["property"] = json!({"kind": "event", "property": "category"});
    } else if series.measure.starts_with("property_") {
        value["property"] = json!({"kind": "event", "property": "amount"});
    }
    if series.measure == "frequency" {
        value["frequency_buckets"] = json!(series.buckets);
    }
    if let Some(category) = &series.category {
        value["where"] = json!([{"kind": "event", "property": "category", "op": "is",
                                 "values": [category]}]);
    }
    value
}

pub(crate) fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
        (None, None) => true,
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn measures_match_the_reference(
        events in prop::collection::vec(event_strategy(), 0..50),
        zone in 0..3usize,
        interval in 0..4usize,
        from_day in 0..3u64,
        days in 1..5u64,
        series in prop::collection::vec(series_strategy(), 1..=3),
        project_filter in any::<bool>(),
        ios_segment in any::<bool>(),
    ) {
        let tz: Tz = ZONES[zone].parse().expect("zone");
        let from = NaiveDate::from_ymd_opt(2025, 3, 5).expect("date") + Days::new(from_day);
        let to = from + Days::new(days - 1);
        let interval_name = INTERVALS[interval];
        let mut value = json!({
            "version": 1, "analysis": "segmentation",
            "date_range": {"from": from.to_string(), "to": to.to_string()},
            "time_zone": ZONES[zone], "interval": interval_name,
            "events": series.iter().map(series_json).collect::<Vec<_>>(),
        });
        if project_filter {
            value["project"] = json!("p1");
        }
        if ios_segment {
            value["segments"] = json!([{"name": "iOS", "where": [
                {"kind": "field", "property": "platform", "op": "is", "values": ["iOS"]}]}]);
        }
        let result = answer(&events, &value).expect("runs");
        let point_of = |ms: i64| {
            let local = DateTime::from_timestamp_millis(ms).expect("time").with_timezone(&tz);
            let date = local.date_naive();
            if date < from || date > to {
                return None;
            }
            let wanted = label(ms, tz, interval_name);
            result.points.iter().position(|p| *p == wanted)
        };
        let counts = |e: &TestEvent| {
            (!project_filter || e.project == "p1")
                && (!ios_segment || e.platform.as_deref() == Some("iOS"))
        };
        for (s, one) in series.iter().enumerate() {
            let want = segmentation_measure(&events, result.points.len(), &point_of, &counts, one);
            let got = &result.series[s];
            prop_assert!(
                got.values.len() == want.values.len()
                    && got.values.iter().zip(&want.values).all(|(a, b)| close(*a, *b)),
                "series {} {:?}: engine {:?}, reference {:?}", s, one, got.values, want.values
            );
            let buckets: Vec<Vec<u64>> = got.frequency.iter().map(|b| b.persons.clone()).collect();
            prop_assert_eq!(&buckets, &want.frequency, "frequency of series {} {:?}", s, one);
            if one.measure == "frequency" {
                let in_range: Vec<u64> = got.frequency.iter().map(|b| b.in_range).collect();
                prop_assert_eq!(&in_range, &want.in_range, "range frequency of series {} {:?}", s, one);
            }
        }
    }
}

/// One day in UTC of the given series over `events`.
fn one_day(events: &[TestEvent], series: Value) -> SegmentationResult {
    answer(
        events,
        &json!({"version": 1, "analysis": "segmentation",
                "date_range": {"from": "2025-01-10", "to": "2025-01-11"},
                "events": series}),
    )
    .expect("runs")
}

#[test]
fn hand_computed_measures() {
    let t = utc(2025, 1, 10, 9, 0, 0);
    let next = utc(2025, 1, 11, 9, 0, 0);
    let events = [
        // Jan 10: u1 buys 3 times (10, 20, no amount), u2 once (5), u3 only views, u4 identifies.
        ev(t, "Buy", "u1").amount(10.0).category("a"),
        ev(t + 1, "Buy", "u1").amount(20.0).category("b"),
        ev(t + 2, "Buy", "u1").category("a"),
        ev(t + 3, "Buy", "u2").amount(5.0),
        ev(t + 4, "View", "u3"),
        ev(t + 5, "$identify", "u4"),
        // Jan 11: only a view.
        ev(next, "View", "u1"),
    ];
    let prop = json!({"kind": "event", "property": "amount"});
    let result = one_day(
        &events,
        json!([
            {"event_type": "Buy", "measure": "active_percent"},
            {"event_type": "Buy", "measure": "average"},
            {"event_type": "Buy", "measure": "property_sum", "property": prop},
            {"event_type": "Buy", "measure": "property_average", "property": prop},
            {"event_type": "Buy", "measure": "property_min", "property": prop},
            {"event_type": "Buy", "measure": "property_max", "property": prop},
            {"event_type": "Buy", "measure": "property_median", "property": prop},
            {"event_type": "Buy", "measure": "property_distinct_count",
             "property": {"kind": "event", "property": "category"}},
            {"event_type": "Buy", "measure": "frequency", "frequency_buckets": [1, 2, 4]},
        ]),
    );
    let values: Vec<Vec<Option<f64>>> = result.series.iter().map(|s| s.values.clone()).collect();
    assert_eq!(
        values,
        [
            // 2 of 3 active persons (u4's identify is not activity); nobody active buys on the 11th.
            vec![Some(200.0 / 3.0), Some(0.0)],
            vec![Some(2.0), None],
            vec![Some(35.0), Some(0.0)],
            vec![Some(35.0 / 3.0), None],
            vec![Some(5.0), None],
            vec![Some(20.0), None],
            vec![Some(10.0), None],
            vec![Some(2.0), Some(0.0)],
            vec![Some(2.0), Some(0.0)],
        ]
    );
    let frequency = &result.series[8].frequency;
    let labels: Vec<&str> = frequency.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(labels, ["1", "2-3", "4+"]);
    let persons: Vec<&[u64]> = frequency.iter().map(|b| b.persons.as_slice()).collect();
    assert_eq!(persons, [&[1, 0][..], &[1, 0], &[0, 0]]);
    let in_range: Vec<u64> = frequency.iter().map(|b| b.in_range).collect();
    assert_eq!(in_range, [1, 1, 0]);
}

#[test]
fn typed_integer_boolean_and_text_properties() {
    // Typed columns as a tracking plan makes them: integer, boolean, text that may hold numbers.
    let t = utc(2025, 1, 10, 9, 0, 0);
    let events = [
        ev(t, "Buy", "u1"),
        ev(t + 1, "Buy", "u2"),
        ev(t + 2, "Buy", "u3"),
    ];
    let base = batch(&events, FileShape::default());
    let mut fields: Vec<Field> = base
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns = base.columns().to_vec();
    fields.push(Field::new("ep:quantity", DataType::Int64, true));
    columns.push(Arc::new(Int64Array::from(vec![Some(2), Some(5), None])));
    fields.push(Field::new("ep:gift", DataType::Boolean, true));
    columns.push(Arc::new(BooleanArray::from(vec![true, false, true])));
    fields.push(Field::new("ep:note", DataType::Utf8, true));
    columns.push(Arc::new(StringArray::from(vec![
        Some("7.5"),
        Some("n/a"),
        None,
    ])));
    let file = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("batch");
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = partition(dir.path(), t, chrono_tz::UTC);
    std::fs::create_dir_all(&folder).expect("mkdir");
    let mut writer = ArrowWriter::try_new(
        std::fs::File::create(folder.join("part-0.parquet")).expect("create"),
        file.schema(),
        None,
    )
    .expect("writer");
    writer.write(&file).expect("write");
    writer.close().expect("close");

    let property = |name: &str| json!({"kind": "event", "property": name});
    let spec = json!({"version": 1, "analysis": "segmentation",
    "date_range": {"from": "2025-01-10", "to": "2025-01-10"},
    "events": [
        {"event_type": "Buy", "measure": "property_sum", "property": property("quantity")},
        {"event_type": "Buy", "measure": "property_median", "property": property("quantity")},
        {"event_type": "Buy", "measure": "property_distinct_count",
         "property": property("quantity")},
        {"event_type": "Buy", "measure": "property_distinct_count", "property": property("gift")},
        {"event_type": "Buy", "measure": "property_sum", "property": property("gift")},
        {"event_type": "Buy", "measure": "property_max", "property": property("note")},
        {"event_type": "Buy", "measure": "property_distinct_count", "property": property("note")},
    ]});
    let spec = QuerySpec::from_json(&spec.to_string()).expect("spec");
    let QueryResult::Segmentation(result) = run_any(dir.path(), &spec).expect("runs") else {
        panic!("not a segmentation");
    };
    let values: Vec<Option<f64>> = result.series.iter().map(|s| s.values[0]).collect();
    // Booleans and text that is no number are left out of numeric measures, counted as
    // distinct values.
    assert_eq!(
        values,
        [7.0, 3.5, 2.0, 2.0, 0.0, 7.5, 2.0].map(Some),
        "{:?}",
        result.series
    );
}

#[test]
fn per_event_measures_with_a_where_and_a_segment() {
    // The series' predicate (with `IS TRUE` tests) is in the counter's mask; the values
    // aggregates read the same mask. Passing the predicate to them on its own made DataFusion
    // 55's common-subexpression elimination fail planning (nullable physically, not logically).
    let t = utc(2025, 1, 10, 9, 0, 0);
    let mut events = vec![
        ev(t, "Buy", "u1").amount(4.0).category("x"),
        ev(t + 1, "Buy", "u1").amount(6.0).category("x"),
        ev(t + 2, "Buy", "u2").amount(1.0).category("y"),
    ];
    for e in &mut events {
        e.platform = Some("iOS".to_owned());
    }
    let category = json!([{"kind": "event", "property": "category", "op": "is", "values": ["x"]}]);
    let result = answer(
        &events,
        &json!({"version": 1, "analysis": "segmentation",
        "date_range": {"from": "2025-01-10", "to": "2025-01-10"},
        "segments": [{"name": "iOS", "where": [
            {"kind": "field", "property": "platform", "op": "is", "values": ["iOS"]}]}],
        "events": [
            {"event_type": "Buy", "measure": "frequency", "frequency_buckets": [1, 2],
             "where": category},
            {"event_type": "Buy", "measure": "property_sum",
             "property": {"kind": "event", "property": "amount"}, "where": category},
            {"event_type": "Buy", "measure": "active_percent", "where": category},
        ]}),
    )
    .expect("runs");
    let persons: Vec<&[u64]> = result.series[0]
        .frequency
        .iter()
        .map(|b| b.persons.as_slice())
        .collect();
    assert_eq!(persons, [&[0][..], &[1]]);
    assert_eq!(result.series[1].values, [Some(10.0)]);
    assert_eq!(result.series[2].values, [Some(50.0)]);
}

#[test]
fn results_serialise_whole_numbers_without_a_fraction() {
    let t = utc(2025, 1, 10, 9, 0, 0);
    let events = [ev(t, "Buy", "u1").amount(2.5), ev(t, "Buy", "u2")];
    let result = one_day(
        &events,
        json!([{"event_type": "Buy"},
               {"event_type": "Buy", "measure": "property_average",
                "property": {"kind": "event", "property": "amount"}}]),
    );
    let text = serde_json::to_value(&result).expect("serialises");
    assert_eq!(text["series"][0]["values"], json!([2, 0]));
    assert_eq!(text["series"][1]["values"], json!([2.5, null]));
}

#[test]
fn bad_measure_specs_are_spec_errors() {
    let bad = |series: Value| {
        let error = answer(
            &[],
            &json!({"version": 1, "analysis": "segmentation",
                    "date_range": {"from": "2025-01-10", "to": "2025-01-10"},
                    "events": [series]}),
        )
        .expect_err("refused");
        assert!(matches!(error, QueryError::InvalidSpec(_)), "{error:?}");
        error.to_string()
    };
    let message = bad(json!({"event_type": "Buy", "measure": "property_sum"}));
    assert!(message.contains("events[0].property"), "{message}");
    assert!(message.contains("needs a property"), "{message}");
    let message = bad(json!({"event_type": "Buy", "measure": "uniques",
                             "property": {"kind": "event", "property": "amount"}}));
    assert!(message.contains("reads no property"), "{message}");
    let message = bad(json!({"event_type": "Buy", "measure": "property_max",
                             "property": {"kind": "field", "property": "nope"}}));
    assert!(message.contains("not a top-level event field"), "{message}");
    let message = bad(json!({"event_type": "Buy", "measure": "frequency",
                             "frequency_buckets": [1, 3, 3]}));
    assert!(message.contains("strictly increasing"), "{message}");
    let message = bad(json!({"event_type": "Buy", "measure": "frequency",
                             "frequency_buckets": [0, 3]}));
    assert!(message.contains("frequency_buckets"), "{message}");
    let message = bad(json!({"event_type": "Buy", "frequency_buckets": [1, 3]}));
    assert!(message.contains("only a frequency measure"), "{message}");
}
