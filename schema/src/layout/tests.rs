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

/// A fully populated event: every fixed field set, properties of every kind.
fn full_event() -> Event {
    let mut e = event(json!({
        "category": "design", "price": 120, "count": 3, "tags": ["a", 1],
        "note": {"k": null}, "price_note": 2.5
    }));
    e.client_upload_time = Some(3_000);
    e.user_id = Some("u-1".into());
    e.insert_id = Some("ins-1".into());
    e.session_id = Some(-7);
    e.event_id = Some(9);
    e.context.platform = Some("iOS".into());
    e.context.location_lat = Some(37.5);
    e.revenue.price = Some(30.5);
    e.revenue.quantity = Some(2);
    e.revenue.product_id = Some("svc".into());
    e.user_properties = json!({"plan": 7, "logins": 3}).as_object().unwrap().clone();
    e.groups = json!({"org": "acme"}).as_object().unwrap().clone();
    e.group_properties = json!({"org": {"acme": {"tier": "gold"}}})
        .as_object()
        .unwrap()
        .clone();
    e.taxonomy_issues = vec!["unplanned event".into()];
    e
}

#[test]
fn stored_rows_read_back_as_the_same_events() {
    let events = vec![full_event(), event(json!({}))];
    let batch = layout().to_record_batch(&events).unwrap();
    assert_eq!(events_from_batch(&batch).unwrap(), events);
}

#[test]
fn reading_accepts_view_strings_and_ignores_unknown_columns() {
    let events = vec![full_event()];
    let batch = layout().to_record_batch(&events).unwrap();
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if field.data_type() == &DataType::Utf8 {
            let view = arrow::compute::cast(column, &DataType::Utf8View).unwrap();
            fields.push(Field::new(field.name(), DataType::Utf8View, true));
            columns.push(view);
        } else {
            fields.push(field.as_ref().clone().with_nullable(true));
            columns.push(column.clone());
        }
    }
    fields.push(Field::new(PARTITION_COLUMN, DataType::Utf8, true));
    columns.push(Arc::new(arrow::array::StringArray::from(vec![
        "2026-01-01",
    ])));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    assert_eq!(events_from_batch(&batch).unwrap(), events);
}

#[test]
fn reading_without_a_required_column_is_an_error() {
    let batch = layout().to_record_batch(&[full_event()]).unwrap();
    let index = batch.schema().index_of("device_id").unwrap();
    let mut batch = batch;
    batch.remove_column(index);
    let err = events_from_batch(&batch).unwrap_err();
    assert!(err.to_string().contains("device_id"), "{err}");
}

mod round_trip {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(Value::from),
            // At most 15 significant digits: serde_json (without its `float_roundtrip`
            // feature) parses those exactly; longer ones may come back one ulp off.
            (-1_000_000_000_000i64..1_000_000_000_000).prop_map(|i| Value::from(i as f64 / 1e6)),
            "[a-z]{0,6}".prop_map(Value::String),
            Just(Value::Null),
        ]
    }

    fn properties() -> impl Strategy<Value = Properties> {
        let names = prop_oneof![
            Just("category".to_owned()),
            Just("price".to_owned()),
            Just("count".to_owned()),
            Just("plan".to_owned()),
            "[a-z]{1,4}",
        ];
        let value = prop_oneof![
            4 => scalar(),
            1 => prop::collection::vec(scalar(), 0..3).prop_map(Value::Array),
        ];
        prop::collection::btree_map(names, value, 0..5)
            .prop_map(|m| m.into_iter().collect::<Properties>())
    }

    proptest! {
        // Whatever the properties, writing then reading gives the same event (floats that are
        // whole come back as integers, which JSON treats as the same number).
        #[test]
        fn write_then_read_is_identity(
            event_props in properties(),
            user_props in properties(),
            user_id in proptest::option::of("[a-z0-9]{1,8}"),
            price in proptest::option::of(-1e3f64..1e3),
            time in 0i64..4_000_000_000_000,
        ) {
            let mut e = event(json!({}));
            e.event_properties = event_props;
            e.user_properties = user_props;
            e.user_id = user_id;
            e.revenue.price = price;
            e.event_time = time;
            let batch = layout().to_record_batch(std::slice::from_ref(&e)).unwrap();
            let back = events_from_batch(&batch).unwrap();
            prop_assert_eq!(normalise(back[0].clone()), normalise(e));
        }
    }

    proptest! {
        // The loader writes rows decoded from event-log records (borrowing their text), other
        // writers whole events: both must store the same columns.
        #[test]
        fn rows_decoded_from_records_store_as_their_events(
            events in prop::collection::vec(
                (
                    properties(),
                    properties(),
                    proptest::option::of("[a-z0-9\"\\\\é\n]{1,8}"),
                    "[a-z\"]{0,6}",
                    // Within 15 significant digits: serde_json's default float parsing can be an
                    // ulp off beyond that, for the loader and for every other reader alike.
                    proptest::option::of((-1e9f64..1e9).prop_map(|f| (f * 1e3).round() / 1e3)),
                    any::<bool>(),
                ),
                1..5,
            ),
        ) {
            let events: Vec<Event> = events
                .into_iter()
                .map(|(event_props, user_props, user_id, device, price, quarantined)| {
                    let mut e = full_event();
                    e.event_properties = event_props;
                    e.user_properties = user_props;
                    e.user_id = user_id;
                    e.device_id = device;
                    e.revenue.price = price;
                    e.quarantined = quarantined;
                    e
                })
                .collect();
            let records: Vec<Vec<u8>> =
                events.iter().map(|e| serde_json::to_vec(e).unwrap()).collect();
            let rows: Vec<crate::EventRow<'_>> = records
                .iter()
                .map(|r| serde_json::from_slice(r).unwrap())
                .collect();
            prop_assert_eq!(
                layout().rows_to_record_batch(&rows).unwrap(),
                layout().to_record_batch(&events).unwrap()
            );
        }
    }

    /// Compares numbers by value: `2` and `2.0` are the same JSON number.
    fn normalise(mut e: Event) -> Event {
        for map in [&mut e.event_properties, &mut e.user_properties] {
            map.values_mut().for_each(numbers_as_floats);
        }
        e
    }

    fn numbers_as_floats(value: &mut Value) {
        match value {
            Value::Number(n) => {
                let f = n.as_f64().unwrap_or_default();
                *value = Value::String(format!("{f}"));
            }
            Value::Array(items) => items.iter_mut().for_each(numbers_as_floats),
            _ => {}
        }
    }
}
