//! Who used what: every query through the API appends `{at_ms, user, analysis, chart_id}` to
//! `<data>/auth/usage.jsonl` (the chart is the saved chart the UI ran, named by the request's
//! `X-Sluice-Chart` header); `GET /api/v1/usage` (admins) sums it per member — queries, last
//! use, by analysis and by chart. A line lost in a crash is a use not counted: the log is written
//! without fsync, as it is analytics about Sluice, not data.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::api::error;

/// One use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Use {
    pub(crate) at_ms: i64,
    pub(crate) user: String,
    pub(crate) analysis: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) chart_id: Option<String>,
}

/// One member's use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
struct MemberUsage {
    user: String,
    queries: u64,
    last_at_ms: i64,
    by_analysis: BTreeMap<String, u64>,
    by_chart: BTreeMap<String, u64>,
}

/// The usage log of one data directory.
#[derive(Debug, Clone)]
pub(crate) struct UsageLog {
    path: PathBuf,
    writing: Arc<Mutex<()>>,
}

impl UsageLog {
    pub(crate) fn new(data_dir: &Path) -> Self {
        UsageLog {
            path: data_dir.join("auth").join("usage.jsonl"),
            writing: Arc::default(),
        }
    }

    /// Appends `used` (a failure is logged, never the caller's problem).
    pub(crate) fn record(&self, used: &Use) {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let written = (|| -> std::io::Result<()> {
            if let Some(folder) = self.path.parent() {
                std::fs::create_dir_all(folder)?;
            }
            let mut line = serde_json::to_vec(used).map_err(std::io::Error::other)?;
            line.push(b'\n');
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?
                .write_all(&line)
        })();
        if let Err(e) = written {
            tracing::warn!(error = %e, path = %self.path.display(), "recording a use");
        }
    }

    /// Every member's use, most queries first.
    fn summary(&self) -> std::io::Result<Vec<MemberUsage>> {
        let uses: Vec<Use> = sluice_query::durable_file::read_lines(&self.path)?;
        let mut members: BTreeMap<String, MemberUsage> = BTreeMap::new();
        for used in uses {
            let member = members
                .entry(used.user.clone())
                .or_insert_with(|| MemberUsage {
                    user: used.user.clone(),
                    ..MemberUsage::default()
                });
            member.queries += 1;
            member.last_at_ms = member.last_at_ms.max(used.at_ms);
            *member.by_analysis.entry(used.analysis).or_default() += 1;
            if let Some(chart) = used.chart_id {
                *member.by_chart.entry(chart).or_default() += 1;
            }
        }
        let mut members: Vec<MemberUsage> = members.into_values().collect();
        members.sort_by(|a, b| b.queries.cmp(&a.queries).then(a.user.cmp(&b.user)));
        Ok(members)
    }
}

/// `GET /api/v1/usage` (admins).
pub(crate) fn router(log: UsageLog) -> Router {
    Router::new()
        .route("/api/v1/usage", get(usage))
        .with_state(log)
}

async fn usage(State(log): State<UsageLog>) -> Response {
    match log.summary() {
        Ok(members) => axum::Json(json!({"members": members})).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uses_sum_per_member() {
        let dir = tempfile::tempdir().unwrap();
        let log = UsageLog::new(dir.path());
        let used = |user: &str, analysis: &str, chart: Option<&str>, at_ms| Use {
            at_ms,
            user: user.to_owned(),
            analysis: analysis.to_owned(),
            chart_id: chart.map(str::to_owned),
        };
        log.record(&used("mina", "funnel", Some("c-1"), 10));
        log.record(&used("mina", "funnel", Some("c-1"), 30));
        log.record(&used("mina", "retention", None, 20));
        log.record(&used("joon", "segmentation", Some("c-2"), 5));
        let summary = log.summary().unwrap();
        assert_eq!(summary.len(), 2);
        assert_eq!(summary[0].user, "mina");
        assert_eq!((summary[0].queries, summary[0].last_at_ms), (3, 30));
        assert_eq!(summary[0].by_analysis["funnel"], 2);
        assert_eq!(summary[0].by_chart["c-1"], 2);
        assert_eq!(summary[1].by_chart["c-2"], 1);
    }
}
