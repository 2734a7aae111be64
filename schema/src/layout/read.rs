//! Reading stored rows back into [`Event`]s: the inverse of `StorageLayout::to_record_batch`.
//!
//! Used where stored events must move as whole events again (quarantine replay, file rewrites).
//! Any batch whose columns carry the stored names is accepted, whatever layout wrote it: promoted
//! `ep:`/`up:` columns fold back into the property maps, string columns may be `Utf8`, `LargeUtf8`
//! or `Utf8View` (as DataFusion reads them), columns the batch lacks stay empty, and columns the
//! layout does not know (such as the `event_date` partition column) are ignored. Values that had
//! to stay in the JSON remainder come back exactly; a whole number read from a promoted `number`
//! column comes back as a JSON integer (`120`, not `120.0`).

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, TimestampMillisecondType};
use serde_json::{Number, Value};

use super::{
    EVENT_PROPERTY_PREFIX, FLOAT_COLUMNS, INT_COLUMNS, JSON_COLUMNS, STRING_COLUMNS,
    TAXONOMY_ISSUES_COLUMN, TIME_COLUMNS, USER_PROPERTY_PREFIX,
};
use crate::event::{Event, Properties};

/// Why stored rows could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A column that every stored event has is missing.
    #[error("stored events lack the required column `{0}`")]
    MissingColumn(&'static str),
    /// A column has a type no layout ever wrote for it.
    #[error("column `{column}` has type {found}, which no Sluice layout writes")]
    UnexpectedType {
        /// The column.
        column: String,
        /// Its type in the batch.
        found: DataType,
    },
    /// A JSON column holds text that is not the JSON it should be.
    #[error("row {row}: column `{column}` is not valid JSON: {message}")]
    BadJson {
        /// The column.
        column: String,
        /// The row within the batch.
        row: usize,
        /// The parser's message.
        message: String,
    },
}

/// Columns without which a row is not an event.
const REQUIRED: &[&str] = &["project", "event_type", "device_id", "event_time"];

/// The events of `batch`, in row order.
pub fn events_from_batch(batch: &RecordBatch) -> Result<Vec<Event>, ReadError> {
    for name in REQUIRED {
        if batch.column_by_name(name).is_none() {
            return Err(ReadError::MissingColumn(name));
        }
    }
    let mut events = vec![Event::default(); batch.num_rows()];
    let column = |name: &str| batch.column_by_name(name);
    for (name, _, _, set) in TIME_COLUMNS {
        if let Some(array) = column(name) {
            let values = as_millis(name, array)?;
            for (event, value) in events.iter_mut().zip(values.as_primitive::<Int64Type>()) {
                set(event, value);
            }
        }
    }
    for (name, _, _, set) in STRING_COLUMNS {
        if let Some(array) = column(name) {
            let values = as_utf8(name, array)?;
            for (event, value) in events.iter_mut().zip(values.as_string::<i32>()) {
                set(event, value.map(str::to_owned));
            }
        }
    }
    for (name, _, set) in INT_COLUMNS {
        if let Some(array) = column(name) {
            let values = cast_to(name, array, &DataType::Int64)?;
            for (event, value) in events.iter_mut().zip(values.as_primitive::<Int64Type>()) {
                set(event, value);
            }
        }
    }
    for (name, _, set) in FLOAT_COLUMNS {
        if let Some(array) = column(name) {
            let values = cast_to(name, array, &DataType::Float64)?;
            for (event, value) in events.iter_mut().zip(values.as_primitive::<Float64Type>()) {
                set(event, value);
            }
        }
    }
    for (name, _, set) in JSON_COLUMNS {
        if let Some(array) = column(name) {
            read_json_maps(name, array, &mut events, |e| set(e))?;
        }
    }
    if let Some(array) = column(TAXONOMY_ISSUES_COLUMN) {
        let values = as_utf8(TAXONOMY_ISSUES_COLUMN, array)?;
        for (row, (event, text)) in events.iter_mut().zip(values.as_string::<i32>()).enumerate() {
            if let Some(text) = text {
                event.taxonomy_issues = serde_json::from_str(text)
                    .map_err(|e| bad_json(TAXONOMY_ISSUES_COLUMN, row, &e))?;
            }
        }
    }
    for (name, get) in [
        (
            "event_properties",
            props_of_event as fn(&mut Event) -> &mut Properties,
        ),
        ("user_properties", props_of_user),
    ] {
        if let Some(array) = column(name) {
            read_json_maps(name, array, &mut events, get)?;
        }
    }
    for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
        let name = field.name();
        if let Some(property) = name.strip_prefix(EVENT_PROPERTY_PREFIX) {
            read_promoted(name, property, array, &mut events, props_of_event)?;
        } else if let Some(property) = name.strip_prefix(USER_PROPERTY_PREFIX) {
            read_promoted(name, property, array, &mut events, props_of_user)?;
        }
    }
    Ok(events)
}

fn props_of_event(event: &mut Event) -> &mut Properties {
    &mut event.event_properties
}

fn props_of_user(event: &mut Event) -> &mut Properties {
    &mut event.user_properties
}

fn bad_json(column: &str, row: usize, error: &serde_json::Error) -> ReadError {
    ReadError::BadJson {
        column: column.to_owned(),
        row,
        message: error.to_string(),
    }
}

/// Merges the JSON object of each row of `array` into the map `get` picks.
fn read_json_maps(
    name: &str,
    array: &ArrayRef,
    events: &mut [Event],
    get: impl Fn(&mut Event) -> &mut Properties,
) -> Result<(), ReadError> {
    let values = as_utf8(name, array)?;
    for (row, (event, text)) in events.iter_mut().zip(values.as_string::<i32>()).enumerate() {
        if let Some(text) = text {
            let map: Properties =
                serde_json::from_str(text).map_err(|e| bad_json(name, row, &e))?;
            get(event).extend(map);
        }
    }
    Ok(())
}

/// Puts the non-null values of a promoted column back under `property`.
fn read_promoted(
    column: &str,
    property: &str,
    array: &ArrayRef,
    events: &mut [Event],
    get: fn(&mut Event) -> &mut Properties,
) -> Result<(), ReadError> {
    let value_at: Box<dyn Fn(usize) -> Value + '_> = match array.data_type() {
        DataType::Int64 => {
            let a = array.as_primitive::<Int64Type>();
            Box::new(move |row| Value::from(a.value(row)))
        }
        DataType::Float64 => {
            let a = array.as_primitive::<Float64Type>();
            Box::new(move |row| number_value(a.value(row)))
        }
        DataType::Boolean => {
            let a = array.as_boolean();
            Box::new(move |row| Value::Bool(a.value(row)))
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let owned = as_utf8(column, array)?;
            fill_strings(property, &owned, events, get);
            return Ok(());
        }
        other => {
            return Err(ReadError::UnexpectedType {
                column: column.to_owned(),
                found: other.clone(),
            });
        }
    };
    for (row, event) in events.iter_mut().enumerate() {
        if array.is_valid(row) {
            get(event).insert(property.to_owned(), value_at(row));
        }
    }
    Ok(())
}

fn fill_strings(
    property: &str,
    array: &ArrayRef,
    events: &mut [Event],
    get: fn(&mut Event) -> &mut Properties,
) {
    for (event, value) in events.iter_mut().zip(array.as_string::<i32>()) {
        if let Some(value) = value {
            get(event).insert(property.to_owned(), Value::String(value.to_owned()));
        }
    }
}

/// A float as JSON: whole numbers that an `f64` holds exactly become integers.
fn number_value(value: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if value.fract() == 0.0 && value.abs() <= EXACT {
        Value::from(value as i64)
    } else {
        Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

fn as_utf8(column: &str, array: &ArrayRef) -> Result<ArrayRef, ReadError> {
    match array.data_type() {
        DataType::Utf8 => Ok(array.clone()),
        DataType::LargeUtf8 | DataType::Utf8View | DataType::Dictionary(_, _) => {
            cast_to(column, array, &DataType::Utf8)
        }
        other => Err(ReadError::UnexpectedType {
            column: column.to_owned(),
            found: other.clone(),
        }),
    }
}

fn as_millis(column: &str, array: &ArrayRef) -> Result<ArrayRef, ReadError> {
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            let values = array.as_primitive::<TimestampMillisecondType>();
            Ok(std::sync::Arc::new(values.reinterpret_cast::<Int64Type>()))
        }
        DataType::Int64 => Ok(array.clone()),
        other => Err(ReadError::UnexpectedType {
            column: column.to_owned(),
            found: other.clone(),
        }),
    }
}

fn cast_to(column: &str, array: &ArrayRef, to: &DataType) -> Result<ArrayRef, ReadError> {
    cast(array, to).map_err(|_| ReadError::UnexpectedType {
        column: column.to_owned(),
        found: array.data_type().clone(),
    })
}
