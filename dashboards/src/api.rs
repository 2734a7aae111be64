//! `POST /api/v1/query`: a JSON query spec in, a JSON result out. Errors are JSON too, with the
//! status saying whose fault they are: 400 for a spec the caller must fix, 500 for our failures.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use sluice_query::{QueryEngine, QuerySpec};

/// The query API routes, answering from `engine`.
pub fn api_router(engine: Arc<QueryEngine>) -> Router {
    Router::new()
        .route("/api/v1/query", post(query))
        .with_state(engine)
}

async fn query(State(engine): State<Arc<QueryEngine>>, body: Bytes) -> Response {
    let spec: QuerySpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid query spec: {e}")),
    };
    match engine.run(&spec).await {
        Ok(result) => (StatusCode::OK, axum::Json(result)).into_response(),
        Err(e) if e.is_user_error() => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => {
            tracing::error!(error = %e, "query failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (
        status,
        axum::Json(json!({"code": status.as_u16(), "error": message})),
    )
        .into_response()
}
