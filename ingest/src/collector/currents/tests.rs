use super::*;

fn batch() -> Value {
    json!({"events": [
        {"event_type": "users.messages.email.Send", "id": "e-1", "time": 1767225600,
         "user": {"user_id": "braze-1", "external_user_id": "u-42", "device_id": null,
                  "timezone": "Asia/Seoul"},
         "properties": {"campaign_id": "cmp-7", "campaign_name": "Winback",
                        "message_variation_id": "mv-1", "message_variation_name": "B",
                        "send_id": "s-99", "dispatch_id": "d-5", "email_address": "a@example.com"}},
        {"event_type": "users.messages.pushnotification.Open", "id": "e-2", "time": 1767229200,
         "user": {"user_id": "braze-1", "external_user_id": "u-42", "device_id": "dev-9"},
         "properties": {"app_id": "app-ios", "platform": "ios", "canvas_id": "cv-3",
                        "canvas_name": "Onboarding", "canvas_variation_id": "cvv-1",
                        "canvas_step_id": "st-2"}},
        {"event_type": "users.campaigns.Conversion", "id": "e-3", "time": 1767233400,
         "user": {"user_id": "braze-2"},
         "properties": {"campaign_id": "cmp-7", "message_variation_id": "mv-1"}},
        {"event_type": "users.behaviors.subscription.GlobalStateChange", "id": "e-4",
         "time": 1767233401, "user": {"external_user_id": "u-43"}, "properties": {}}
    ]})
}

#[test]
fn currents_events_become_campaign_events_with_their_campaign_channel_and_variant() {
    let events = amplitude_events(batch().to_string().as_bytes()).unwrap();
    assert_eq!(
        events[0],
        json!({"event_type": "Campaign Message Sent", "insert_id": "currents-e-1",
               "time": 1_767_225_600_000_i64, "user_id": "u-42", "device_id": "braze:braze-1",
               "event_properties": {"campaign_id": "cmp-7", "campaign_name": "Winback",
                   "channel": "email", "variant": "B", "send_id": "s-99", "dispatch_id": "d-5",
                   "currents_event_type": "users.messages.email.Send", "braze_id": "braze-1"}})
    );
    // A canvas message: the canvas stands for the campaign; the real device is kept.
    assert_eq!(events[1]["event_type"], "Campaign Message Opened");
    assert_eq!(events[1]["device_id"], "dev-9");
    assert_eq!(events[1]["platform"], "ios");
    assert_eq!(events[1]["event_properties"]["campaign_id"], "cv-3");
    assert_eq!(events[1]["event_properties"]["campaign_name"], "Onboarding");
    assert_eq!(events[1]["event_properties"]["variant"], "cvv-1");
    assert_eq!(events[1]["event_properties"]["channel"], "push");
    // Without the customer's id, the engine's own id is the device.
    assert_eq!(events[2]["event_type"], "Campaign Converted");
    assert_eq!(events[2].get("user_id"), None);
    assert_eq!(events[2]["device_id"], "braze:braze-2");
    // Other types keep their name.
    assert_eq!(
        events[3]["event_type"],
        "users.behaviors.subscription.GlobalStateChange"
    );
}

#[test]
fn flat_avro_shaped_events_are_read_too() {
    let flat = json!([{"event_type": "users.messages.email.Click", "id": {"string": "e-9"},
        "time": 1767229800, "user_id": "braze-1", "external_user_id": {"string": "u-42"},
        "campaign_id": {"string": "cmp-7"}, "url": "https://example.com/offer"}]);
    let events = amplitude_events(flat.to_string().as_bytes()).unwrap();
    assert_eq!(events[0]["event_type"], "Campaign Message Clicked");
    assert_eq!(events[0]["user_id"], "u-42");
    assert_eq!(events[0]["insert_id"], "currents-e-9");
    assert_eq!(
        events[0]["event_properties"]["url"],
        "https://example.com/offer"
    );
    assert_eq!(events[0]["event_properties"]["channel"], "email");
}

#[test]
fn bad_bodies_and_events_say_what_is_wrong() {
    assert_eq!(amplitude_events(b"nope"), Err(CurrentsError::Shape));
    assert_eq!(
        amplitude_events(b"{\"data\": []}"),
        Err(CurrentsError::Shape)
    );
    assert_eq!(amplitude_events(b"{\"events\": []}"), Ok(Vec::new()));
    let no_id = json!({"events": [{"event_type": "users.messages.email.Send", "time": 1,
                                   "user": {"external_user_id": "u"}}]});
    let error = amplitude_events(no_id.to_string().as_bytes()).unwrap_err();
    assert!(
        error.to_string().starts_with("events[0]: id is missing"),
        "{error}"
    );
    let nobody = json!({"events": [{"event_type": "x", "id": "1", "time": 1, "user": {}}]});
    let error = amplitude_events(nobody.to_string().as_bytes()).unwrap_err();
    assert!(error.to_string().contains("names no user"), "{error}");
}
