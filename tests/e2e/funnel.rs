//! The whole path: SDK-shaped events posted to the real binary come back as exact funnel numbers
//! from `POST /api/v1/query`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Server, eventually, query_cli};

const KEY: &str = "funnel-e2e-key";
pub(crate) const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;
/// 2026-01-10T00:00:00Z, the first day of the query's date range.
pub(crate) const JAN_10: i64 = 1_768_003_200_000;

const VIEWED_CATEGORY: &str = "Category Viewed";
pub(crate) const VIEWED_SERVICE: &str = "Service Viewed";
pub(crate) const PURCHASED: &str = "Purchase Completed";

/// One event as the Amplitude Browser SDK 2 (`@amplitude/analytics-browser`) puts it on the wire.
pub(crate) fn browser_event(
    user: Option<&str>,
    device: &str,
    event_type: &str,
    time: i64,
    category: &str,
) -> Value {
    let mut event = json!({
        "device_id": device,
        "session_id": time - time % (30 * MINUTE),
        "time": time,
        "platform": "Web",
        "os_name": "Chrome",
        "os_version": "131",
        "device_model": "Mac OS",
        "language": "ko-KR",
        "ip": "$remote",
        "insert_id": format!("{device}-{event_type}-{time}"),
        "event_type": event_type,
        "event_properties": {"category": category},
        "event_id": time % 1_000,
        "library": "amplitude-ts/2.11.9",
        "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36",
    });
    if let Some(user) = user {
        event["user_id"] = json!(user);
    }
    event
}

/// One event as the Amplitude iOS SDK (`Amplitude-Swift`) sends it.
pub(crate) fn ios_event(user: &str, event_type: &str, time: i64, category: &str) -> Value {
    json!({
        "user_id": user,
        "device_id": format!("IDFV-{user}"),
        "session_id": time - time % (30 * MINUTE),
        "time": time,
        "platform": "iOS",
        "os_name": "ios",
        "os_version": "18.1",
        "device_manufacturer": "Apple",
        "device_model": "iPhone16,2",
        "carrier": "SKTelecom",
        "country": "South Korea",
        "language": "Korean",
        "version_name": "5.12.0",
        "insert_id": format!("ios-{user}-{event_type}-{time}"),
        "event_type": event_type,
        "event_properties": {"category": category},
        "library": "amplitude-swift/1.11.2",
    })
}

/// The hand-computed dataset. Steps: category → service → purchase, 1-day window, by category.
///
/// | person | entry category | what happens                                        | level |
/// |--------|----------------|-----------------------------------------------------|-------|
/// | u1     | design         | A, B, C within an hour                              | 3     |
/// | u2     | design         | A, B                                                | 2     |
/// | u3     | translation    | A, C (no B)                                         | 1     |
/// | u4     | translation    | A, B one day + 1 ms later (outside the window)      | 1     |
/// | u5     | —              | B only, never entered                               | —     |
/// | device | video          | anonymous: A, B, C, the purchase exactly 1 day later| 3     |
/// | u7     | design         | A and B in the same millisecond, C a second later   | 3     |
/// | u8     | —              | A the day before the range, B and C inside it       | —     |
/// | u9     | design (iOS)   | C, B, A sent in that order: out of order on the wire| 3     |
fn dataset() -> Vec<Value> {
    let t = JAN_10 + 9 * 60 * MINUTE;
    vec![
        browser_event(Some("u1"), "d1", VIEWED_CATEGORY, t, "design"),
        browser_event(Some("u1"), "d1", VIEWED_SERVICE, t + 5 * MINUTE, "design"),
        browser_event(Some("u1"), "d1", PURCHASED, t + 50 * MINUTE, "design"),
        browser_event(Some("u2"), "d2", VIEWED_CATEGORY, t, "design"),
        browser_event(Some("u2"), "d2", VIEWED_SERVICE, t + MINUTE, "design"),
        browser_event(Some("u3"), "d3", VIEWED_CATEGORY, t, "translation"),
        browser_event(Some("u3"), "d3", PURCHASED, t + MINUTE, "translation"),
        browser_event(Some("u4"), "d4", VIEWED_CATEGORY, t, "translation"),
        browser_event(Some("u4"), "d4", VIEWED_SERVICE, t + DAY + 1, "translation"),
        browser_event(Some("u5"), "d5", VIEWED_SERVICE, t, "design"),
        browser_event(None, "anon-device-6", VIEWED_CATEGORY, t, "video"),
        browser_event(
            None,
            "anon-device-6",
            VIEWED_SERVICE,
            t + 3 * MINUTE,
            "video",
        ),
        browser_event(None, "anon-device-6", PURCHASED, t + DAY, "video"),
        browser_event(Some("u7"), "d7", VIEWED_CATEGORY, t, "design"),
        browser_event(Some("u7"), "d7", VIEWED_SERVICE, t, "design"),
        browser_event(Some("u7"), "d7", PURCHASED, t + 1_000, "design"),
        browser_event(Some("u8"), "d8", VIEWED_CATEGORY, JAN_10 - MINUTE, "design"),
        browser_event(Some("u8"), "d8", VIEWED_SERVICE, t, "design"),
        browser_event(Some("u8"), "d8", PURCHASED, t + MINUTE, "design"),
        ios_event("u9", PURCHASED, t + 20 * MINUTE, "design"),
        ios_event("u9", VIEWED_SERVICE, t + 10 * MINUTE, "design"),
        ios_event("u9", VIEWED_CATEGORY, t, "design"),
    ]
}

fn funnel_spec() -> Value {
    json!({
        "version": 1,
        "analysis": "funnel",
        "date_range": {"from": "2026-01-10", "to": "2026-01-11"},
        "time_zone": "UTC",
        "steps": [{"event_type": VIEWED_CATEGORY}, {"event_type": VIEWED_SERVICE}, {"event_type": PURCHASED}],
        "conversion_window": {"value": 1, "unit": "day"},
        "breakdown": {"kind": "event", "property": "category"},
    })
}

/// `[persons at step 1, step 2, step 3]` of one result row.
fn persons(row: &Value) -> Vec<u64> {
    row["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["persons"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_events_posted_over_http_give_the_exact_funnel() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--api-key", KEY, "--time-zone", "UTC"]);
    let http = server.client();

    // Three requests, in an order that puts later events before earlier ones.
    let mut events = dataset();
    events.reverse();
    for chunk in events.chunks(8) {
        let body = json!({"api_key": KEY, "events": chunk, "options": {"min_id_length": 2}});
        let response = http
            .post(format!("{}/2/httpapi", server.base_url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["code"], 200);
        assert_eq!(answer["events_ingested"], chunk.len());
    }

    // The loader makes them queryable within a few seconds.
    let result = eventually(
        Duration::from_secs(20),
        "all 22 events to be queryable",
        async || {
            let response = http
                .post(format!("{}/api/v1/query", server.base_url))
                .json(&funnel_spec())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let result: Value = response.json().await.unwrap();
            (persons(&result["overall"]) == [7, 5, 4]).then_some(result)
        },
    )
    .await;

    assert_eq!(result["analysis"], "funnel");
    let overall = &result["overall"]["steps"];
    assert_eq!(overall[1]["drop_off"], 2);
    assert_eq!(
        overall[2]["conversion_from_first"].as_f64().unwrap(),
        4.0 / 7.0
    );
    let rows: Vec<(Value, Vec<u64>)> = result["by_breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| (row["value"].clone(), persons(row)))
        .collect();
    assert_eq!(
        rows,
        vec![
            (json!("design"), vec![4, 4, 3]),
            (json!("translation"), vec![2, 0, 0]),
            (json!("video"), vec![1, 1, 1]),
        ]
    );

    // Bad specs are the caller's fault and say why.
    let refusal = |spec: Value| {
        let request = http
            .post(format!("{}/api/v1/query", server.base_url))
            .json(&spec);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 400);
            let error: Value = response.json().await.unwrap();
            error["error"].as_str().unwrap().to_owned()
        }
    };
    let error = refusal(json!({"version": 1, "analysis": "funnel", "steps": []})).await;
    assert!(error.contains("date_range"), "{error}");
    // A shape error names its field, though the spec is read by its `analysis` tag.
    let error = refusal(json!({"version": 1, "analysis": "funnel",
        "date_range": {"from": "2025-01-01", "to": "2025-01-07"},
        "steps": [{"event_type": "A"},
                  {"event_type": "B", "where": [{"property": "p", "op": "equalz", "values": []}]}]}))
    .await;
    assert!(
        error.starts_with("invalid query spec: steps[1].where[0].op: unknown variant `equalz`"),
        "{error}"
    );

    server.stop();
}

/// Identity resolution end to end: a visitor browses anonymously on the web, logs in there, buys
/// in the iOS app and browses again after logging out; all of it is one person. Two users sharing
/// a device stay two persons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_web_visits_and_app_purchases_of_one_user_are_one_person() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--api-key", KEY, "--time-zone", "UTC"]);
    let http = server.client();
    let t = JAN_10 + 9 * 60 * MINUTE;
    // In arrival order (one request), as identity follows the order events arrive in.
    let events = vec![
        browser_event(None, "web-1", VIEWED_CATEGORY, t, "design"),
        browser_event(Some("buyer"), "web-1", VIEWED_SERVICE, t + MINUTE, "design"),
        ios_event("buyer", PURCHASED, t + 10 * MINUTE, "design"),
        browser_event(None, "web-1", VIEWED_CATEGORY, t + 20 * MINUTE, "design"),
        browser_event(Some("alice"), "shared", VIEWED_CATEGORY, t, "video"),
        browser_event(Some("bob"), "shared", VIEWED_SERVICE, t + MINUTE, "video"),
        browser_event(None, "shared", PURCHASED, t + 2 * MINUTE, "video"),
    ];
    let body = json!({"api_key": KEY, "events": events, "options": {"min_id_length": 2}});
    let response = http
        .post(format!("{}/2/httpapi", server.base_url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut spec = funnel_spec();
    spec.as_object_mut().unwrap().remove("breakdown");

    // buyer: [1, 1, 1]; alice: [1, 0, 0] (bob's view and the anonymous purchase after bob
    // logged in are bob's, and users are never merged). Counted by device, it would be
    // [2, 0, 0]: the anonymous web visitor never viewed a service.
    let result = eventually(Duration::from_secs(20), "the persons' funnel", async || {
        let response = http
            .post(format!("{}/api/v1/query", server.base_url))
            .json(&spec)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let result: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{result}");
        (persons(&result["overall"]) == [2, 1, 1]).then_some(result)
    })
    .await;
    assert_eq!(result["overall"]["steps"][2]["persons"], 1);

    // Daily uniques count persons too: buyer (web and app), alice, bob. By device and user id
    // it would be 4 (the anonymous web visitor separately).
    let daily = json!({
        "version": 1, "analysis": "segmentation",
        "date_range": {"from": "2026-01-10", "to": "2026-01-10"}, "time_zone": "UTC",
        "events": [{"event_type": "_all"}, {"event_type": VIEWED_CATEGORY, "measure": "totals"}],
    });
    let response = http
        .post(format!("{}/api/v1/query", server.base_url))
        .json(&daily)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let daily: Value = response.json().await.unwrap();
    assert_eq!(daily["analysis"], "segmentation");
    assert_eq!(daily["points"], json!(["2026-01-10"]));
    assert_eq!(daily["series"][0]["values"], json!([3]));
    assert_eq!(daily["series"][1]["values"], json!([3]));

    // Retention through the command line: all three persons are new on Jan 10; the spec file
    // is what a user would write.
    let spec_file = dir.path().join("retention.json");
    let retention = json!({
        "version": 1, "analysis": "retention",
        "date_range": {"from": "2026-01-10", "to": "2026-01-10"}, "time_zone": "UTC",
        "start_event": {"event_type": "_new"}, "return_event": {"event_type": PURCHASED},
        "boundaries": "calendar", "periods": 1,
    });
    std::fs::write(&spec_file, retention.to_string()).unwrap();
    let table: Value = serde_json::from_str(&query_cli(dir.path(), &spec_file, "--json")).unwrap();
    // buyer purchased on day 0, and bob (the anonymous purchase on the shared device).
    assert_eq!(table["cohorts"][0]["persons"], 3);
    assert_eq!(table["cohorts"][0]["returned"], json!([2, 0]));
    // The same as CSV, for a spreadsheet, from the command line and over HTTP.
    let csv = query_cli(dir.path(), &spec_file, "--csv");
    let lines: Vec<&str> = csv.lines().take(2).collect();
    assert_eq!(lines, ["cohort,persons,0,1", "2026-01-10,3,2,0"]);
    let response = http
        .post(format!("{}/api/v1/query", server.base_url))
        .header("accept", "text/csv")
        .json(&retention)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    assert_eq!(response.text().await.unwrap(), csv);
    server.stop();
}

/// The identity files (`identity/*.parquet`) of `data_dir`, by name.
fn identity_files(data_dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data_dir.join("identity"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".parquet") && !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_files_of_many_batches_are_compacted_and_every_merge_still_counts() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--api-key",
            KEY,
            "--compact-interval-secs",
            "1",
            "--compact-min-files",
            "3",
        ],
    );
    let http = server.client();
    let t = JAN_10 + 9 * 60 * MINUTE;
    let mut spec = funnel_spec();
    spec.as_object_mut().unwrap().remove("breakdown");
    let funnel = async |http: &reqwest::Client| {
        let response = http
            .post(format!("{}/api/v1/query", server.base_url))
            .json(&spec)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        persons(&response.json::<Value>().await.unwrap()["overall"])
    };
    // Three batches, each a device that browses anonymously and then logs in: one identity
    // file each. Without the merges the anonymous category views would be persons of their own.
    for k in 0..3u64 {
        let (device, user) = (format!("laptop-{k}"), format!("buyer-{k}"));
        let at = t + k as i64 * MINUTE;
        let events = vec![
            browser_event(None, &device, VIEWED_CATEGORY, at, "design"),
            browser_event(Some(&user), &device, VIEWED_SERVICE, at + MINUTE, "design"),
            ios_event(&user, PURCHASED, at + 2 * MINUTE, "design"),
        ];
        let body = json!({"api_key": KEY, "events": events});
        let response = http
            .post(format!("{}/2/httpapi", server.base_url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let converted = vec![k + 1; 3];
        eventually(Duration::from_secs(20), "the batch's merge", async || {
            (funnel(&http).await == converted).then_some(())
        })
        .await;
    }
    // The compactor turns the three identity files into one.
    let files = eventually(Duration::from_secs(20), "identity compaction", async || {
        let files = identity_files(dir.path());
        (files.len() == 1 && files[0].starts_with("compact-")).then_some(files)
    })
    .await;
    assert_eq!(files.len(), 1);
    assert_eq!(funnel(&http).await, [3, 3, 3]);
    server.stop();
    // A fresh process reads the one compacted file: the same persons.
    let spec_file = dir.path().join("funnel.json");
    std::fs::write(&spec_file, spec.to_string()).unwrap();
    let result: Value = serde_json::from_str(&query_cli(dir.path(), &spec_file, "--json")).unwrap();
    assert_eq!(persons(&result["overall"]), [3, 3, 3]);
}
