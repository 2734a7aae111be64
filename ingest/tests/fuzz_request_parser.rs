//! Fuzzing the collector's request parsing through its real routes: whatever the body, the answer
//! is a 200 or a 4xx, always JSON whose `code` equals the HTTP status — never a panic, never a 5xx.
//!
//! Bodies are drawn three ways: raw bytes; JSON values shaped like uploads with every field
//! replaced by a random value of any type; and form bodies for the identify APIs. Some are
//! gzip-encoded (valid or truncated). Cases: `PROPTEST_CASES` (default 256 per property).

use std::io::Write;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use sluice_ingest::collector::ThrottleConfig;
use sluice_ingest::collector::router;
use sluice_ingest::{
    Collector, CollectorConfig, EventLog, IngestMetrics, LocalLog, LocalLogOptions, Projects,
};
use tower::ServiceExt;

/// A plan that quarantines unplanned events, so that path is fuzzed too.
const PLAN: &str = r#"
[project]
name = "shop"

[policy]
unplanned_event = "reject"
invalid_value = "flag"

[event_properties.price]
type = "number"
policy = "reject"

[events."user-12345"]
properties = ["price"]
"#;

struct App {
    _dir: tempfile::TempDir,
    router: axum::Router,
    runtime: tokio::runtime::Runtime,
}

fn app() -> App {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log: Arc<dyn EventLog> =
        Arc::new(LocalLog::open(dir.path(), LocalLogOptions::default()).unwrap());
    let collector = Collector::with_config(
        log,
        Projects::new([("key-1".to_owned(), "shop".to_owned())]),
        CollectorConfig {
            max_events_per_request: 50,
            throttle: Some(ThrottleConfig {
                events_per_second: 20.0,
                window: std::time::Duration::from_secs(1),
            }),
            tracking_plan: Some(Arc::new(
                sluice_schema::TrackingPlan::parse(PLAN).expect("the fuzz plan is valid"),
            )),
        },
        Arc::new(IngestMetrics::new()),
    );
    App {
        _dir: dir,
        router: router(Arc::new(collector)),
        runtime,
    }
}

impl App {
    /// Sends one request and checks the answer's contract; returns the status.
    fn check(&self, path: &str, body: Vec<u8>, gzip: Option<bool>) -> StatusCode {
        let mut request = Request::post(path).header("content-type", "application/json");
        let body = match gzip {
            None => body,
            Some(valid) => {
                request = request.header("content-encoding", "gzip");
                let mut compressed = gzip_bytes(&body);
                if !valid {
                    compressed.truncate(compressed.len() / 2);
                }
                compressed
            }
        };
        let request = request.body(Body::from(body)).unwrap();
        let (status, bytes) = self.runtime.block_on(async {
            let response = self.router.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, bytes)
        });
        assert!(
            status == StatusCode::OK || status.is_client_error(),
            "status {status} for a client's body: {}",
            String::from_utf8_lossy(&bytes)
        );
        let answer: Value = serde_json::from_slice(&bytes).expect("every answer is JSON");
        assert_eq!(
            answer["code"],
            status.as_u16(),
            "code equals the status: {answer}"
        );
        if status != StatusCode::OK {
            assert!(
                answer["error"].is_string(),
                "errors say what is wrong: {answer}"
            );
        }
        status
    }
}

fn gzip_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-z0-9$ ._-]{0,12}".prop_map(Value::from),
        Just(Value::from("null")),
        Just(Value::from("x".repeat(1500))),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_$]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const EVENT_FIELDS: &[&str] = &[
    "event_type",
    "user_id",
    "device_id",
    "time",
    "session_id",
    "insert_id",
    "event_id",
    "event_properties",
    "user_properties",
    "groups",
    "group_properties",
    "price",
    "quantity",
    "revenue",
    "productId",
    "ip",
    "platform",
    "location_lat",
    "$skip_user_properties_sync",
];

/// An event object: each known field absent, plausible, or any JSON at all.
fn event() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        3 => Just(None),
        2 => Just(Some(json!("user-12345"))),
        1 => Just(Some(json!(1_767_225_600_000_i64))),
        2 => any_json().prop_map(Some),
    ];
    prop::collection::vec(field, EVENT_FIELDS.len()).prop_map(|values| {
        let mut event = Map::new();
        for (name, value) in EVENT_FIELDS.iter().zip(values) {
            if let Some(v) = value {
                event.insert((*name).to_owned(), v);
            }
        }
        Value::Object(event)
    })
}

/// An upload body: plausible top level with random parts.
fn upload() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just(json!("key-1")), Just(json!("other")), any_json()],
        prop_oneof![
            prop::collection::vec(prop_oneof![4 => event(), 1 => any_json()], 0..60)
                .prop_map(Value::from),
            any_json(),
        ],
        prop_oneof![Just(None), any_json().prop_map(Some)],
        prop_oneof![
            Just(None),
            Just(Some(json!("2026-01-01T00:00:00.000Z"))),
            any_json().prop_map(Some)
        ],
    )
        .prop_map(|(key, events, options, upload_time)| {
            let mut top = Map::new();
            top.insert("api_key".into(), key);
            top.insert("events".into(), events);
            if let Some(o) = options {
                top.insert("options".into(), o);
            }
            if let Some(t) = upload_time {
                top.insert("client_upload_time".into(), t);
            }
            Value::Object(top)
        })
}

fn path() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("/2/httpapi"), Just("/batch")]
}

fn encoding() -> impl Strategy<Value = Option<bool>> {
    prop_oneof![4 => Just(None), 2 => Just(Some(true)), 1 => Just(Some(false))]
}

proptest! {
    #[test]
    fn raw_bytes_get_a_json_answer(
        body in prop::collection::vec(any::<u8>(), 0..300),
        path in path(),
        gzip in encoding(),
    ) {
        app().check(path, body, gzip);
    }

    #[test]
    fn upload_shaped_json_gets_a_json_answer(body in upload(), path in path(), gzip in encoding()) {
        let app = app();
        let bytes = serde_json::to_vec(&body).unwrap();
        // Twice: the second time may be throttled, never worse.
        app.check(path, bytes.clone(), gzip);
        app.check(path, bytes, gzip);
    }

    #[test]
    fn identify_forms_get_a_json_answer(
        key in prop_oneof![Just("key-1".to_owned()), "[a-z0-9]{0,8}"],
        identification in prop_oneof![any_json(), event()],
        group in any::<bool>(),
        raw in prop::option::of(prop::collection::vec(any::<u8>(), 0..100)),
    ) {
        let body = match raw {
            Some(bytes) => bytes,
            None => serde_urlencoded::to_string([
                ("api_key", key),
                ("identification", identification.to_string()),
            ])
            .unwrap()
            .into_bytes(),
        };
        let path = if group { "/groupidentify" } else { "/identify" };
        app().check(path, body, None);
    }
}
