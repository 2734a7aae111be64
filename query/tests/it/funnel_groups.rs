//! Hand-computed funnel group-bys (amplitude.md §4.2): two properties, top-N with "(other)", an
//! event property of step 3 with its "did not reach" group, a user property at the entry, and
//! the combinations with hold-constant, strict and any order.

use serde_json::{Value, json};
use sluice_query::result::{FunnelResult, QueryResult};
use sluice_query::{QueryError, render_csv, render_table};

use crate::support::{TestEvent, ev, funnel_spec, overall, run, utc, write_dataset};

fn noon() -> i64 {
    utc(2025, 1, 10, 12, 0, 0)
}

const STEPS: [&str; 3] = ["Category Viewed", "Service Viewed", "Purchase Completed"];

/// Runs a funnel over `events` for 2025-01-10 (UTC) with `extra` spec fields.
fn funnel(steps: &[&str], events: &[TestEvent], extra: Value) -> Result<FunnelResult, QueryError> {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), events, 2);
    run(
        dir.path(),
        &funnel_spec(steps, "2025-01-10", "2025-01-10", extra),
    )
}

/// Each row as (labels of its values, did not reach, other, persons per step).
type Row = (Vec<Option<String>>, bool, bool, Vec<u64>);

fn group_rows(result: &FunnelResult) -> Vec<Row> {
    result
        .by_breakdown
        .iter()
        .map(|row| {
            let values = match row.values.is_empty() {
                true => vec![row.value.clone()],
                false => row.values.clone(),
            };
            let persons = row.steps.iter().map(|s| s.persons).collect();
            (values, row.did_not_reach, row.other, persons)
        })
        .collect()
}

fn row(values: &[Option<&str>], did_not_reach: bool, other: bool, persons: &[u64]) -> Row {
    (
        values.iter().map(|v| v.map(str::to_owned)).collect(),
        did_not_reach,
        other,
        persons.to_vec(),
    )
}

/// Buyers on a marketplace: the category of what they bought (step 3) differs from the
/// category they browsed (step 1).
fn purchases() -> Vec<TestEvent> {
    let t = noon();
    let view =
        |dt, user: &str, category: &str| ev(t + dt, "Category Viewed", user).category(category);
    let service = |dt, user: &str| ev(t + dt, "Service Viewed", user);
    let buy =
        |dt, user: &str, category: &str| ev(t + dt, "Purchase Completed", user).category(category);
    vec![
        // ann: browses design, buys video, then later buys design: the counted path's purchase
        // is the first one (video).
        view(0, "ann", "design"),
        service(10, "ann"),
        buy(20, "ann", "video"),
        buy(30, "ann", "design"),
        // bob: browses video, buys video.
        view(0, "bob", "video"),
        service(5, "bob"),
        buy(6, "bob", "video"),
        // cat: two purchases in the same millisecond: the smaller value (design) is counted.
        view(0, "cat", "video"),
        service(1, "cat"),
        buy(2, "cat", "video"),
        buy(2, "cat", "design"),
        // dan: stops at the service page: did not reach step 3.
        view(0, "dan", "design"),
        service(3, "dan"),
        // eve: only browses: did not reach step 3.
        view(0, "eve", "writing"),
        // fay: purchase without a category: (none).
        view(0, "fay", "design"),
        service(1, "fay"),
        ev(t + 2, "Purchase Completed", "fay"),
        // gus: a purchase before the service view is not on the path: did not reach.
        view(0, "gus", "design"),
        buy(1, "gus", "design"),
        service(2, "gus"),
    ]
}

#[test]
fn an_event_property_of_step_3_buckets_by_the_counted_purchase() {
    let extra = json!({"group_by": [{"kind": "event", "property": "category", "step": 3}]});
    let result = funnel(&STEPS, &purchases(), extra).expect("runs");
    assert_eq!(overall(&result), [7, 6, 4]);
    assert_eq!(
        group_rows(&result),
        [
            // 3 persons did not reach step 3 (dan, eve, gus); then 2 bought video (ann, bob),
            // then 1 each: (none) (fay) before design (cat).
            row(&[None], true, false, &[3, 2, 0]),
            row(&[Some("video")], false, false, &[2, 2, 2]),
            row(&[None], false, false, &[1, 1, 1]),
            row(&[Some("design")], false, false, &[1, 1, 1]),
        ]
    );
    let table = render_table(&QueryResult::Funnel(result.clone()));
    assert!(
        table.contains("event property category (step 3) = (did not reach step 3)"),
        "{table}"
    );
    assert!(
        table.contains("event property category (step 3) = video"),
        "{table}"
    );
    let csv = render_csv(&QueryResult::Funnel(result));
    assert!(
        csv.contains("(did not reach step 3),1,Category Viewed,3,"),
        "{csv}"
    );
}

#[test]
fn two_properties_split_by_both_values_of_the_entry() {
    let t = noon();
    let events = vec![
        ev(t, "Category Viewed", "ann").plan("pro").platform("iOS"),
        ev(t + 1, "Service Viewed", "ann"),
        ev(t, "Category Viewed", "bob").plan("pro").platform("Web"),
        ev(t, "Category Viewed", "cat").plan("free").platform("iOS"),
        ev(t + 1, "Service Viewed", "cat"),
        ev(t, "Category Viewed", "dan").plan("pro").platform("iOS"),
        ev(t, "Category Viewed", "eve").platform("iOS"),
    ];
    let extra = json!({"group_by": [
        {"kind": "user", "property": "plan"},
        {"kind": "field", "property": "platform"}
    ]});
    let result = funnel(&STEPS[..2], &events, extra).expect("runs");
    assert_eq!(
        group_rows(&result),
        [
            row(&[Some("pro"), Some("iOS")], false, false, &[2, 1]),
            row(&[None, Some("iOS")], false, false, &[1, 0]),
            row(&[Some("free"), Some("iOS")], false, false, &[1, 1]),
            row(&[Some("pro"), Some("Web")], false, false, &[1, 0]),
        ]
    );
    let json = serde_json::to_value(&result).expect("serialises");
    assert_eq!(json["by_breakdown"][0]["values"], json!(["pro", "iOS"]));
    assert_eq!(json["by_breakdown"][0]["value"], json!("pro"));
    let csv = render_csv(&QueryResult::Funnel(result));
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .is_some_and(|h| h.starts_with("breakdown,breakdown_2,step,")),
        "{csv}"
    );
    assert!(csv.contains("\n(none),iOS,1,Category Viewed,1,"), "{csv}");
}

#[test]
fn groups_past_the_limit_are_one_other_row() {
    let t = noon();
    let mut events = Vec::new();
    // design: 3 persons (2 convert), video: 2, writing: 1 (converts), audio: 1.
    for (user, category, converts) in [
        ("a1", "design", true),
        ("a2", "design", true),
        ("a3", "design", false),
        ("b1", "video", false),
        ("b2", "video", true),
        ("c1", "writing", true),
        ("d1", "audio", false),
    ] {
        events.push(ev(t, "Category Viewed", user).category(category));
        if converts {
            events.push(ev(t + 1, "Service Viewed", user));
        }
    }
    let extra = json!({"breakdown": {"kind": "event", "property": "category"}, "group_limit": 2});
    let result = funnel(&STEPS[..2], &events, extra).expect("runs");
    assert_eq!(
        group_rows(&result),
        [
            row(&[Some("design")], false, false, &[3, 2]),
            row(&[Some("video")], false, false, &[2, 1]),
            // audio and writing (1 each) summed.
            row(&[None], false, true, &[2, 1]),
        ]
    );
    let entered: u64 = result.by_breakdown.iter().map(|r| r.entered()).sum();
    assert_eq!(entered, result.overall.entered());
    let table = render_table(&QueryResult::Funnel(result));
    assert!(
        table.contains("(other): the groups past group_limit"),
        "{table}"
    );
    assert!(!table.contains("writing"), "{table}");
    // Ties at the limit are settled by value: audio before writing.
    let extra = json!({"group_by": [{"kind": "event", "property": "category"}], "group_limit": 3});
    let result = funnel(&STEPS[..2], &events, extra).expect("runs");
    let values: Vec<Option<String>> = result
        .by_breakdown
        .iter()
        .map(|r| r.value.clone())
        .collect();
    assert_eq!(
        values,
        [
            Some("design".into()),
            Some("video".into()),
            Some("audio".into()),
            None
        ]
    );
}

#[test]
fn a_user_property_is_read_on_the_entry_of_the_counted_path() {
    let t = noon();
    let minute = 60_000;
    let events = vec![
        // ann: free at her first entry, which stops at step 2 (the purchase is more than the
        // one-hour window later), pro at the second, which converts: the longest path wins, so
        // she counts as pro.
        ev(t, "Category Viewed", "ann").plan("free"),
        ev(t + minute, "Service Viewed", "ann"),
        ev(t + 120 * minute, "Category Viewed", "ann").plan("pro"),
        ev(t + 121 * minute, "Service Viewed", "ann"),
        ev(t + 122 * minute, "Purchase Completed", "ann"),
        // bob: both entries convert; the earliest (free) counts.
        ev(t, "Category Viewed", "bob").plan("free"),
        ev(t + 5, "Category Viewed", "bob").plan("pro"),
        ev(t + 6, "Service Viewed", "bob"),
        ev(t + 7, "Purchase Completed", "bob"),
        // cat: her plan on the purchase (pro) does not matter, only the entry's (none).
        ev(t, "Category Viewed", "cat"),
        ev(t + 1, "Service Viewed", "cat").plan("pro"),
    ];
    let extra = json!({
        "group_by": [{"kind": "user", "property": "plan"}],
        "conversion_window": {"value": 1, "unit": "hour"}
    });
    let result = funnel(&STEPS, &events, extra).expect("runs");
    assert_eq!(
        group_rows(&result),
        [
            row(&[None], false, false, &[1, 1, 0]),
            row(&[Some("free")], false, false, &[1, 1, 1]),
            row(&[Some("pro")], false, false, &[1, 1, 1]),
        ]
    );
}

#[test]
fn entry_and_later_step_together() {
    // The user's plan at the entry and the category purchased.
    let mut events = purchases();
    for e in &mut events {
        if e.event_type == "Category Viewed" && ["ann", "bob", "dan"].contains(&e.person()) {
            e.plan = Some("pro".into());
        }
    }
    let extra = json!({"group_by": [
        {"kind": "user", "property": "plan"},
        {"kind": "event", "property": "category", "step": 3}
    ], "group_limit": 3});
    let result = funnel(&STEPS, &events, extra).expect("runs");
    assert_eq!(
        group_rows(&result),
        [
            row(&[None, None], true, false, &[2, 1, 0]),
            row(&[Some("pro"), Some("video")], false, false, &[2, 2, 2]),
            row(&[None, None], false, false, &[1, 1, 1]),
            // cat (design) and dan (pro, did not reach).
            row(&[None, None], false, true, &[2, 2, 1]),
        ]
    );
}

#[test]
fn hold_constant_groups_each_pair_by_its_own_path() {
    let t = noon();
    let events = vec![
        // One person, two held categories: design converts to step 3 (bought design), video
        // stops at step 2.
        ev(t, "Category Viewed", "ann").category("design"),
        ev(t + 1, "Service Viewed", "ann").category("design"),
        ev(t + 2, "Purchase Completed", "ann").category("design"),
        ev(t + 3, "Category Viewed", "ann").category("video"),
        ev(t + 4, "Service Viewed", "ann").category("video"),
    ];
    let extra = json!({
        "hold_constant": [{"kind": "event", "property": "category"}],
        "group_by": [{"kind": "event", "property": "category", "step": 3}]
    });
    let result = funnel(&STEPS, &events, extra).expect("runs");
    assert_eq!(overall(&result), [2, 2, 1]);
    assert_eq!(
        group_rows(&result),
        [
            row(&[None], true, false, &[1, 1, 0]),
            row(&[Some("design")], false, false, &[1, 1, 1]),
        ]
    );
}

/// The group rows of the funnel over `events` with `extra`, grouped by the entry's category.
fn grouped_by_entry_category(events: &[TestEvent], mut extra: Value) -> Vec<Row> {
    extra["group_by"] = json!([{"kind": "event", "property": "category", "step": 1}]);
    group_rows(&funnel(&STEPS, events, extra).expect("runs"))
}

#[test]
fn strict_and_any_order_group_by_the_entry() {
    let t = noon();
    let events = vec![
        // ann: ClickHouse's scan restarts at the latest entry (video) and converts from there.
        ev(t, "Category Viewed", "ann").category("design"),
        ev(t + 1, "Category Viewed", "ann").category("video"),
        ev(t + 2, "Service Viewed", "ann"),
        // bob: the later steps in reverse order: converts only in any order.
        ev(t, "Category Viewed", "bob").category("design"),
        ev(t + 1, "Purchase Completed", "bob"),
        ev(t + 2, "Service Viewed", "bob"),
    ];
    let by_entry = |extra: Value| grouped_by_entry_category(&events, extra);
    assert_eq!(
        by_entry(json!({"strict": ["strict_increase"]})),
        [
            row(&[Some("design")], false, false, &[1, 1, 0]),
            row(&[Some("video")], false, false, &[1, 1, 0]),
        ]
    );
    assert_eq!(
        by_entry(json!({"order": "any"})),
        [row(&[Some("design")], false, false, &[2, 2, 1])]
    );
}

#[test]
fn same_millisecond_entries_are_ordered_by_value_in_every_mode() {
    let t = noon();
    // Two entries in one millisecond, written in the opposite of value order.
    let events = vec![
        ev(t, "Category Viewed", "ann").category("video"),
        ev(t, "Category Viewed", "ann").category("design"),
        ev(t + 1, "Service Viewed", "ann"),
    ];
    let by_entry = |extra: Value| grouped_by_entry_category(&events, extra);
    // The earliest, longest path takes the first entry in (time, value) order ...
    assert_eq!(
        by_entry(json!({})),
        [row(&[Some("design")], false, false, &[1, 1, 0])]
    );
    // ... ClickHouse's scan restarts at every entry, so the last one in that order counts.
    for strict in [json!(["strict_increase"]), json!(["strict_deduplication"])] {
        assert_eq!(
            by_entry(json!({"strict": strict})),
            [row(&[Some("video")], false, false, &[1, 1, 0])],
            "{strict}"
        );
    }
}

#[test]
fn a_later_step_is_refused_where_no_single_path_is_counted() {
    let group_by = json!([{"kind": "event", "property": "category", "step": 2}]);
    for (option, value) in [
        ("order", json!("any")),
        ("order", json!("exact")),
        ("strict", json!(["strict_deduplication"])),
        ("exclusions", json!([{"event_type": "Refund"}])),
    ] {
        let mut extra = json!({"group_by": group_by});
        extra[option] = value;
        let error = funnel(&STEPS, &purchases(), extra).expect_err("refused");
        let message = error.to_string();
        assert!(
            message.contains("group_by step other than 1 cannot be combined with"),
            "{option}: {message}"
        );
    }
    let both = json!({
        "breakdown": {"kind": "event", "property": "category"},
        "group_by": group_by
    });
    let message = funnel(&STEPS, &purchases(), both)
        .expect_err("refused")
        .to_string();
    assert!(
        message.starts_with("invalid query spec: breakdown: give either"),
        "{message}"
    );
}

#[test]
fn a_breakdown_lists_every_value_and_group_by_ten_unless_limited() {
    let t = noon();
    // 12 categories, category i viewed by i + 1 persons.
    let mut events = Vec::new();
    for i in 0..12 {
        for p in 0..=i {
            events
                .push(ev(t, "Category Viewed", &format!("p{i}-{p}")).category(&format!("c{i:02}")));
        }
    }
    let breakdown = json!({"breakdown": {"kind": "event", "property": "category"}});
    let result = funnel(&STEPS[..2], &events, breakdown).expect("runs");
    assert_eq!(result.by_breakdown.len(), 12);
    assert!(result.by_breakdown.iter().all(|r| !r.other));
    let group_by = json!({"group_by": [{"kind": "event", "property": "category"}]});
    let result = funnel(&STEPS[..2], &events, group_by).expect("runs");
    let rows = group_rows(&result);
    assert_eq!(rows.len(), 11);
    assert_eq!(rows[0], row(&[Some("c11")], false, false, &[12, 0]));
    // c01 (2 persons) and c00 (1) are summed.
    assert_eq!(rows[10], row(&[None], false, true, &[3, 0]));
}
