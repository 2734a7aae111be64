//! The collector's answers, in Amplitude's JSON shapes. Every body carries `code` equal to the HTTP
//! status: the TypeScript SDKs read the status from the body, and the Python SDK crashes without it.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use sluice_schema::amplitude::RequestError;

use super::InvalidEvents;

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
    /// The event log cannot take events right now; retrying is safe.
    #[error("Service unavailable")]
    Unavailable,
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
            Rejection::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
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
