//! Event properties as the loader reads them: a list of names and values borrowed from the
//! record's JSON, instead of a map of `serde_json::Value`s (every name and string copied into its
//! own allocation, then sorted into a tree, only to be written into a column and freed).
//!
//! [`PropertyRef`] is the one view of a property value that both forms give, so a column is
//! filled the same way from a decoded list and from an [`Event`](super::Event)'s map.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};
use serde_json::{Number, Value};

use super::Properties;
use super::row::Text;

/// One property value of a decoded list.
#[derive(Debug, Clone, PartialEq)]
pub enum PropertyValue<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, exactly as `serde_json::Value` holds it.
    Number(Number),
    /// A string, borrowed from the record unless it held escapes.
    String(Text<'a>),
    /// An array or an object.
    Json(Value),
}

/// A property value, whichever form it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PropertyRef<'v> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number.
    Number(&'v Number),
    /// A string.
    String(&'v str),
    /// An array or an object.
    Json(&'v Value),
}

impl<'v> PropertyRef<'v> {
    /// The view of a JSON value.
    pub fn of_value(value: &'v Value) -> Self {
        match value {
            Value::Null => PropertyRef::Null,
            Value::Bool(b) => PropertyRef::Bool(*b),
            Value::Number(n) => PropertyRef::Number(n),
            Value::String(s) => PropertyRef::String(s),
            other => PropertyRef::Json(other),
        }
    }

    fn of_list_value(value: &'v PropertyValue<'_>) -> Self {
        match value {
            PropertyValue::Null => PropertyRef::Null,
            PropertyValue::Bool(b) => PropertyRef::Bool(*b),
            PropertyValue::Number(n) => PropertyRef::Number(n),
            PropertyValue::String(s) => PropertyRef::String(s),
            PropertyValue::Json(v) => PropertyRef::Json(v),
        }
    }

    /// The string, if it is one.
    pub fn as_str(self) -> Option<&'v str> {
        match self {
            PropertyRef::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number as a float, if it is one.
    pub fn as_f64(self) -> Option<f64> {
        match self {
            PropertyRef::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    /// The number as an `i64`, if it is one that fits.
    pub fn as_i64(self) -> Option<i64> {
        match self {
            PropertyRef::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    /// The boolean, if it is one.
    pub fn as_bool(self) -> Option<bool> {
        match self {
            PropertyRef::Bool(b) => Some(b),
            _ => None,
        }
    }
}

/// Written as the JSON value it views.
impl Serialize for PropertyRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            PropertyRef::Null => serializer.serialize_unit(),
            PropertyRef::Bool(b) => serializer.serialize_bool(*b),
            PropertyRef::Number(n) => n.serialize(serializer),
            PropertyRef::String(s) => serializer.serialize_str(s),
            PropertyRef::Json(v) => v.serialize(serializer),
        }
    }
}

/// A properties map as names and value views.
pub(crate) fn map_entries(map: &Properties) -> impl Iterator<Item = (&str, PropertyRef<'_>)> {
    map.iter()
        .map(|(name, value)| (name.as_str(), PropertyRef::of_value(value)))
}

/// The event properties of a row: borrowed from an event's map, or decoded as a list.
#[derive(Debug, Clone)]
pub enum EventProperties<'a> {
    /// An [`Event`](super::Event)'s map.
    Map(&'a Properties),
    /// Decoded from a record, in the record's order.
    List(Vec<(Text<'a>, PropertyValue<'a>)>),
}

impl Default for EventProperties<'_> {
    fn default() -> Self {
        EventProperties::List(Vec::new())
    }
}

impl EventProperties<'_> {
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        match self {
            EventProperties::Map(map) => map.is_empty(),
            EventProperties::List(list) => list.is_empty(),
        }
    }

    /// The properties, as names and value views.
    pub fn iter(&self) -> impl Iterator<Item = (&str, PropertyRef<'_>)> {
        let (map, list) = match self {
            EventProperties::Map(map) => (Some(*map), None),
            EventProperties::List(list) => (None, Some(list.iter())),
        };
        let map = map.into_iter().flat_map(map_entries);
        let list = list
            .into_iter()
            .flatten()
            .map(|(k, v)| (&**k, PropertyRef::of_list_value(v)));
        map.chain(list)
    }
}

/// Equal when they hold the same names and values in the same order, whatever their form.
impl PartialEq for EventProperties<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for EventProperties<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // `null` reads as no properties, as it does for an `Event`.
        Option::<ListOf<'a>>::deserialize(deserializer)
            .map(|list| EventProperties::List(list.map(|l| l.0).unwrap_or_default()))
    }
}

struct ListOf<'a>(Vec<(Text<'a>, PropertyValue<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for ListOf<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;

        impl<'de> Visitor<'de> for ListVisitor {
            type Value = ListOf<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object of properties")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ListOf<'de>, A::Error> {
                let mut list = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(name) = map.next_key::<Text<'de>>()? {
                    list.push((name, map.next_value::<PropertyValue<'de>>()?));
                }
                Ok(ListOf(list))
            }
        }

        deserializer.deserialize_map(ListVisitor)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for PropertyValue<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// Reads a value the way `serde_json::Value` does, keeping strings borrowed.
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = PropertyValue<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(PropertyValue::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(PropertyValue::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(PropertyValue::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Number::from_f64(v).map_or(PropertyValue::Null, PropertyValue::Number))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(PropertyValue::String(Text::from(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(PropertyValue::String(Text(v.to_owned().into())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(PropertyValue::String(Text(v.into())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(PropertyValue::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(PropertyValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(PropertyValue::Json)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Value::deserialize(de::value::MapAccessDeserializer::new(map)).map(PropertyValue::Json)
    }
}
