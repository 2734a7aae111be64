use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMillisecondType};
use serde_json::json;

use super::*;
use crate::taxonomy::PropertyType;

fn layout() -> StorageLayout {
    StorageLayout {
        event_properties: vec![
            PromotedProperty {
                name: "category".into(),
                ty: PropertyType::String,
            },
            PromotedProperty {
                name: "price".into(),
                ty: PropertyType::Number,
            },
            PromotedProperty {
                name: "count".into(),
                ty: PropertyType::Integer,
            },
        ],
        user_properties: vec![PromotedProperty {
            name: "plan".into(),
            ty: PropertyType::String,
        }],
    }
}

fn event(props: serde_json::Value) -> Event {
    Event {
        project: "p".into(),
        event_time: 1_000,
        client_event_time: 1_000,
        server_received_time: 2_000,
        event_type: "Viewed".into(),
        device_id: "dev-1".into(),
        event_properties: props.as_object().unwrap().clone(),
        ..Event::default()
    }
}

#[test]
fn schema_has_fixed_and_promoted_columns() {
    let schema = layout().schema();
    for name in [
        "event_time",
        "event_type",
        "user_id",
        "device_id",
        "app_version",
        "revenue",
        "event_properties",
        "user_properties",
        "ep:category",
        "ep:price",
        "ep:count",
        "up:plan",
    ] {
        assert!(schema.field_with_name(name).is_ok(), "missing {name}");
    }
    assert_eq!(
        schema.field_with_name("ep:price").unwrap().data_type(),
        &DataType::Float64
    );
    assert!(!schema.field_with_name("event_time").unwrap().is_nullable());
}

#[test]
fn promoted_values_go_to_columns_and_the_rest_stays_in_json() {
    let events = vec![
        event(json!({"category": "design", "price": 12.5, "count": 3})),
        event(json!({"category": 7, "note": "free text", "count": 1.5})),
        event(json!({})),
    ];
    let batch = layout().to_record_batch(&events).unwrap();
    assert_eq!(batch.num_rows(), 3);
    let category = batch
        .column_by_name("ep:category")
        .unwrap()
        .as_string::<i32>();
    assert_eq!(category.value(0), "design");
    assert!(category.is_null(1), "a number does not fit a string column");
    let price = batch
        .column_by_name("ep:price")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert_eq!(price.value(0), 12.5);
    let count = batch
        .column_by_name("ep:count")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(count.value(0), 3);
    assert!(count.is_null(1));
    let rest = batch
        .column_by_name("event_properties")
        .unwrap()
        .as_string::<i32>();
    assert!(rest.is_null(0), "everything promoted: no JSON left");
    let rest1: serde_json::Value = serde_json::from_str(rest.value(1)).unwrap();
    assert_eq!(
        rest1,
        json!({"category": 7, "note": "free text", "count": 1.5})
    );
    assert!(rest.is_null(2));
    let time = batch
        .column_by_name("event_time")
        .unwrap()
        .as_primitive::<TimestampMillisecondType>();
    assert_eq!(time.value(0), 1_000);
}

#[test]
fn layout_from_plan_promotes_scalars_only() {
    let plan = crate::TrackingPlan::parse(
        "[project]\nname = \"p\"\n[event_properties.a]\ntype = \"integer\"\n[event_properties.b]\ntype = \"array\"\n[user_properties.c]\ntype = \"boolean\"\n",
    )
    .unwrap();
    let layout = StorageLayout::from_plan(&plan);
    assert_eq!(
        layout.event_properties,
        vec![PromotedProperty {
            name: "a".into(),
            ty: PropertyType::Integer
        }]
    );
    assert_eq!(layout.user_properties.len(), 1);
}

#[test]
fn partition_date_uses_the_project_time_zone() {
    // 2025-01-01 20:00 UTC is already 2025-01-02 in Seoul (UTC+9).
    let t = chrono::DateTime::parse_from_rfc3339("2025-01-01T20:00:00Z")
        .unwrap()
        .timestamp_millis();
    assert_eq!(partition_date(t, chrono_tz::UTC).to_string(), "2025-01-01");
    assert_eq!(
        partition_date(t, chrono_tz::Asia::Seoul).to_string(),
        "2025-01-02"
    );
}
