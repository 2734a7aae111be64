//! Campaign engagement in: `POST /currents` takes the events a Braze-style campaign engine
//! exports through Braze Currents' custom HTTP connector (docs/reference/braze.md §3) and stores
//! them as ordinary events, so "message clicked → service viewed → purchase" is a funnel and a
//! campaign's variants are a breakdown.
//!
//! - Body: `{"events": [{"event_type", "id", "time" (Unix seconds), "user": {"user_id",
//!   "external_user_id", "device_id", "timezone"}, "properties": {…}}]}`; the flat shape of Avro
//!   files decoded to JSON (user fields beside the others, one object per event, as a JSON array)
//!   is read too.
//! - Auth: `Authorization: Bearer <api key>` — a key of the collector, whose project the events
//!   join. Checked even for an empty batch (401 otherwise).
//! - Each event becomes an Amplitude event and goes through [`Collector::upload`], the path every
//!   event takes: validated, checked against the tracking plan, made durable before the 200.
//!   Currents delivers at least once, so the Currents `id` is the `insert_id` the loader
//!   de-duplicates on.
//! - Names: message sends, deliveries, opens (and in-app impressions), clicks, conversions and
//!   unsubscribes become `Campaign Message Sent` / `Delivered` / `Opened` / `Clicked`,
//!   `Campaign Converted` and `Campaign Unsubscribed` with `campaign_id`, `campaign_name`,
//!   `channel` and `variant` (a canvas's id, name and variation when the message came from one);
//!   other Currents types keep their own name (the tracking plan flags them; nothing is lost).

use serde_json::{Map, Value, json};

/// What a Currents body can be refused for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrentsError {
    /// Not JSON, or not one of the two shapes.
    #[error("expected {{\"events\": [...]}} (Currents' HTTP connector) or a JSON array of events")]
    Shape,
    /// An event lacks a field every Currents event has.
    #[error("events[{index}]: {problem}")]
    Event {
        /// The event's place in the batch.
        index: usize,
        /// What is missing or wrong.
        problem: String,
    },
}

/// The Amplitude events (the `events` of an upload) of a Currents body.
pub fn amplitude_events(body: &[u8]) -> Result<Vec<Value>, CurrentsError> {
    let parsed: Value = serde_json::from_slice(body).map_err(|_| CurrentsError::Shape)?;
    let events = match parsed {
        Value::Object(mut object) => match object.remove("events") {
            Some(Value::Array(events)) => events,
            _ => return Err(CurrentsError::Shape),
        },
        Value::Array(events) => events,
        _ => return Err(CurrentsError::Shape),
    };
    events
        .iter()
        .enumerate()
        .map(|(index, event)| {
            translate(event).map_err(|problem| CurrentsError::Event { index, problem })
        })
        .collect()
}

/// One Currents event as an Amplitude event.
fn translate(event: &Value) -> Result<Value, String> {
    let Value::Object(event) = event else {
        return Err("not a JSON object".to_owned());
    };
    // The HTTP connector nests user fields and properties; decoded Avro files are flat.
    let empty = Map::new();
    let user = event
        .get("user")
        .and_then(Value::as_object)
        .unwrap_or(event);
    let properties = event
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let field = |name: &str| -> Option<String> {
        let value = properties
            .get(name)
            .or_else(|| event.get(name))
            .or_else(|| user.get(name))?;
        text(value)
    };
    let currents_type = event
        .get("event_type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or("event_type is missing")?;
    let id = event
        .get("id")
        .and_then(text)
        .ok_or("id is missing (it de-duplicates Currents' at-least-once delivery)")?;
    let seconds = event
        .get("time")
        .and_then(number)
        .ok_or("time (Unix seconds) is missing")?;
    let external = user.get("external_user_id").and_then(text);
    let braze_id = user.get("user_id").and_then(text);
    let device = user.get("device_id").and_then(text);
    if external.is_none() && braze_id.is_none() && device.is_none() {
        return Err("the event names no user (user_id, external_user_id or device_id)".to_owned());
    }
    let (event_type, channel) = name_of(currents_type);
    let mut out = Map::new();
    let mut props = Map::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            props.insert(key.to_owned(), Value::String(value));
        }
    };
    put(
        "campaign_id",
        field("campaign_id").or_else(|| field("canvas_id")),
    );
    put(
        "campaign_name",
        field("campaign_name").or_else(|| field("canvas_name")),
    );
    put("channel", channel.map(str::to_owned));
    put(
        "variant",
        field("message_variation_name")
            .or_else(|| field("message_variation_id"))
            .or_else(|| field("canvas_variation_name"))
            .or_else(|| field("canvas_variation_id")),
    );
    for key in [
        "canvas_id",
        "canvas_step_id",
        "send_id",
        "dispatch_id",
        "url",
        "button_id",
        "app_id",
    ] {
        put(key, field(key));
    }
    put("currents_event_type", Some(currents_type.to_owned()));
    put("braze_id", braze_id.clone());
    out.insert("event_type".to_owned(), json!(event_type));
    out.insert("insert_id".to_owned(), json!(format!("currents-{id}")));
    out.insert("time".to_owned(), json!(seconds.saturating_mul(1000)));
    if let Some(user_id) = external {
        out.insert("user_id".to_owned(), json!(user_id));
    }
    // An event without the customer's id is kept under the engine's user (or device) id, as a
    // device of its own: it is never merged with a real device.
    let device = device.or_else(|| braze_id.map(|id| format!("braze:{id}")));
    if let Some(device) = device {
        out.insert("device_id".to_owned(), json!(device));
    }
    if let Some(platform) = field("platform") {
        out.insert("platform".to_owned(), json!(platform));
    }
    out.insert("event_properties".to_owned(), Value::Object(props));
    Ok(Value::Object(out))
}

/// The Sluice event name of a Currents type, and the channel it names.
fn name_of(currents_type: &str) -> (String, Option<&'static str>) {
    let parts: Vec<&str> = currents_type.split('.').collect();
    let channel = match parts.as_slice() {
        ["users", "messages", channel, ..] => match *channel {
            "pushnotification" => Some("push"),
            "email" => Some("email"),
            "sms" => Some("sms"),
            "inappmessage" => Some("in_app"),
            "contentcard" => Some("content_card"),
            "webhook" => Some("webhook"),
            _ => None,
        },
        _ => None,
    };
    let name = match parts.as_slice() {
        ["users", "messages", _, "Send"] => "Campaign Message Sent",
        ["users", "messages", _, "Delivery"] => "Campaign Message Delivered",
        ["users", "messages", _, "Open" | "Impression"] => "Campaign Message Opened",
        ["users", "messages", _, "Click"] => "Campaign Message Clicked",
        ["users", "messages", _, "Unsubscribe"] => "Campaign Unsubscribed",
        ["users", "campaigns" | "canvas", "Conversion"] => "Campaign Converted",
        _ => return (currents_type.to_owned(), channel),
    };
    (name.to_owned(), channel)
}

/// A value as text: strings as they are, numbers as written; Avro's `{"string": "…"}` wrapper of
/// nullable values is unwrapped.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(wrapped) if wrapped.len() == 1 => wrapped.values().next().and_then(text),
        _ => None,
    }
}

/// A whole number, possibly wrapped as in [`text`].
fn number(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::Object(wrapped) if wrapped.len() == 1 => wrapped.values().next().and_then(number),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
