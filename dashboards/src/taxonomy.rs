//! `GET /api/v1/taxonomy?days=N`: what a newcomer needs to learn the data model and what the
//! chart builder's pickers search — the tracking plan (events with descriptions, categories,
//! owners and properties; property types and enum values) beside what the data holds: per event
//! type its events per day over the last `days` days and when it was last seen, planned or not,
//! and the events the tracking plan quarantined.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;
use sluice_query::QueryEngine;
use sluice_query::spec::Dataset;
use sluice_schema::{TrackingPlan, is_builtin_event};

use crate::api::error;

/// Days of volumes when the request names none.
const DEFAULT_DAYS: u32 = 30;
/// Most days of volumes.
const MAX_DAYS: u32 = 366;

#[derive(Clone)]
struct Taxonomy {
    engine: Arc<QueryEngine>,
    plan: Option<Arc<TrackingPlan>>,
}

/// The taxonomy route, answering from `engine` and `plan` (none: every event is unplanned).
pub(crate) fn router(engine: Arc<QueryEngine>, plan: Option<Arc<TrackingPlan>>) -> Router {
    Router::new()
        .route("/api/v1/taxonomy", get(taxonomy))
        .with_state(Taxonomy { engine, plan })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaxonomyQuery {
    /// Days of volumes, ending today (UTC): 30 when absent, 1 to 366.
    days: Option<u32>,
}

async fn taxonomy(State(state): State<Taxonomy>, Query(query): Query<TaxonomyQuery>) -> Response {
    let days = query.days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("days {days}: give 1 to {MAX_DAYS}"),
        );
    }
    let today = chrono::Utc::now().date_naive();
    let dates: Vec<String> = (0..days)
        .rev()
        .map(|back| (today - chrono::Days::new(u64::from(back))).to_string())
        .collect();
    let stored = state.engine.event_volumes(Dataset::Events, &dates).await;
    let quarantined = state
        .engine
        .event_volumes(Dataset::Quarantine, &dates)
        .await;
    let (stored, quarantined) = match (stored, quarantined) {
        (Ok(stored), Ok(quarantined)) => (stored, quarantined),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "taxonomy volumes");
            return error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
        }
    };
    let planned = |event_type: &str| {
        state
            .plan
            .as_ref()
            .map(|plan| plan.events.contains_key(event_type) || is_builtin_event(event_type))
    };
    let events: Vec<serde_json::Value> = stored
        .iter()
        .map(|volume| {
            let mut row = serde_json::to_value(volume).unwrap_or_default();
            row["planned"] = json!(planned(&volume.event_type));
            row
        })
        .collect();
    // Planned events the data has not seen in these days are listed too, with no volume.
    let unseen: Vec<&String> = state
        .plan
        .iter()
        .flat_map(|plan| plan.events.keys())
        .filter(|name| !stored.iter().any(|v| &v.event_type == *name))
        .collect();
    axum::Json(json!({
        "days": dates,
        "plan": state.plan.as_deref(),
        "events": events,
        "planned_not_seen": unseen,
        "quarantined": quarantined,
    }))
    .into_response()
}
