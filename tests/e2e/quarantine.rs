//! Taxonomy enforcement end to end: events the plan rejects are acknowledged, kept in the
//! quarantine (queryable with their reasons), and `sluice quarantine replay` moves them into the
//! main dataset once the plan is fixed — while the server keeps running.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Server, eventually};

const KEY: &str = "quarantine-e2e-key";
const T: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

const PLAN_BEFORE: &str = r#"
[project]
name = "shop"

[policy]
unplanned_event = "reject"

[events."Service Viewed"]
description = "A buyer opened a service page."
"#;

fn plan_after() -> String {
    format!(
        "{PLAN_BEFORE}\n[events.\"Promo Clicked\"]\ndescription = \"A promotion was clicked.\"\n"
    )
}

async fn listing(server: &Server, dataset: &str) -> Value {
    let spec = json!({"version": 1, "analysis": "events", "dataset": dataset, "project": "shop"});
    let response = server
        .client()
        .post(format!("{}/api/v1/query", server.base_url))
        .json(&spec)
        .send()
        .await
        .expect("query");
    assert_eq!(response.status(), 200);
    response.json().await.expect("JSON")
}

fn sluice(args: &[&str], data_dir: &Path) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--json")
        .env("SLUICE_LOG", "warn")
        .output()
        .expect("running sluice");
    assert!(
        output.status.success(),
        "sluice {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_events_are_kept_listed_and_replayed_once_the_plan_is_fixed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = dir.path().join("before.toml");
    let after = dir.path().join("after.toml");
    std::fs::write(&before, PLAN_BEFORE).unwrap();
    std::fs::write(&after, plan_after()).unwrap();
    let data = dir.path().join("data");
    let before_arg = before.to_str().unwrap();
    let server = Server::start(&data, &["--api-key", KEY, "--tracking-plan", before_arg]);

    let event = |event_type: &str, i: i64| {
        json!({"event_type": event_type, "user_id": "buyer-1", "device_id": "device-1",
               "time": T + i * 1000, "insert_id": format!("{event_type}-{i}")})
    };
    let events: Vec<Value> = (0..5)
        .map(|i| {
            event(
                if i % 2 == 0 {
                    "Promo Clicked"
                } else {
                    "Service Viewed"
                },
                i,
            )
        })
        .collect();
    let response = reqwest::Client::new()
        .post(format!("{}/2/httpapi", server.base_url))
        .json(&json!({"api_key": KEY, "events": events}))
        .send()
        .await
        .expect("upload");
    assert_eq!(
        response.status(),
        200,
        "rejected by the plan is still acknowledged"
    );

    let quarantined = eventually(Duration::from_secs(20), "the quarantine", async || {
        let q = listing(&server, "quarantine").await;
        (q["total"] == json!(3)).then_some(q)
    })
    .await;
    for e in quarantined["events"].as_array().unwrap() {
        let issues = e["taxonomy_issues"].to_string();
        assert!(issues.contains("unplanned event"), "{issues}");
    }
    assert_eq!(listing(&server, "events").await["total"], json!(2));

    let dry = sluice(
        &[
            "quarantine",
            "replay",
            "--tracking-plan",
            before_arg,
            "--dry-run",
        ],
        &data,
    );
    assert_eq!(
        dry["events_replayed"],
        json!(0),
        "the old plan still rejects them"
    );
    assert_eq!(dry["events_still_quarantined"], json!(3));

    let report = sluice(
        &[
            "quarantine",
            "replay",
            "--tracking-plan",
            after.to_str().unwrap(),
        ],
        &data,
    );
    assert_eq!(report["events_replayed"], json!(3), "{report}");
    assert_eq!(report["events_still_quarantined"], json!(0));

    // The running server's queries see the move at once; nothing is in both datasets.
    let main = listing(&server, "events").await;
    assert_eq!(main["total"], json!(5));
    let mut ids: Vec<&str> = main["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["insert_id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "Promo Clicked-0",
            "Promo Clicked-2",
            "Promo Clicked-4",
            "Service Viewed-1",
            "Service Viewed-3"
        ]
    );
    assert_eq!(listing(&server, "quarantine").await["total"], json!(0));
    let listed = sluice(&["quarantine", "list"], &data);
    assert_eq!(listed["total"], json!(0));

    // Replaying again is a no-op.
    let again = sluice(
        &[
            "quarantine",
            "replay",
            "--tracking-plan",
            after.to_str().unwrap(),
        ],
        &data,
    );
    assert_eq!(again["events_replayed"], json!(0));
    assert_eq!(listing(&server, "events").await["total"], json!(5));
    server.stop();
}

/// `GET /api/v1/taxonomy`: the tracking plan beside the data — per event type its events per
/// day and when last seen, planned or not, the planned events not seen, and what was quarantined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_taxonomy_shows_the_plan_beside_volumes_and_the_quarantine() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.toml");
    let text = format!(
        "{PLAN_BEFORE}\n[events.\"Purchase Completed\"]\ndescription = \"Payment succeeded.\"\n"
    );
    std::fs::write(&plan, text).unwrap();
    let data = dir.path().join("data");
    let server = Server::start(
        &data,
        &["--api-key", KEY, "--tracking-plan", plan.to_str().unwrap()],
    );
    let now = chrono::Utc::now().timestamp_millis();
    let event = |id: &str, event_type: &str, back_ms: i64| {
        json!({"event_type": event_type, "user_id": "user-1", "device_id": "device-1",
               "time": now - back_ms, "insert_id": format!("taxonomy-{id}")})
    };
    let events = vec![
        event("v1", "Service Viewed", 0),
        event("v2", "Service Viewed", 60_000),
        event("v3", "Service Viewed", 26 * 3_600_000),
        event("p1", "Promo Clicked", 0),
    ];
    let http = server.client();
    let response = http
        .post(format!("{}/2/httpapi", server.base_url))
        .json(&json!({"api_key": KEY, "events": events}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let url = format!("{}/api/v1/taxonomy?days=3", server.base_url);
    let taxonomy: Value = eventually(Duration::from_secs(20), "volumes", async || {
        let taxonomy: Value = http.get(&url).send().await.ok()?.json().await.ok()?;
        let loaded =
            taxonomy["events"][0]["events"] == 3 && taxonomy["quarantined"].as_array()?.len() == 1;
        loaded.then_some(taxonomy)
    })
    .await;
    assert_eq!(taxonomy["days"].as_array().unwrap().len(), 3);
    let viewed = &taxonomy["events"][0];
    assert_eq!(viewed["event_type"], "Service Viewed");
    assert_eq!(viewed["planned"], true);
    assert_eq!(viewed["events"], 3);
    let daily: u64 = viewed["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(daily, 3, "{viewed}");
    assert_eq!(viewed["last_seen_ms"], json!(now), "{viewed}");
    assert_eq!(taxonomy["quarantined"][0]["event_type"], "Promo Clicked");
    assert_eq!(taxonomy["planned_not_seen"], json!(["Purchase Completed"]));
    assert_eq!(
        taxonomy["plan"]["events"]["Service Viewed"]["description"],
        "A buyer opened a service page."
    );
    let too_few = http
        .get(format!("{}/api/v1/taxonomy?days=0", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(too_few.status(), 400);
    server.stop();
}
