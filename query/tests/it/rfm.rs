//! RFM: a plain reference (recency in whole days to the range's end, purchases, revenue; each
//! score `1 + ⌊5 · worse / buyers⌋`; the documented segment rules) compared with the engine on
//! random purchases — the analysis's segments and grid, and the cohort condition's members —
//! plus a hand-computed case.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_query::QuerySpec;
use sluice_query::result::QueryResult;
use sluice_query::rfm::RfmResult;

use crate::support::{TestEvent, ev, run_any, utc, write_dataset};

const DAY: i64 = 86_400_000;

/// Range 2025-03-01 .. 2025-03-31 (UTC); its last instant.
fn end() -> i64 {
    utc(2025, 4, 1, 0, 0, 0) - 1
}

fn rfm(events: &[TestEvent]) -> RfmResult {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), events, 2);
    let spec = json!({"version": 1, "analysis": "rfm", "project": "p1",
                      "date_range": {"from": "2025-03-01", "to": "2025-03-31"},
                      "revenue_event": {"event_type": "Purchase"}, "revenue_property": "amount"});
    match run_any(
        dir.path(),
        &QuerySpec::from_json(&spec.to_string()).expect("spec"),
    ) {
        Ok(QueryResult::Rfm(result)) => result,
        other => panic!("{other:?}"),
    }
}

fn cohort_of(events: &[TestEvent], segment: &str) -> BTreeSet<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), events, 2);
    let spec = json!({"version": 1, "analysis": "cohort", "project": "p1", "as_of": "2025-03-31",
        "limit": 1000,
        "definition": {"rfm": {"segment": segment, "revenue_event": {"event_type": "Purchase"},
                               "revenue_property": "amount",
                               "during": {"from": "2025-03-01", "to": "2025-03-31"}}}});
    match run_any(
        dir.path(),
        &QuerySpec::from_json(&spec.to_string()).expect("spec"),
    ) {
        Ok(QueryResult::Cohort(result)) => result
            .members
            .iter()
            .filter_map(|m| m.user_id.clone())
            .collect(),
        other => panic!("{other:?}"),
    }
}

/// The reference's scores and segment of every buyer.
fn reference(events: &[TestEvent]) -> BTreeMap<String, (u8, u8, &'static str, f64)> {
    let from = utc(2025, 3, 1, 0, 0, 0);
    let mut buyers: BTreeMap<String, (i64, u64, f64)> = BTreeMap::new();
    for e in events {
        if e.event_type != "Purchase" || e.ts < from || e.ts > end() {
            continue;
        }
        let b = buyers
            .entry(e.person().to_owned())
            .or_insert((i64::MIN, 0, 0.0));
        b.0 = b.0.max(e.ts);
        b.1 += 1;
        b.2 += e.amount.unwrap_or(0.0);
    }
    let n = buyers.len();
    let score = |worse: usize| (1 + 5 * worse / n) as u8;
    let recency = |b: &(i64, u64, f64)| (end() - b.0) / DAY;
    buyers
        .iter()
        .map(|(person, b)| {
            let r = score(buyers.values().filter(|o| recency(o) > recency(b)).count());
            let f = score(buyers.values().filter(|o| o.1 < b.1).count());
            let m = score(buyers.values().filter(|o| o.2 < b.2).count());
            let fm = (f + m).div_ceil(2);
            let segment = if r >= 4 && fm >= 4 {
                "champions"
            } else if r >= 4 && f == 1 {
                "new_customers"
            } else if r >= 3 && fm >= 3 {
                "loyal"
            } else if r >= 3 {
                "potential_loyalists"
            } else if r == 1 && fm >= 4 {
                "cant_lose_them"
            } else if fm >= 3 {
                "at_risk"
            } else if r == 2 {
                "about_to_sleep"
            } else if fm == 2 {
                "hibernating"
            } else {
                "lost"
            };
            (person.clone(), (r, f, segment, b.2))
        })
        .collect()
}

fn event_strategy() -> impl Strategy<Value = TestEvent> {
    (
        0..12u8,
        0..40i64,
        prop::sample::select(vec!["Purchase", "Purchase", "View"]),
        prop::option::of(1..5u32),
    )
        .prop_map(|(user, day, kind, amount)| {
            // Days from 2025-02-25 (before the range) to 2025-04-05 (after it).
            let mut e = ev(
                utc(2025, 2, 25, 12, 0, 0) + day * DAY,
                kind,
                &format!("u{user}"),
            );
            e.amount = amount.map(|a| f64::from(a * 10));
            e
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(60))]

    #[test]
    fn rfm_matches_the_reference(
        events in prop::collection::vec(event_strategy(), 0..60),
        segment in prop::sample::select(vec!["champions", "new_customers", "loyal",
            "potential_loyalists", "cant_lose_them", "at_risk", "about_to_sleep",
            "hibernating", "lost"]),
    ) {
        let want = reference(&events);
        let result = rfm(&events);
        prop_assert_eq!(result.buyers, want.len() as u64);
        let got: BTreeMap<String, (u64, f64)> = result.segments.iter()
            .map(|s| {
                let name = serde_json::to_value(s.segment).expect("json");
                (name.as_str().expect("name").to_owned(), (s.persons, s.revenue))
            })
            .collect();
        for (name, (persons, revenue)) in &got {
            let mine: Vec<_> = want.values().filter(|w| w.2 == name).collect();
            prop_assert_eq!(*persons, mine.len() as u64, "{}", name);
            let total: f64 = mine.iter().map(|w| w.3).sum();
            prop_assert!((revenue - total).abs() < 1e-9, "{name}: {revenue} vs {total}");
        }
        let mut grid = vec![vec![0u64; 5]; 5];
        for (r, f, _, _) in want.values() {
            grid[usize::from(*r) - 1][usize::from(*f) - 1] += 1;
        }
        prop_assert_eq!(result.grid, grid);
        let members: BTreeSet<String> = want.iter()
            .filter(|(_, w)| w.2 == segment)
            .map(|(p, _)| p.clone())
            .collect();
        prop_assert_eq!(cohort_of(&events, segment), members);
    }
}

#[test]
fn five_buyers_by_hand() {
    // Last purchases 0, 2, 5, 10 and 20 days before the end; 1, 3, 2, 5, 1 purchases.
    let at = |days: i64| end() - days * DAY - 1000;
    let mut events = Vec::new();
    for (user, days, purchases, amount) in [
        ("a", 0, 1, 10.0),
        ("b", 2, 3, 100.0),
        ("c", 5, 2, 30.0),
        ("d", 10, 5, 500.0),
        ("e", 20, 1, 5.0),
    ] {
        for i in 0..purchases {
            events.push(ev(at(days + i), "Purchase", user).amount(amount / purchases as f64));
        }
    }
    let result = rfm(&events);
    assert_eq!(result.buyers, 5);
    let segment_of = |name: &str| -> Vec<String> { cohort_of(&events, name).into_iter().collect() };
    // Scores (R, F, M): a (5, 1, 2), b (4, 4, 4), c (3, 3, 3), d (2, 5, 5), e (1, 1, 1).
    assert_eq!(segment_of("new_customers"), ["a"]);
    assert_eq!(segment_of("champions"), ["b"]);
    assert_eq!(segment_of("loyal"), ["c"]);
    assert_eq!(segment_of("at_risk"), ["d"]);
    assert_eq!(segment_of("lost"), ["e"]);
    let row = |name: &str| -> Value {
        let rows = serde_json::to_value(&result.segments).expect("json");
        rows.as_array()
            .expect("rows")
            .iter()
            .find(|r| r["segment"] == name)
            .cloned()
            .expect("segment")
    };
    assert_eq!(row("at_risk")["persons"], 1);
    assert_eq!(row("at_risk")["revenue"], 500.0);
    assert_eq!(row("at_risk")["frequency"], 5.0);
    assert_eq!(row("hibernating")["persons"], 0);
    assert_eq!(row("hibernating")["monetary"], Value::Null);
}
