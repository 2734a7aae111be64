//! Event volumes for the taxonomy browser: per event type, its events per stored day
//! (`event_date`, the project's days) since a day, the total, and when it was last seen — for
//! the events dataset or the quarantine (what the tracking plan rejected).

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::{as_int64_array, as_string_array};
use datafusion::datasource::listing::ListingTable;
use datafusion::execution::context::SessionContext;
use datafusion::functions_aggregate::expr_fn::{count, max};
use datafusion::logical_expr::{cast, lit};
use serde::{Deserialize, Serialize};
use sluice_schema::layout::PARTITION_COLUMN;

use crate::error::{QueryError, Result};
use crate::property::column;

/// One event type's volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventVolume {
    /// The event type.
    pub event_type: String,
    /// Its events in the days asked for.
    pub events: u64,
    /// Its latest event time in those days (Unix ms).
    pub last_seen_ms: Option<i64>,
    /// Its events per day, one entry per day asked for, oldest first.
    pub daily: Vec<u64>,
}

/// Per event type, the volume on `days` (`YYYY-MM-DD`, in order), most events first.
pub(crate) async fn volumes(
    ctx: &SessionContext,
    table: Option<Arc<ListingTable>>,
    days: &[String],
) -> Result<Vec<EventVolume>> {
    let (Some(table), Some(first), Some(last)) = (table, days.first(), days.last()) else {
        return Ok(Vec::new());
    };
    let day = column(PARTITION_COLUMN);
    let batches = ctx
        .read_table(table)?
        .filter(
            day.clone()
                .gt_eq(lit(first.clone()))
                .and(day.clone().lt_eq(lit(last.clone()))),
        )?
        .aggregate(
            vec![
                cast(column("event_type"), DataType::Utf8).alias("event_type"),
                cast(day, DataType::Utf8).alias("day"),
            ],
            vec![
                count(lit(1i64)).alias("events"),
                max(cast(column("event_time"), DataType::Int64)).alias("last_ms"),
            ],
        )?
        .collect()
        .await?;
    let position: BTreeMap<&str, usize> = days
        .iter()
        .enumerate()
        .map(|(i, d)| (d.as_str(), i))
        .collect();
    let mut by_type: BTreeMap<String, EventVolume> = BTreeMap::new();
    for batch in &batches {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| QueryError::Internal(format!("volumes lack column {name}")))
        };
        let types = as_string_array(column("event_type")?)?;
        let dates = as_string_array(column("day")?)?;
        let events = as_int64_array(column("events")?)?;
        let last = as_int64_array(column("last_ms")?)?;
        for row in 0..batch.num_rows() {
            let volume = by_type
                .entry(types.value(row).to_owned())
                .or_insert_with(|| EventVolume {
                    event_type: types.value(row).to_owned(),
                    events: 0,
                    last_seen_ms: None,
                    daily: vec![0; days.len()],
                });
            let n = u64::try_from(events.value(row)).unwrap_or(0);
            volume.events += n;
            if let Some(&i) = position.get(dates.value(row)) {
                volume.daily[i] += n;
            }
            if !last.is_null(row) {
                let seen = last.value(row);
                volume.last_seen_ms = Some(volume.last_seen_ms.map_or(seen, |s| s.max(seen)));
            }
        }
    }
    let mut volumes: Vec<EventVolume> = by_type.into_values().collect();
    volumes.sort_by(|a, b| {
        b.events
            .cmp(&a.events)
            .then(a.event_type.cmp(&b.event_type))
    });
    Ok(volumes)
}
