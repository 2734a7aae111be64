//! Paths: a plain reference (each person's events in order, walked from the first anchor)
//! compared with the engine on random datasets, plus a hand-computed case.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_query::QuerySpec;
use sluice_query::result::{PathsResult, QueryResult};

use crate::support::{TestEvent, ev, run_any, utc, write_dataset};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn paths(dir: &std::path::Path, value: Value) -> PathsResult {
    let spec = QuerySpec::from_json(&value.to_string()).expect("valid spec");
    match run_any(dir, &spec).expect("runs") {
        QueryResult::Paths(result) => result,
        other => panic!("not paths: {other:?}"),
    }
}

/// Path → persons.
fn reference(
    events: &[TestEvent],
    anchor: &str,
    (from, to): (i64, i64),
    before: bool,
    depth: usize,
    collapse: bool,
) -> BTreeMap<Vec<String>, u64> {
    let mut by_person: BTreeMap<&str, Vec<&TestEvent>> = BTreeMap::new();
    for e in events {
        // Counted events, read up to a day around the range.
        if e.event_type != "$identify" && e.ts >= from - DAY && e.ts <= to + DAY {
            by_person.entry(e.person()).or_default().push(e);
        }
    }
    let mut out = BTreeMap::new();
    for mut events in by_person.into_values() {
        events.sort_by(|a, b| (a.ts, &a.event_type).cmp(&(b.ts, &b.event_type)));
        let Some(start) = events
            .iter()
            .position(|e| e.event_type == anchor && e.ts >= from && e.ts <= to)
        else {
            continue;
        };
        let side: Vec<&TestEvent> = if before {
            events[..start].iter().rev().copied().collect()
        } else {
            events[start + 1..].to_vec()
        };
        let mut path = vec![anchor.to_owned()];
        for e in side {
            if path.len() == depth + 1 {
                break;
            }
            if collapse && path.last() == Some(&e.event_type) {
                continue;
            }
            path.push(e.event_type.clone());
        }
        if before {
            path.reverse();
        }
        *out.entry(path).or_default() += 1;
    }
    out
}

fn event_strategy() -> impl Strategy<Value = TestEvent> {
    (
        0..(6 * 24i64),
        prop_oneof![3 => Just(0i64), 1 => Just(1)],
        prop::sample::select(vec!["A", "B", "C", "$identify"]),
        0..6u8,
    )
        .prop_map(|(hour, jitter, kind, user)| {
            ev(
                utc(2025, 3, 1, 0, 0, 0) + hour * HOUR + jitter,
                kind,
                &format!("u{user}"),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn engine_matches_the_reference(
        events in prop::collection::vec(event_strategy(), 0..50),
        anchor in prop::sample::select(vec!["A", "B"]),
        before in any::<bool>(),
        depth in 1..4usize,
        collapse in any::<bool>(),
        from_day in 1..4u32,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        write_dataset(dir.path(), &events, 2);
        let day = format!("2025-03-{from_day:02}");
        let result = paths(dir.path(), json!({
            "version": 1, "analysis": "paths",
            "date_range": {"from": day, "to": day},
            "anchor": {"event_type": anchor},
            "direction": if before { "before" } else { "after" },
            "depth": depth, "collapse_repeats": collapse, "limit": 1000,
        }));
        let from = utc(2025, 3, from_day, 0, 0, 0);
        let expected = reference(&events, anchor, (from, from + DAY - 1), before, depth, collapse);
        let got: BTreeMap<Vec<String>, u64> = result.paths.iter()
            .map(|p| (p.events.clone(), p.persons)).collect();
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(result.persons, expected.values().sum::<u64>());
        let level0: u64 = result.nodes.iter().filter(|n| n.level == 0).map(|n| n.persons).sum();
        prop_assert_eq!(level0, result.persons);
    }
}

#[test]
fn paths_after_a_search_by_hand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = utc(2025, 1, 10, 9, 0, 0);
    let events = [
        ev(t, "Search", "u1"),
        ev(t + 1, "Search", "u1"),
        ev(t + 2, "View", "u1"),
        ev(t + 3, "Buy", "u1"),
        ev(t, "Search", "u2"),
        ev(t + 5, "View", "u2"),
        ev(t + 6, "Buy", "u2"),
        ev(t, "View", "u3"),
    ];
    write_dataset(dir.path(), &events, 1);
    let result = paths(
        dir.path(),
        json!({"version": 1, "analysis": "paths",
               "date_range": {"from": "2025-01-10", "to": "2025-01-10"},
               "anchor": {"event_type": "Search"}, "depth": 2, "collapse_repeats": true}),
    );
    assert_eq!(result.persons, 2);
    assert_eq!(result.paths.len(), 1);
    assert_eq!(result.paths[0].events, ["Search", "View", "Buy"]);
    assert_eq!(result.paths[0].persons, 2);
    assert_eq!(result.links.len(), 2);
    assert!(result.links.iter().all(|l| l.persons == 2));
}

#[test]
fn a_qualifying_anchor_precedes_same_type_events_of_its_millisecond() {
    let t = utc(2025, 1, 10, 9, 0, 0);
    let spec = json!({"version": 1, "analysis": "paths",
        "date_range": {"from": "2025-01-10", "to": "2025-01-10"},
        "anchor": {"event_type": "Search", "where": [
            {"kind": "event", "property": "category", "op": "is", "values": ["Design"]}]},
        "depth": 2});
    let plain = ev(t, "Search", "u1");
    let anchor = ev(t, "Search", "u1").category("Design");
    let view = ev(t + 1, "View", "u1");
    // Whichever row the file holds first: the anchor starts the path, the other search follows.
    for events in [
        [plain.clone(), anchor.clone(), view.clone()],
        [anchor.clone(), plain.clone(), view.clone()],
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        write_dataset(dir.path(), &events, 1);
        let result = paths(dir.path(), spec.clone());
        assert_eq!(result.paths.len(), 1);
        assert_eq!(result.paths[0].events, ["Search", "Search", "View"]);
    }
}
