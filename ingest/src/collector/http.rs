//! The HTTP routes of the collector. Handlers only read the request and call [`Collector`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::{Collector, Rejection, RequestMeta};

/// Largest body of `POST /2/httpapi`.
pub const HTTPAPI_MAX_BYTES: usize = 1 << 20;
/// Largest body of `POST /batch`.
pub const BATCH_MAX_BYTES: usize = 20 << 20;

/// The collector's routes: `POST /2/httpapi` and `POST /batch`.
pub fn router(collector: Arc<Collector>) -> Router {
    Router::new()
        .route("/2/httpapi", post(httpapi))
        .route("/batch", post(batch))
        // Bodies are read by `upload` with Amplitude's limits and JSON errors instead.
        .layer(DefaultBodyLimit::disable())
        .with_state(collector)
}

async fn httpapi(State(collector): State<Arc<Collector>>, request: Request) -> Response {
    upload(&collector, request, HTTPAPI_MAX_BYTES).await
}

async fn batch(State(collector): State<Arc<Collector>>, request: Request) -> Response {
    upload(&collector, request, BATCH_MAX_BYTES).await
}

async fn upload(collector: &Collector, request: Request, max_bytes: usize) -> Response {
    let remote_ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string());
    let body: Body = request.into_body();
    let Ok(bytes) = axum::body::to_bytes(body, max_bytes).await else {
        return Rejection::PayloadTooLarge.into_response();
    };
    let meta = RequestMeta {
        received_ms: now_ms(),
        remote_ip,
        payload_size: bytes.len(),
    };
    match collector.upload(&bytes, meta).await {
        Ok(accepted) => accepted.into_response(),
        Err(rejection) => rejection.into_response(),
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
