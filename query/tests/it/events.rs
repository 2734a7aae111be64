//! The events listing: a user's stream and current properties, filters, and the quarantine.

use std::fs::File;
use std::path::Path;

use parquet::arrow::ArrowWriter;
use serde_json::{Value, json};
use sluice_query::result::{EventsResult, QueryResult};
use sluice_query::{QuerySpec, render_table};
use sluice_schema::{Event, StorageLayout};

use crate::support::run_any as run;

const DAY: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn event(event_type: &str, user: &str, device: &str, time: i64, received: i64) -> Event {
    Event {
        project: "p1".into(),
        event_type: event_type.into(),
        user_id: Some(user.into()),
        device_id: device.into(),
        event_time: DAY + time,
        client_event_time: DAY + time,
        server_received_time: DAY + received,
        insert_id: Some(format!("{event_type}-{user}-{time}")),
        ..Event::default()
    }
}

fn with_plan(mut e: Event, plan: &str) -> Event {
    e.user_properties = json!({"plan": plan, "logins": 2})
        .as_object()
        .unwrap()
        .clone();
    e
}

/// Writes events as one Parquet file of `dataset` (events or quarantine), stored layout.
fn write(data_dir: &Path, dataset: &str, name: &str, events: &[Event]) {
    let dir = data_dir.join(dataset).join("event_date=2026-01-01");
    std::fs::create_dir_all(&dir).unwrap();
    let layout = StorageLayout {
        user_properties: vec![sluice_schema::layout::PromotedProperty {
            name: "plan".into(),
            ty: sluice_schema::PropertyType::String,
        }],
        ..StorageLayout::default()
    };
    let batch = layout.to_record_batch(events).unwrap();
    let mut writer =
        ArrowWriter::try_new(File::create(dir.join(name)).unwrap(), batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// u1: viewed on d1 (plan free), identified (plan pro), and a purchase from d2 with an older
/// `event_time` that arrived last. u2 and another project's u1 must not leak in.
fn dataset(dir: &Path) {
    write(
        dir,
        "events",
        "part-0.parquet",
        &[
            with_plan(event("Viewed", "u1", "d1", 1_000, 5_000), "free"),
            with_plan(event("$identify", "u1", "d1", 3_000, 6_000), "pro"),
            with_plan(event("Viewed", "u2", "d9", 4_000, 6_000), "free"),
        ],
    );
    let mut other_project = with_plan(event("Viewed", "u1", "d1", 9_000, 9_000), "gold");
    other_project.project = "p2".into();
    write(
        dir,
        "events",
        "part-1.parquet",
        &[
            with_plan(event("Purchased", "u1", "d2", 2_000, 7_000), "pro"),
            other_project,
        ],
    );
}

fn events(dir: &Path, spec: Value) -> EventsResult {
    let mut spec = spec;
    spec["version"] = json!(1);
    spec["analysis"] = json!("events");
    let spec = QuerySpec::from_json(&spec.to_string()).expect("spec parses");
    match run(dir, &spec).expect("runs") {
        QueryResult::Events(result) => result,
        other => panic!("not an events result: {other:?}"),
    }
}

fn types(result: &EventsResult) -> Vec<(String, u64)> {
    result
        .by_event_type
        .iter()
        .map(|c| (c.event_type.clone(), c.events))
        .collect()
}

fn listed(result: &EventsResult, key: &str) -> Vec<String> {
    result
        .events
        .iter()
        .map(|e| e[key].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_users_stream_newest_first_with_counts_and_current_properties() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let result = events(dir.path(), json!({"project": "p1", "user_id": "u1"}));
    assert_eq!(result.total, 3);
    assert_eq!(
        types(&result),
        [
            ("$identify".to_owned(), 1),
            ("Purchased".to_owned(), 1),
            ("Viewed".to_owned(), 1)
        ]
    );
    // Listed by event time, newest first.
    assert_eq!(
        listed(&result, "event_type"),
        ["$identify", "Purchased", "Viewed"]
    );
    // Promoted and JSON properties both come back in the property maps.
    assert_eq!(
        result.events[2]["user_properties"],
        json!({"plan": "free", "logins": 2})
    );
    let user = result.user.expect("a user snapshot");
    assert_eq!(user.user_id.as_deref(), Some("u1"));
    assert_eq!(user.device_ids, ["d1", "d2"]);
    // The latest *received* event (the purchase) carries the properties now.
    assert_eq!(
        Value::Object(user.user_properties),
        json!({"plan": "pro", "logins": 2})
    );
    assert_eq!(user.first_event_time, DAY + 1_000);
    assert_eq!(user.last_event_time, DAY + 3_000);
}

#[test]
fn filters_narrow_the_listing_and_the_limit_only_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let limited = events(dir.path(), json!({"user_id": "u1", "limit": 1}));
    assert_eq!(limited.total, 4, "both projects' u1");
    assert_eq!(limited.events.len(), 1);
    assert_eq!(listed(&limited, "project"), ["p2"]);

    let viewed = events(
        dir.path(),
        json!({"project": "p1", "event_types": ["Viewed"]}),
    );
    assert_eq!(viewed.total, 2);
    assert!(viewed.user.is_none(), "no user named, no snapshot");

    let by_device = events(dir.path(), json!({"project": "p1", "device_id": "d2"}));
    assert_eq!(listed(&by_device, "event_type"), ["Purchased"]);
    assert_eq!(by_device.user.unwrap().device_ids, ["d2"]);

    let one = events(dir.path(), json!({"insert_id": "Viewed-u2-4000"}));
    assert_eq!(listed(&one, "user_id"), ["u2"]);

    let none = events(
        dir.path(),
        json!({"date_range": {"from": "2026-01-02", "to": "2026-01-03"}}),
    );
    assert_eq!(none.total, 0);
    assert!(none.events.is_empty());
    let day = events(
        dir.path(),
        json!({"date_range": {"from": "2026-01-01", "to": "2026-01-01"}, "limit": 0}),
    );
    assert_eq!(day.total, 5);
    assert!(day.events.is_empty());
}

#[test]
fn the_quarantine_is_listed_with_its_reasons() {
    let dir = tempfile::tempdir().unwrap();
    dataset(dir.path());
    let mut rejected = event("Promo Clicked", "u1", "d1", 5_000, 8_000);
    rejected.taxonomy_issues = vec!["unplanned event \"Promo Clicked\"".into()];
    write(dir.path(), "quarantine", "part-2.parquet", &[rejected]);

    let result = events(
        dir.path(),
        json!({"dataset": "quarantine", "user_id": "u1"}),
    );
    assert_eq!(result.total, 1);
    assert_eq!(
        result.events[0]["taxonomy_issues"],
        json!(["unplanned event \"Promo Clicked\""])
    );
    assert!(result.user.is_none());
    let text = render_table(&QueryResult::Events(result));
    assert!(text.starts_with("1 quarantined events"), "{text}");
    assert!(text.contains("Promo Clicked"), "{text}");

    let main = events(dir.path(), json!({"project": "p1", "user_id": "u1"}));
    assert_eq!(
        main.total, 3,
        "quarantined events are not in the main dataset"
    );
}

#[test]
fn nothing_stored_yet_is_an_empty_result() {
    let dir = tempfile::tempdir().unwrap();
    let result = events(dir.path(), json!({"user_id": "u1"}));
    assert_eq!(result.total, 0);
    assert!(result.user.is_none());
}

#[test]
fn bad_listing_specs_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    for (spec, field) in [
        (json!({"user_id": ""}), "user_id"),
        (json!({"limit": 10_001}), "limit"),
        (json!({"event_types": [""]}), "event_types"),
        (json!({"dataset": "archive"}), "archive"),
    ] {
        let mut spec = spec;
        spec["version"] = json!(1);
        spec["analysis"] = json!("events");
        let err = match QuerySpec::from_json(&spec.to_string()) {
            Err(e) => e,
            Ok(parsed) => run(dir.path(), &parsed).expect_err("invalid spec"),
        };
        assert!(err.is_user_error());
        assert!(
            err.to_string().contains(field),
            "{err} should mention {field}"
        );
    }
}
