//! Hand-computed conversion over time: persons counted in the point of their counted entry, in
//! the project's time zone.

use serde_json::json;
use sluice_query::result::{FunnelResult, QueryResult};
use sluice_query::{render_csv, render_table};

use crate::support::{TestEvent, ev, funnel_spec, overall, run, utc, write_dataset};

/// Asia/Seoul is UTC+9: 15:00 UTC is midnight of the next local day.
fn events() -> Vec<TestEvent> {
    vec![
        // u1 enters at 23:30 on the 10th (local) and converts at 00:30 on the 11th: counted on
        // the 10th, where it entered.
        ev(utc(2025, 1, 10, 14, 30, 0), "Search", "u1"),
        ev(utc(2025, 1, 10, 15, 30, 0), "View", "u1"),
        // u2 enters at 00:30 on the 11th (local) and stops.
        ev(utc(2025, 1, 10, 15, 30, 0), "Search", "u2"),
        // u3 enters on the 10th without converting, then converts from an entry on the 11th:
        // counted once, on the 11th (the entry of its longest path).
        ev(utc(2025, 1, 10, 1, 0, 0), "Search", "u3"),
        ev(utc(2025, 1, 11, 2, 0, 0), "Search", "u3"),
        ev(utc(2025, 1, 11, 2, 30, 0), "View", "u3"),
        // u4 enters at 05:00 on the 10th (local), still the 9th in UTC.
        ev(utc(2025, 1, 9, 20, 0, 0), "Search", "u4"),
    ]
}

fn funnel(extra: serde_json::Value) -> FunnelResult {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), &events(), 2);
    let mut fields = json!({
        "time_zone": "Asia/Seoul",
        "conversion_window": {"value": 1, "unit": "hour"},
    });
    if let (Some(fields), serde_json::Value::Object(extra)) = (fields.as_object_mut(), extra) {
        fields.extend(extra);
    }
    let spec = funnel_spec(&["Search", "View"], "2025-01-10", "2025-01-11", fields);
    run(dir.path(), &spec).expect("runs")
}

fn points(result: &FunnelResult) -> Vec<(String, Vec<u64>)> {
    result
        .over_time
        .iter()
        .map(|p| (p.start.clone(), p.steps.iter().map(|s| s.persons).collect()))
        .collect()
}

#[test]
fn persons_are_counted_on_the_local_day_of_their_entry() {
    let result = funnel(json!({"interval": "day"}));
    assert_eq!(overall(&result), [4, 2]);
    assert_eq!(
        points(&result),
        [
            ("2025-01-10".to_owned(), vec![2, 1]),
            ("2025-01-11".to_owned(), vec![2, 1]),
        ]
    );
    assert_eq!(result.over_time[0].steps[1].conversion_from_first, 0.5);
    assert_eq!(result.over_time[1].steps[1].drop_off, 1);
}

#[test]
fn weeks_start_on_the_chosen_day_and_points_without_entries_are_zero() {
    // 2025-01-10 is a Friday: its week starts Monday the 6th, or Sunday the 5th.
    let result = funnel(json!({"interval": "week"}));
    assert_eq!(points(&result), [("2025-01-06".to_owned(), vec![4, 2])]);
    let result = funnel(json!({"interval": "week", "week_start": "sunday"}));
    assert_eq!(points(&result), [("2025-01-05".to_owned(), vec![4, 2])]);
    let result = funnel(json!({"interval": "hour"}));
    let hours = points(&result);
    assert_eq!(hours.len(), 48);
    assert_eq!(hours[5], ("2025-01-10T05:00".to_owned(), vec![1, 0]));
    assert_eq!(hours[23], ("2025-01-10T23:00".to_owned(), vec![1, 1]));
    assert_eq!(hours[1], ("2025-01-10T01:00".to_owned(), vec![0, 0]));
}

#[test]
fn without_an_interval_there_is_no_over_time_and_the_outputs_show_it_with_one() {
    assert!(funnel(json!({})).over_time.is_empty());
    let result = QueryResult::Funnel(funnel(json!({"interval": "day"})));
    let table = render_table(&result);
    assert!(table.contains("Conversion over time (by entry)"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("2025-01-11") && l.ends_with("50.0%")),
        "{table}"
    );
    let csv = render_csv(&result);
    assert!(
        csv.lines().next().is_some_and(|h| h.ends_with(",point")),
        "{csv}"
    );
    assert!(csv.contains("(all),2,View,1,0.5,0.5,1,2025-01-11"), "{csv}");
}

/// The events above with the entries' categories: u1 and u3 design, u2 translation, u4 none.
fn categorised() -> Vec<TestEvent> {
    events()
        .into_iter()
        .map(|e| match (e.event_type.as_str(), e.person()) {
            ("Search", "u1" | "u3") => e.category("design"),
            ("Search", "u2") => e.category("translation"),
            _ => e,
        })
        .collect()
}

fn grouped(extra: serde_json::Value) -> FunnelResult {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), &categorised(), 2);
    let mut fields = json!({
        "time_zone": "Asia/Seoul",
        "conversion_window": {"value": 1, "unit": "hour"},
        "interval": "day",
    });
    if let (Some(fields), serde_json::Value::Object(extra)) = (fields.as_object_mut(), extra) {
        fields.extend(extra);
    }
    let spec = funnel_spec(&["Search", "View"], "2025-01-10", "2025-01-11", fields);
    run(dir.path(), &spec).expect("runs")
}

fn row_points(row: &sluice_query::result::FunnelRow) -> Vec<(String, Vec<u64>)> {
    row.over_time
        .iter()
        .map(|p| (p.start.clone(), p.steps.iter().map(|s| s.persons).collect()))
        .collect()
}

#[test]
fn each_group_row_has_its_own_conversion_over_time() {
    let result = grouped(json!({"breakdown": {"kind": "event", "property": "category"}}));
    let day = |d: &str, counts: [u64; 2]| (d.to_owned(), counts.to_vec());
    // Rows: design (u1 on the 10th, u3 on the 11th, both convert), then (none) (u4) and
    // translation (u2), one entrant each.
    let rows: Vec<_> = result
        .by_breakdown
        .iter()
        .map(|row| (row.value.clone(), row_points(row)))
        .collect();
    assert_eq!(
        rows,
        [
            (
                Some("design".to_owned()),
                vec![day("2025-01-10", [1, 1]), day("2025-01-11", [1, 1])],
            ),
            (
                None,
                vec![day("2025-01-10", [1, 0]), day("2025-01-11", [0, 0])],
            ),
            (
                Some("translation".to_owned()),
                vec![day("2025-01-10", [0, 0]), day("2025-01-11", [1, 0])],
            ),
        ]
    );
    assert_eq!(
        points(&result),
        [day("2025-01-10", [2, 1]), day("2025-01-11", [2, 1])]
    );
}

#[test]
fn the_other_row_sums_the_groups_past_the_limit_per_point() {
    let result = grouped(json!({
        "group_by": [{"kind": "event", "property": "category"}],
        "group_limit": 1,
    }));
    let day = |d: &str, counts: [u64; 2]| (d.to_owned(), counts.to_vec());
    assert_eq!(result.by_breakdown.len(), 2);
    assert!(result.by_breakdown[1].other);
    assert_eq!(
        row_points(&result.by_breakdown[1]),
        [day("2025-01-10", [1, 0]), day("2025-01-11", [1, 0])]
    );
    let wrapped = QueryResult::Funnel(result);
    let table = render_table(&wrapped);
    assert!(
        table.contains("Conversion over time (by entry), event property category = design"),
        "{table}"
    );
    let csv = render_csv(&wrapped);
    assert!(
        csv.lines()
            .any(|l| l.starts_with("(other),2,View,0,") && l.ends_with(",2025-01-11")),
        "{csv}"
    );
}
