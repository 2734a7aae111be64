//! The stored layout: one Arrow schema for events, and the conversion of [`Event`]s into record batches.
//!
//! Fixed columns hold every field an Amplitude event can carry plus the server-side fields. Properties
//! declared in the tracking plan with a scalar type are *promoted* to typed columns named
//! `ep:<name>` (event properties) and `up:<name>` (user properties); everything else — undeclared
//! properties, arrays, values that do not fit the declared type — stays in the JSON text columns
//! `event_properties` / `user_properties`, so nothing is lost. ARCHITECTURE.md explains the choice.

use std::borrow::Borrow;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::NaiveDate;
use chrono_tz::Tz;

use crate::event::property_list::{PropertyRef, map_entries};
use crate::event::row::EventRow;
use crate::event::{Event, Properties};
use crate::taxonomy::{PropertyType, TrackingPlan};

pub mod identity;
mod read;

pub use read::{ReadError, events_from_batch};

/// Prefix of promoted event-property columns.
pub const EVENT_PROPERTY_PREFIX: &str = "ep:";
/// Prefix of promoted user-property columns.
pub const USER_PROPERTY_PREFIX: &str = "up:";
/// JSON array of the event's tracking-plan problems (null when it matches the plan).
pub const TAXONOMY_ISSUES_COLUMN: &str = "taxonomy_issues";
/// Folder of a data directory that holds the main event dataset.
pub const EVENTS_DIR: &str = "events";
/// Folder of a data directory that holds the events the tracking plan rejected (same layout).
pub const QUARANTINE_DIR: &str = "quarantine";
/// Name of the hive partition column (the event date in the project time zone).
pub const PARTITION_COLUMN: &str = "event_date";
/// File in `events/` counting compaction swaps: odd while one is under way. A query that read the
/// same even number before and after it ran saw a consistent set of files (ARCHITECTURE.md).
pub const COMPACTION_EPOCH_FILE: &str = ".compaction-epoch";

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

type TimeGetter = fn(&EventRow<'_>) -> Option<i64>;
type StrGetter = for<'r> fn(&'r EventRow<'_>) -> Option<&'r str>;
type IntGetter = fn(&EventRow<'_>) -> Option<i64>;
type FloatGetter = fn(&EventRow<'_>) -> Option<f64>;
type JsonGetter = for<'r> fn(&'r EventRow<'_>) -> &'r Properties;
type IntSetter = fn(&mut Event, Option<i64>);
type StrSetter = fn(&mut Event, Option<String>);
type FloatSetter = fn(&mut Event, Option<f64>);
type JsonSetter = fn(&mut Event) -> &mut Properties;

// Each fixed column: name, (nullable,) how to read it from an event, how to set it back
// (`read::events_from_batch` uses the setters; a column added here is written and read).
const TIME_COLUMNS: &[(&str, bool, TimeGetter, IntSetter)] = &[
    (
        "event_time",
        false,
        |e| Some(e.event_time),
        |e, v| e.event_time = v.unwrap_or_default(),
    ),
    (
        "client_event_time",
        false,
        |e| Some(e.client_event_time),
        |e, v| e.client_event_time = v.unwrap_or_default(),
    ),
    (
        "client_upload_time",
        true,
        |e| e.client_upload_time,
        |e, v| e.client_upload_time = v,
    ),
    (
        "server_received_time",
        false,
        |e| Some(e.server_received_time),
        |e, v| e.server_received_time = v.unwrap_or_default(),
    ),
];

const STRING_COLUMNS: &[(&str, bool, StrGetter, StrSetter)] = &[
    (
        "project",
        false,
        |e| Some(&*e.project),
        |e, v| e.project = v.unwrap_or_default(),
    ),
    (
        "event_type",
        false,
        |e| Some(&*e.event_type),
        |e, v| e.event_type = v.unwrap_or_default(),
    ),
    (
        "user_id",
        true,
        |e| e.user_id.as_deref(),
        |e, v| e.user_id = v,
    ),
    (
        "device_id",
        false,
        |e| Some(&*e.device_id),
        |e, v| e.device_id = v.unwrap_or_default(),
    ),
    (
        "insert_id",
        true,
        |e| e.insert_id.as_deref(),
        |e, v| e.insert_id = v,
    ),
    (
        "app_version",
        true,
        |e| e.context.app_version.as_deref(),
        |e, v| e.context.app_version = v,
    ),
    (
        "platform",
        true,
        |e| e.context.platform.as_deref(),
        |e, v| e.context.platform = v,
    ),
    (
        "os_name",
        true,
        |e| e.context.os_name.as_deref(),
        |e, v| e.context.os_name = v,
    ),
    (
        "os_version",
        true,
        |e| e.context.os_version.as_deref(),
        |e, v| e.context.os_version = v,
    ),
    (
        "device_brand",
        true,
        |e| e.context.device_brand.as_deref(),
        |e, v| e.context.device_brand = v,
    ),
    (
        "device_manufacturer",
        true,
        |e| e.context.device_manufacturer.as_deref(),
        |e, v| e.context.device_manufacturer = v,
    ),
    (
        "device_model",
        true,
        |e| e.context.device_model.as_deref(),
        |e, v| e.context.device_model = v,
    ),
    (
        "carrier",
        true,
        |e| e.context.carrier.as_deref(),
        |e, v| e.context.carrier = v,
    ),
    (
        "country",
        true,
        |e| e.context.country.as_deref(),
        |e, v| e.context.country = v,
    ),
    (
        "region",
        true,
        |e| e.context.region.as_deref(),
        |e, v| e.context.region = v,
    ),
    (
        "city",
        true,
        |e| e.context.city.as_deref(),
        |e, v| e.context.city = v,
    ),
    (
        "dma",
        true,
        |e| e.context.dma.as_deref(),
        |e, v| e.context.dma = v,
    ),
    (
        "language",
        true,
        |e| e.context.language.as_deref(),
        |e, v| e.context.language = v,
    ),
    (
        "ip",
        true,
        |e| e.context.ip.as_deref(),
        |e, v| e.context.ip = v,
    ),
    (
        "idfa",
        true,
        |e| e.context.idfa.as_deref(),
        |e, v| e.context.idfa = v,
    ),
    (
        "idfv",
        true,
        |e| e.context.idfv.as_deref(),
        |e, v| e.context.idfv = v,
    ),
    (
        "adid",
        true,
        |e| e.context.adid.as_deref(),
        |e, v| e.context.adid = v,
    ),
    (
        "android_id",
        true,
        |e| e.context.android_id.as_deref(),
        |e, v| e.context.android_id = v,
    ),
    (
        "android_app_set_id",
        true,
        |e| e.context.android_app_set_id.as_deref(),
        |e, v| e.context.android_app_set_id = v,
    ),
    (
        "library",
        true,
        |e| e.context.library.as_deref(),
        |e, v| e.context.library = v,
    ),
    (
        "user_agent",
        true,
        |e| e.context.user_agent.as_deref(),
        |e, v| e.context.user_agent = v,
    ),
    (
        "partner_id",
        true,
        |e| e.context.partner_id.as_deref(),
        |e, v| e.context.partner_id = v,
    ),
    (
        "product_id",
        true,
        |e| e.revenue.product_id.as_deref(),
        |e, v| e.revenue.product_id = v,
    ),
    (
        "revenue_type",
        true,
        |e| e.revenue.revenue_type.as_deref(),
        |e, v| e.revenue.revenue_type = v,
    ),
    (
        "currency",
        true,
        |e| e.revenue.currency.as_deref(),
        |e, v| e.revenue.currency = v,
    ),
];

const INT_COLUMNS: &[(&str, IntGetter, IntSetter)] = &[
    ("session_id", |e| e.session_id, |e, v| e.session_id = v),
    ("event_id", |e| e.event_id, |e, v| e.event_id = v),
    ("person_id", |e| e.person_id, |e, v| e.person_id = v),
    (
        "quantity",
        |e| e.revenue.quantity,
        |e, v| e.revenue.quantity = v,
    ),
];

const FLOAT_COLUMNS: &[(&str, FloatGetter, FloatSetter)] = &[
    ("price", |e| e.revenue.price, |e, v| e.revenue.price = v),
    (
        "revenue",
        |e| e.revenue.revenue,
        |e, v| e.revenue.revenue = v,
    ),
    (
        "location_lat",
        |e| e.context.location_lat,
        |e, v| e.context.location_lat = v,
    ),
    (
        "location_lng",
        |e| e.context.location_lng,
        |e, v| e.context.location_lng = v,
    ),
];

/// JSON columns stored whole (event and user properties are handled with promotion).
const JSON_COLUMNS: &[(&str, JsonGetter, JsonSetter)] = &[
    ("groups", |e| &e.groups, |e| &mut e.groups),
    (
        "group_properties",
        |e| &e.group_properties,
        |e| &mut e.group_properties,
    ),
    ("plan", |e| &e.plan, |e| &mut e.plan),
    (
        "ingestion_metadata",
        |e| &e.ingestion_metadata,
        |e| &mut e.ingestion_metadata,
    ),
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
                .map(|(n, null, _, _)| Field::new(*n, ts.clone(), *null)),
        );
        fields.extend(
            STRING_COLUMNS
                .iter()
                .map(|(n, null, _, _)| Field::new(*n, DataType::Utf8, *null)),
        );
        fields.extend(
            INT_COLUMNS
                .iter()
                .map(|(n, _, _)| Field::new(*n, DataType::Int64, true)),
        );
        fields.extend(
            FLOAT_COLUMNS
                .iter()
                .map(|(n, _, _)| Field::new(*n, DataType::Float64, true)),
        );
        fields.extend(
            JSON_COLUMNS
                .iter()
                .map(|(n, _, _)| Field::new(*n, DataType::Utf8, true)),
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

    /// Converts events (owned or borrowed) into one record batch of [`StorageLayout::schema`].
    pub fn to_record_batch<E: Borrow<Event>>(
        &self,
        events: &[E],
    ) -> Result<RecordBatch, arrow::error::ArrowError> {
        let rows: Vec<EventRow<'_>> = events.iter().map(|e| EventRow::from(e.borrow())).collect();
        self.rows_to_record_batch(&rows)
    }

    /// Converts rows (owned or borrowed) into one record batch of [`StorageLayout::schema`].
    pub fn rows_to_record_batch<'r, R: Borrow<EventRow<'r>>>(
        &self,
        rows: &[R],
    ) -> Result<RecordBatch, arrow::error::ArrowError> {
        let n = rows.len();
        let events = || rows.iter().map(Borrow::borrow);
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (_, _, get, _) in TIME_COLUMNS {
            let mut b = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
            events().for_each(|e| b.append_option(get(e)));
            columns.push(Arc::new(b.finish()));
        }
        for (_, _, get, _) in STRING_COLUMNS {
            // Sized exactly: growing a large batch's buffers copies them and faults in pages.
            let bytes = events().map(|e| get(e).map_or(0, str::len)).sum();
            let mut b = StringBuilder::with_capacity(n, bytes);
            events().for_each(|e| b.append_option(get(e)));
            columns.push(Arc::new(b.finish()));
        }
        for (_, get, _) in INT_COLUMNS {
            let mut b = Int64Builder::with_capacity(n);
            events().for_each(|e| b.append_option(get(e)));
            columns.push(Arc::new(b.finish()));
        }
        for (_, get, _) in FLOAT_COLUMNS {
            let mut b = Float64Builder::with_capacity(n);
            events().for_each(|e| b.append_option(get(e)));
            columns.push(Arc::new(b.finish()));
        }
        for (_, get, _) in JSON_COLUMNS {
            let mut b = StringBuilder::with_capacity(n, n * 8);
            events().for_each(|e| b.append_option(json_text(get(e))));
            columns.push(Arc::new(b.finish()));
        }
        let mut issues = StringBuilder::with_capacity(n, 0);
        for event in events() {
            if event.taxonomy_issues.is_empty() {
                issues.append_null();
            } else {
                let text = serde_json::to_string(&event.taxonomy_issues)
                    .expect("a list of strings always serialises");
                issues.append_value(text);
            }
        }
        columns.push(Arc::new(issues.finish()));
        let event_props = split_properties(
            events(),
            n,
            |e| e.event_properties.iter(),
            &self.event_properties,
        );
        let user_props = split_properties(
            events(),
            n,
            |e| map_entries(&e.user_properties),
            &self.user_properties,
        );
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
fn fits(value: PropertyRef<'_>, ty: PropertyType) -> bool {
    match (ty, value) {
        (PropertyType::String, PropertyRef::String(_))
        | (PropertyType::Number, PropertyRef::Number(_))
        | (PropertyType::Boolean, PropertyRef::Bool(_)) => true,
        (PropertyType::Integer, PropertyRef::Number(n)) => n.is_i64(),
        _ => false,
    }
}

/// One properties map split into its promoted typed columns and the JSON text of the rest.
struct SplitProperties {
    remainder: ArrayRef,
    typed: Vec<ArrayRef>,
}

/// Splits every event's properties in one pass over each map: a property goes to its typed column
/// if it is promoted and fits the type, otherwise into the row's remainder JSON.
fn split_properties<'e, 'r: 'e, I>(
    events: impl Iterator<Item = &'e EventRow<'r>>,
    rows: usize,
    properties: impl Fn(&'e EventRow<'r>) -> I,
    promoted: &[PromotedProperty],
) -> SplitProperties
where
    I: Iterator<Item = (&'e str, PropertyRef<'e>)>,
{
    // Sorted for a binary search: cheaper than hashing every property name of every row.
    let mut column_of: Vec<(&str, usize)> = promoted
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.as_str(), i))
        .collect();
    column_of.sort_unstable();
    let mut typed: Vec<TypedBuilder> = promoted
        .iter()
        .map(|p| TypedBuilder::new(p.ty, rows))
        .collect();
    // Reserved generously (the JSON text of a row's leftover properties is often hundreds of
    // bytes): pages of a large reservation are only backed once written, while growing from a
    // small one would copy the column several times.
    let mut remainder = StringBuilder::with_capacity(rows, rows * 256);
    let mut row: Vec<Option<PropertyRef<'_>>> = vec![None; promoted.len()];
    let mut rest: Vec<(&str, PropertyRef<'_>)> = Vec::new();
    let mut text = Vec::new();
    for event in events {
        row.fill(None);
        rest.clear();
        for (name, value) in properties(event) {
            let column = column_of
                .binary_search_by(|(promoted, _)| (*promoted).cmp(name))
                .map(|at| column_of[at].1);
            match column {
                Ok(i) if fits(value, promoted[i].ty) => row[i] = Some(value),
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
struct JsonMap<'a>(&'a [(&'a str, PropertyRef<'a>)]);

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

    fn append(&mut self, value: Option<PropertyRef<'_>>) {
        match self {
            TypedBuilder::Utf8(b) => b.append_option(value.and_then(PropertyRef::as_str)),
            TypedBuilder::Float64(b) => b.append_option(value.and_then(PropertyRef::as_f64)),
            TypedBuilder::Int64(b) => b.append_option(value.and_then(PropertyRef::as_i64)),
            TypedBuilder::Boolean(b) => b.append_option(value.and_then(PropertyRef::as_bool)),
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
