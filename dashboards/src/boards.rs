//! Saved charts and dashboards over HTTP: `/api/v1/charts` and `/api/v1/boards` — list, create
//! (`POST`, an id is given), read, replace (`PUT`), delete. A chart's spec is checked as a query
//! would be; a board's charts must exist; a chart on a board is not deleted (409).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use sluice_query::QueryEngine;

use crate::api::{error, parse};
use crate::saved::{Board, Chart, SavedError, SavedStore};

/// The chart and board routes over `engine`'s data directory.
pub(crate) fn router(engine: Arc<QueryEngine>) -> Router {
    Router::new()
        .route("/api/v1/charts", get(list_charts).post(create_chart))
        .route(
            "/api/v1/charts/{id}",
            get(show_chart).put(replace_chart).delete(delete_chart),
        )
        .route("/api/v1/boards", get(list_boards).post(create_board))
        .route(
            "/api/v1/boards/{id}",
            get(show_board).put(replace_board).delete(delete_board),
        )
        .with_state(engine)
}

fn store(engine: &QueryEngine) -> SavedStore {
    SavedStore::new(engine.data_dir())
}

fn failure(e: SavedError) -> Response {
    let status = match &e {
        SavedError::Invalid(_) => StatusCode::BAD_REQUEST,
        SavedError::NotFound { .. } => StatusCode::NOT_FOUND,
        SavedError::InUse { .. } => StatusCode::CONFLICT,
        SavedError::Io { .. } => {
            tracing::error!(error = %e, "saved charts");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    error(status, e.to_string())
}

fn answer<T: serde::Serialize>(status: StatusCode, result: Result<T, SavedError>) -> Response {
    match result {
        Ok(value) => (status, axum::Json(value)).into_response(),
        Err(e) => failure(e),
    }
}

async fn list_charts(State(engine): State<Arc<QueryEngine>>) -> Response {
    answer(
        StatusCode::OK,
        store(&engine)
            .charts()
            .map(|charts| json!({"charts": charts})),
    )
}

async fn create_chart(State(engine): State<Arc<QueryEngine>>, body: Bytes) -> Response {
    let mut chart: Chart = match parse(&body, "invalid chart") {
        Ok(chart) => chart,
        Err(response) => return *response,
    };
    chart.id = String::new();
    answer(StatusCode::CREATED, store(&engine).save_chart(chart))
}

async fn show_chart(State(engine): State<Arc<QueryEngine>>, Path(id): Path<String>) -> Response {
    answer(StatusCode::OK, store(&engine).chart(&id))
}

async fn replace_chart(
    State(engine): State<Arc<QueryEngine>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let mut chart: Chart = match parse(&body, "invalid chart") {
        Ok(chart) => chart,
        Err(response) => return *response,
    };
    let store = store(&engine);
    if let Err(e) = store.chart(&id) {
        return failure(e);
    }
    chart.id = id;
    answer(StatusCode::OK, store.save_chart(chart))
}

async fn delete_chart(State(engine): State<Arc<QueryEngine>>, Path(id): Path<String>) -> Response {
    match store(&engine).delete_chart(&id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => failure(e),
    }
}

async fn list_boards(State(engine): State<Arc<QueryEngine>>) -> Response {
    answer(
        StatusCode::OK,
        store(&engine)
            .boards()
            .map(|boards| json!({"boards": boards})),
    )
}

async fn create_board(State(engine): State<Arc<QueryEngine>>, body: Bytes) -> Response {
    let mut board: Board = match parse(&body, "invalid board") {
        Ok(board) => board,
        Err(response) => return *response,
    };
    board.id = String::new();
    answer(StatusCode::CREATED, store(&engine).save_board(board))
}

async fn show_board(State(engine): State<Arc<QueryEngine>>, Path(id): Path<String>) -> Response {
    answer(StatusCode::OK, store(&engine).board(&id))
}

async fn replace_board(
    State(engine): State<Arc<QueryEngine>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let mut board: Board = match parse(&body, "invalid board") {
        Ok(board) => board,
        Err(response) => return *response,
    };
    let store = store(&engine);
    if let Err(e) = store.board(&id) {
        return failure(e);
    }
    board.id = id;
    answer(StatusCode::OK, store.save_board(board))
}

async fn delete_board(State(engine): State<Arc<QueryEngine>>, Path(id): Path<String>) -> Response {
    match store(&engine).delete_board(&id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => failure(e),
    }
}
