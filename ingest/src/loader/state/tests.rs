use serde_json::{Value, json};
use sluice_schema::Event;

use super::*;

fn event(insert_id: &str, user: &str, received_ms: i64, user_props: Value) -> EventRow<'static> {
    row(&Event {
        project: "shop".into(),
        event_type: if user_props.as_object().is_some_and(|p| !p.is_empty()) {
            "$identify".into()
        } else {
            "View".into()
        },
        user_id: Some(user.into()),
        device_id: format!("dev-{user}"),
        insert_id: Some(insert_id.into()),
        server_received_time: received_ms,
        user_properties: match user_props {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        },
        ..Event::default()
    })
}

fn open(dir: &Path, committed: &Positions) -> Result<LoaderState, LoaderError> {
    let persons = PersonSpace {
        partition: 0,
        shared: false,
    };
    LoaderState::open(dir, committed, persons)
}

fn at(offset: u64) -> Positions {
    Positions::from([(0, offset)])
}

fn ids<'a>(processed: &'a Processed<'_>) -> Vec<&'a str> {
    processed
        .events
        .iter()
        .map(|e| e.insert_id.as_deref().unwrap())
        .collect()
}

#[test]
fn duplicates_are_dropped_within_a_batch_and_across_batches() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = open(dir.path(), &at(0)).unwrap();
    let out = state.process(
        vec![
            event("a", "u1", 1, json!({})),
            event("b", "u1", 2, json!({})),
            event("a", "u1", 3, json!({})),
        ],
        &mut Vec::new(),
    );
    assert_eq!(ids(&out), ["a", "b"]);
    assert_eq!(out.duplicates, 1);
    let out = state.process(
        vec![
            event("b", "u1", 4, json!({})),
            event("c", "u1", 5, json!({})),
        ],
        &mut Vec::new(),
    );
    assert_eq!(ids(&out), ["c"]);
}

#[test]
fn committed_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = open(dir.path(), &at(0)).unwrap();
    state.process(
        vec![
            event("a", "u1", 1, json!({"$set": {"plan": "pro"}})),
            event("b", "u1", 2, json!({})),
        ],
        &mut Vec::new(),
    );
    state.persist(&at(2)).unwrap();
    drop(state);

    let mut state = open(dir.path(), &at(2)).unwrap();
    let out = state.process(
        vec![
            event("a", "u1", 3, json!({})),
            event("c", "u1", 4, json!({})),
        ],
        &mut Vec::new(),
    );
    assert_eq!(ids(&out), ["c"], "a was stored before the restart");
    assert_eq!(out.events[0].user_properties["plan"], "pro");
}

#[test]
fn an_uncommitted_batch_is_forgotten_and_replays_identically() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = open(dir.path(), &at(0)).unwrap();
    state.process(
        vec![event("a", "u1", 1, json!({"$add": {"n": 1}}))],
        &mut Vec::new(),
    );
    state.persist(&at(1)).unwrap();
    // Batch [1, 3) is journaled, then the loader dies before committing 3.
    let batch = || {
        vec![
            event("b", "u1", 2, json!({"$add": {"n": 1}})),
            event("c", "u1", 3, json!({})),
        ]
    };
    let first_try = state.process(batch(), &mut Vec::new());
    state.persist(&at(3)).unwrap();
    drop(state);

    let mut state = open(dir.path(), &at(1)).unwrap();
    let replay = state.process(batch(), &mut Vec::new());
    assert_eq!(
        ids(&replay),
        ["b", "c"],
        "nothing of the batch counts as seen"
    );
    assert_eq!(
        replay.events, first_try.events,
        "the replay stamps the same properties"
    );
    assert_eq!(replay.events[1].user_properties["n"], 2);
    state.persist(&at(3)).unwrap();
    drop(state);

    // The journal was cut at the uncommitted frame, so the replay's frame is the only one.
    let mut state = open(dir.path(), &at(3)).unwrap();
    let out = state.process(vec![event("d", "u1", 4, json!({}))], &mut Vec::new());
    assert_eq!(out.events[0].user_properties["n"], 2);
}

#[test]
fn compaction_keeps_the_state_and_later_frames_apply_on_top() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = open(dir.path(), &at(0)).unwrap();
    state.process(
        vec![
            event("a", "u1", 1, json!({"$set": {"plan": "free"}})),
            event("b", "u2", 2, json!({"$set": {"plan": "pro"}})),
        ],
        &mut Vec::new(),
    );
    state.persist(&at(2)).unwrap();
    state.compact(&at(2)).unwrap();
    state.process(
        vec![event("c", "u1", 3, json!({"$set": {"plan": "team"}}))],
        &mut Vec::new(),
    );
    state.persist(&at(3)).unwrap();
    drop(state);

    let mut state = open(dir.path(), &at(3)).unwrap();
    let out = state.process(
        vec![
            event("a", "u1", 4, json!({})),
            event("c", "u1", 5, json!({})),
            event("e", "u1", 6, json!({})),
            event("f", "u2", 7, json!({})),
        ],
        &mut Vec::new(),
    );
    assert_eq!(ids(&out), ["e", "f"]);
    assert_eq!(out.events[0].user_properties["plan"], "team");
    assert_eq!(out.events[1].user_properties["plan"], "pro");
}

#[test]
fn a_crash_between_snapshot_and_journal_truncation_applies_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = open(dir.path(), &at(0)).unwrap();
    state.process(
        vec![event("a", "u1", 1, json!({"$add": {"n": 1}}))],
        &mut Vec::new(),
    );
    state.persist(&at(1)).unwrap();
    let journal = dir.path().join(STATE_DIR).join("journal");
    let before = std::fs::read(&journal).unwrap();
    state.compact(&at(1)).unwrap();
    drop(state);
    // As if the crash came right after the snapshot's rename: the old journal is still there.
    std::fs::write(&journal, before).unwrap();

    let mut state = open(dir.path(), &at(1)).unwrap();
    let out = state.process(
        vec![event("b", "u1", 2, json!({"$add": {"n": 1}}))],
        &mut Vec::new(),
    );
    assert_eq!(
        out.events[0].user_properties["n"], 2,
        "n was added once, not twice"
    );
}
