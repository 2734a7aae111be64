//! Property conditions on events (Amplitude's "where" clauses) and segments (groups of persons
//! compared side by side), as written in a spec.
//!
//! A condition tests one value of an event: an event property, a user property as it was at the
//! event, or a top-level field such as `platform`. Example:
//!
//! ```json
//! {"kind": "event", "property": "category", "op": "is", "values": ["Design", "Video"]}
//! ```
//!
//! Checking the values and turning them into expressions is `crate::filter`'s job.

use serde::{Deserialize, Serialize};

use super::BreakdownKind;

/// Most segments in one query (Amplitude's limit).
pub const MAX_SEGMENTS: usize = 10;

/// Most conditions in one `where` list.
pub const MAX_CONDITIONS: usize = 20;

/// Most values one condition may list.
pub const MAX_FILTER_VALUES: usize = 1_000;

/// One condition on a value of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertyFilter {
    /// Where the value lives: `event` property, `user` property (as sent with the event), or a
    /// top-level `field`.
    pub kind: BreakdownKind,
    /// The property or field name (without the `ep:`/`up:` column prefix).
    pub property: String,
    /// How the value is compared.
    pub op: FilterOp,
    /// What it is compared with: one or more values for `is`, `is_not`, `contains` and
    /// `does_not_contain`; exactly one number for the comparisons; none for `set` / `not_set`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<FilterValue>,
}

/// How a condition compares an event's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterOp {
    /// Equal to one of the values: text values compare as text (exactly, case included), number
    /// values as numbers (`5` matches `5`, `5.0` and `"5"`).
    Is,
    /// Not equal to any of the values; events without the property match (Amplitude's
    /// "(none)" is not any value).
    IsNot,
    /// Holds one of the values as a substring, ignoring case.
    Contains,
    /// Holds none of the values as a substring, ignoring case; events without the property
    /// match.
    DoesNotContain,
    /// A number below the value (text that is not a number never matches).
    Less,
    /// A number at most the value.
    LessOrEqual,
    /// A number above the value.
    Greater,
    /// A number at least the value.
    GreaterOrEqual,
    /// The event has the property (any value).
    Set,
    /// The event lacks the property.
    NotSet,
}

impl FilterOp {
    /// The operator's name as written in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            FilterOp::Is => "is",
            FilterOp::IsNot => "is_not",
            FilterOp::Contains => "contains",
            FilterOp::DoesNotContain => "does_not_contain",
            FilterOp::Less => "less",
            FilterOp::LessOrEqual => "less_or_equal",
            FilterOp::Greater => "greater",
            FilterOp::GreaterOrEqual => "greater_or_equal",
            FilterOp::Set => "set",
            FilterOp::NotSet => "not_set",
        }
    }
}

/// A value a condition compares with: JSON text, number or boolean.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FilterValue {
    /// Text, compared as text.
    Text(String),
    /// A number, compared as a number.
    Number(serde_json::Number),
    /// A boolean, compared with the text `true` / `false` (how booleans are stored).
    Bool(bool),
}

/// A group of persons compared side by side with others: the events whose values pass every
/// condition (Amplitude's segment, "where" on user properties as they were at the event).
/// Example: `{"name": "iOS", "where": [{"kind": "field", "property": "platform", "op": "is",
/// "values": ["iOS"]}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// The name shown with its results; `segment N` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The conditions, all of which must hold; none means all persons.
    #[serde(rename = "where", default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<PropertyFilter>,
}
