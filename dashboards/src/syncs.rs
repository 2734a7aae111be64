//! Cohort syncs over HTTP, under `/api/v1/syncs`: save, list, run, read the delivery log; and a
//! cohort's members as a file (`GET /api/v1/cohorts/{name}/export`). Secrets written into a
//! sync's config are never shown back.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use sluice_query::QueryEngine;
use sluice_query::cohort::store::{CohortStore, StoreError};
use sluice_query::sync::config::FileFormat;
use sluice_query::sync::{self, SyncConfig, SyncError, SyncOutcome, SyncStore};

use crate::api::{error, parse};

/// The sync routes, answering from `engine`.
pub(crate) fn router(engine: Arc<QueryEngine>) -> Router {
    Router::new()
        .route("/api/v1/syncs", get(list_syncs))
        .route(
            "/api/v1/syncs/{name}",
            get(show_sync).put(save_sync).delete(delete_sync),
        )
        .route("/api/v1/syncs/{name}/run", post(run_sync))
        .route("/api/v1/syncs/{name}/log", get(sync_log))
        .route("/api/v1/cohorts/{name}/export", get(export_cohort))
        .with_state(engine)
}

/// 404 for an unknown sync or cohort, 409 for a sync already running, 502 for a destination
/// that could not be prepared, 400 for the caller's mistakes, 500 for ours.
fn failure(e: SyncError) -> Response {
    let status = match &e {
        SyncError::NotFound(_) => StatusCode::NOT_FOUND,
        SyncError::Cohort(store) if !store.is_user_error() => StatusCode::INTERNAL_SERVER_ERROR,
        SyncError::Cohort(sluice_query::cohort::store::StoreError::NotFound(_)) => {
            StatusCode::NOT_FOUND
        }
        SyncError::Busy(_) => StatusCode::CONFLICT,
        SyncError::Destination(_) => StatusCode::BAD_GATEWAY,
        _ if e.is_user_error() => StatusCode::BAD_REQUEST,
        _ => {
            tracing::error!(error = %e, "sync request failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    error(status, e.to_string())
}

/// A sync's config (secrets hidden) and state.
fn described(store: &SyncStore, name: &str) -> Result<serde_json::Value, SyncError> {
    let config = store.get(name)?;
    let state = store.state(name)?;
    Ok(json!({"sync": config.redacted(), "state": state}))
}

/// `GET /api/v1/syncs`: every sync with where it stands.
async fn list_syncs(State(engine): State<Arc<QueryEngine>>) -> Response {
    let store = SyncStore::new(engine.data_dir());
    let listing = store.names().and_then(|names| {
        names
            .iter()
            .map(|name| described(&store, name))
            .collect::<Result<Vec<_>, _>>()
    });
    match listing {
        Ok(syncs) => axum::Json(json!({"syncs": syncs})).into_response(),
        Err(e) => failure(e),
    }
}

/// `GET /api/v1/syncs/{name}`.
async fn show_sync(State(engine): State<Arc<QueryEngine>>, Path(name): Path<String>) -> Response {
    match described(&SyncStore::new(engine.data_dir()), &name) {
        Ok(described) => axum::Json(described).into_response(),
        Err(e) => failure(e),
    }
}

/// `PUT /api/v1/syncs/{name}`: a sync config; its `name` may be left out (the path's is
/// used), and must match the path's if given.
async fn save_sync(
    State(engine): State<Arc<QueryEngine>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let mut value: serde_json::Value = match parse(&body, "invalid sync config") {
        Ok(value) => value,
        Err(response) => return *response,
    };
    if let Some(object) = value.as_object_mut() {
        match object.get("name").and_then(|n| n.as_str()) {
            Some(given) if given != name => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("the config names sync {given:?}, the path {name:?}"),
                );
            }
            _ => {
                object.insert("name".to_owned(), json!(name));
            }
        }
    }
    let config: SyncConfig = match parse(value.to_string().as_bytes(), "invalid sync config") {
        Ok(config) => config,
        Err(response) => return *response,
    };
    // A sync saved over HTTP names a cohort that exists (a config file given to `serve --syncs`
    // may name one made later, and is not checked so).
    match CohortStore::new(engine.data_dir()).get(&config.cohort) {
        Ok(_) => {}
        Err(StoreError::NotFound(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("cohort: no saved cohort is named {:?}", config.cohort),
            );
        }
        Err(e) if e.is_user_error() => {
            return error(StatusCode::BAD_REQUEST, format!("cohort: {e}"));
        }
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
    let store = SyncStore::new(engine.data_dir());
    match store.save(&config).and_then(|()| described(&store, &name)) {
        Ok(described) => (StatusCode::OK, axum::Json(described)).into_response(),
        Err(e) => failure(e),
    }
}

/// `DELETE /api/v1/syncs/{name}`.
async fn delete_sync(State(engine): State<Arc<QueryEngine>>, Path(name): Path<String>) -> Response {
    match SyncStore::new(engine.data_dir()).delete(&name) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => failure(e),
    }
}

/// The optional body of `POST /api/v1/syncs/{name}/run`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunBody {
    /// Compute the cohort before syncing it.
    #[serde(default)]
    compute: bool,
}

/// `POST /api/v1/syncs/{name}/run`: syncs now; answers the report — 200 when the destination
/// holds the latest computation, 502 when a batch was not delivered (the log says why).
async fn run_sync(
    State(engine): State<Arc<QueryEngine>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let body: RunBody = if body.is_empty() {
        RunBody::default()
    } else {
        match parse(&body, "invalid run request") {
            Ok(body) => body,
            Err(response) => return *response,
        }
    };
    if body.compute {
        let cohort = match SyncStore::new(engine.data_dir()).get(&name) {
            Ok(config) => config.cohort,
            Err(e) => return failure(e),
        };
        if let Err(e) = engine.compute_cohort(&cohort, None, Some(0)).await {
            return failure(e.into());
        }
    }
    match sync::run(&engine, &name).await {
        Ok(report) => {
            let status = if report.outcome == SyncOutcome::Failed {
                StatusCode::BAD_GATEWAY
            } else {
                StatusCode::OK
            };
            (status, axum::Json(report)).into_response()
        }
        Err(e) => failure(e),
    }
}

/// The query of `GET /api/v1/syncs/{name}/log`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogQuery {
    /// Only the last entries (100 when absent).
    limit: Option<usize>,
}

/// `GET /api/v1/syncs/{name}/log?limit=N`: the delivery log, newest last.
async fn sync_log(
    State(engine): State<Arc<QueryEngine>>,
    Path(name): Path<String>,
    Query(query): Query<LogQuery>,
) -> Response {
    let limit = query.limit.unwrap_or(100);
    match SyncStore::new(engine.data_dir()).delivery_log(&name, Some(limit)) {
        Ok(entries) => axum::Json(json!({"entries": entries})).into_response(),
        Err(e) => failure(e),
    }
}

/// The query of `GET /api/v1/cohorts/{name}/export`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    /// `csv` (when absent) or `parquet`.
    format: Option<String>,
}

/// `GET /api/v1/cohorts/{name}/export?format=csv|parquet`: the latest computation's members
/// (`person_id`, `user_id`, `device_id`) as a download.
async fn export_cohort(
    State(engine): State<Arc<QueryEngine>>,
    Path(name): Path<String>,
    Query(query): Query<ExportQuery>,
) -> Response {
    let (format, content_type) = match query.format.as_deref().unwrap_or("csv") {
        "csv" => (FileFormat::Csv, "text/csv; charset=utf-8"),
        "parquet" => (FileFormat::Parquet, "application/vnd.apache.parquet"),
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("format {other:?}: use csv or parquet"),
            );
        }
    };
    match sync::export_bytes(&engine, &name, format).await {
        Ok((_, bytes)) => (
            [
                (header::CONTENT_TYPE, content_type.to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.{}\"", format.extension()),
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => failure(e),
    }
}
