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
///
/// Its JSON is the event-log record. Fields without a value (`None`, empty maps and lists, `false`)
/// are left out of it, which spares the collector serialising them; `#[serde(default)]` fills them
/// back in when a record is read, so records written with explicit `null`s decode the same.
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_upload_time: Option<i64>,
    /// When the collector received the request.
    pub server_received_time: i64,
    /// The event name (`event_type` on the wire).
    pub event_type: String,
    /// The customer's id for the user, absent for anonymous events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The device id; derived from `user_id` when the client sent none.
    pub device_id: String,
    /// Session start in ms; `None` when the client sent none or `-1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<i64>,
    /// Client-generated dedup key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub insert_id: Option<String>,
    /// Client counter that orders events with the same time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<i64>,
    /// The person the event belongs to, a dense integer the loader assigns (identity
    /// resolution); `None` on the wire and in the event log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person_id: Option<i64>,
    /// Device and context fields, as Amplitude names them.
    pub context: Context,
    /// Revenue fields.
    pub revenue: Revenue,
    /// Event properties.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub event_properties: Properties,
    /// User properties as they were when the event arrived.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub user_properties: Properties,
    /// Group memberships (`{group_type: value | [values]}`).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub groups: Properties,
    /// Group properties (only on `$groupidentify`).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub group_properties: Properties,
    /// Tracking-plan metadata sent by Ampli-generated code (`plan` on the wire).
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub plan: Properties,
    /// `ingestion_metadata` sent by Ampli and partner integrations.
    #[serde(skip_serializing_if = "Map::is_empty")]
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// `Web`, `iOS`, `Android`, …
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// Mobile OS or browser name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_name: Option<String>,
    /// Mobile OS or browser version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// Device brand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_brand: Option<String>,
    /// Device manufacturer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_manufacturer: Option<String>,
    /// Device model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_model: Option<String>,
    /// Mobile carrier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    /// Country name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Region or state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// City.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Designated market area.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dma: Option<String>,
    /// Language name (tags such as `en-US` are kept as sent for now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Latitude.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_lat: Option<f64>,
    /// Longitude.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location_lng: Option<f64>,
    /// Client IP (`$remote` is replaced by the request's address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// iOS advertising id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idfa: Option<String>,
    /// iOS vendor id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idfv: Option<String>,
    /// Android advertising id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adid: Option<String>,
    /// Android id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub android_id: Option<String>,
    /// Android app set id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub android_app_set_id: Option<String>,
    /// SDK name and version, e.g. `amplitude-ts/2.45.6`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub library: Option<String>,
    /// Raw user agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Partner id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
}

/// Revenue fields of an event.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Revenue {
    /// Unit price; negative for refunds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
    /// Quantity (1 when only a price is given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
    /// Revenue; `price × quantity` when both are given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revenue: Option<f64>,
    /// Product id (`productId` on the wire).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    /// Revenue type (`revenueType` on the wire).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revenue_type: Option<String>,
    /// ISO-4217 currency code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

impl Event {
    /// The key that keeps one device's events in order (the Kafka partition key).
    pub fn ordering_key(&self) -> &str {
        &self.device_id
    }

    /// Whether the event changes user or group properties: user-property operations that are not
    /// `$skip_user_properties_sync`, an `$identify` setting group memberships, or a
    /// `$groupidentify` with group-property operations (what the loader applies to its state).
    pub fn updates_properties(&self) -> bool {
        (!self.user_properties.is_empty() && !self.skip_user_properties_sync)
            || (self.event_type == "$identify" && !self.groups.is_empty())
            || (self.event_type == "$groupidentify" && !self.group_properties.is_empty())
    }
}

pub(crate) mod property_list;
pub(crate) mod row;

#[cfg(test)]
mod tests;
