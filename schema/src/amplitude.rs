//! Amplitude HTTP V2 wire format → canonical [`Event`].
//!
//! Parsing works on `serde_json::Value` rather than a derived struct so that one bad field is reported
//! against its event index and field name (Amplitude's `events_with_invalid_fields` /
//! `events_with_missing_fields`) instead of failing the whole body. Rules follow
//! `shared/reference/amplitude.md` §1.3–§1.4 and §6.4.

use serde_json::{Map, Value};

use crate::event::{Context, Event, Properties, Revenue};

/// Default minimum length of `user_id` / `device_id` (`options.min_id_length` overrides it).
pub const DEFAULT_MIN_ID_LENGTH: usize = 5;
/// Longest string Amplitude keeps; longer strings are truncated.
pub const MAX_STRING_CHARS: usize = 1024;
/// Deepest nesting accepted inside property objects.
pub const MAX_PROPERTY_DEPTH: usize = 40;
/// Clock skew below this is not corrected.
pub const SKEW_THRESHOLD_MS: i64 = 60_000;

/// Ids Amplitude refuses: an event carrying one of these as `user_id`/`device_id` is invalid.
pub const FORBIDDEN_IDS: &[&str] = &[
    "anonymous",
    "nil",
    "none",
    "null",
    "n/a",
    "na",
    "undefined",
    "unknown",
    "\"\"",
    "00000000-0000-0000-0000-000000000000",
    "{}",
    "lmy47d",
    "0",
    "-1",
];

/// Request-level fields of an upload (`POST /2/httpapi`, `POST /batch`).
#[derive(Debug, Clone, PartialEq)]
pub struct UploadRequest {
    /// The project API key.
    pub api_key: String,
    /// The raw event objects, validated one by one with [`normalize_event`].
    pub events: Vec<Value>,
    /// `options.min_id_length`, or the default.
    pub min_id_length: usize,
    /// `client_upload_time` in ms, when sent (ISO-8601 string or ms number).
    pub client_upload_time: Option<i64>,
}

/// What is wrong with a request as a whole. Each maps to an Amplitude 400 body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The body is empty.
    #[error("Missing request body")]
    MissingBody,
    /// The body is not JSON, or not a JSON object.
    #[error("Invalid JSON request body")]
    InvalidJson,
    /// A required top-level field is absent or of the wrong type.
    #[error("Request missing required field")]
    MissingField(&'static str),
}

/// How one field of one event is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// A required field is absent.
    Missing,
    /// A field has a value of the wrong type or outside its domain.
    Invalid,
    /// An id is shorter than `min_id_length` or on the forbidden list.
    InvalidIdLength,
}

/// One problem found in one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// What kind of problem.
    pub kind: ProblemKind,
    /// The wire name of the field.
    pub field: &'static str,
}

/// Facts about the request an event arrived in, needed to normalise it.
#[derive(Debug, Clone)]
pub struct IngestContext<'a> {
    /// The project the API key belongs to.
    pub project: &'a str,
    /// When the request was received (ms).
    pub received_ms: i64,
    /// The request's `client_upload_time` (ms), if any.
    pub client_upload_time: Option<i64>,
    /// The client's address, substituted for `"$remote"`.
    pub remote_ip: Option<&'a str>,
    /// Minimum id length in force.
    pub min_id_length: usize,
}

/// Parses the top level of an upload body.
pub fn parse_upload(body: &[u8]) -> Result<UploadRequest, RequestError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(RequestError::MissingBody);
    }
    let value: Value = serde_json::from_slice(body).map_err(|_| RequestError::InvalidJson)?;
    let Value::Object(mut top) = value else {
        return Err(RequestError::InvalidJson);
    };
    let api_key = match top.remove("api_key") {
        Some(Value::String(key)) if !key.is_empty() => key,
        _ => return Err(RequestError::MissingField("api_key")),
    };
    let events = match top.remove("events") {
        Some(Value::Array(events)) => events,
        _ => return Err(RequestError::MissingField("events")),
    };
    let min_id_length = top
        .get("options")
        .and_then(|o| o.get("min_id_length"))
        .and_then(Value::as_u64)
        .map_or(DEFAULT_MIN_ID_LENGTH, |n| n as usize);
    let client_upload_time = top.get("client_upload_time").and_then(parse_upload_time);
    Ok(UploadRequest {
        api_key,
        events,
        min_id_length,
        client_upload_time,
    })
}

/// `client_upload_time`: SDKs send ISO-8601 (`2025-01-01T00:00:00.000Z`); ms numbers are accepted too.
fn parse_upload_time(value: &Value) -> Option<i64> {
    match value {
        Value::String(text) => chrono::DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.timestamp_millis()),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// Validates one wire event and turns it into an [`Event`], or lists every problem found.
pub fn normalize_event(raw: &Value, ctx: &IngestContext<'_>) -> Result<Event, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let Value::Object(obj) = raw else {
        return Err(vec![FieldProblem {
            kind: ProblemKind::Invalid,
            field: "event",
        }]);
    };
    let mut fields = Fields {
        obj,
        problems: &mut problems,
    };

    let event_type = fields.string("event_type");
    if event_type.as_deref().is_none_or(str::is_empty) {
        fields.problem(ProblemKind::Missing, "event_type");
    }
    let mut too_short = None;
    let user_id = fields.id("user_id", ctx.min_id_length, &mut too_short);
    let device_id = fields.id("device_id", ctx.min_id_length, &mut too_short);
    let client_event_time = fields.time().unwrap_or(ctx.received_ms);
    let session_id = fields.integer("session_id").filter(|&s| s >= 0);
    let insert_id = fields.string("insert_id");
    let event_id = fields.integer("event_id");
    let context = fields.context(ctx.remote_ip);
    let mut event_properties = fields.properties("event_properties");
    let revenue = fields.revenue(&mut event_properties);
    let user_properties = fields.properties("user_properties");
    let groups = fields.properties("groups");
    let group_properties = fields.properties("group_properties");
    let plan = fields.properties("plan");
    let ingestion_metadata = fields.properties("ingestion_metadata");
    let skip_user_properties_sync = obj
        .get("$skip_user_properties_sync")
        .and_then(Value::as_bool)
        .unwrap_or(false);

    let device_id = match (device_id, &user_id) {
        (Some(device), _) => Some(device),
        (None, Some(user)) => Some(device_id_for_user(user)),
        (None, None) => {
            let already_reported = problems.iter().any(|p| p.field.ends_with("_id"));
            let problem = match too_short {
                Some(field) => FieldProblem {
                    kind: ProblemKind::InvalidIdLength,
                    field,
                },
                None => FieldProblem {
                    kind: ProblemKind::Missing,
                    field: "device_id",
                },
            };
            if !already_reported {
                problems.push(problem);
            }
            None
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    let (Some(event_type), Some(device_id)) = (event_type, device_id) else {
        unreachable!("missing event_type or ids are reported as problems above");
    };
    Ok(Event {
        project: ctx.project.to_owned(),
        event_time: skew_corrected(client_event_time, ctx),
        client_event_time,
        client_upload_time: ctx.client_upload_time,
        server_received_time: ctx.received_ms,
        event_type,
        user_id,
        device_id,
        session_id,
        insert_id,
        event_id,
        context,
        revenue,
        event_properties,
        user_properties,
        groups,
        group_properties,
        plan,
        ingestion_metadata,
        skip_user_properties_sync,
        taxonomy_issues: Vec::new(),
        quarantined: false,
    })
}

/// `event_time = client_event_time + (server_received − client_upload)` when the skew is ≥ 60 s.
fn skew_corrected(client_event_time: i64, ctx: &IngestContext<'_>) -> i64 {
    match ctx.client_upload_time {
        Some(upload) if (ctx.received_ms - upload).abs() >= SKEW_THRESHOLD_MS => {
            client_event_time + (ctx.received_ms - upload)
        }
        _ => client_event_time,
    }
}

/// The device id given to events sent with a `user_id` only: stable, derived from the user id.
pub fn device_id_for_user(user_id: &str) -> String {
    // FNV-1a: stable across releases and platforms, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in user_id.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("uid-{hash:016x}")
}

/// Typed access to an event object's fields, recording problems as it goes.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    problems: &'a mut Vec<FieldProblem>,
}

impl Fields<'_> {
    fn problem(&mut self, kind: ProblemKind, field: &'static str) {
        self.problems.push(FieldProblem { kind, field });
    }

    fn string(&mut self, field: &'static str) -> Option<String> {
        match self.obj.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(truncate(s)),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            Some(_) => {
                self.problem(ProblemKind::Invalid, field);
                None
            }
        }
    }

    fn integer(&mut self, field: &'static str) -> Option<i64> {
        match self.obj.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match integral(n) {
                Some(i) => Some(i),
                None => {
                    self.problem(ProblemKind::Invalid, field);
                    None
                }
            },
            Some(_) => {
                self.problem(ProblemKind::Invalid, field);
                None
            }
        }
    }

    fn float(&mut self, field: &'static str) -> Option<f64> {
        match self.obj.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(_) => {
                self.problem(ProblemKind::Invalid, field);
                None
            }
        }
    }

    /// `time` must be integer milliseconds; any other format is a 400 in Amplitude.
    fn time(&mut self) -> Option<i64> {
        let time = self.integer("time")?;
        if time < 0 {
            self.problem(ProblemKind::Invalid, "time");
            return None;
        }
        Some(time)
    }

    /// Reads an id. A forbidden id is an invalid field (Amplitude answers 400); a too-short id is
    /// dropped from the event, which is rejected only if it is then left with no id at all.
    fn id(
        &mut self,
        field: &'static str,
        min_len: usize,
        too_short: &mut Option<&'static str>,
    ) -> Option<String> {
        let id = self.string(field)?;
        if FORBIDDEN_IDS.iter().any(|f| id.eq_ignore_ascii_case(f)) {
            self.problem(ProblemKind::Invalid, field);
            return None;
        }
        if id.chars().count() < min_len {
            *too_short = Some(field);
            return None;
        }
        Some(id)
    }

    fn properties(&mut self, field: &'static str) -> Properties {
        match self.obj.get(field) {
            None | Some(Value::Null) => Properties::new(),
            Some(Value::Object(map)) if object_depth(map) <= MAX_PROPERTY_DEPTH => map
                .iter()
                .map(|(k, v)| (truncate(k), truncate_strings(v)))
                .collect(),
            Some(_) => {
                self.problem(ProblemKind::Invalid, field);
                Properties::new()
            }
        }
    }

    fn context(&mut self, remote_ip: Option<&str>) -> Context {
        let app_version = self.string("app_version");
        let version_name = self.string("version_name");
        let ip = self.string("ip");
        Context {
            app_version: app_version.or(version_name),
            platform: self.string("platform"),
            os_name: self.string("os_name"),
            os_version: self.string("os_version"),
            device_brand: self.string("device_brand"),
            device_manufacturer: self.string("device_manufacturer"),
            device_model: self.string("device_model"),
            carrier: self.string("carrier"),
            country: self.string("country"),
            region: self.string("region"),
            city: self.string("city"),
            dma: self.string("dma"),
            language: self.string("language"),
            location_lat: self.float("location_lat"),
            location_lng: self.float("location_lng"),
            ip: match ip.as_deref() {
                Some("$remote") => remote_ip.map(str::to_owned),
                _ => ip,
            },
            idfa: self.string("idfa"),
            idfv: self.string("idfv"),
            adid: self.string("adid"),
            android_id: self.string("android_id"),
            android_app_set_id: self.string("android_app_set_id"),
            library: self.string("library"),
            user_agent: self.string("user_agent"),
            partner_id: self.string("partner_id"),
        }
    }

    /// Top-level revenue fields win; the SDKs' `$price`, `$quantity`, … event properties fill the gaps
    /// and are moved out of the properties.
    fn revenue(&mut self, props: &mut Properties) -> Revenue {
        let mut take = |key: &str| props.remove(key);
        let sdk_price = take("$price").and_then(|v| v.as_f64());
        let sdk_quantity = take("$quantity").and_then(|v| v.as_i64());
        let sdk_revenue = take("$revenue").and_then(|v| v.as_f64());
        let sdk_product = take("$productId").and_then(|v| v.as_str().map(str::to_owned));
        let sdk_type = take("$revenueType").and_then(|v| v.as_str().map(str::to_owned));
        let sdk_currency = take("$currency").and_then(|v| v.as_str().map(str::to_owned));

        let price = self.float("price").or(sdk_price);
        let quantity = self.integer("quantity").or(sdk_quantity);
        let revenue = self.float("revenue").or(sdk_revenue);
        let quantity = quantity.or(price.map(|_| 1));
        let revenue = match (price, quantity) {
            (Some(p), Some(q)) => Some(p * q as f64),
            _ => revenue,
        };
        Revenue {
            price,
            quantity,
            revenue,
            product_id: self.string("productId").or(sdk_product),
            revenue_type: self.string("revenueType").or(sdk_type),
            currency: self.string("currency").or(sdk_currency),
        }
    }
}

fn integral(n: &serde_json::Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    })
}

fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_STRING_CHARS) {
        Some((cut, _)) => s[..cut].to_owned(),
        None => s.to_owned(),
    }
}

fn truncate_strings(value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(truncate(s)),
        Value::Array(items) => Value::Array(items.iter().map(truncate_strings).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (truncate(k), truncate_strings(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn object_depth(map: &Map<String, Value>) -> usize {
    1 + map.values().map(depth).max().unwrap_or(0)
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => object_depth(map),
        _ => 0,
    }
}

#[cfg(test)]
mod tests;
