//! The dedup index: which `(project, device_id, insert_id)` keys arrived in the last 7 days.
//!
//! Keys are stored as 128-bit XXH3 hashes with the server time they were first seen: 24 bytes of
//! payload per event (≈ 32 bytes in the hash table). A false "duplicate" needs two different keys
//! with the same 128-bit hash — with 10⁹ keys in the window the chance is below 10⁻²⁰.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use sluice_schema::EventRow;
use twox_hash::XxHash3_128;

/// How long a key is remembered (Amplitude: 7 days).
pub(crate) const DEDUP_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;

/// The dedup key of an event: `insert_id` on the device, or, without one, Amplitude's second key
/// (`event_id`, client event time, device). Events with neither are never deduplicated.
pub(crate) fn dedup_key(event: &EventRow<'_>) -> Option<u128> {
    let mut key = KeyBytes::default();
    key.extend(event.project.as_bytes());
    key.extend(&[0]);
    key.extend(event.device_id.as_bytes());
    key.extend(&[0]);
    match (&event.insert_id, event.event_id) {
        (Some(insert_id), _) => {
            key.extend(b"i");
            key.extend(insert_id.as_bytes());
        }
        (None, Some(event_id)) => {
            key.extend(b"e");
            key.extend(&event_id.to_le_bytes());
            key.extend(&event.client_event_time.to_le_bytes());
        }
        (None, None) => return None,
    }
    Some(XxHash3_128::oneshot(key.as_slice()))
}

/// The bytes of a dedup key: on the stack when they fit (nearly always), so that hashing an
/// event's key allocates nothing.
struct KeyBytes {
    inline: [u8; 160],
    len: usize,
    spilled: Vec<u8>,
}

impl Default for KeyBytes {
    fn default() -> Self {
        KeyBytes {
            inline: [0; 160],
            len: 0,
            spilled: Vec::new(),
        }
    }
}

impl KeyBytes {
    fn extend(&mut self, bytes: &[u8]) {
        if self.spilled.is_empty() && self.len + bytes.len() <= self.inline.len() {
            self.inline[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
        } else {
            if self.spilled.is_empty() {
                self.spilled.extend_from_slice(&self.inline[..self.len]);
            }
            self.spilled.extend_from_slice(bytes);
        }
    }

    fn as_slice(&self) -> &[u8] {
        if self.spilled.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spilled
        }
    }
}

/// Keys are already uniform hashes: the table uses their low 64 bits as is.
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(word);
        }
    }

    fn write_u128(&mut self, key: u128) {
        self.0 = key as u64;
    }
}

/// Keys seen in the window, with the server time each was (last) stored.
#[derive(Default)]
pub(crate) struct DedupIndex {
    seen: HashMap<u128, i64, BuildHasherDefault<KeyHasher>>,
    newest_ms: i64,
}

impl DedupIndex {
    /// Whether an event with `key` received at `received_ms` is new; if so, remembers it.
    pub(crate) fn admit(&mut self, key: u128, received_ms: i64) -> bool {
        self.newest_ms = self.newest_ms.max(received_ms);
        match self.seen.get(&key) {
            Some(&first) if received_ms - first <= DEDUP_WINDOW_MS => false,
            _ => {
                self.seen.insert(key, received_ms);
                true
            }
        }
    }

    /// Restores an entry from the journal.
    pub(crate) fn restore(&mut self, key: u128, received_ms: i64) {
        self.newest_ms = self.newest_ms.max(received_ms);
        self.seen.insert(key, received_ms);
    }

    /// Forgets keys older than the window (relative to the newest server time seen).
    pub(crate) fn expire(&mut self) {
        let horizon = self.newest_ms - DEDUP_WINDOW_MS;
        self.seen.retain(|_, &mut t| t >= horizon);
    }

    /// Every live entry.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u128, i64)> + '_ {
        self.seen.iter().map(|(&k, &t)| (k, t))
    }

    /// Number of keys held.
    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use sluice_schema::{Event, Text};

    use super::*;
    use crate::loader::state::row;

    fn event(device: &str, insert_id: Option<&str>, event_id: Option<i64>) -> EventRow<'static> {
        row(&Event {
            project: "shop".into(),
            device_id: device.into(),
            insert_id: insert_id.map(str::to_owned),
            event_id,
            client_event_time: 1000,
            ..Event::default()
        })
    }

    #[test]
    fn long_keys_hash_all_their_bytes() {
        let long = "x".repeat(300);
        let key = dedup_key(&event("dev-1", Some(&long), None)).unwrap();
        let bytes = format!("shop\0dev-1\0i{long}");
        assert_eq!(key, XxHash3_128::oneshot(bytes.as_bytes()));
        let short = dedup_key(&event("dev-1", Some("x"), None)).unwrap();
        assert_eq!(short, XxHash3_128::oneshot(b"shop\0dev-1\0ix"));
    }

    #[test]
    fn keys_depend_on_project_device_and_id() {
        let a = dedup_key(&event("dev-1", Some("x"), None)).unwrap();
        assert_eq!(a, dedup_key(&event("dev-1", Some("x"), Some(5))).unwrap());
        assert_ne!(a, dedup_key(&event("dev-2", Some("x"), None)).unwrap());
        assert_ne!(a, dedup_key(&event("dev-1", Some("y"), None)).unwrap());
        let mut other_project = event("dev-1", Some("x"), None);
        other_project.project = Text::from("blog");
        assert_ne!(a, dedup_key(&other_project).unwrap());
        let by_event_id = dedup_key(&event("dev-1", None, Some(5))).unwrap();
        assert_ne!(a, by_event_id);
        assert_eq!(dedup_key(&event("dev-1", None, None)), None);
    }

    #[test]
    fn repeats_within_seven_days_are_duplicates() {
        let mut index = DedupIndex::default();
        assert!(index.admit(1, 0));
        assert!(!index.admit(1, DEDUP_WINDOW_MS));
        assert!(index.admit(2, DEDUP_WINDOW_MS));
        // Past the window the key is new again, and remembered from then on.
        assert!(index.admit(1, DEDUP_WINDOW_MS + 1));
        assert!(!index.admit(1, DEDUP_WINDOW_MS + 2));
    }

    #[test]
    fn expiry_keeps_only_the_window() {
        let mut index = DedupIndex::default();
        index.admit(1, 0);
        index.admit(2, 10);
        index.admit(3, DEDUP_WINDOW_MS + 5);
        index.expire();
        assert_eq!(index.len(), 2);
        assert!(index.admit(1, DEDUP_WINDOW_MS + 6));
        assert!(!index.admit(2, DEDUP_WINDOW_MS + 6));
    }
}
