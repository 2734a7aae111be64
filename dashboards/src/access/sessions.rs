//! Login sessions, kept in `<data>/auth/sessions.json` so a restart logs nobody out. Only the
//! SHA-256 of a session id is stored (as for tokens): the file opens no session by itself.
//! A session ends at logout, after `SESSION_IDLE_MS` without a request, or when its user is
//! deleted; its role is the user's role now, not at login.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use sluice_query::clock::now_ms;
use sluice_query::durable_file::write_atomically;

use super::accounts::{AUTH_DIR, random_hex, sha256_hex};

/// A session ends after this long without a request.
pub(crate) const SESSION_IDLE_MS: i64 = 14 * 24 * 3_600_000;
/// Requests move a session's last-seen time in memory; the file follows when it is this stale,
/// so the idle expiry survives a restart to within this much without a write per request.
const PERSIST_EVERY_MS: i64 = 3_600_000;
const SESSIONS_FILE: &str = "sessions.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Session {
    name: String,
    last_seen_ms: i64,
    /// The last-seen time the file holds.
    #[serde(skip)]
    persisted_ms: i64,
}

/// The open sessions of one data directory, by the hash of their ids.
#[derive(Debug, Clone)]
pub(crate) struct Sessions {
    path: PathBuf,
    open: Arc<Mutex<HashMap<String, Session>>>,
}

impl Sessions {
    /// The sessions stored under `data_dir`, without the expired ones. An unreadable file is
    /// logged and treated as empty: the worst outcome is that everyone logs in again.
    pub(crate) fn load(data_dir: &Path) -> Self {
        let path = data_dir.join(AUTH_DIR).join(SESSIONS_FILE);
        let now = now_ms();
        let mut open: HashMap<String, Session> = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "unreadable sessions: everyone logs in again");
                HashMap::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unreadable sessions: everyone logs in again");
                HashMap::new()
            }
        };
        open.retain(|_, s| now - s.last_seen_ms <= SESSION_IDLE_MS);
        for session in open.values_mut() {
            session.persisted_ms = session.last_seen_ms;
        }
        Sessions {
            path,
            open: Arc::new(Mutex::new(open)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the sessions (while the lock is held, so writes follow each other in order).
    fn persist(&self, open: &HashMap<String, Session>) {
        let write = || -> std::io::Result<()> {
            if let Some(folder) = self.path.parent() {
                std::fs::create_dir_all(folder)?;
            }
            let bytes = serde_json::to_vec(open).map_err(std::io::Error::other)?;
            write_atomically(&self.path, &bytes)
        };
        if let Err(e) = write() {
            tracing::error!(path = %self.path.display(), error = %e, "storing the sessions");
        }
    }

    /// Opens a session for `name`; its id (for the cookie) is returned once.
    pub(crate) fn start(&self, name: &str) -> String {
        let id = random_hex(32);
        let now = now_ms();
        let mut open = self.lock();
        open.insert(
            sha256_hex(&id),
            Session {
                name: name.to_owned(),
                last_seen_ms: now,
                persisted_ms: now,
            },
        );
        self.persist(&open);
        id
    }

    /// Ends the session `id` (nothing happens for an unknown one).
    pub(crate) fn end(&self, id: &str) {
        let mut open = self.lock();
        if open.remove(&sha256_hex(id)).is_some() {
            self.persist(&open);
        }
    }

    /// The user of the session `id`, if it is open; a request keeps it open.
    pub(crate) fn user(&self, id: &str) -> Option<String> {
        let now = now_ms();
        let key = sha256_hex(id);
        let mut open = self.lock();
        let session = open.get_mut(&key)?;
        if now - session.last_seen_ms > SESSION_IDLE_MS {
            open.remove(&key);
            self.persist(&open);
            return None;
        }
        session.last_seen_ms = now;
        let name = session.name.clone();
        if now - session.persisted_ms > PERSIST_EVERY_MS {
            session.persisted_ms = now;
            self.persist(&open);
        }
        Some(name)
    }

    /// Ends every session of `name` (their user is gone).
    pub(crate) fn end_all_of(&self, name: &str) {
        let mut open = self.lock();
        let before = open.len();
        open.retain(|_, s| s.name != name);
        if open.len() != before {
            self.persist(&open);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_survives_a_restart_and_ends_at_logout() {
        let dir = tempfile::tempdir().unwrap();
        let sessions = Sessions::load(dir.path());
        let id = sessions.start("ada");
        assert_eq!(sessions.user(&id).as_deref(), Some("ada"));
        assert_eq!(sessions.user("not-a-session"), None);

        let restarted = Sessions::load(dir.path());
        assert_eq!(restarted.user(&id).as_deref(), Some("ada"));
        let stored = std::fs::read_to_string(dir.path().join("auth/sessions.json")).unwrap();
        assert!(
            !stored.contains(&id),
            "the file holds hashes only: {stored}"
        );

        restarted.end(&id);
        assert_eq!(restarted.user(&id), None);
        assert_eq!(Sessions::load(dir.path()).user(&id), None);
    }

    #[test]
    fn idle_sessions_expire_and_deleted_users_lose_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let sessions = Sessions::load(dir.path());
        let idle = sessions.start("ada");
        let other = sessions.start("bob");
        sessions
            .lock()
            .get_mut(&sha256_hex(&idle))
            .unwrap()
            .last_seen_ms -= SESSION_IDLE_MS + 1;
        assert_eq!(sessions.user(&idle), None);
        sessions.end_all_of("bob");
        assert_eq!(sessions.user(&other), None);
    }
}
