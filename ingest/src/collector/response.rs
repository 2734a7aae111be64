//! The collector's answers, in Amplitude's JSON shapes. Every body carries `code` equal to the HTTP
//! status: the TypeScript SDKs read the status from the body, and the Python SDK crashes without it.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use sluice_schema::amplitude::RequestError;

use super::InvalidEvents;
use super::throttle::Throttled;

/// A successful upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Events stored.
    pub events_ingested: usize,
    /// Size of the request body.
    pub payload_size_bytes: usize,
    /// When the request was accepted (ms).
    pub server_upload_time: i64,
}

/// Why an upload was refused. Nothing of a refused upload is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Empty body.
    #[error("Missing request body")]
    MissingBody,
    /// Unparseable body.
    #[error("Invalid JSON request body")]
    InvalidJson,
    /// `Content-Encoding: gzip` but the body is not valid gzip.
    #[error("Invalid gzip request body")]
    InvalidGzip,
    /// A `Content-Encoding` other than gzip.
    #[error("Unsupported Content-Encoding: {0}")]
    UnsupportedEncoding(String),
    /// An identify body that is not form-encoded.
    #[error("Invalid form request body")]
    InvalidForm,
    /// `identification` absent or not a JSON object / array of objects (Amplitude: `missing_event`).
    #[error("missing_event")]
    MissingIdentification,
    /// A required top-level field is missing.
    #[error("Request missing required field {0}")]
    MissingField(&'static str),
    /// Unknown API key.
    #[error("Invalid API key: {0}")]
    InvalidApiKey(String),
    /// Too many events or bytes: the SDK splits the batch and retries.
    #[error("Payload too large")]
    PayloadTooLarge,
    /// Some events are invalid; the SDK drops those and resends the rest.
    #[error("Invalid field values on some events")]
    InvalidEvents(InvalidEvents),
    /// Some devices or users sent more than the configured rate: nothing is stored, the SDK holds
    /// the listed events back and resends the rest.
    #[error("Too many requests for some devices and users")]
    Throttled(Throttled),
    /// The event log cannot take events right now (the reason is in the body); retrying is safe.
    #[error("Service unavailable")]
    Unavailable(String),
}

impl From<RequestError> for Rejection {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::MissingBody => Rejection::MissingBody,
            RequestError::InvalidJson => Rejection::InvalidJson,
            RequestError::MissingField(field) => Rejection::MissingField(field),
        }
    }
}

impl Rejection {
    /// The HTTP status of this rejection.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Rejection::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            Rejection::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn body(&self) -> Map<String, Value> {
        let mut body = Map::new();
        body.insert("code".into(), self.status().as_u16().into());
        let error = match self {
            Rejection::MissingField(field) => {
                body.insert("missing_field".into(), (*field).into());
                "Request missing required field".to_owned()
            }
            Rejection::MissingIdentification => {
                body.insert("missing_field".into(), "identification".into());
                self.to_string()
            }
            Rejection::Throttled(throttled) => {
                body.insert("eps_threshold".into(), throttled.eps_threshold.into());
                body.insert("throttled_devices".into(), json!(throttled.devices));
                body.insert("throttled_users".into(), json!(throttled.users));
                body.insert("throttled_events".into(), json!(throttled.events));
                // No daily quota is enforced; the keys are present because SDKs read them.
                body.insert("exceeded_daily_quota_devices".into(), json!({}));
                body.insert("exceeded_daily_quota_users".into(), json!({}));
                self.to_string()
            }
            Rejection::InvalidEvents(events) => {
                // Kotlin and Swift SDKs ignore `events_with_invalid_id_lengths`: list those events
                // under `events_with_invalid_fields` too, so every SDK drops them.
                let mut invalid = events.invalid_fields.clone();
                for (field, indexes) in &events.invalid_id_lengths {
                    invalid.entry(field).or_default().extend(indexes);
                }
                body.insert("events_with_invalid_fields".into(), json!(invalid));
                body.insert(
                    "events_with_missing_fields".into(),
                    json!(events.missing_fields),
                );
                if !events.invalid_id_lengths.is_empty() {
                    body.insert(
                        "events_with_invalid_id_lengths".into(),
                        json!(events.invalid_id_lengths),
                    );
                }
                self.to_string()
            }
            Rejection::Unavailable(reason) => {
                body.insert("reason".into(), reason.clone().into());
                self.to_string()
            }
            other => other.to_string(),
        };
        body.insert("error".into(), error.into());
        body
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        (self.status(), Json(Value::Object(self.body()))).into_response()
    }
}

impl IntoResponse for Accepted {
    fn into_response(self) -> Response {
        let body = json!({
            "code": 200,
            "events_ingested": self.events_ingested,
            "payload_size_bytes": self.payload_size_bytes,
            "server_upload_time": self.server_upload_time,
        });
        (StatusCode::OK, Json(body)).into_response()
    }
}
