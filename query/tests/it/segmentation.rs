//! Event segmentation: a plain reference (each event's local date via chrono, persons in a set)
//! compared with the engine on random datasets, plus hand-computed cases.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Days, NaiveDate, Timelike};
use chrono_tz::Tz;
use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_query::QuerySpec;
use sluice_query::result::{QueryResult, SegmentationResult};

use crate::support::FileShape;
use crate::support::{TestEvent, ev, partition, run_any, utc, write_dataset, write_file};

const HOUR: i64 = 3_600_000;
const ZONES: [&str; 3] = ["UTC", "Asia/Seoul", "America/New_York"];
const INTERVALS: [&str; 4] = ["hour", "day", "week", "month"];

fn spec(value: Value) -> QuerySpec {
    QuerySpec::from_json(&value.to_string()).expect("valid spec")
}

fn segmentation(dir: &std::path::Path, value: Value) -> SegmentationResult {
    match run_any(dir, &spec(value)).expect("runs") {
        QueryResult::Segmentation(result) => result,
        other => panic!("not a segmentation: {other:?}"),
    }
}

/// The label of the interval holding instant `ms` in `tz` (weeks start on Monday).
pub(crate) fn label(ms: i64, tz: Tz, interval: &str) -> String {
    let local = DateTime::from_timestamp_millis(ms)
        .expect("valid time")
        .with_timezone(&tz);
    let date = local.date_naive();
    match interval {
        "hour" => format!("{}T{:02}:00", date.format("%Y-%m-%d"), local.hour()),
        "day" => date.format("%Y-%m-%d").to_string(),
        "week" => {
            let back = date.weekday().num_days_from_monday();
            (date - Days::new(u64::from(back)))
                .format("%Y-%m-%d")
                .to_string()
        }
        _ => date
            .with_day(1)
            .expect("day 1")
            .format("%Y-%m-%d")
            .to_string(),
    }
}

/// The reference: per series and label, persons (as strings) and events.
fn reference(
    events: &[TestEvent],
    series: &[&str],
    from: NaiveDate,
    to: NaiveDate,
    tz: Tz,
    interval: &str,
    project: Option<&str>,
) -> Vec<BTreeMap<String, (BTreeSet<String>, u64)>> {
    let mut cells = vec![BTreeMap::new(); series.len()];
    for e in events {
        let local = DateTime::from_timestamp_millis(e.ts)
            .expect("valid time")
            .with_timezone(&tz)
            .date_naive();
        if local < from || local > to || project.is_some_and(|p| p != e.project) {
            continue;
        }
        for (s, wanted) in series.iter().enumerate() {
            let counted = match *wanted {
                "_all" => e.event_type != "$identify",
                name => e.event_type == name,
            };
            if counted {
                let cell: &mut (BTreeSet<String>, u64) =
                    cells[s].entry(label(e.ts, tz, interval)).or_default();
                cell.0.insert(e.person().to_owned());
                cell.1 += 1;
            }
        }
    }
    cells
}

fn event_strategy() -> impl Strategy<Value = TestEvent> {
    (
        0..(10 * 24i64),
        prop_oneof![3 => Just(0i64), 1 => Just(-1), 1 => Just(1), 1 => Just(HOUR / 2)],
        prop::sample::select(vec!["A", "B", "$identify"]),
        0..6u8,
        prop_oneof![6 => Just("p1"), 1 => Just("p2")],
    )
        .prop_map(|(hour, jitter, kind, user, project)| {
            // 2025-03-01 .. 2025-03-11 UTC: crosses New York's DST change on 2025-03-09.
            let mut e = ev(
                utc(2025, 3, 1, 0, 0, 0) + hour * HOUR + jitter,
                kind,
                &format!("u{user}"),
            );
            e.project = project.to_owned();
            e
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn engine_matches_the_reference(
        events in prop::collection::vec(event_strategy(), 0..60),
        zone in 0..3usize,
        interval in 0..4usize,
        from_day in 0..4u64,
        days in 1..6u64,
        series in prop::sample::subsequence(vec!["A", "B", "_all"], 1..=3),
        measures in prop::collection::vec(any::<bool>(), 3),
        project_filter in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let tz: Tz = ZONES[zone].parse().expect("zone");
        // Files partitioned in the storage zone (UTC here), several per date.
        write_dataset(dir.path(), &events, 2);
        let from = NaiveDate::from_ymd_opt(2025, 3, 1).expect("date") + Days::new(from_day);
        let to = from + Days::new(days - 1);
        let interval_name = INTERVALS[interval];
        let measure = |i: usize| if measures[i] { "uniques" } else { "totals" };
        let mut value = json!({
            "version": 1, "analysis": "segmentation",
            "date_range": {"from": from.to_string(), "to": to.to_string()},
            "time_zone": ZONES[zone], "interval": interval_name,
            "events": series.iter().enumerate()
                .map(|(i, s)| json!({"event_type": s, "measure": measure(i)}))
                .collect::<Vec<_>>(),
        });
        if project_filter {
            value["project"] = json!("p1");
        }
        let result = segmentation(dir.path(), value);
        let expected = reference(&events, &series, from, to, tz, interval_name,
            project_filter.then_some("p1"));
        for (s, cells) in expected.iter().enumerate() {
            let got: BTreeMap<String, u64> = result.points.iter().cloned()
                .enumerate()
                .map(|(p, label)| (label, result.series[s].count(p)))
                .filter(|(_, v)| *v > 0)
                .collect();
            let want: BTreeMap<String, u64> = cells.iter()
                .map(|(label, (persons, events))| {
                    let v = if measures[s] { persons.len() as u64 } else { *events };
                    (label.clone(), v)
                })
                .collect();
            prop_assert_eq!(&got, &want, "series {} ({})", s, series[s]);
        }
    }
}

#[test]
fn daily_uniques_and_totals_in_seoul_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 2025-01-01T14:59Z is 23:59 on Jan 1 in Seoul; 15:00Z is Jan 2.
    let events = [
        ev(utc(2025, 1, 1, 14, 59, 0), "View", "u1"),
        ev(utc(2025, 1, 1, 15, 0, 0), "View", "u1"),
        ev(utc(2025, 1, 1, 15, 1, 0), "View", "u1"),
        ev(utc(2025, 1, 1, 16, 0, 0), "View", "u2"),
        ev(utc(2025, 1, 1, 16, 0, 0), "$identify", "u3"),
        ev(utc(2025, 1, 1, 17, 0, 0), "Buy", "u2"),
    ];
    write_dataset(dir.path(), &events, 1);
    let result = segmentation(
        dir.path(),
        json!({
            "version": 1, "analysis": "segmentation",
            "date_range": {"from": "2025-01-01", "to": "2025-01-03"},
            "time_zone": "Asia/Seoul",
            "events": [{"event_type": "View"}, {"event_type": "View", "measure": "totals"},
                       {"event_type": "_all"}],
        }),
    );
    assert_eq!(result.points, ["2025-01-01", "2025-01-02", "2025-01-03"]);
    let values: Vec<Vec<u64>> = result
        .series
        .iter()
        .map(|s| (0..3).map(|p| s.count(p)).collect())
        .collect();
    assert_eq!(values, [[1, 2, 0], [1, 3, 0], [1, 2, 0]]);
}

#[test]
fn anonymous_events_count_under_the_person_id() {
    // Two devices of one person (same person_id): one unique.
    let dir = tempfile::tempdir().expect("tempdir");
    let t = utc(2025, 1, 1, 10, 0, 0);
    let events = [
        ev(t, "View", "u1"),
        ev(t + 1, "View", "u1").anonymous("other-device"),
    ];
    let folder = partition(dir.path(), t, chrono_tz::UTC);
    let mut shaped = events.to_vec();
    // The loader gave the anonymous device's events the user's person (last known user).
    shaped[1].person_override = Some("u1".into());
    write_file(
        &folder.join("part-0.parquet"),
        &shaped,
        FileShape::default(),
    );
    let result = segmentation(
        dir.path(),
        json!({"version": 1, "analysis": "segmentation",
               "date_range": {"from": "2025-01-01", "to": "2025-01-01"},
               "events": [{"event_type": "View"}]}),
    );
    assert_eq!(result.series[0].values, [Some(1.0)]);
}
