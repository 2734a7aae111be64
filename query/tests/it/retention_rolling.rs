//! Retention in rolling windows (the default boundaries): hand-computed cases for every option,
//! and a plain reference (local clock hours via chrono, windows by hour arithmetic, persons in
//! maps) compared with the engine on random datasets.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Days, NaiveDate, TimeZone, Timelike};
use chrono_tz::Tz;
use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_query::result::RetentionResult;

use crate::retention::{local_date, period, retention};
use crate::support::{TestEvent, ev, utc, write_dataset};

const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;

/// A rolling retention spec over `from..=to` (UTC unless `extra` says otherwise).
fn spec(from: &str, to: &str, start: &str, ret: &str, periods: u32, extra: Value) -> Value {
    let mut spec = json!({"version": 1, "analysis": "retention",
        "date_range": {"from": from, "to": to},
        "start_event": {"event_type": start}, "return_event": {"event_type": ret},
        "periods": periods});
    for (k, v) in extra.as_object().expect("object") {
        spec[k] = v.clone();
    }
    spec
}

fn run(events: &[TestEvent], spec: Value) -> RetentionResult {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), events, 2);
    retention(dir.path(), spec)
}

fn rows(result: &RetentionResult) -> Vec<(&str, u64, &[u64])> {
    result
        .cohorts
        .iter()
        .map(|c| (c.period.as_str(), c.persons, c.returned.as_slice()))
        .collect()
}

/// Unix ms of a wall-clock time in `zone`.
fn local(zone: &str, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    let tz: Tz = zone.parse().expect("zone");
    tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("unambiguous")
        .timestamp_millis()
}

#[test]
fn times_are_rounded_down_to_the_local_hour() {
    // Amplitude's example: start at 5:59 PM, return the next day at 5:00 PM → Day 1. In
    // Asia/Kolkata (UTC+5:30) the hour is the local clock's, not UTC's (12:29 and 11:30 UTC
    // would be 23 elapsed UTC hours: Day 0).
    for zone in ["UTC", "America/New_York", "Asia/Kolkata"] {
        let at = |d: u32, h: u32, mi: u32| local(zone, 2025, 1, d, h, mi);
        let events = [
            ev(at(1, 17, 59), "Start", "u1"),
            ev(at(2, 17, 0), "Back", "u1"),
            // 17:00 → 16:59 the next day: hour 16 is 23 hours after hour 17, Day 0.
            ev(at(1, 17, 0), "Start", "u2"),
            ev(at(2, 16, 59), "Back", "u2"),
            // 17:00 → 17:00 two days later, less a millisecond: Day 1.
            ev(at(1, 17, 0), "Start", "u3"),
            ev(at(3, 17, 0) - 1, "Back", "u3"),
        ];
        let result = run(
            &events,
            spec(
                "2025-01-01",
                "2025-01-01",
                "Start",
                "Back",
                2,
                json!({"time_zone": zone}),
            ),
        );
        assert_eq!(result.columns, ["0", "1", "2"]);
        assert_eq!(rows(&result), [("2025-01-01", 3, &[1, 2, 0][..])], "{zone}");
    }
}

#[test]
fn day_zero_starts_at_the_start_hour() {
    let at = |d: u32, h: u32, mi: u32| utc(2025, 1, d, h, mi, 0);
    let events = [
        // A return earlier on the start's day is not Day 0 (calendar retention counts it).
        ev(at(1, 8, 0), "Back", "u1"),
        ev(at(1, 12, 0), "Start", "u1"),
        // A return in the start's hour, even minutes before it, is Day 0.
        ev(at(1, 12, 40), "Start", "u2"),
        ev(at(1, 12, 10), "Back", "u2"),
        // The start event is also the return event at the same millisecond: Day 0.
        ev(at(1, 12, 0), "Both", "u3"),
    ];
    let days = |boundaries: &str, start: &str, ret: &str| {
        let extra = json!({"boundaries": boundaries});
        run(
            &events,
            spec("2025-01-01", "2025-01-01", start, ret, 0, extra),
        )
        .cohorts[0]
            .returned[0]
    };
    assert_eq!(days("rolling", "Start", "Back"), 1);
    assert_eq!(days("calendar", "Start", "Back"), 2);
    assert_eq!(days("rolling", "Both", "Both"), 1);
}

#[test]
fn every_start_in_a_cohort_opens_its_own_windows() {
    let at = |d: u32, h: u32, mi: u32| utc(2025, 1, d, h, mi, 0);
    let events = [
        // Two starts on Jan 1 (00:00, 23:00), one return on Jan 3 at 00:30: 48 h after the
        // first start (Day 2) and 25 h after the second (Day 1). Counted once in the cohort.
        ev(at(1, 0, 0), "Start", "u1"),
        ev(at(1, 23, 0), "Start", "u1"),
        ev(at(3, 0, 30), "Back", "u1"),
        // Starts on Jan 1 and Jan 2: one person in two cohorts, once in the overall row.
        ev(at(1, 6, 0), "Start", "u2"),
        ev(at(2, 6, 0), "Start", "u2"),
        ev(at(3, 7, 0), "Back", "u2"),
    ];
    let result = run(
        &events,
        spec("2025-01-01", "2025-01-02", "Start", "Back", 2, json!({})),
    );
    assert_eq!(
        rows(&result),
        [
            ("2025-01-01", 2, &[0, 1, 2][..]),
            ("2025-01-02", 1, &[0, 1, 0][..]),
        ]
    );
    assert_eq!(result.overall.persons, 2);
    assert_eq!(result.overall.eligible, [3, 3, 3]);
    assert_eq!(result.overall.returned, [0, 2, 2]);
    assert_eq!(
        result.overall.rate,
        [Some(0.0), Some(2.0 / 3.0), Some(2.0 / 3.0)]
    );
}

#[test]
fn weeks_are_168_hours_and_months_720() {
    // Monday 2025-01-06 10:00 starts; returns 167 h and 168 h later; 30 days (720 h) later is
    // month 1 although it is in March, two calendar months on.
    let start = utc(2025, 1, 6, 10, 0, 0);
    let events = [
        ev(start, "Start", "u1"),
        ev(start + 167 * HOUR + 59 * MINUTE, "Back", "u1"),
        ev(start, "Start", "u2"),
        ev(start + 168 * HOUR, "Back", "u2"),
        ev(utc(2025, 1, 31, 10, 0, 0), "Start", "u3"),
        ev(utc(2025, 3, 2, 10, 0, 0), "Back", "u3"),
        ev(utc(2025, 1, 31, 11, 0, 0), "Start", "u4"),
        ev(utc(2025, 3, 2, 10, 59, 0), "Back", "u4"),
    ];
    let weeks = run(
        &events,
        spec(
            "2025-01-06",
            "2025-01-12",
            "Start",
            "Back",
            1,
            json!({"interval": "week"}),
        ),
    );
    assert_eq!(rows(&weeks), [("2025-01-06", 2, &[1, 1][..])]);
    let months = run(
        &events,
        spec(
            "2025-01-01",
            "2025-01-31",
            "Start",
            "Back",
            1,
            json!({"interval": "month"}),
        ),
    );
    // u1, u2 and u4 (719 h: 10:59 rounds down to 10:00) return in month 0, u3 in month 1.
    assert_eq!(rows(&months), [("2025-01-01", 4, &[3, 1][..])]);
}

#[test]
fn return_on_on_or_after_and_brackets() {
    let at = |d: u32, h: u32| utc(2025, 1, d, h, 0, 0);
    let events = [
        // u1 back on days 1 and 3; u2 on day 2; u3 on day 5; u4 never.
        ev(at(1, 9), "Start", "u1"),
        ev(at(2, 9), "Back", "u1"),
        ev(at(4, 9), "Back", "u1"),
        ev(at(1, 10), "Start", "u2"),
        ev(at(3, 11), "Back", "u2"),
        ev(at(1, 11), "Start", "u3"),
        ev(at(6, 11), "Back", "u3"),
        ev(at(1, 12), "Start", "u4"),
    ];
    let method = |method: Value| {
        let extra = json!({"method": method});
        let result = run(
            &events,
            spec("2025-01-01", "2025-01-01", "Start", "Back", 3, extra),
        );
        (result.columns.clone(), result.cohorts[0].returned.clone())
    };
    assert_eq!(
        method(json!("return_on")),
        (
            vec!["0".into(), "1".into(), "2".into(), "3".into()],
            vec![0, 1, 1, 1]
        )
    );
    // On or after: up to the end of the last window followed (day 3 of a start at the end of
    // the range: before Jan 6 00:00), so u3's day-5 return is outside.
    assert_eq!(
        method(json!("return_on_or_after")),
        (
            vec!["0+".into(), "1+".into(), "2+".into(), "3+".into()],
            vec![2, 2, 2, 1]
        )
    );
    assert_eq!(
        method(json!({"brackets": [[0, 2], [2, 4]]})),
        (vec!["0-2".into(), "2-4".into()], vec![1, 2])
    );
}

#[test]
fn new_users_start_at_their_first_counted_event() {
    let at = |d: u32, h: u32| utc(2025, 1, d, h, 0, 0);
    let events = [
        // u1 was seen before the range: not new in it.
        ev(utc(2024, 12, 31, 12, 0, 0), "View", "u1"),
        ev(at(1, 9), "View", "u1"),
        // u2 is new on Jan 1 at 20:00; back 23 h later (Day 0) and 25 h later (Day 1).
        ev(at(1, 20), "View", "u2"),
        ev(at(2, 19), "View", "u2"),
        ev(at(2, 21), "Buy", "u2"),
        // u3's identify on Dec 31 is not an event: new on Jan 1 at 10:00, back on Day 2.
        ev(utc(2024, 12, 31, 12, 0, 0), "$identify", "u3"),
        ev(at(1, 10), "View", "u3"),
        ev(at(3, 10), "View", "u3"),
    ];
    let result = run(
        &events,
        spec("2025-01-01", "2025-01-02", "_new", "_all", 2, json!({})),
    );
    assert_eq!(
        rows(&result),
        [
            ("2025-01-01", 2, &[2, 1, 1][..]),
            ("2025-01-02", 0, &[0, 0, 0][..]),
        ]
    );
    assert_eq!(result.overall.persons, 2);
}

#[test]
fn cells_whose_windows_have_not_passed_are_incomplete() {
    let today = chrono::Utc::now().date_naive();
    let days_ago = |n: u64| today - Days::new(n);
    let at = |d: NaiveDate, h: u32| {
        d.and_hms_opt(h, 0, 0)
            .expect("time")
            .and_utc()
            .timestamp_millis()
    };
    let events = [
        // Three days ago: u1 back 23 h (Day 0) and 25 h (Day 1) later.
        ev(at(days_ago(3), 12), "Start", "u1"),
        ev(at(days_ago(2), 11), "View", "u1"),
        ev(at(days_ago(2), 13), "View", "u1"),
        // Today: u2.
        ev(at(today, 0), "Start", "u2"),
    ];
    let result = run(
        &events,
        json!({"version": 1, "analysis": "retention", "date_range": {"last_days": 4},
               "start_event": {"event_type": "Start"}, "return_event": {"event_type": "View"},
               "periods": 1}),
    );
    // A cohort's window N has passed once the window N of a start in its last hour has: for
    // a day cohort, at 23:00 N + 1 days later. Cells ending today at 23:00 depend on the hour
    // of the test run and are not checked.
    assert_eq!(result.cohorts[0].complete, [true, true]);
    assert!(result.cohorts[1].complete[0]);
    assert!(!result.cohorts[2].complete[1]);
    assert_eq!(result.cohorts[3].complete, [false, false]);
    assert_eq!(result.cohorts[0].returned, [1, 1]);
    assert_eq!(result.overall.persons, 2);
    // u2's cells are incomplete, so the overall row is u1's alone.
    assert_eq!(result.overall.eligible, [1, 1]);
    assert_eq!(result.overall.returned, [1, 1]);
    assert_eq!(result.overall.rate, [Some(1.0), Some(1.0)]);
}

struct RefRolling<'a> {
    start: &'a str,
    ret: &'a str,
    interval: &'a str,
    from: NaiveDate,
    to: NaiveDate,
    tz: Tz,
    periods: i64,
    /// Columns `[a, b)` of windows; `None`: no end.
    columns: Vec<(i64, Option<i64>)>,
    /// The start event's condition `plan is pro` (for a new user: on their first event ever,
    /// one of that millisecond's when several).
    pro_start: bool,
}

/// The instant (Unix ms) at which the local clock hour holding `ms` began.
fn clock_hour(ms: i64, tz: Tz) -> i64 {
    let local = DateTime::from_timestamp_millis(ms)
        .expect("valid time")
        .with_timezone(&tz);
    let into_hour = i64::from(local.minute()) * MINUTE
        + i64::from(local.second()) * 1_000
        + i64::from(local.timestamp_subsec_millis());
    ms - into_hour
}

/// Per cohort period: (persons, returned per column); then the distinct persons.
fn reference(events: &[TestEvent], r: &RefRolling<'_>) -> (BTreeMap<i64, (u64, Vec<u64>)>, u64) {
    let counted = |e: &TestEvent| e.event_type != "$identify";
    let is = |e: &TestEvent, name: &str| match name {
        "_all" => counted(e),
        name => e.event_type == name,
    };
    let window = match r.interval {
        "day" => 24 * HOUR,
        "week" => 7 * 24 * HOUR,
        _ => 30 * 24 * HOUR,
    };
    let after_range =
        r.tz.from_local_datetime(
            &(r.to + Days::new(1))
                .and_hms_opt(0, 0, 0)
                .expect("midnight"),
        )
        .earliest()
        .expect("a midnight")
        .timestamp_millis();
    // Returns count up to the end of the last window of a start at the end of the range.
    let horizon = after_range + (r.periods + 1) * window;
    let in_range = |e: &TestEvent| {
        let date = local_date(e.ts, r.tz);
        date >= r.from && date <= r.to
    };
    let mut by_person: BTreeMap<&str, Vec<&TestEvent>> = BTreeMap::new();
    for e in events {
        by_person.entry(e.person()).or_default().push(e);
    }
    let mut table: BTreeMap<i64, (u64, Vec<u64>)> = BTreeMap::new();
    let mut distinct = 0;
    for events in by_person.values() {
        let pro = |e: &TestEvent| !r.pro_start || e.plan.as_deref() == Some("pro");
        let starts: Vec<&TestEvent> = if r.start == "_new" {
            let first = events.iter().filter(|e| counted(e)).map(|e| e.ts).min();
            let at_first = events.iter().filter(|e| counted(e) && Some(e.ts) == first);
            let met = at_first.clone().find(|e| pro(e));
            met.into_iter().copied().filter(|e| in_range(e)).collect()
        } else {
            let starts = events
                .iter()
                .filter(|e| is(e, r.start) && in_range(e) && pro(e));
            starts.copied().collect()
        };
        let mut cohorts: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for s in starts {
            let cohort = period(local_date(s.ts, r.tz), r.from, r.interval);
            cohorts
                .entry(cohort)
                .or_default()
                .push(clock_hour(s.ts, r.tz));
        }
        let returns: BTreeSet<i64> = events
            .iter()
            .filter(|e| is(e, r.ret) && e.ts < horizon)
            .map(|e| clock_hour(e.ts, r.tz))
            .collect();
        distinct += u64::from(!cohorts.is_empty());
        for (c, hours) in cohorts {
            let row = table
                .entry(c)
                .or_insert_with(|| (0, vec![0; r.columns.len()]));
            row.0 += 1;
            for (j, &(a, b)) in r.columns.iter().enumerate() {
                let hit = hours.iter().any(|&s| {
                    returns.iter().any(|&ret| {
                        let elapsed = ret - s;
                        elapsed >= a * window && b.is_none_or(|b| elapsed < b * window)
                    })
                });
                row.1[j] += u64::from(hit);
            }
        }
    }
    (table, distinct)
}

const ZONES: [&str; 4] = ["UTC", "Asia/Seoul", "America/New_York", "Asia/Kolkata"];

/// Offsets that put times on, and just around, UTC hours and half hours (Kolkata's local hours
/// begin at :30 UTC).
fn nudge() -> impl Strategy<Value = i64> {
    prop::sample::select(vec![
        0,
        0,
        -1,
        1,
        HOUR / 2,
        HOUR / 2 - 1,
        -HOUR / 2,
        HOUR - 1,
        -HOUR,
    ])
}

fn kind() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["A", "B", "C", "$identify"])
}

/// One event, or two of one person a whole number of windows apart give or take a nudge, so
/// window edges are hit often.
fn events_strategy() -> impl Strategy<Value = Vec<TestEvent>> {
    let later = prop::sample::select(vec![
        None,
        Some(0),
        Some(24),
        Some(48),
        Some(168),
        Some(720),
    ]);
    (
        0..(40 * 12i64),
        nudge(),
        kind(),
        0..6u8,
        later,
        nudge(),
        kind(),
    )
        .prop_map(
            |(slot, nudge, kind, user, later, second_nudge, second_kind)| {
                // 2025-02-20 .. 2025-04-01 UTC every 2 hours: crosses a month end and New York's
                // DST change on 2025-03-09.
                let ts = utc(2025, 2, 20, 0, 0, 0) + slot * 2 * HOUR + nudge;
                let user = format!("u{user}");
                let mut events = vec![ev(ts, kind, &user)];
                if let Some(hours) = later {
                    events.push(ev(ts + hours * HOUR + second_nudge, second_kind, &user));
                }
                // The plan changes with time, so a first event may or may not be "pro".
                for (i, e) in events.iter_mut().enumerate() {
                    if (slot + i as i64) % 3 == 0 {
                        e.plan = Some("pro".to_owned());
                    }
                }
                events
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn rolling_engine_matches_the_reference(
        events in prop::collection::vec(events_strategy(), 0..40)
            .prop_map(|groups| groups.concat()),
        zone in 0..ZONES.len(),
        interval in prop::sample::select(vec!["day", "week", "month"]),
        start in prop::sample::select(vec!["A", "_all", "_new"]),
        ret in prop::sample::select(vec!["B", "A", "_all"]),
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
            "time_zone": ZONES[zone], "interval": interval,
            "start_event": start_event, "return_event": {"event_type": ret},
            "periods": periods, "method": method_json,
        }));
        let (expected, distinct) = reference(&events, &RefRolling {
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
        for (j, &returned) in result.overall.returned.iter().enumerate() {
            prop_assert_eq!(returned, expected.values().map(|(_, r)| r[j]).sum::<u64>());
        }
    }
}
