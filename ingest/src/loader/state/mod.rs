//! What the loader remembers between batches: the dedup index and the user/group property state.
//!
//! The loader is the one serial consumer of the log, so it is where "seen this `insert_id`
//! before?" and "what were this user's properties when the event arrived?" are answered in
//! arrival order, exactly once. The state is persisted by [`journal`] so that it always equals
//! the committed batches applied once: after a crash the loader reopens the state at the
//! committed position and replays the interrupted batch against it, producing the same files.

mod dedup;
mod journal;
mod properties;

use std::path::Path;

use sluice_schema::EventRow;

use crate::error::LoaderError;
use crate::log::Positions;

use dedup::{DedupIndex, dedup_key};
use journal::{Frame, Journal, frames};
use properties::{Changed, PropertyStore};

/// Folder of the state files, under the loader's state directory.
const STATE_DIR: &str = "loader-state";

/// The loader's state and its files.
pub(crate) struct LoaderState {
    dedup: DedupIndex,
    properties: PropertyStore,
    journal: Journal,
    /// Changes of the batch being processed, not yet journaled.
    pending_keys: Vec<(u128, i64)>,
    pending_entries: Changed,
}

/// The outcome of processing one batch.
pub(crate) struct Processed<'r> {
    /// The events to store, stamped with user and group properties.
    pub(crate) events: Vec<EventRow<'r>>,
    /// How many events were dropped as duplicates.
    pub(crate) duplicates: usize,
}

impl LoaderState {
    /// Opens the loader state kept under `state_dir`, as of the committed position.
    pub(crate) fn open(state_dir: &Path, committed: &Positions) -> Result<Self, LoaderError> {
        let mut dedup = DedupIndex::default();
        let mut properties = PropertyStore::default();
        let journal = Journal::open(&state_dir.join(STATE_DIR), committed, |frame: Frame| {
            for (key, time) in frame.keys {
                dedup.restore(key, time);
            }
            for (table, key, value) in frame.entries {
                properties.restore(table, key, value);
            }
        })?;
        dedup.expire();
        tracing::debug!(
            dedup_keys = dedup.len(),
            property_entries = properties.len(),
            "loader state opened"
        );
        Ok(LoaderState {
            dedup,
            properties,
            journal,
            pending_keys: Vec::new(),
            pending_entries: Changed::new(),
        })
    }

    /// Drops duplicates and stamps the rest, in order. The changes are held until [`Self::persist`].
    pub(crate) fn process<'r>(&mut self, mut events: Vec<EventRow<'r>>) -> Processed<'r> {
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
            self.properties.process(event, &mut self.pending_entries);
            true
        });
        Processed { events, duplicates }
    }

    /// Makes the changes of the processed batch durable, valid at log position `end`. Call before
    /// committing `end`.
    pub(crate) fn persist(&mut self, end: &Positions) -> Result<(), LoaderError> {
        let entries = std::mem::take(&mut self.pending_entries)
            .into_iter()
            .map(|(table, key)| {
                let value = self.properties.get(table, &key).cloned();
                (table, key, value)
            })
            .collect();
        let keys = std::mem::take(&mut self.pending_keys);
        self.journal.append(&frames(end, entries, keys))
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
        self.journal
            .compact(frames(committed, entries, keys).into_iter())?;
        tracing::info!(
            dedup_keys = self.dedup.len(),
            property_entries = self.properties.len(),
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
