//! The batches of one sync: who entered and who left between the computation the destination
//! holds and the one being synced, in person-id order, cut into batches whose message ids
//! (`<sync>::<run_ms>::<enter|exit>::<index>`) are the same every time the sync is tried.

use std::collections::BTreeMap;

use roaring::RoaringTreemap;

use super::store::PersonIds;

/// One person in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    /// The person id.
    pub(crate) person: u64,
    /// Their ids.
    pub(crate) ids: PersonIds,
}

/// One batch: persons entering or leaving the cohort.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Batch {
    /// Stable across tries of the same sync.
    pub(crate) message_id: String,
    /// Entering (true) or leaving.
    pub(crate) in_cohort: bool,
    /// Its number among the entering (or leaving) batches, from 0.
    pub(crate) index: usize,
    /// The persons.
    pub(crate) changes: Vec<Change>,
}

/// Who entered and who left.
#[derive(Debug, Default)]
pub(crate) struct Diff {
    /// Members now who the destination does not hold, by person id.
    pub(crate) entered: Vec<u64>,
    /// Persons the destination holds who are members no more.
    pub(crate) exited: Vec<u64>,
}

impl Diff {
    /// The diff from `held` (what the destination holds) to `members`.
    pub(crate) fn between(held: &BTreeMap<u64, PersonIds>, members: &RoaringTreemap) -> Diff {
        let held_set: RoaringTreemap = held.keys().copied().collect();
        Diff {
            entered: (members - &held_set).iter().collect(),
            exited: (&held_set - members).iter().collect(),
        }
    }
}

/// The batches of a sync named `sync` to computation `run_ms`: the entering persons' (with the
/// ids in `entering_ids`), then the leaving persons' (with the ids the destination was sent,
/// from `held`), `batch_size` persons each.
pub(crate) fn batches(
    sync: &str,
    run_ms: i64,
    diff: &Diff,
    entering_ids: &BTreeMap<u64, PersonIds>,
    held: &BTreeMap<u64, PersonIds>,
    batch_size: usize,
) -> Vec<Batch> {
    let cut = |persons: &[u64], ids: &BTreeMap<u64, PersonIds>, in_cohort: bool| {
        let side = if in_cohort { "enter" } else { "exit" };
        persons
            .chunks(batch_size.max(1))
            .enumerate()
            .map(|(index, chunk)| Batch {
                message_id: format!("{sync}::{run_ms}::{side}::{index}"),
                in_cohort,
                index,
                changes: chunk
                    .iter()
                    .map(|&person| Change {
                        person,
                        ids: ids.get(&person).cloned().unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect::<Vec<_>>()
    };
    let mut all = cut(&diff.entered, entering_ids, true);
    all.extend(cut(&diff.exited, held, false));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(user: &str) -> PersonIds {
        PersonIds {
            user_id: Some(user.to_owned()),
            device_id: None,
        }
    }

    #[test]
    fn entering_then_leaving_in_stable_batches() {
        let held: BTreeMap<u64, PersonIds> = [(1, ids("a")), (2, ids("b")), (3, ids("c"))]
            .into_iter()
            .collect();
        let members: RoaringTreemap = [2, 4, 5, 6].into_iter().collect();
        let diff = Diff::between(&held, &members);
        assert_eq!(diff.entered, vec![4, 5, 6]);
        assert_eq!(diff.exited, vec![1, 3]);
        let entering: BTreeMap<u64, PersonIds> = [(4, ids("d")), (5, ids("e")), (6, ids("f"))]
            .into_iter()
            .collect();
        let batches = batches("crm", 77, &diff, &entering, &held, 2);
        let summary: Vec<(String, bool, Vec<u64>)> = batches
            .iter()
            .map(|b| {
                (
                    b.message_id.clone(),
                    b.in_cohort,
                    b.changes.iter().map(|c| c.person).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("crm::77::enter::0".to_owned(), true, vec![4, 5]),
                ("crm::77::enter::1".to_owned(), true, vec![6]),
                ("crm::77::exit::0".to_owned(), false, vec![1, 3]),
            ]
        );
        assert_eq!(batches[2].changes[1].ids, ids("c"));
    }

    #[test]
    fn nothing_changed_means_no_batch() {
        let held: BTreeMap<u64, PersonIds> = [(1, ids("a"))].into_iter().collect();
        let members: RoaringTreemap = [1].into_iter().collect();
        let diff = Diff::between(&held, &members);
        assert!(batches("s", 1, &diff, &BTreeMap::new(), &held, 10).is_empty());
    }
}
