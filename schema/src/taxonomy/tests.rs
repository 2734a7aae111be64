use super::*;

const GOOD: &str = r#"
[project]
name = "shop"
time_zone = "Asia/Seoul"

[event_properties.category]
type = "string"
description = "Category slug"
enum = ["design", "translation"]

[event_properties.price]
type = "number"

[event_properties.tags]
type = "array"

[user_properties.plan]
type = "string"
enum = ["free", "pro"]

[events."Service Viewed"]
description = "Opened a service page"
category = "discovery"
owner = "category-team"
properties = ["category", "price", "tags"]
required = ["category"]
"#;

fn errors(text: &str) -> Vec<PlanError> {
    TrackingPlan::parse(text)
        .expect_err("plan should be invalid")
        .0
}

#[test]
fn parses_a_valid_plan() {
    let plan = TrackingPlan::parse(GOOD).unwrap();
    assert_eq!(plan.project.name, "shop");
    assert_eq!(plan.project.time_zone, chrono_tz::Asia::Seoul);
    assert_eq!(plan.event_properties["price"].ty, PropertyType::Number);
    assert_eq!(plan.event_properties["category"].enum_values.len(), 2);
    let event = &plan.events["Service Viewed"];
    assert_eq!(event.required, vec!["category".to_owned()]);
    assert!(plan.is_planned("Service Viewed"));
    assert!(!plan.is_planned("Debug Tap"));
}

#[test]
fn syntax_errors_have_a_line() {
    let e = errors("[project]\nname = \"x\"\n\n[events.\"A\"\nowner = 1\n");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].line, 4, "{e:?}");
}

#[test]
fn unknown_keys_are_rejected_with_their_line() {
    let text = GOOD.replace(
        "owner = \"category-team\"",
        "owner = \"category-team\"\nowners = \"x\"",
    );
    let e = errors(&text);
    assert_eq!(e.len(), 1);
    assert!(e[0].message.contains("owners"), "{}", e[0].message);
}

#[test]
fn semantic_errors_are_all_reported_with_lines() {
    let text = GOOD
        .replace("time_zone = \"Asia/Seoul\"", "time_zone = \"Mars/Olympus\"")
        .replace("type = \"number\"", "type = \"float\"")
        .replace("enum = [\"free\", \"pro\"]", "enum = [\"free\", 3]")
        .replace(
            "properties = [\"category\", \"price\", \"tags\"]",
            "properties = [\"category\", \"colour\"]",
        )
        .replace(
            "required = [\"category\"]",
            "required = [\"category\", \"price\"]",
        );
    let e = errors(&text);
    let lines: Vec<usize> = e.iter().map(|e| e.line).collect();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    assert_eq!(
        lines,
        vec![
            line_of("Mars/Olympus"),
            line_of("\"float\""),
            line_of("[\"free\", 3]"),
            line_of("\"colour\""),
            line_of("required ="),
        ],
        "{e:#?}"
    );
    assert!(e[1].message.contains("unknown type \"float\""));
    assert!(e[3].message.contains("colour"));
    let shown = PlanErrors(e).to_string();
    assert!(shown.starts_with(&format!("line {}, column", line_of("Mars/Olympus"))));
}

#[test]
fn the_shipped_marketplace_plan_is_valid() {
    let plan = TrackingPlan::parse(include_str!("../../plans/marketplace.toml"))
        .unwrap_or_else(|e| panic!("marketplace.toml is invalid:\n{e}"));
    assert!(plan.events.len() >= 15, "{} events", plan.events.len());
    assert!(plan.event_properties.contains_key("category"));
}

mod enforcement {
    use serde_json::json;

    use crate::Event;
    use crate::taxonomy::{Policy, TrackingPlan, Verdict};

    const PLAN: &str = r#"
[project]
name = "shop"

[policy]
unplanned_event = "reject"
unplanned_property = "flag"
invalid_value = "flag"

[event_properties.category]
type = "string"
enum = ["design", "video"]

[event_properties.price]
type = "number"
policy = "reject"

[event_properties.note]
type = "string"

[events."Service Viewed"]
properties = ["category", "price"]
required = ["category"]

[events."Debug Ping"]
properties = ["note"]
policy = "allow"
"#;

    fn plan() -> TrackingPlan {
        TrackingPlan::parse(PLAN).unwrap()
    }

    fn event(event_type: &str, props: serde_json::Value) -> Event {
        Event {
            event_type: event_type.into(),
            event_properties: props.as_object().unwrap().clone(),
            ..Event::default()
        }
    }

    #[test]
    fn policies_parse_with_defaults_and_overrides() {
        let plan = plan();
        assert_eq!(plan.policies.unplanned_event, Policy::Reject);
        assert_eq!(plan.event_properties["price"].policy, Some(Policy::Reject));
        assert_eq!(plan.events["Debug Ping"].policy, Some(Policy::Allow));
        let default = TrackingPlan::parse("[project]\nname = \"x\"\n").unwrap();
        assert_eq!(default.policies.unplanned_property, Policy::Flag);
    }

    #[test]
    fn a_matching_event_has_no_issues() {
        let verdict = plan().check(&event(
            "Service Viewed",
            json!({"category": "design", "price": 3}),
        ));
        assert_eq!(verdict, Verdict::default());
    }

    #[test]
    fn each_problem_gets_its_policy() {
        let plan = plan();
        let flagged = plan.check(&event(
            "Service Viewed",
            json!({"category": "music", "extra": 1}),
        ));
        assert_eq!(
            flagged,
            Verdict {
                issues: vec![
                    r#"property "category": "music" is not one of the allowed values"#.into(),
                    r#"unplanned property "extra""#.into(),
                ],
                rejected: false,
            }
        );
        let missing = plan.check(&event("Service Viewed", json!({})));
        assert_eq!(missing.issues, [r#"missing required property "category""#]);
        assert!(!missing.rejected);
        // The property's own policy wins over the plan's invalid_value.
        let bad_price = plan.check(&event(
            "Service Viewed",
            json!({"category": "video", "price": "free"}),
        ));
        assert!(bad_price.rejected);
        assert_eq!(
            bad_price.issues,
            [r#"property "price": expected number, got "free""#]
        );
        let unplanned = plan.check(&event("Secret Thing", json!({})));
        assert!(unplanned.rejected);
        assert_eq!(unplanned.issues, [r#"unplanned event "Secret Thing""#]);
        // The event's policy covers its properties.
        assert_eq!(
            plan.check(&event("Debug Ping", json!({"note": 5, "x": 1}))),
            Verdict::default()
        );
        // SDK built-ins are always planned.
        assert_eq!(
            plan.check(&event("$identify", json!({}))),
            Verdict::default()
        );
        assert_eq!(
            plan.check(&event("[Amplitude] Page Viewed", json!({"x": 1}))),
            Verdict::default()
        );
    }

    #[test]
    fn unknown_policies_are_reported_with_their_line() {
        let text = "[project]\nname = \"x\"\n\n[policy]\nunplanned_event = \"drop\"\n";
        let errors = TrackingPlan::parse(text).unwrap_err();
        assert_eq!(errors.0.len(), 1);
        assert_eq!(errors.0[0].line, 5);
        assert!(
            errors.0[0].message.contains("allow, flag or reject"),
            "{}",
            errors.0[0].message
        );
    }
}
