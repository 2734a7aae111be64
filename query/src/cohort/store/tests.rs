use super::*;
use crate::cohort::spec::CohortCondition;
use std::fs::OpenOptions;
use std::io::Write;

fn cohort(name: &str) -> SavedCohort {
    SavedCohort {
        name: name.to_owned(),
        description: Some("viewed, did not buy".to_owned()),
        owner: None,
        project: Some("marketplace".to_owned()),
        time_zone: "Asia/Seoul".to_owned(),
        definition: CohortCondition::UserIds(vec!["u1".to_owned()]),
    }
}

fn members(ids: &[u64]) -> RoaringTreemap {
    ids.iter().copied().collect()
}

#[test]
fn saved_cohorts_are_listed_read_back_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store = CohortStore::new(dir.path());
    assert_eq!(store.names().unwrap(), Vec::<String>::new());
    store.save(&cohort("lapsed-buyers")).unwrap();
    store.save(&cohort("a_first")).unwrap();
    assert_eq!(store.names().unwrap(), ["a_first", "lapsed-buyers"]);
    assert_eq!(store.get("lapsed-buyers").unwrap(), cohort("lapsed-buyers"));
    store.delete("a_first").unwrap();
    assert!(matches!(store.get("a_first"), Err(StoreError::NotFound(_))));
    assert!(matches!(
        store.delete("a_first"),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn names_that_could_leave_the_folder_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = CohortStore::new(dir.path());
    for name in ["", "../x", "A", "a b", "a/b", &"x".repeat(65)] {
        let error = store.save(&cohort(name)).unwrap_err();
        assert!(matches!(error, StoreError::InvalidName(_)), "{name}");
        assert!(error.is_user_error());
    }
}

#[test]
fn each_computation_records_who_entered_and_who_exited() {
    let dir = tempfile::tempdir().unwrap();
    let store = CohortStore::new(dir.path());
    store.save(&cohort("c")).unwrap();
    assert!(store.latest("c").unwrap().is_none());
    let first = store
        .record("c", 1_000, "2025-03-01", &members(&[1, 2, 3]))
        .unwrap();
    assert_eq!((first.size, first.entered, first.exited), (3, 3, 0));
    let second = store
        .record("c", 2_000, "2025-03-02", &members(&[2, 3, 4, 1 << 41]))
        .unwrap();
    assert_eq!((second.size, second.entered, second.exited), (4, 2, 1));
    assert_eq!(store.history("c").unwrap(), [first, second.clone()]);
    let (run, latest) = store.latest("c").unwrap().unwrap();
    assert_eq!(run, second);
    assert_eq!(latest, members(&[2, 3, 4, 1 << 41]));
    // Time does not go back.
    assert!(
        store
            .record("c", 2_000, "2025-03-02", &members(&[]))
            .is_err()
    );
    // Saving the definition again keeps the history.
    store.save(&cohort("c")).unwrap();
    assert_eq!(store.history("c").unwrap().len(), 2);
}

#[test]
fn a_history_line_cut_by_a_crash_is_dropped_and_the_next_starts_clean() {
    let dir = tempfile::tempdir().unwrap();
    let store = CohortStore::new(dir.path());
    store.save(&cohort("c")).unwrap();
    store
        .record("c", 1_000, "2025-03-01", &members(&[1]))
        .unwrap();
    let history = dir.path().join("cohorts/c/history.jsonl");
    let mut file = OpenOptions::new().append(true).open(&history).unwrap();
    file.write_all(b"{\"computed_ms\":2000,\"as_of\":\"2025-")
        .unwrap();
    drop(file);
    assert_eq!(store.history("c").unwrap().len(), 1);
    let next = store
        .record("c", 3_000, "2025-03-03", &members(&[1, 2]))
        .unwrap();
    assert_eq!((next.entered, next.exited), (1, 0));
    let runs = store.history("c").unwrap();
    assert_eq!(
        runs.iter().map(|r| r.computed_ms).collect::<Vec<_>>(),
        [1_000, 3_000]
    );
}

#[test]
fn an_uploaded_list_is_one_id_per_line() {
    let text = "user_id\n u_1 \n\n\"u_2\"\r\nu_1\n";
    assert_eq!(ids_from_csv(text), ["u_1", "u_2"]);
    assert_eq!(ids_from_csv("x\ny"), ["x", "y"]);
    assert!(ids_from_csv("id\n").is_empty());
}
