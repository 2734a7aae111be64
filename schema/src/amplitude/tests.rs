use serde_json::json;

use super::*;

fn ctx() -> IngestContext<'static> {
    IngestContext {
        project: "p",
        received_ms: 1_700_000_000_000,
        client_upload_time: None,
        remote_ip: Some("10.1.2.3"),
        min_id_length: DEFAULT_MIN_ID_LENGTH,
    }
}

fn problems(raw: serde_json::Value) -> Vec<FieldProblem> {
    normalize_event(raw, &ctx()).expect_err("event should be rejected")
}

#[test]
fn parses_the_body_an_sdk_sends() {
    let body = json!({
        "api_key": "k1", "events": [{"event_type": "a", "user_id": "user-1"}],
        "options": {"min_id_length": 3}, "client_upload_time": "2023-11-14T22:13:20.000Z",
        "request_metadata": {"sdk": {}}
    });
    let req = parse_upload(body.to_string().as_bytes()).unwrap();
    assert_eq!(req.api_key, "k1");
    assert_eq!(req.events.len(), 1);
    assert_eq!(req.min_id_length, 3);
    assert_eq!(req.client_upload_time, Some(1_700_000_000_000));
}

#[test]
fn request_level_errors() {
    assert_eq!(parse_upload(b"  "), Err(RequestError::MissingBody));
    assert_eq!(parse_upload(b"{nope"), Err(RequestError::InvalidJson));
    assert_eq!(parse_upload(b"[1]"), Err(RequestError::InvalidJson));
    assert_eq!(
        parse_upload(br#"{"events": []}"#),
        Err(RequestError::MissingField("api_key"))
    );
    assert_eq!(
        parse_upload(br#"{"api_key": "k", "events": {}}"#),
        Err(RequestError::MissingField("events"))
    );
}

#[test]
fn normalises_a_browser_event() {
    let raw = json!({
        "event_type": "Service Viewed", "user_id": "user-42", "device_id": "dev-12345",
        "time": 1_699_999_999_000_i64, "session_id": 1_699_999_000_000_i64, "insert_id": "i-1",
        "event_id": 7, "platform": "Web", "ip": "$remote", "library": "amplitude-ts/2.45.6",
        "event_properties": {"category": "design", "price": 30.5},
        "partner_id": null
    });
    let event = normalize_event(raw, &ctx()).unwrap();
    assert_eq!(event.event_type, "Service Viewed");
    assert_eq!(event.user_id.as_deref(), Some("user-42"));
    assert_eq!(event.device_id, "dev-12345");
    assert_eq!(event.event_time, 1_699_999_999_000);
    assert_eq!(event.session_id, Some(1_699_999_000_000));
    assert_eq!(event.context.ip.as_deref(), Some("10.1.2.3"));
    assert_eq!(event.event_properties["category"], "design");
    assert_eq!(event.project, "p");
}

#[test]
fn missing_time_defaults_to_upload_time_and_bad_time_is_invalid() {
    let event = normalize_event(json!({"event_type": "a", "user_id": "user-1"}), &ctx()).unwrap();
    assert_eq!(event.event_time, ctx().received_ms);
    let p = problems(json!({"event_type": "a", "user_id": "user-1", "time": "2023-01-01"}));
    assert_eq!(
        p,
        vec![FieldProblem {
            kind: ProblemKind::Invalid,
            field: "time"
        }]
    );
}

#[test]
fn event_type_and_an_id_are_required() {
    let p = problems(json!({"user_id": "user-1"}));
    assert_eq!(
        p,
        vec![FieldProblem {
            kind: ProblemKind::Missing,
            field: "event_type"
        }]
    );
    let p = problems(json!({"event_type": "a"}));
    assert_eq!(
        p,
        vec![FieldProblem {
            kind: ProblemKind::Missing,
            field: "device_id"
        }]
    );
}

#[test]
fn short_ids_are_dropped_and_forbidden_ids_rejected() {
    let p = problems(json!({"event_type": "a", "user_id": "abc"}));
    assert_eq!(
        p,
        vec![FieldProblem {
            kind: ProblemKind::InvalidIdLength,
            field: "user_id"
        }]
    );
    // A short user id next to a good device id is removed; the event stays.
    let event = normalize_event(
        json!({"event_type": "a", "user_id": "abc", "device_id": "dev-12345"}),
        &ctx(),
    )
    .unwrap();
    assert_eq!(
        (event.user_id, event.device_id.as_str()),
        (None, "dev-12345")
    );
    let p = problems(json!({"event_type": "a", "device_id": "undefined"}));
    assert_eq!(
        p,
        vec![FieldProblem {
            kind: ProblemKind::Invalid,
            field: "device_id"
        }]
    );
    let p = problems(json!({"event_type": "a", "device_id": "dev-12345", "user_id": "NULL"}));
    assert_eq!(
        p,
        vec![FieldProblem {
            kind: ProblemKind::Invalid,
            field: "user_id"
        }]
    );
    let short_ok = IngestContext {
        min_id_length: 3,
        ..ctx()
    };
    assert!(normalize_event(json!({"event_type": "a", "user_id": "abc"}), &short_ok).is_ok());
}

#[test]
fn device_id_is_derived_from_user_id_stably() {
    let event = normalize_event(json!({"event_type": "a", "user_id": "user-1"}), &ctx()).unwrap();
    assert_eq!(event.device_id, device_id_for_user("user-1"));
    assert_ne!(device_id_for_user("user-1"), device_id_for_user("user-2"));
    assert_eq!(
        device_id_for_user("user-1"),
        "uid-".to_owned()
            + &format!("{:016x}", {
                let mut h: u64 = 0xcbf29ce484222325;
                for b in b"user-1" {
                    h ^= u64::from(*b);
                    h = h.wrapping_mul(0x100000001b3);
                }
                h
            })
    );
}

#[test]
fn clock_skew_is_corrected_only_past_sixty_seconds() {
    let received = ctx().received_ms;
    let raw = json!({"event_type": "a", "user_id": "user-1", "time": received - 3_600_000 - 5_000});
    // Device clock one hour behind: the upload stamp is an hour early too.
    let skewed = IngestContext {
        client_upload_time: Some(received - 3_600_000),
        ..ctx()
    };
    let event = normalize_event(raw.clone(), &skewed).unwrap();
    assert_eq!(event.event_time, received - 5_000);
    assert_eq!(event.client_event_time, received - 3_600_000 - 5_000);
    let small = IngestContext {
        client_upload_time: Some(received - 59_999),
        ..ctx()
    };
    let event = normalize_event(raw, &small).unwrap();
    assert_eq!(event.event_time, event.client_event_time);
}

#[test]
fn mobile_version_name_is_app_version() {
    let raw = json!({"event_type": "a", "device_id": "dev-12345", "version_name": "3.1.0"});
    let event = normalize_event(raw, &ctx()).unwrap();
    assert_eq!(event.context.app_version.as_deref(), Some("3.1.0"));
}

#[test]
fn revenue_from_top_level_and_from_sdk_properties() {
    let raw = json!({"event_type": "p", "user_id": "user-1", "price": 2.5, "quantity": 4, "revenue": 1.0});
    let r = normalize_event(raw, &ctx()).unwrap().revenue;
    assert_eq!(
        (r.price, r.quantity, r.revenue),
        (Some(2.5), Some(4), Some(10.0))
    );
    let raw = json!({"event_type": "revenue_amount", "user_id": "user-1",
        "event_properties": {"$price": 3.5, "$productId": "sku1", "$quantity": 2, "note": "x"}});
    let event = normalize_event(raw, &ctx()).unwrap();
    assert_eq!(event.revenue.revenue, Some(7.0));
    assert_eq!(event.revenue.product_id.as_deref(), Some("sku1"));
    assert!(!event.event_properties.contains_key("$price"));
    assert_eq!(event.event_properties["note"], "x");
}

#[test]
fn long_strings_are_truncated_and_deep_properties_rejected() {
    let long = "x".repeat(MAX_STRING_CHARS + 10);
    let raw = json!({"event_type": long, "user_id": "user-1", "event_properties": {"k": long}});
    let event = normalize_event(raw, &ctx()).unwrap();
    assert_eq!(event.event_type.chars().count(), MAX_STRING_CHARS);
    assert_eq!(
        event.event_properties["k"].as_str().unwrap().len(),
        MAX_STRING_CHARS
    );
    let mut deep = json!(1);
    for _ in 0..=MAX_PROPERTY_DEPTH {
        deep = json!({ "d": deep });
    }
    let p = problems(json!({"event_type": "a", "user_id": "user-1", "event_properties": deep}));
    assert_eq!(
        p,
        vec![FieldProblem {
            kind: ProblemKind::Invalid,
            field: "event_properties"
        }]
    );
}

#[test]
fn truncation_counts_characters_and_reaches_nested_keys_and_values() {
    // 1024 two-byte characters fit although they take 2048 bytes; one more is cut.
    let fits = "é".repeat(MAX_STRING_CHARS);
    let long = "é".repeat(MAX_STRING_CHARS + 1);
    let raw = json!({"event_type": "a", "user_id": "user-1", "user_properties": {
        "fits": fits, "nested": {"list": [long, {long.clone(): 1}]}, long.clone(): "v"}});
    let props = normalize_event(raw, &ctx()).unwrap().user_properties;
    assert_eq!(props["fits"], fits);
    assert_eq!(props["nested"]["list"][0], fits);
    assert_eq!(props["nested"]["list"][1][&fits], 1);
    assert_eq!(props[&fits], "v");
    assert_eq!(props.len(), 3);
}

#[test]
fn session_minus_one_means_no_session() {
    let raw = json!({"event_type": "a", "user_id": "user-1", "session_id": -1});
    assert_eq!(normalize_event(raw, &ctx()).unwrap().session_id, None);
}
