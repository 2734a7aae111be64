//! A cohort through the real binary: SDK events posted to the collector, then "viewed a
//! service and did not buy" from `POST /api/v1/query` and as CSV from `sluice query`, with a
//! web visitor who logged in counted as the user they became.

use std::time::Duration;

use serde_json::{Value, json};

use crate::funnel::{JAN_10, MINUTE, PURCHASED, VIEWED_SERVICE, browser_event, ios_event};
use crate::support::{Server, eventually, post_json, query_cli, upload};

const KEY: &str = "cohort-e2e-key";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewed_but_did_not_buy_lists_users_and_anonymous_visitors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--api-key", KEY, "--time-zone", "UTC"]);
    let http = server.client();
    let t = JAN_10 + 9 * 60 * MINUTE;
    let events = vec![
        // An anonymous web visit, then a login as "buyer", who buys in the app: one person,
        // who bought.
        browser_event(None, "web-1", VIEWED_SERVICE, t, "design"),
        browser_event(Some("buyer"), "web-1", VIEWED_SERVICE, t + MINUTE, "design"),
        ios_event("buyer", PURCHASED, t + 10 * MINUTE, "design"),
        // alice looks twice and leaves; a visitor who never logs in looks once.
        browser_event(Some("alice"), "web-2", VIEWED_SERVICE, t, "video"),
        browser_event(Some("alice"), "web-2", VIEWED_SERVICE, t + MINUTE, "video"),
        browser_event(None, "web-9", VIEWED_SERVICE, t + 2 * MINUTE, "video"),
        // bob only buys.
        ios_event("bob", PURCHASED, t, "video"),
    ];
    upload(&http, &server.base_url, KEY, events).await;

    let during = json!({"from": "2026-01-10", "to": "2026-01-10"});
    let spec = json!({
        "version": 1, "analysis": "cohort", "time_zone": "UTC", "as_of": "2026-01-10",
        "definition": {"all": [
            {"performed": {"event": {"event_type": VIEWED_SERVICE}, "during": during}},
            {"did_not_perform": {"event": {"event_type": PURCHASED}, "during": during}},
        ]},
    });
    let query = format!("{}/api/v1/query", server.base_url);
    let result = eventually(Duration::from_secs(20), "the cohort", async || {
        let (status, result) = post_json(&http, &query, &spec).await;
        assert_eq!(status, 200, "{result}");
        (result["persons"] == 4).then_some(result)
    })
    .await;
    assert_eq!(result["analysis"], "cohort");
    assert_eq!(result["size"], 2);
    let members: Vec<(Value, Value)> = result["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user_id"].clone(), m["device_id"].clone()))
        .collect();
    assert_eq!(
        members,
        [
            (json!("alice"), json!("web-2")),
            (Value::Null, json!("web-9"))
        ]
    );

    // A definition the engine refuses is a 400 naming the place.
    let mut bad = spec.clone();
    bad["definition"]["all"][0]["performed"]["count"] = json!({"op": "equal", "value": 0});
    let (status, error) = post_json(&http, &query, &bad).await;
    assert_eq!(status, 400);
    let message = error["error"].as_str().unwrap();
    assert!(
        message.contains("definition.all[0].performed.count"),
        "{message}"
    );

    // "Create cohort from this chart point": the drop-off bar of a view → purchase funnel is
    // the same two persons; its converted bar is the buyer.
    let funnel = json!({
        "version": 1, "analysis": "funnel", "time_zone": "UTC",
        "date_range": {"from": "2026-01-10", "to": "2026-01-10"},
        "steps": [{"event_type": VIEWED_SERVICE}, {"event_type": PURCHASED}],
        "conversion_window": {"value": 1, "unit": "day"},
    });
    let from_funnel = |name: &str| format!("{}/api/v1/cohorts/{name}/from-funnel", server.base_url);
    let body = json!({"funnel": funnel, "step": 2, "dropped": true});
    let (status, made) = post_json(&http, &from_funnel("viewed-no-purchase"), &body).await;
    assert_eq!(status, 200, "{made}");
    assert_eq!(made["run"]["size"], 2);
    assert_eq!(made["cohort"]["definition"]["funnel"]["dropped_after"], 1);
    let body = json!({"funnel": funnel, "step": 2});
    let (status, made) = post_json(&http, &from_funnel("purchasers"), &body).await;
    assert_eq!(status, 200, "{made}");
    assert_eq!(made["result"]["members"][0]["user_id"], "buyer");
    let mut grouped = funnel.clone();
    grouped["breakdown"] = json!({"kind": "event", "property": "category"});
    let body = json!({"funnel": grouped, "step": 2});
    let (status, refused) = post_json(&http, &from_funnel("by-category"), &body).await;
    assert_eq!(status, 400, "{refused}");

    // The same cohort as CSV from the command line, for the campaign tool's import.
    let spec_file = dir.path().join("cohort.json");
    std::fs::write(&spec_file, spec.to_string()).unwrap();
    let csv = query_cli(dir.path(), &spec_file, "--csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "person_id,user_id,device_id");
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[1].ends_with(",alice,web-2"), "{csv}");
    assert!(lines[2].ends_with(",,web-9"), "{csv}");
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_cohorts_are_recomputed_on_schedule_with_who_entered_and_exited() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--api-key",
            KEY,
            "--time-zone",
            "UTC",
            "--cohort-refresh-secs",
            "1",
        ],
    );
    let http = server.client();
    let base = server.base_url.clone();
    let t = JAN_10 + 9 * 60 * MINUTE;
    upload(
        &http,
        &base,
        KEY,
        vec![
            browser_event(Some("alice"), "web-2", VIEWED_SERVICE, t, "video"),
            browser_event(Some("bob"), "web-3", VIEWED_SERVICE, t, "design"),
            ios_event("bob", PURCHASED, t + MINUTE, "design"),
        ],
    )
    .await;

    let during = json!({"from": "2026-01-10", "to": "2026-01-10"});
    let cohort = json!({
        "description": "viewed a service on Jan 10 and did not buy",
        "owner": "crm",
        "definition": {"all": [
            {"performed": {"event": {"event_type": VIEWED_SERVICE}, "during": during}},
            {"did_not_perform": {"event": {"event_type": PURCHASED}, "during": during}},
        ]},
    });
    let url = format!("{base}/api/v1/cohorts/viewed-no-buy");
    let response = http.put(&url).json(&cohort).send().await.unwrap();
    assert_eq!(response.status(), 200);

    // Wrong names and definitions are refused before anything is saved; unknown names are 404.
    let response = http
        .put(format!("{base}/api/v1/cohorts/Bad%20Name"))
        .json(&cohort)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let mut bad = cohort.clone();
    bad["definition"]["all"][0]["performed"]["nth_time"] = json!(9);
    let response = http.put(&url).json(&bad).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let response = http
        .get(format!("{base}/api/v1/cohorts/nobody"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // The schedule computes it: alice is in.
    let latest = async || -> Value {
        let response = http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["history"]
            .as_array()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or(Value::Null)
    };
    eventually(
        Duration::from_secs(30),
        "the first computation",
        async || {
            let run = latest().await;
            (run["size"] == 1).then_some(())
        },
    )
    .await;

    // alice buys; the next computations see her exit.
    let purchase = ios_event("alice", PURCHASED, t + 5 * MINUTE, "video");
    upload(&http, &base, KEY, vec![purchase]).await;
    let run = eventually(Duration::from_secs(30), "alice's exit", async || {
        let run = latest().await;
        (run["size"] == 0 && run["exited"] == 1).then_some(run)
    })
    .await;
    assert_eq!(run["entered"], 0);

    // Asked for directly, with its members.
    let (status, computed) =
        post_json(&http, &format!("{url}/compute"), &json!({"limit": 5})).await;
    assert_eq!(status, 200);
    assert_eq!(computed["run"]["size"], 0);
    assert_eq!(computed["result"]["persons"], 2);
    let listing: Value = http
        .get(format!("{base}/api/v1/cohorts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listing["cohorts"][0]["cohort"]["name"], "viewed-no-buy");
    assert_eq!(listing["cohorts"][0]["cohort"]["owner"], "crm");

    // A static cohort from an uploaded list: ids without events are not persons.
    let vip = format!("{base}/api/v1/cohorts/vip");
    let response = http
        .put(format!("{vip}/ids"))
        .body("user_id\nalice\nnobody-here\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let saved: Value = response.json().await.unwrap();
    assert_eq!(saved["ids"], 2);
    let (status, computed) = post_json(&http, &format!("{vip}/compute"), &json!({})).await;
    assert_eq!(status, 200, "{computed}");
    assert_eq!(computed["result"]["members"][0]["user_id"], "alice");
    assert_eq!(computed["run"]["size"], 1);
    let response = http
        .put(format!("{vip}/ids"))
        .body("\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    let response = http.delete(&url).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 404);
    server.stop();
}

/// Campaign engagement posted as Braze Currents exports it, read back as events: a campaign
/// funnel by variant, with a re-delivered batch stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_engagement_from_currents_is_a_funnel_by_variant() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--api-key", KEY, "--time-zone", "UTC"]);
    let http = server.client();
    let base = server.base_url.clone();
    let t = JAN_10 + 9 * 60 * MINUTE;
    let seconds = |ms: i64| ms / 1000;
    let click = |id: &str, user: &str, variant: &str, at: i64| {
        json!({"event_type": "users.messages.email.Click", "id": id, "time": seconds(at),
               "user": {"user_id": format!("braze-{user}"), "external_user_id": user,
                        "timezone": "Asia/Seoul"},
               "properties": {"campaign_id": "cmp_winback", "campaign_name": "Winback",
                              "message_variation_name": variant, "url": "https://x.example/s"}})
    };
    let batch = json!({"events": [
        {"event_type": "users.messages.email.Send", "id": "s-1", "time": seconds(t - 60 * MINUTE),
         "user": {"user_id": "braze-alice", "external_user_id": "alice"},
         "properties": {"campaign_id": "cmp_winback", "message_variation_name": "A"}},
        click("c-1", "alice", "A", t),
        click("c-2", "bob", "B", t),
        click("c-3", "carol", "B", t),
    ]});
    let post = async |body: &Value, key: Option<&str>| {
        let mut request = http.post(format!("{base}/currents")).json(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request.send().await.unwrap()
    };
    // The key is checked even for an empty batch.
    assert_eq!(post(&json!({"events": []}), None).await.status(), 401);
    assert_eq!(
        post(&json!({"events": []}), Some("wrong")).await.status(),
        401
    );
    assert_eq!(post(&json!({"events": []}), Some(KEY)).await.status(), 200);
    let bad = json!({"events": [{"event_type": "users.messages.email.Click", "time": 1,
                                 "user": {"external_user_id": "x"}}]});
    let response = post(&bad, Some(KEY)).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("id is missing"),
        "{error}"
    );
    // Currents delivers at least once: the same batch twice is stored once.
    for _ in 0..2 {
        let response = post(&batch, Some(KEY)).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["events_ingested"], 4);
    }
    // What the clicks led to, from the app and the site.
    let sdk = vec![
        browser_event(Some("alice"), "web-a", VIEWED_SERVICE, t + MINUTE, "design"),
        ios_event("alice", PURCHASED, t + 5 * MINUTE, "design"),
        browser_event(Some("bob"), "web-b", VIEWED_SERVICE, t + MINUTE, "video"),
    ];
    upload(&http, &base, KEY, sdk).await;

    let funnel = json!({
        "version": 1, "analysis": "funnel", "time_zone": "UTC",
        "date_range": {"from": "2026-01-10", "to": "2026-01-10"},
        "steps": [{"event_type": "Campaign Message Clicked", "where": [
                      {"kind": "event", "property": "campaign_id", "op": "is",
                       "values": ["cmp_winback"]}]},
                  {"event_type": VIEWED_SERVICE}, {"event_type": PURCHASED}],
        "conversion_window": {"value": 1, "unit": "day"},
        "breakdown": {"kind": "event", "property": "variant"},
    });
    let query = format!("{base}/api/v1/query");
    let result = eventually(Duration::from_secs(20), "the campaign funnel", async || {
        let (status, result) = post_json(&http, &query, &funnel).await;
        assert_eq!(status, 200, "{result}");
        let overall: Vec<u64> = result["overall"]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["persons"].as_u64().unwrap())
            .collect();
        (overall == [3, 2, 1]).then_some(result)
    })
    .await;
    let rows: Vec<(Value, Vec<u64>)> = result["by_breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let steps = row["steps"].as_array().unwrap();
            (
                row["value"].clone(),
                steps
                    .iter()
                    .map(|s| s["persons"].as_u64().unwrap())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [(json!("B"), vec![2, 1, 0]), (json!("A"), vec![1, 1, 1])]
    );
    // Every click stored once, though its batch came twice.
    let totals = json!({
        "version": 1, "analysis": "segmentation", "time_zone": "UTC",
        "date_range": {"from": "2026-01-10", "to": "2026-01-10"},
        "events": [{"event_type": "Campaign Message Clicked", "measure": "totals"},
                   {"event_type": "Campaign Message Sent", "measure": "totals"}],
    });
    let (_, totals) = post_json(&http, &query, &totals).await;
    assert_eq!(totals["series"][0]["values"], json!([3]));
    assert_eq!(totals["series"][1]["values"], json!([1]));
    server.stop();
}

/// "Create cohort from this chart point" for a retention cell and a lifecycle bar, over HTTP:
/// each saved cohort's size is the number the chart shows there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retention_cell_and_a_lifecycle_bar_become_cohorts_of_their_size() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--api-key", KEY, "--time-zone", "UTC"]);
    let http = server.client();
    let base = server.base_url.clone();
    let day = 24 * 60 * MINUTE;
    let t = JAN_10 + 9 * 60 * MINUTE;
    // Six viewers on the 10th; the first four come back on the 11th, the first two on the 12th;
    // two new viewers on the 12th.
    let mut events = Vec::new();
    for i in 0..6_i64 {
        let user = format!("viewer-{i}");
        let device = format!("web-v{i}");
        events.push(browser_event(
            Some(&user),
            &device,
            VIEWED_SERVICE,
            t + i * MINUTE,
            "video",
        ));
        if i < 4 {
            events.push(browser_event(
                Some(&user),
                &device,
                VIEWED_SERVICE,
                t + day + i * MINUTE,
                "video",
            ));
        }
        if i < 2 {
            events.push(browser_event(
                Some(&user),
                &device,
                VIEWED_SERVICE,
                t + 2 * day + i * MINUTE,
                "video",
            ));
        }
    }
    for i in 6..8_i64 {
        let user = format!("viewer-{i}");
        events.push(browser_event(
            Some(&user),
            &format!("web-v{i}"),
            VIEWED_SERVICE,
            t + 2 * day,
            "video",
        ));
    }
    upload(&http, &base, KEY, events).await;

    let range = json!({"from": "2026-01-10", "to": "2026-01-12"});
    let retention = json!({"version": 1, "analysis": "retention", "time_zone": "UTC",
        "date_range": range, "start_event": {"event_type": VIEWED_SERVICE},
        "return_event": {"event_type": VIEWED_SERVICE}, "interval": "day", "periods": 2});
    let query = format!("{base}/api/v1/query");
    let chart = eventually(Duration::from_secs(20), "the retention chart", async || {
        let (status, chart) = post_json(&http, &query, &retention).await;
        assert_eq!(status, 200, "{chart}");
        // Every day's viewers start a row: the 12th's are two returning and two new.
        (chart["cohorts"][2]["persons"] == 4).then_some(chart)
    })
    .await;
    let returned = chart["cohorts"][0]["returned"][1].as_u64().unwrap();
    assert_eq!(returned, 4, "{chart}");
    let url = format!("{base}/api/v1/cohorts/came-back-next-day/from-retention");
    let body =
        json!({"retention": retention, "cohort": "2026-01-10", "column": 1, "returned": true});
    let (status, made) = post_json(&http, &url, &body).await;
    assert_eq!(status, 200, "{made}");
    assert_eq!(made["run"]["size"].as_u64(), Some(returned), "{made}");
    // Its members as a file, for the campaign tool's import.
    let csv = http
        .get(format!(
            "{base}/api/v1/cohorts/came-back-next-day/export?format=csv"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "person_id,user_id,device_id");
    assert_eq!(lines.len(), 5, "{csv}");
    assert!(lines[1..].iter().all(|l| l.contains(",viewer-")), "{csv}");
    let url = format!("{base}/api/v1/cohorts/did-not-come-back/from-retention");
    let body =
        json!({"retention": retention, "cohort": "2026-01-10", "column": 1, "returned": false});
    let (status, made) = post_json(&http, &url, &body).await;
    assert_eq!(status, 200, "{made}");
    assert_eq!(made["run"]["size"], 2, "{made}");

    let lifecycle = json!({"version": 1, "analysis": "lifecycle", "time_zone": "UTC",
        "date_range": range, "interval": "day", "event": {"event_type": VIEWED_SERVICE}});
    let (status, chart) = post_json(&http, &query, &lifecycle).await;
    assert_eq!(status, 200, "{chart}");
    let on_12th = chart["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["period"] == "2026-01-12")
        .expect("the 12th")
        .clone();
    for state in ["new", "current", "dormant"] {
        let url = format!("{base}/api/v1/cohorts/{state}-on-12th/from-lifecycle");
        let body = json!({"lifecycle": lifecycle, "period": "2026-01-12", "state": state});
        let (status, made) = post_json(&http, &url, &body).await;
        assert_eq!(status, 200, "{made}");
        assert_eq!(
            made["run"]["size"], on_12th[state],
            "{state}: {made} vs {on_12th}"
        );
    }
    assert_eq!(
        (
            on_12th["new"].clone(),
            on_12th["current"].clone(),
            on_12th["dormant"].clone()
        ),
        (json!(2), json!(2), json!(2))
    );
    // A period the chart does not show is refused.
    let url = format!("{base}/api/v1/cohorts/nowhere/from-lifecycle");
    let body = json!({"lifecycle": lifecycle, "period": "2027-01-01", "state": "new"});
    let (status, refused) = post_json(&http, &url, &body).await;
    assert_eq!(status, 400, "{refused}");
    server.stop();
}

/// `sluice serve --syncs FILE` saves the file's syncs at start (secrets hidden from the API),
/// and a file with a bad sync stops the start with a message naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_saves_the_syncs_of_its_file_and_refuses_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let syncs = dir.path().join("syncs.json");
    std::fs::write(
        &syncs,
        json!([
            {"name": "to-braze", "cohort": "dropoffs", "every_secs": 3600,
             "destination": {"kind": "braze", "url": "https://rest.iad-01.braze.com",
                             "api_key": "written-out-key"}},
            {"name": "to-files", "cohort": "dropoffs",
             "destination": {"kind": "file", "dir": dir.path().join("out"), "format": "csv"}},
        ])
        .to_string(),
    )
    .unwrap();
    let data = dir.path().join("data");
    let server = Server::start(
        &data,
        &["--api-key", KEY, "--syncs", syncs.to_str().unwrap()],
    );
    let http = server.client();
    let listing: Value = http
        .get(format!("{}/api/v1/syncs", server.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = listing["syncs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sync"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["to-braze", "to-files"]);
    assert_eq!(
        listing["syncs"][0]["sync"]["destination"]["api_key"],
        json!("(hidden)")
    );
    assert_eq!(listing["syncs"][0]["sync"]["every_secs"], json!(3600));
    server.stop();

    std::fs::write(
        &syncs,
        json!({"name": "fast", "cohort": "dropoffs", "every_secs": 1,
               "destination": {"kind": "webhook", "url": "http://127.0.0.1:9/hook"}})
        .to_string(),
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            KEY,
            "--data-dir",
        ])
        .arg(&data)
        .args(["--syncs", syncs.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("sync fast") && stderr.contains("once a minute"),
        "{stderr}"
    );
}
