//! Hand-computed funnels with exclusion steps, and the spec errors of exclusions.

use serde_json::json;

use crate::support::{TestEvent, ev, funnel_spec, overall, rows, run, utc, write_dataset};

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

#[test]
fn an_exclusion_between_all_steps_stops_the_path_where_it_happened() {
    let t = noon();
    let events = [
        // clean: converts.
        ev(t, "Search", "clean"),
        ev(t + 1, "View", "clean"),
        ev(t + 2, "Buy", "clean"),
        // early: Refund between Search and View: stays at step 1.
        ev(t, "Search", "early"),
        ev(t + 1, "Refund", "early"),
        ev(t + 2, "View", "early"),
        ev(t + 3, "Buy", "early"),
        // late: Refund between View and Buy: stays at step 2.
        ev(t, "Search", "late"),
        ev(t + 1, "View", "late"),
        ev(t + 2, "Refund", "late"),
        ev(t + 3, "Buy", "late"),
        // after: Refund after the last step does not matter.
        ev(t, "Search", "after"),
        ev(t + 1, "View", "after"),
        ev(t + 2, "Buy", "after"),
        ev(t + 3, "Refund", "after"),
        // tie: Refund at the same millisecond as View does not exclude.
        ev(t, "Search", "tie"),
        ev(t + 1, "Refund", "tie"),
        ev(t + 1, "View", "tie"),
        ev(t + 2, "Buy", "tie"),
    ];
    let steps = ["Search", "View", "Buy"];
    assert_eq!(counts(&steps, &events, json!({})), [5, 5, 5]);
    let exclusion = json!({"exclusions": [{"event_type": "Refund"}]});
    assert_eq!(counts(&steps, &events, exclusion), [5, 4, 3]);
    // The same exclusion only between steps 2 and 3: "early" converts now.
    let exclusion = json!({"exclusions": [{"event_type": "Refund", "between": [2, 3]}]});
    assert_eq!(counts(&steps, &events, exclusion), [5, 5, 4]);
}

#[test]
fn another_path_around_the_exclusion_converts() {
    let t = noon();
    let events = [
        // The first View is cut off from Buy by the Refund; the second View is not.
        ev(t, "Search", "u1"),
        ev(t + 1, "View", "u1"),
        ev(t + 2, "Refund", "u1"),
        ev(t + 3, "View", "u1"),
        ev(t + 4, "Buy", "u1"),
        // A second entry after the Refund converts.
        ev(t, "Search", "u2"),
        ev(t + 1, "Refund", "u2"),
        ev(t + 2, "Search", "u2"),
        ev(t + 3, "View", "u2"),
        ev(t + 4, "Buy", "u2"),
    ];
    let exclusion = json!({"exclusions": [{"event_type": "Refund", "between": [2, 3]}]});
    assert_eq!(
        counts(&["Search", "View", "Buy"], &events, exclusion),
        [2, 2, 2]
    );
    // Between all steps u1's Refund also separates Search from the second View.
    let everywhere = json!({"exclusions": [{"event_type": "Refund"}]});
    assert_eq!(
        counts(&["Search", "View", "Buy"], &events, everywhere),
        [2, 2, 1]
    );
}

#[test]
fn exclusion_conditions_and_breakdown() {
    let t = noon();
    let events = [
        ev(t, "Search", "u1").category("shoes"),
        ev(t + 1, "View", "u1").category("excluded"),
        ev(t + 2, "Buy", "u1"),
        ev(t, "Search", "u2").category("hats"),
        ev(t + 1, "View", "u2").category("kept"),
        ev(t + 2, "Buy", "u2"),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    write_dataset(dir.path(), &events, 1);
    // Steps Search → Buy; a View with category "excluded" in between excludes.
    let extra = json!({
        "breakdown": {"kind": "event", "property": "category"},
        "exclusions": [{"event_type": "View", "where": [
            {"kind": "event", "property": "category", "op": "is", "values": ["excluded"]}]}],
    });
    let spec = funnel_spec(&["Search", "Buy"], "2025-01-10", "2025-01-10", extra);
    let result = run(dir.path(), &spec).expect("runs");
    assert_eq!(overall(&result), [2, 1]);
    assert_eq!(
        rows(&result),
        [
            (Some("hats".to_owned()), vec![1, 1]),
            (Some("shoes".to_owned()), vec![1, 0]),
        ]
    );
    assert_eq!(result.overall.steps[1].drop_off, 1);
}

#[test]
fn an_exclusion_that_is_also_a_step_excludes_only_between_the_steps() {
    let t = noon();
    let events = [
        // Search twice before View: the second Search lies between steps 1 and 2 of the path
        // from the first, but the path from the second Search is clean.
        ev(t, "Search", "u1"),
        ev(t + 1, "Search", "u1"),
        ev(t + 2, "View", "u1"),
        // Search, View, Search, Buy: excluded between steps 2 and 3 only.
        ev(t, "Search", "u2"),
        ev(t + 1, "View", "u2"),
        ev(t + 2, "Search", "u2"),
        ev(t + 3, "Buy", "u2"),
    ];
    let exclusion = json!({"exclusions": [{"event_type": "Search"}]});
    assert_eq!(
        counts(&["Search", "View", "Buy"], &events, exclusion),
        [2, 2, 0]
    );
}

#[test]
fn exclusion_spec_errors_name_the_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let error = |extra: serde_json::Value| {
        let spec = funnel_spec(&["A", "B", "C"], "2025-01-10", "2025-01-10", extra);
        let err = run(dir.path(), &spec).expect_err("invalid");
        assert!(err.is_user_error(), "{err}");
        err.to_string()
    };
    let message = error(json!({"exclusions": [{"event_type": "X", "between": [2, 2]}]}));
    assert!(
        message.contains("exclusions[0].between: [2, 2]"),
        "{message}"
    );
    let message = error(json!({"exclusions": [{"event_type": "X", "between": [1, 4]}]}));
    assert!(message.contains("1 <= from < to <= 3"), "{message}");
    let message = error(json!({"exclusions": [{"event_type": ""}]}));
    assert!(message.contains("exclusions[0].event_type"), "{message}");
    let message = error(json!({"exclusions": vec![json!({"event_type": "X"}); 33]}));
    assert!(message.contains("at most 31 exclusion steps"), "{message}");
    let message = error(json!({"exclusions": [{"event_type": "X"}],
                               "strict": ["strict_increase"]}));
    assert!(
        message.contains("exclusions cannot be combined with strict"),
        "{message}"
    );
    let message = error(json!({"exclusions": [{"event_type": "X", "where": [
        {"kind": "event", "property": "price", "op": "less", "values": ["cheap"]}]}]}));
    assert!(message.contains("exclusions[0].where[0]"), "{message}");
}
