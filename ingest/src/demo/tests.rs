use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use serde_json::Value;
use sluice_schema::amplitude::{IngestContext, normalize_event};
use sluice_schema::{PropertyType, TrackingPlan};

use super::drift::{UNEXPECTED_PROPERTIES, UNPLANNED_EVENTS};
use super::{DEMO_API_KEY, DemoConfig, generate};

mod stats;

const PLAN: &str = include_str!("../../../schema/plans/marketplace.toml");

fn small() -> DemoConfig {
    DemoConfig {
        users: 3_000,
        days: 45,
        end_date: NaiveDate::from_ymd_opt(2026, 11, 21).expect("date"),
        seed: 11,
    }
}

fn events(config: &DemoConfig) -> Vec<Value> {
    generate(config).flat_map(|b| b.events).collect()
}

fn str_of<'a>(e: &'a Value, key: &str) -> Option<&'a str> {
    e.get(key).and_then(Value::as_str)
}

fn is_uuid_like(s: &str) -> bool {
    let core = s.strip_suffix('R').unwrap_or(s);
    let parts: Vec<&str> = core.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && core.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
}

#[test]
fn the_same_seed_gives_the_same_events_and_another_seed_does_not() {
    let config = DemoConfig {
        users: 800,
        days: 20,
        ..small()
    };
    let first: Vec<Value> = generate(&config)
        .flat_map(|b| b.events)
        .take(5_000)
        .collect();
    let again: Vec<Value> = generate(&config)
        .flat_map(|b| b.events)
        .take(5_000)
        .collect();
    assert_eq!(first.len(), 5_000);
    assert_eq!(first, again);
    let other = DemoConfig { seed: 12, ..config };
    let different: Vec<Value> = generate(&other)
        .flat_map(|b| b.events)
        .take(5_000)
        .collect();
    assert_ne!(first, different);
}

#[test]
fn batches_are_bounded_in_time_order_and_uploaded_after_their_events() {
    let config = small();
    let start = config.end_date - chrono::Days::new(u64::from(config.days) - 1);
    let start_ms = start
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_millis();
    let end_ms = start_ms + i64::from(config.days) * 86_400_000;
    let mut previous = i64::MIN;
    for batch in generate(&config) {
        assert!(!batch.events.is_empty() && batch.events.len() <= 1000);
        for e in &batch.events {
            let t = e["time"].as_i64().expect("time");
            assert!(
                (start_ms..end_ms).contains(&t),
                "time {t} outside the window"
            );
            assert!(t >= previous, "events out of order");
            previous = t;
        }
        assert!(batch.client_upload_time_ms >= previous);
    }
}

#[test]
fn every_event_has_valid_ids_and_sdk_fields() {
    let all = events(&small());
    let mut insert_ids = HashSet::new();
    let mut last_by_device: HashMap<&str, (i64, i64)> = HashMap::new();
    for e in &all {
        let event_type = str_of(e, "event_type").expect("event_type");
        assert!(!event_type.is_empty());
        assert!(
            insert_ids.insert(str_of(e, "insert_id").expect("insert_id")),
            "duplicate insert_id"
        );
        if let Some(user) = str_of(e, "user_id") {
            assert!(user.len() >= 5 && user.starts_with("u_"), "{user}");
        }
        let Some(device) = str_of(e, "device_id") else {
            // Only the CRM reports without a device.
            assert!(
                event_type.starts_with("Campaign ") && e.get("user_id").is_some(),
                "{e}"
            );
            continue;
        };
        assert!(is_uuid_like(device), "{device}");
        let time = e["time"].as_i64().expect("time");
        let event_id = e["event_id"].as_i64().expect("event_id");
        let session = e["session_id"].as_i64().expect("session_id");
        assert!(session <= time);
        if let Some(&(t, id)) = last_by_device.get(device) {
            assert!(time >= t && event_id > id, "device {device} goes back: {e}");
        }
        last_by_device.insert(device, (time, event_id));
        assert_eq!(e["ip"], "$remote");
        let platform = str_of(e, "platform").expect("platform");
        let library = str_of(e, "library").expect("library");
        for key in ["os_name", "os_version", "language", "country", "city"] {
            assert!(e.get(key).is_some(), "{key} missing: {e}");
        }
        match platform {
            "Web" => {
                assert!(library.starts_with("amplitude-ts/") && e.get("user_agent").is_some());
                assert!(e.get("version_name").is_none() && e.get("device_model").is_none());
            }
            "iOS" | "Android" => {
                assert!(
                    library.starts_with("amplitude-swift/")
                        || library.starts_with("amplitude-kotlin/")
                );
                assert!(e.get("version_name").is_some() && e.get("app_version").is_none());
                assert!(e.get("device_model").is_some() && e.get("device_manufacturer").is_some());
            }
            other => panic!("unexpected platform {other}"),
        }
    }
}

#[test]
fn every_event_is_accepted_by_the_collectors_normalisation() {
    for batch in generate(&DemoConfig {
        users: 1_000,
        days: 20,
        ..small()
    }) {
        let ctx = IngestContext {
            project: "marketplace",
            received_ms: batch.client_upload_time_ms,
            client_upload_time: Some(batch.client_upload_time_ms),
            remote_ip: Some("127.0.0.1"),
            min_id_length: 5,
        };
        for raw in &batch.events {
            let event =
                normalize_event(raw.clone(), &ctx).unwrap_or_else(|p| panic!("{p:?} in {raw}"));
            assert_eq!(
                event.client_event_time, event.event_time,
                "no skew correction expected"
            );
        }
    }
    assert!(!DEMO_API_KEY.is_empty());
}

#[test]
fn a_small_config_gives_a_plausible_number_of_events() {
    let n = events(&small()).len();
    // 3,000 people over 45 days: ~20 events per person, most of them in their first weeks.
    assert!((35_000..80_000).contains(&n), "{n} events");
}

#[test]
fn event_names_are_planned_except_the_deliberate_drift() {
    let plan = TrackingPlan::parse(PLAN).unwrap_or_else(|e| panic!("marketplace.toml: {e}"));
    let names: BTreeMap<String, usize> =
        events(&small()).iter().fold(BTreeMap::new(), |mut m, e| {
            *m.entry(e["event_type"].as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
            m
        });
    for name in names.keys().filter(|n| *n != "$identify") {
        let header = format!("[events.\"{name}\"]");
        if UNPLANNED_EVENTS.contains(&name.as_str()) {
            assert!(!PLAN.contains(&header), "{name} is meant to be unplanned");
        } else {
            assert!(
                PLAN.contains(&header) && plan.is_planned(name),
                "{name} is not in marketplace.toml"
            );
        }
    }
    for planned in plan.events.keys() {
        assert!(
            names.contains_key(planned),
            "planned event {planned} is never generated"
        );
    }
}

fn fits(value: &Value, ty: PropertyType, allowed: &[Value]) -> bool {
    let typed = match ty {
        PropertyType::String => value.is_string(),
        PropertyType::Number => value.is_number(),
        PropertyType::Integer => value.is_i64(),
        PropertyType::Boolean => value.is_boolean(),
        PropertyType::Array => value.is_array(),
    };
    typed
        && (allowed.is_empty()
            || allowed
                .iter()
                .any(|a| a.as_f64().map_or(a == value, |f| Some(f) == value.as_f64())))
}

#[test]
fn properties_follow_the_plan_except_the_deliberate_drift() {
    let plan = TrackingPlan::parse(PLAN).unwrap_or_else(|e| panic!("marketplace.toml: {e}"));
    let all = events(&small());
    let (mut drifted, mut unplanned) = (0usize, 0usize);
    for e in &all {
        let name = e["event_type"].as_str().unwrap_or_default();
        let props = e
            .get("event_properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if name == "$identify" {
            for (op, values) in e["user_properties"].as_object().expect("operations") {
                assert!(["$set", "$setOnce", "$add"].contains(&op.as_str()), "{op}");
                for (key, value) in values.as_object().expect("operation object") {
                    let def = plan
                        .user_properties
                        .get(key)
                        .unwrap_or_else(|| panic!("user property {key}"));
                    assert!(
                        fits(value, def.ty, &def.enum_values),
                        "user property {key} = {value}"
                    );
                }
            }
            continue;
        }
        let Some(def) = plan.events.get(name) else {
            unplanned += 1;
            continue;
        };
        for required in &def.required {
            assert!(props.contains_key(required), "{name} lacks {required}: {e}");
        }
        for (key, value) in &props {
            if UNEXPECTED_PROPERTIES.contains(&key.as_str()) {
                drifted += 1;
                continue;
            }
            assert!(
                def.properties.contains(key),
                "{name} carries unplanned {key}"
            );
            let p = &plan.event_properties[key];
            assert!(
                fits(value, p.ty, &p.enum_values),
                "{name}.{key} = {value} does not fit {}",
                p.ty
            );
        }
    }
    let share = |n: usize| n as f64 / all.len() as f64;
    assert!(
        (0.003..0.008).contains(&share(unplanned)),
        "unplanned share {}",
        share(unplanned)
    );
    assert!(
        (0.003..0.008).contains(&share(drifted)),
        "drifted share {}",
        share(drifted)
    );
}

#[test]
fn analyses_find_plausible_funnels_and_retention() {
    let all = events(&DemoConfig {
        users: 6_000,
        days: 60,
        ..small()
    });
    let stats = stats::Stats::of(&all);
    eprintln!("{stats}");
    let [
        category_to_listing,
        listing_to_inquiry,
        inquiry_to_checkout,
        checkout_to_paid,
    ] = stats.funnel;
    assert!((0.30..0.55).contains(&category_to_listing), "{stats}");
    assert!((0.10..0.22).contains(&listing_to_inquiry), "{stats}");
    assert!((0.38..0.65).contains(&inquiry_to_checkout), "{stats}");
    assert!((0.48..0.75).contains(&checkout_to_paid), "{stats}");
    let [d1, d7, d30] = stats.retention;
    assert!(
        (0.18..0.40).contains(&d1) && (0.07..0.22).contains(&d7) && (0.03..0.14).contains(&d30),
        "{stats}"
    );
    assert!(d1 > d7 && d7 > d30);
    // Breakdowns differ: the apps pay more often than the website; development draws more
    // inquiries per listing view than translation.
    let row = |table: &BTreeMap<String, [usize; 4]>, key: &str| {
        table.get(key).copied().unwrap_or_default()
    };
    let paid = |platform| stats::Stats::step_rate(&row(&stats.by_platform, platform), 2);
    assert!(
        paid("iOS") > paid("Web") && paid("Android") > paid("Web"),
        "{stats}"
    );
    let inquiries = |category| stats::Stats::step_rate(&row(&stats.by_category, category), 0);
    assert!(
        inquiries("development") > 1.4 * inquiries("translation"),
        "{stats}"
    );
    assert!(
        stats.clicked_buy_rate > 1.3 * stats.sent_buy_rate,
        "{stats}"
    );
}

/// Run with `cargo test --release -p sluice-ingest demo -- --ignored --nocapture`.
#[test]
#[ignore = "generates the full default data set (slow without --release)"]
fn the_default_config_gives_over_a_million_events() {
    let started = std::time::Instant::now();
    let (mut events, mut batches) = (0usize, 0usize);
    for batch in generate(&DemoConfig::default()) {
        events += batch.events.len();
        batches += 1;
    }
    eprintln!(
        "default config: {events} events in {batches} batches, {:.1?}",
        started.elapsed()
    );
    assert!((1_000_000..1_500_000).contains(&events), "{events}");
}
