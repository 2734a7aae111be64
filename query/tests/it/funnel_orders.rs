//! Hand-computed funnels in any and exact order, and the combinations they refuse.

use serde_json::json;
use sluice_query::QuerySpec;

use crate::support::{TestEvent, ev, funnel_spec, overall, run, utc, write_dataset};

fn noon() -> i64 {
    utc(2025, 1, 10, 12, 0, 0)
}

/// Runs a funnel over `events` for 2025-01-10 (UTC) with `extra` spec fields.
fn counts(steps: &[&str], events: &[TestEvent], extra: serde_json::Value) -> Vec<u64> {
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), events, 2);
    let spec = funnel_spec(steps, "2025-01-10", "2025-01-10", extra);
    overall(&run(dir.path(), &spec).expect("runs"))
}

fn events() -> Vec<TestEvent> {
    let t = noon();
    vec![
        // in_order: Search, View, Buy with a Scroll between View and Buy.
        ev(t, "Search", "in_order"),
        ev(t + 1, "View", "in_order"),
        ev(t + 2, "Scroll", "in_order"),
        ev(t + 3, "Buy", "in_order"),
        // swapped: Search, Buy, View.
        ev(t, "Search", "swapped"),
        ev(t + 1, "Buy", "swapped"),
        ev(t + 2, "View", "swapped"),
        // before: View before Search, then Buy: the View does not count in any order.
        ev(t - 1, "View", "before"),
        ev(t, "Search", "before"),
        ev(t + 1, "Buy", "before"),
        // tight: Search, View, Buy back to back, a Scroll at the same ms as View.
        ev(t, "Search", "tight"),
        ev(t + 1, "View", "tight"),
        ev(t + 1, "Scroll", "tight"),
        ev(t + 2, "Buy", "tight"),
        // repeat: Search, Search, View: the second Search is another event between in exact
        // order for the first entry, but the second entry is clean.
        ev(t, "Search", "repeat"),
        ev(t + 1, "Search", "repeat"),
        ev(t + 2, "View", "repeat"),
    ]
}

#[test]
fn this_order_allows_events_between_steps() {
    let steps = ["Search", "View", "Buy"];
    assert_eq!(counts(&steps, &events(), json!({})), [5, 4, 2]);
    assert_eq!(
        counts(&steps, &events(), json!({"order": "this"})),
        [5, 4, 2]
    );
}

#[test]
fn any_order_takes_the_later_steps_in_any_order_after_step_1() {
    let steps = ["Search", "View", "Buy"];
    // swapped converts; before reaches only step 1 (its View is before the entry).
    assert_eq!(
        counts(&steps, &events(), json!({"order": "any"})),
        [5, 4, 3]
    );
}

#[test]
fn exact_order_breaks_on_any_other_event_between_steps() {
    let steps = ["Search", "View", "Buy"];
    // in_order breaks at Buy (Scroll between); tight converts (Scroll at View's ms); repeat
    // reaches View from its second Search.
    assert_eq!(
        counts(&steps, &events(), json!({"order": "exact"})),
        [5, 3, 1]
    );
}

#[test]
fn order_modes_refuse_what_they_cannot_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let error = |extra: serde_json::Value| {
        let spec = funnel_spec(&["A", "B"], "2025-01-10", "2025-01-10", extra);
        let err = run(dir.path(), &spec).expect_err("invalid");
        assert!(err.is_user_error(), "{err}");
        err.to_string()
    };
    let message = error(json!({"order": "any", "exclusions": [{"event_type": "X"}]}));
    assert!(
        message.contains("exclusions cannot be combined with order \"any\""),
        "{message}"
    );
    let message = error(json!({"order": "exact", "exclusions": [{"event_type": "X"}]}));
    assert!(message.contains("with order \"exact\""), "{message}");
    let message = error(json!({"order": "exact",
        "hold_constant": [{"kind": "event", "property": "category"}]}));
    assert!(
        message.contains("hold_constant cannot be combined"),
        "{message}"
    );
    let message = error(json!({"order": "any", "strict": ["strict_increase"]}));
    assert!(
        message.contains("order cannot be combined with strict"),
        "{message}"
    );
    let spec = json!({"version": 1, "analysis": "funnel", "order": "sideways",
        "date_range": {"from": "2025-01-10", "to": "2025-01-10"},
        "steps": [{"event_type": "A"}, {"event_type": "B"}]});
    let err = QuerySpec::from_json(&spec.to_string()).expect_err("unknown order");
    assert!(err.is_user_error(), "{err}");
    assert!(err.to_string().contains("sideways"), "{err}");
}

/// Steps with conditions on a repeated event type: two `View`s in one millisecond, an `x` and a
/// `y`, for `View`, `View where x`, `View where y`. Only the `x` can take step 3, so the `y` must
/// take step 2 (found in review: the earliest-candidate path, which orders same-millisecond
/// events by their step masks, gave step 2 the `x` and stopped at level 2).
#[test]
fn a_conditioned_step_repeating_a_type_gets_the_event_only_it_can_take() {
    let t = noon();
    let events = [
        ev(t, "Search", "u"),
        ev(t + 5_000, "View", "u").category("x"),
        ev(t + 5_000, "View", "u").category("y"),
    ];
    let on =
        |c: &str| json!([{"kind": "event", "property": "category", "op": "is", "values": [c]}]);
    let steps = json!([{"event_type": "Search"}, {"event_type": "View"},
                       {"event_type": "View", "where": on("x")},
                       {"event_type": "View", "where": on("y")}]);
    let names = ["Search", "View", "View", "View"];
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), &events, 1);
    let spec = funnel_spec(
        &names,
        "2025-01-10",
        "2025-01-10",
        json!({"steps": steps.clone(), "time_to_convert": {"to_step": 3}}),
    );
    let result = run(dir.path(), &spec).expect("runs");
    assert_eq!(overall(&result), [1, 1, 1, 0]);
    let times = result.time_to_convert.expect("times");
    assert_eq!(times.median_ms, Some(5_000.0));
    // A group-by on a later step cannot name one event here: refused.
    let spec = funnel_spec(
        &names,
        "2025-01-10",
        "2025-01-10",
        json!({"steps": steps,
               "group_by": [{"kind": "event", "property": "category", "step": 2}]}),
    );
    let message = run(dir.path(), &spec).expect_err("refused").to_string();
    assert!(
        message.contains("steps sharing an event type with different conditions"),
        "{message}"
    );
}
