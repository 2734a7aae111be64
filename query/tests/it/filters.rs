//! `where` conditions and segments: each condition is also evaluated by a plain Rust predicate
//! (`holds`), and the engine's answer with the condition must equal its answer without it over
//! the dataset the predicate filtered — for segmentation and stickiness (a segment applies to
//! every counted event), a funnel step (its own type only) and a retention start event. Plus
//! hand-computed cases for each operator, segments side by side and paths anchors.

use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_query::QuerySpec;
use sluice_query::result::QueryResult;

use crate::support::{TestEvent, ev, run_any, utc, write_dataset};

const HOUR: i64 = 3_600_000;
const CATEGORIES: [Option<&str>; 6] = [
    None,
    Some("Design"),
    Some("design tools"),
    Some("10"),
    Some("9.5"),
    Some("Video"),
];
const PLANS: [Option<&str>; 3] = [None, Some("free"), Some("pro")];
const PLATFORMS: [Option<&str>; 4] = [None, Some("iOS"), Some("Android"), Some("Web")];

fn spec(value: &Value) -> QuerySpec {
    QuerySpec::from_json(&value.to_string()).expect("valid spec")
}

/// A condition as the test knows it: JSON for the spec, and the parts for `holds`.
#[derive(Debug, Clone)]
struct Cond {
    kind: &'static str,
    property: &'static str,
    op: &'static str,
    values: Vec<Value>,
}

impl Cond {
    fn json(&self) -> Value {
        json!({"kind": self.kind, "property": self.property, "op": self.op,
               "values": self.values})
    }

    /// The value of the event the condition reads.
    fn value<'a>(&self, e: &'a TestEvent) -> Option<&'a str> {
        match self.property {
            "category" => e.category.as_deref(),
            "plan" => e.plan.as_deref(),
            _ => e.platform.as_deref(),
        }
    }

    /// The plain predicate, from the documented semantics.
    fn holds(&self, e: &TestEvent) -> bool {
        let value = self.value(e);
        let number = value.and_then(|v| v.trim().parse::<f64>().ok());
        let is = |v: &str| {
            self.values.iter().any(|want| match want {
                Value::String(text) => text == v,
                Value::Number(n) => number == n.as_f64(),
                _ => false,
            })
        };
        let contains = |v: &str| {
            self.values.iter().any(|want| {
                let needle = want.as_str().expect("text").to_lowercase();
                v.to_lowercase().contains(&needle)
            })
        };
        let limit = || self.values[0].as_f64().expect("number");
        match self.op {
            "is" => value.is_some_and(is),
            "is_not" => !value.is_some_and(is),
            "contains" => value.is_some_and(contains),
            "does_not_contain" => !value.is_some_and(contains),
            "less" => number.is_some_and(|n| n < limit()),
            "greater_or_equal" => number.is_some_and(|n| n >= limit()),
            "set" => value.is_some(),
            _ => value.is_none(),
        }
    }
}

fn cond_strategy() -> impl Strategy<Value = Cond> {
    let property = prop::sample::select(vec![
        ("event", "category"),
        ("user", "plan"),
        ("field", "platform"),
    ]);
    let op = prop::sample::select(vec![
        "is",
        "is_not",
        "contains",
        "does_not_contain",
        "less",
        "greater_or_equal",
        "set",
        "not_set",
    ]);
    let texts = prop::sample::subsequence(
        vec!["Design", "design", "iOS", "pro", "10", "Video", "zzz"],
        1..=3,
    );
    (property, op, texts, 0..4usize).prop_map(|((kind, property), op, texts, n)| {
        let numbers = [9.0, 9.5, 10.0, 11.0];
        let values = match op {
            "set" | "not_set" => Vec::new(),
            "less" | "greater_or_equal" => vec![json!(numbers[n])],
            // `is` also with a number, compared numerically.
            "is" if n == 0 => vec![json!(10)],
            _ => texts.into_iter().map(|t| json!(t)).collect(),
        };
        Cond {
            kind,
            property,
            op,
            values,
        }
    })
}

fn event_strategy() -> impl Strategy<Value = TestEvent> {
    property_events(5, 72)
}

/// Events of `users` users at whole hours of the `hours` hours from 2025-03-01 UTC, of types A,
/// B, C, with random categories, plans and platforms (each sometimes absent).
pub(crate) fn property_events(users: u8, hours: i64) -> impl Strategy<Value = TestEvent> {
    (
        0..users,
        0..hours,
        prop::sample::select(vec!["A", "B", "C"]),
        0..CATEGORIES.len(),
        0..PLANS.len(),
        0..PLATFORMS.len(),
    )
        .prop_map(|(user, hour, kind, c, p, f)| {
            let mut e = ev(
                utc(2025, 3, 1, 0, 0, 0) + hour * HOUR,
                kind,
                &format!("u{user}"),
            );
            e.category = CATEGORIES[c].map(str::to_owned);
            e.plan = PLANS[p].map(str::to_owned);
            e.platform = PLATFORMS[f].map(str::to_owned);
            e
        })
}

/// Runs `value` over `events` written to a fresh directory.
fn answer(events: &[TestEvent], value: &Value) -> QueryResult {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), events, 2);
    run_any(dir.path(), &spec(value)).expect("runs")
}

/// The one segment's result of a compared query.
fn only_segment(result: QueryResult) -> QueryResult {
    match result {
        QueryResult::Segments(mut compared) => {
            assert_eq!(compared.segments.len(), 1);
            compared.segments.remove(0).result
        }
        other => panic!("not segments: {other:?}"),
    }
}

const RANGE: (&str, &str) = ("2025-03-01", "2025-03-03");

proptest! {
    #![proptest_config(ProptestConfig::with_cases(120))]

    #[test]
    fn a_segment_counts_what_the_predicate_keeps(
        events in prop::collection::vec(event_strategy(), 0..40),
        cond in cond_strategy(),
    ) {
        let kept: Vec<TestEvent> = events.iter().filter(|e| cond.holds(e)).cloned().collect();
        let segmentation = json!({
            "version": 1, "analysis": "segmentation",
            "date_range": {"from": RANGE.0, "to": RANGE.1},
            "events": [{"event_type": "A"}, {"event_type": "_all", "measure": "totals"}],
        });
        let mut segmented = segmentation.clone();
        segmented["segments"] = json!([{"where": [cond.json()]}]);
        prop_assert_eq!(only_segment(answer(&events, &segmented)), answer(&kept, &segmentation));

        let stickiness = json!({
            "version": 1, "analysis": "stickiness",
            "date_range": {"from": RANGE.0, "to": RANGE.1},
            "event": {"event_type": "B", "where": [cond.json()]},
        });
        let mut plain = stickiness.clone();
        plain["event"] = json!({"event_type": "B"});
        prop_assert_eq!(answer(&events, &stickiness), answer(&kept, &plain));
    }

    #[test]
    fn a_step_or_start_condition_drops_only_its_events(
        events in prop::collection::vec(event_strategy(), 0..40),
        cond in cond_strategy(),
    ) {
        // Events of type B failing the condition are as good as absent for a step or a start
        // event of type B (no other step or return event is of type B).
        let kept: Vec<TestEvent> = events
            .iter()
            .filter(|e| e.event_type != "B" || cond.holds(e))
            .cloned()
            .collect();
        let funnel = |step_where: Option<Value>| {
            let mut second = json!({"event_type": "B"});
            if let Some(w) = step_where {
                second["where"] = w;
            }
            json!({
                "version": 1, "analysis": "funnel",
                "date_range": {"from": RANGE.0, "to": RANGE.1},
                "steps": [{"event_type": "A"}, second, {"event_type": "C"}],
                "conversion_window": {"value": 2, "unit": "day"},
                "breakdown": {"kind": "event", "property": "category"},
            })
        };
        prop_assert_eq!(
            answer(&events, &funnel(Some(json!([cond.json()])))),
            answer(&kept, &funnel(None))
        );
        let retention = |start_where: Option<Value>| {
            let mut start = json!({"event_type": "B"});
            if let Some(w) = start_where {
                start["where"] = w;
            }
            json!({
                "version": 1, "analysis": "retention",
                "date_range": {"from": RANGE.0, "to": RANGE.1},
                "start_event": start, "return_event": {"event_type": "A"},
                "boundaries": "calendar", "periods": 2,
            })
        };
        let with = answer(&events, &retention(Some(json!([cond.json()]))));
        prop_assert_eq!(with, answer(&kept, &retention(None)));
    }
}

#[test]
fn segments_compare_side_by_side_and_apply_to_step_one() {
    let t = utc(2025, 3, 1, 10, 0, 0);
    // u1 views on iOS and buys on web; u2 views on Android and buys on Android.
    let events = [
        ev(t, "View", "u1").platform("iOS"),
        ev(t + HOUR, "Buy", "u1").platform("Web"),
        ev(t, "View", "u2").platform("Android"),
        ev(t + HOUR, "Buy", "u2").platform("Android"),
        ev(t, "View", "u3").platform("iOS"),
    ];
    let result = answer(
        &events,
        &json!({
            "version": 1, "analysis": "funnel",
            "date_range": {"from": "2025-03-01", "to": "2025-03-01"},
            "steps": [{"event_type": "View"}, {"event_type": "Buy"}],
            "segments": [
                {"name": "iOS", "where": [{"kind": "field", "property": "platform",
                                          "op": "is", "values": ["iOS"]}]},
                {"name": "everyone"},
                {"where": [{"kind": "field", "property": "platform", "op": "is_not",
                            "values": ["iOS"]}]},
            ],
        }),
    );
    let QueryResult::Segments(compared) = result else {
        panic!("not segments: {result:?}");
    };
    let summary: Vec<(String, Vec<u64>)> = compared
        .segments
        .iter()
        .map(|s| match &s.result {
            QueryResult::Funnel(f) => (
                s.name.clone(),
                f.overall.steps.iter().map(|c| c.persons).collect(),
            ),
            other => panic!("not a funnel: {other:?}"),
        })
        .collect();
    // The segment holds at step 1 only: u1 bought on the web and still converts as iOS.
    assert_eq!(
        summary,
        [
            ("iOS".to_owned(), vec![2, 1]),
            ("everyone".to_owned(), vec![3, 2]),
            ("segment 3".to_owned(), vec![1, 1]),
        ]
    );
}

#[test]
fn operators_on_text_numbers_and_absent_values() {
    let t = utc(2025, 3, 1, 10, 0, 0);
    let events = [
        ev(t, "View", "u1").category("Design"),
        ev(t, "View", "u2").category("design tools"),
        ev(t, "View", "u3").category("10"),
        ev(t, "View", "u4").category("9.5"),
        ev(t, "View", "u5"),
    ];
    let count = |cond: Value| {
        let result = answer(
            &events,
            &json!({"version": 1, "analysis": "segmentation",
                    "date_range": {"from": "2025-03-01", "to": "2025-03-01"},
                    "events": [{"event_type": "View", "where": [cond]}]}),
        );
        match result {
            QueryResult::Segmentation(s) => s.series[0].count(0),
            other => panic!("not a segmentation: {other:?}"),
        }
    };
    let c = |op: &str, values: Value| {
        count(json!({"kind": "event", "property": "category", "op": op, "values": values}))
    };
    assert_eq!(
        c("is", json!(["Design"])),
        1,
        "text is exact, case included"
    );
    assert_eq!(c("is", json!([10.0])), 1, "numbers compare as numbers");
    assert_eq!(
        c("is_not", json!(["Design", "10"])),
        3,
        "absent counts as not"
    );
    assert_eq!(c("contains", json!(["DESIGN"])), 2, "contains ignores case");
    assert_eq!(c("does_not_contain", json!(["design"])), 3);
    assert_eq!(
        c("less", json!([10])),
        1,
        "text that is no number never compares"
    );
    assert_eq!(c("greater_or_equal", json!(["9.5"])), 2);
    assert_eq!(c("set", json!([])), 4);
    assert_eq!(c("not_set", json!([])), 1);
}

#[test]
fn a_paths_anchor_condition_picks_the_first_qualifying_anchor() {
    let t = utc(2025, 3, 1, 10, 0, 0);
    let events = [
        ev(t, "Search", "u1").category("Video"),
        ev(t + 1_000, "View", "u1"),
        ev(t + 2_000, "Search", "u1").category("Design"),
        ev(t + 3_000, "Buy", "u1"),
    ];
    let result = answer(
        &events,
        &json!({"version": 1, "analysis": "paths",
                "date_range": {"from": "2025-03-01", "to": "2025-03-01"},
                "anchor": {"event_type": "Search", "where": [
                    {"kind": "event", "property": "category", "op": "is", "values": ["Design"]}]},
                "depth": 2}),
    );
    let QueryResult::Paths(paths) = result else {
        panic!("not paths: {result:?}");
    };
    assert_eq!(paths.persons, 1);
    assert_eq!(paths.paths[0].events, ["Search", "Buy"]);
    // Looking back, the earlier non-qualifying Search is an ordinary step of the path.
    let back = answer(
        &events,
        &json!({"version": 1, "analysis": "paths",
                "date_range": {"from": "2025-03-01", "to": "2025-03-01"},
                "anchor": {"event_type": "Search", "where": [
                    {"kind": "event", "property": "category", "op": "is", "values": ["Design"]}]},
                "direction": "before", "depth": 2}),
    );
    let QueryResult::Paths(back) = back else {
        panic!("not paths: {back:?}");
    };
    assert_eq!(back.paths[0].events, ["Search", "View", "Search"]);
}

#[test]
fn condition_and_segment_errors_name_the_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = |value: Value| {
        run_any(dir.path(), &spec(&value))
            .expect_err("invalid")
            .to_string()
    };
    let base = || {
        json!({"version": 1, "analysis": "segmentation",
               "date_range": {"from": "2025-03-01", "to": "2025-03-01"},
               "events": [{"event_type": "View"}]})
    };
    let mut bad_op_values = base();
    bad_op_values["events"][0]["where"] =
        json!([{"kind": "event", "property": "price", "op": "less", "values": ["cheap"]}]);
    assert!(err(bad_op_values).contains("events[0].where[0]: \"less\": \"cheap\" is not a number"));
    let mut too_many = base();
    too_many["segments"] = json!(vec![json!({}); 11]);
    assert!(err(too_many).contains("at most 10 segments"));
    let mut unknown_field = base();
    unknown_field["segments"] = json!([{"where": [
        {"kind": "field", "property": "platfrom", "op": "set"}]}]);
    assert!(err(unknown_field).contains("segments[0].where[0]: \"platfrom\" is not a top-level"));
}
