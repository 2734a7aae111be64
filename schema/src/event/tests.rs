use serde_json::json;

use super::*;

/// An event with a value in some optional fields and none in the others.
fn sparse_event() -> Event {
    let mut event = Event {
        project: "p".into(),
        event_time: 1_700_000_000_123,
        client_event_time: 1_700_000_000_100,
        server_received_time: 1_700_000_000_200,
        event_type: "Viewed".into(),
        user_id: Some("u1".into()),
        device_id: "d1".into(),
        insert_id: Some("i1".into()),
        ..Event::default()
    };
    event.context.platform = Some("Web".into());
    event.context.location_lat = Some(52.5);
    event.revenue.price = Some(2.5);
    event.event_properties = json!({"k": 1, "n": null}).as_object().unwrap().clone();
    event
}

#[test]
fn fields_without_a_value_are_left_out_of_the_json() {
    let value = serde_json::to_value(sparse_event()).unwrap();
    assert_eq!(
        value,
        json!({
            "project": "p",
            "event_time": 1_700_000_000_123_i64,
            "client_event_time": 1_700_000_000_100_i64,
            "server_received_time": 1_700_000_000_200_i64,
            "event_type": "Viewed",
            "user_id": "u1",
            "device_id": "d1",
            "insert_id": "i1",
            "context": {"platform": "Web", "location_lat": 52.5},
            "revenue": {"price": 2.5},
            // A null inside a property map is the customer's value and stays.
            "event_properties": {"k": 1, "n": null},
        })
    );
}

#[test]
fn records_with_and_without_nulls_decode_to_the_same_event() {
    let event = sparse_event();
    // A record as written before empty fields were left out: every field present.
    let old_record = json!({
        "project": "p",
        "event_time": 1_700_000_000_123_i64,
        "client_event_time": 1_700_000_000_100_i64,
        "client_upload_time": null,
        "server_received_time": 1_700_000_000_200_i64,
        "event_type": "Viewed",
        "user_id": "u1",
        "device_id": "d1",
        "session_id": null,
        "insert_id": "i1",
        "event_id": null,
        "context": {
            "app_version": null, "platform": "Web", "os_name": null, "os_version": null,
            "device_brand": null, "device_manufacturer": null, "device_model": null,
            "carrier": null, "country": null, "region": null, "city": null, "dma": null,
            "language": null, "location_lat": 52.5, "location_lng": null, "ip": null,
            "idfa": null, "idfv": null, "adid": null, "android_id": null,
            "android_app_set_id": null, "library": null, "user_agent": null,
            "partner_id": null
        },
        "revenue": {
            "price": 2.5, "quantity": null, "revenue": null, "product_id": null,
            "revenue_type": null, "currency": null
        },
        "event_properties": {"k": 1, "n": null},
        "user_properties": {},
        "groups": {},
        "group_properties": {},
        "plan": {},
        "ingestion_metadata": {}
    });
    let old: Event = serde_json::from_value(old_record).unwrap();
    assert_eq!(old, event);

    let new_record = serde_json::to_vec(&event).unwrap();
    let new: Event = serde_json::from_slice(&new_record).unwrap();
    assert_eq!(new, event);
    assert!(new_record.len() < 400, "{} bytes", new_record.len());
}

#[test]
fn a_full_event_round_trips() {
    let mut event = sparse_event();
    event.client_upload_time = Some(1);
    event.session_id = Some(2);
    event.event_id = Some(3);
    event.context.library = Some("amplitude-ts/2.45.6".into());
    event.revenue.quantity = Some(4);
    event.user_properties = json!({"plan": "pro"}).as_object().unwrap().clone();
    event.groups = json!({"org": ["a", "b"]}).as_object().unwrap().clone();
    event.group_properties = json!({"size": 3}).as_object().unwrap().clone();
    event.plan = json!({"branch": "main"}).as_object().unwrap().clone();
    event.ingestion_metadata = json!({"source_name": "x"}).as_object().unwrap().clone();
    event.skip_user_properties_sync = true;
    event.taxonomy_issues = vec!["unknown event".into()];
    event.quarantined = true;
    let bytes = serde_json::to_vec(&event).unwrap();
    assert_eq!(serde_json::from_slice::<Event>(&bytes).unwrap(), event);
}

/// An event with a value in every field (no `..Default::default()`: a new field must be added
/// here, and then the row tests check that [`row::EventRow`] reads it).
fn every_field() -> Event {
    let props = |value: serde_json::Value| value.as_object().unwrap().clone();
    Event {
        project: "p".into(),
        event_time: 1_700_000_000_123,
        client_event_time: 1_700_000_000_100,
        client_upload_time: Some(1_700_000_000_300),
        server_received_time: 1_700_000_000_200,
        event_type: "Viewed".into(),
        user_id: Some("u1".into()),
        device_id: "d1".into(),
        session_id: Some(1_700_000_000_000),
        insert_id: Some("i1".into()),
        event_id: Some(4),
        person_id: Some(5),
        context: Context {
            app_version: Some("1.2".into()),
            platform: Some("iOS".into()),
            os_name: Some("ios".into()),
            os_version: Some("18".into()),
            device_brand: Some("Apple".into()),
            device_manufacturer: Some("Apple".into()),
            device_model: Some("iPhone".into()),
            carrier: Some("SKT".into()),
            country: Some("South Korea".into()),
            region: Some("Seoul".into()),
            city: Some("Seoul".into()),
            dma: Some("x".into()),
            language: Some("ko".into()),
            location_lat: Some(37.5),
            location_lng: Some(127.0),
            ip: Some("1.2.3.4".into()),
            idfa: Some("a".into()),
            idfv: Some("b".into()),
            adid: Some("c".into()),
            android_id: Some("d".into()),
            android_app_set_id: Some("e".into()),
            library: Some("amplitude-swift/1".into()),
            user_agent: Some("agent \"quoted\"".into()),
            partner_id: Some("f".into()),
        },
        revenue: Revenue {
            price: Some(2.5),
            quantity: Some(2),
            revenue: Some(5.0),
            product_id: Some("svc".into()),
            revenue_type: Some("purchase".into()),
            currency: Some("KRW".into()),
        },
        event_properties: props(json!({"k": 1, "n": null})),
        user_properties: props(json!({"plan": "pro"})),
        groups: props(json!({"org": "acme"})),
        group_properties: props(json!({"$set": {"tier": 1}})),
        plan: props(json!({"branch": "main"})),
        ingestion_metadata: props(json!({"source_name": "x"})),
        skip_user_properties_sync: true,
        taxonomy_issues: vec!["unplanned event".into()],
        quarantined: true,
    }
}

#[test]
fn a_row_reads_every_field_of_an_event() {
    use serde_json::{Map, Value};
    let json = serde_json::to_value(every_field()).unwrap();
    let mut one_field_each: Vec<(String, Value)> = Vec::new();
    for (key, value) in json.as_object().unwrap() {
        match value.as_object() {
            Some(nested) if key == "context" || key == "revenue" => {
                for (inner, v) in nested {
                    let only = Map::from_iter([(inner.clone(), v.clone())]);
                    one_field_each.push((format!("{key}.{inner}"), json!({ key: only })));
                }
            }
            _ => one_field_each.push((key.clone(), json!({ key: value }))),
        }
    }
    assert_eq!(
        one_field_each.len(),
        23 + 24 + 6 - 2,
        "every field of the event is set"
    );
    for (field, json) in one_field_each {
        let text = serde_json::to_vec(&json).unwrap();
        let row: row::EventRow<'_> = serde_json::from_slice(&text).unwrap();
        assert_ne!(row, row::EventRow::default(), "EventRow ignores `{field}`");
    }
}

#[test]
fn a_row_decoded_from_an_events_json_is_that_event() {
    for event in [every_field(), sparse_event(), Event::default()] {
        let json = serde_json::to_vec(&event).unwrap();
        let decoded: row::EventRow<'_> = serde_json::from_slice(&json).unwrap();
        assert_eq!(decoded, row::EventRow::from(&event));
    }
}

#[test]
fn a_decoded_row_borrows_its_text_unless_it_holds_escapes() {
    let json = serde_json::to_vec(&every_field()).unwrap();
    let row: row::EventRow<'_> = serde_json::from_slice(&json).unwrap();
    let borrowed = |text: &row::Text<'_>| matches!(text.0, std::borrow::Cow::Borrowed(_));
    assert!(borrowed(&row.device_id));
    assert!(borrowed(row.context.library.as_ref().unwrap()));
    assert!(!borrowed(row.context.user_agent.as_ref().unwrap()));
    assert_eq!(row.context.user_agent.as_deref(), Some("agent \"quoted\""));
}

#[test]
fn property_updates_are_the_events_the_loader_applies() {
    let props = |value: serde_json::Value| value.as_object().unwrap().clone();
    let event = |event_type: &str| Event {
        event_type: event_type.into(),
        ..Event::default()
    };
    assert!(!event("View").updates_properties());
    let mut set = event("View");
    set.user_properties = props(json!({"plan": "pro"}));
    assert!(set.updates_properties());
    set.skip_user_properties_sync = true;
    assert!(!set.updates_properties());
    let mut membership = event("$identify");
    membership.groups = props(json!({"org": "acme"}));
    assert!(membership.updates_properties());
    let mut group = event("$groupidentify");
    group.group_properties = props(json!({"$set": {"tier": 1}}));
    assert!(group.updates_properties());
    let mut groups_on_a_view = event("View");
    groups_on_a_view.groups = props(json!({"org": "acme"}));
    assert!(!groups_on_a_view.updates_properties());
}
