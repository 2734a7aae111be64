//! Hand-computed funnels: each case is small enough to check by reading it.

use serde_json::json;

use crate::support::{
    FileShape, TestEvent, ev, funnel_spec, overall, rows, run, utc, write_dataset, write_file,
};

const DAY_FROM: &str = "2025-01-10";
const DAY_TO: &str = "2025-01-10";

fn noon() -> i64 {
    utc(2025, 1, 10, 12, 0, 0)
}

/// Runs an ordered funnel over `events` for 2025-01-10 (UTC) with `extra` spec fields.
fn counts(steps: &[&str], events: &[TestEvent], extra: serde_json::Value) -> Vec<u64> {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), events, 2);
    overall(&run(dir.path(), &funnel_spec(steps, DAY_FROM, DAY_TO, extra)).expect("runs"))
}

#[test]
fn same_millisecond_counts_as_in_order() {
    let t = noon();
    let events = [
        ev(t, "C", "u1"),
        ev(t, "B", "u1"),
        ev(t, "A", "u1"),
        ev(t, "A", "u2"),
        ev(t - 1, "B", "u2"),
    ];
    assert_eq!(counts(&["A", "B", "C"], &events, json!({})), [2, 1, 1]);
}

#[test]
fn repeated_steps_need_distinct_events() {
    let t = noon();
    let events = [
        // u1: one A then B — A cannot be both step 1 and step 2.
        ev(t, "A", "u1"),
        ev(t + 1, "B", "u1"),
        // u2: A, A, B converts.
        ev(t, "A", "u2"),
        ev(t + 5, "A", "u2"),
        ev(t + 9, "B", "u2"),
        // u3: two A at the same ms, then B.
        ev(t, "A", "u3"),
        ev(t, "A", "u3"),
        ev(t, "B", "u3"),
        // u4: A, B, A — the second A comes after B.
        ev(t, "A", "u4"),
        ev(t + 1, "B", "u4"),
        ev(t + 2, "A", "u4"),
    ];
    assert_eq!(counts(&["A", "A", "B"], &events, json!({})), [4, 3, 2]);
}

#[test]
fn window_bound_is_inclusive() {
    let t = noon();
    let hour = 3_600_000;
    let events = [
        ev(t, "A", "exact"),
        ev(t + hour, "B", "exact"),
        ev(t, "A", "late"),
        ev(t + hour + 1, "B", "late"),
    ];
    let window = json!({"conversion_window": {"value": 1, "unit": "hour"}});
    assert_eq!(counts(&["A", "B"], &events, window), [2, 1]);
    let window = json!({"conversion_window": {"value": 3600, "unit": "second"}});
    assert_eq!(counts(&["A", "B"], &events, window), [2, 1]);
}

#[test]
fn rows_out_of_time_order_in_files() {
    let t = noon();
    let mut events: Vec<TestEvent> = (0..6)
        .map(|i| ev(t + i, ["A", "B", "C"][i as usize % 3], "u1"))
        .collect();
    events.reverse();
    events.push(ev(t + 100, "C", "u2"));
    events.push(ev(t + 50, "A", "u2"));
    events.push(ev(t + 70, "B", "u2"));
    assert_eq!(counts(&["A", "B", "C"], &events, json!({})), [2, 2, 2]);
}

#[test]
fn step_one_outside_the_date_range_does_not_enter() {
    let start = utc(2025, 1, 10, 0, 0, 0);
    let end = utc(2025, 1, 11, 0, 0, 0);
    let events = [
        ev(start - 1, "A", "before"),
        ev(start + 10, "B", "before"),
        ev(end, "A", "after"),
        ev(end + 10, "B", "after"),
        ev(start, "A", "first-ms"),
        ev(end - 1, "A", "last-ms"),
    ];
    assert_eq!(counts(&["A", "B"], &events, json!({})), [2, 0]);
}

#[test]
fn later_steps_may_fall_after_the_range_within_the_window() {
    let last_ms = utc(2025, 1, 11, 0, 0, 0) - 1;
    let day = 86_400_000;
    let events = [
        ev(last_ms, "A", "u1"),
        ev(last_ms + 3 * day, "B", "u1"),
        ev(last_ms, "A", "u2"),
        ev(last_ms + 3 * day + 1, "B", "u2"),
    ];
    let window = json!({"conversion_window": {"value": 3, "unit": "day"}});
    assert_eq!(counts(&["A", "B"], &events, window), [2, 1]);
}

#[test]
fn time_zone_moves_the_date_range() {
    // 2025-01-09T20:00Z is 2025-01-10T05:00 in Seoul: inside the Seoul day, outside the UTC day.
    let events = [
        ev(utc(2025, 1, 9, 20, 0, 0), "A", "u1"),
        ev(utc(2025, 1, 9, 21, 0, 0), "B", "u1"),
    ];
    assert_eq!(counts(&["A", "B"], &events, json!({})), [0, 0]);
    assert_eq!(
        counts(&["A", "B"], &events, json!({"time_zone": "Asia/Seoul"})),
        [1, 1]
    );
}

#[test]
fn breakdown_goes_to_the_earliest_entry_of_the_longest_path() {
    let t = noon();
    let minute = 60_000;
    let events = [
        // u1: only the later entry (y) reaches B within 10 minutes: counted under y.
        ev(t, "A", "u1").category("x"),
        ev(t + 5 * minute, "A", "u1").category("y"),
        ev(t + 12 * minute, "B", "u1"),
        // u2: both entries convert: the earliest (x) wins.
        ev(t, "A", "u2").category("x"),
        ev(t + minute, "A", "u2").category("y"),
        ev(t + 2 * minute, "B", "u2"),
        // u3: neither converts: the earliest entry (y) counts at step 1.
        ev(t, "A", "u3").category("y"),
        ev(t + minute, "A", "u3").category("x"),
        // u4: no category on the entry.
        ev(t, "A", "u4"),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), &events, 2);
    let extra = json!({
        "conversion_window": {"value": 10, "unit": "minute"},
        "breakdown": {"kind": "event", "property": "category"},
    });
    let result = run(
        dir.path(),
        &funnel_spec(&["A", "B"], DAY_FROM, DAY_TO, extra),
    )
    .expect("runs");
    assert_eq!(overall(&result), [4, 2]);
    let expected = vec![
        (Some("y".to_owned()), vec![2, 1]),
        (None, vec![1, 0]),
        (Some("x".to_owned()), vec![1, 1]),
    ];
    assert_eq!(rows(&result), expected);
}

#[test]
fn anonymous_users_are_counted_by_device() {
    let t = noon();
    let events = [
        ev(t, "A", "-").anonymous("dev-1"),
        ev(t + 1, "B", "-").anonymous("dev-1"),
        ev(t, "A", "-").anonymous("dev-2"),
        // Same device but logged in: a different person until identity resolution exists.
        ev(t + 2, "B", "u9").anonymous("dev-2").with_user("u9"),
    ];
    assert_eq!(counts(&["A", "B"], &events, json!({})), [2, 1]);
}

#[test]
fn steps_spread_over_files_and_date_partitions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let day1 = utc(2025, 1, 10, 23, 0, 0);
    let day2 = utc(2025, 1, 11, 1, 0, 0);
    let day3 = utc(2025, 1, 12, 1, 0, 0);
    let root = dir.path().join("events");
    write_file(
        &root.join("event_date=2025-01-10/a.parquet"),
        &[ev(day1, "A", "u1"), ev(day1, "A", "u2")],
        FileShape::default(),
    );
    write_file(
        &root.join("event_date=2025-01-11/a.parquet"),
        &[ev(day2, "B", "u1")],
        FileShape {
            typed_category: true,
            ..FileShape::default()
        },
    );
    write_file(
        &root.join("event_date=2025-01-11/b.parquet"),
        &[ev(day2 + 1, "C", "u1")],
        FileShape::default(),
    );
    write_file(
        &root.join("event_date=2025-01-12/a.parquet"),
        &[ev(day3, "B", "u2")],
        FileShape::default(),
    );
    let spec = funnel_spec(
        &["A", "B", "C"],
        DAY_FROM,
        DAY_TO,
        json!({"conversion_window": {"value": 2, "unit": "day"}}),
    );
    assert_eq!(overall(&run(dir.path(), &spec).expect("runs")), [2, 2, 1]);
}

#[test]
fn project_filter_keeps_other_projects_out() {
    let t = noon();
    let mut other = ev(t + 1, "B", "u1");
    other.project = "p2".into();
    let events = [ev(t, "A", "u1"), other];
    assert_eq!(
        counts(&["A", "B"], &events, json!({"project": "p1"})),
        [1, 0]
    );
    assert_eq!(counts(&["A", "B"], &events, json!({})), [1, 1]);
}

#[test]
fn same_millisecond_entries_credit_the_smallest_value() {
    let t = noon();
    let events = [
        ev(t, "A", "u1").category("y"),
        ev(t, "A", "u1").category("x"),
        ev(t + 1, "B", "u1"),
        ev(t, "A", "u2").category("x"),
        ev(t, "A", "u2"),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), &events, 2);
    let extra = json!({"breakdown": {"kind": "event", "property": "category"}});
    let result = run(
        dir.path(),
        &funnel_spec(&["A", "B"], DAY_FROM, DAY_TO, extra),
    )
    .expect("runs");
    let expected = vec![(None, vec![1, 0]), (Some("x".to_owned()), vec![1, 1])];
    assert_eq!(rows(&result), expected);
}

#[test]
fn holding_a_property_constant_counts_person_value_pairs() {
    let t = noon();
    let events = [
        // u1: A in x, B in y — no path keeps the category.
        ev(t, "A", "u1").category("x"),
        ev(t + 1, "B", "u1").category("y"),
        // u2: enters in x and in y, converts in y: two pairs, one converted.
        ev(t, "A", "u2").category("x"),
        ev(t + 1, "A", "u2").category("y"),
        ev(t + 2, "B", "u2").category("y"),
        // u3: B has no category, so it cannot be on a held path.
        ev(t, "A", "u3").category("x"),
        ev(t + 1, "B", "u3"),
    ];
    let held = json!({"hold_constant": [{"kind": "event", "property": "category"}]});
    assert_eq!(counts(&["A", "B"], &events, json!({})), [3, 3]);
    assert_eq!(counts(&["A", "B"], &events, held.clone()), [4, 1]);

    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), &events, 2);
    let mut by_value = held;
    by_value["breakdown"] = json!({"kind": "event", "property": "category"});
    let result = run(
        dir.path(),
        &funnel_spec(&["A", "B"], DAY_FROM, DAY_TO, by_value),
    );
    assert_eq!(
        rows(&result.expect("runs")),
        [
            (Some("x".to_owned()), vec![3, 0]),
            (Some("y".to_owned()), vec![1, 1]),
        ]
    );
}

/// ClickHouse's own answers for `windowFunnel` (chDB 4.4 = ClickHouse 26.9, from
/// `shared/baselines/sem/semantics.out`): events at t = 1, 2, 3, … (seconds here), window 100
/// (2 in the last case), steps A, B, C, D. Sluice's default (Amplitude's earliest-longest path)
/// and its `strict_deduplication` / `strict_increase` modes must give the same levels.
#[test]
fn clickhouse_window_funnel_modes_match_its_semantics_cases() {
    let cases: [(&str, &[i64], i64); 8] = [
        ("A-B-C-D", &[1, 2, 3, 4], 100),
        ("A-B-C-B-D", &[1, 2, 3, 4, 5], 100),
        ("A-B-D-C", &[1, 2, 3, 4], 100),
        ("A-X-B-C-D", &[1, 2, 3, 4, 5], 100),
        ("A-A-B-C", &[1, 2, 3, 4], 100),
        ("A-B-C", &[1, 1, 2], 100),
        ("B-A-B-C-D", &[1, 2, 3, 4, 5], 100),
        ("A-B-C-D", &[1, 2, 3, 4], 2),
    ];
    // Per mode, the level of each case in order (semantics.out).
    let expected: [(&str, [u8; 8]); 3] = [
        ("default", [4, 4, 3, 4, 3, 3, 4, 3]),
        ("strict_deduplication", [4, 3, 3, 4, 3, 3, 4, 3]),
        ("strict_increase", [4, 4, 3, 4, 3, 1, 4, 3]),
    ];
    let start = noon();
    for (mode, levels) in expected {
        for ((sequence, times, window), level) in cases.iter().zip(levels) {
            let events: Vec<TestEvent> = sequence
                .split('-')
                .zip(times.iter())
                .map(|(kind, t)| ev(start + t * 1_000, kind, "u1"))
                .collect();
            let mut extra = json!({"conversion_window": {"value": window, "unit": "second"}});
            if mode != "default" {
                extra["strict"] = json!([mode]);
            }
            let counts = counts(&["A", "B", "C", "D"], &events, extra);
            let reached = counts.iter().filter(|&&n| n == 1).count() as u8;
            assert_eq!(reached, level, "{mode} {sequence} window {window}");
        }
    }
}
