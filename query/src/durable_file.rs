//! Small files that survive a crash: replaced whole (temporary file, fsync, rename, fsync of the
//! folder) or grown by whole lines (a line a crash cut short is dropped before the next append
//! and ignored when read). Saved cohorts and syncs keep their state this way.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;

use serde::de::DeserializeOwned;

/// Writes `bytes` to `path` so that readers see the old file or the whole new one, and it
/// survives a crash once this returns.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temporary = path.with_extension("tmp");
    let mut file = File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&temporary, path)?;
    if let Some(folder) = path.parent() {
        File::open(folder)?.sync_all()?;
    }
    Ok(())
}

/// Appends `line` (without its newline) to `path` and fsyncs it, after cutting a line a crash
/// left unfinished at the end, so the new line starts on its own.
pub fn append_line(path: &Path, line: &[u8]) -> io::Result<()> {
    cut_partial_line(path)?;
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    let mut whole = Vec::with_capacity(line.len() + 1);
    whole.extend_from_slice(line);
    whole.push(b'\n');
    file.write_all(&whole)?;
    file.sync_all()
}

/// The JSON lines of `path` (none when it does not exist), up to the first that does not parse:
/// the last line, cut short by a crash mid-append, never was written.
pub fn read_lines<T: DeserializeOwned>(path: &Path) -> io::Result<Vec<T>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut values = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(&line) {
            Ok(value) => values.push(value),
            Err(_) => break,
        }
    }
    Ok(values)
}

fn cut_partial_line(path: &Path) -> io::Result<()> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if bytes.is_empty() || bytes.ends_with(b"\n") {
        return Ok(());
    }
    let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(keep as u64)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_cut_short_is_dropped_and_the_next_starts_clean() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        append_line(&path, b"1").unwrap();
        append_line(&path, b"2").unwrap();
        // A crash mid-append: half a line.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"unfin").unwrap();
        assert_eq!(read_lines::<i64>(&path).unwrap(), vec![1, 2]);
        append_line(&path, b"3").unwrap();
        assert_eq!(read_lines::<i64>(&path).unwrap(), vec![1, 2, 3]);
        assert!(
            read_lines::<i64>(&dir.path().join("none"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_replaced_file_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomically(&path, b"old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert!(!path.with_extension("tmp").exists());
    }
}
