//! Identity resolution at load time: which person each event belongs to (Amplitude's rules).
//!
//! Every event gets a dense integer `person_id`, so analyses aggregate on integers, never on
//! strings. Persons are numbered per log partition (`partition << PARTITION_SHIFT | n`). In
//! arrival order, for an event on device `d` of project `p`:
//! - **with a `user_id`**: the user's person (numbered on first sight). If `d` so far had only
//!   anonymous events, its anonymous person **merges** into the user's: the device's earlier
//!   anonymous events belong to the user who logs in on it (rule 2; rule 5 when the user was
//!   known from another device). The device now belongs to that user.
//! - **without**: the person of the last user seen on `d` (anonymous events after a logout go to
//!   the last known user, rule 4), else the device's own anonymous person (rule 1).
//!
//! User ids are never merged with each other: a device that already had a user switches to the
//! next user without a merge. Merges are not applied to events already stored; they are written
//! to the identity dataset (`sluice_schema::layout::identity`) and applied at query time. A
//! device's events share a log partition (events are keyed by device), so the rules above are
//! exact per partition; a user seen in several partitions has an id in each, which the identity
//! dataset's user rows let the query layer unite.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sluice_schema::EventRow;
use sluice_schema::layout::identity::PARTITION_SHIFT;

/// What a device is known as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DeviceIdentity {
    /// The device's anonymous person, or the person of the last user seen on it.
    pub(crate) person: i64,
    /// Whether a user was ever seen on the device (then `person` is a user's).
    pub(crate) identified: bool,
}

/// A change to the identity state, as journaled (replayed in order on open).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum IdentityEntry {
    /// `(project, user_id)` key → person.
    User(String, i64),
    /// `(project, device_id)` key → what the device is known as.
    Device(String, DeviceIdentity),
    /// The next person number (persons no entry names any more are never numbered again).
    Next(i64),
}

/// Something the query layer must learn (a row of the identity dataset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Learnt {
    /// `from` (an anonymous person) belongs to `into` (a user's person).
    Merge {
        project: String,
        from: i64,
        into: i64,
        time: i64,
    },
    /// A user first seen in this partition got `person`.
    User {
        project: String,
        user_id: String,
        person: i64,
        time: i64,
    },
}

/// The identity state of one log partition.
pub(crate) struct Identities {
    /// Added to every person number: `partition << PARTITION_SHIFT`.
    base: i64,
    /// The next person number.
    next: i64,
    /// Whether users can also appear in other partitions (then first sightings are reported).
    shared: bool,
    users: HashMap<String, i64>,
    devices: HashMap<String, DeviceIdentity>,
}

fn key(project: &str, id: &str) -> String {
    let mut key = String::with_capacity(project.len() + 1 + id.len());
    key.push_str(project);
    key.push('\0');
    key.push_str(id);
    key
}

impl Identities {
    /// Empty state for log partition `partition`; `shared` when other partitions of the same
    /// stream can carry the same users (a Kafka topic's partitions).
    pub(crate) fn new(partition: u32, shared: bool) -> Self {
        Identities {
            base: i64::from(partition) << PARTITION_SHIFT,
            next: 0,
            shared,
            users: HashMap::new(),
            devices: HashMap::new(),
        }
    }

    /// Applies a journaled entry.
    pub(crate) fn restore(&mut self, entry: IdentityEntry) {
        match entry {
            IdentityEntry::User(key, person) => {
                self.users.insert(key, person);
            }
            IdentityEntry::Device(key, device) => {
                self.devices.insert(key, device);
            }
            IdentityEntry::Next(next) => self.next = self.next.max(next),
        }
    }

    /// The entry recording the next person number.
    pub(crate) fn next_entry(&self) -> IdentityEntry {
        IdentityEntry::Next(self.next)
    }

    /// Every entry, for a snapshot.
    pub(crate) fn entries(&self) -> impl Iterator<Item = IdentityEntry> + '_ {
        let users = self
            .users
            .iter()
            .map(|(k, &p)| IdentityEntry::User(k.clone(), p));
        let devices = self
            .devices
            .iter()
            .map(|(k, &d)| IdentityEntry::Device(k.clone(), d));
        users.chain(devices).chain([self.next_entry()])
    }

    /// Number of users and devices known.
    pub(crate) fn len(&self) -> usize {
        self.users.len() + self.devices.len()
    }

    fn allocate(&mut self) -> i64 {
        let person = self.base | self.next;
        self.next += 1;
        person
    }

    /// Resolves `event`'s person and stamps it (see the module docs). State changes go to
    /// `changed`, facts for the query layer to `learnt`.
    pub(crate) fn process(
        &mut self,
        event: &mut EventRow<'_>,
        changed: &mut Vec<IdentityEntry>,
        learnt: &mut Vec<Learnt>,
    ) {
        let project: &str = &event.project;
        let device_key = key(project, &event.device_id);
        let person = match &event.user_id {
            Some(user_id) => {
                let user_key = key(project, user_id);
                let person = match self.users.get(&user_key) {
                    Some(&person) => person,
                    None => {
                        let person = self.allocate();
                        self.users.insert(user_key.clone(), person);
                        changed.push(IdentityEntry::User(user_key, person));
                        if self.shared {
                            learnt.push(Learnt::User {
                                project: project.to_owned(),
                                user_id: user_id.to_string(),
                                person,
                                time: event.event_time,
                            });
                        }
                        person
                    }
                };
                let now = DeviceIdentity {
                    person,
                    identified: true,
                };
                let before = self.devices.insert(device_key.clone(), now);
                if let Some(before) = before.filter(|b| !b.identified) {
                    learnt.push(Learnt::Merge {
                        project: project.to_owned(),
                        from: before.person,
                        into: person,
                        time: event.event_time,
                    });
                }
                if before != Some(now) {
                    changed.push(IdentityEntry::Device(device_key, now));
                }
                person
            }
            None => match self.devices.get(&device_key) {
                Some(device) => device.person,
                None => {
                    let device = DeviceIdentity {
                        person: self.allocate(),
                        identified: false,
                    };
                    self.devices.insert(device_key.clone(), device);
                    changed.push(IdentityEntry::Device(device_key, device));
                    device.person
                }
            },
        };
        event.person_id = Some(person);
    }
}

#[cfg(test)]
mod tests {
    use sluice_schema::Event;

    use super::*;
    use crate::loader::state::row;

    /// Runs events `(user, device)` through fresh state; returns each event's person and the
    /// merges learnt.
    fn resolve(events: &[(Option<&str>, &str)]) -> (Vec<i64>, Vec<(i64, i64)>) {
        let mut identities = Identities::new(0, false);
        let (mut changed, mut learnt) = (Vec::new(), Vec::new());
        let persons = events
            .iter()
            .map(|(user, device)| {
                let mut event = row(&Event {
                    project: "p".into(),
                    user_id: user.map(str::to_owned),
                    device_id: (*device).into(),
                    ..Event::default()
                });
                identities.process(&mut event, &mut changed, &mut learnt);
                event.person_id.unwrap()
            })
            .collect();
        let merges = learnt
            .into_iter()
            .map(|l| match l {
                Learnt::Merge { from, into, .. } => (from, into),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        (persons, merges)
    }

    #[test]
    fn a_new_device_without_user_is_a_new_person() {
        let (persons, merges) = resolve(&[(None, "a"), (None, "b"), (None, "a")]);
        assert_eq!(persons, [0, 1, 0]);
        assert!(merges.is_empty());
    }

    #[test]
    fn anonymous_events_before_login_merge_into_the_user() {
        // Amplitude's rule 2: G anonymous, then (G, John).
        let (persons, merges) = resolve(&[(None, "G"), (Some("John"), "G"), (None, "G")]);
        assert_eq!(persons, [0, 1, 1]);
        assert_eq!(merges, [(0, 1)]);
    }

    #[test]
    fn one_user_on_two_devices_is_one_person() {
        let (persons, merges) = resolve(&[(Some("u"), "K"), (Some("u"), "L")]);
        assert_eq!(persons, [0, 0]);
        assert!(merges.is_empty());
    }

    #[test]
    fn anonymous_events_go_to_the_last_known_user_and_users_never_merge() {
        // Rule 4: device R sees Jane, null, Mary, null, null.
        let (persons, merges) = resolve(&[
            (Some("Jane"), "R"),
            (None, "R"),
            (Some("Mary"), "R"),
            (None, "R"),
            (None, "R"),
        ]);
        assert_eq!(persons, [0, 0, 1, 1, 1]);
        assert!(merges.is_empty(), "{merges:?}");
    }

    #[test]
    fn a_known_user_logging_in_on_an_anonymous_device_takes_its_history() {
        // Rule 5: David on Y; anonymous on Z; David on Z; anonymous on Z.
        let (persons, merges) = resolve(&[
            (Some("David"), "Y"),
            (None, "Z"),
            (Some("David"), "Z"),
            (None, "Z"),
        ]);
        assert_eq!(persons, [0, 1, 0, 0]);
        assert_eq!(merges, [(1, 0)]);
    }

    #[test]
    fn restored_state_never_numbers_a_person_twice() {
        // The device's anonymous person (the highest number) merges into an older user, so no
        // user or device names it any more; a restored state must still not reuse it.
        let mut identities = Identities::new(3, true);
        let base = 3_i64 << PARTITION_SHIFT;
        let (mut changed, mut learnt) = (Vec::new(), Vec::new());
        for (user, device) in [(Some("u"), "a"), (None, "b"), (Some("u"), "b")] {
            let mut event = row(&Event {
                project: "p".into(),
                user_id: user.map(str::to_owned),
                device_id: device.into(),
                ..Event::default()
            });
            identities.process(&mut event, &mut changed, &mut learnt);
        }
        let mut restored = Identities::new(3, true);
        for entry in identities.entries() {
            restored.restore(entry);
        }
        assert_eq!(restored.allocate(), base + 2);
        // Journaled changes plus the next number restore the same state.
        let mut replayed = Identities::new(3, true);
        for entry in changed.into_iter().chain([identities.next_entry()]) {
            replayed.restore(entry);
        }
        assert_eq!(replayed.allocate(), base + 2);
        assert_eq!(replayed.users, identities.users);
        assert_eq!(replayed.devices, identities.devices);
    }

    #[test]
    fn shared_partitions_report_users_first_seen() {
        let mut identities = Identities::new(1, true);
        let (mut changed, mut learnt) = (Vec::new(), Vec::new());
        for _ in 0..2 {
            let mut event = row(&Event {
                project: "p".into(),
                user_id: Some("u".into()),
                device_id: "d".into(),
                event_time: 5,
                ..Event::default()
            });
            identities.process(&mut event, &mut changed, &mut learnt);
        }
        assert_eq!(
            learnt,
            [Learnt::User {
                project: "p".into(),
                user_id: "u".into(),
                person: 1 << PARTITION_SHIFT,
                time: 5,
            }]
        );
    }
}
