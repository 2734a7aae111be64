//! Funnel event totals (`counting: totals`): every attempt counted. A plain reference written
//! from the documented definition (each step-1 event in the range starts an attempt, in time
//! order; of the ways to take free events for its steps, it keeps the longest and, among those,
//! the earliest, found here by trying every way) is compared with the engine on random datasets
//! — this, exact and any order, exclusions over all or some gaps, repeated step types, a step
//! repeating another's event type with a condition,
//! same-millisecond events, window edges, a category breakdown, conversion over time and time
//! to convert — plus hand-computed cases.

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
fn totals_refuse_the_strict_modes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fields = json!({"counting": "totals", "strict": ["strict_increase"]});
    let spec = funnel_spec(&["A", "B"], "2025-01-10", "2025-01-10", fields);
    let text = run(dir.path(), &spec).expect_err("refused").to_string();
    assert!(
        text.contains("counting \"totals\"") && text.contains("strict"),
        "{text}"
    );
}

/// One attempt of the reference: its entry's category and time, and the times at which it
/// reached each step (a step is reached when every step up to it has happened).
type Attempt = (Option<String>, i64, Vec<i64>);

/// The order mode and exclusion of a random funnel.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// In order; `X` events break the gaps between the 1-based steps `from..=to` when given.
    This {
        exclusion: Option<(usize, usize)>,
    },
    /// Exact order: any event breaks every gap.
    Exact,
    Any,
}

impl Mode {
    fn fields(self) -> serde_json::Value {
        match self {
            Mode::This { exclusion: None } => json!({}),
            Mode::This {
                exclusion: Some((from, to)),
            } => json!({"exclusions": [{"event_type": "X", "between": [from, to]}]}),
            Mode::Exact => json!({"order": "exact"}),
            Mode::Any => json!({"order": "any"}),
        }
    }

    /// Whether `e` breaks zero-based gap `gap` (step `gap + 1` to `gap + 2`).
    fn breaks(self, e: &TestEvent, gap: usize) -> bool {
        match self {
            Mode::This {
                exclusion: Some((from, to)),
            } => e.event_type == "X" && from <= gap + 1 && gap + 2 <= to,
            Mode::Exact => true,
            _ => false,
        }
    }
}

/// The reference: per person, events by (time, category) — the engine's order within a
/// millisecond — and the attempts the definition describes, each path found by trying every
/// way of taking events.
fn reference(
    events: &[TestEvent],
    steps: &[&str],
    window_ms: i64,
    entry: (i64, i64),
    mode: Mode,
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
            if !matches(start, steps[0]) || start.ts < entry.0 || start.ts > entry.1 {
                continue;
            }
            let ways = Ways {
                mine: &mine,
                steps,
                window_ms,
                mode,
                taken: &taken,
            };
            let mut best = vec![i];
            ways.search(&mut vec![i], &mut best);
            for &j in &best[1..] {
                taken[j] = true;
            }
            let reached = best
                .iter()
                .scan(i64::MIN, |t, &j| {
                    *t = (*t).max(mine[j].ts);
                    Some(*t)
                })
                .collect();
            found.push((start.category.clone(), start.ts, reached));
        }
    }
    found
}

/// Whether `e` matches a step: its event type, or for `Bx` a `B` of category `x`.
fn matches(e: &TestEvent, step: &str) -> bool {
    match step {
        "Bx" => e.event_type == "B" && e.category.as_deref() == Some("x"),
        _ => e.event_type == step,
    }
}

/// The spec of a step named as in [`matches`].
fn step_json(step: &str) -> serde_json::Value {
    match step {
        "Bx" => json!({"event_type": "B", "where": [
            {"kind": "event", "property": "category", "op": "is", "values": ["x"]}]}),
        _ => json!({"event_type": step}),
    }
}

/// One attempt's search over every way of taking events.
struct Ways<'a> {
    mine: &'a [&'a TestEvent],
    steps: &'a [&'a str],
    window_ms: i64,
    mode: Mode,
    taken: &'a [bool],
}

impl Ways<'_> {
    /// Every extension of `path`, step 2's event earliest first, then step 3's; `best` keeps
    /// the first path longer than all before it.
    fn search(&self, path: &mut Vec<usize>, best: &mut Vec<usize>) {
        if path.len() > best.len() {
            best.clone_from(path);
        }
        if path.len() == self.steps.len() {
            return;
        }
        for j in 0..self.mine.len() {
            if matches(self.mine[j], self.steps[path.len()])
                && !self.taken[j]
                && !path.contains(&j)
                && self.fits(path, j)
            {
                path.push(j);
                self.search(path, best);
                path.pop();
            }
        }
    }

    fn fits(&self, path: &[usize], j: usize) -> bool {
        let t0 = self.mine[path[0]].ts;
        let ts = self.mine[j].ts;
        if ts < t0 || ts > t0 + self.window_ms {
            return false;
        }
        if let Mode::Any = self.mode {
            return true;
        }
        let previous = self.mine[path[path.len() - 1]].ts;
        let gap = path.len() - 1;
        ts >= previous
            && !self
                .mine
                .iter()
                .any(|e| e.ts > previous && e.ts < ts && self.mode.breaks(e, gap))
    }
}

fn event_strategy() -> impl Strategy<Value = TestEvent> {
    (
        0..4u8,
        0..40i64,
        prop::sample::select(vec!["A", "B", "C", "X"]),
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

fn mode_strategy() -> impl Strategy<Value = Mode> {
    prop_oneof![
        Just(Mode::This { exclusion: None }),
        Just(Mode::This {
            exclusion: Some((1, 3))
        }),
        Just(Mode::This {
            exclusion: Some((2, 3))
        }),
        Just(Mode::Exact),
        Just(Mode::Any),
    ]
}

/// The exact median, the mean of the two middle values for an even count.
fn median(mut values: Vec<i64>) -> Option<f64> {
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2] as f64),
        _ => Some((values[n / 2 - 1] + values[n / 2]) as f64 / 2.0),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn totals_match_the_reference(
        events in prop::collection::vec(event_strategy(), 0..40),
        steps in prop::collection::vec(prop::sample::select(vec!["A", "B", "C", "Bx"]), 2..=4),
        window_minutes in prop::sample::select(vec![10u64, 25, 60]),
        breakdown in any::<bool>(),
        mode in mode_strategy(),
    ) {
        let steps: Vec<&str> = steps.into_iter().collect();
        // An exclusion's steps must exist.
        let mode = match mode {
            Mode::This { exclusion: Some((_, to)) } if to > steps.len() =>
                Mode::This { exclusion: Some((1, steps.len())) },
            other => other,
        };
        let mut extra = json!({
            "steps": steps.iter().map(|s| step_json(s)).collect::<Vec<_>>(),
            "conversion_window": {"value": window_minutes, "unit": "minute"},
            "interval": "hour",
            "time_to_convert": {},
        });
        if let serde_json::Value::Object(fields) = mode.fields() {
            extra.as_object_mut().expect("object").extend(fields);
        }
        if breakdown {
            extra["breakdown"] = json!({"kind": "event", "property": "category"});
        }
        let result = funnel(&events, &steps, extra);
        let entry = (utc(2025, 1, 10, 0, 0, 0), utc(2025, 1, 11, 0, 0, 0) - 1);
        let attempts = reference(&events, &steps, window_minutes as i64 * MINUTE, entry, mode);
        let reached = |mine: &[&Attempt]| -> Vec<u64> {
            (1..=steps.len())
                .map(|k| mine.iter().filter(|a| a.2.len() >= k).count() as u64)
                .collect()
        };
        let all: Vec<_> = attempts.iter().collect();
        prop_assert_eq!(overall(&result), reached(&all));
        // Time to convert: every attempt reaching the last step, from its entry.
        let durations: Vec<i64> = attempts.iter()
            .filter(|a| a.2.len() == steps.len())
            .map(|a| a.2[steps.len() - 1] - a.1)
            .collect();
        let times = result.time_to_convert.clone().expect("time to convert");
        prop_assert_eq!(times.persons, durations.len() as u64);
        prop_assert_eq!(times.median_ms, median(durations));
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

#[test]
fn with_an_exclusion_an_attempt_takes_the_step_event_after_it() {
    let t = utc(2025, 1, 10, 9, 0, 0);
    let events = vec![
        // u1: Search, View, Refund, View, Buy: the second view converts past the refund.
        ev(t, "Search", "u1"),
        ev(t + MINUTE, "View", "u1"),
        ev(t + 2 * MINUTE, "Refund", "u1"),
        ev(t + 3 * MINUTE, "View", "u1"),
        ev(t + 4 * MINUTE, "Buy", "u1"),
        // u2: two attempts. The refund breaks the first one's path through the first view, so
        // it takes the second view and the buy (the longest way); the second attempt finds
        // them taken.
        ev(t, "Search", "u2"),
        ev(t + MINUTE, "View", "u2"),
        ev(t + 2 * MINUTE, "Refund", "u2"),
        ev(t + 3 * MINUTE, "Search", "u2"),
        ev(t + 4 * MINUTE, "View", "u2"),
        ev(t + 5 * MINUTE, "Buy", "u2"),
    ];
    let steps = ["Search", "View", "Buy"];
    let refund = json!({"exclusions": [{"event_type": "Refund", "between": [2, 3]}]});
    assert_eq!(overall(&funnel(&events, &steps, refund)), [3, 2, 2]);
    // In exact order any event between two steps breaks them: u1's attempt and u2's first
    // reach their first view and stop; u2's second attempt converts.
    let exact = json!({"order": "exact"});
    assert_eq!(overall(&funnel(&events, &steps, exact)), [3, 3, 1]);
}

#[test]
fn in_any_order_an_attempt_takes_the_earliest_events_that_keep_its_steps() {
    let t = utc(2025, 1, 10, 9, 0, 0);
    let events = vec![
        ev(t, "Search", "u1"),
        ev(t + MINUTE, "Cart", "u1").category("x"),
        ev(t + 2 * MINUTE, "Cart", "u1").category("y"),
        ev(t + 3 * MINUTE, "Cart", "u1").category("x"),
        ev(t + 150_000, "Search", "u1"),
    ];
    let extra = json!({
        "order": "any",
        "steps": [{"event_type": "Search"}, {"event_type": "Cart"},
                  {"event_type": "Cart", "where": [
                      {"kind": "event", "property": "category", "op": "is", "values": ["x"]}]}],
        "time_to_convert": {},
    });
    let result = funnel(&events, &["Search", "Cart", "Cart"], extra);
    // The first attempt: step 2 takes the cart at 1 minute (the earliest that leaves a cart of
    // x for step 3, the one at 3); the second attempt (2.5 minutes) finds no free cart after
    // its search.
    assert_eq!(overall(&result), [2, 1, 1]);
    let times = result.time_to_convert.expect("time to convert");
    assert_eq!(times.median_ms, Some(3.0 * MINUTE as f64));
}

#[test]
fn events_of_one_millisecond_go_to_the_steps_that_make_the_attempt_longest() {
    let t = utc(2025, 1, 10, 9, 0, 0);
    // Steps: search, cart, cart of x, cart of y. Two carts share a millisecond; the cart of x
    // matches steps 2 and 3 and comes first, so taking it for step 2 would leave nothing for
    // step 3. The cart of y takes step 2 and the cart of x step 3.
    let events = vec![
        ev(t, "Search", "u1"),
        ev(t + MINUTE, "Cart", "u1").category("x"),
        ev(t + MINUTE, "Cart", "u1").category("y"),
    ];
    let cart_of = |value: &str| {
        json!({"event_type": "Cart", "where": [
            {"kind": "event", "property": "category", "op": "is", "values": [value]}]})
    };
    let extra = json!({
        "steps": [{"event_type": "Search"}, {"event_type": "Cart"}, cart_of("x"), cart_of("y")],
    });
    let result = funnel(&events, &["Search", "Cart", "Cart", "Cart"], extra);
    assert_eq!(overall(&result), [1, 1, 1, 0]);
}
