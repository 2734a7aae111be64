use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::*;
use crate::log::{LocalLog, LocalLogOptions};

struct Fixture {
    _dir: tempfile::TempDir,
    log: Arc<LocalLog>,
    app: axum::Router,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(LocalLog::open(dir.path(), LocalLogOptions::default()).unwrap());
    let projects = Projects::new([("key-1".to_owned(), "shop".to_owned())]);
    let collector = Arc::new(Collector::new(
        Arc::clone(&log) as Arc<dyn EventLog>,
        projects,
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
