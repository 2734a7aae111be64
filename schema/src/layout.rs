//! The stored layout: one Arrow schema for events, and the conversion of [`Event`]s into record batches.
//!
//! Fixed columns hold every field an Amplitude event can carry plus the server-side fields. Properties
//! declared in the tracking plan with a scalar type are *promoted* to typed columns named
//! `ep:<name>` (event properties) and `up:<name>` (user properties); everything else — undeclared
//! properties, arrays, values that do not fit the declared type — stays in the JSON text columns
//! `event_properties` / `user_properties`, so nothing is lost. ARCHITECTURE.md explains the choice.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::NaiveDate;
use chrono_tz::Tz;
use serde_json::Value;

use crate::event::{Event, Properties};
use crate::taxonomy::{PropertyType, TrackingPlan};

/// Prefix of promoted event-property columns.
pub const EVENT_PROPERTY_PREFIX: &str = "ep:";
/// Prefix of promoted user-property columns.
pub const USER_PROPERTY_PREFIX: &str = "up:";
/// JSON array of the event's tracking-plan problems (null when it matches the plan).
pub const TAXONOMY_ISSUES_COLUMN: &str = "taxonomy_issues";
/// Name of the hive partition column (the event date in the project time zone).
pub const PARTITION_COLUMN: &str = "event_date";

/// A property stored in its own typed column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotedProperty {
    /// Property name as sent by clients.
    pub name: String,
    /// Its declared type (never `Array`: arrays stay in JSON).
    pub ty: PropertyType,
}

/// Which properties get typed columns; everything else about the schema is fixed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageLayout {
    /// Promoted event properties, in column order.
    pub event_properties: Vec<PromotedProperty>,
    /// Promoted user properties, in column order.
    pub user_properties: Vec<PromotedProperty>,
}

type TimeGetter = fn(&Event) -> Option<i64>;
type StrGetter = fn(&Event) -> Option<&str>;
type IntGetter = fn(&Event) -> Option<i64>;
type FloatGetter = fn(&Event) -> Option<f64>;
type JsonGetter = fn(&Event) -> &Properties;

const TIME_COLUMNS: &[(&str, bool, TimeGetter)] = &[
    ("event_time", false, |e| Some(e.event_time)),
    ("client_event_time", false, |e| Some(e.client_event_time)),
    ("client_upload_time", true, |e| e.client_upload_time),
    ("server_received_time", false, |e| {
        Some(e.server_received_time)
    }),
];

const STRING_COLUMNS: &[(&str, bool, StrGetter)] = &[
    ("project", false, |e| Some(&e.project)),
    ("event_type", false, |e| Some(&e.event_type)),
    ("user_id", true, |e| e.user_id.as_deref()),
    ("device_id", false, |e| Some(&e.device_id)),
    ("insert_id", true, |e| e.insert_id.as_deref()),
    ("app_version", true, |e| e.context.app_version.as_deref()),
    ("platform", true, |e| e.context.platform.as_deref()),
    ("os_name", true, |e| e.context.os_name.as_deref()),
    ("os_version", true, |e| e.context.os_version.as_deref()),
    ("device_brand", true, |e| e.context.device_brand.as_deref()),
    ("device_manufacturer", true, |e| {
        e.context.device_manufacturer.as_deref()
    }),
    ("device_model", true, |e| e.context.device_model.as_deref()),
    ("carrier", true, |e| e.context.carrier.as_deref()),
    ("country", true, |e| e.context.country.as_deref()),
    ("region", true, |e| e.context.region.as_deref()),
    ("city", true, |e| e.context.city.as_deref()),
    ("dma", true, |e| e.context.dma.as_deref()),
    ("language", true, |e| e.context.language.as_deref()),
    ("ip", true, |e| e.context.ip.as_deref()),
    ("idfa", true, |e| e.context.idfa.as_deref()),
    ("idfv", true, |e| e.context.idfv.as_deref()),
    ("adid", true, |e| e.context.adid.as_deref()),
    ("android_id", true, |e| e.context.android_id.as_deref()),
    ("android_app_set_id", true, |e| {
        e.context.android_app_set_id.as_deref()
    }),
    ("library", true, |e| e.context.library.as_deref()),
    ("user_agent", true, |e| e.context.user_agent.as_deref()),
    ("partner_id", true, |e| e.context.partner_id.as_deref()),
    ("product_id", true, |e| e.revenue.product_id.as_deref()),
    ("revenue_type", true, |e| e.revenue.revenue_type.as_deref()),
    ("currency", true, |e| e.revenue.currency.as_deref()),
];

const INT_COLUMNS: &[(&str, IntGetter)] = &[
    ("session_id", |e| e.session_id),
    ("event_id", |e| e.event_id),
    ("quantity", |e| e.revenue.quantity),
];

const FLOAT_COLUMNS: &[(&str, FloatGetter)] = &[
    ("price", |e| e.revenue.price),
    ("revenue", |e| e.revenue.revenue),
    ("location_lat", |e| e.context.location_lat),
    ("location_lng", |e| e.context.location_lng),
];

/// JSON columns stored whole (event and user properties are handled with promotion).
const JSON_COLUMNS: &[(&str, JsonGetter)] = &[
    ("groups", |e| &e.groups),
    ("group_properties", |e| &e.group_properties),
    ("plan", |e| &e.plan),
    ("ingestion_metadata", |e| &e.ingestion_metadata),
];

impl StorageLayout {
    /// The layout a tracking plan implies: every scalar-typed property is promoted.
    pub fn from_plan(plan: &TrackingPlan) -> Self {
        let promote = |props: &std::collections::BTreeMap<String, crate::taxonomy::PropertyDef>| {
            props
                .iter()
                .filter(|(_, def)| def.ty != PropertyType::Array)
                .map(|(name, def)| PromotedProperty {
                    name: name.clone(),
                    ty: def.ty,
                })
                .collect()
        };
        StorageLayout {
            event_properties: promote(&plan.event_properties),
            user_properties: promote(&plan.user_properties),
        }
    }

    /// The Arrow schema of stored events under this layout (without the partition column).
    pub fn schema(&self) -> SchemaRef {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        let mut fields: Vec<Field> = Vec::new();
        fields.extend(
            TIME_COLUMNS
                .iter()
                .map(|(n, null, _)| Field::new(*n, ts.clone(), *null)),
        );
        fields.extend(
            STRING_COLUMNS
                .iter()
                .map(|(n, null, _)| Field::new(*n, DataType::Utf8, *null)),
        );
        fields.extend(
            INT_COLUMNS
                .iter()
                .map(|(n, _)| Field::new(*n, DataType::Int64, true)),
        );
        fields.extend(
            FLOAT_COLUMNS
                .iter()
                .map(|(n, _)| Field::new(*n, DataType::Float64, true)),
        );
        fields.extend(
            JSON_COLUMNS
                .iter()
                .map(|(n, _)| Field::new(*n, DataType::Utf8, true)),
        );
        fields.push(Field::new(TAXONOMY_ISSUES_COLUMN, DataType::Utf8, true));
        fields.push(Field::new("event_properties", DataType::Utf8, true));
        fields.push(Field::new("user_properties", DataType::Utf8, true));
        for (prefix, props) in self.promoted() {
            for p in props {
                fields.push(Field::new(
                    format!("{prefix}{}", p.name),
                    arrow_type(p.ty),
                    true,
                ));
            }
        }
        Arc::new(Schema::new(fields))
    }

    fn promoted(&self) -> [(&'static str, &[PromotedProperty]); 2] {
        [
            (EVENT_PROPERTY_PREFIX, &self.event_properties),
            (USER_PROPERTY_PREFIX, &self.user_properties),
        ]
    }

    /// Converts events into one record batch of [`StorageLayout::schema`].
    pub fn to_record_batch(
        &self,
        events: &[Event],
    ) -> Result<RecordBatch, arrow::error::ArrowError> {
        let n = events.len();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (_, _, get) in TIME_COLUMNS {
            let mut b = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
            events.iter().for_each(|e| b.append_option(get(e)));
            columns.push(Arc::new(b.finish()));
        }
        for (_, _, get) in STRING_COLUMNS {
            let mut b = StringBuilder::with_capacity(n, n * 8);
            events.iter().for_each(|e| b.append_option(get(e)));
            columns.push(Arc::new(b.finish()));
        }
        for (_, get) in INT_COLUMNS {
            let mut b = Int64Builder::with_capacity(n);
            events.iter().for_each(|e| b.append_option(get(e)));
            columns.push(Arc::new(b.finish()));
        }
        for (_, get) in FLOAT_COLUMNS {
            let mut b = Float64Builder::with_capacity(n);
            events.iter().for_each(|e| b.append_option(get(e)));
            columns.push(Arc::new(b.finish()));
        }
        for (_, get) in JSON_COLUMNS {
            let mut b = StringBuilder::with_capacity(n, n * 8);
            events
                .iter()
                .for_each(|e| b.append_option(json_text(get(e))));
            columns.push(Arc::new(b.finish()));
        }
        let mut issues = StringBuilder::with_capacity(n, 0);
        for event in events {
            if event.taxonomy_issues.is_empty() {
                issues.append_null();
            } else {
                let text = serde_json::to_string(&event.taxonomy_issues)
                    .expect("a list of strings always serialises");
                issues.append_value(text);
            }
        }
        columns.push(Arc::new(issues.finish()));
        let event_props = split_properties(events, |e| &e.event_properties, &self.event_properties);
        let user_props = split_properties(events, |e| &e.user_properties, &self.user_properties);
        columns.push(event_props.remainder);
        columns.push(user_props.remainder);
        columns.extend(event_props.typed);
        columns.extend(user_props.typed);
        RecordBatch::try_new(self.schema(), columns)
    }
}

/// The date an event belongs to in the project's time zone: its partition.
pub fn partition_date(event_time_ms: i64, time_zone: Tz) -> NaiveDate {
    let utc = chrono::DateTime::from_timestamp_millis(event_time_ms).unwrap_or_default();
    utc.with_timezone(&time_zone).date_naive()
}

fn arrow_type(ty: PropertyType) -> DataType {
    match ty {
        PropertyType::String | PropertyType::Array => DataType::Utf8,
        PropertyType::Number => DataType::Float64,
        PropertyType::Integer => DataType::Int64,
        PropertyType::Boolean => DataType::Boolean,
    }
}

fn json_text(props: &Properties) -> Option<String> {
    (!props.is_empty()).then(|| serde_json::to_string(props).unwrap_or_default())
}

/// Whether a value can live in the promoted column of `ty` (otherwise it stays in the JSON).
fn fits(value: &Value, ty: PropertyType) -> bool {
    match ty {
        PropertyType::String => value.is_string(),
        PropertyType::Number => value.is_number(),
        PropertyType::Integer => value.is_i64(),
        PropertyType::Boolean => value.is_boolean(),
        PropertyType::Array => false,
    }
}

/// One properties map split into its promoted typed columns and the JSON text of the rest.
struct SplitProperties {
    remainder: ArrayRef,
    typed: Vec<ArrayRef>,
}

/// Splits every event's properties in one pass over each map: a property goes to its typed column
/// if it is promoted and fits the type, otherwise into the row's remainder JSON.
fn split_properties(
    events: &[Event],
    get: fn(&Event) -> &Properties,
    promoted: &[PromotedProperty],
) -> SplitProperties {
    let column_of: HashMap<&str, usize> = promoted
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    let mut typed: Vec<TypedBuilder> = promoted
        .iter()
        .map(|p| TypedBuilder::new(p.ty, events.len()))
        .collect();
    let mut remainder = StringBuilder::with_capacity(events.len(), events.len() * 16);
    let mut row: Vec<Option<&Value>> = vec![None; promoted.len()];
    let mut rest: Vec<(&String, &Value)> = Vec::new();
    let mut text = Vec::new();
    for event in events {
        row.fill(None);
        rest.clear();
        for (name, value) in get(event) {
            match column_of.get(name.as_str()) {
                Some(&i) if fits(value, promoted[i].ty) => row[i] = Some(value),
                _ => rest.push((name, value)),
            }
        }
        for (builder, value) in typed.iter_mut().zip(&row) {
            builder.append(*value);
        }
        if rest.is_empty() {
            remainder.append_null();
        } else {
            text.clear();
            let map = JsonMap(&rest);
            serde_json::to_writer(&mut text, &map).expect("writing JSON to memory cannot fail");
            remainder.append_value(String::from_utf8_lossy(&text));
        }
    }
    SplitProperties {
        remainder: Arc::new(remainder.finish()),
        typed: typed.into_iter().map(TypedBuilder::finish).collect(),
    }
}

/// Serialises borrowed `(name, value)` pairs as a JSON object without copying them into a map.
struct JsonMap<'a>(&'a [(&'a String, &'a Value)]);

impl serde::Serialize for JsonMap<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().copied())
    }
}

/// A builder for one promoted column; values handed to it already fit its type.
enum TypedBuilder {
    Utf8(StringBuilder),
    Float64(Float64Builder),
    Int64(Int64Builder),
    Boolean(BooleanBuilder),
}

impl TypedBuilder {
    fn new(ty: PropertyType, rows: usize) -> Self {
        match ty {
            PropertyType::String | PropertyType::Array => {
                TypedBuilder::Utf8(StringBuilder::with_capacity(rows, rows * 8))
            }
            PropertyType::Number => TypedBuilder::Float64(Float64Builder::with_capacity(rows)),
            PropertyType::Integer => TypedBuilder::Int64(Int64Builder::with_capacity(rows)),
            PropertyType::Boolean => TypedBuilder::Boolean(BooleanBuilder::with_capacity(rows)),
        }
    }

    fn append(&mut self, value: Option<&Value>) {
        match self {
            TypedBuilder::Utf8(b) => b.append_option(value.and_then(Value::as_str)),
            TypedBuilder::Float64(b) => b.append_option(value.and_then(Value::as_f64)),
            TypedBuilder::Int64(b) => b.append_option(value.and_then(Value::as_i64)),
            TypedBuilder::Boolean(b) => b.append_option(value.and_then(Value::as_bool)),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            TypedBuilder::Utf8(mut b) => Arc::new(b.finish()),
            TypedBuilder::Float64(mut b) => Arc::new(b.finish()),
            TypedBuilder::Int64(mut b) => Arc::new(b.finish()),
            TypedBuilder::Boolean(mut b) => Arc::new(b.finish()),
        }
    }
}

#[cfg(test)]
mod tests;
