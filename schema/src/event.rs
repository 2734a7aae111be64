//! The canonical event: what Sluice stores for every accepted event, whatever SDK or API sent it.
//!
//! An [`Event`] is produced by normalising an Amplitude wire event (see `amplitude.rs`); it is the
//! record written to the event log and, column for column, a row of the Arrow schema in `layout.rs`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A JSON object of properties (event, user or group properties).
pub type Properties = Map<String, Value>;

/// One accepted event, normalised and stamped with server-side fields.
///
/// Times are milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Event {
    /// The project the event belongs to (from the API key).
    pub project: String,
    /// Event time after clock-skew correction: what analyses use.
    pub event_time: i64,
    /// The time the client stamped on the event (`time` on the wire).
    pub client_event_time: i64,
    /// The request's `client_upload_time`, when the SDK sent one.
    pub client_upload_time: Option<i64>,
    /// When the collector received the request.
    pub server_received_time: i64,
    /// The event name (`event_type` on the wire).
    pub event_type: String,
    /// The customer's id for the user, absent for anonymous events.
    pub user_id: Option<String>,
    /// The device id; derived from `user_id` when the client sent none.
    pub device_id: String,
    /// Session start in ms; `None` when the client sent none or `-1`.
    pub session_id: Option<i64>,
    /// Client-generated dedup key.
    pub insert_id: Option<String>,
    /// Client counter that orders events with the same time.
    pub event_id: Option<i64>,
    /// Device and context fields, as Amplitude names them.
    pub context: Context,
    /// Revenue fields.
    pub revenue: Revenue,
    /// Event properties.
    pub event_properties: Properties,
    /// User properties as they were when the event arrived.
    pub user_properties: Properties,
    /// Group memberships (`{group_type: value | [values]}`).
    pub groups: Properties,
    /// Group properties (only on `$groupidentify`).
    pub group_properties: Properties,
    /// Tracking-plan metadata sent by Ampli-generated code (`plan` on the wire).
    pub plan: Properties,
    /// `ingestion_metadata` sent by Ampli and partner integrations.
    pub ingestion_metadata: Properties,
    /// `$skip_user_properties_sync`: the event's `user_properties` do not update the user.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skip_user_properties_sync: bool,
    /// Where the event does not match the tracking plan (flagged or rejected problems).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub taxonomy_issues: Vec<String>,
    /// A problem's policy is `reject`: the event belongs in the quarantine dataset.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub quarantined: bool,
}

/// Device, app and location context of an event. Every field is optional.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Context {
    /// App version (`app_version`, or the mobile SDKs' `version_name`).
    pub app_version: Option<String>,
    /// `Web`, `iOS`, `Android`, …
    pub platform: Option<String>,
    /// Mobile OS or browser name.
    pub os_name: Option<String>,
    /// Mobile OS or browser version.
    pub os_version: Option<String>,
    /// Device brand.
    pub device_brand: Option<String>,
    /// Device manufacturer.
    pub device_manufacturer: Option<String>,
    /// Device model.
    pub device_model: Option<String>,
    /// Mobile carrier.
    pub carrier: Option<String>,
    /// Country name.
    pub country: Option<String>,
    /// Region or state.
    pub region: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Designated market area.
    pub dma: Option<String>,
    /// Language name (tags such as `en-US` are kept as sent for now).
    pub language: Option<String>,
    /// Latitude.
    pub location_lat: Option<f64>,
    /// Longitude.
    pub location_lng: Option<f64>,
    /// Client IP (`$remote` is replaced by the request's address).
    pub ip: Option<String>,
    /// iOS advertising id.
    pub idfa: Option<String>,
    /// iOS vendor id.
    pub idfv: Option<String>,
    /// Android advertising id.
    pub adid: Option<String>,
    /// Android id.
    pub android_id: Option<String>,
    /// Android app set id.
    pub android_app_set_id: Option<String>,
    /// SDK name and version, e.g. `amplitude-ts/2.45.6`.
    pub library: Option<String>,
    /// Raw user agent.
    pub user_agent: Option<String>,
    /// Partner id.
    pub partner_id: Option<String>,
}

/// Revenue fields of an event.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Revenue {
    /// Unit price; negative for refunds.
    pub price: Option<f64>,
    /// Quantity (1 when only a price is given).
    pub quantity: Option<i64>,
    /// Revenue; `price × quantity` when both are given.
    pub revenue: Option<f64>,
    /// Product id (`productId` on the wire).
    pub product_id: Option<String>,
    /// Revenue type (`revenueType` on the wire).
    pub revenue_type: Option<String>,
    /// ISO-4217 currency code.
    pub currency: Option<String>,
}

impl Event {
    /// The key that keeps one device's events in order (the Kafka partition key).
    pub fn ordering_key(&self) -> &str {
        &self.device_id
    }
}
