//! What the loader remembers between batches: the dedup index and the user/group property state.
//!
//! The loader is the one serial consumer of the log, so it is where "seen this `insert_id`
//! before?" and "what were this user's properties when the event arrived?" are answered in
//! arrival order, exactly once. The state is persisted by [`journal`] so that it always equals
//! the committed batches applied once: after a crash the loader reopens the state at the
//! committed position and replays the interrupted batch against it, producing the same files.

mod dedup;
mod identity;
mod journal;
mod properties;

use std::path::Path;

use sluice_schema::EventRow;

use crate::error::LoaderError;
use crate::log::Positions;

use dedup::{DedupIndex, dedup_key};
use identity::{Identities, IdentityEntry};
use journal::{Frame, Journal, frames};
use properties::{Changed, PropertyStore};

pub(crate) use identity::Learnt;

/// Folder of the state files, under the loader's state directory.
const STATE_DIR: &str = "loader-state";

/// The loader's state and its files.
pub(crate) struct LoaderState {
    dedup: DedupIndex,
    properties: PropertyStore,
    identities: Identities,
    journal: Journal,
    /// Changes of the batch being processed, not yet journaled.
    pending_keys: Vec<(u128, i64)>,
    pending_entries: Changed,
    pending_identities: Vec<IdentityEntry>,
}

/// The outcome of processing one batch.
pub(crate) struct Processed<'r> {
    /// The events to store, stamped with their person and user and group properties.
    pub(crate) events: Vec<EventRow<'r>>,
    /// How many events were dropped as duplicates.
    pub(crate) duplicates: usize,
}

/// Which persons a loader numbers: those of one log partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PersonSpace {
    /// The log partition (its number goes into the high bits of person ids).
    pub(crate) partition: u32,
    /// Whether other partitions carry events of the same users (a Kafka topic's partitions).
    pub(crate) shared: bool,
}

impl LoaderState {
    /// Opens the loader state kept under `state_dir`, as of the committed position.
    pub(crate) fn open(
        state_dir: &Path,
        committed: &Positions,
        persons: PersonSpace,
    ) -> Result<Self, LoaderError> {
        let mut dedup = DedupIndex::default();
        let mut properties = PropertyStore::default();
        let mut identities = Identities::new(persons.partition, persons.shared);
        let journal = Journal::open(&state_dir.join(STATE_DIR), committed, |frame: Frame| {
            for (key, time) in frame.keys {
                dedup.restore(key, time);
            }
            for (table, key, value) in frame.entries {
                properties.restore(table, key, value);
            }
            for entry in frame.identities {
                identities.restore(entry);
            }
        })?;
        dedup.expire();
        tracing::debug!(
            dedup_keys = dedup.len(),
            property_entries = properties.len(),
            identities = identities.len(),
            "loader state opened"
        );
        Ok(LoaderState {
            dedup,
            properties,
            identities,
            journal,
            pending_keys: Vec::new(),
            pending_entries: Changed::new(),
            pending_identities: Vec::new(),
        })
    }

    /// Drops duplicates, resolves each remaining event's person and stamps it, in order; what
    /// the query layer must learn about identities goes to `learnt`. The changes are held until
    /// [`Self::persist`].
    pub(crate) fn process<'r>(
        &mut self,
        mut events: Vec<EventRow<'r>>,
        learnt: &mut Vec<Learnt>,
    ) -> Processed<'r> {
        let mut duplicates = 0;
        // In place: a batch's events are large and many, so they are not moved into a new vector.
        events.retain_mut(|event| {
            if let Some(key) = dedup_key(event) {
                if !self.dedup.admit(key, event.server_received_time) {
                    duplicates += 1;
                    return false;
                }
                self.pending_keys.push((key, event.server_received_time));
            }
            self.identities
                .process(event, &mut self.pending_identities, learnt);
            self.properties.process(event, &mut self.pending_entries);
            true
        });
        Processed { events, duplicates }
    }

    /// Makes the changes of the processed batch durable, valid at log position `end`. Call before
    /// committing `end`.
    pub(crate) fn persist(&mut self, end: &Positions) -> Result<(), LoaderError> {
        let entries: Vec<_> = std::mem::take(&mut self.pending_entries)
            .into_iter()
            .map(|(table, key)| {
                let value = self.properties.get(table, &key).cloned();
                (table, key, value)
            })
            .collect();
        let keys = std::mem::take(&mut self.pending_keys);
        let mut identities = std::mem::take(&mut self.pending_identities);
        if !identities.is_empty() {
            identities.push(self.identities.next_entry());
        }
        self.journal.append(&frames(end, entries, keys, identities))
    }

    /// Folds the journal into a new snapshot when it has grown; `committed` must be the position
    /// just committed.
    pub(crate) fn maybe_compact(&mut self, committed: &Positions) -> Result<(), LoaderError> {
        if self.journal.wants_compaction() {
            self.compact(committed)?;
        }
        Ok(())
    }

    /// Writes the whole state as the snapshot at `committed` and empties the journal.
    fn compact(&mut self, committed: &Positions) -> Result<(), LoaderError> {
        self.dedup.expire();
        let entries: Vec<_> = self
            .properties
            .entries()
            .map(|(table, key, value)| (table, key.clone(), Some(value.clone())))
            .collect();
        let keys: Vec<_> = self.dedup.entries().collect();
        let started = std::time::Instant::now();
        let identities = self.identities.entries();
        self.journal
            .compact(frames(committed, entries, keys, identities).into_iter())?;
        tracing::info!(
            dedup_keys = self.dedup.len(),
            property_entries = self.properties.len(),
            identities = self.identities.len(),
            ms = started.elapsed().as_millis() as u64,
            "loader state compacted"
        );
        Ok(())
    }
}

/// An event as the loader sees it after decoding its record (for tests).
#[cfg(test)]
pub(crate) fn row(event: &sluice_schema::Event) -> EventRow<'static> {
    use serde::Deserialize;
    let json = serde_json::to_value(event).expect("events serialise");
    EventRow::deserialize(json).expect("an event's JSON is a row")
}

#[cfg(test)]
mod tests;
