use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;
use crate::log::{LocalLog, LocalLogOptions};
use crate::metrics::IngestMetrics;

struct Fixture {
    _dir: tempfile::TempDir,
    log: Arc<LocalLog>,
    app: axum::Router,
}

fn fixture() -> Fixture {
    fixture_with(CollectorConfig::default())
}

fn fixture_with(config: CollectorConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(LocalLog::open(dir.path(), LocalLogOptions::default()).unwrap());
    let projects = Projects::new([("key-1".to_owned(), "shop".to_owned())]);
    let collector = Arc::new(Collector::with_config(
        Arc::clone(&log) as Arc<dyn EventLog>,
        projects,
        config,
        Arc::new(IngestMetrics::new()),
    ));
    Fixture {
        _dir: dir,
        log,
        app: router(collector),
    }
}

async fn post(app: &axum::Router, path: &str, body: impl Into<Body>) -> (StatusCode, Value) {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).expect("every answer is JSON");
    assert_eq!(
        body["code"],
        status.as_u16(),
        "code equals the status: {body}"
    );
    (status, body)
}

fn stored(log: &LocalLog) -> Vec<sluice_schema::Event> {
    let mut consumer = log.consumer("test").unwrap();
    consumer
        .poll(10_000, Duration::ZERO)
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.payload).unwrap())
        .collect()
}

#[tokio::test]
async fn accepts_an_sdk_upload_and_stores_it_durably() {
    let f = fixture();
    let body = json!({"api_key": "key-1", "events": [
        {"event_type": "Viewed", "user_id": "user-1", "time": 1000, "insert_id": "a"},
        {"event_type": "Bought", "device_id": "device-1", "time": 2000, "insert_id": "b"}
    ], "options": {}})
    .to_string();
    let size = body.len();
    let (status, answer) = post(&f.app, "/2/httpapi", body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["events_ingested"], 2);
    assert_eq!(answer["payload_size_bytes"], size);
    assert!(answer["server_upload_time"].as_i64().unwrap() > 1_600_000_000_000);
    let events = stored(&f.log);
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].project, "shop");
    assert_eq!(events[1].event_type, "Bought");
}

#[tokio::test]
async fn unknown_key_and_missing_fields_are_400s() {
    let f = fixture();
    let (status, answer) = post(
        &f.app,
        "/2/httpapi",
        json!({"api_key": "nope", "events": []}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"], "Invalid API key: nope");
    let (_, answer) = post(&f.app, "/2/httpapi", json!({"events": []}).to_string()).await;
    assert_eq!(answer["missing_field"], "api_key");
    let (_, answer) = post(&f.app, "/2/httpapi", "{not json").await;
    assert_eq!(answer["error"], "Invalid JSON request body");
    let (_, answer) = post(&f.app, "/2/httpapi", "").await;
    assert_eq!(answer["error"], "Missing request body");
}

#[tokio::test]
async fn invalid_events_are_listed_by_index_and_nothing_is_stored() {
    let f = fixture();
    let body = json!({"api_key": "key-1", "events": [
        {"event_type": "ok", "user_id": "user-1"},
        {"user_id": "user-1"},
        {"event_type": "x", "user_id": "user-1", "time": "yesterday"},
        {"event_type": "x", "user_id": "ab"},
        {"event_type": "x"}
    ]});
    let (status, answer) = post(&f.app, "/2/httpapi", body.to_string()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"], "Invalid field values on some events");
    assert_eq!(
        answer["events_with_missing_fields"],
        json!({"event_type": [1], "device_id": [4]})
    );
    assert_eq!(
        answer["events_with_invalid_fields"],
        json!({"time": [2], "user_id": [3]})
    );
    assert_eq!(
        answer["events_with_invalid_id_lengths"],
        json!({"user_id": [3]})
    );
    assert!(
        stored(&f.log).is_empty(),
        "a rejected request stores nothing"
    );
}

#[tokio::test]
async fn too_many_events_or_bytes_are_413s() {
    let f = fixture();
    let events: Vec<Value> = (0..=MAX_EVENTS_PER_REQUEST)
        .map(|_| json!({"event_type": "e", "user_id": "user-1"}))
        .collect();
    let (status, answer) = post(
        &f.app,
        "/2/httpapi",
        json!({"api_key": "key-1", "events": events}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer["error"], "Payload too large");
    let one = json!({"event_type": "e", "user_id": "user-1", "event_properties": {"blob": "x".repeat(1000)}});
    let big = json!({"api_key": "key-1", "events": vec![one; 1100]}).to_string();
    assert!(big.len() > HTTPAPI_MAX_BYTES);
    let (status, _) = post(&f.app, "/2/httpapi", big.clone()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // The batch endpoint takes up to 20 MB.
    let (status, answer) = post(&f.app, "/batch", big).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(stored(&f.log).len(), 1100);
}

async fn send(
    app: &axum::Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, bytes.to_vec())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test]
async fn gzip_and_text_plain_bodies_are_accepted() {
    let f = fixture();
    let body = json!({"api_key": "key-1", "events": [
        {"event_type": "Viewed", "user_id": "user-1", "insert_id": "a"}]})
    .to_string();
    let request = Request::post("/2/httpapi")
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(Body::from(gzip(body.as_bytes())))
        .unwrap();
    let (status, _, answer) = send(&f.app, request).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(
        answer["payload_size_bytes"],
        body.len(),
        "counted after decompression"
    );
    // navigator.sendBeacon posts text/plain.
    let request = Request::post("/2/httpapi")
        .header("content-type", "text/plain;charset=UTF-8")
        .body(Body::from(body.replace("\"a\"", "\"b\"")))
        .unwrap();
    let (status, _, _) = send(&f.app, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored(&f.log).len(), 2);
}

#[tokio::test]
async fn browsers_get_cors_preflight_answers() {
    let f = fixture();
    let request = Request::options("/2/httpapi")
        .header("origin", "http://shop.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .body(Body::empty())
        .unwrap();
    let (status, headers, _) = send(&f.app, request).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    let request = Request::post("/2/httpapi")
        .header("origin", "http://shop.example")
        .body(Body::from(
            json!({"api_key": "key-1", "events": []}).to_string(),
        ))
        .unwrap();
    let (_, headers, _) = send(&f.app, request).await;
    assert_eq!(headers["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn identify_apis_take_forms_and_query_strings() {
    let f = fixture();
    let form = serde_urlencoded::to_string([
        ("api_key", "key-1"),
        (
            "identification",
            r#"[{"user_id":"user-1","user_properties":{"$set":{"plan":"pro"}}}]"#,
        ),
    ])
    .unwrap();
    let request = Request::post("/identify")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.clone()))
        .unwrap();
    let (status, _, answer) = send(&f.app, request).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let request = Request::get(format!("/identify?{form}"))
        .body(Body::empty())
        .unwrap();
    let (status, _, _) = send(&f.app, request).await;
    assert_eq!(status, StatusCode::OK);
    let group = serde_urlencoded::to_string([
        ("api_key", "key-1"),
        (
            "identification",
            r#"{"group_type":"org","group_value":"acme","group_properties":{"$set":{"tier":"gold"}}}"#,
        ),
    ])
    .unwrap();
    let request = Request::post("/groupidentify")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(group))
        .unwrap();
    let (status, _, _) = send(&f.app, request).await;
    assert_eq!(status, StatusCode::OK);
    let events = stored(&f.log);
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["$identify", "$identify", "$groupidentify"]);
    assert_eq!(events[0].user_properties["$set"]["plan"], "pro");
    assert_eq!(events[2].group_properties["$set"]["tier"], "gold");

    let request = Request::post("/identify")
        .body(Body::from("api_key=key-1&identification=nope"))
        .unwrap();
    let (status, _, answer) = send(&f.app, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["error"], "missing_event");
    assert_eq!(answer["code"], 400);
}

#[tokio::test]
async fn a_device_over_its_rate_gets_429_and_nothing_is_stored() {
    let f = fixture_with(CollectorConfig {
        throttle: Some(ThrottleConfig {
            events_per_second: 1.0,
            window: Duration::from_secs(3),
        }),
        ..CollectorConfig::default()
    });
    let events = |n: usize, device: &str| -> Vec<Value> {
        (0..n)
            .map(|i| json!({"event_type": "e", "device_id": device, "insert_id": format!("{device}-{i}")}))
            .collect()
    };
    let (status, _) = post(
        &f.app,
        "/2/httpapi",
        json!({"api_key": "key-1", "events": events(3, "device-a")}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut mixed = events(1, "device-b");
    mixed.extend(events(1, "device-a"));
    let (status, answer) = post(
        &f.app,
        "/2/httpapi",
        json!({"api_key": "key-1", "events": mixed}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        answer["error"],
        "Too many requests for some devices and users"
    );
    assert_eq!(answer["throttled_events"], json!([1]));
    assert_eq!(answer["throttled_devices"], json!({"device-a": 4}));
    assert_eq!(answer["throttled_users"], json!({}));
    assert_eq!(answer["eps_threshold"], 1);
    assert_eq!(answer["exceeded_daily_quota_devices"], json!({}));
    assert_eq!(
        stored(&f.log).len(),
        3,
        "the throttled request stored nothing"
    );
}

#[tokio::test]
async fn the_event_limit_is_configurable() {
    let f = fixture_with(CollectorConfig {
        max_events_per_request: 2,
        ..CollectorConfig::default()
    });
    let events = vec![json!({"event_type": "e", "user_id": "user-1"}); 3];
    let (status, _) = post(
        &f.app,
        "/2/httpapi",
        json!({"api_key": "key-1", "events": events}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let f = fixture();
    for path in ["/healthz", "/readyz"] {
        let (status, _, _) = send(&f.app, Request::get(path).body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let body = json!({"api_key": "key-1", "events": [
        {"event_type": "e", "user_id": "user-1"}, {"event_type": "e", "user_id": "user-2"}]});
    post(&f.app, "/2/httpapi", body.to_string()).await;
    post(&f.app, "/2/httpapi", "{").await;
    let (status, headers, text) = send(
        &f.app,
        Request::get("/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = String::from_utf8(text).unwrap();
    for line in [
        r#"sluice_events_total{outcome="accepted"} 2"#,
        r#"sluice_http_requests_total{endpoint="httpapi",code="200"} 1"#,
        r#"sluice_http_requests_total{endpoint="httpapi",code="400"} 1"#,
        "sluice_loader_lag_events 2",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    assert!(text.contains("sluice_log_fsync_duration_seconds"));
}

#[tokio::test]
async fn the_tracking_plan_flags_or_quarantines_but_never_drops() {
    let plan = sluice_schema::TrackingPlan::parse(
        r#"
[project]
name = "shop"

[policy]
unplanned_event = "reject"

[event_properties.category]
type = "string"

[events."Viewed"]
properties = ["category"]
"#,
    )
    .unwrap();
    let f = fixture_with(CollectorConfig {
        tracking_plan: Some(Arc::new(plan)),
        ..CollectorConfig::default()
    });
    let body = json!({"api_key": "key-1", "events": [
        {"event_type": "Viewed", "user_id": "user-1", "event_properties": {"category": "a"}},
        {"event_type": "Viewed", "user_id": "user-1", "event_properties": {"category": 5, "x": 1}},
        {"event_type": "Mystery", "user_id": "user-1"}
    ]});
    let (status, answer) = post(&f.app, "/2/httpapi", body.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["events_ingested"], 3);
    let events = stored(&f.log);
    assert_eq!(events.len(), 3);
    assert!(events[0].taxonomy_issues.is_empty() && !events[0].quarantined);
    assert_eq!(
        events[1].taxonomy_issues,
        [
            r#"property "category": expected string, got 5"#,
            r#"unplanned property "x""#
        ]
    );
    assert!(!events[1].quarantined);
    assert_eq!(events[2].taxonomy_issues, [r#"unplanned event "Mystery""#]);
    assert!(events[2].quarantined);
}
