//! Segmentation views (rolling average, rolling window, cumulative; amplitude.md §4.1): the
//! engine against the window reference in `reference.rs` on random datasets reaching before
//! the range, plus hand-computed cases and the spec errors.

use chrono::{DateTime, Datelike, Days, NaiveDate};
use chrono_tz::Tz;
use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_query::QueryError;
use sluice_query::result::SegmentationResult;

use crate::reference::{RefSeries, RefView, segmentation_view};
use crate::segmentation_measures::{answer, close, series_json};
use crate::support::{TestEvent, ev, utc};

const HOUR: i64 = 3_600_000;
const ZONES: [&str; 3] = ["UTC", "Asia/Seoul", "America/New_York"];
const INTERVALS: [&str; 4] = ["hour", "day", "week", "month"];
/// Every measure a view takes (frequency is refused).
const MEASURES: [&str; 10] = [
    "uniques",
    "totals",
    "active_percent",
    "average",
    "property_sum",
    "property_average",
    "property_min",
    "property_max",
    "property_median",
    "property_distinct_count",
];

/// Events from about ten weeks before 2025-03-05 to a few days after 2025-03-12 (the ranges
/// below lie in 2025-03-05 ..= 2025-03-11), most of them near the range, some at the same
/// millisecond, some a millisecond before an hour.
fn event_strategy() -> impl Strategy<Value = TestEvent> {
    (
        prop_oneof![
            4 => (-2 * 24i64)..(9 * 24),
            1 => (-75 * 24i64)..0,
        ],
        prop_oneof![3 => Just(0i64), 1 => Just(-1), 1 => Just(HOUR / 2)],
        prop::sample::select(vec!["A", "B", "$identify"]),
        0..5u8,
        prop::option::of(prop::sample::select(vec!["x", "y", "z"])),
        prop::option::of(prop::sample::select(vec![0.5, 1.0, 2.0, 10.0, -3.0, 99.25])),
        prop::sample::select(vec![Some("iOS"), Some("Web"), None]),
    )
        .prop_map(|(hour, jitter, kind, user, category, amount, platform)| {
            let mut e = ev(
                utc(2025, 3, 5, 0, 0, 0) + hour * HOUR + jitter,
                kind,
                &format!("u{user}"),
            );
            e.category = category.map(str::to_owned);
            e.amount = amount;
            e.platform = platform.map(str::to_owned);
            e
        })
}

fn series_strategy() -> impl Strategy<Value = RefSeries> {
    (
        prop::sample::select(vec!["A", "B", "_all"]),
        0..MEASURES.len(),
        prop::option::of(prop::sample::select(vec!["x", "y"])),
    )
        .prop_map(|(event, measure, category)| RefSeries {
            event: event.to_owned(),
            measure: MEASURES[measure].to_owned(),
            category: category.map(str::to_owned),
            buckets: Vec::new(),
        })
}

/// The local midnight starting `date` in `tz`.
fn midnight(date: NaiveDate, tz: Tz) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_local_timezone(tz)
        .earliest()
        .expect("no gap at midnight in these zones")
        .timestamp_millis()
}

/// The Monday starting `date`'s week.
fn monday(date: NaiveDate) -> NaiveDate {
    date - Days::new(u64::from(date.weekday().num_days_from_monday()))
}

/// The interval of instant `ms` counted from the one holding `from` (hours from the range's
/// midnight; calendar days, Monday weeks, months in `tz`).
fn interval_of(ms: i64, from: NaiveDate, tz: Tz, interval: &str) -> i64 {
    let date = DateTime::from_timestamp_millis(ms)
        .expect("time")
        .with_timezone(&tz)
        .date_naive();
    match interval {
        "hour" => (ms - midnight(from, tz)).div_euclid(HOUR),
        "day" => (date - from).num_days(),
        "week" => (monday(date) - monday(from)).num_days() / 7,
        _ => {
            i64::from(date.year() * 12 + date.month0() as i32)
                - i64::from(from.year() * 12 + from.month0() as i32)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn views_match_the_reference(
        events in prop::collection::vec(event_strategy(), 0..60),
        zone in 0..3usize,
        interval in 0..4usize,
        from_day in 0..3u64,
        days in 1..5u64,
        series in prop::collection::vec(series_strategy(), 1..=3),
        view in 0..3usize,
        window in 1..40i64,
        ios_segment in any::<bool>(),
    ) {
        let tz: Tz = ZONES[zone].parse().expect("zone");
        let from = NaiveDate::from_ymd_opt(2025, 3, 5).expect("date") + Days::new(from_day);
        let to = from + Days::new(days - 1);
        let interval_name = INTERVALS[interval];
        // A window up to the interval's limit, but short enough to reach data.
        let n = match interval_name {
            "hour" => window,
            "day" => 1 + window % 12,
            _ => 1 + window % 3,
        };
        let (view_json, ref_view) = match view {
            0 => (json!({"rolling_average": n}), RefView::RollingAverage(n)),
            1 => (json!({"rolling_window": n}), RefView::RollingWindow(n)),
            _ => (json!("cumulative"), RefView::Cumulative),
        };
        let mut value = json!({
            "version": 1, "analysis": "segmentation",
            "date_range": {"from": from.to_string(), "to": to.to_string()},
            "time_zone": ZONES[zone], "interval": interval_name, "view": view_json,
            "events": series.iter().map(series_json).collect::<Vec<_>>(),
        });
        if ios_segment {
            value["segments"] = json!([{"name": "iOS", "where": [
                {"kind": "field", "property": "platform", "op": "is", "values": ["iOS"]}]}]);
        }
        let result = answer(&events, &value).expect("runs");
        let range = (midnight(from, tz), midnight(to + Days::new(1), tz));
        let of = |ms: i64| interval_of(ms, from, tz, interval_name);
        let counts = |e: &TestEvent| !ios_segment || e.platform.as_deref() == Some("iOS");
        for (s, one) in series.iter().enumerate() {
            let want = segmentation_view(
                &events, result.points.len(), &of, range, &counts, one, ref_view,
            );
            let got = &result.series[s].values;
            prop_assert!(
                got.len() == want.len() && got.iter().zip(&want).all(|(a, b)| close(*a, *b)),
                "series {} {:?} {:?}: engine {:?}, reference {:?}", s, one, ref_view, got, want
            );
        }
    }
}

fn run(events: &[TestEvent], spec: Value) -> SegmentationResult {
    answer(events, &spec).expect("runs")
}

fn values(result: &SegmentationResult) -> Vec<Vec<Option<f64>>> {
    result.series.iter().map(|s| s.values.clone()).collect()
}

/// Seoul local time (UTC+9, no daylight saving) on a day of January 2025.
fn seoul(day: u32, hour: u32, minute: u32) -> i64 {
    utc(2025, 1, day, hour, minute, 0) - 9 * HOUR
}

/// Days in Seoul: u1 buys on Jan 8, 10 (00:30, still Jan 9 in UTC) and 11; u2 on Jan 9
/// (23:59) and 12; u3 only views on Jan 12; u4 buys on Jan 13 (after the range), u5 on Jan 7.
fn seoul_days() -> Vec<TestEvent> {
    vec![
        ev(seoul(7, 12, 0), "Buy", "u5").amount(100.0),
        ev(seoul(8, 10, 0), "Buy", "u1").amount(5.0),
        ev(seoul(9, 23, 59), "Buy", "u2").amount(10.0),
        ev(seoul(10, 0, 30), "Buy", "u1").amount(1.0),
        ev(seoul(11, 9, 0), "Buy", "u1").amount(2.0),
        ev(seoul(12, 12, 0), "View", "u3"),
        ev(seoul(12, 23, 30), "Buy", "u2").amount(4.0),
        ev(seoul(13, 0, 10), "Buy", "u4").amount(50.0),
    ]
}

fn seoul_spec(view: Value) -> Value {
    let amount = json!({"kind": "event", "property": "amount"});
    json!({"version": 1, "analysis": "segmentation", "time_zone": "Asia/Seoul",
    "date_range": {"from": "2025-01-10", "to": "2025-01-12"}, "view": view,
    "events": [
        {"event_type": "Buy"},
        {"event_type": "Buy", "measure": "totals"},
        {"event_type": "Buy", "measure": "active_percent"},
        {"event_type": "Buy", "measure": "average"},
        {"event_type": "Buy", "measure": "property_sum", "property": amount},
    ]})
}

#[test]
fn a_rolling_window_counts_a_person_once_and_reads_before_the_range() {
    let result = run(&seoul_days(), seoul_spec(json!({"rolling_window": 3})));
    assert_eq!(result.points, ["2025-01-10", "2025-01-11", "2025-01-12"]);
    // Jan 10: days 8-10 hold u1 twice and u2 once (the lead-in counts; u5 on the 7th not).
    // Jan 11: days 9-11, u1 on two days is one person. Jan 12: days 10-12, u3 active.
    assert_eq!(
        values(&result),
        [
            vec![Some(2.0), Some(2.0), Some(2.0)],
            vec![Some(3.0), Some(3.0), Some(3.0)],
            vec![Some(100.0), Some(100.0), Some(200.0 / 3.0)],
            vec![Some(1.5), Some(1.5), Some(1.5)],
            vec![Some(16.0), Some(13.0), Some(7.0)],
        ]
    );
}

#[test]
fn cumulative_counts_distinct_persons_from_the_range_start() {
    let result = run(&seoul_days(), seoul_spec(json!("cumulative")));
    assert_eq!(
        values(&result),
        [
            vec![Some(1.0), Some(1.0), Some(2.0)],
            vec![Some(1.0), Some(2.0), Some(3.0)],
            vec![Some(100.0), Some(100.0), Some(200.0 / 3.0)],
            vec![Some(1.0), Some(2.0), Some(1.5)],
            vec![Some(1.0), Some(3.0), Some(7.0)],
        ]
    );
}

#[test]
fn a_rolling_average_is_the_mean_of_the_last_points() {
    // Daily values, Jan 9 to 12: one buyer each day; active % 100, 100, 100, 50; amount 10,
    // 1, 2, 4.
    let result = run(&seoul_days(), seoul_spec(json!({"rolling_average": 2})));
    assert_eq!(
        values(&result),
        [
            vec![Some(1.0), Some(1.0), Some(1.0)],
            vec![Some(1.0), Some(1.0), Some(1.0)],
            vec![Some(100.0), Some(100.0), Some(75.0)],
            vec![Some(1.0), Some(1.0), Some(1.0)],
            vec![Some(5.5), Some(1.5), Some(3.0)],
        ]
    );
    // A ratio of nobody is left out of the mean: only Jan 10 defines an average here.
    let one = [ev(seoul(10, 8, 0), "Buy", "u1")];
    let mut spec = seoul_spec(json!({"rolling_average": 2}));
    spec["events"] = json!([{"event_type": "Buy", "measure": "average"}]);
    assert_eq!(values(&run(&one, spec)), [vec![Some(1.0), Some(1.0), None]]);
}

#[test]
fn weekly_windows_include_the_week_cut_by_the_range_start() {
    // The range starts on Wednesday 2025-01-08: its first week's Monday and Tuesday count in
    // a rolling window, and the week before it; the day after the range end does not.
    let events = [
        ev(utc(2024, 12, 29, 12, 0, 0), "Buy", "u3"),
        ev(utc(2024, 12, 31, 12, 0, 0), "Buy", "u2"),
        ev(utc(2025, 1, 6, 12, 0, 0), "Buy", "u1"),
        ev(utc(2025, 1, 9, 12, 0, 0), "Buy", "u1"),
        ev(utc(2025, 1, 14, 12, 0, 0), "Buy", "u4"),
        ev(utc(2025, 1, 22, 12, 0, 0), "Buy", "u1"),
    ];
    let spec = |view: Value| {
        json!({"version": 1, "analysis": "segmentation", "interval": "week",
               "date_range": {"from": "2025-01-08", "to": "2025-01-21"}, "view": view,
               "events": [{"event_type": "Buy"}, {"event_type": "Buy", "measure": "totals"}]})
    };
    let window = run(&events, spec(json!({"rolling_window": 2})));
    assert_eq!(window.points, ["2025-01-06", "2025-01-13", "2025-01-20"]);
    assert_eq!(
        values(&window),
        [
            vec![Some(2.0), Some(2.0), Some(1.0)],
            vec![Some(3.0), Some(3.0), Some(1.0)],
        ]
    );
    // The average's first point: the week of Dec 30 (1) and the range's first point (1).
    let average = run(&events, spec(json!({"rolling_average": 2})));
    assert_eq!(
        values(&average),
        [
            vec![Some(1.0), Some(1.0), Some(0.5)],
            vec![Some(1.0), Some(1.0), Some(0.5)],
        ]
    );
}

#[test]
fn monthly_windows_and_cumulative() {
    let events = [
        ev(utc(2025, 1, 20, 12, 0, 0), "Buy", "u1"),
        ev(utc(2025, 2, 3, 12, 0, 0), "Buy", "u2"),
        ev(utc(2025, 2, 20, 12, 0, 0), "Buy", "u1"),
        ev(utc(2025, 3, 5, 12, 0, 0), "Buy", "u3"),
        ev(utc(2025, 3, 10, 12, 0, 0), "Buy", "u1"),
    ];
    let spec = |view: Value| {
        json!({"version": 1, "analysis": "segmentation", "interval": "month",
               "date_range": {"from": "2025-02-15", "to": "2025-03-31"}, "view": view,
               "events": [{"event_type": "Buy"}, {"event_type": "Buy", "measure": "totals"}]})
    };
    // January and the whole of February; then February and March.
    let window = run(&events, spec(json!({"rolling_window": 2})));
    assert_eq!(
        values(&window),
        [vec![Some(2.0), Some(3.0)], vec![Some(3.0), Some(4.0)]]
    );
    // From Feb 15 only.
    let cumulative = run(&events, spec(json!("cumulative")));
    assert_eq!(
        values(&cumulative),
        [vec![Some(1.0), Some(2.0)], vec![Some(1.0), Some(3.0)]]
    );
    assert_eq!(
        cumulative.columns()[0].0,
        "Buy (uniques, cumulative)",
        "the header names the view"
    );
}

#[test]
fn bad_views_are_spec_errors() {
    let bad = |view: Value, measure: &str| {
        let error = answer(
            &[],
            &json!({"version": 1, "analysis": "segmentation",
                    "date_range": {"from": "2025-01-10", "to": "2025-01-10"},
                    "view": view, "events": [{"event_type": "Buy", "measure": measure}]}),
        )
        .expect_err("refused");
        assert!(matches!(error, QueryError::InvalidSpec(_)), "{error:?}");
        error.to_string()
    };
    let message = bad(json!({"rolling_window": 91}), "uniques");
    assert!(message.contains("view.rolling_window"), "{message}");
    assert!(message.contains("1 to 90 for interval day"), "{message}");
    let message = bad(json!({"rolling_average": 7}), "frequency");
    assert!(
        message.contains("events[0].measure: frequency"),
        "{message}"
    );
    assert!(message.contains("rolling_average"), "{message}");
    let message = bad(json!({"rolling_sum": 7}), "uniques");
    assert!(message.contains("rolling_sum"), "{message}");
}
