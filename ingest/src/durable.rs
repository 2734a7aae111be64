//! Small helpers for crash-safe file updates: write to a temp file, fsync, rename, fsync the folder.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Replaces `path` with `bytes` atomically: readers see the old or the new content, never a mix,
/// and after return the new content survives a crash.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
    ));
    let mut file = File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Makes a folder's entries (created, renamed, deleted files) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Crash points for fault-injection tests: when the environment variable `SLUICE_CRASH_AT`
/// names `point`, the process aborts there (no unwinding, no flushing — like `kill -9` at exactly
/// that step). Unset in production; read once.
pub(crate) fn crash_point(point: &str) {
    static CRASH_AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let crash_at = CRASH_AT.get_or_init(|| std::env::var("SLUICE_CRASH_AT").ok());
    if crash_at.as_deref() == Some(point) {
        eprintln!("SLUICE_CRASH_AT={point}: aborting here");
        std::process::abort();
    }
}
