//! Cohort syncs against a local stand-in for the SaaS API (`receiver.rs`): batches, diffs,
//! retries, rate limits, resumption and idempotence, asserted request by request; and the file
//! destinations, the export and the schedule.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sluice_query::QueryEngine;
use sluice_query::cohort::store::SavedCohort;
use sluice_query::sync::{self, LogEntry, SyncConfig, SyncOutcome, SyncStore};

use crate::receiver::{Receiver, Reply};
use crate::support::{ev, person_id, utc, write_dataset, write_merge};

/// `n` users named `<prefix>-000`…, each with one event, written to a fresh data directory;
/// the users come back in person-id order (the order syncs send them in).
fn dataset(prefix: &str, n: usize) -> (tempfile::TempDir, QueryEngine, Vec<String>) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let events: Vec<_> = (0..n)
        .map(|i| {
            let user = format!("{prefix}-{i:03}");
            ev(
                utc(2026, 3, 1, 10, 0, 0) + i as i64 * 1_000,
                "Service Viewed",
                &user,
            )
        })
        .collect();
    write_dataset(dir.path(), &events, 2);
    let mut users: Vec<(i64, String)> = events
        .iter()
        .map(|e| (person_id(e), e.user_id.clone().expect("a user")))
        .collect();
    users.sort();
    let engine = QueryEngine::new(dir.path());
    (dir, engine, users.into_iter().map(|(_, u)| u).collect())
}

/// Saves the static cohort `name` of `users` and computes it.
async fn cohort_of(engine: &QueryEngine, name: &str, users: &[String]) {
    let cohort = SavedCohort {
        name: name.to_owned(),
        description: None,
        owner: None,
        project: Some("p1".to_owned()),
        time_zone: "UTC".to_owned(),
        definition: serde_json::from_value(json!({ "user_ids": users })).expect("a definition"),
    };
    engine.save_cohort(&cohort).expect("saved");
    // Computations are named by their millisecond: keep them apart.
    tokio::time::sleep(Duration::from_millis(3)).await;
    let (run, _) = engine
        .compute_cohort(name, Some("2026-03-10".to_owned()), Some(0))
        .await
        .expect("computed");
    assert_eq!(run.size, users.len() as u64);
}

fn save_sync(engine: &QueryEngine, config: Value) -> SyncConfig {
    let config: SyncConfig = serde_json::from_value(config).expect("a sync config");
    SyncStore::new(engine.data_dir())
        .save(&config)
        .expect("saved");
    config
}

/// Fast retries for tests: 10 ms doubling to 40 ms.
fn quick_retry(max_attempts: u32, timeout_ms: u64) -> Value {
    json!({"max_attempts": max_attempts, "base_ms": 10, "max_ms": 40, "timeout_ms": timeout_ms})
}

/// The user ids of a Braze request's attribute objects, with the attribute's value.
fn braze_objects(body: &Value, attribute: &str) -> Vec<(String, bool)> {
    body["attributes"]
        .as_array()
        .expect("attributes")
        .iter()
        .map(|object| {
            assert_eq!(object["_update_existing_only"], json!(true), "{object}");
            (
                object["external_id"]
                    .as_str()
                    .expect("an external id")
                    .to_owned(),
                object[attribute].as_bool().expect("the attribute"),
            )
        })
        .collect()
}

fn with(users: &[String], value: bool) -> Vec<(String, bool)> {
    users.iter().map(|u| (u.clone(), value)).collect()
}

fn epoch_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn braze_gets_batches_of_the_diff_only_once() {
    let receiver = Receiver::start().await;
    let (_dir, engine, users) = dataset("bz", 130);
    cohort_of(&engine, "viewers", &users[..100]).await;
    save_sync(
        &engine,
        json!({"name": "to-braze", "cohort": "viewers", "destination": {
            "kind": "braze", "url": receiver.url(), "api_key": "braze-key"},
            "retry": quick_retry(3, 2_000)}),
    );

    // First sync: the whole cohort, 50 objects per request (the default).
    let report = sync::run(&engine, "to-braze").await.expect("synced");
    assert_eq!(report.outcome, SyncOutcome::Completed);
    assert_eq!(
        (report.entered, report.exited, report.batches, report.sent),
        (100, 0, 2, 2)
    );
    let requests = receiver.take();
    assert_eq!(requests.len(), 2);
    for (request, chunk) in requests.iter().zip(users[..100].chunks(50)) {
        assert_eq!(request.path, "/users/track");
        assert_eq!(
            request.header("authorization").as_deref(),
            Some("Bearer braze-key")
        );
        assert_eq!(
            request.header("content-type").as_deref(),
            Some("application/json")
        );
        assert_eq!(
            braze_objects(&request.json(), "sluice_cohort_viewers"),
            with(chunk, true)
        );
    }

    // Nothing computed since: nothing sent.
    let report = sync::run(&engine, "to-braze").await.expect("synced");
    assert_eq!(report.outcome, SyncOutcome::UpToDate);
    assert!(receiver.take().is_empty());

    // The cohort moves by 30: 30 enter, 30 leave — one request each way, and nobody else.
    cohort_of(&engine, "viewers", &users[30..130]).await;
    let report = sync::run(&engine, "to-braze").await.expect("synced");
    assert_eq!((report.entered, report.exited, report.batches), (30, 30, 2));
    let requests = receiver.take();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        braze_objects(&requests[0].json(), "sluice_cohort_viewers"),
        with(&users[100..130], true)
    );
    assert_eq!(
        braze_objects(&requests[1].json(), "sluice_cohort_viewers"),
        with(&users[..30], false)
    );

    // The delivery log holds each batch and each sync.
    let log = SyncStore::new(engine.data_dir())
        .delivery_log("to-braze", None)
        .expect("a log");
    let batches: Vec<(String, usize, bool)> = log
        .iter()
        .filter_map(|entry| match entry {
            LogEntry::Batch {
                message_id,
                users,
                delivered,
                ..
            } => Some((
                message_id
                    .split("::")
                    .skip(2)
                    .collect::<Vec<_>>()
                    .join("::"),
                *users,
                *delivered,
            )),
            LogEntry::Sync { .. } => None,
        })
        .collect();
    assert_eq!(
        batches,
        vec![
            ("enter::0".to_owned(), 50, true),
            ("enter::1".to_owned(), 50, true),
            ("enter::0".to_owned(), 30, true),
            ("exit::0".to_owned(), 30, true),
        ]
    );
    let syncs = log
        .iter()
        .filter(|e| {
            matches!(
                e,
                LogEntry::Sync {
                    completed: true,
                    ..
                }
            )
        })
        .count();
    assert_eq!(syncs, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_with_the_same_message_and_rate_limits_are_waited_out() {
    let receiver = Receiver::start().await;
    let (_dir, engine, users) = dataset("wh", 5);
    cohort_of(&engine, "buyers", &users).await;
    save_sync(
        &engine,
        json!({"name": "hook", "cohort": "buyers", "destination": {
            "kind": "webhook", "url": format!("{}/cohorts", receiver.url()),
            "secret": "shh", "headers": {"X-Team": "crm"}, "batch_size": 2},
            "retry": quick_retry(4, 400)}),
    );
    let reset = epoch_secs(SystemTime::now()) + 2;
    receiver.script([
        // Batch 0: a server error, then too slow (the try times out), then accepted.
        Reply::status(500),
        Reply::status(200).after(Duration::from_millis(1_500)),
        Reply::status(200),
        // Batch 1: rate-limited until `reset`, then accepted.
        Reply::status(429).header("X-RateLimit-Reset", reset),
        Reply::status(200),
        // Batch 2: accepted, but the window is used up until `reset + 1`.
        Reply::status(200)
            .header("X-RateLimit-Remaining", 0)
            .header("X-RateLimit-Reset", reset + 1),
    ]);
    let report = sync::run(&engine, "hook").await.expect("synced");
    assert_eq!(report.outcome, SyncOutcome::Completed, "{report:?}");
    let requests = receiver.take();
    let ids: Vec<String> = requests
        .iter()
        .map(|r| r.json()["message_id"].as_str().unwrap().to_owned())
        .collect();
    let run = report.run_ms;
    let id = |index: usize| format!("hook::{run}::enter::{index}");
    assert_eq!(ids, vec![id(0), id(0), id(0), id(1), id(1), id(2)]);
    // The retry after the 429 came no sooner than the reset.
    assert!(
        epoch_secs(requests[4].at) >= reset,
        "retried before the reset"
    );

    for request in &requests {
        // Amplitude's cohort-webhook payload, signed over the exact body.
        let body = request.json();
        assert_eq!(body["cohort_name"], json!("buyers"));
        assert_eq!(body["in_cohort"], json!(true));
        assert_eq!(body["computed_time"], json!((run / 1000).to_string()));
        assert_eq!(request.path, "/cohorts");
        assert_eq!(request.header("x-team").as_deref(), Some("crm"));
        assert_eq!(
            request.header("x-sluice-signature"),
            Some(sync::signature("shh", &request.body))
        );
    }
    let sent: Vec<Vec<String>> = [0, 3, 5]
        .iter()
        .map(|&i| {
            requests[i].json()["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["user_id"].as_str().unwrap().to_owned())
                .collect()
        })
        .collect();
    assert_eq!(
        sent,
        vec![
            users[..2].to_vec(),
            users[2..4].to_vec(),
            users[4..].to_vec()
        ]
    );

    // The log says how many tries each batch took.
    let attempts: Vec<u32> = SyncStore::new(engine.data_dir())
        .delivery_log("hook", None)
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            LogEntry::Batch { attempts, .. } => Some(*attempts),
            LogEntry::Sync { .. } => None,
        })
        .collect();
    assert_eq!(attempts, vec![3, 2, 1]);

    // The next sync after the used-up window waits for its reset.
    cohort_of(&engine, "buyers", &users[..4]).await;
    sync::run(&engine, "hook").await.expect("synced");
    let requests = receiver.take();
    assert_eq!(requests.len(), 1);
    assert!(
        epoch_secs(requests[0].at) > reset,
        "did not wait for the window"
    );
    assert_eq!(requests[0].json()["in_cohort"], json!(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_sync_resumes_without_sending_delivered_batches_again() {
    let receiver = Receiver::start().await;
    let (_dir, engine, users) = dataset("rs", 6);
    cohort_of(&engine, "c", &users).await;
    save_sync(
        &engine,
        json!({"name": "hook", "cohort": "c", "destination": {
            "kind": "webhook", "url": receiver.url(), "batch_size": 2},
            "retry": quick_retry(2, 2_000)}),
    );
    // Batch 0 goes through; batch 1 fails twice: the policy gives up.
    receiver.script([Reply::status(200), Reply::status(503), Reply::status(502)]);
    let report = sync::run(&engine, "hook").await.expect("ran");
    assert_eq!(report.outcome, SyncOutcome::Failed);
    assert_eq!(report.sent, 1);
    assert!(
        report
            .detail
            .as_deref()
            .unwrap()
            .contains("gave up after 2 tries"),
        "{report:?}"
    );
    assert_eq!(receiver.take().len(), 3);
    let state = SyncStore::new(engine.data_dir()).state("hook").unwrap();
    assert_eq!(state.synced_run_ms, None);

    // Tried again: batches 1 and 2 only, under the same message ids.
    let report = sync::run(&engine, "hook").await.expect("ran");
    assert_eq!(
        (report.outcome, report.batches, report.sent),
        (SyncOutcome::Completed, 3, 2)
    );
    let ids: Vec<String> = receiver
        .take()
        .iter()
        .map(|r| r.json()["message_id"].as_str().unwrap().to_owned())
        .collect();
    let run = report.run_ms;
    assert_eq!(
        ids,
        vec![
            format!("hook::{run}::enter::1"),
            format!("hook::{run}::enter::2")
        ]
    );

    // A refusal (401) is not retried, and the sync stops at it.
    cohort_of(&engine, "c", &users[..5]).await;
    receiver.script([Reply::status(401).body(r#"{"error":"bad token"}"#)]);
    let report = sync::run(&engine, "hook").await.expect("ran");
    assert_eq!(report.outcome, SyncOutcome::Failed);
    assert_eq!(receiver.take().len(), 1);
    assert!(report.detail.unwrap().contains("bad token"));
    // Fixed on the other side: the leaving user is sent, once.
    let report = sync::run(&engine, "hook").await.expect("ran");
    assert_eq!((report.outcome, report.exited), (SyncOutcome::Completed, 1));
    let requests = receiver.take();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].json()["users"],
        json!([{"user_id": users[5], "device_id": format!("d-{}", users[5])}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn braze_partial_rejections_are_logged_and_unidentified_persons_skipped() {
    let receiver = Receiver::start().await;
    let (_dir, engine, users) = dataset("pr", 3);
    cohort_of(&engine, "c", &users).await;
    save_sync(
        &engine,
        json!({"name": "b", "cohort": "c", "destination": {
            "kind": "braze", "url": receiver.url(), "api_key": "k", "attribute": "winback"},
            "retry": quick_retry(2, 2_000)}),
    );
    receiver.script([Reply::status(201)
        .body(r#"{"message":"success","errors":[{"type":"'external_id' is invalid","input_array":"attributes","index":1}]}"#)]);
    let report = sync::run(&engine, "b").await.expect("ran");
    assert_eq!(report.outcome, SyncOutcome::Completed);
    let requests = receiver.take();
    assert_eq!(
        braze_objects(&requests[0].json(), "winback"),
        with(&users, true)
    );
    let log = SyncStore::new(engine.data_dir())
        .delivery_log("b", None)
        .unwrap();
    let LogEntry::Batch { status, detail, .. } = &log[0] else {
        panic!("{log:?}");
    };
    assert_eq!(*status, Some(201));
    assert!(
        detail
            .as_deref()
            .unwrap()
            .starts_with("Braze rejected 1 object(s)"),
        "{detail:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_hold_each_batch_and_the_export_every_member() {
    let (dir, engine, users) = dataset("fl", 4);
    cohort_of(&engine, "c", &users[..3]).await;
    let out = dir.path().join("out");
    save_sync(
        &engine,
        json!({"name": "csv", "cohort": "c", "destination": {
            "kind": "file", "dir": out, "format": "csv"}}),
    );
    let first = sync::run(&engine, "csv").await.expect("synced");
    cohort_of(&engine, "c", &users[1..]).await;
    let second = sync::run(&engine, "csv").await.expect("synced");
    let read = |name: String| std::fs::read_to_string(out.join(name)).expect("a file");
    let line = |user: &String, in_cohort: bool| format!("{user},d-{user},{in_cohort}\n");
    assert_eq!(
        read(format!("csv-{}-enter-0.csv", first.run_ms)),
        format!(
            "user_id,device_id,in_cohort\n{}{}{}",
            line(&users[0], true),
            line(&users[1], true),
            line(&users[2], true)
        )
    );
    assert_eq!(
        read(format!("csv-{}-enter-0.csv", second.run_ms)),
        format!("user_id,device_id,in_cohort\n{}", line(&users[3], true))
    );
    assert_eq!(
        read(format!("csv-{}-exit-0.csv", second.run_ms)),
        format!("user_id,device_id,in_cohort\n{}", line(&users[0], false))
    );
    let files = std::fs::read_dir(&out).unwrap().count();
    assert_eq!(files, 3);

    // The export: every member of the latest computation, in CSV and in Parquet.
    let csv = dir.path().join("members.csv");
    let written = sync::export(&engine, "c", &csv, sync::config::FileFormat::Csv)
        .await
        .expect("exported");
    assert_eq!(written, 3);
    let text = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "person_id,user_id,device_id");
    let exported: Vec<String> = rows[1..]
        .iter()
        .map(|row| row.split(',').nth(1).unwrap().to_owned())
        .collect();
    assert_eq!(exported, users[1..].to_vec());
    let parquet = dir.path().join("members.parquet");
    sync::export(&engine, "c", &parquet, sync::config::FileFormat::Parquet)
        .await
        .expect("exported");
    let file = std::fs::File::open(&parquet).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut seen = BTreeSet::new();
    for batch in reader {
        let batch = batch.unwrap();
        let column = batch.column_by_name("user_id").unwrap();
        let users = column
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap();
        seen.extend(users.iter().map(|u| u.unwrap().to_owned()));
    }
    assert_eq!(seen, users[1..].iter().cloned().collect());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_syncs_run_when_due_and_recompute_their_cohort() {
    let receiver = Receiver::start().await;
    let (_dir, engine, users) = dataset("sc", 2);
    cohort_of(&engine, "c", &users).await;
    save_sync(
        &engine,
        json!({"name": "hourly", "cohort": "c", "every_secs": 3600, "destination": {
            "kind": "webhook", "url": receiver.url()}}),
    );
    save_sync(
        &engine,
        json!({"name": "manual", "cohort": "c", "destination": {
            "kind": "webhook", "url": receiver.url()}}),
    );
    let now = 1_900_000_000_000;
    let ran = sync::run_due(&engine, now).await.expect("ran");
    assert_eq!(ran.len(), 1);
    assert_eq!(ran[0].0, "hourly");
    assert_eq!(
        ran[0].1.as_ref().expect("synced").outcome,
        SyncOutcome::Completed
    );
    assert_eq!(receiver.take().len(), 1);
    // Half an hour later: not due.
    assert!(
        sync::run_due(&engine, now + 1_800_000)
            .await
            .unwrap()
            .is_empty()
    );
    // An hour later: due; the cohort is computed again (the same members: nothing to send).
    let runs_before = engine.cohorts().history("c").unwrap().len();
    let ran = sync::run_due(&engine, now + 3_600_000).await.expect("ran");
    assert_eq!(ran.len(), 1);
    assert_eq!(ran[0].1.as_ref().expect("synced").batches, 0);
    assert_eq!(
        engine.cohorts().history("c").unwrap().len(),
        runs_before + 1
    );
    assert!(receiver.take().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cohort_never_computed_or_a_missing_secret_is_a_clear_error() {
    let (_dir, engine, users) = dataset("er", 1);
    let cohort = SavedCohort {
        name: "fresh".to_owned(),
        description: None,
        owner: None,
        project: None,
        time_zone: "UTC".to_owned(),
        definition: serde_json::from_value(json!({ "user_ids": users })).unwrap(),
    };
    engine.save_cohort(&cohort).unwrap();
    save_sync(
        &engine,
        json!({"name": "s", "cohort": "fresh", "destination": {
            "kind": "braze", "url": "http://127.0.0.1:9", "api_key": {"env": "SLUICE_TEST_UNSET_KEY"}}}),
    );
    let error = sync::run(&engine, "s").await.unwrap_err();
    assert!(error.is_user_error());
    assert!(error.to_string().contains("never been computed"), "{error}");
    engine
        .compute_cohort("fresh", Some("2026-03-10".to_owned()), Some(0))
        .await
        .unwrap();
    let error = sync::run(&engine, "s").await.unwrap_err();
    assert!(
        error.to_string().contains("SLUICE_TEST_UNSET_KEY"),
        "{error}"
    );
    let error = sync::run(&engine, "nope").await.unwrap_err();
    assert!(error.to_string().contains("no sync is named"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_names_who_entered_and_who_exited() {
    let (_dir, engine, users) = dataset("hi", 6);
    cohort_of(&engine, "c", &users[..4]).await;
    let first = engine
        .cohort_changes("c", None, 100)
        .await
        .expect("changes");
    assert_eq!(first.previous_ms, None);
    let names = |members: &[sluice_query::result::CohortMember]| -> Vec<String> {
        members.iter().map(|m| m.user_id.clone().unwrap()).collect()
    };
    assert_eq!(names(&first.entered), users[..4].to_vec());
    assert!(first.exited.is_empty());
    cohort_of(&engine, "c", &users[2..]).await;
    let second = engine
        .cohort_changes("c", None, 100)
        .await
        .expect("changes");
    assert_eq!(second.previous_ms, Some(first.run.computed_ms));
    assert_eq!((second.run.entered, second.run.exited), (2, 2));
    assert_eq!(names(&second.entered), users[4..].to_vec());
    assert_eq!(names(&second.exited), users[..2].to_vec());
    assert_eq!(second.exited[0].device_id, Some(format!("d-{}", users[0])));
    // An earlier computation by its time; a limit cuts each list.
    let again = engine
        .cohort_changes("c", Some(first.run.computed_ms), 1)
        .await
        .expect("changes");
    assert_eq!(names(&again.entered), users[..1].to_vec());
    let error = engine.cohort_changes("c", Some(1), 10).await.unwrap_err();
    assert!(error.is_user_error() && error.to_string().contains("no computation at 1 ms"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exited_person_since_merged_is_listed_with_the_person_they_became() {
    let (dir, engine, users) = dataset("mg", 3);
    cohort_of(&engine, "c", &users[..2]).await;
    cohort_of(&engine, "c", &users[2..]).await;
    let changes = engine
        .cohort_changes("c", None, 100)
        .await
        .expect("changes");
    let (gone, stays) = (changes.exited[0].person_id, changes.entered[0].person_id);
    assert_eq!(changes.exited[0].merged_into, None);
    // The first user's person turns out to be the third's (say, a device that logged in).
    write_merge(dir.path(), "merge.parquet", gone, stays);
    let changes = engine
        .cohort_changes("c", None, 100)
        .await
        .expect("changes");
    let merged = &changes.exited[0];
    assert_eq!((merged.person_id, merged.merged_into), (gone, Some(stays)));
    assert_eq!(merged.user_id.as_deref(), Some(users[2].as_str()));
    let other = &changes.exited[1];
    assert_eq!(other.merged_into, None);
    assert_eq!(other.user_id.as_deref(), Some(users[1].as_str()));
}
