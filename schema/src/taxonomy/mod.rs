//! The tracking plan (taxonomy): which events exist, their properties and types, and user properties.
//!
//! The plan is a TOML file owned by the data engineers (format: `docs/tracking-plan.md`, example:
//! `schema/plans/marketplace.toml`). Property definitions are shared: a property name has one type
//! across all events, which is what lets the storage layer give it one typed column.

mod check;
mod parse;

use std::collections::BTreeMap;
use std::fmt;

use chrono_tz::Tz;
use serde::Serialize;
use serde_json::Value;

pub use check::{Policies, Policy, Verdict, is_builtin_event};
pub use parse::{PlanError, PlanErrors};

/// A validated tracking plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackingPlan {
    /// Project settings.
    pub project: ProjectDef,
    /// Event property definitions, by name.
    pub event_properties: BTreeMap<String, PropertyDef>,
    /// User property definitions, by name.
    pub user_properties: BTreeMap<String, PropertyDef>,
    /// Planned events, by name.
    pub events: BTreeMap<String, EventDef>,
    /// What happens to events that do not match the plan (`[policy]`).
    pub policies: Policies,
}

/// Project-wide settings of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectDef {
    /// Project name (what events are stored under).
    pub name: String,
    /// The project time zone: days, weeks and partitions are cut in it.
    #[serde(serialize_with = "serialize_tz")]
    pub time_zone: Tz,
}

/// The declared type of a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PropertyType {
    /// Text.
    String,
    /// Any number.
    Number,
    /// Whole number.
    Integer,
    /// true / false.
    Boolean,
    /// A list of scalars.
    Array,
}

/// One property definition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PropertyDef {
    /// Declared type.
    #[serde(rename = "type")]
    pub ty: PropertyType,
    /// What the property means.
    pub description: String,
    /// Allowed values, when the property is an enumeration.
    #[serde(rename = "enum", skip_serializing_if = "Vec::is_empty")]
    pub enum_values: Vec<Value>,
    /// Policy for invalid values of this property (overrides the event's and the plan's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
}

/// One planned event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventDef {
    /// What the event means and when it fires.
    pub description: String,
    /// Free-text grouping (e.g. `discovery`, `checkout`).
    pub category: String,
    /// Who owns the event's definition.
    pub owner: String,
    /// Names of the event properties it carries (defined under `event_properties`).
    pub properties: Vec<String>,
    /// Properties that must be present.
    pub required: Vec<String>,
    /// Policy for this event's property problems (overrides the plan's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
}

impl TrackingPlan {
    /// Parses and validates a plan, reporting every problem with its line and column.
    pub fn parse(text: &str) -> Result<TrackingPlan, PlanErrors> {
        parse::parse(text)
    }

    /// Whether `event_type` is in the plan.
    pub fn is_planned(&self, event_type: &str) -> bool {
        self.events.contains_key(event_type)
    }
}

impl fmt::Display for PropertyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            PropertyType::String => "string",
            PropertyType::Number => "number",
            PropertyType::Integer => "integer",
            PropertyType::Boolean => "boolean",
            PropertyType::Array => "array",
        };
        f.write_str(name)
    }
}

fn serialize_tz<S: serde::Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

#[cfg(test)]
mod tests;
