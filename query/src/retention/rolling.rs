//! Retention in rolling windows: two scans, so that memory follows persons and their start
//! events, never the return events read.
//!
//! 1. **Starts** (`starts.rs`): the start events of the date range (for "new user" retention,
//!    every counted event before its end, of which each person's first is kept) become each
//!    person's start groups: per cohort, the first and last hour of starts less than a window
//!    apart (`windows.rs`). Sorted by person, they are the cohorts' members.
//! 2. **Returns** (`returns.rs`): the return events from the range's start to the last window
//!    followed each set, per start group of their person, the bits of the windows they fall in.
//!    The bits of a person's groups in one cohort, united, answer the columns.
//!
//! A "new user" query keeps one group per person; a specific start event one per person,
//! cohort and window span with such a start. Each partition of the return scan holds one set
//! of window bits per group (one word up to 62 periods).

mod returns;
mod starts;

use std::sync::Arc;

use datafusion::datasource::listing::ListingTable;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::Expr;

use crate::error::Result;
use crate::spec::{PointIndex, RollingWindows};
use crate::whole_table::aggregate_list;
use returns::{ReturnParams, ReturnsUdaf};
use starts::{StartParams, Starts, StartsUdaf};

/// The two scans of a rolling retention query: which rows each reads and what it passes on.
pub(crate) struct RollingScans {
    /// The person of a row.
    pub(crate) person: Expr,
    /// The event time in Unix ms (`Int64`).
    pub(crate) ts: Expr,
    /// Rows that can start (for "new user" retention, every counted event before the range's
    /// end).
    pub(crate) starts: Expr,
    /// Per start row, 1 when it does not meet the start event's conditions ("new user"
    /// retention, where a first event that does not meet them opens no cohort), else 0.
    pub(crate) start_unmet: Expr,
    /// Return rows from the range's start to the last window followed.
    pub(crate) returns: Expr,
}

/// The fixed parameters of one rolling retention query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RollingParams {
    /// The cohort periods (calendar periods of the date range).
    pub(crate) cohorts: Arc<PointIndex>,
    /// The windows and how far returns are read.
    pub(crate) windows: RollingWindows,
    /// Cohorts open on the person's first start event ever ("new user"), not on every one.
    pub(crate) new_users: bool,
    /// Each column's windows after the start's, `[from, to)`; `None`: every later one.
    pub(crate) columns: Arc<Vec<(u32, Option<u32>)>>,
}

/// Per cohort its persons and returned counts, then the distinct persons (as
/// `retention::counts`).
pub(crate) async fn counts(
    ctx: &SessionContext,
    table: Arc<ListingTable>,
    scans: RollingScans,
    params: RollingParams,
) -> Result<Vec<u64>> {
    let udaf = StartsUdaf::new(StartParams::new(&params)).into_udaf();
    let arguments = vec![scans.person.clone(), scans.ts.clone(), scans.start_unmet];
    let groups = aggregate_list(ctx, Arc::clone(&table), scans.starts, udaf, arguments).await?;
    let starts = Starts::decode(&groups)?;
    let return_params = ReturnParams::new(&params, starts);
    let udaf = ReturnsUdaf::new(return_params).into_udaf();
    let arguments = vec![scans.person, scans.ts];
    let counts = aggregate_list(ctx, table, scans.returns, udaf, arguments).await?;
    Ok(datafusion::common::cast::as_uint64_array(&counts)?
        .values()
        .to_vec())
}

#[cfg(test)]
mod tests;
