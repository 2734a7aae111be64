//! The Identify and Group Identify APIs (`/identify`, `/groupidentify`): form-encoded (or query
//! string) `api_key` and `identification`, turned into `$identify` / `$groupidentify` events so
//! that they take the same path as SDK identifies (validation, log, loader property state).

use serde_json::{Map, Value};
use sluice_schema::amplitude::{DEFAULT_MIN_ID_LENGTH, UploadRequest};

use super::Rejection;

/// Which identify API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifyKind {
    /// `/identify`: user properties.
    User,
    /// `/groupidentify`: group properties.
    Group,
}

/// Identification keys that are user properties rather than event fields.
const USER_PROPERTY_KEYS: &[&str] = &["paying", "start_version"];

/// Parses `api_key=…&identification=…` (a form body or a query string) into an upload.
pub fn parse_identify(kind: IdentifyKind, params: &[u8]) -> Result<UploadRequest, Rejection> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(params).map_err(|_| Rejection::InvalidForm)?;
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let api_key = match param("api_key") {
        Some(key) if !key.is_empty() => key.to_owned(),
        _ => return Err(Rejection::MissingField("api_key")),
    };
    let identification = param("identification").ok_or(Rejection::MissingIdentification)?;
    let objects = match serde_json::from_str(identification) {
        Ok(Value::Object(one)) => vec![one],
        Ok(Value::Array(many)) if !many.is_empty() => many
            .into_iter()
            .map(|v| match v {
                Value::Object(o) => Ok(o),
                _ => Err(Rejection::MissingIdentification),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(Rejection::MissingIdentification),
    };
    let events = objects
        .into_iter()
        .map(|o| match kind {
            IdentifyKind::User => user_identify_event(o),
            IdentifyKind::Group => group_identify_event(o),
        })
        .collect();
    Ok(UploadRequest {
        api_key,
        events,
        min_id_length: DEFAULT_MIN_ID_LENGTH,
        client_upload_time: None,
    })
}

/// An identification as an `$identify` event; `paying` / `start_version` become `$set` properties.
fn user_identify_event(mut identification: Map<String, Value>) -> Value {
    let mut extra = Map::new();
    for key in USER_PROPERTY_KEYS {
        if let Some(value) = identification.remove(*key) {
            extra.insert((*key).to_owned(), value);
        }
    }
    if !extra.is_empty() {
        let props = identification
            .entry("user_properties")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(props) = props {
            let set = props
                .entry("$set")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(set) = set {
                set.extend(extra);
            }
        }
    }
    identification.insert("event_type".into(), "$identify".into());
    Value::Object(identification)
}

/// A group identification as a `$groupidentify` event of the group itself.
///
/// The API carries no user or device, so the event gets the device id `group:<type>:<value>`;
/// analyses never count `$groupidentify` events as activity.
fn group_identify_event(identification: Map<String, Value>) -> Value {
    let mut event = Map::new();
    event.insert("event_type".into(), "$groupidentify".into());
    let group_type = identification.get("group_type").cloned();
    let group_value = identification.get("group_value").cloned();
    if let (Some(Value::String(ty)), Some(value)) = (&group_type, &group_value) {
        let value_text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        event.insert(
            "device_id".into(),
            format!("group:{ty}:{value_text}").into(),
        );
        let mut groups = Map::new();
        groups.insert(ty.clone(), value.clone());
        event.insert("groups".into(), Value::Object(groups));
    }
    for key in ["group_properties", "time", "insert_id"] {
        if let Some(value) = identification.get(key) {
            event.insert(key.into(), value.clone());
        }
    }
    Value::Object(event)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
        serde_urlencoded::to_string(pairs).unwrap().into_bytes()
    }

    #[test]
    fn one_identification_becomes_an_identify_event() {
        let body = form(&[
            ("api_key", "key-1"),
            (
                "identification",
                r#"{"user_id":"user-42","paying":true,"user_properties":{"$set":{"plan":"pro"}}}"#,
            ),
        ]);
        let upload = parse_identify(IdentifyKind::User, &body).unwrap();
        assert_eq!(upload.api_key, "key-1");
        assert_eq!(
            upload.events,
            vec![json!({"event_type": "$identify", "user_id": "user-42",
                "user_properties": {"$set": {"plan": "pro", "paying": true}}})]
        );
    }

    #[test]
    fn an_array_of_identifications_is_several_events() {
        let body = form(&[
            ("api_key", "key-1"),
            (
                "identification",
                r#"[{"user_id":"user-1","user_properties":{"plan":"free"}},{"device_id":"device-2"}]"#,
            ),
        ]);
        let upload = parse_identify(IdentifyKind::User, &body).unwrap();
        assert_eq!(upload.events.len(), 2);
        assert_eq!(upload.events[1]["event_type"], "$identify");
    }

    #[test]
    fn group_identification_names_the_group_as_device() {
        let body = form(&[
            ("api_key", "key-1"),
            (
                "identification",
                r#"{"group_type":"org id","group_value":"12345678","group_properties":{"$set":{"tier":"gold"}}}"#,
            ),
        ]);
        let upload = parse_identify(IdentifyKind::Group, &body).unwrap();
        assert_eq!(
            upload.events,
            vec![
                json!({"event_type": "$groupidentify", "device_id": "group:org id:12345678",
                "groups": {"org id": "12345678"}, "group_properties": {"$set": {"tier": "gold"}}})
            ]
        );
    }

    #[test]
    fn missing_or_malformed_parameters_are_named() {
        let no_key = form(&[("identification", "{}")]);
        assert_eq!(
            parse_identify(IdentifyKind::User, &no_key),
            Err(Rejection::MissingField("api_key"))
        );
        for bad in ["", "not json", "[]", "[1]", "\"text\""] {
            let body = form(&[("api_key", "k"), ("identification", bad)]);
            assert_eq!(
                parse_identify(IdentifyKind::User, &body),
                Err(Rejection::MissingIdentification),
                "{bad:?}"
            );
        }
        let body = form(&[("api_key", "k")]);
        assert_eq!(
            parse_identify(IdentifyKind::Group, &body),
            Err(Rejection::MissingIdentification)
        );
    }
}
