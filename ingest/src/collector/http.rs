//! The HTTP routes of the collector. Handlers only read the request and call [`Collector`].
//!
//! - `POST /2/httpapi`, `POST /batch`: JSON uploads (any content type, so `text/plain` from
//!   `navigator.sendBeacon` works), optionally gzip-encoded.
//! - `POST|GET /identify`, `POST|GET /groupidentify`: form-encoded `api_key` + `identification`.
//! - `POST /currents`: campaign engagement events from a Braze-style engine (`currents.rs`),
//!   authorised by `Authorization: Bearer <api key>`.
//! - `GET /healthz` (the process answers), `GET /readyz` (the event log takes appends),
//!   `GET /metrics` (Prometheus).
//!
//! The upload routes answer CORS preflights for any origin: browser SDKs post cross-origin.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, RawQuery, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tower_http::cors::{Any, CorsLayer};

use super::body::read_body;
use super::identify::{IdentifyKind, parse_identify};
use super::{Collector, Rejection, RequestMeta};
use crate::loader::LOADER_GROUP;
use crate::metrics::{Endpoint, EndpointLabels, RequestLabels};

/// Largest body of `POST /2/httpapi` (and the identify APIs), after decompression.
pub const HTTPAPI_MAX_BYTES: usize = 1 << 20;
/// Largest body of `POST /batch`, after decompression.
pub const BATCH_MAX_BYTES: usize = 20 << 20;

/// The collector's routes (see the module docs).
pub fn router(collector: Arc<Collector>) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::POST, Method::GET, Method::OPTIONS])
        .allow_headers(Any)
        .max_age(Duration::from_secs(24 * 3600));
    Router::new()
        .route("/2/httpapi", post(httpapi))
        .route("/batch", post(batch))
        .route("/identify", get(identify_query).post(identify_form))
        .route("/groupidentify", get(group_query).post(group_form))
        .layer(cors)
        .route("/currents", post(currents))
        // Bodies are read by `read_body` with Amplitude's limits and JSON errors instead.
        .layer(DefaultBodyLimit::disable())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(collector)
}

async fn httpapi(State(collector): State<Arc<Collector>>, request: Request) -> Response {
    handle(&collector, Endpoint::Httpapi, request, HTTPAPI_MAX_BYTES).await
}

async fn batch(State(collector): State<Arc<Collector>>, request: Request) -> Response {
    handle(&collector, Endpoint::Batch, request, BATCH_MAX_BYTES).await
}

async fn identify_form(State(collector): State<Arc<Collector>>, request: Request) -> Response {
    handle(&collector, Endpoint::Identify, request, HTTPAPI_MAX_BYTES).await
}

async fn group_form(State(collector): State<Arc<Collector>>, request: Request) -> Response {
    handle(
        &collector,
        Endpoint::Groupidentify,
        request,
        HTTPAPI_MAX_BYTES,
    )
    .await
}

async fn identify_query(
    State(collector): State<Arc<Collector>>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    handle_query(&collector, Endpoint::Identify, query, request).await
}

async fn group_query(
    State(collector): State<Arc<Collector>>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    handle_query(&collector, Endpoint::Groupidentify, query, request).await
}

/// Reads the body, accepts it, and records the request's metrics.
async fn handle(
    collector: &Collector,
    endpoint: Endpoint,
    request: Request,
    max_bytes: usize,
) -> Response {
    let started = Instant::now();
    let remote_ip = remote_ip(&request);
    let (parts, body) = request.into_parts();
    let result = match read_body(&parts.headers, body, max_bytes).await {
        Ok(bytes) => accept(collector, endpoint, &bytes, remote_ip).await,
        Err(rejection) => Err(rejection),
    };
    respond(collector, endpoint, started, result)
}

/// `POST /currents`: checks the bearer key (even for an empty batch), turns the Currents events
/// into Amplitude events and uploads them like any batch.
async fn currents(State(collector): State<Arc<Collector>>, request: Request) -> Response {
    let started = Instant::now();
    let remote_ip = remote_ip(&request);
    let (parts, body) = request.into_parts();
    let key = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|key| collector.project_for(key).is_some())
        .map(str::to_owned);
    let response = match key {
        None => plain_error(
            StatusCode::UNAUTHORIZED,
            "Authorization: Bearer <api key> with one of the collector's API keys is required",
        ),
        Some(key) => match read_body(&parts.headers, body, BATCH_MAX_BYTES).await {
            Err(rejection) => rejection.into_response(),
            Ok(bytes) => match super::currents::amplitude_events(&bytes) {
                Err(e) => plain_error(StatusCode::BAD_REQUEST, &e.to_string()),
                Ok(events) if events.is_empty() => super::Accepted {
                    events_ingested: 0,
                    payload_size_bytes: bytes.len(),
                    server_upload_time: now_ms(),
                }
                .into_response(),
                Ok(events) => {
                    // Ids come from the campaign engine, not an SDK: Amplitude's minimum id
                    // length (5) is not theirs to meet.
                    let upload = json!({"api_key": key, "events": events,
                                        "options": {"min_id_length": 1}})
                    .to_string();
                    let meta = RequestMeta {
                        received_ms: now_ms(),
                        remote_ip,
                        payload_size: bytes.len(),
                    };
                    match collector.upload(upload.as_bytes(), meta).await {
                        Ok(accepted) => accepted.into_response(),
                        Err(rejection) => rejection.into_response(),
                    }
                }
            },
        },
    };
    record(&collector, Endpoint::Currents, started, &response);
    response
}

fn plain_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"code": status.as_u16(), "error": message})),
    )
        .into_response()
}

/// The identify APIs' GET form: the parameters are in the query string.
async fn handle_query(
    collector: &Collector,
    endpoint: Endpoint,
    query: Option<String>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let remote_ip = remote_ip(&request);
    let query = query.unwrap_or_default();
    let result = accept(collector, endpoint, query.as_bytes(), remote_ip).await;
    respond(collector, endpoint, started, result)
}

async fn accept(
    collector: &Collector,
    endpoint: Endpoint,
    bytes: &[u8],
    remote_ip: Option<String>,
) -> Result<super::Accepted, Rejection> {
    let meta = RequestMeta {
        received_ms: now_ms(),
        remote_ip,
        payload_size: bytes.len(),
    };
    let kind = match endpoint {
        Endpoint::Httpapi | Endpoint::Batch => return collector.upload(bytes, meta).await,
        Endpoint::Identify => IdentifyKind::User,
        Endpoint::Groupidentify => IdentifyKind::Group,
        Endpoint::Currents => return Err(Rejection::InvalidJson),
    };
    collector.accept(parse_identify(kind, bytes)?, meta).await
}

fn respond(
    collector: &Collector,
    endpoint: Endpoint,
    started: Instant,
    result: Result<super::Accepted, Rejection>,
) -> Response {
    let response = match result {
        Ok(accepted) => accepted.into_response(),
        Err(rejection) => rejection.into_response(),
    };
    record(collector, endpoint, started, &response);
    response
}

/// Counts the request and its time in the metrics.
fn record(collector: &Collector, endpoint: Endpoint, started: Instant, response: &Response) {
    let metrics = collector.metrics();
    metrics
        .requests
        .get_or_create(&RequestLabels {
            endpoint,
            code: response.status().as_u16(),
        })
        .inc();
    metrics
        .request_seconds
        .get_or_create(&EndpointLabels { endpoint })
        .observe(started.elapsed().as_secs_f64());
}

fn remote_ip(request: &Request) -> Option<String> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
}

async fn healthz() -> Response {
    (StatusCode::OK, axum::Json(json!({"status": "ok"}))).into_response()
}

/// Ready when the event log takes appends: the collector can acknowledge events.
async fn readyz(State(collector): State<Arc<Collector>>) -> Response {
    if collector.log().is_ready() {
        (StatusCode::OK, axum::Json(json!({"status": "ready"}))).into_response()
    } else {
        let body =
            json!({"status": "unavailable", "reason": "the event log is not accepting appends"});
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}

async fn metrics(State(collector): State<Arc<Collector>>) -> Response {
    let metrics = collector.metrics();
    match collector.log().lag(LOADER_GROUP) {
        Ok(lag) => {
            metrics
                .loader_lag_events
                .set(i64::try_from(lag).unwrap_or(i64::MAX));
        }
        Err(error) => tracing::warn!(%error, "reading the loader's lag"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
        .into_response()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
