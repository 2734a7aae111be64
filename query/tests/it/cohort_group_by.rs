//! A saved cohort as a group-by dimension (`{"kind": "cohort", "property": NAME}`): the groups
//! are the cohort's members (value: its name) and everyone else (none), and each group's result
//! equals the same analysis with the cohort as a segment (`is` / `is_not`).

use serde_json::{Value, json};
use sluice_query::cohort::store::SavedCohort;
use sluice_query::{QueryEngine, QuerySpec};

use crate::support::{block_on, ev, utc, write_dataset};

/// Eight users over three days: views, purchases, returns.
fn engine() -> (tempfile::TempDir, QueryEngine) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mut events = Vec::new();
    for (i, user) in [
        "gb-a", "gb-b", "gb-c", "gb-d", "gb-e", "gb-f", "gb-g", "gb-h",
    ]
    .iter()
    .enumerate()
    {
        let i = i as i64;
        events.push(ev(utc(2025, 5, 1, 9, 0, 0) + i * 60_000, "View", user));
        if i % 2 == 0 {
            events.push(ev(utc(2025, 5, 1, 10, 0, 0) + i * 60_000, "Purchase", user));
        }
        if i % 3 != 1 {
            events.push(ev(utc(2025, 5, 2, 9, 0, 0) + i * 60_000, "View", user));
        }
        if i < 3 {
            events.push(ev(utc(2025, 5, 3, 9, 0, 0) + i * 60_000, "Purchase", user));
        }
    }
    write_dataset(dir.path(), &events, 2);
    let engine = QueryEngine::new(dir.path());
    let cohort = SavedCohort {
        name: "vip".to_owned(),
        description: None,
        owner: None,
        project: None,
        time_zone: "UTC".to_owned(),
        definition: serde_json::from_value(json!({"user_ids": ["gb-a", "gb-c", "gb-e", "gb-h"]}))
            .expect("a definition"),
    };
    engine.save_cohort(&cohort).expect("saved");
    block_on(engine.compute_cohort("vip", Some("2025-05-03".to_owned()), Some(0)))
        .expect("computed");
    (dir, engine)
}

fn run(engine: &QueryEngine, spec: &Value) -> Value {
    let spec = QuerySpec::from_json(&spec.to_string()).expect("a spec");
    serde_json::to_value(block_on(engine.run(&spec)).expect("runs")).expect("JSON")
}

fn with(base: &Value, extra: Value) -> Value {
    let mut spec = base.clone();
    spec.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    spec
}

/// Asserts the groups of `base` grouped by the cohort equal `base` with the cohort as a
/// segment, `is` for the members' group and `is_not` for the others'.
fn groups_match_segments(engine: &QueryEngine, base: &Value) -> Value {
    let grouped = run(
        engine,
        &with(
            base,
            json!({"group_by": [{"kind": "cohort", "property": "vip"}]}),
        ),
    );
    assert_eq!(grouped["analysis"], json!("groups"), "{grouped}");
    let groups = grouped["groups"].as_array().expect("groups");
    assert_eq!(groups.len(), 2, "{grouped}");
    for group in groups {
        let op = if group["values"] == json!(["vip"]) {
            "is"
        } else {
            assert_eq!(group["values"], json!([null]), "{group}");
            "is_not"
        };
        let segment = run(
            engine,
            &with(
                base,
                json!({"segments": [{"name": op, "where": [
                {"kind": "cohort", "property": "vip", "op": op}]}]}),
            ),
        );
        assert_eq!(
            group["result"], segment["segments"][0]["result"],
            "{op}: {grouped}"
        );
    }
    grouped
}

#[test]
fn a_cohort_groups_segmentation_retention_and_lifecycle_like_its_segments() {
    let (_dir, engine) = engine();
    let range = json!({"from": "2025-05-01", "to": "2025-05-03"});
    let segmentation = json!({"version": 1, "analysis": "segmentation", "date_range": range,
        "interval": "day", "events": [{"event_type": "View"}, {"event_type": "Purchase"}]});
    let grouped = groups_match_segments(&engine, &segmentation);
    // Members a c e h: all view on the 1st, a and c again on the 2nd, nobody on the 3rd.
    let members = &grouped["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["values"] == json!(["vip"]))
        .unwrap()["result"];
    assert_eq!(members["series"][0]["values"], json!([4, 2, 0]));
    let retention = json!({"version": 1, "analysis": "retention", "date_range": range,
        "start_event": {"event_type": "View"}, "return_event": {"event_type": "_all"},
        "interval": "day", "periods": 2});
    groups_match_segments(&engine, &retention);
    let lifecycle = json!({"version": 1, "analysis": "lifecycle", "date_range": range,
        "interval": "day", "event": {"event_type": "_all"}});
    groups_match_segments(&engine, &lifecycle);
}

#[test]
fn a_funnel_groups_by_cohort_and_refuses_a_step_for_it() {
    let (_dir, engine) = engine();
    let funnel = json!({"version": 1, "analysis": "funnel",
        "date_range": {"from": "2025-05-01", "to": "2025-05-03"},
        "steps": [{"event_type": "View"}, {"event_type": "Purchase"}],
        "conversion_window": {"value": 3, "unit": "day"}});
    let grouped = run(
        &engine,
        &with(
            &funnel,
            json!({"group_by": [{"kind": "cohort", "property": "vip"}]}),
        ),
    );
    let rows: Vec<(Value, Vec<u64>)> = grouped["by_breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let steps = row["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["persons"].as_u64().unwrap())
                .collect();
            (row["value"].clone(), steps)
        })
        .collect();
    // Members a c e h all view; a c e buy within the window. Others b d f g all view; b buys
    // on the 3rd, g an hour after its view; d and f never buy. Equal entrants: none first.
    assert_eq!(
        rows,
        vec![(Value::Null, vec![4, 2]), (json!("vip"), vec![4, 3])],
        "{grouped}"
    );
    // The funnel's one-property breakdown says the same.
    let broken_down = run(
        &engine,
        &with(
            &funnel,
            json!({"breakdown": {"kind": "cohort", "property": "vip"}}),
        ),
    );
    assert_eq!(broken_down["by_breakdown"], grouped["by_breakdown"]);
    let spec = with(
        &funnel,
        json!({"group_by": [{"kind": "cohort", "property": "vip", "step": 2}]}),
    );
    let error = block_on(engine.run(&QuerySpec::from_json(&spec.to_string()).unwrap()))
        .expect_err("a step for a cohort");
    assert!(error.to_string().contains("group_by[0]"), "{error}");
}
