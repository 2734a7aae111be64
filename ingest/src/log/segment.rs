//! On-disk record framing of the local log and recovery of a segment's valid prefix.
//!
//! A segment file `<base offset, 20 digits>.seg` is a sequence of frames
//! `[payload length: u32 LE][crc32 of payload: u32 LE][payload]`. The offset of a record is the
//! segment's base offset plus its index in the file. A crash can leave a torn frame at the tail;
//! [`scan_valid`] finds where the valid prefix ends so the file can be truncated there.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Size of a frame header.
pub(crate) const HEADER_LEN: u64 = 8;
/// Largest payload accepted in one frame (guards recovery against garbage lengths).
pub(crate) const MAX_PAYLOAD: u32 = 64 << 20;

/// Writes one frame into `out`.
pub(crate) fn encode_frame(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The file name of the segment starting at `base`.
pub(crate) fn segment_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.seg"))
}

/// Base offsets of the segments in `dir`, ascending.
pub(crate) fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut bases: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            name.to_str()?.strip_suffix(".seg")?.parse().ok()
        })
        .collect();
    bases.sort_unstable();
    Ok(bases)
}

/// Reads frames sequentially from a segment, from a byte position.
pub(crate) struct FrameReader {
    file: BufReader<File>,
    /// Byte position of the next frame.
    pub(crate) pos: u64,
}

impl FrameReader {
    /// Opens `path` positioned at byte `pos`.
    pub(crate) fn open(path: &Path, pos: u64) -> io::Result<Self> {
        let mut file = File::open(path)?;
        file.seek(SeekFrom::Start(pos))?;
        Ok(FrameReader {
            file: BufReader::with_capacity(1 << 20, file),
            pos,
        })
    }

    /// Reads the next frame; `Ok(None)` at a clean end of file or at a torn or corrupt frame.
    pub(crate) fn next_frame(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut header = [0u8; HEADER_LEN as usize];
        if !read_full(&mut self.file, &mut header)? {
            return Ok(None);
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len > MAX_PAYLOAD {
            return Ok(None);
        }
        let mut payload = vec![0u8; len as usize];
        if !read_full(&mut self.file, &mut payload)? || crc32fast::hash(&payload) != crc {
            return Ok(None);
        }
        self.pos += HEADER_LEN + u64::from(len);
        Ok(Some(payload))
    }

    /// Skips `count` frames without keeping their payloads; returns how many were skipped.
    pub(crate) fn skip(&mut self, count: u64) -> io::Result<u64> {
        let mut skipped = 0;
        while skipped < count && self.next_frame()?.is_some() {
            skipped += 1;
        }
        Ok(skipped)
    }
}

/// Fills `buf`; `Ok(false)` if the file ends first.
fn read_full(file: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Counts the valid frames of a segment and the byte length of that valid prefix.
pub(crate) fn scan_valid(path: &Path) -> io::Result<(u64, u64)> {
    let mut reader = FrameReader::open(path, 0)?;
    let mut count = 0;
    while reader.next_frame()?.is_some() {
        count += 1;
    }
    Ok((count, reader.pos))
}
