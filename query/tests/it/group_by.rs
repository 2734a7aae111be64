//! Group-by outside the funnel (segmentation, retention, lifecycle, stickiness, paths).
//!
//! On random datasets the groups listed, their persons and those of "(other)" are compared with a
//! plain ranking computed here from the events; each group's result is compared with the plain
//! analysis over the events of that group — for segmentation and stickiness the dataset holding
//! only the group's events, for retention only the group's start events (return events are not
//! split), as the segment tests check segments; for lifecycle (whose "first event ever" reads
//! every event) and paths (whose other events stay in the paths) with the group's values as a
//! segment instead. Plus hand-computed cases.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_query::QuerySpec;
use sluice_query::result::{GroupsResult, QueryResult};

use crate::filters::property_events;
use crate::support::{TestEvent, ev, run_any, utc, write_dataset};

const HOUR: i64 = 3_600_000;
const RANGE: (&str, &str) = ("2025-03-01", "2025-03-03");
/// Group-by properties: (kind, name).
const PROPERTIES: [(&str, &str); 3] = [
    ("event", "category"),
    ("user", "plan"),
    ("field", "platform"),
];
const ANALYSES: [&str; 5] = [
    "segmentation",
    "retention",
    "lifecycle",
    "stickiness",
    "paths",
];

fn value_of<'a>(e: &'a TestEvent, property: &str) -> Option<&'a str> {
    match property {
        "category" => e.category.as_deref(),
        "plan" => e.plan.as_deref(),
        _ => e.platform.as_deref(),
    }
}

fn tuple_of(e: &TestEvent, properties: &[&str]) -> Vec<Option<String>> {
    properties
        .iter()
        .map(|p| value_of(e, p).map(str::to_owned))
        .collect()
}

/// The analysis' spec without group-by.
fn plain(analysis: &str) -> Value {
    let mut spec = json!({
        "version": 1, "analysis": analysis,
        "date_range": {"from": RANGE.0, "to": RANGE.1},
    });
    let extra = match analysis {
        "segmentation" => json!({"events": [
            {"event_type": "A"}, {"event_type": "B", "measure": "totals"}]}),
        "retention" => json!({"start_event": {"event_type": "B"},
            "return_event": {"event_type": "A"}, "boundaries": "calendar", "periods": 2}),
        "lifecycle" => json!({"event": {"event_type": "C"}}),
        "stickiness" => json!({"event": {"event_type": "B"}}),
        _ => json!({"anchor": {"event_type": "B"}, "depth": 2}),
    };
    if let (Some(spec), Value::Object(extra)) = (spec.as_object_mut(), extra) {
        spec.extend(extra);
    }
    spec
}

/// Whether the group-by of `analysis` reads `e`: the events segments apply to, in the range
/// (stickiness: the range's whole weeks, 2025-02-24 to 2025-03-09, which hold every event here).
fn ranked_on(analysis: &str, e: &TestEvent) -> bool {
    let in_range = e.ts < utc(2025, 3, 4, 0, 0, 0);
    match analysis {
        "segmentation" => in_range && (e.event_type == "A" || e.event_type == "B"),
        "lifecycle" => in_range && e.event_type == "C",
        "stickiness" => e.event_type == "B",
        _ => in_range && e.event_type == "B",
    }
}

type Ranked = Vec<(Vec<Option<String>>, u64)>;

/// The reference ranking: persons per value tuple, most first, ties by value (none first); the
/// first `limit`, and the persons of the rest when there are more.
fn reference_ranking(
    events: &[TestEvent],
    analysis: &str,
    properties: &[&str],
    limit: usize,
) -> (Ranked, Option<u64>) {
    let mut persons: BTreeMap<Vec<Option<String>>, BTreeSet<&str>> = BTreeMap::new();
    for e in events.iter().filter(|e| ranked_on(analysis, e)) {
        persons
            .entry(tuple_of(e, properties))
            .or_default()
            .insert(e.person());
    }
    let mut all: Ranked = persons
        .iter()
        .map(|(values, who)| (values.clone(), who.len() as u64))
        .collect();
    all.sort_by(|(a, pa), (b, pb)| pb.cmp(pa).then_with(|| a.cmp(b)));
    let rest: BTreeSet<&str> = all
        .iter()
        .skip(limit)
        .flat_map(|(values, _)| persons[values].iter().copied())
        .collect();
    let more = all.len() > limit;
    all.truncate(limit);
    (all, more.then_some(rest.len() as u64))
}

fn spec(value: &Value) -> QuerySpec {
    QuerySpec::from_json(&value.to_string()).expect("valid spec")
}

fn answer(events: &[TestEvent], value: &Value) -> QueryResult {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), events, 2);
    run_any(dir.path(), &spec(value)).expect("runs")
}

fn grouped(result: QueryResult) -> GroupsResult {
    match result {
        QueryResult::Groups(grouped) => grouped,
        other => panic!("not grouped: {other:?}"),
    }
}

/// The one segment's result.
fn only_segment(result: QueryResult) -> QueryResult {
    match result {
        QueryResult::Segments(mut compared) => compared.segments.remove(0).result,
        other => panic!("not segments: {other:?}"),
    }
}

/// Conditions selecting the events with `values` of `properties`.
fn tuple_conditions(properties: &[(&str, &str)], values: &[Option<String>]) -> Value {
    let conditions: Vec<Value> = properties
        .iter()
        .zip(values)
        .map(|((kind, name), value)| match value {
            Some(v) => json!({"kind": kind, "property": name, "op": "is", "values": [v]}),
            None => json!({"kind": kind, "property": name, "op": "not_set"}),
        })
        .collect();
    json!(conditions)
}

fn check(
    events: &[TestEvent],
    analysis: &str,
    properties: &[(&str, &str)],
    limit: Option<usize>,
) -> Result<(), TestCaseError> {
    let names: Vec<&str> = properties.iter().map(|(_, name)| *name).collect();
    let base = plain(analysis);
    let mut asked = base.clone();
    asked["group_by"] = json!(
        properties
            .iter()
            .map(|(kind, name)| json!({"kind": kind, "property": name}))
            .collect::<Vec<_>>()
    );
    if let Some(limit) = limit {
        asked["group_limit"] = json!(limit);
    }
    let result = grouped(answer(events, &asked));
    let (listed, other) = reference_ranking(events, analysis, &names, limit.unwrap_or(10));
    let got: Ranked = result
        .groups
        .iter()
        .filter(|g| !g.other)
        .map(|g| (g.values.clone(), g.persons))
        .collect();
    prop_assert_eq!(&got, &listed);
    let got_other = result.groups.iter().find(|g| g.other).map(|g| g.persons);
    prop_assert_eq!(got_other, other);
    prop_assert_eq!(result.overall.as_ref(), &answer(events, &base));

    let tuples: Vec<&Vec<Option<String>>> = listed.iter().map(|(values, _)| values).collect();
    for group in &result.groups {
        let member = |e: &TestEvent| {
            let tuple = tuple_of(e, &names);
            match group.other {
                true => !tuples.contains(&&tuple),
                false => tuple == group.values,
            }
        };
        let expected = match analysis {
            "segmentation" | "stickiness" | "retention" => {
                // Retention splits its start events (B) only.
                let kept: Vec<TestEvent> = events
                    .iter()
                    .filter(|e| (analysis == "retention" && e.event_type != "B") || member(e))
                    .cloned()
                    .collect();
                answer(&kept, &base)
            }
            _ => {
                let conditions = match (group.other, properties) {
                    (false, _) => tuple_conditions(properties, &group.values),
                    (true, [(kind, name)]) => {
                        let texts: Vec<&String> =
                            tuples.iter().filter_map(|t| t[0].as_ref()).collect();
                        let mut conditions = Vec::new();
                        if !texts.is_empty() {
                            conditions.push(json!({"kind": kind, "property": name,
                                "op": "is_not", "values": texts}));
                        }
                        if tuples.iter().any(|t| t[0].is_none()) {
                            conditions.push(json!({"kind": kind, "property": name, "op": "set"}));
                        }
                        json!(conditions)
                    }
                    // "(other)" of two properties is no list of conditions.
                    (true, _) => continue,
                };
                let mut segmented = base.clone();
                segmented["segments"] = json!([{"where": conditions}]);
                only_segment(answer(events, &segmented))
            }
        };
        prop_assert_eq!(&group.result, &expected, "group {}", group.label());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(60))]

    #[test]
    fn groups_match_the_plain_analysis_of_their_events(
        events in prop::collection::vec(property_events(6, 96), 0..40),
        analysis in 0..ANALYSES.len(),
        properties in prop::sample::subsequence(PROPERTIES.to_vec(), 1..=2),
        limit in prop::option::of(1..=4usize),
    ) {
        check(&events, ANALYSES[analysis], &properties, limit)?;
    }
}

#[test]
fn segmentation_by_category_lists_top_groups_then_other() {
    let t = utc(2025, 3, 1, 9, 0, 0);
    let events = vec![
        ev(t, "A", "u1").category("Design"),
        ev(t + HOUR, "A", "u2").category("Design"),
        ev(t + 2 * HOUR, "A", "u3").category("Video"),
        ev(t + 3 * HOUR, "A", "u3").category("Writing"),
        ev(t + 4 * HOUR, "A", "u1"),
        // Another day and type: counted by the totals series, ranked as well.
        ev(t + 24 * HOUR, "B", "u4").category("Video"),
    ];
    let mut asked = plain("segmentation");
    asked["group_by"] = json!([{"kind": "event", "property": "category"}]);
    asked["group_limit"] = json!(2);
    let result = grouped(answer(&events, &asked));
    let summary: Vec<(String, u64)> = result
        .groups
        .iter()
        .map(|g| (g.label(), g.persons))
        .collect();
    // Design 2 persons, Video 2 (u3, u4): tie broken by value; Writing and (none) are "(other)":
    // u3 and u1.
    assert_eq!(
        summary,
        [
            ("Design".to_owned(), 2),
            ("Video".to_owned(), 2),
            ("(other)".to_owned(), 2)
        ]
    );
    let series = |r: &QueryResult, s: usize| match r {
        QueryResult::Segmentation(r) => (0..r.points.len())
            .map(|p| r.series[s].count(p))
            .collect::<Vec<_>>(),
        other => panic!("not a segmentation: {other:?}"),
    };
    // Uniques of A per day (Mar 1, 2, 3), totals of B.
    assert_eq!(series(&result.overall, 0), [3, 0, 0]);
    assert_eq!(series(&result.groups[0].result, 0), [2, 0, 0]);
    assert_eq!(series(&result.groups[1].result, 0), [1, 0, 0]);
    assert_eq!(series(&result.groups[1].result, 1), [0, 1, 0]);
    assert_eq!(series(&result.groups[2].result, 0), [2, 0, 0]);
    let csv = sluice_query::render_csv(&QueryResult::Groups(result.clone()));
    assert!(csv.starts_with("group,point,"), "{csv}");
    assert!(csv.contains("\n(all),2025-03-01,3,0\n"), "{csv}");
    assert!(csv.contains("\n(other),2025-03-01,2,0\n"), "{csv}");
    let table = sluice_query::render_table(&QueryResult::Groups(result));
    assert!(
        table.contains("== category: Video (2 persons) =="),
        "{table}"
    );
}

#[test]
fn retention_by_plan_splits_start_events_only() {
    let day = 24 * HOUR;
    let t = utc(2025, 3, 1, 9, 0, 0);
    let events = vec![
        // u1 starts on the free plan, returns (A) on day 1 with no plan on the event.
        ev(t, "B", "u1").plan("free"),
        ev(t + day, "A", "u1"),
        // u2 starts as pro, never returns; later starts as free on day 1 and returns on day 2.
        ev(t, "B", "u2").plan("pro"),
        ev(t + day, "B", "u2").plan("free"),
        ev(t + 2 * day, "A", "u2").plan("free"),
    ];
    let mut asked = plain("retention");
    asked["group_by"] = json!([{"kind": "user", "property": "plan"}]);
    let result = grouped(answer(&events, &asked));
    let cohorts = |r: &QueryResult| match r {
        QueryResult::Retention(r) => r
            .cohorts
            .iter()
            .map(|c| (c.persons, c.returned.clone()))
            .collect::<Vec<_>>(),
        other => panic!("not a retention: {other:?}"),
    };
    assert_eq!(result.groups.len(), 2);
    assert_eq!(result.groups[0].values, [Some("free".to_owned())]);
    // free: u1 on Mar 1 (back on day 1), u2 on Mar 2 (back on day 1 after it); nobody
    // returns on their start day.
    assert_eq!(
        cohorts(&result.groups[0].result),
        [(1, vec![0, 1, 0]), (1, vec![0, 1, 0]), (0, vec![0, 0, 0])]
    );
    // pro: u2 on Mar 1, back on day 2 (an A event of any plan counts as a return).
    assert_eq!(
        cohorts(&result.groups[1].result),
        [(1, vec![0, 0, 1]), (0, vec![0, 0, 0]), (0, vec![0, 0, 0])]
    );
}

#[test]
fn group_by_errors_name_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut asked = plain("lifecycle");
    asked["group_by"] = json!([
        {"kind": "event", "property": "category"},
        {"kind": "user", "property": "plan"},
        {"kind": "field", "property": "platform"}]);
    let e = run_any(dir.path(), &spec(&asked)).expect_err("three properties");
    assert_eq!(
        e.to_string(),
        "invalid query spec: group_by: at most 2 properties, got 3"
    );
    asked["group_by"] = json!([{"kind": "field", "property": "plat"}]);
    let e = run_any(dir.path(), &spec(&asked)).expect_err("unknown field");
    assert!(
        e.to_string().contains("group_by[0].property: \"plat\""),
        "{e}"
    );
    asked["group_by"] = json!([{"kind": "field", "property": "platform"}]);
    asked["group_limit"] = json!(101);
    let e = run_any(dir.path(), &spec(&asked)).expect_err("limit");
    assert!(
        e.to_string()
            .contains("group_limit: must be 1 to 100, got 101"),
        "{e}"
    );
    // No data yet: everyone's zero result and no groups.
    asked["group_limit"] = json!(3);
    let result = grouped(run_any(dir.path(), &spec(&asked)).expect("runs"));
    assert!(result.groups.is_empty());
}
