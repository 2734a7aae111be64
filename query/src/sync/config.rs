//! A cohort sync's configuration: which saved cohort goes where, how often, and how failures are
//! retried. Stored as JSON (`<data>/syncs/<name>/sync.json`), given in a file to `sluice serve
//! --syncs` or `sluice cohort sync save`, or through `PUT /api/v1/syncs/{name}`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::SyncError;

/// Braze's documented cap of objects per `/users/track` request.
pub const BRAZE_MAX_BATCH: usize = 75;
/// The default batch for Braze: 50, the cap of "Monthly Active Users" contracts (docs/reference/braze.md §1).
const BRAZE_DEFAULT_BATCH: usize = 50;
/// Users per webhook message (Amplitude's partner cohort syncs send 1 000).
const WEBHOOK_DEFAULT_BATCH: usize = 1_000;
/// Custom headers a webhook may add (Amplitude allows 5).
const MAX_WEBHOOK_HEADERS: usize = 5;
/// Changes per Kafka batch (one delivery wait each).
const KAFKA_DEFAULT_BATCH: usize = 1_000;
/// Shortest schedule: one sync a minute (Amplitude's "real-time").
const MIN_EVERY_SECS: u64 = 60;

/// One sync: a saved cohort kept up to date in a destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// Its name (the same rules as a cohort's: it names a folder and a URL part).
    pub name: String,
    /// The saved cohort it sends.
    pub cohort: String,
    /// Where it goes.
    pub destination: Destination,
    /// Scheduled: `sluice serve` computes the cohort and syncs it this often (seconds, at least
    /// 60). Manual only when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_secs: Option<u64>,
    /// How failed deliveries are retried.
    #[serde(default)]
    pub retry: RetryPolicy,
}

/// A destination of a sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Destination {
    /// Braze's `POST /users/track`: one boolean custom attribute per cohort, `true` on entering,
    /// `false` on leaving, for users that already exist in Braze (`_update_existing_only`).
    Braze {
        /// The REST endpoint, e.g. `https://rest.iad-01.braze.com`.
        url: String,
        /// The REST API key (with the `users.track` permission).
        api_key: Secret,
        /// The attribute set; `sluice_cohort_<cohort>` when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attribute: Option<String>,
        /// Objects per request: at most 75; 50 when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        batch_size: Option<usize>,
        /// How persons are named to Braze.
        #[serde(default)]
        match_by: BrazeMatch,
    },
    /// A webhook: Amplitude's cohort-webhook messages (`in_cohort` true for entering users,
    /// false for leaving ones), signed with HMAC-SHA256 when a secret is set.
    Webhook {
        /// Where messages are POSTed.
        url: String,
        /// The key of the `X-Sluice-Signature: sha256=<hex>` header over the body.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<Secret>,
        /// Extra headers sent with every message (at most 5).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
        /// Users per message; 1 000 when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        batch_size: Option<usize>,
    },
    /// Files in a folder: one per batch of changes, `user_id`, `device_id`, `in_cohort`.
    File {
        /// The folder (made if missing).
        dir: PathBuf,
        /// CSV or Parquet.
        format: FileFormat,
        /// Changes per file; every entering user in one file and every leaving one in another
        /// when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        batch_size: Option<usize>,
    },
    /// A Kafka topic of membership changes: one JSON record per user entering or leaving,
    /// keyed by the user (or device) id.
    Kafka {
        /// Bootstrap brokers, `host:port[,host:port…]`.
        brokers: String,
        /// The topic.
        topic: String,
        /// Records per delivery wait; 1 000 when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        batch_size: Option<usize>,
        /// Partitions of the topic when the sync creates it (it does when the topic is
        /// missing); 1 when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        partitions: Option<i32>,
        /// Replication factor of the topic when the sync creates it; 1 when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replication: Option<i32>,
    },
}

/// How persons are named to Braze.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrazeMatch {
    /// By user id as Braze's `external_id`; persons never identified are not sent (counted as
    /// unmatched in the delivery log).
    #[default]
    ExternalId,
    /// By `external_id`, and persons never identified by a user alias
    /// `{"alias_name": <device id>, "alias_label": "device_id"}`.
    ExternalIdOrDeviceAlias,
}

/// The format of a file destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// `user_id,device_id,in_cohort` with a header.
    Csv,
    /// The same three columns in Parquet.
    Parquet,
}

impl FileFormat {
    /// The file name's extension.
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Parquet => "parquet",
        }
    }
}

/// A secret: written out, or read from an environment variable when the sync runs
/// (`{"env": "BRAZE_API_KEY"}`), so a config file need not hold it. The API never shows a
/// written-out secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Secret {
    /// The secret itself.
    Value(String),
    /// The name of the environment variable holding it.
    Env {
        /// The variable.
        env: String,
    },
}

/// What the API shows in place of a secret given as a value; sent back in a config, it means
/// "keep the stored secret" (`SyncConfig::keep_stored_secrets`).
pub const HIDDEN: &str = "(hidden)";

impl Secret {
    fn is_hidden(&self) -> bool {
        matches!(self, Secret::Value(value) if value == HIDDEN)
    }

    /// The secret's value now.
    pub fn reveal(&self) -> Result<String, SyncError> {
        match self {
            Secret::Value(value) => Ok(value.clone()),
            Secret::Env { env } => std::env::var(env).map_err(|_| {
                SyncError::Config(format!("the environment variable {env} is not set"))
            }),
        }
    }

    /// The secret as the API shows it: a variable's name, never a value.
    pub fn redacted(&self) -> Secret {
        match self {
            Secret::Value(_) => Secret::Value(HIDDEN.to_owned()),
            Secret::Env { env } => Secret::Env { env: env.clone() },
        }
    }
}

/// Retries of a failed delivery: exponential backoff from `base_ms` doubling to `max_ms` (half of
/// each wait random), at most `max_attempts` tries; a 429 waits until the destination's reset
/// time instead. Each try times out after `timeout_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Tries per batch, the first one included.
    pub max_attempts: u32,
    /// The first wait.
    pub base_ms: u64,
    /// The longest wait.
    pub max_ms: u64,
    /// How long one try may take.
    pub timeout_ms: u64,
}

impl Default for RetryPolicy {
    /// Amplitude's partner syncs: 8 tries, waits from 1 s to about 2 min.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_ms: 1_000,
            max_ms: 128_000,
            timeout_ms: 10_000,
        }
    }
}

impl RetryPolicy {
    /// The wait before try `attempt + 1` after try `attempt` (1-based) failed: between half and
    /// all of `base · 2^(attempt-1)`, capped at `max_ms`.
    pub fn backoff(&self, attempt: u32) -> std::time::Duration {
        let full = self
            .base_ms
            .saturating_mul(1_u64 << attempt.saturating_sub(1).min(30))
            .min(self.max_ms);
        let half = full / 2;
        let jitter = if half == 0 {
            0
        } else {
            rand::random_range(0..=half)
        };
        std::time::Duration::from_millis(full - half + jitter)
    }
}

impl SyncConfig {
    /// Checks what serde cannot: names, URLs, batch sizes, the schedule, the retry policy.
    pub fn validate(&self) -> Result<(), SyncError> {
        let problem = |what: String| Err(SyncError::Config(what));
        if let Err(e) = crate::cohort::store::check_name(&self.name) {
            return problem(format!("sync name: {e}"));
        }
        if let Err(e) = crate::cohort::store::check_name(&self.cohort) {
            return problem(format!("cohort: {e}"));
        }
        if let Some(every) = self.every_secs
            && every < MIN_EVERY_SECS
        {
            return problem(format!(
                "every_secs is {every}: syncs run at most once a minute (60)"
            ));
        }
        if self.retry.max_attempts == 0 || self.retry.timeout_ms == 0 {
            return problem("retry: max_attempts and timeout_ms must be at least 1".to_owned());
        }
        if self.retry.base_ms > self.retry.max_ms {
            return problem("retry: base_ms must not be above max_ms".to_owned());
        }
        let batch = self.batch_size();
        if batch == 0 {
            return problem("batch_size must be at least 1".to_owned());
        }
        match &self.destination {
            Destination::Braze { url, attribute, .. } => {
                check_url(url)?;
                if batch > BRAZE_MAX_BATCH {
                    return problem(format!(
                        "batch_size {batch}: Braze takes at most {BRAZE_MAX_BATCH} objects per request"
                    ));
                }
                if let Some(attribute) = attribute
                    && (attribute.is_empty() || attribute.starts_with('$') || attribute.len() > 255)
                {
                    return problem(format!(
                        "attribute {attribute:?}: Braze attribute names are 1 to 255 characters, not starting with '$'"
                    ));
                }
            }
            Destination::Webhook { url, headers, .. } => {
                check_url(url)?;
                if headers.len() > MAX_WEBHOOK_HEADERS {
                    return problem(format!(
                        "headers: at most {MAX_WEBHOOK_HEADERS} custom headers, not {}",
                        headers.len()
                    ));
                }
                for (name, value) in headers {
                    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err()
                        || reqwest::header::HeaderValue::from_str(value).is_err()
                    {
                        return problem(format!("header {name:?} is not a valid HTTP header"));
                    }
                }
            }
            Destination::File { dir, .. } => {
                if dir.as_os_str().is_empty() {
                    return problem("dir is empty".to_owned());
                }
                // A relative folder would follow wherever the server was started, and member
                // ids would land there unnoticed.
                if !dir.is_absolute() {
                    return problem(format!(
                        "dir {:?} is not an absolute path (such as /var/lib/sluice/exports)",
                        dir.display().to_string()
                    ));
                }
            }
            Destination::Kafka {
                brokers,
                topic,
                partitions,
                replication,
                ..
            } => {
                if brokers.trim().is_empty() {
                    return problem("brokers is empty".to_owned());
                }
                if partitions.is_some_and(|p| p < 1) || replication.is_some_and(|r| r < 1) {
                    return problem("partitions and replication must be at least 1".to_owned());
                }
                let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
                if topic.is_empty() || topic.len() > 249 || !topic.chars().all(legal) {
                    return problem(format!(
                        "topic {topic:?}: Kafka topics are 1 to 249 of a-z, A-Z, 0-9, '.', '_', '-'"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Users per batch.
    pub fn batch_size(&self) -> usize {
        match &self.destination {
            Destination::Braze { batch_size, .. } => batch_size.unwrap_or(BRAZE_DEFAULT_BATCH),
            Destination::Webhook { batch_size, .. } => batch_size.unwrap_or(WEBHOOK_DEFAULT_BATCH),
            Destination::File { batch_size, .. } => batch_size.unwrap_or(usize::MAX),
            Destination::Kafka { batch_size, .. } => batch_size.unwrap_or(KAFKA_DEFAULT_BATCH),
        }
    }

    /// Puts `stored`'s secrets in place of the `"(hidden)"` ones this config got back from the API,
    /// so an edit that leaves a secret alone keeps it (and does not start the sync over). A hidden
    /// secret with no stored value to keep is an error.
    pub fn keep_stored_secrets(&mut self, stored: Option<&SyncConfig>) -> Result<(), SyncError> {
        let field = match &self.destination {
            Destination::Braze { api_key, .. } if api_key.is_hidden() => "api_key",
            Destination::Webhook {
                secret: Some(secret),
                ..
            } if secret.is_hidden() => "secret",
            _ => return Ok(()),
        };
        let kept = match stored.map(|s| &s.destination) {
            Some(Destination::Braze { api_key, .. }) if field == "api_key" => Some(api_key),
            Some(Destination::Webhook {
                secret: Some(secret),
                ..
            }) if field == "secret" => Some(secret),
            _ => None,
        }
        .filter(|secret| matches!(secret, Secret::Value(_)) && !secret.is_hidden())
        .cloned()
        .ok_or_else(|| {
            SyncError::Config(format!(
                "destination.{field}: {HIDDEN:?} keeps the stored secret, and this sync has none: give the secret"
            ))
        })?;
        match &mut self.destination {
            Destination::Braze { api_key, .. } => *api_key = kept,
            Destination::Webhook { secret, .. } => *secret = Some(kept),
            _ => {}
        }
        Ok(())
    }

    /// The config as the API shows it: secrets hidden.
    pub fn redacted(&self) -> SyncConfig {
        let mut shown = self.clone();
        match &mut shown.destination {
            Destination::Braze { api_key, .. } => *api_key = api_key.redacted(),
            Destination::Webhook {
                secret: Some(secret),
                ..
            } => *secret = secret.redacted(),
            _ => {}
        }
        shown
    }
}

fn check_url(url: &str) -> Result<(), SyncError> {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => Ok(()),
        _ => Err(SyncError::Config(format!(
            "url {url:?} is not an http:// or https:// URL"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook(batch_size: Option<usize>) -> SyncConfig {
        SyncConfig {
            name: "to-crm".to_owned(),
            cohort: "dropped".to_owned(),
            destination: Destination::Webhook {
                url: "http://127.0.0.1:9/hook".to_owned(),
                secret: Some(Secret::Value("s3cret".to_owned())),
                headers: BTreeMap::new(),
                batch_size,
            },
            every_secs: None,
            retry: RetryPolicy::default(),
        }
    }

    #[test]
    fn a_config_reads_from_json_with_defaults() {
        let config: SyncConfig = serde_json::from_str(
            r#"{"name": "b", "cohort": "c", "destination": {"kind": "braze",
                "url": "https://rest.iad-01.braze.com", "api_key": {"env": "BRAZE_KEY"}}}"#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.batch_size(), 50);
        assert_eq!(config.retry, RetryPolicy::default());
        assert_eq!(
            config.destination,
            Destination::Braze {
                url: "https://rest.iad-01.braze.com".to_owned(),
                api_key: Secret::Env {
                    env: "BRAZE_KEY".to_owned()
                },
                attribute: None,
                batch_size: None,
                match_by: BrazeMatch::ExternalId,
            }
        );
    }

    #[test]
    fn bad_configs_say_what_to_fix() {
        let braze = |batch: usize| SyncConfig {
            destination: Destination::Braze {
                url: "https://rest.iad-01.braze.com".to_owned(),
                api_key: Secret::Value("k".to_owned()),
                attribute: None,
                batch_size: Some(batch),
                match_by: BrazeMatch::ExternalId,
            },
            ..webhook(None)
        };
        assert!(braze(75).validate().is_ok());
        let error = braze(76).validate().unwrap_err().to_string();
        assert!(error.contains("at most 75"), "{error}");
        let error = webhook(Some(0)).validate().unwrap_err().to_string();
        assert!(error.contains("at least 1"), "{error}");
        let mut bad_url = webhook(None);
        bad_url.destination = Destination::Webhook {
            url: "ftp://x".to_owned(),
            secret: None,
            headers: BTreeMap::new(),
            batch_size: None,
        };
        assert!(bad_url.validate().unwrap_err().to_string().contains("url"));
        let mut fast = webhook(None);
        fast.every_secs = Some(5);
        assert!(
            fast.validate()
                .unwrap_err()
                .to_string()
                .contains("once a minute")
        );
        let mut unnamed = webhook(None);
        unnamed.name = "To CRM".to_owned();
        assert!(
            unnamed
                .validate()
                .unwrap_err()
                .to_string()
                .contains("sync name")
        );
        let mut relative = webhook(None);
        relative.destination = Destination::File {
            dir: PathBuf::from("exports/crm"),
            format: FileFormat::Csv,
            batch_size: None,
        };
        let error = relative.validate().unwrap_err().to_string();
        assert!(
            error.contains(r#"dir "exports/crm" is not an absolute path"#),
            "{error}"
        );
        let unknown = serde_json::from_str::<SyncConfig>(
            r#"{"name": "b", "cohort": "c", "destination": {"kind": "fax", "number": "1"}}"#,
        );
        assert!(unknown.is_err());
    }

    #[test]
    fn a_hidden_secret_sent_back_keeps_the_stored_one() {
        let stored: SyncConfig = serde_json::from_value(serde_json::json!({
            "name": "s", "cohort": "c",
            "destination": {"kind": "webhook", "url": "http://localhost:9/", "secret": "s3cret"}
        }))
        .unwrap();
        let mut edited = stored.redacted();
        edited.every_secs = Some(3600);
        edited.keep_stored_secrets(Some(&stored)).unwrap();
        assert_eq!(edited.destination, stored.destination);

        let mut new = stored.redacted();
        let refused = new.keep_stored_secrets(None).unwrap_err().to_string();
        assert!(refused.contains("destination.secret"), "{refused}");
        let from_env: SyncConfig = serde_json::from_value(serde_json::json!({
            "name": "s", "cohort": "c",
            "destination": {"kind": "webhook", "url": "http://localhost:9/", "secret": {"env": "HOOK"}}
        }))
        .unwrap();
        let mut kept = from_env.clone();
        kept.keep_stored_secrets(Some(&stored)).unwrap();
        assert_eq!(
            kept, from_env,
            "a secret that is not hidden is the one given"
        );
    }

    #[test]
    fn secrets_are_hidden_from_the_api() {
        let shown = webhook(None).redacted();
        let Destination::Webhook { secret, .. } = shown.destination else {
            panic!("not a webhook");
        };
        assert_eq!(secret, Some(Secret::Value("(hidden)".to_owned())));
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 8,
            base_ms: 100,
            max_ms: 1_000,
            timeout_ms: 1_000,
        };
        for (attempt, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1_000),
            (9, 1_000),
        ] {
            let wait = policy.backoff(attempt).as_millis() as u64;
            assert!(
                (full / 2..=full).contains(&wait),
                "try {attempt}: {wait} ms"
            );
        }
    }
}
