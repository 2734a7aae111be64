//! The events listing: stored events themselves, for a user's stream, a device, or the quarantine.
//!
//! Three small plans over the same filter: counts per event type (an aggregate), the newest
//! `limit` rows (a top-k sort; ties by event type, then insert id), and — for a user or device — their most recently *received* event
//! (sorted by `server_received_time`, then `event_time`), whose stamped properties are the user's
//! properties now. Rows come back as whole events through `sluice_schema::layout`'s reader, so
//! promoted `ep:`/`up:` columns fold back into the property maps.

use std::sync::Arc;

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::cast::{as_int64_array, as_string_array};
use datafusion::datasource::listing::ListingTable;
use datafusion::execution::context::SessionContext;
use datafusion::functions_aggregate::expr_fn::{count, max, min};
use datafusion::logical_expr::{Expr, SortExpr, cast, lit};
use datafusion::prelude::DataFrame;
use serde_json::{Map, Value};
use sluice_schema::Event;
use sluice_schema::layout::events_from_batch;

use crate::error::{QueryError, Result};
use crate::property::{column, time_span};
use crate::result::{EventTypeCount, EventsResult, UserSnapshot};
use crate::spec::{Dataset, EventsQuery};

/// Runs `query` over `table` (`None`: the dataset holds nothing yet).
pub(crate) async fn run(
    ctx: &SessionContext,
    table: Option<Arc<ListingTable>>,
    query: &EventsQuery,
) -> Result<EventsResult> {
    let mut result = EventsResult {
        dataset: query.dataset,
        total: 0,
        by_event_type: Vec::new(),
        user: None,
        events: Vec::new(),
    };
    let Some(table) = table else {
        return Ok(result);
    };
    let matching = ctx.read_table(table.clone())?.filter(filter(query))?;
    result.by_event_type = counts(matching.clone()).await?;
    result.total = result.by_event_type.iter().map(|c| c.events).sum();
    if query.limit > 0 && result.total > 0 {
        let newest = matching
            // Events of one millisecond in a fixed order, so a listing (and its CSV) is the
            // same every time it is asked for.
            .sort(vec![
                desc("event_time"),
                desc("server_received_time"),
                column("event_type").sort(true, false),
                column("insert_id").sort(true, false),
            ])?
            .limit(0, Some(query.limit))?;
        result.events = read_events(newest)
            .await?
            .into_iter()
            .map(event_json)
            .collect();
    }
    let names_someone = query.user_id.is_some() || query.device_id.is_some();
    if names_someone && query.dataset == Dataset::Events {
        let theirs = ctx.read_table(table)?.filter(identity_filter(query))?;
        result.user = snapshot(theirs).await?;
    }
    Ok(result)
}

/// Who (project, user, device) and, for the listing, what and when.
fn filter(query: &EventsQuery) -> Expr {
    let mut filter = identity_filter(query);
    if !query.event_types.is_empty() {
        let types = query.event_types.iter().map(|t| lit(t.clone())).collect();
        filter = filter.and(column("event_type").in_list(types, false));
    }
    if let Some(insert_id) = &query.insert_id {
        filter = filter.and(column("insert_id").eq(lit(insert_id.clone())));
    }
    if let Some((from, to)) = query.span_ms {
        filter = filter.and(time_span(from, to));
    }
    filter
}

/// Project, user and device: what the user snapshot is computed over.
fn identity_filter(query: &EventsQuery) -> Expr {
    let mut filter = lit(true);
    let equals = [
        ("project", &query.project),
        ("user_id", &query.user_id),
        ("device_id", &query.device_id),
    ];
    for (name, value) in equals {
        if let Some(value) = value {
            filter = filter.and(column(name).eq(lit(value.clone())));
        }
    }
    filter
}

fn desc(name: &str) -> SortExpr {
    column(name).sort(false, false)
}

async fn counts(matching: DataFrame) -> Result<Vec<EventTypeCount>> {
    let batches = matching
        .aggregate(
            vec![cast(column("event_type"), DataType::Utf8).alias("event_type")],
            vec![count(lit(1i64)).alias("events")],
        )?
        .collect()
        .await?;
    let mut counts = Vec::new();
    for batch in &batches {
        let types = as_string_array(named(batch, "event_type")?)?;
        let events = as_int64_array(named(batch, "events")?)?;
        for row in 0..batch.num_rows() {
            counts.push(EventTypeCount {
                event_type: types.value(row).to_owned(),
                events: u64::try_from(events.value(row)).unwrap_or(0),
            });
        }
    }
    counts.sort_by(|a, b| {
        b.events
            .cmp(&a.events)
            .then(a.event_type.cmp(&b.event_type))
    });
    Ok(counts)
}

fn named<'b>(batch: &'b RecordBatch, name: &str) -> Result<&'b Arc<dyn Array>> {
    batch
        .column_by_name(name)
        .ok_or_else(|| QueryError::Internal(format!("result lacks column {name}")))
}

async fn read_events(frame: DataFrame) -> Result<Vec<Event>> {
    let mut events = Vec::new();
    for batch in frame.collect().await? {
        let read = events_from_batch(&batch)
            .map_err(|e| QueryError::Internal(format!("reading stored events: {e}")))?;
        events.extend(read);
    }
    Ok(events)
}

/// The properties of the most recently received event, and the devices and time span of all.
async fn snapshot(theirs: DataFrame) -> Result<Option<UserSnapshot>> {
    let devices = theirs
        .clone()
        .aggregate(
            vec![cast(column("device_id"), DataType::Utf8).alias("device_id")],
            vec![
                min(cast(column("event_time"), DataType::Int64)).alias("first"),
                max(cast(column("event_time"), DataType::Int64)).alias("last"),
            ],
        )?
        .collect()
        .await?;
    let mut device_ids = Vec::new();
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for batch in &devices {
        let ids = as_string_array(named(batch, "device_id")?)?;
        let firsts = as_int64_array(named(batch, "first")?)?;
        let lasts = as_int64_array(named(batch, "last")?)?;
        for row in 0..batch.num_rows() {
            device_ids.push(ids.value(row).to_owned());
            first = first.min(firsts.value(row));
            last = last.max(lasts.value(row));
        }
    }
    if device_ids.is_empty() {
        return Ok(None);
    }
    device_ids.sort();
    let latest = theirs
        .sort(vec![desc("server_received_time"), desc("event_time")])?
        .limit(0, Some(1))?;
    let Some(latest) = read_events(latest).await?.into_iter().next() else {
        return Ok(None);
    };
    Ok(Some(UserSnapshot {
        user_id: latest.user_id,
        device_ids,
        user_properties: latest.user_properties,
        groups: latest.groups,
        group_properties: latest.group_properties,
        first_event_time: first,
        last_event_time: last,
    }))
}

/// An event as one flat JSON object of the fields that have a value.
fn event_json(event: Event) -> Value {
    let Ok(Value::Object(nested)) = serde_json::to_value(&event) else {
        return Value::Null;
    };
    let mut flat = Map::new();
    for (key, value) in nested {
        match (key.as_str(), value) {
            ("context" | "revenue", Value::Object(inner)) => {
                flat.extend(inner.into_iter().filter(|(_, v)| has_value(v)));
            }
            ("skip_user_properties_sync", _) => {}
            ("quarantined", Value::Bool(false)) => {}
            (_, value) if has_value(&value) => {
                flat.insert(key, value);
            }
            _ => {}
        }
    }
    Value::Object(flat)
}

/// Whether a field is worth showing: not null, not an empty object or list.
fn has_value(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Object(map) => !map.is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn events_are_flat_and_skip_empty_fields() {
        let mut event = Event {
            project: "p".into(),
            event_type: "Viewed".into(),
            device_id: "d".into(),
            event_time: 5,
            ..Event::default()
        };
        event.context.platform = Some("Web".into());
        event.revenue.price = Some(2.5);
        event.event_properties = json!({"k": 1}).as_object().unwrap().clone();
        let value = event_json(event);
        assert_eq!(value["platform"], "Web");
        assert_eq!(value["price"], 2.5);
        assert_eq!(value["event_properties"]["k"], 1);
        for absent in [
            "context",
            "revenue",
            "user_id",
            "user_properties",
            "taxonomy_issues",
            "quarantined",
            "skip_user_properties_sync",
        ] {
            assert!(value.get(absent).is_none(), "{absent} should be absent");
        }
    }
}
