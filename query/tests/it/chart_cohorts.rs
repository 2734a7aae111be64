//! "Create cohort from this chart point" for retention cells and lifecycle bars: on random
//! events, a cohort saved from a cell (or bar) of a chart the engine drew has exactly the
//! persons that cell counts — its computed size equals the chart's number — in every
//! boundary mode, interval and method offered, in zones with a clock change.

use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_query::cohort::spec::LifecycleState;
use sluice_query::result::QueryResult;
use sluice_query::spec::{LifecycleSpec, RetentionSpec};
use sluice_query::{QueryEngine, QuerySpec};

use crate::support::{TestEvent, block_on, ev, utc, write_dataset};

const HOUR: i64 = 3_600_000;
/// After every event: the cohorts read all of them, as the charts do.
const AS_OF: &str = "2025-04-30";

fn run(engine: &QueryEngine, spec: &Value) -> QueryResult {
    let spec = QuerySpec::from_json(&spec.to_string()).expect("valid spec");
    block_on(engine.run(&spec)).expect("runs")
}

/// The size of the saved cohort `name`, computed after every event.
fn size(engine: &QueryEngine, name: &str) -> u64 {
    let (run, result) =
        block_on(engine.compute_cohort(name, Some(AS_OF.to_owned()), None)).expect("computed");
    assert_eq!(run.size, result.size);
    run.size
}

fn event_strategy() -> impl Strategy<Value = TestEvent> {
    (
        0..(24 * 6i64),
        prop_oneof![3 => Just(0i64), 1 => Just(-1), 1 => Just(HOUR / 2)],
        prop::sample::select(vec!["A", "B", "C", "$identify"]),
        0..6u8,
        any::<bool>(),
    )
        .prop_map(|(slot, jitter, kind, user, pro)| {
            // 2025-02-24 .. 2025-03-31, every 6 hours: New York's clock change on 2025-03-09
            // and a month end.
            let ts = utc(2025, 2, 24, 0, 0, 0) + slot * 6 * HOUR + jitter;
            let mut e = ev(ts, kind, &format!("u{user}"));
            if pro {
                e.plan = Some("pro".to_owned());
            }
            e
        })
}

fn retention_strategy() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["A", "_all", "_new"]),
        any::<bool>(),
        prop::sample::select(vec!["B", "_all"]),
        any::<bool>(),
        prop::sample::select(vec!["day", "week"]),
        any::<bool>(),
        prop::sample::select(vec!["2025-03-02", "2025-03-05", "2025-03-08"]),
    )
        .prop_map(|(start, pro, ret, calendar, interval, brackets, from)| {
            let mut start = json!({"event_type": start});
            if pro {
                start["where"] = json!([{"kind": "user", "property": "plan", "op": "is",
                                         "values": ["pro"]}]);
            }
            let days = if interval == "day" { 5 } else { 16 };
            let from_date = chrono::NaiveDate::parse_from_str(from, "%Y-%m-%d").expect("date");
            let to = from_date + chrono::Days::new(days);
            let mut spec = json!({"version": 1, "analysis": "retention", "project": "p1",
                "date_range": {"from": from, "to": to.to_string()},
                "start_event": start, "return_event": {"event_type": ret},
                "boundaries": if calendar { "calendar" } else { "rolling" },
                "interval": interval, "periods": 3});
            if brackets {
                spec["method"] = json!({"brackets": [[0, 2], [1, 4], [3, 4]]});
            }
            spec
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn a_cohort_from_a_retention_cell_has_the_cells_persons(
        events in prop::collection::vec(event_strategy(), 0..80),
        mut spec in retention_strategy(),
        row in 0..4usize,
        column in 0..4usize,
        new_york in any::<bool>(),
    ) {
        spec["time_zone"] = json!(if new_york { "America/New_York" } else { "Asia/Seoul" });
        let dir = tempfile::tempdir().expect("tempdir");
        write_dataset(dir.path(), &events, 2);
        let engine = QueryEngine::new(dir.path());
        let QueryResult::Retention(chart) = run(&engine, &spec) else {
            panic!("not a retention");
        };
        let retention: RetentionSpec =
            serde_json::from_value(without_analysis(&spec)).expect("a retention spec");
        let cell = &chart.cohorts[row % chart.cohorts.len()];
        let column = column % chart.columns.len();
        for returned in [true, false] {
            let name = if returned { "returned" } else { "not-returned" };
            engine
                .cohort_from_retention(name, &retention, &cell.period, column, returned, None)
                .expect("saved");
            let want = if returned {
                cell.returned[column]
            } else {
                cell.persons - cell.returned[column]
            };
            prop_assert_eq!(size(&engine, name), want, "{} of {:?}", name, cell);
        }
    }

    #[test]
    fn a_cohort_from_a_lifecycle_bar_has_the_bars_persons(
        events in prop::collection::vec(event_strategy(), 0..80),
        event in prop::sample::select(vec!["A", "_all"]),
        interval in prop::sample::select(vec!["day", "week", "month"]),
        point in 0..8usize,
        new_york in any::<bool>(),
    ) {
        let spec = json!({"version": 1, "analysis": "lifecycle", "project": "p1",
            "date_range": {"from": "2025-03-01", "to": "2025-03-20"},
            "time_zone": if new_york { "America/New_York" } else { "Asia/Seoul" },
            "interval": interval, "event": {"event_type": event}});
        let dir = tempfile::tempdir().expect("tempdir");
        write_dataset(dir.path(), &events, 2);
        let engine = QueryEngine::new(dir.path());
        let QueryResult::Lifecycle(chart) = run(&engine, &spec) else {
            panic!("not a lifecycle");
        };
        let lifecycle: LifecycleSpec =
            serde_json::from_value(without_analysis(&spec)).expect("a lifecycle spec");
        let bar = &chart.points[point % chart.points.len()];
        for (state, want) in [
            (LifecycleState::New, bar.new),
            (LifecycleState::Current, bar.current),
            (LifecycleState::Resurrected, bar.resurrected),
            (LifecycleState::Dormant, bar.dormant),
        ] {
            engine
                .cohort_from_lifecycle("bar", &lifecycle, &bar.period, state, None)
                .expect("saved");
            prop_assert_eq!(size(&engine, "bar"), want, "{:?} of {:?}", state, bar);
        }
    }
}

/// A chart spec's JSON without its `"analysis"` tag: the spec of that analysis.
fn without_analysis(spec: &Value) -> Value {
    let mut spec = spec.clone();
    if let Some(spec) = spec.as_object_mut() {
        spec.remove("analysis");
    }
    spec
}

#[test]
fn cells_the_cohort_cannot_match_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = QueryEngine::new(dir.path());
    let retention = |extra: Value| -> RetentionSpec {
        let mut spec = json!({"version": 1, "date_range": {"from": "2025-03-03", "to": "2025-03-09"},
            "start_event": {"event_type": "A"}, "return_event": {"event_type": "B"},
            "periods": 3});
        if let (Some(spec), Value::Object(extra)) = (spec.as_object_mut(), extra) {
            spec.extend(extra);
        }
        serde_json::from_value(spec).expect("a retention spec")
    };
    let error = |spec: RetentionSpec, cohort: &str, column: usize| {
        engine
            .cohort_from_retention("c", &spec, cohort, column, true, None)
            .expect_err("refused")
            .to_string()
    };
    let after = error(
        retention(json!({"method": "return_on_or_after"})),
        "2025-03-03",
        1,
    );
    assert!(after.contains("bracket [N, end)"), "{after}");
    let row = error(retention(json!({})), "2025-03-10", 1);
    assert!(row.contains("2025-03-03 to 2025-03-09"), "{row}");
    let column = error(retention(json!({})), "2025-03-03", 4);
    assert!(column.contains("columns 0 to 3"), "{column}");
    let two = error(
        retention(json!({"return_event": null,
                         "return_events": [{"event_type": "B"}, {"event_type": "C"}]})),
        "2025-03-03",
        1,
    );
    assert!(two.contains("one return event"), "{two}");
    let lifecycle: LifecycleSpec = serde_json::from_value(json!({"version": 1,
        "date_range": {"from": "2025-03-03", "to": "2025-03-09"}, "interval": "week",
        "event": {"event_type": "A"}}))
    .expect("a lifecycle spec");
    let bar = engine
        .cohort_from_lifecycle("c", &lifecycle, "2025-03-04", LifecycleState::New, None)
        .expect_err("refused")
        .to_string();
    assert!(bar.contains("2025-03-03 to 2025-03-03"), "{bar}");
    assert!(
        engine
            .cohort_from_lifecycle("c", &lifecycle, "2025-03-03", LifecycleState::New, None)
            .is_ok()
    );
}
