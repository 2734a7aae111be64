//! Checking events against the tracking plan, and what to do about each problem.
//!
//! Every problem found gets the policy that governs it — `allow` (ignore), `flag` (store the event
//! and mark it unexpected) or `reject` (store it in the quarantine dataset instead, with the
//! reason, until the plan is fixed and it is replayed). Nothing is ever dropped.
//! Precedence: a property's own `policy` (for its invalid values), then the event's `policy` (for
//! its properties), then the plan-wide `[policy]` defaults.

use serde::Serialize;
use serde_json::Value;

use super::{PropertyDef, PropertyType, TrackingPlan};
use crate::event::Event;

/// What happens to an event with a given kind of problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Store it as if nothing were wrong.
    Allow,
    /// Store it, marked with the problem (Amplitude's "unexpected").
    Flag,
    /// Quarantine it with the problem as the reason.
    Reject,
}

/// The plan-wide default policies (`[policy]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Policies {
    /// An event type the plan does not list.
    pub unplanned_event: Policy,
    /// An event property the event's definition does not list.
    pub unplanned_property: Policy,
    /// A value of the wrong type or outside the enum, or a required property missing.
    pub invalid_value: Policy,
}

impl Default for Policies {
    fn default() -> Self {
        Policies {
            unplanned_event: Policy::Flag,
            unplanned_property: Policy::Flag,
            invalid_value: Policy::Flag,
        }
    }
}

/// The outcome of checking one event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Problems that are flagged or rejected, as readable messages.
    pub issues: Vec<String>,
    /// Whether any problem's policy is `reject`: the event goes to quarantine.
    pub rejected: bool,
}

impl Verdict {
    fn add(&mut self, policy: Policy, message: String) {
        match policy {
            Policy::Allow => {}
            Policy::Flag => self.issues.push(message),
            Policy::Reject => {
                self.rejected = true;
                self.issues.push(message);
            }
        }
    }
}

/// Events the SDKs and Amplitude itself send: always planned, never property-checked.
pub fn is_builtin_event(event_type: &str) -> bool {
    matches!(
        event_type,
        "$identify" | "$groupidentify" | "session_start" | "session_end" | "revenue_amount"
    ) || event_type.starts_with("[Amplitude] ")
}

impl TrackingPlan {
    /// Checks one event's type and event properties against the plan.
    pub fn check(&self, event: &Event) -> Verdict {
        let mut verdict = Verdict::default();
        if is_builtin_event(&event.event_type) {
            return verdict;
        }
        let Some(def) = self.events.get(&event.event_type) else {
            verdict.add(
                self.policies.unplanned_event,
                format!("unplanned event {:?}", event.event_type),
            );
            return verdict;
        };
        let event_policy = def.policy;
        for (name, value) in &event.event_properties {
            if !def.properties.iter().any(|p| p == name) {
                verdict.add(
                    event_policy.unwrap_or(self.policies.unplanned_property),
                    format!("unplanned property {name:?}"),
                );
                continue;
            }
            let Some(prop) = self.event_properties.get(name) else {
                continue;
            };
            if let Some(problem) = value_problem(prop, value) {
                let policy = prop
                    .policy
                    .or(event_policy)
                    .unwrap_or(self.policies.invalid_value);
                verdict.add(policy, format!("property {name:?}: {problem}"));
            }
        }
        for name in &def.required {
            if !event.event_properties.contains_key(name) {
                verdict.add(
                    event_policy.unwrap_or(self.policies.invalid_value),
                    format!("missing required property {name:?}"),
                );
            }
        }
        verdict
    }
}

/// Why a value does not fit its definition, if it does not.
fn value_problem(def: &PropertyDef, value: &Value) -> Option<String> {
    let fits = match def.ty {
        PropertyType::String => value.is_string(),
        PropertyType::Number => value.is_number(),
        PropertyType::Integer => value.is_i64() || value.is_u64(),
        PropertyType::Boolean => value.is_boolean(),
        PropertyType::Array => value.is_array(),
    };
    if !fits {
        return Some(format!("expected {}, got {value}", def.ty));
    }
    if !def.enum_values.is_empty() && !def.enum_values.iter().any(|v| same_value(v, value)) {
        return Some(format!("{value} is not one of the allowed values"));
    }
    None
}

/// Enum membership: numbers compare by value (`1` equals `1.0`).
fn same_value(allowed: &Value, value: &Value) -> bool {
    match (allowed.as_f64(), value.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => allowed == value,
    }
}
