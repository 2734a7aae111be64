//! Upload bodies: demo-marketplace events in the exact JSON the Amplitude SDKs send to
//! `POST /2/httpapi`, serialised once before any timing.
//!
//! Every event needs a unique `insert_id`, but serialising per request would put JSON encoding on
//! the client's side of the shared CPUs. So each body is serialised with a fixed-width placeholder
//! in every `insert_id` and the byte offsets of those placeholders are kept; sending a body copies
//! its bytes and writes a fresh 16-hex-digit number into each slot (a `memcpy` and 16 bytes per
//! event).

use serde_json::{Value, json};
use sluice_ingest::demo::{DEMO_API_KEY, DemoConfig, generate};
use sluice_schema::amplitude::{IngestContext, normalize_event};

/// Prefix of every generated `insert_id`; the rest is [`SLOT_LEN`] hex digits.
const INSERT_ID_PREFIX: &str = "bench-";
/// Width of the unique part of an `insert_id`.
const SLOT_LEN: usize = 16;
const PLACEHOLDER: &str = "################";

/// One serialised upload and where its `insert_id` digits go.
struct Template {
    bytes: Vec<u8>,
    slots: Vec<usize>,
}

/// A fixed set of serialised uploads of `events_per_body` events each, used round-robin.
pub(crate) struct BodyPool {
    templates: Vec<Template>,
    events_per_body: usize,
}

impl BodyPool {
    /// Cuts `events` into bodies of `events_per_body` consecutive events (the rest is dropped).
    pub(crate) fn new(events: &[Value], events_per_body: usize) -> BodyPool {
        let templates = events
            .chunks_exact(events_per_body)
            .map(|chunk| {
                let body = json!({ "api_key": DEMO_API_KEY, "events": chunk });
                let bytes = serde_json::to_vec(&body).expect("JSON values always serialise");
                let pattern = format!("\"{INSERT_ID_PREFIX}{PLACEHOLDER}\"");
                let slots: Vec<usize> = find_all(&bytes, pattern.as_bytes())
                    .map(|at| at + 1 + INSERT_ID_PREFIX.len())
                    .collect();
                assert_eq!(slots.len(), chunk.len(), "one insert_id slot per event");
                Template { bytes, slots }
            })
            .collect();
        BodyPool {
            templates,
            events_per_body,
        }
    }

    /// Events in each body.
    pub(crate) fn events_per_body(&self) -> usize {
        self.events_per_body
    }

    /// Number of distinct bodies.
    pub(crate) fn len(&self) -> usize {
        self.templates.len()
    }

    /// Mean body size in bytes.
    pub(crate) fn mean_bytes(&self) -> usize {
        self.templates.iter().map(|t| t.bytes.len()).sum::<usize>() / self.templates.len().max(1)
    }

    /// Body number `index` (modulo the pool), its events' `insert_id`s numbered from `first_id`.
    pub(crate) fn stamped(&self, index: usize, first_id: u64) -> Vec<u8> {
        let template = &self.templates[index % self.templates.len()];
        let mut bytes = template.bytes.clone();
        for (&slot, id) in template.slots.iter().zip(first_id..) {
            write_hex(&mut bytes[slot..slot + SLOT_LEN], id);
        }
        bytes
    }
}

fn write_hex(out: &mut [u8], mut value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in out.iter_mut().rev() {
        *byte = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
}

fn find_all<'a>(haystack: &'a [u8], needle: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(move |(_, window)| *window == needle)
        .map(|(at, _)| at)
}

/// The unique number in a stored event's `insert_id`, if it is one of ours.
pub(crate) fn insert_id_number(payload: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(payload).ok()?;
    let key = format!("\"insert_id\":\"{INSERT_ID_PREFIX}");
    let at = text.find(&key)? + key.len();
    u64::from_str_radix(text.get(at..at + SLOT_LEN)?, 16).ok()
}

/// The first `wanted` demo events (up to yesterday) that the collector accepts, as raw SDK JSON,
/// each with a placeholder `insert_id`.
pub(crate) fn demo_events(wanted: usize) -> Vec<Value> {
    let config = DemoConfig {
        days: 30,
        end_date: chrono::Utc::now().date_naive() - chrono::Days::new(1),
        ..DemoConfig::default()
    };
    let mut events = Vec::with_capacity(wanted);
    for batch in generate(&config) {
        let ctx = IngestContext {
            project: "marketplace",
            received_ms: batch.client_upload_time_ms,
            client_upload_time: None,
            remote_ip: None,
            min_id_length: 5,
        };
        for mut raw in batch.events {
            if normalize_event(raw.clone(), &ctx).is_err() {
                continue;
            }
            if let Some(fields) = raw.as_object_mut() {
                let id = format!("{INSERT_ID_PREFIX}{PLACEHOLDER}");
                fields.insert("insert_id".to_owned(), Value::String(id));
            }
            events.push(raw);
            if events.len() == wanted {
                return events;
            }
        }
    }
    events
}
