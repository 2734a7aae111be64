//! Stickiness: a plain reference (each person's distinct local dates per week or month)
//! compared with the engine on random datasets, plus a hand-computed case.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Days, NaiveDate};
use chrono_tz::Tz;
use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_query::QuerySpec;
use sluice_query::result::{QueryResult, StickinessResult};

use crate::retention::local_date;
use crate::support::{TestEvent, ev, run_any, utc, write_dataset};

const HOUR: i64 = 3_600_000;
const ZONES: [&str; 3] = ["UTC", "Asia/Seoul", "America/New_York"];

fn stickiness(dir: &std::path::Path, value: Value) -> StickinessResult {
    let spec = QuerySpec::from_json(&value.to_string()).expect("valid spec");
    match run_any(dir, &spec).expect("runs") {
        QueryResult::Stickiness(result) => result,
        other => panic!("not a stickiness: {other:?}"),
    }
}

/// The label of the week (Monday) or month holding `date`.
fn period_of(date: NaiveDate, interval: &str) -> NaiveDate {
    match interval {
        "week" => date - Days::new(u64::from(date.weekday().num_days_from_monday())),
        _ => date.with_day(1).expect("day 1"),
    }
}

/// Per period label: persons by exact number of days (index n - 1).
fn reference(
    events: &[TestEvent],
    event: &str,
    from: NaiveDate,
    to: NaiveDate,
    tz: Tz,
    interval: &str,
) -> BTreeMap<String, BTreeMap<usize, u64>> {
    let (first, last) = (period_of(from, interval), period_of(to, interval));
    let mut days: BTreeMap<(NaiveDate, &str), BTreeSet<NaiveDate>> = BTreeMap::new();
    for e in events {
        let wanted = match event {
            "_all" => e.event_type != "$identify",
            name => e.event_type == name,
        };
        let date = local_date(e.ts, tz);
        let period = period_of(date, interval);
        if wanted && period >= first && period <= last {
            days.entry((period, e.person())).or_default().insert(date);
        }
    }
    let mut out: BTreeMap<String, BTreeMap<usize, u64>> = BTreeMap::new();
    for ((period, _), dates) in days {
        *out.entry(period.to_string())
            .or_default()
            .entry(dates.len())
            .or_default() += 1;
    }
    out
}

fn event_strategy() -> impl Strategy<Value = TestEvent> {
    (
        0..(45 * 6i64),
        prop_oneof![3 => Just(0i64), 1 => Just(-1), 1 => Just(HOUR / 2)],
        prop::sample::select(vec!["A", "B", "$identify"]),
        0..6u8,
    )
        .prop_map(|(slot, jitter, kind, user)| {
            let ts = utc(2025, 2, 20, 0, 0, 0) + slot * 4 * HOUR + jitter;
            ev(ts, kind, &format!("u{user}"))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn engine_matches_the_reference(
        events in prop::collection::vec(event_strategy(), 0..80),
        zone in 0..3usize,
        interval in prop::sample::select(vec!["week", "month"]),
        event in prop::sample::select(vec!["A", "_all"]),
        from_day in 0..30u64,
        days in 1..20u64,
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let tz: Tz = ZONES[zone].parse().expect("zone");
        write_dataset(dir.path(), &events, 2);
        let from = NaiveDate::from_ymd_opt(2025, 2, 22).expect("date") + Days::new(from_day);
        let to = from + Days::new(days - 1);
        let result = stickiness(dir.path(), json!({
            "version": 1, "analysis": "stickiness",
            "date_range": {"from": from.to_string(), "to": to.to_string()},
            "time_zone": ZONES[zone], "interval": interval, "event": {"event_type": event},
        }));
        let expected = reference(&events, event, from, to, tz, interval);
        let got: BTreeMap<String, BTreeMap<usize, u64>> = result.periods.iter()
            .filter(|p| p.persons > 0)
            .map(|p| (p.period.clone(), p.exactly.iter().enumerate()
                .filter(|&(_, &n)| n > 0).map(|(i, &n)| (i + 1, n)).collect()))
            .collect();
        prop_assert_eq!(&got, &expected);
        for p in &result.periods {
            prop_assert_eq!(p.at_least[0], p.persons);
            prop_assert_eq!(p.exactly.iter().sum::<u64>(), p.persons);
        }
    }
}

#[test]
fn weekly_stickiness_by_hand() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 2025-01-06 is a Monday.
    let at = |d: u32, h: u32| utc(2025, 1, d, h, 0, 0);
    let events = [
        // u1: Monday twice and Wednesday: 2 days.
        ev(at(6, 9), "View", "u1"),
        ev(at(6, 18), "View", "u1"),
        ev(at(8, 9), "View", "u1"),
        // u2: one day.
        ev(at(7, 9), "View", "u2"),
        // u3: every day of the week.
        ev(at(6, 1), "View", "u3"),
        ev(at(7, 1), "View", "u3"),
        ev(at(8, 1), "View", "u3"),
        ev(at(9, 1), "View", "u3"),
        ev(at(10, 1), "View", "u3"),
        ev(at(11, 1), "View", "u3"),
        ev(at(12, 1), "View", "u3"),
    ];
    write_dataset(dir.path(), &events, 1);
    let result = stickiness(
        dir.path(),
        json!({"version": 1, "analysis": "stickiness",
               "date_range": {"from": "2025-01-08", "to": "2025-01-08"},
               "event": {"event_type": "View"}}),
    );
    assert_eq!(result.periods.len(), 1);
    let week = &result.periods[0];
    assert_eq!(week.period, "2025-01-06");
    assert_eq!(week.persons, 3);
    assert_eq!(week.exactly, [1, 1, 0, 0, 0, 0, 1]);
    assert_eq!(week.at_least, [3, 2, 1, 1, 1, 1, 1]);
}
