//! Expressions for "who did it" and "what value did it have", resolved against the table schema.
//!
//! The table schema is the union of the file schemas, so whether a property has a typed column
//! depends on the data present. Column names contain `:` and spaces; they are always built as
//! unqualified [`Column`]s, never parsed from strings.

use chrono::{DateTime, Days, NaiveDate};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::{Expr, cast, lit, when};
use datafusion::prelude::coalesce;
use sluice_schema::layout::{EVENT_PROPERTY_PREFIX, PARTITION_COLUMN, USER_PROPERTY_PREFIX};

use crate::json::json_get_str;
use crate::spec::PropertyRef;

/// JSON column holding event properties that have no typed column.
pub(crate) const EVENT_PROPERTIES: &str = "event_properties";
/// JSON column holding user properties that have no typed column.
pub(crate) const USER_PROPERTIES: &str = "user_properties";

/// A column by its exact name.
pub(crate) fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// `value` as text (`Utf8` or `Utf8View`), null where the table has no such data.
pub(crate) fn resolve(property: &PropertyRef, schema: &Schema) -> Expr {
    match property {
        PropertyRef::Event(name) => {
            bag_property(schema, EVENT_PROPERTY_PREFIX, EVENT_PROPERTIES, name)
        }
        PropertyRef::User(name) => {
            bag_property(schema, USER_PROPERTY_PREFIX, USER_PROPERTIES, name)
        }
        PropertyRef::Field(name) => text_column(schema, name).unwrap_or_else(null_text),
        PropertyRef::Cohort(cell) => when(
            crate::cohort::filter::in_cohort(cell, false, schema),
            lit(cell.name.clone()),
        )
        .otherwise(null_text())
        .unwrap_or_else(|_| null_text()),
    }
}

/// `coalesce(<prefix><name> as text, json_get_str(<bag>, name))`, leaving out what is absent.
fn bag_property(schema: &Schema, prefix: &str, bag: &str, name: &str) -> Expr {
    let typed = text_column(schema, &format!("{prefix}{name}"));
    let json = text_column(schema, bag).map(|text| json_get_str(text, name));
    match (typed, json) {
        (Some(typed), Some(json)) => coalesce(vec![typed, json]),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => null_text(),
    }
}

/// The column `name` as text (`Utf8View` columns stay as they are, others are cast to `Utf8`),
/// if the schema has it.
fn text_column(schema: &Schema, name: &str) -> Option<Expr> {
    let field = schema.field_with_name(name).ok()?;
    let expr = column(name);
    Some(match field.data_type() {
        DataType::Utf8 | DataType::Utf8View => expr,
        _ => cast(expr, DataType::Utf8),
    })
}

/// A typed null, for data the table does not have.
pub(crate) fn null_text() -> Expr {
    lit(ScalarValue::Utf8(None))
}

/// Events with `from_ms <= event_time <= to_ms`; the same span as `event_date` folders too, with
/// one day of margin each side (folders are dated in the project's time zone, the span is UTC),
/// so whole folders are pruned.
pub(crate) fn time_span(from_ms: i64, to_ms: i64) -> Expr {
    let mut filter = column("event_time")
        .gt_eq(timestamp(from_ms))
        .and(column("event_time").lt_eq(timestamp(to_ms)));
    if let (Some(first), Some(last)) = (utc_date(from_ms, -1), utc_date(to_ms, 1)) {
        filter = filter
            .and(column(PARTITION_COLUMN).gt_eq(lit(first)))
            .and(column(PARTITION_COLUMN).lt_eq(lit(last)));
    }
    filter
}

pub(crate) fn timestamp(ms: i64) -> Expr {
    lit(ScalarValue::TimestampMillisecond(
        Some(ms),
        Some("UTC".into()),
    ))
}

/// The UTC date of `ms`, shifted by `shift_days`, as `YYYY-MM-DD`.
pub(crate) fn utc_date(ms: i64, shift_days: i64) -> Option<String> {
    let date: NaiveDate = DateTime::from_timestamp_millis(ms)?.date_naive();
    let shifted = match shift_days {
        d if d >= 0 => date.checked_add_days(Days::new(d.unsigned_abs()))?,
        d => date.checked_sub_days(Days::new(d.unsigned_abs()))?,
    };
    Some(shifted.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn schema(fields: &[(&str, DataType)]) -> Schema {
        Schema::new(
            fields
                .iter()
                .map(|(name, ty)| Field::new(*name, ty.clone(), true))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn event_property_uses_typed_column_then_json() {
        let s = schema(&[
            ("ep:plan type", DataType::Int64),
            (EVENT_PROPERTIES, DataType::Utf8View),
        ]);
        let expr = resolve(&PropertyRef::Event("plan type".into()), &s).to_string();
        assert!(expr.starts_with("coalesce("), "{expr}");
        assert!(expr.contains("ep:plan type"), "{expr}");
        assert!(expr.contains("json_get_str"), "{expr}");
    }

    #[test]
    fn property_without_typed_column_reads_json_only() {
        let s = schema(&[(USER_PROPERTIES, DataType::Utf8)]);
        let expr = resolve(&PropertyRef::User("plan".into()), &s).to_string();
        assert!(expr.starts_with("json_get_str("), "{expr}");
    }

    #[test]
    fn absent_data_is_a_null_literal() {
        let s = schema(&[("platform", DataType::Utf8)]);
        assert_eq!(resolve(&PropertyRef::Event("x".into()), &s), null_text());
        assert_eq!(
            resolve(&PropertyRef::Field("country".into()), &s),
            null_text()
        );
        assert_eq!(
            resolve(&PropertyRef::Field("platform".into()), &s),
            column("platform")
        );
    }
}
