//! On-disk form of the loader state: a snapshot plus a journal of per-batch changes.
//!
//! Both files are sequences of CRC frames (the event log's framing). A frame carries the log
//! position (`end`) its changes are valid at, the property entries it sets or deletes, and the
//! dedup keys it adds. Rules that keep the state equal to "every committed batch applied once":
//! - a batch's frames are appended and fsync'd **before** the batch's offsets are committed;
//! - on open, snapshot frames are applied, then journal frames that are newer than the snapshot
//!   and not beyond the committed position; the first frame beyond it (a batch that was never
//!   committed and will be replayed) is cut off with everything after it;
//! - a snapshot is written only for a committed position (temp file, fsync, rename), after which
//!   the journal is emptied; a crash in between leaves journal frames the snapshot already covers,
//!   which are skipped.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sluice_schema::Properties;

use super::identity::IdentityEntry;
use super::properties::Table;
use crate::durable::sync_dir;
use crate::error::LoaderError;
use crate::log::Positions;
use crate::log::segment::{self, FrameReader};

/// Property entries per frame (keeps frames well under the framing's size limit).
const ENTRIES_PER_FRAME: usize = 20_000;
/// Dedup keys per frame (24 bytes each).
const KEYS_PER_FRAME: usize = 1_000_000;
/// Identity entries per frame (small JSON values).
const IDENTITIES_PER_FRAME: usize = 100_000;
/// Bytes of one dedup key on disk: the 128-bit hash and the server time.
const KEY_BYTES: usize = 24;

/// One frame's content.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Frame {
    /// Log position the frame's changes are valid at.
    pub(crate) end: Positions,
    /// Property entries set (`Some`) or deleted (`None`).
    pub(crate) entries: Vec<(Table, String, Option<Properties>)>,
    /// Dedup keys added, with their server time.
    pub(crate) keys: Vec<(u128, i64)>,
    /// Identity entries set.
    pub(crate) identities: Vec<IdentityEntry>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    end: Positions,
    entries: Vec<(Table, String, Option<Properties>)>,
    /// Absent in frames written before identity resolution.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    identities: Vec<IdentityEntry>,
}

impl Frame {
    fn encode(&self, out: &mut Vec<u8>) {
        let header = Header {
            end: self.end.clone(),
            entries: self.entries.clone(),
            identities: self.identities.clone(),
        };
        let header = serde_json::to_vec(&header).expect("frame headers always serialise");
        let mut payload = Vec::with_capacity(4 + header.len() + self.keys.len() * KEY_BYTES);
        payload.extend_from_slice(&(header.len() as u32).to_le_bytes());
        payload.extend_from_slice(&header);
        for (key, time) in &self.keys {
            payload.extend_from_slice(&key.to_le_bytes());
            payload.extend_from_slice(&time.to_le_bytes());
        }
        segment::encode_frame(&payload, out);
    }

    fn decode(payload: &[u8], path: &Path) -> Result<Frame, LoaderError> {
        let corrupt = || LoaderError::CorruptState(path.to_owned());
        let len_bytes: [u8; 4] = payload
            .get(..4)
            .ok_or_else(corrupt)?
            .try_into()
            .map_err(|_| corrupt())?;
        let header_len = u32::from_le_bytes(len_bytes) as usize;
        let header_bytes = payload.get(4..4 + header_len).ok_or_else(corrupt)?;
        let header: Header = serde_json::from_slice(header_bytes).map_err(|_| corrupt())?;
        let keys_bytes = &payload[4 + header_len..];
        if !keys_bytes.len().is_multiple_of(KEY_BYTES) {
            return Err(corrupt());
        }
        let keys = keys_bytes
            .chunks_exact(KEY_BYTES)
            .map(|chunk| {
                let key = u128::from_le_bytes(chunk[..16].try_into().expect("16 bytes"));
                let time = i64::from_le_bytes(chunk[16..].try_into().expect("8 bytes"));
                (key, time)
            })
            .collect();
        Ok(Frame {
            end: header.end,
            entries: header.entries,
            keys,
            identities: header.identities,
        })
    }
}

/// Splits changes into frames of bounded size, all valid at `end`.
pub(crate) fn frames(
    end: &Positions,
    entries: impl IntoIterator<Item = (Table, String, Option<Properties>)>,
    keys: impl IntoIterator<Item = (u128, i64)>,
    identities: impl IntoIterator<Item = IdentityEntry>,
) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut entries = entries.into_iter().peekable();
    let mut keys = keys.into_iter().peekable();
    let mut identities = identities.into_iter().peekable();
    while frames.is_empty()
        || entries.peek().is_some()
        || keys.peek().is_some()
        || identities.peek().is_some()
    {
        frames.push(Frame {
            end: end.clone(),
            entries: entries.by_ref().take(ENTRIES_PER_FRAME).collect(),
            keys: keys.by_ref().take(KEYS_PER_FRAME).collect(),
            identities: identities.by_ref().take(IDENTITIES_PER_FRAME).collect(),
        });
    }
    frames
}

/// Whether every partition of `a` is at or below its position in `b`.
pub(crate) fn at_or_before(a: &Positions, b: &Positions) -> bool {
    a.iter()
        .all(|(p, offset)| *offset <= b.get(p).copied().unwrap_or(0))
}

/// The state files of one loader.
pub(crate) struct Journal {
    dir: PathBuf,
    journal: File,
    journal_len: u64,
    snapshot_len: u64,
}

/// Compact once the journal outgrows both this and the snapshot.
const MIN_COMPACTION_BYTES: u64 = 64 << 20;

impl Journal {
    fn snapshot_path(dir: &Path) -> PathBuf {
        dir.join("snapshot")
    }

    fn journal_path(dir: &Path) -> PathBuf {
        dir.join("journal")
    }

    /// Opens the state in `dir`, handing every frame that belongs to the committed state to
    /// `apply` in order, and cutting off frames of uncommitted batches.
    pub(crate) fn open(
        dir: &Path,
        committed: &Positions,
        mut apply: impl FnMut(Frame),
    ) -> Result<Journal, LoaderError> {
        fs::create_dir_all(dir).map_err(|e| LoaderError::io(dir, e))?;
        let snapshot = Self::snapshot_path(dir);
        let mut snapshot_end = Positions::new();
        let mut snapshot_len = 0;
        if snapshot.exists() {
            let mut reader =
                FrameReader::open(&snapshot, 0).map_err(|e| LoaderError::io(&snapshot, e))?;
            while let Some(payload) = reader
                .next_frame()
                .map_err(|e| LoaderError::io(&snapshot, e))?
            {
                let frame = Frame::decode(&payload, &snapshot)?;
                snapshot_end = frame.end.clone();
                apply(frame);
            }
            snapshot_len = reader.pos;
            let on_disk = fs::metadata(&snapshot)
                .map_err(|e| LoaderError::io(&snapshot, e))?
                .len();
            if on_disk != snapshot_len {
                return Err(LoaderError::CorruptState(snapshot));
            }
        }
        let path = Self::journal_path(dir);
        let mut valid_len = 0;
        if path.exists() {
            let mut reader = FrameReader::open(&path, 0).map_err(|e| LoaderError::io(&path, e))?;
            loop {
                let start = reader.pos;
                let Some(payload) = reader.next_frame().map_err(|e| LoaderError::io(&path, e))?
                else {
                    valid_len = start;
                    break;
                };
                let frame = Frame::decode(&payload, &path)?;
                if !at_or_before(&frame.end, committed) {
                    // A batch that was never committed: it will be replayed from the log.
                    valid_len = start;
                    break;
                }
                if !at_or_before(&frame.end, &snapshot_end) || snapshot_end.is_empty() {
                    apply(frame);
                }
            }
        }
        let journal = OpenOptions::new()
            .create(true)
            .truncate(false)
            .append(true)
            .open(&path)
            .map_err(|e| LoaderError::io(&path, e))?;
        journal
            .set_len(valid_len)
            .and_then(|()| journal.sync_all())
            .map_err(|e| LoaderError::io(&path, e))?;
        sync_dir(dir).map_err(|e| LoaderError::io(dir, e))?;
        Ok(Journal {
            dir: dir.to_owned(),
            journal,
            journal_len: valid_len,
            snapshot_len,
        })
    }

    /// Appends a batch's frames and makes them durable.
    pub(crate) fn append(&mut self, frames: &[Frame]) -> Result<(), LoaderError> {
        let mut buf = Vec::new();
        for frame in frames {
            frame.encode(&mut buf);
        }
        let path = Self::journal_path(&self.dir);
        self.journal
            .write_all(&buf)
            .and_then(|()| self.journal.sync_data())
            .map_err(|e| LoaderError::io(&path, e))?;
        self.journal_len += buf.len() as u64;
        Ok(())
    }

    /// Whether the journal has grown enough to be folded into a new snapshot.
    pub(crate) fn wants_compaction(&self) -> bool {
        self.journal_len > MIN_COMPACTION_BYTES.max(self.snapshot_len)
    }

    /// Replaces the snapshot with `frames` (the whole state at a committed position) and empties
    /// the journal.
    pub(crate) fn compact(
        &mut self,
        frames: impl Iterator<Item = Frame>,
    ) -> Result<(), LoaderError> {
        let path = Self::snapshot_path(&self.dir);
        let tmp = self.dir.join(".snapshot.tmp");
        let mut file = File::create(&tmp).map_err(|e| LoaderError::io(&tmp, e))?;
        let mut len = 0u64;
        let mut buf = Vec::new();
        for frame in frames {
            buf.clear();
            frame.encode(&mut buf);
            file.write_all(&buf).map_err(|e| LoaderError::io(&tmp, e))?;
            len += buf.len() as u64;
        }
        file.sync_all().map_err(|e| LoaderError::io(&tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| LoaderError::io(&path, e))?;
        sync_dir(&self.dir).map_err(|e| LoaderError::io(&self.dir, e))?;
        let journal = Self::journal_path(&self.dir);
        self.journal
            .set_len(0)
            .and_then(|()| self.journal.sync_all())
            .map_err(|e| LoaderError::io(&journal, e))?;
        self.journal_len = 0;
        self.snapshot_len = len;
        Ok(())
    }
}
