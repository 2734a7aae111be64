//! Lifecycle: a plain reference (per person, the periods they did the event in, by date
//! arithmetic) compared with the engine on random datasets, plus a hand-computed case.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Days, NaiveDate};
use chrono_tz::Tz;
use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_query::QuerySpec;
use sluice_query::result::{LifecycleResult, QueryResult};

use crate::retention::{local_date, period};
use crate::support::{TestEvent, ev, run_any, utc, write_dataset};

const HOUR: i64 = 3_600_000;
const ZONES: [&str; 3] = ["UTC", "Asia/Seoul", "America/New_York"];

fn lifecycle(dir: &std::path::Path, value: Value) -> LifecycleResult {
    let spec = QuerySpec::from_json(&value.to_string()).expect("valid spec");
    match run_any(dir, &spec).expect("runs") {
        QueryResult::Lifecycle(result) => result,
        other => panic!("not a lifecycle: {other:?}"),
    }
}

/// The first day of the period holding `date` (weeks start Monday).
fn period_start(date: NaiveDate, interval: &str) -> NaiveDate {
    match interval {
        "day" => date,
        "week" => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
        _ => date.with_day(1).expect("day 1"),
    }
}

/// Per reported period: [new, current, resurrected, dormant new, dormant current, dormant
/// resurrected].
fn reference(
    events: &[TestEvent],
    event: &str,
    from: NaiveDate,
    to: NaiveDate,
    tz: Tz,
    interval: &str,
) -> Vec<[u64; 6]> {
    let origin = period_start(from, interval);
    let reported = period(to, origin, interval) + 1;
    let counted = |e: &TestEvent| e.event_type != "$identify";
    let mut by_person: BTreeMap<&str, Vec<&TestEvent>> = BTreeMap::new();
    for e in events.iter().filter(|e| counted(e)) {
        let p = period(local_date(e.ts, tz), origin, interval);
        if p < reported {
            by_person.entry(e.person()).or_default().push(e);
        }
    }
    let mut out = vec![[0u64; 6]; reported as usize];
    for events in by_person.values() {
        let first = events.iter().min_by_key(|e| e.ts).expect("non-empty");
        let first_period = period(local_date(first.ts, tz), origin, interval);
        let did: BTreeSet<i64> = events
            .iter()
            .filter(|e| event == "_all" || e.event_type == event)
            .map(|e| period(local_date(e.ts, tz), origin, interval))
            .collect();
        // 0 new, 1 current, 2 resurrected
        let state = |k: i64| -> Option<usize> {
            if !did.contains(&k) {
                return None;
            }
            let did_before = did.iter().any(|&d| d < k);
            Some(if first_period == k || !did_before {
                0
            } else if did.contains(&(k - 1)) {
                1
            } else {
                2
            })
        };
        for k in 0..reported {
            let row = &mut out[k as usize];
            match state(k) {
                Some(s) => row[s] += 1,
                None => {
                    if let Some(s) = state(k - 1) {
                        row[3 + s] += 1;
                    }
                }
            }
        }
    }
    out
}

fn event_strategy() -> impl Strategy<Value = TestEvent> {
    (
        0..(50 * 8i64),
        prop_oneof![3 => Just(0i64), 1 => Just(-1), 1 => Just(HOUR / 2)],
        prop::sample::select(vec!["A", "B", "$identify"]),
        0..8u8,
    )
        .prop_map(|(slot, jitter, kind, user)| {
            // 2025-02-10 .. 2025-04-01 UTC, every 3 hours.
            let ts = utc(2025, 2, 10, 0, 0, 0) + slot * 3 * HOUR + jitter;
            ev(ts, kind, &format!("u{user}"))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn engine_matches_the_reference(
        events in prop::collection::vec(event_strategy(), 0..60),
        zone in 0..3usize,
        interval in prop::sample::select(vec!["day", "week", "month"]),
        event in prop::sample::select(vec!["A", "_all"]),
        from_day in 0..30u64,
        days in 1..20u64,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let tz: Tz = ZONES[zone].parse().expect("zone");
        write_dataset(dir.path(), &events, 2);
        let from = NaiveDate::from_ymd_opt(2025, 2, 14).expect("date") + Days::new(from_day);
        let to = from + Days::new(days - 1);
        let result = lifecycle(dir.path(), json!({
            "version": 1, "analysis": "lifecycle",
            "date_range": {"from": from.to_string(), "to": to.to_string()},
            "time_zone": ZONES[zone], "interval": interval, "event": {"event_type": event},
        }));
        let expected = reference(&events, event, from, to, tz, interval);
        let got: Vec<[u64; 6]> = result.points.iter().map(|p| [
            p.new, p.current, p.resurrected, p.dormant_new, p.dormant_current,
            p.dormant_resurrected,
        ]).collect();
        prop_assert_eq!(&got, &expected);
        prop_assert!(result.points.iter().all(|p| p.dormant
            == p.dormant_new + p.dormant_current + p.dormant_resurrected));
    }
}

#[test]
fn daily_lifecycle_by_hand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let day = |d: u32| utc(2025, 1, d, 12, 0, 0);
    let events = [
        // u1: active Jan 1 (new), Jan 2 (current), away Jan 3 (dormant current), back Jan 4.
        ev(day(1), "View", "u1"),
        ev(day(2), "View", "u1"),
        ev(day(4), "View", "u1"),
        // u2: first event Dec 20, views on Jan 2: resurrected? No — never viewed before, so new
        // to the event. Then dormant new on Jan 3.
        ev(utc(2024, 12, 20, 9, 0, 0), "Buy", "u2"),
        ev(day(2), "View", "u2"),
        // u3: viewed Dec 25, back Jan 3: resurrected.
        ev(utc(2024, 12, 25, 9, 0, 0), "View", "u3"),
        ev(day(3), "View", "u3"),
    ];
    write_dataset(dir.path(), &events, 1);
    let result = lifecycle(
        dir.path(),
        json!({"version": 1, "analysis": "lifecycle",
               "date_range": {"from": "2025-01-02", "to": "2025-01-04"},
               "event": {"event_type": "View"}}),
    );
    let rows: Vec<(&str, u64, u64, u64, u64)> = result
        .points
        .iter()
        .map(|p| {
            (
                p.period.as_str(),
                p.new,
                p.current,
                p.resurrected,
                p.dormant,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("2025-01-02", 1, 1, 0, 0),
            ("2025-01-03", 0, 0, 1, 2),
            ("2025-01-04", 0, 0, 1, 1),
        ]
    );
    assert_eq!(result.points[1].dormant_current, 1);
    assert_eq!(result.points[1].dormant_new, 1);
    assert_eq!(result.points[1].pulse, Some(0.5));
}
