//! The HTTP destinations: Braze's `/users/track` and a cohort webhook, and how their answers
//! are read (which failures are worth another try, and when).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{CONTENT_TYPE, HeaderMap, USER_AGENT};
use reqwest::{Client, StatusCode};
use serde_json::{Map, Value, json};

use super::config::BrazeMatch;
use super::deliver::Attempt;
use super::plan::{Batch, Change};

/// The user agent of every request.
const AGENT: &str = concat!("Sluice/", env!("CARGO_PKG_VERSION"));
/// How much of a refusal's body the log keeps.
const MAX_DETAIL: usize = 300;

/// Braze's `POST /users/track`, one boolean attribute per cohort.
#[derive(Debug)]
pub(crate) struct Braze {
    pub(crate) client: Client,
    /// `<endpoint>/users/track`.
    pub(crate) url: String,
    pub(crate) api_key: String,
    pub(crate) attribute: String,
    pub(crate) match_by: BrazeMatch,
}

impl Braze {
    /// The attributes object naming `change`'s person to Braze, if it can be named.
    fn object(&self, change: &Change, in_cohort: bool) -> Option<Value> {
        let mut object = Map::new();
        match (&change.ids.user_id, &change.ids.device_id, self.match_by) {
            (Some(user_id), _, _) => {
                object.insert("external_id".to_owned(), json!(user_id));
            }
            (None, Some(device_id), BrazeMatch::ExternalIdOrDeviceAlias) => {
                object.insert(
                    "user_alias".to_owned(),
                    json!({"alias_name": device_id, "alias_label": "device_id"}),
                );
            }
            _ => return None,
        }
        object.insert(self.attribute.clone(), json!(in_cohort));
        // Amplitude's Braze sync updates people Braze knows and creates nobody.
        object.insert("_update_existing_only".to_owned(), json!(true));
        Some(Value::Object(object))
    }

    /// Persons of `batch` Braze cannot be told about.
    pub(crate) fn unmatched(&self, batch: &Batch) -> usize {
        batch
            .changes
            .iter()
            .filter(|c| self.object(c, batch.in_cohort).is_none())
            .count()
    }

    pub(crate) async fn send(&self, batch: &Batch) -> Attempt {
        let attributes: Vec<Value> = batch
            .changes
            .iter()
            .filter_map(|c| self.object(c, batch.in_cohort))
            .collect();
        if attributes.is_empty() {
            return Attempt::Delivered {
                status: None,
                detail: Some("no person of the batch has an id Braze matches".to_owned()),
                pause_until: None,
            };
        }
        let body = json!({ "attributes": attributes });
        let request = self
            .client
            .post(&self.url)
            .header(USER_AGENT, AGENT)
            .bearer_auth(&self.api_key)
            .json(&body);
        let (attempt, text) = exchange(request).await;
        match attempt {
            Attempt::Delivered {
                status,
                pause_until,
                ..
            } => Attempt::Delivered {
                status,
                detail: braze_rejections(&text),
                pause_until,
            },
            other => other,
        }
    }
}

/// The objects a 2xx answer of Braze says it rejected (`errors`), if any.
fn braze_rejections(text: &str) -> Option<String> {
    let answer: Value = serde_json::from_str(text).ok()?;
    let errors = answer.get("errors")?.as_array()?;
    let first = errors.first()?;
    Some(clip(&format!(
        "Braze rejected {} object(s), e.g. {first}",
        errors.len()
    )))
}

/// A cohort webhook: Amplitude's payload, signed.
#[derive(Debug)]
pub(crate) struct Webhook {
    pub(crate) client: Client,
    pub(crate) url: String,
    pub(crate) secret: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) cohort: String,
    /// The computation being synced, Unix ms.
    pub(crate) run_ms: i64,
}

impl Webhook {
    /// The message of `batch` (Amplitude's cohort-webhook payload).
    pub(crate) fn body(&self, batch: &Batch) -> Vec<u8> {
        let users: Vec<Value> = batch
            .changes
            .iter()
            .map(|c| json!({"user_id": c.ids.user_id, "device_id": c.ids.device_id}))
            .collect();
        let message = json!({
            "cohort_name": self.cohort,
            "cohort_id": self.cohort,
            "in_cohort": batch.in_cohort,
            "computed_time": (self.run_ms / 1000).to_string(),
            "message_id": batch.message_id,
            "users": users,
        });
        serde_json::to_vec(&message).unwrap_or_default()
    }

    pub(crate) async fn send(&self, batch: &Batch) -> Attempt {
        let body = self.body(batch);
        let mut request = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(
                USER_AGENT,
                concat!("Sluice/Webhook/", env!("CARGO_PKG_VERSION")),
            )
            .header("X-Sluice-Message-Id", &batch.message_id);
        if let Some(secret) = &self.secret {
            request = request.header("X-Sluice-Signature", signature(secret, &body));
        }
        exchange(request.body(body)).await.0
    }
}

/// `sha256=<hex>`: the HMAC-SHA256 of `body` under `secret` (how a receiver checks a message
/// came from this sync, as GitHub's and Stripe's webhooks are checked).
pub fn signature(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Sends `request` and reads its answer ([`answer`]), with the answer's body (empty when none
/// came).
async fn exchange(request: reqwest::RequestBuilder) -> (Attempt, String) {
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => return (unreachable(&e), String::new()),
    };
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    (answer(status, &headers, &text), text)
}

/// A request that got no answer: worth another try (the destination may be back).
fn unreachable(e: &reqwest::Error) -> Attempt {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    Attempt::Retry {
        status: None,
        reason: format!("{what}: {e}"),
        not_before: None,
    }
}

/// What an answer means: 2xx delivered (pausing if the rate-limit window is used up), 429 a
/// wait until the reset, 408 and 5xx another try, any other status a refusal.
pub(crate) fn answer(status: StatusCode, headers: &HeaderMap, text: &str) -> Attempt {
    let code = Some(status.as_u16());
    if status.is_success() {
        let used_up = header_number(headers, "x-ratelimit-remaining") == Some(0);
        return Attempt::Delivered {
            status: code,
            detail: None,
            pause_until: if used_up { reset_time(headers) } else { None },
        };
    }
    let said = clip(&format!("HTTP {status}: {}", text.trim()));
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Attempt::Retry {
            status: code,
            reason: said,
            not_before: retry_after(headers).or_else(|| reset_time(headers)),
        };
    }
    if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
        return Attempt::Retry {
            status: code,
            reason: said,
            not_before: None,
        };
    }
    Attempt::Refused {
        status: code,
        reason: said,
    }
}

fn header_number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `X-RateLimit-Reset`: when the window resets, UTC epoch seconds (Braze).
fn reset_time(headers: &HeaderMap) -> Option<SystemTime> {
    let seconds = header_number(headers, "x-ratelimit-reset")?;
    Some(UNIX_EPOCH + Duration::from_secs(seconds))
}

/// `Retry-After` (or Braze's `X-RateLimit-Retry-After`) in seconds from now.
fn retry_after(headers: &HeaderMap) -> Option<SystemTime> {
    let seconds = header_number(headers, "retry-after")
        .or_else(|| header_number(headers, "x-ratelimit-retry-after"))?;
    Some(SystemTime::now() + Duration::from_secs(seconds))
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_DETAIL) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::store::PersonIds;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn answers_are_read_by_status_and_rate_limit_headers() {
        let ok = answer(StatusCode::CREATED, &HeaderMap::new(), "");
        assert!(matches!(
            ok,
            Attempt::Delivered {
                status: Some(201),
                pause_until: None,
                ..
            }
        ));
        let last = answer(
            StatusCode::OK,
            &headers(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "2000000000"),
            ]),
            "",
        );
        let Attempt::Delivered { pause_until, .. } = last else {
            panic!("{last:?}");
        };
        assert_eq!(
            pause_until,
            Some(UNIX_EPOCH + Duration::from_secs(2_000_000_000))
        );
        let limited = answer(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("x-ratelimit-reset", "2000000000")]),
            "slow down",
        );
        assert!(matches!(
            limited,
            Attempt::Retry {
                status: Some(429),
                not_before: Some(_),
                ..
            }
        ));
        assert!(matches!(
            answer(StatusCode::BAD_GATEWAY, &HeaderMap::new(), ""),
            Attempt::Retry {
                not_before: None,
                ..
            }
        ));
        let refused = answer(
            StatusCode::UNAUTHORIZED,
            &HeaderMap::new(),
            "{\"message\":\"Invalid API Key\"}",
        );
        let Attempt::Refused { reason, .. } = refused else {
            panic!("{refused:?}");
        };
        assert!(
            reason.contains("401") && reason.contains("Invalid API Key"),
            "{reason}"
        );
    }

    #[test]
    fn the_signature_is_hmac_sha256_in_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn braze_names_persons_by_external_id_or_device_alias() {
        let braze = |match_by| Braze {
            client: Client::new(),
            url: String::new(),
            api_key: String::new(),
            attribute: "sluice_cohort_x".to_owned(),
            match_by,
        };
        let change = |user: Option<&str>, device: Option<&str>| Change {
            person: 1,
            ids: PersonIds {
                user_id: user.map(str::to_owned),
                device_id: device.map(str::to_owned),
            },
        };
        let by_id = braze(BrazeMatch::ExternalId);
        assert_eq!(
            by_id.object(&change(Some("u1"), Some("d1")), true),
            Some(
                json!({"external_id": "u1", "sluice_cohort_x": true, "_update_existing_only": true})
            )
        );
        assert_eq!(by_id.object(&change(None, Some("d1")), true), None);
        let by_alias = braze(BrazeMatch::ExternalIdOrDeviceAlias);
        assert_eq!(
            by_alias.object(&change(None, Some("d1")), false),
            Some(
                json!({"user_alias": {"alias_name": "d1", "alias_label": "device_id"},
                        "sluice_cohort_x": false, "_update_existing_only": true})
            )
        );
        assert_eq!(
            braze_rejections(r#"{"message":"success","errors":[{"type":"invalid","index":1}]}"#),
            Some("Braze rejected 1 object(s), e.g. {\"index\":1,\"type\":\"invalid\"}".to_owned())
        );
        assert_eq!(braze_rejections(r#"{"message":"success"}"#), None);
    }
}
