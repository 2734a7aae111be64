//! [`EventRow`]: an [`Event`] whose text is borrowed from wherever it lives.
//!
//! The loader turns hundreds of thousands of event-log records into columns per batch. Decoding
//! each record into an owned [`Event`] would copy every string out of the record, only to copy
//! it again into an Arrow column and free it: most of the loader's work. An `EventRow` decoded
//! from a record's JSON borrows its strings from the record instead (a string is copied only if
//! it holds JSON escapes), and one made from an `Event` borrows the event's. Both are written by
//! the same code (`StorageLayout::rows_to_record_batch`).
//!
//! Its JSON form is the `Event`'s: the fields, names and defaults are the same, field for field
//! (`event/tests.rs` checks that a fully populated event survives the round trip).

use std::borrow::Cow;
use std::ops::Deref;
use std::sync::Arc;

use serde::de::Visitor;
use serde::{Deserialize, Deserializer};

use super::property_list::EventProperties;
use super::{Context, Event, Properties, Revenue};

/// One event, borrowing its text (see the module docs). Field meanings: [`Event`].
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct EventRow<'a> {
    #[serde(borrow)]
    pub project: Text<'a>,
    pub event_time: i64,
    pub client_event_time: i64,
    pub client_upload_time: Option<i64>,
    pub server_received_time: i64,
    #[serde(borrow)]
    pub event_type: Text<'a>,
    #[serde(borrow)]
    pub user_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub device_id: Text<'a>,
    pub session_id: Option<i64>,
    #[serde(borrow)]
    pub insert_id: Option<Text<'a>>,
    pub event_id: Option<i64>,
    pub person_id: Option<i64>,
    #[serde(borrow)]
    pub context: ContextRow<'a>,
    #[serde(borrow)]
    pub revenue: RevenueRow<'a>,
    #[serde(borrow)]
    pub event_properties: EventProperties<'a>,
    pub user_properties: PropertiesRef<'a>,
    pub groups: PropertiesRef<'a>,
    pub group_properties: PropertiesRef<'a>,
    pub plan: PropertiesRef<'a>,
    pub ingestion_metadata: PropertiesRef<'a>,
    pub skip_user_properties_sync: bool,
    #[serde(borrow)]
    pub taxonomy_issues: Vec<Text<'a>>,
    pub quarantined: bool,
}

/// [`Context`], borrowing its text.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct ContextRow<'a> {
    #[serde(borrow)]
    pub app_version: Option<Text<'a>>,
    #[serde(borrow)]
    pub platform: Option<Text<'a>>,
    #[serde(borrow)]
    pub os_name: Option<Text<'a>>,
    #[serde(borrow)]
    pub os_version: Option<Text<'a>>,
    #[serde(borrow)]
    pub device_brand: Option<Text<'a>>,
    #[serde(borrow)]
    pub device_manufacturer: Option<Text<'a>>,
    #[serde(borrow)]
    pub device_model: Option<Text<'a>>,
    #[serde(borrow)]
    pub carrier: Option<Text<'a>>,
    #[serde(borrow)]
    pub country: Option<Text<'a>>,
    #[serde(borrow)]
    pub region: Option<Text<'a>>,
    #[serde(borrow)]
    pub city: Option<Text<'a>>,
    #[serde(borrow)]
    pub dma: Option<Text<'a>>,
    #[serde(borrow)]
    pub language: Option<Text<'a>>,
    pub location_lat: Option<f64>,
    pub location_lng: Option<f64>,
    #[serde(borrow)]
    pub ip: Option<Text<'a>>,
    #[serde(borrow)]
    pub idfa: Option<Text<'a>>,
    #[serde(borrow)]
    pub idfv: Option<Text<'a>>,
    #[serde(borrow)]
    pub adid: Option<Text<'a>>,
    #[serde(borrow)]
    pub android_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub android_app_set_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub library: Option<Text<'a>>,
    #[serde(borrow)]
    pub user_agent: Option<Text<'a>>,
    #[serde(borrow)]
    pub partner_id: Option<Text<'a>>,
}

/// [`Revenue`], borrowing its text.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
#[allow(missing_docs)]
pub struct RevenueRow<'a> {
    pub price: Option<f64>,
    pub quantity: Option<i64>,
    pub revenue: Option<f64>,
    #[serde(borrow)]
    pub product_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub revenue_type: Option<Text<'a>>,
    #[serde(borrow)]
    pub currency: Option<Text<'a>>,
}

/// Text of a row: borrowed from the JSON it was decoded from unless it held escapes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'a> From<&'a str> for Text<'a> {
    fn from(text: &'a str) -> Self {
        Text(Cow::Borrowed(text))
    }
}

impl Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl serde::Serialize for Text<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;

        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }

        deserializer.deserialize_str(TextVisitor)
    }
}

/// A properties map of a row: decoded with the row, borrowed from an [`Event`], or shared with
/// the state it was stamped from (the loader stamps every event with its user's properties; a
/// shared map spares a copy per event).
#[derive(Debug, Clone)]
pub enum PropertiesRef<'a> {
    /// Owned by the row.
    Owned(Properties),
    /// Borrowed from an event.
    Borrowed(&'a Properties),
    /// Shared with others.
    Shared(Arc<Properties>),
}

impl PropertiesRef<'_> {
    /// The map itself, copied only if it is not owned.
    pub fn into_owned(self) -> Properties {
        match self {
            PropertiesRef::Owned(map) => map,
            PropertiesRef::Borrowed(map) => map.clone(),
            PropertiesRef::Shared(map) => Arc::unwrap_or_clone(map),
        }
    }
}

/// Rows are equal when their maps are, however they hold them.
impl PartialEq for PropertiesRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Default for PropertiesRef<'_> {
    fn default() -> Self {
        PropertiesRef::Owned(Properties::new())
    }
}

impl Deref for PropertiesRef<'_> {
    type Target = Properties;

    fn deref(&self) -> &Properties {
        match self {
            PropertiesRef::Owned(map) => map,
            PropertiesRef::Borrowed(map) => map,
            PropertiesRef::Shared(map) => map,
        }
    }
}

impl<'de> Deserialize<'de> for PropertiesRef<'_> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // `null` reads as an empty map, as it does for an `Event`.
        Option::<Properties>::deserialize(deserializer)
            .map(|map| PropertiesRef::Owned(map.unwrap_or_default()))
    }
}

fn text(value: &Option<String>) -> Option<Text<'_>> {
    value.as_deref().map(Text::from)
}

impl<'a> From<&'a Event> for EventRow<'a> {
    fn from(e: &'a Event) -> Self {
        EventRow {
            project: Text::from(e.project.as_str()),
            event_time: e.event_time,
            client_event_time: e.client_event_time,
            client_upload_time: e.client_upload_time,
            server_received_time: e.server_received_time,
            event_type: Text::from(e.event_type.as_str()),
            user_id: text(&e.user_id),
            device_id: Text::from(e.device_id.as_str()),
            session_id: e.session_id,
            insert_id: text(&e.insert_id),
            event_id: e.event_id,
            person_id: e.person_id,
            context: ContextRow::from(&e.context),
            revenue: RevenueRow::from(&e.revenue),
            event_properties: EventProperties::Map(&e.event_properties),
            user_properties: PropertiesRef::Borrowed(&e.user_properties),
            groups: PropertiesRef::Borrowed(&e.groups),
            group_properties: PropertiesRef::Borrowed(&e.group_properties),
            plan: PropertiesRef::Borrowed(&e.plan),
            ingestion_metadata: PropertiesRef::Borrowed(&e.ingestion_metadata),
            skip_user_properties_sync: e.skip_user_properties_sync,
            taxonomy_issues: e
                .taxonomy_issues
                .iter()
                .map(|s| Text::from(s.as_str()))
                .collect(),
            quarantined: e.quarantined,
        }
    }
}

impl<'a> From<&'a Context> for ContextRow<'a> {
    fn from(c: &'a Context) -> Self {
        ContextRow {
            app_version: text(&c.app_version),
            platform: text(&c.platform),
            os_name: text(&c.os_name),
            os_version: text(&c.os_version),
            device_brand: text(&c.device_brand),
            device_manufacturer: text(&c.device_manufacturer),
            device_model: text(&c.device_model),
            carrier: text(&c.carrier),
            country: text(&c.country),
            region: text(&c.region),
            city: text(&c.city),
            dma: text(&c.dma),
            language: text(&c.language),
            location_lat: c.location_lat,
            location_lng: c.location_lng,
            ip: text(&c.ip),
            idfa: text(&c.idfa),
            idfv: text(&c.idfv),
            adid: text(&c.adid),
            android_id: text(&c.android_id),
            android_app_set_id: text(&c.android_app_set_id),
            library: text(&c.library),
            user_agent: text(&c.user_agent),
            partner_id: text(&c.partner_id),
        }
    }
}

impl<'a> From<&'a Revenue> for RevenueRow<'a> {
    fn from(r: &'a Revenue) -> Self {
        RevenueRow {
            price: r.price,
            quantity: r.quantity,
            revenue: r.revenue,
            product_id: text(&r.product_id),
            revenue_type: text(&r.revenue_type),
            currency: text(&r.currency),
        }
    }
}
