//! Hand-computed time to convert: each counted person measured on their counted path, each step
//! at the earliest instant that path's entry reached it.

use serde_json::json;
use sluice_query::result::{ConversionBucket, FunnelResult, StepTime, TimeToConvert};
use sluice_query::spec::QuerySpec;
use sluice_query::{render_csv, render_table};

use crate::support::{TestEvent, ev, funnel_spec, overall, run, utc, write_dataset};

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;

fn t() -> i64 {
    utc(2025, 1, 10, 10, 0, 0)
}

/// Five persons through Search → View → Buy with a one-day window.
fn events() -> Vec<TestEvent> {
    let t = t();
    vec![
        // u1: 30 s to View, 4m 30s more to Buy.
        ev(t, "Search", "u1"),
        ev(t + 30 * SECOND, "View", "u1"),
        ev(t + 5 * MINUTE, "Buy", "u1"),
        // u2: a second Search does not restart the clock: View 20 s after the entry.
        ev(t, "Search", "u2"),
        ev(t + 10 * SECOND, "Search", "u2"),
        ev(t + 20 * SECOND, "View", "u2"),
        // u3: 2 h to View, 1 h more to Buy.
        ev(t, "Search", "u3"),
        ev(t + 2 * HOUR, "View", "u3"),
        ev(t + 3 * HOUR, "Buy", "u3"),
        // u4 never gets past step 1.
        ev(t, "Search", "u4"),
        // u5's first entry stops at View (Buy falls outside its window); the counted entry is
        // the second, which converts in 1 min + 1 min.
        ev(t, "Search", "u5"),
        ev(t + HOUR, "View", "u5"),
        ev(t + 30 * HOUR, "Search", "u5"),
        ev(t + 30 * HOUR + MINUTE, "View", "u5"),
        ev(t + 30 * HOUR + 2 * MINUTE, "Buy", "u5"),
    ]
}

fn funnel(events: &[TestEvent], steps: &[&str], extra: serde_json::Value) -> FunnelResult {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), events, 2);
    let mut fields = json!({"conversion_window": {"value": 1, "unit": "day"}});
    if let (Some(fields), serde_json::Value::Object(extra)) = (fields.as_object_mut(), extra) {
        fields.extend(extra);
    }
    let spec = funnel_spec(steps, "2025-01-10", "2025-01-11", fields);
    run(dir.path(), &spec).expect("runs")
}

fn times(result: &FunnelResult) -> &TimeToConvert {
    result.time_to_convert.as_ref().expect("time to convert")
}

fn bucket(from_ms: i64, to_ms: Option<i64>, persons: u64) -> ConversionBucket {
    ConversionBucket {
        from_ms: from_ms as u64,
        to_ms: to_ms.map(|to| to as u64),
        persons,
    }
}

#[test]
fn first_to_last_step_on_the_counted_paths() {
    let result = funnel(
        &events(),
        &["Search", "View", "Buy"],
        json!({"time_to_convert": {}}),
    );
    assert_eq!(overall(&result), [5, 4, 3]);
    let times = times(&result);
    assert_eq!((times.from_step, times.to_step), (1, 3));
    // u5 2 min, u1 5 min, u3 3 h.
    assert_eq!(times.persons, 3);
    assert_eq!(times.median_ms, Some((5 * MINUTE) as f64));
    assert_eq!(times.average_ms, Some((3 * HOUR + 7 * MINUTE) as f64 / 3.0));
    // Default buckets inside a one-day window: 0, 1 s, 10 s, 1 min, 10 min, 1 h, 1 day.
    assert_eq!(
        times.histogram,
        [
            bucket(0, Some(SECOND), 0),
            bucket(SECOND, Some(10 * SECOND), 0),
            bucket(10 * SECOND, Some(MINUTE), 0),
            bucket(MINUTE, Some(10 * MINUTE), 2),
            bucket(10 * MINUTE, Some(HOUR), 0),
            bucket(HOUR, Some(24 * HOUR), 1),
            bucket(24 * HOUR, None, 0),
        ]
    );
    // View: u1 30 s, u2 20 s, u3 2 h, u5 1 min; Buy after View: u1 4m 30s, u3 1 h, u5 1 min.
    assert_eq!(
        times.steps,
        [
            StepTime {
                step: 2,
                persons: 4,
                average_ms: Some((2 * HOUR + 110 * SECOND) as f64 / 4.0),
            },
            StepTime {
                step: 3,
                persons: 3,
                average_ms: Some((HOUR + 330 * SECOND) as f64 / 3.0),
            },
        ]
    );
}

#[test]
fn chosen_steps_and_buckets() {
    let result = funnel(
        &events(),
        &["Search", "View", "Buy"],
        json!({"time_to_convert": {"from_step": 2, "to_step": 3, "buckets_ms": [0, 120_000]}}),
    );
    let times = times(&result);
    // View → Buy: u5 1 min, u1 4m 30s, u3 1 h.
    assert_eq!(times.persons, 3);
    assert_eq!(times.median_ms, Some(270_000.0));
    assert_eq!(
        times.histogram,
        [bucket(0, Some(120_000), 1), bucket(120_000, None, 2)]
    );
}

#[test]
fn an_even_count_takes_the_mean_of_the_middle_two() {
    let result = funnel(
        &events(),
        &["Search", "View"],
        json!({"time_to_convert": {}}),
    );
    // 20 s, 30 s, 1 h, 2 h: u5's counted entry is now its first (both entries reach View, the
    // earliest counts), which took 1 h.
    let times = times(&result);
    assert_eq!(times.persons, 4);
    assert_eq!(times.median_ms, Some((30 * SECOND + HOUR) as f64 / 2.0));
}

#[test]
fn any_order_reaches_a_step_once_every_step_before_it_is_done() {
    let t = t();
    let events = [
        ev(t, "Search", "u6"),
        ev(t + 10 * SECOND, "Buy", "u6"),
        ev(t + 50 * SECOND, "View", "u6"),
    ];
    let steps = ["Search", "View", "Buy"];
    let result = funnel(
        &events,
        &steps,
        json!({"order": "any", "time_to_convert": {}}),
    );
    assert_eq!(overall(&result), [1, 1, 1]);
    let times = times(&result);
    // View at 50 s completes both later steps at once.
    assert_eq!(times.median_ms, Some(50_000.0));
    assert_eq!(times.steps[0].average_ms, Some(50_000.0));
    assert_eq!(times.steps[1].average_ms, Some(0.0));
    // In this order the Buy before the View does not count.
    let ordered = funnel(&events, &steps, json!({"time_to_convert": {}}));
    assert_eq!(overall(&ordered), [1, 1, 0]);
    assert_eq!(self::times(&ordered).persons, 0);
    assert_eq!(self::times(&ordered).median_ms, None);
}

#[test]
fn with_an_exclusion_a_step_is_reached_by_the_first_valid_prefix() {
    let t = t();
    let events = [
        ev(t, "Search", "u7"),
        ev(t + 10 * SECOND, "View", "u7"),
        ev(t + 20 * SECOND, "Refund", "u7"),
        ev(t + 30 * SECOND, "View", "u7"),
        ev(t + 40 * SECOND, "Buy", "u7"),
    ];
    let exclusion = json!([{"event_type": "Refund", "between": [2, 3]}]);
    let result = funnel(
        &events,
        &["Search", "View", "Buy"],
        json!({"exclusions": exclusion, "time_to_convert": {}}),
    );
    assert_eq!(overall(&result), [1, 1, 1]);
    let times = times(&result);
    // View is reached at 10 s; Buy only through the View at 30 s, at 40 s.
    assert_eq!(times.median_ms, Some(40_000.0));
    assert_eq!(times.steps[0].average_ms, Some(10_000.0));
    assert_eq!(times.steps[1].average_ms, Some(30_000.0));
}

#[test]
fn an_empty_dataset_answers_zero_persons_and_no_median() {
    let result = funnel(&[], &["Search", "View"], json!({"time_to_convert": {}}));
    let times = times(&result);
    assert_eq!(times.persons, 0);
    assert_eq!((times.median_ms, times.average_ms), (None, None));
    assert_eq!(times.steps[0].persons, 0);
    assert!(times.histogram.iter().all(|b| b.persons == 0));
}

#[test]
fn table_and_csv_show_the_times() {
    let result = funnel(
        &events(),
        &["Search", "View", "Buy"],
        json!({"time_to_convert": {}}),
    );
    let wrapped = sluice_query::QueryResult::Funnel(result);
    let table = render_table(&wrapped);
    assert!(
        table.contains("Time to convert, step 1 → step 3: 3 persons, median 5m 0s, average 1h 2m"),
        "{table}"
    );
    assert!(table.contains("1m 0s to 10m 0s"), "{table}");
    assert!(table.contains("2. View"), "{table}");
    let csv = render_csv(&wrapped);
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .is_some_and(|h| h.ends_with(",average_ms_from_previous")),
        "{csv}"
    );
    assert_eq!(lines.next().map(|l| l.ends_with(',')), Some(true), "{csv}");
    assert!(
        lines.next().is_some_and(|l| l.ends_with(",1827500")),
        "{csv}"
    );
}

fn refused(extra: serde_json::Value) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec: QuerySpec = funnel_spec(
        &["Search", "View", "Buy"],
        "2025-01-10",
        "2025-01-10",
        extra,
    );
    run(dir.path(), &spec).expect_err("refused").to_string()
}

#[test]
fn bad_requests_are_refused_with_the_field_named() {
    let message = refused(json!({"time_to_convert": {"from_step": 3, "to_step": 2}}));
    assert!(message.contains("time_to_convert"), "{message}");
    let message = refused(json!({"time_to_convert": {"to_step": 4}}));
    assert!(message.contains("<= 3"), "{message}");
    let message = refused(json!({"time_to_convert": {"buckets_ms": [1, 5]}}));
    assert!(
        message.contains("buckets_ms: the first bound must be 0"),
        "{message}"
    );
    let message = refused(json!({"time_to_convert": {"buckets_ms": [0, 5, 5]}}));
    assert!(message.contains("strictly increasing"), "{message}");
    let message = refused(json!({"time_to_convert": {}, "strict": ["strict_increase"]}));
    assert!(
        message.contains("time_to_convert cannot be combined with strict"),
        "{message}"
    );
}
