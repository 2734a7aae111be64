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
