//! Accounts: users (a name, a role, an argon2id password hash) and API tokens (a name, a role,
//! the SHA-256 of the token), in `<data>/auth/accounts.json`, replaced atomically. Neither a
//! password nor a token is ever stored; a token is shown once, when it is made.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use serde::{Deserialize, Serialize};
use sluice_query::durable_file::write_atomically;

/// The folder of a data directory holding accounts.
pub(crate) const AUTH_DIR: &str = "auth";
const ACCOUNTS_FILE: &str = "accounts.json";
/// Shortest password accepted.
const MIN_PASSWORD: usize = 10;
/// Held while the file is read, changed and written (one process's writers in turn).
static WRITING: Mutex<()> = Mutex::new(());

/// What an account may do, each role including the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads dashboards, charts, cohorts and runs queries.
    Viewer,
    /// Also saves and deletes charts, dashboards, cohorts and syncs.
    Editor,
    /// Also manages accounts.
    Admin,
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Role, String> {
        match text {
            "viewer" => Ok(Role::Viewer),
            "editor" => Ok(Role::Editor),
            "admin" => Ok(Role::Admin),
            other => Err(format!("role {other:?}: viewer, editor or admin")),
        }
    }
}

/// A user who logs in with a password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// The login name.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// The argon2id PHC string of their password.
    pub password_hash: String,
}

/// An API token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// Who or what uses it (a script, a service).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    #[serde(default)]
    users: Vec<User>,
    #[serde(default)]
    tokens: Vec<Token>,
}

/// What can go wrong with accounts.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The request is wrong; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// Reading or writing the accounts file failed.
    #[error("{}: {reason}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The accounts of one data directory.
#[derive(Debug, Clone)]
pub struct Accounts {
    path: PathBuf,
}

impl Accounts {
    /// The accounts of `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        Accounts {
            path: data_dir.join(AUTH_DIR).join(ACCOUNTS_FILE),
        }
    }

    fn io(&self, reason: impl ToString) -> AccountError {
        AccountError::Io {
            path: self.path.clone(),
            reason: reason.to_string(),
        }
    }

    fn read(&self) -> Result<Stored, AccountError> {
        match std::fs::read(&self.path) {
            Ok(text) => serde_json::from_slice(&text).map_err(|e| self.io(e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Stored::default()),
            Err(e) => Err(self.io(e)),
        }
    }

    fn change(
        &self,
        edit: impl FnOnce(&mut Stored) -> Result<(), AccountError>,
    ) -> Result<(), AccountError> {
        let _writing = WRITING.lock().unwrap_or_else(|e| e.into_inner());
        let mut stored = self.read()?;
        edit(&mut stored)?;
        if let Some(folder) = self.path.parent() {
            std::fs::create_dir_all(folder).map_err(|e| self.io(e))?;
        }
        let text = serde_json::to_vec_pretty(&stored).map_err(|e| self.io(e))?;
        write_atomically(&self.path, &text).map_err(|e| self.io(e))
    }

    /// Whether any user or token exists.
    pub fn any(&self) -> Result<bool, AccountError> {
        let stored = self.read()?;
        Ok(!stored.users.is_empty() || !stored.tokens.is_empty())
    }

    /// Adds (or replaces the password and role of) the user `name`.
    pub fn set_user(&self, name: &str, role: Role, password: &str) -> Result<(), AccountError> {
        check_name(name)?;
        if password.chars().count() < MIN_PASSWORD {
            return Err(AccountError::Invalid(format!(
                "the password needs at least {MIN_PASSWORD} characters"
            )));
        }
        let salt = fresh_salt()?;
        let password_hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| AccountError::Invalid(format!("hashing the password: {e}")))?
            .to_string();
        self.change(|stored| {
            stored.users.retain(|u| u.name != name);
            stored.users.push(User {
                name: name.to_owned(),
                role,
                password_hash,
            });
            Ok(())
        })
    }

    /// The users, without their hashes' use: name and role.
    pub fn users(&self) -> Result<Vec<(String, Role)>, AccountError> {
        Ok(self
            .read()?
            .users
            .into_iter()
            .map(|u| (u.name, u.role))
            .collect())
    }

    /// The role of the user `name` now; None when there is no such user.
    pub fn role_of(&self, name: &str) -> Result<Option<Role>, AccountError> {
        Ok(self
            .read()?
            .users
            .into_iter()
            .find(|u| u.name == name)
            .map(|u| u.role))
    }

    /// Removes the user `name`; false if there was none.
    pub fn delete_user(&self, name: &str) -> Result<bool, AccountError> {
        let mut found = false;
        self.change(|stored| {
            let before = stored.users.len();
            stored.users.retain(|u| u.name != name);
            found = stored.users.len() != before;
            Ok(())
        })?;
        Ok(found)
    }

    /// The role of `name` if `password` is theirs.
    pub fn log_in(&self, name: &str, password: &str) -> Result<Option<Role>, AccountError> {
        let stored = self.read()?;
        let Some(user) = stored.users.iter().find(|u| u.name == name) else {
            // The same work as a real check, so a wrong name is not quicker than a wrong password.
            if let Ok(salt) = fresh_salt() {
                let _ = Argon2::default().hash_password(password.as_bytes(), &salt);
            }
            return Ok(None);
        };
        let hash = PasswordHash::new(&user.password_hash).map_err(|e| self.io(e))?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok();
        Ok(matches.then_some(user.role))
    }

    /// Makes a token for `name` with `role` and returns it (it is not stored, only its hash).
    pub fn new_token(&self, name: &str, role: Role) -> Result<String, AccountError> {
        check_name(name)?;
        let token = format!("slt_{}", random_hex(32));
        let token_hash = sha256_hex(&token);
        self.change(|stored| {
            stored.tokens.push(Token {
                name: name.to_owned(),
                role,
                token_hash,
            });
            Ok(())
        })?;
        Ok(token)
    }

    /// The name and role of `token`, if it is one.
    pub fn token(&self, token: &str) -> Result<Option<(String, Role)>, AccountError> {
        let hash = sha256_hex(token);
        Ok(self
            .read()?
            .tokens
            .into_iter()
            .find(|t| t.token_hash == hash)
            .map(|t| (t.name, t.role)))
    }
}

fn check_name(name: &str) -> Result<(), AccountError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if valid {
        Ok(())
    } else {
        Err(AccountError::Invalid(format!(
            "name {name:?}: 1 to 64 letters, digits, '-', '_', '.', '@'"
        )))
    }
}

/// A random 16-byte salt.
fn fresh_salt() -> Result<SaltString, AccountError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| AccountError::Invalid("no random numbers from the system".to_owned()))?;
    SaltString::encode_b64(&bytes).map_err(|e| AccountError::Invalid(e.to_string()))
}

/// A random password for accounts made by a program (the demo's): 16 hex digits, 64 bits.
pub fn random_password() -> String {
    random_hex(8)
}

/// `bytes` random bytes as hex (the operating system's generator).
pub(crate) fn random_hex(bytes: usize) -> String {
    use ring::rand::SecureRandom;
    let mut buffer = vec![0u8; bytes];
    ring::rand::SystemRandom::new()
        .fill(&mut buffer)
        .expect("the operating system's random generator");
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of `text`, hex.
pub(crate) fn sha256_hex(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_tokens_are_checked_against_hashes_only() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::new(dir.path());
        assert!(!accounts.any().unwrap());
        accounts
            .set_user("mina", Role::Editor, "correct horse battery")
            .unwrap();
        assert_eq!(
            accounts.log_in("mina", "correct horse battery").unwrap(),
            Some(Role::Editor)
        );
        assert_eq!(accounts.log_in("mina", "wrong password!!").unwrap(), None);
        assert_eq!(
            accounts.log_in("nobody", "correct horse battery").unwrap(),
            None
        );
        let token = accounts.new_token("etl", Role::Viewer).unwrap();
        assert_eq!(
            accounts.token(&token).unwrap(),
            Some(("etl".to_owned(), Role::Viewer))
        );
        assert_eq!(accounts.token("slt_forged").unwrap(), None);
        let file = std::fs::read_to_string(dir.path().join("auth/accounts.json")).unwrap();
        assert!(
            !file.contains("correct horse") && !file.contains(&token),
            "{file}"
        );
        assert!(file.contains("$argon2id$"), "{file}");
        assert!(accounts.set_user("x", Role::Viewer, "short").is_err());
        assert!(accounts.delete_user("mina").unwrap());
        assert_eq!(
            accounts.log_in("mina", "correct horse battery").unwrap(),
            None
        );
    }

    #[test]
    fn roles_include_the_ones_before() {
        assert!(Role::Admin > Role::Editor && Role::Editor > Role::Viewer);
        assert_eq!("editor".parse::<Role>(), Ok(Role::Editor));
        assert!("root".parse::<Role>().is_err());
    }
}
