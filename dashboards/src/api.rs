//! `POST /api/v1/query`: a JSON query spec in, a JSON result out; and saved cohorts under
//! `/api/v1/cohorts`. Errors are JSON too, with the status saying whose fault they are: 400 for a
//! spec the caller must fix, 404 for a cohort that does not exist, 500 for our failures.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use sluice_query::cohort::spec::{CohortCondition, LifecycleState};
use sluice_query::cohort::store::{SavedCohort, StoreError, ids_from_csv};
use sluice_query::{QueryEngine, QueryError, QuerySpec};

/// The query API routes, answering from `engine`; `plan` is the tracking plan the taxonomy
/// route shows beside the data (none: every event is unplanned).
pub fn api_router(
    engine: Arc<QueryEngine>,
    plan: Option<Arc<sluice_schema::TrackingPlan>>,
) -> Router {
    let access = crate::access::Access::new(engine.data_dir());
    let usage = crate::usage::UsageLog::new(engine.data_dir());
    let queries = Router::new()
        .route("/api/v1/query", post(query))
        .with_state((Arc::clone(&engine), usage.clone()));
    Router::new()
        .route("/api/v1/cohorts", get(list_cohorts))
        .route(
            "/api/v1/cohorts/{name}",
            get(show_cohort).put(save_cohort).delete(delete_cohort),
        )
        .route("/api/v1/cohorts/{name}/compute", post(compute_cohort))
        .route("/api/v1/cohorts/{name}/changes", get(cohort_changes))
        .route(
            "/api/v1/cohorts/{name}/ids",
            axum::routing::put(save_static_cohort),
        )
        .route(
            "/api/v1/cohorts/{name}/from-funnel",
            post(cohort_from_funnel),
        )
        .route(
            "/api/v1/cohorts/{name}/from-retention",
            post(cohort_from_retention),
        )
        .route(
            "/api/v1/cohorts/{name}/from-lifecycle",
            post(cohort_from_lifecycle),
        )
        .with_state(Arc::clone(&engine))
        .merge(crate::taxonomy::router(Arc::clone(&engine), plan))
        .merge(crate::boards::router(Arc::clone(&engine)))
        .merge(crate::access::router(access.clone()))
        .merge(crate::usage::router(usage))
        .merge(queries)
        .merge(crate::syncs::router(engine))
        .layer(axum::middleware::from_fn_with_state(
            access,
            crate::access::require,
        ))
}

/// `POST /api/v1/query`: the result as JSON, or as CSV (the chart's table, one header line,
/// raw numbers — what `sluice query --csv` prints) when the request says `Accept: text/csv`.
async fn query(
    State((engine, usage)): State<(Arc<QueryEngine>, crate::usage::UsageLog)>,
    caller: Option<axum::Extension<crate::access::Caller>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    let spec: QuerySpec = match parse(&body, "invalid query spec") {
        Ok(spec) => spec,
        Err(response) => return *response,
    };
    if let Some(axum::Extension(caller)) = caller {
        let analysis = serde_json::to_value(&spec)
            .ok()
            .and_then(|v| v["analysis"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let chart_id = headers
            .get("x-sluice-chart")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        usage.record(&crate::usage::Use {
            at_ms: sluice_query::clock::now_ms(),
            user: caller.name,
            analysis,
            chart_id,
        });
    }
    let wants_csv = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/csv"));
    match engine.run(&spec).await {
        Ok(result) if wants_csv => (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            sluice_query::render_csv(&result),
        )
            .into_response(),
        Ok(result) => (StatusCode::OK, axum::Json(result)).into_response(),
        Err(e) => failure(e),
    }
}

/// A failed request: 404 for an unknown cohort, 400 for the caller's mistakes, 500 for ours.
fn failure(e: QueryError) -> Response {
    match &e {
        QueryError::Cohort(StoreError::NotFound(_)) => error(StatusCode::NOT_FOUND, e.to_string()),
        _ if e.is_user_error() => error(StatusCode::BAD_REQUEST, e.to_string()),
        _ => {
            tracing::error!(error = %e, "request failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}

/// `GET /api/v1/cohorts`: every saved cohort with its latest computation (null if never).
async fn list_cohorts(State(engine): State<Arc<QueryEngine>>) -> Response {
    let store = engine.cohorts();
    let listing = (|| {
        let mut cohorts = Vec::new();
        for name in store.names()? {
            let cohort = store.get(&name)?;
            let latest = store.history(&name)?.pop();
            cohorts.push(json!({"cohort": cohort, "latest": latest}));
        }
        Ok::<_, StoreError>(cohorts)
    })();
    match listing {
        Ok(cohorts) => axum::Json(json!({"cohorts": cohorts})).into_response(),
        Err(e) => failure(e.into()),
    }
}

/// `GET /api/v1/cohorts/{name}`: the definition and every computation, oldest first.
async fn show_cohort(State(engine): State<Arc<QueryEngine>>, Path(name): Path<String>) -> Response {
    let store = engine.cohorts();
    match store
        .get(&name)
        .and_then(|c| Ok((c, store.history(&name)?)))
    {
        Ok((cohort, history)) => {
            axum::Json(json!({"cohort": cohort, "history": history})).into_response()
        }
        Err(e) => failure(e.into()),
    }
}

/// The body of `PUT /api/v1/cohorts/{name}` (the name comes from the path).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CohortBody {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
    definition: CohortCondition,
}

/// `PUT /api/v1/cohorts/{name}`: saves the definition (checked first), 200 with the cohort.
async fn save_cohort(
    State(engine): State<Arc<QueryEngine>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let body: CohortBody = match parse(&body, "invalid cohort") {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let cohort = SavedCohort {
        name,
        description: body.description,
        owner: body.owner,
        project: body.project,
        time_zone: body.time_zone.unwrap_or_else(|| "UTC".to_owned()),
        definition: body.definition,
    };
    match engine.save_cohort(&cohort) {
        Ok(()) => axum::Json(json!({"cohort": cohort})).into_response(),
        Err(e) => failure(e),
    }
}

/// `PUT /api/v1/cohorts/{name}/ids`: a static cohort from an uploaded list of user ids (a CSV
/// of one column, one id per line); 200 with the cohort and how many ids it holds.
async fn save_static_cohort(
    State(engine): State<Arc<QueryEngine>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(text) = std::str::from_utf8(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the list is not UTF-8 text".to_owned(),
        );
    };
    let ids = ids_from_csv(text);
    if ids.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "the list holds no user ids (one per line)".to_owned(),
        );
    }
    let count = ids.len();
    let cohort = SavedCohort {
        name,
        description: Some(format!("uploaded list of {count} user ids")),
        owner: None,
        project: None,
        time_zone: "UTC".to_owned(),
        definition: CohortCondition::UserIds(ids),
    };
    match engine.save_cohort(&cohort) {
        Ok(()) => axum::Json(json!({"cohort": {"name": cohort.name, "description": cohort.description}, "ids": count}))
            .into_response(),
        Err(e) => failure(e),
    }
}

/// The body of `POST /api/v1/cohorts/{name}/from-funnel`: the chart's funnel spec and its bar.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FromFunnelBody {
    /// The funnel spec the chart ran (`"analysis": "funnel"`).
    funnel: QuerySpec,
    /// The bar: a step, 1-based.
    step: u8,
    /// The bar's drop-off (reached the step before, not this one) instead of its converted
    /// persons.
    #[serde(default)]
    dropped: bool,
    #[serde(default)]
    description: Option<String>,
}

/// `POST /api/v1/cohorts/{name}/from-funnel`: "create cohort from this chart point" — saves the
/// persons of a funnel bar (converted, or dropped off) as a cohort, computes it, and answers the
/// cohort, the computation and its first members.
async fn cohort_from_funnel(
    State(engine): State<Arc<QueryEngine>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let body: FromFunnelBody = match parse(&body, "invalid request") {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let QuerySpec::Funnel(funnel) = &body.funnel else {
        return error(
            StatusCode::BAD_REQUEST,
            "funnel: give the chart's funnel spec (\"analysis\": \"funnel\")".to_owned(),
        );
    };
    let saved =
        match engine.cohort_from_funnel(&name, funnel, body.step, body.dropped, body.description) {
            Ok(saved) => saved,
            Err(e) => return failure(e),
        };
    match engine.compute_cohort(&name, None, Some(100)).await {
        Ok((run, result)) => {
            axum::Json(json!({"cohort": saved, "run": run, "result": result})).into_response()
        }
        Err(e) => failure(e),
    }
}

/// The body of `POST /api/v1/cohorts/{name}/from-retention`: the chart's retention spec and
/// its cell.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FromRetentionBody {
    /// The retention spec the chart ran (`"analysis": "retention"`).
    retention: QuerySpec,
    /// The cell's row: its cohort period, as the chart labels it (`YYYY-MM-DD`).
    cohort: String,
    /// The cell's column, 0-based as the chart lists them.
    column: usize,
    /// The row's persons who returned in that column (`true`) or who did not (`false`).
    returned: bool,
    #[serde(default)]
    description: Option<String>,
}

/// `POST /api/v1/cohorts/{name}/from-retention`: "create cohort from this chart point" — saves
/// the persons of a retention cell (returned, or not) as a cohort, computes it, and answers the
/// cohort, the computation and its first members.
async fn cohort_from_retention(
    State(engine): State<Arc<QueryEngine>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let body: FromRetentionBody = match parse(&body, "invalid request") {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let QuerySpec::Retention(retention) = &body.retention else {
        return error(
            StatusCode::BAD_REQUEST,
            "retention: give the chart's retention spec (\"analysis\": \"retention\")".to_owned(),
        );
    };
    let saved = engine.cohort_from_retention(
        &name,
        retention,
        &body.cohort,
        body.column,
        body.returned,
        body.description,
    );
    computed(&engine, &name, saved).await
}

/// The body of `POST /api/v1/cohorts/{name}/from-lifecycle`: the chart's lifecycle spec and
/// its bar.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FromLifecycleBody {
    /// The lifecycle spec the chart ran (`"analysis": "lifecycle"`).
    lifecycle: QuerySpec,
    /// The bar's period, as the chart labels it (`YYYY-MM-DD`, the interval's first day).
    period: String,
    /// The bar: `new`, `current`, `resurrected` or `dormant`.
    state: LifecycleState,
    #[serde(default)]
    description: Option<String>,
}

/// `POST /api/v1/cohorts/{name}/from-lifecycle`: "create cohort from this chart point" — saves
/// the persons of a lifecycle bar as a cohort, computes it, and answers the cohort, the
/// computation and its first members.
async fn cohort_from_lifecycle(
    State(engine): State<Arc<QueryEngine>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let body: FromLifecycleBody = match parse(&body, "invalid request") {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let QuerySpec::Lifecycle(lifecycle) = &body.lifecycle else {
        return error(
            StatusCode::BAD_REQUEST,
            "lifecycle: give the chart's lifecycle spec (\"analysis\": \"lifecycle\")".to_owned(),
        );
    };
    let saved =
        engine.cohort_from_lifecycle(&name, lifecycle, &body.period, body.state, body.description);
    computed(&engine, &name, saved).await
}

/// A cohort just saved from a chart point, computed now: the cohort, the computation and its
/// first members.
async fn computed(
    engine: &QueryEngine,
    name: &str,
    saved: Result<SavedCohort, QueryError>,
) -> Response {
    let saved = match saved {
        Ok(saved) => saved,
        Err(e) => return failure(e),
    };
    match engine.compute_cohort(name, None, Some(100)).await {
        Ok((run, result)) => {
            axum::Json(json!({"cohort": saved, "run": run, "result": result})).into_response()
        }
        Err(e) => failure(e),
    }
}

/// `DELETE /api/v1/cohorts/{name}`: 204, or 404.
async fn delete_cohort(
    State(engine): State<Arc<QueryEngine>>,
    Path(name): Path<String>,
) -> Response {
    match engine.cohorts().delete(&name) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => failure(e.into()),
    }
}

/// The optional body of `POST /api/v1/cohorts/{name}/compute`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ComputeBody {
    #[serde(default)]
    as_of: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

/// `POST /api/v1/cohorts/{name}/compute`: computes and stores the cohort now; answers the
/// computation (size, entered, exited) and the result with its first members.
async fn compute_cohort(
    State(engine): State<Arc<QueryEngine>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let body: ComputeBody = if body.is_empty() {
        ComputeBody::default()
    } else {
        match parse(&body, "invalid request") {
            Ok(body) => body,
            Err(response) => return *response,
        }
    };
    match engine.compute_cohort(&name, body.as_of, body.limit).await {
        Ok((run, result)) => axum::Json(json!({"run": run, "result": result})).into_response(),
        Err(e) => failure(e),
    }
}

/// The query of `GET /api/v1/cohorts/{name}/changes`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangesQuery {
    /// The computation (`computed_ms`); the latest when absent.
    run: Option<i64>,
    /// Most persons listed each way: 100 when absent, at most 100 000.
    limit: Option<usize>,
}

/// `GET /api/v1/cohorts/{name}/changes?run=MS&limit=N`: who entered and who exited at a
/// computation, compared with the one before.
async fn cohort_changes(
    State(engine): State<Arc<QueryEngine>>,
    Path(name): Path<String>,
    axum::extract::Query(query): axum::extract::Query<ChangesQuery>,
) -> Response {
    let limit = query.limit.unwrap_or(100);
    if limit > sluice_query::cohort::MAX_COHORT_LIMIT {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "limit {limit}: at most {} persons are listed",
                sluice_query::cohort::MAX_COHORT_LIMIT
            ),
        );
    }
    match engine.cohort_changes(&name, query.run, limit).await {
        Ok(changes) => axum::Json(changes).into_response(),
        Err(e) => failure(e),
    }
}

/// A JSON request body, or the 400 saying what is wrong with it: `what: path: serde's reason`,
/// the path naming the field (`definition.conditions[0].event_type`), or `what: reason` when
/// the fault is the whole body's (not JSON, an unknown top-level field).
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<T, Box<Response>> {
    let refuse = |message: String| Box::new(error(StatusCode::BAD_REQUEST, message));
    let mut reader = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match path.as_str() {
            "." => refuse(format!("{what}: {inner}")),
            // The path places it; a position in a body a program built would only confuse.
            _ => refuse(format!("{what}: {path}: {}", without_position(&inner))),
        }
    })?;
    reader.end().map_err(|e| refuse(format!("{what}: {e}")))?;
    Ok(value)
}

/// serde's reason without its trailing ` at line L column C`.
fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    match text.strip_suffix(&position) {
        Some(reason) => reason.to_owned(),
        None => text,
    }
}

pub(crate) fn error(status: StatusCode, message: String) -> Response {
    (
        status,
        axum::Json(json!({"code": status.as_u16(), "error": message})),
    )
        .into_response()
}
