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
    // One UTF-8 check of the whole body is cheaper than serde_json's check of every string; JSON
    // outside strings is ASCII, so the same bodies are refused either way.
    let text = std::str::from_utf8(body).map_err(|_| RequestError::InvalidJson)?;
    let value: Value = serde_json::from_str(text).map_err(|_| RequestError::InvalidJson)?;
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
///
/// Takes the event by value: strings and property maps are moved into the [`Event`], not copied.
pub fn normalize_event(raw: Value, ctx: &IngestContext<'_>) -> Result<Event, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let Value::Object(obj) = raw else {
        return Err(vec![FieldProblem {
            kind: ProblemKind::Invalid,
            field: "event",
        }]);
    };
    let mut fields = Fields {
        slots: Slots::from_object(obj),
        problems: &mut problems,
    };

    let event_type = fields.string(Field::EventType);
    if event_type.as_deref().is_none_or(str::is_empty) {
        fields.problem(ProblemKind::Missing, "event_type");
    }
    let mut too_short = None;
    let user_id = fields.id(Field::UserId, ctx.min_id_length, &mut too_short);
    let device_id = fields.id(Field::DeviceId, ctx.min_id_length, &mut too_short);
    let client_event_time = fields.time().unwrap_or(ctx.received_ms);
    let session_id = fields.integer(Field::SessionId).filter(|&s| s >= 0);
    let insert_id = fields.string(Field::InsertId);
    let event_id = fields.integer(Field::EventId);
    let context = fields.context(ctx.remote_ip);
    let mut event_properties = fields.properties(Field::EventProperties);
    let revenue = fields.revenue(&mut event_properties);
    let user_properties = fields.properties(Field::UserProperties);
    let groups = fields.properties(Field::Groups);
    let group_properties = fields.properties(Field::GroupProperties);
    let plan = fields.properties(Field::Plan);
    let ingestion_metadata = fields.properties(Field::IngestionMetadata);
    let skip_user_properties_sync = fields
        .take(Field::SkipUserPropertiesSync)
        .and_then(|v| v.as_bool())
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
        person_id: None,
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

/// Declares [`Field`], the top-level fields of a wire event that [`normalize_event`] reads (all
/// others are ignored), with the wire name of each.
macro_rules! wire_fields {
    ($($variant:ident = $name:literal,)*) => {
        #[derive(Debug, Clone, Copy)]
        enum Field {
            $($variant,)*
        }

        impl Field {
            const COUNT: usize = [$($name),*].len();

            fn name(self) -> &'static str {
                match self {
                    $(Field::$variant => $name,)*
                }
            }

            fn from_name(name: &str) -> Option<Field> {
                match name {
                    $($name => Some(Field::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

wire_fields! {
    EventType = "event_type",
    UserId = "user_id",
    DeviceId = "device_id",
    Time = "time",
    SessionId = "session_id",
    InsertId = "insert_id",
    EventId = "event_id",
    AppVersion = "app_version",
    VersionName = "version_name",
    Platform = "platform",
    OsName = "os_name",
    OsVersion = "os_version",
    DeviceBrand = "device_brand",
    DeviceManufacturer = "device_manufacturer",
    DeviceModel = "device_model",
    Carrier = "carrier",
    Country = "country",
    Region = "region",
    City = "city",
    Dma = "dma",
    Language = "language",
    LocationLat = "location_lat",
    LocationLng = "location_lng",
    Ip = "ip",
    Idfa = "idfa",
    Idfv = "idfv",
    Adid = "adid",
    AndroidId = "android_id",
    AndroidAppSetId = "android_app_set_id",
    Library = "library",
    UserAgent = "user_agent",
    PartnerId = "partner_id",
    Price = "price",
    Quantity = "quantity",
    Revenue = "revenue",
    ProductId = "productId",
    RevenueType = "revenueType",
    Currency = "currency",
    EventProperties = "event_properties",
    UserProperties = "user_properties",
    Groups = "groups",
    GroupProperties = "group_properties",
    Plan = "plan",
    IngestionMetadata = "ingestion_metadata",
    SkipUserPropertiesSync = "$skip_user_properties_sync",
}

/// The values of an event's known [`Field`]s, moved out of its JSON object in one pass over its
/// keys (cheaper than a map lookup per field, and it frees the map's nodes as it goes).
struct Slots([Option<Value>; Field::COUNT]);

impl Slots {
    fn from_object(obj: Map<String, Value>) -> Self {
        let mut slots = Slots(std::array::from_fn(|_| None));
        for (key, value) in obj {
            if let Some(field) = Field::from_name(&key) {
                slots.0[field as usize] = Some(value);
            }
        }
        slots
    }

    /// Moves a field's value out; each field is read once.
    fn take(&mut self, field: Field) -> Option<Value> {
        self.0[field as usize].take()
    }
}

/// Typed access to an event object's fields, recording problems as it goes.
struct Fields<'a> {
    slots: Slots,
    problems: &'a mut Vec<FieldProblem>,
}

impl Fields<'_> {
    fn take(&mut self, field: Field) -> Option<Value> {
        self.slots.take(field)
    }

    fn problem(&mut self, kind: ProblemKind, field: &'static str) {
        self.problems.push(FieldProblem { kind, field });
    }

    fn string(&mut self, field: Field) -> Option<String> {
        match self.take(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(truncate(s)),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            Some(_) => {
                self.problem(ProblemKind::Invalid, field.name());
                None
            }
        }
    }

    fn integer(&mut self, field: Field) -> Option<i64> {
        match self.take(field) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match integral(&n) {
                Some(i) => Some(i),
                None => {
                    self.problem(ProblemKind::Invalid, field.name());
                    None
                }
            },
            Some(_) => {
                self.problem(ProblemKind::Invalid, field.name());
                None
            }
        }
    }

    fn float(&mut self, field: Field) -> Option<f64> {
        match self.take(field) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(_) => {
                self.problem(ProblemKind::Invalid, field.name());
                None
            }
        }
    }

    /// `time` must be integer milliseconds; any other format is a 400 in Amplitude.
    fn time(&mut self) -> Option<i64> {
        let time = self.integer(Field::Time)?;
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
        field: Field,
        min_len: usize,
        too_short: &mut Option<&'static str>,
    ) -> Option<String> {
        let id = self.string(field)?;
        if FORBIDDEN_IDS.iter().any(|f| id.eq_ignore_ascii_case(f)) {
            self.problem(ProblemKind::Invalid, field.name());
            return None;
        }
        if id.chars().count() < min_len {
            *too_short = Some(field.name());
            return None;
        }
        Some(id)
    }

    fn properties(&mut self, field: Field) -> Properties {
        match self.take(field) {
            None | Some(Value::Null) => Properties::new(),
            Some(Value::Object(mut map)) if object_depth(&map) <= MAX_PROPERTY_DEPTH => {
                truncate_map(&mut map);
                map
            }
            Some(_) => {
                self.problem(ProblemKind::Invalid, field.name());
                Properties::new()
            }
        }
    }

    fn context(&mut self, remote_ip: Option<&str>) -> Context {
        let app_version = self.string(Field::AppVersion);
        let version_name = self.string(Field::VersionName);
        let ip = self.string(Field::Ip);
        Context {
            app_version: app_version.or(version_name),
            platform: self.string(Field::Platform),
            os_name: self.string(Field::OsName),
            os_version: self.string(Field::OsVersion),
            device_brand: self.string(Field::DeviceBrand),
            device_manufacturer: self.string(Field::DeviceManufacturer),
            device_model: self.string(Field::DeviceModel),
            carrier: self.string(Field::Carrier),
            country: self.string(Field::Country),
            region: self.string(Field::Region),
            city: self.string(Field::City),
            dma: self.string(Field::Dma),
            language: self.string(Field::Language),
            location_lat: self.float(Field::LocationLat),
            location_lng: self.float(Field::LocationLng),
            ip: match ip.as_deref() {
                Some("$remote") => remote_ip.map(str::to_owned),
                _ => ip,
            },
            idfa: self.string(Field::Idfa),
            idfv: self.string(Field::Idfv),
            adid: self.string(Field::Adid),
            android_id: self.string(Field::AndroidId),
            android_app_set_id: self.string(Field::AndroidAppSetId),
            library: self.string(Field::Library),
            user_agent: self.string(Field::UserAgent),
            partner_id: self.string(Field::PartnerId),
        }
    }

    /// Top-level revenue fields win; the SDKs' `$price`, `$quantity`, … event properties fill the gaps
    /// and are moved out of the properties.
    fn revenue(&mut self, props: &mut Properties) -> Revenue {
        let mut take = |key: &str| props.remove(key);
        let sdk_price = take("$price").and_then(|v| v.as_f64());
        let sdk_quantity = take("$quantity").and_then(|v| v.as_i64());
        let sdk_revenue = take("$revenue").and_then(|v| v.as_f64());
        let sdk_product = take("$productId").and_then(into_string);
        let sdk_type = take("$revenueType").and_then(into_string);
        let sdk_currency = take("$currency").and_then(into_string);

        let price = self.float(Field::Price).or(sdk_price);
        let quantity = self.integer(Field::Quantity).or(sdk_quantity);
        let revenue = self.float(Field::Revenue).or(sdk_revenue);
        let quantity = quantity.or(price.map(|_| 1));
        let revenue = match (price, quantity) {
            (Some(p), Some(q)) => Some(p * q as f64),
            _ => revenue,
        };
        Revenue {
            price,
            quantity,
            revenue,
            product_id: self.string(Field::ProductId).or(sdk_product),
            revenue_type: self.string(Field::RevenueType).or(sdk_type),
            currency: self.string(Field::Currency).or(sdk_currency),
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

fn into_string(value: Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// Cuts a string to [`MAX_STRING_CHARS`] characters.
fn truncate(mut s: String) -> String {
    truncate_in_place(&mut s);
    s
}

fn truncate_in_place(s: &mut String) {
    // A string of at most MAX_STRING_CHARS bytes has at most that many characters: no walk needed.
    if s.len() <= MAX_STRING_CHARS {
        return;
    }
    if let Some((cut, _)) = s.char_indices().nth(MAX_STRING_CHARS) {
        s.truncate(cut);
    }
}

fn truncate_strings(value: &mut Value) {
    match value {
        Value::String(s) => truncate_in_place(s),
        Value::Array(items) => items.iter_mut().for_each(truncate_strings),
        Value::Object(map) => truncate_map(map),
        _ => {}
    }
}

/// Truncates a map's keys and string values. The map is rebuilt only if a key is too long (cut
/// keys may then collide: as before, the value of the last one in key order wins).
fn truncate_map(map: &mut Map<String, Value>) {
    if map.keys().any(|k| k.len() > MAX_STRING_CHARS) {
        *map = std::mem::take(map)
            .into_iter()
            .map(|(k, mut v)| {
                truncate_strings(&mut v);
                (truncate(k), v)
            })
            .collect();
    } else {
        map.values_mut().for_each(truncate_strings);
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
