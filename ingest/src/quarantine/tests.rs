use std::fs::File;
use std::path::Path;

use serde_json::json;
use sluice_schema::{Event, StorageLayout, TrackingPlan};

use super::*;
use crate::loader::parquet_files::write_file;

const PARTITION: &str = "event_date=2026-01-05";

/// The plan as first deployed: "Promo Clicked" is missing, unplanned events are rejected.
const PLAN_BEFORE: &str = r#"
[project]
name = "shop"
[policy]
unplanned_event = "reject"
invalid_value = "reject"
[event_properties.price]
type = "number"
[events."Service Viewed"]
properties = ["price"]
"#;

/// The fixed plan: "Promo Clicked" is planned; prices must still be numbers.
fn plan_after() -> TrackingPlan {
    let text = format!("{PLAN_BEFORE}\n[events.\"Promo Clicked\"]\nproperties = []\n");
    TrackingPlan::parse(&text).unwrap()
}

fn event(event_type: &str, insert_id: &str, props: serde_json::Value) -> Event {
    Event {
        project: "shop".into(),
        event_time: 1_767_571_200_000,
        client_event_time: 1_767_571_200_000,
        server_received_time: 1_767_571_200_500,
        event_type: event_type.into(),
        device_id: "device-1".into(),
        user_id: Some("user-1".into()),
        insert_id: Some(insert_id.into()),
        event_properties: props.as_object().unwrap().clone(),
        user_properties: json!({"plan": "pro"}).as_object().unwrap().clone(),
        taxonomy_issues: vec!["rejected at ingest".into()],
        quarantined: true,
        ..Event::default()
    }
}

/// Writes a quarantine file as the loader does, under the layout of the first plan.
fn quarantine(dataset: &Path, name: &str, events: &[Event]) {
    let layout = StorageLayout::from_plan(&TrackingPlan::parse(PLAN_BEFORE).unwrap());
    write_file(
        &layout,
        dataset,
        &quarantine_dir(dataset).join(PARTITION),
        name,
        events,
    )
    .unwrap();
}

/// `(file name, insert ids)` of every Parquet file of one dataset folder.
fn files_in(dir: &Path) -> Vec<(String, Vec<String>)> {
    let Ok(entries) = std::fs::read_dir(dir.join(PARTITION)) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<String>)> = entries
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
        .map(|e| {
            let ids = super::replay::read_events(&e.path())
                .unwrap()
                .into_iter()
                .map(|e| e.insert_id.unwrap())
                .collect();
            (e.file_name().to_string_lossy().into_owned(), ids)
        })
        .collect();
    out.sort();
    out
}

/// A replay that changes files, which must succeed.
fn replay_with(dataset: &Path, plan: &TrackingPlan) -> ReplayReport {
    replay(
        dataset,
        ReplayOptions {
            plan,
            dry_run: false,
        },
    )
    .unwrap()
}

fn all_ids(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = files_in(dir).into_iter().flat_map(|(_, ids)| ids).collect();
    ids.sort();
    ids
}

fn sample(dataset: &Path) {
    quarantine(
        dataset,
        "part-0-3.parquet",
        &[
            event("Promo Clicked", "a", json!({})),
            event("Service Viewed", "b", json!({"price": "free"})),
            event("Promo Clicked", "c", json!({})),
        ],
    );
    quarantine(
        dataset,
        "part-3-4.parquet",
        &[event("Service Viewed", "d", json!({"price": "n/a"}))],
    );
}

#[test]
fn accepted_events_move_and_the_rest_stay_with_current_reasons() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let plan = plan_after();
    let report = replay_with(dir.path(), &plan);
    assert_eq!(report.files_examined, 2);
    assert_eq!(report.files_moved, 1);
    assert_eq!(report.events_replayed, 2);
    assert_eq!(report.events_still_quarantined, 2);
    assert_eq!(
        report.remaining_issues.values().sum::<u64>(),
        2,
        "{:?}",
        report.remaining_issues
    );
    assert!(report.remaining_issues.keys().all(|k| k.contains("price")));

    assert_eq!(all_ids(&events_dir(dir.path())), ["a", "c"]);
    assert_eq!(all_ids(&quarantine_dir(dir.path())), ["b", "d"]);
    // The untouched file keeps its name; the moved one is gone.
    let names: Vec<String> = files_in(&quarantine_dir(dir.path()))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(names.contains(&"part-3-4.parquet".to_owned()));
    assert!(!names.contains(&"part-0-3.parquet".to_owned()));

    // Replayed events are whole: properties as stamped at ingest, no longer quarantined, and
    // without the old ingest-time issue.
    let replayed = &files_in(&events_dir(dir.path()))[0].0;
    let path = events_dir(dir.path()).join(PARTITION).join(replayed);
    let events = super::replay::read_events(&path).unwrap();
    assert!(events.iter().all(|e| e.user_properties["plan"] == "pro"));
    assert!(events.iter().all(|e| e.taxonomy_issues.is_empty()));
}

#[test]
fn a_second_replay_moves_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let plan = plan_after();
    replay_with(dir.path(), &plan);
    let again = replay_with(dir.path(), &plan);
    assert_eq!(again.events_replayed, 0);
    assert_eq!(again.files_moved, 0);
    assert_eq!(all_ids(&events_dir(dir.path())), ["a", "c"]);
    assert_eq!(all_ids(&quarantine_dir(dir.path())), ["b", "d"]);
}

#[test]
fn kept_files_replay_later_under_their_original_name() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    replay_with(dir.path(), &plan_after());
    // Now prices may be anything: the rest moves too.
    let lenient = TrackingPlan::parse(
        &format!("{PLAN_BEFORE}\n[events.\"Promo Clicked\"]\nproperties = []\n")
            .replace("invalid_value = \"reject\"", "invalid_value = \"flag\""),
    )
    .unwrap();
    let report = replay_with(dir.path(), &lenient);
    assert_eq!(report.events_replayed, 2);
    assert_eq!(all_ids(&events_dir(dir.path())), ["a", "b", "c", "d"]);
    assert!(all_ids(&quarantine_dir(dir.path())).is_empty());
    let names: Vec<String> = files_in(&events_dir(dir.path()))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("replay-r") && n.matches("kept").count() == 0),
        "{names:?}"
    );
    // Flagged, not rejected: the issue travels with the event.
    let events_partition = events_dir(dir.path()).join(PARTITION);
    let b: Vec<Event> = names
        .iter()
        .flat_map(|n| super::replay::read_events(&events_partition.join(n)).unwrap())
        .filter(|e| e.insert_id.as_deref() == Some("b"))
        .collect();
    assert_eq!(b.len(), 1);
    assert!(
        b[0].taxonomy_issues[0].contains("price"),
        "{:?}",
        b[0].taxonomy_issues
    );
}

#[test]
fn a_dry_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let plan = plan_after();
    let before = files_in(&quarantine_dir(dir.path()));
    let report = replay(
        dir.path(),
        ReplayOptions {
            plan: &plan,
            dry_run: true,
        },
    )
    .unwrap();
    assert_eq!(report.events_replayed, 2);
    assert_eq!(report.files_moved, 0);
    assert_eq!(files_in(&quarantine_dir(dir.path())), before);
    assert!(files_in(&events_dir(dir.path())).is_empty());
}

#[test]
fn an_interrupted_move_with_every_output_written_is_finished() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let plan = plan_after();
    // Simulate a crash just before the source was deleted: outputs whole, source present.
    let copy = dir.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    let q = quarantine_dir(dir.path()).join(PARTITION);
    std::fs::copy(q.join("part-0-3.parquet"), copy.join("source")).unwrap();
    replay_with(dir.path(), &plan);
    std::fs::copy(copy.join("source"), q.join("part-0-3.parquet")).unwrap();
    let outputs: Vec<String> = files_in(&events_dir(dir.path()))
        .into_iter()
        .map(|(n, _)| format!("events/{PARTITION}/{n}"))
        .chain(
            files_in(&quarantine_dir(dir.path()))
                .into_iter()
                .filter(|(n, _)| n.starts_with("kept-"))
                .map(|(n, _)| format!("quarantine/{PARTITION}/{n}")),
        )
        .collect();
    let intent =
        json!({"source": format!("quarantine/{PARTITION}/part-0-3.parquet"), "outputs": outputs});
    std::fs::write(
        quarantine_dir(dir.path()).join(".replay-intent.json"),
        intent.to_string(),
    )
    .unwrap();

    let report = replay_with(dir.path(), &plan);
    assert_eq!(report.recovered, Some("finished"));
    assert_eq!(all_ids(&events_dir(dir.path())), ["a", "c"]);
    assert_eq!(all_ids(&quarantine_dir(dir.path())), ["b", "d"]);
}

#[test]
fn an_interrupted_move_missing_an_output_is_undone_then_redone() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let plan = plan_after();
    // Simulate a crash after the replayed file was written but before the kept file was.
    let layout = StorageLayout::from_plan(&plan);
    let events_partition = events_dir(dir.path()).join(PARTITION);
    let half_done = [
        event("Promo Clicked", "a", json!({})),
        event("Promo Clicked", "c", json!({})),
    ];
    write_file(
        &layout,
        dir.path(),
        &events_partition,
        "replay-r1-part-0-3.parquet",
        &half_done,
    )
    .unwrap();
    let intent = json!({
        "source": format!("quarantine/{PARTITION}/part-0-3.parquet"),
        "outputs": [format!("events/{PARTITION}/replay-r1-part-0-3.parquet"),
                    format!("quarantine/{PARTITION}/kept-r1-part-0-3.parquet")]
    });
    std::fs::write(
        quarantine_dir(dir.path()).join(".replay-intent.json"),
        intent.to_string(),
    )
    .unwrap();

    let report = replay_with(dir.path(), &plan);
    assert_eq!(report.recovered, Some("undone"));
    assert_eq!(report.events_replayed, 2);
    // Exactly once: the half-written move was rolled back before the file was replayed again.
    assert_eq!(all_ids(&events_dir(dir.path())), ["a", "c"]);
    assert_eq!(all_ids(&quarantine_dir(dir.path())), ["b", "d"]);
}

#[test]
fn replays_run_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let held = File::create(quarantine_dir(dir.path()).join(".replay.lock")).unwrap();
    held.lock().unwrap();
    let err = replay(
        dir.path(),
        ReplayOptions {
            plan: &plan_after(),
            dry_run: false,
        },
    )
    .unwrap_err();
    assert!(matches!(err, QuarantineError::Busy(_)), "{err}");
}

#[test]
fn no_quarantine_folder_is_an_empty_report() {
    let dir = tempfile::tempdir().unwrap();
    let report = replay_with(dir.path(), &plan_after());
    assert_eq!(report, ReplayReport::default());
}

#[test]
fn original_names_lose_every_kept_prefix() {
    assert_eq!(
        super::replay::original_name("kept-r2-kept-r1-part-0-3.parquet"),
        "part-0-3.parquet"
    );
    assert_eq!(
        super::replay::original_name("part-0-3.parquet"),
        "part-0-3.parquet"
    );
}
