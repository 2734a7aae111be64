//! Funnel event totals (`counting: totals`): every attempt counted. A plain reference written
//! from the documented definition (each step-1 event in the range starts an attempt, in time
//! order; each step takes the earliest untaken matching event at or after the previous step,
//! inside the window) is compared with the engine on random datasets — repeated step types,
//! same-millisecond events, window edges, a category breakdown and conversion over time — plus
//! hand-computed cases.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::json;
use sluice_query::result::FunnelResult;

use crate::support::{TestEvent, ev, funnel_spec, overall, run, utc, write_dataset};

const MINUTE: i64 = 60_000;

fn funnel(events: &[TestEvent], steps: &[&str], extra: serde_json::Value) -> FunnelResult {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), events, 2);
    let mut fields =
        json!({"counting": "totals", "conversion_window": {"value": 30, "unit": "minute"}});
    if let (Some(fields), serde_json::Value::Object(extra)) = (fields.as_object_mut(), extra) {
        fields.extend(extra);
    }
    run(
        dir.path(),
        &funnel_spec(steps, "2025-01-10", "2025-01-10", fields),
    )
    .expect("runs")
}

#[test]
fn four_searches_and_one_cart_are_four_attempts_and_one_conversion() {
    let t = utc(2025, 1, 10, 9, 0, 0);
    let events = vec![
        ev(t, "Search", "u1").category("Design"),
        ev(t + MINUTE, "Search", "u1").category("Video"),
        ev(t + 2 * MINUTE, "Search", "u1").category("Design"),
        ev(t + 3 * MINUTE, "Search", "u1").category("Design"),
        ev(t + 4 * MINUTE, "Cart", "u1"),
        // u2: two attempts, both convert (two carts); the second cart is 31 minutes after the
        // first search but 1 minute after the second.
        ev(t, "Search", "u2").category("Video"),
        ev(t + 30 * MINUTE, "Search", "u2").category("Video"),
        ev(t + 10 * MINUTE, "Cart", "u2"),
        ev(t + 31 * MINUTE, "Cart", "u2"),
    ];
    let result = funnel(
        &events,
        &["Search", "Cart"],
        json!({"breakdown": {"kind": "event", "property": "category"}}),
    );
    assert_eq!(
        serde_json::to_value(&result).expect("json")["counting"],
        "totals"
    );
    assert_eq!(overall(&result), [6, 3]);
    let table = sluice_query::render_table(&sluice_query::QueryResult::Funnel(result.clone()));
    assert!(
        table.starts_with("Funnel: Search → Cart (event totals"),
        "{table}"
    );
    let rows: Vec<(Option<String>, Vec<u64>)> = result
        .by_breakdown
        .iter()
        .map(|r| (r.value.clone(), r.steps.iter().map(|s| s.persons).collect()))
        .collect();
    // Video: u1's second search (no cart left) and u2's two; Design: u1's first (converts)
    // and two more.
    assert_eq!(
        rows,
        [
            (Some("Design".to_owned()), vec![3, 1]),
            (Some("Video".to_owned()), vec![3, 2]),
        ]
    );
}

#[test]
fn totals_refuse_what_they_do_not_define() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (extra, second) in [
        (json!({"order": "any"}), "order"),
        (json!({"strict": ["strict_increase"]}), "strict"),
        (json!({"exclusions": [{"event_type": "X"}]}), "exclusions"),
    ] {
        let mut fields = json!({"counting": "totals"});
        if let (Some(fields), serde_json::Value::Object(extra)) = (fields.as_object_mut(), extra) {
            fields.extend(extra);
        }
        let spec = funnel_spec(&["A", "B"], "2025-01-10", "2025-01-10", fields);
        let e = run(dir.path(), &spec).expect_err("refused");
        let text = e.to_string();
        assert!(
            text.contains("counting \"totals\"") && text.contains(second),
            "{text}"
        );
    }
}

/// One attempt of the reference: its entry's category and time, and its level.
type Attempt = (Option<String>, i64, usize);

/// The reference: per person, events by (time, category) — the engine's order within a
/// millisecond — and the attempts the definition describes.
fn reference(
    events: &[TestEvent],
    steps: &[&str],
    window_ms: i64,
    entry: (i64, i64),
) -> Vec<Attempt> {
    let mut by_person: BTreeMap<&str, Vec<&TestEvent>> = BTreeMap::new();
    for e in events {
        by_person.entry(e.person()).or_default().push(e);
    }
    let mut found = Vec::new();
    for mut mine in by_person.into_values() {
        mine.sort_by(|a, b| (a.ts, &a.category).cmp(&(b.ts, &b.category)));
        let mut taken = vec![false; mine.len()];
        for (i, start) in mine.iter().enumerate() {
            if start.event_type != steps[0] || start.ts < entry.0 || start.ts > entry.1 {
                continue;
            }
            let mut path = vec![i];
            for step in &steps[1..] {
                let previous = mine[*path.last().expect("entry")].ts;
                let next = (0..mine.len()).find(|&j| {
                    let e = mine[j];
                    e.event_type == *step
                        && e.ts >= previous
                        && e.ts <= start.ts + window_ms
                        && !taken[j]
                        && !path.contains(&j)
                });
                match next {
                    Some(j) => path.push(j),
                    None => break,
                }
            }
            for &j in &path[1..] {
                taken[j] = true;
            }
            found.push((start.category.clone(), start.ts, path.len()));
        }
    }
    found
}

fn event_strategy() -> impl Strategy<Value = TestEvent> {
    (
        0..4u8,
        0..40i64,
        prop::sample::select(vec!["A", "B", "C"]),
        prop::option::of(prop::sample::select(vec!["x", "y"])),
    )
        .prop_map(|(user, slot, kind, category)| {
            // 10-minute slots around Jan 10 (UTC), some events sharing a millisecond.
            let mut e = ev(
                utc(2025, 1, 9, 22, 0, 0) + slot * 10 * MINUTE,
                kind,
                &format!("u{user}"),
            );
            e.category = category.map(str::to_owned);
            e
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn totals_match_the_reference(
        events in prop::collection::vec(event_strategy(), 0..40),
        steps in prop::collection::vec(prop::sample::select(vec!["A", "B", "C"]), 2..=3),
        window_minutes in prop::sample::select(vec![10u64, 25, 60]),
        breakdown in any::<bool>(),
    ) {
        let steps: Vec<&str> = steps.into_iter().collect();
        let mut extra = json!({
            "conversion_window": {"value": window_minutes, "unit": "minute"},
            "interval": "hour",
        });
        if breakdown {
            extra["breakdown"] = json!({"kind": "event", "property": "category"});
        }
        let result = funnel(&events, &steps, extra);
        let entry = (utc(2025, 1, 10, 0, 0, 0), utc(2025, 1, 11, 0, 0, 0) - 1);
        let attempts = reference(&events, &steps, window_minutes as i64 * MINUTE, entry);
        let reached = |mine: &[&Attempt]| -> Vec<u64> {
            (1..=steps.len())
                .map(|k| mine.iter().filter(|a| a.2 >= k).count() as u64)
                .collect()
        };
        let all: Vec<_> = attempts.iter().collect();
        prop_assert_eq!(overall(&result), reached(&all));
        let mut groups: BTreeMap<Option<String>, Vec<&Attempt>> =
            BTreeMap::new();
        if breakdown {
            for a in &attempts {
                groups.entry(a.0.clone()).or_default().push(a);
            }
        }
        let mut want: Vec<(Option<String>, Vec<u64>)> =
            groups.iter().map(|(value, mine)| (value.clone(), reached(mine))).collect();
        // Most attempts at step 1 first, ties by value (none first).
        want.sort_by(|a, b| b.1[0].cmp(&a.1[0]).then_with(|| a.0.cmp(&b.0)));
        let got: Vec<(Option<String>, Vec<u64>)> = result.by_breakdown.iter()
            .map(|r| (r.value.clone(), r.steps.iter().map(|s| s.persons).collect()))
            .collect();
        prop_assert_eq!(got, want);
        // Conversion over time: each attempt in the (UTC) hour of its entry.
        let mut hours: BTreeMap<String, Vec<&Attempt>> = BTreeMap::new();
        for a in &attempts {
            let hour = chrono::DateTime::from_timestamp_millis(a.1).expect("time");
            hours.entry(hour.format("%Y-%m-%dT%H:00").to_string()).or_default().push(a);
        }
        let got: BTreeMap<String, Vec<u64>> = result.over_time.iter()
            .map(|p| (p.start.clone(), p.steps.iter().map(|s| s.persons).collect::<Vec<u64>>()))
            .filter(|(_, counts)| counts[0] > 0)
            .collect();
        let want: BTreeMap<String, Vec<u64>> =
            hours.iter().map(|(hour, mine)| (hour.clone(), reached(mine))).collect();
        prop_assert_eq!(got, want);
    }
}

#[test]
fn time_to_convert_with_totals_measures_every_attempt() {
    let t = utc(2025, 1, 10, 9, 0, 0);
    let events = vec![
        // u1: two attempts; the first takes the cart at 4 minutes, the second the one at 10.
        ev(t, "Search", "u1"),
        ev(t + MINUTE, "Search", "u1"),
        ev(t + 4 * MINUTE, "Cart", "u1"),
        ev(t + 10 * MINUTE, "Cart", "u1"),
        // u2: one attempt of 2 minutes; u3: an attempt that does not convert.
        ev(t, "Search", "u2"),
        ev(t + 2 * MINUTE, "Cart", "u2"),
        ev(t, "Search", "u3"),
    ];
    let result = funnel(
        &events,
        &["Search", "Cart"],
        json!({"time_to_convert": {"buckets_ms": [0, 180_000, 600_000]}}),
    );
    assert_eq!(overall(&result), [4, 3]);
    let times = result.time_to_convert.expect("time to convert");
    // Attempts of 4, 9 and 2 minutes.
    assert_eq!(times.persons, 3);
    assert_eq!(times.median_ms, Some(4.0 * MINUTE as f64));
    assert_eq!(times.average_ms, Some(5.0 * MINUTE as f64));
    let counts: Vec<u64> = times.histogram.iter().map(|b| b.persons).collect();
    assert_eq!(counts, [1, 2, 0]);
}

#[test]
fn a_later_step_group_by_buckets_each_attempt_by_its_own_path() {
    let t = utc(2025, 1, 10, 9, 0, 0);
    let events = vec![
        // u1: the first attempt takes the design cart, the second the video one.
        ev(t, "Search", "u1"),
        ev(t + MINUTE, "Search", "u1"),
        ev(t + 4 * MINUTE, "Cart", "u1").category("Design"),
        ev(t + 10 * MINUTE, "Cart", "u1").category("Video"),
        // u2: one attempt with a design cart, a later one with no cart after it.
        ev(t, "Search", "u2"),
        ev(t + 2 * MINUTE, "Cart", "u2").category("Design"),
        ev(t + 20 * MINUTE, "Search", "u2"),
    ];
    let extra = json!({"group_by": [{"kind": "event", "property": "category", "step": 2}]});
    let result = funnel(&events, &["Search", "Cart"], extra);
    assert_eq!(overall(&result), [4, 3]);
    let rows: Vec<(Option<String>, bool, Vec<u64>)> = result
        .by_breakdown
        .iter()
        .map(|row| {
            let value = row.values.first().cloned().unwrap_or(row.value.clone());
            let attempts = row.steps.iter().map(|s| s.persons).collect();
            (value, row.did_not_reach, attempts)
        })
        .collect();
    assert_eq!(
        rows,
        // By attempts entered, most first.
        [
            (Some("Design".to_owned()), false, vec![2, 2]),
            (None, true, vec![1, 0]),
            (Some("Video".to_owned()), false, vec![1, 1]),
        ]
    );
}
