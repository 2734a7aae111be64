//! The entry point: a [`QueryEngine`] over a data directory runs query specs.
//!
//! Each query gets a fresh DataFusion session (two partitions, matching the machine) and a fresh
//! listing of the event files, so Parquet files written since the last query are always seen.

use std::path::{Path, PathBuf};

use datafusion::execution::context::SessionContext;
use datafusion::prelude::SessionConfig;

use crate::error::QueryError;
use crate::result::QueryResult;
use sluice_schema::layout::{EVENTS_DIR, QUARANTINE_DIR};

use crate::spec::{Dataset, QuerySpec};
use crate::{events, funnel, table};

/// How often a query is tried when files vanish under it.
const MAX_ATTEMPTS: u32 = 3;

/// Runs analyses over the Parquet dataset in one data directory.
#[derive(Debug, Clone)]
pub struct QueryEngine {
    data_dir: PathBuf,
}

impl QueryEngine {
    /// An engine over `data_dir` (the folder holding `events/`). Nothing is read until a query
    /// runs; the folder need not exist yet.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        QueryEngine {
            data_dir: data_dir.into(),
        }
    }

    /// The data directory this engine reads.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Validates `spec` and runs it. A bad spec is a [`QueryError::InvalidSpec`]; no data yet
    /// gives zero counts, not an error. A query that meets a file deleted after it was listed is
    /// run again over a fresh listing (a few times at most).
    pub async fn run(&self, spec: &QuerySpec) -> Result<QueryResult, QueryError> {
        let mut attempts = 1;
        loop {
            match self.run_once(spec).await {
                Err(e) if attempts < MAX_ATTEMPTS && e.is_vanished_file() => attempts += 1,
                done => return done,
            }
        }
    }

    async fn run_once(&self, spec: &QuerySpec) -> Result<QueryResult, QueryError> {
        match spec {
            QuerySpec::Funnel(funnel_spec) => {
                let query = funnel_spec.validate()?;
                let ctx = session();
                let table = table::events_table(&ctx, &self.data_dir).await?;
                let result =
                    funnel::run(&ctx, table, &query, funnel_spec.breakdown.clone()).await?;
                Ok(QueryResult::Funnel(result))
            }
            QuerySpec::Events(events_spec) => {
                let query = events_spec.validate()?;
                let ctx = session();
                let folder = match query.dataset {
                    Dataset::Events => EVENTS_DIR,
                    Dataset::Quarantine => QUARANTINE_DIR,
                };
                let table = table::dataset_table(&ctx, &self.data_dir, folder).await?;
                Ok(QueryResult::Events(events::run(&ctx, table, &query).await?))
            }
        }
    }
}

fn session() -> SessionContext {
    SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2))
}
