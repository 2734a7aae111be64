//! Retention: a plain reference (local dates via chrono, period numbers by date arithmetic,
//! persons in maps) compared with the engine on random datasets, plus hand-computed cases.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Days, NaiveDate};
use chrono_tz::Tz;
use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_query::QuerySpec;
use sluice_query::result::{QueryResult, RetentionResult};

use crate::support::{TestEvent, ev, run_any, utc, write_dataset};

const HOUR: i64 = 3_600_000;
const ZONES: [&str; 3] = ["UTC", "Asia/Seoul", "America/New_York"];

pub(crate) fn retention(dir: &std::path::Path, value: Value) -> RetentionResult {
    let spec = QuerySpec::from_json(&value.to_string()).expect("valid spec");
    match run_any(dir, &spec).expect("runs") {
        QueryResult::Retention(result) => result,
        other => panic!("not a retention: {other:?}"),
    }
}

pub(crate) fn local_date(ms: i64, tz: Tz) -> NaiveDate {
    DateTime::from_timestamp_millis(ms)
        .expect("valid time")
        .with_timezone(&tz)
        .date_naive()
}

/// The period number of `date` counted from the period holding `from` (weeks start Monday).
pub(crate) fn period(date: NaiveDate, from: NaiveDate, interval: &str) -> i64 {
    let monday = |d: NaiveDate| d - Days::new(u64::from(d.weekday().num_days_from_monday()));
    match interval {
        "day" => (date - from).num_days(),
        "week" => (monday(date) - monday(from)).num_days().div_euclid(7),
        _ => {
            i64::from(date.year() * 12 + date.month() as i32 - from.year() * 12)
                - i64::from(from.month())
        }
    }
}

struct RefRetention<'a> {
    start: &'a str,
    ret: &'a str,
    interval: &'a str,
    from: NaiveDate,
    to: NaiveDate,
    tz: Tz,
    periods: i64,
    /// Columns `[a, b)` of periods after the cohort's; `None`: no end.
    columns: Vec<(i64, Option<i64>)>,
    /// The start event's condition `plan is pro`: a specific start event must meet it; a new
    /// user's first event ever must (one of that millisecond's, when several).
    pro_start: bool,
}

/// Per cohort period: (persons, returned per column); then the distinct persons.
fn reference(events: &[TestEvent], r: &RefRetention<'_>) -> (BTreeMap<i64, (u64, Vec<u64>)>, u64) {
    let counted = |e: &TestEvent| e.event_type != "$identify";
    let is = |e: &TestEvent, name: &str| match name {
        "_all" => counted(e),
        name => e.event_type == name,
    };
    let cohort_count = period(r.to, r.from, r.interval) + 1;
    let tracked = cohort_count + r.periods;
    let mut by_person: BTreeMap<&str, Vec<&TestEvent>> = BTreeMap::new();
    for e in events {
        by_person.entry(e.person()).or_default().push(e);
    }
    let mut table: BTreeMap<i64, (u64, Vec<u64>)> = BTreeMap::new();
    let mut distinct = 0;
    let in_range = |d: NaiveDate| d >= r.from && d <= r.to;
    for events in by_person.values() {
        let mut cohorts = BTreeSet::new();
        let pro = |e: &&&TestEvent| !r.pro_start || e.plan.as_deref() == Some("pro");
        if r.start == "_new" {
            if let Some(first) = events.iter().filter(|e| counted(e)).map(|e| e.ts).min() {
                let date = local_date(first, r.tz);
                let met = events
                    .iter()
                    .filter(|e| counted(e) && e.ts == first)
                    .any(|e| pro(&e));
                if in_range(date) && met {
                    cohorts.insert(period(date, r.from, r.interval));
                }
            }
        } else {
            for e in events.iter().filter(|e| is(e, r.start)).filter(pro) {
                let date = local_date(e.ts, r.tz);
                if in_range(date) {
                    cohorts.insert(period(date, r.from, r.interval));
                }
            }
        }
        let returns: BTreeSet<i64> = events
            .iter()
            .filter(|e| is(e, r.ret))
            .map(|e| local_date(e.ts, r.tz))
            .filter(|&d| d >= r.from)
            .map(|d| period(d, r.from, r.interval))
            .filter(|&p| p < tracked)
            .collect();
        distinct += u64::from(!cohorts.is_empty());
        for c in cohorts {
            let row = table
                .entry(c)
                .or_insert_with(|| (0, vec![0; r.columns.len()]));
            row.0 += 1;
            for (j, &(a, b)) in r.columns.iter().enumerate() {
                let end = b.map_or(tracked, |b| (c + b).min(tracked));
                if returns.iter().any(|&p| p >= c + a && p < end) {
                    row.1[j] += 1;
                }
            }
        }
    }
    (table, distinct)
}

fn event_strategy() -> impl Strategy<Value = TestEvent> {
    (
        0..(40 * 12i64),
        prop_oneof![3 => Just(0i64), 1 => Just(-1), 1 => Just(HOUR / 2)],
        prop::sample::select(vec!["A", "B", "C", "$identify"]),
        0..8u8,
    )
        .prop_map(|(slot, jitter, kind, user)| {
            // 2025-02-20 .. 2025-04-01 UTC, every 2 hours: crosses a month end and New York's
            // DST change on 2025-03-09.
            let ts = utc(2025, 2, 20, 0, 0, 0) + slot * 2 * HOUR + jitter;
            let mut e = ev(ts, kind, &format!("u{user}"));
            // The plan changes with time, so a person's first event may or may not be "pro".
            if (slot + i64::from(user)) % 3 == 0 {
                e.plan = Some("pro".to_owned());
            }
            e
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn engine_matches_the_reference(
        events in prop::collection::vec(event_strategy(), 0..60),
        zone in 0..3usize,
        interval in prop::sample::select(vec!["day", "week", "month"]),
        start in prop::sample::select(vec!["A", "_all", "_new"]),
        ret in prop::sample::select(vec!["B", "_all"]),
        from_day in 0..20u64,
        days in 1..15u64,
        periods in 0..4u32,
        method in 0..3usize,
        pro_start in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let tz: Tz = ZONES[zone].parse().expect("zone");
        write_dataset(dir.path(), &events, 2);
        let from = NaiveDate::from_ymd_opt(2025, 2, 22).expect("date") + Days::new(from_day);
        let to = from + Days::new(days - 1);
        let n = i64::from(periods);
        let (method_json, columns): (Value, Vec<(i64, Option<i64>)>) = match method {
            0 => (json!("return_on"), (0..=n).map(|k| (k, Some(k + 1))).collect()),
            1 => (json!("return_on_or_after"), (0..=n).map(|k| (k, None)).collect()),
            _ => (
                json!({"brackets": [[0, 1], [1, periods + 1]]}),
                vec![(0, Some(1)), (1, Some(n + 1))],
            ),
        };
        if method == 2 && periods == 0 {
            return Ok(()); // [1, 1) is not a bracket
        }
        let mut start_event = json!({"event_type": start});
        if pro_start {
            start_event["where"] =
                json!([{"kind": "user", "property": "plan", "op": "is", "values": ["pro"]}]);
        }
        let result = retention(dir.path(), json!({
            "version": 1, "analysis": "retention",
            "date_range": {"from": from.to_string(), "to": to.to_string()},
            "time_zone": ZONES[zone], "interval": interval, "boundaries": "calendar",
            "start_event": start_event, "return_event": {"event_type": ret},
            "periods": periods, "method": method_json,
        }));
        let (expected, distinct) = reference(&events, &RefRetention {
            start, ret, interval, from, to, tz, periods: n, columns, pro_start,
        });
        let got: BTreeMap<i64, (u64, Vec<u64>)> = result.cohorts.iter().enumerate()
            .filter(|(_, c)| c.persons > 0)
            .map(|(i, c)| (i as i64, (c.persons, c.returned.clone())))
            .collect();
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(result.overall.persons, distinct);
        // Every cell is in the past, so complete, and the overall row sums the cohorts.
        prop_assert!(result.cohorts.iter().all(|c| c.complete.iter().all(|&done| done)));
        let summed: u64 = expected.values().map(|(p, _)| p).sum();
        prop_assert!(result.overall.eligible.iter().all(|&e| e == summed));
    }
}

#[test]
fn new_user_day_retention_by_hand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let day = |d: u32, h: u32| utc(2025, 1, d, h, 0, 0);
    let events = [
        // u1: new on Jan 1, back on Jan 2 and Jan 4.
        ev(day(1, 9), "View", "u1"),
        ev(day(2, 9), "View", "u1"),
        ev(day(4, 9), "Buy", "u1"),
        // u2: new on Jan 1, only an identify on Jan 2 (not an event), back Jan 3.
        ev(day(1, 10), "View", "u2"),
        ev(day(2, 10), "$identify", "u2"),
        ev(day(3, 10), "View", "u2"),
        // u3: first seen Dec 31 (before the range): not new in the range.
        ev(utc(2024, 12, 31, 12, 0, 0), "View", "u3"),
        ev(day(2, 12), "View", "u3"),
        // u4: new on Jan 2.
        ev(day(2, 23), "View", "u4"),
    ];
    write_dataset(dir.path(), &events, 1);
    let result = retention(
        dir.path(),
        json!({"version": 1, "analysis": "retention",
               "date_range": {"from": "2025-01-01", "to": "2025-01-02"},
               "start_event": {"event_type": "_new"}, "return_event": {"event_type": "_all"},
               "boundaries": "calendar", "periods": 3}),
    );
    assert_eq!(result.columns, ["0", "1", "2", "3"]);
    let rows: Vec<(&str, u64, &[u64])> = result
        .cohorts
        .iter()
        .map(|c| (c.period.as_str(), c.persons, c.returned.as_slice()))
        .collect();
    assert_eq!(
        rows,
        [
            ("2025-01-01", 2, &[2, 1, 1, 1][..]),
            ("2025-01-02", 1, &[1, 0, 0, 0][..]),
        ]
    );
    assert_eq!(result.overall.persons, 3);
    assert_eq!(result.overall.eligible, [3, 3, 3, 3]);
    assert_eq!(result.overall.returned, [3, 1, 1, 1]);

    // Return on or after: u1 came back on day 1 and 3, u2 on day 2.
    let after = retention(
        dir.path(),
        json!({"version": 1, "analysis": "retention",
               "date_range": {"from": "2025-01-01", "to": "2025-01-01"},
               "start_event": {"event_type": "_new"}, "return_event": {"event_type": "_all"},
               "boundaries": "calendar", "periods": 3, "method": "return_on_or_after"}),
    );
    assert_eq!(after.cohorts[0].returned, [2, 2, 2, 1]);
}

#[test]
fn incomplete_cells_are_left_out_of_the_overall_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let today = chrono::Utc::now().date_naive();
    let yesterday = today - Days::new(1);
    let noon = |d: NaiveDate| {
        d.and_hms_opt(12, 0, 0)
            .expect("time")
            .and_utc()
            .timestamp_millis()
    };
    let events = [
        ev(noon(yesterday), "View", "u1"),
        ev(noon(today), "View", "u1"),
        ev(noon(today), "View", "u2"),
    ];
    write_dataset(dir.path(), &events, 1);
    let result = retention(
        dir.path(),
        json!({"version": 1, "analysis": "retention", "date_range": {"last_days": 2},
               "start_event": {"event_type": "_all"}, "return_event": {"event_type": "_all"},
               "boundaries": "calendar", "periods": 1}),
    );
    // Yesterday's cohort (u1) completed day 0 only; today's (u1, u2) nothing yet.
    assert_eq!(result.cohorts[0].complete, [true, false]);
    assert_eq!(result.cohorts[1].complete, [false, false]);
    assert_eq!(result.cohorts[0].returned, [1, 1]);
    assert_eq!(result.overall.eligible, [1, 0]);
    assert_eq!(result.overall.rate, [Some(1.0), None]);
}

#[test]
fn two_return_events_answer_one_table_each() {
    let dir = tempfile::tempdir().expect("tempdir");
    let at = |d: u32, h: u32| utc(2025, 1, d, h, 0, 0);
    let events = [
        // u1 views on day 1 and buys on day 2; u2 only views on day 2; u3 never returns.
        ev(at(1, 9), "Signup", "u1"),
        ev(at(2, 10), "View", "u1"),
        ev(at(3, 10), "Buy", "u1"),
        ev(at(1, 9), "Signup", "u2"),
        ev(at(3, 10), "View", "u2"),
        ev(at(1, 9), "Signup", "u3"),
    ];
    write_dataset(dir.path(), &events, 2);
    for boundaries in ["rolling", "calendar"] {
        let spec = |returns: Value| {
            let mut spec = json!({"version": 1, "analysis": "retention",
                "date_range": {"from": "2025-01-01", "to": "2025-01-01"},
                "start_event": {"event_type": "Signup"}, "boundaries": boundaries,
                "periods": 2});
            for (k, v) in returns.as_object().expect("object") {
                spec[k] = v.clone();
            }
            retention(dir.path(), spec)
        };
        let both = spec(json!({"return_events": [{"event_type": "View"}, {"event_type": "Buy"}]}));
        assert_eq!(both.cohorts[0].persons, 3);
        assert_eq!(both.cohorts[0].returned, [0, 1, 1], "{boundaries}");
        let second = both.second_return.clone().expect("a second table");
        assert_eq!(second.return_event, "Buy");
        assert_eq!(second.cohorts[0].returned, [0, 0, 1], "{boundaries}");
        // Each table is the one-return-event answer.
        let view = spec(json!({"return_event": {"event_type": "View"}}));
        let buy = spec(json!({"return_events": [{"event_type": "Buy"}]}));
        assert_eq!(
            (&both.cohorts, &both.overall),
            (&view.cohorts, &view.overall)
        );
        assert_eq!(
            (&second.cohorts, &second.overall),
            (&buy.cohorts, &buy.overall)
        );
        assert_eq!((view.second_return, buy.second_return), (None, None));
    }
}
