//! Deliberate tracking-plan drift, so that taxonomy checks have something to find.
//!
//! Real apps leak events nobody planned (a debug tap left in an iOS build, a legacy banner
//! tracker on the website) and properties nobody declared. About 1 % of the events the app code
//! tracks are followed by an unplanned event, and about 1 % carry one undeclared property; as
//! SDK-generated events (`session_start`, `session_end`, `$identify`), revenue events and CRM
//! events are never affected, each kind of drift comes to about 0.5 % of all events.

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use super::device::Platform;
use super::visit::props;

/// Share of tracked events followed by an unplanned event.
pub(crate) const UNPLANNED_EVENT_RATE: f64 = 0.011;
/// Share of tracked events carrying an undeclared property.
pub(crate) const UNEXPECTED_PROPERTY_RATE: f64 = 0.011;

/// Event names that are not in the tracking plan, one per platform.
pub(crate) const UNPLANNED_EVENTS: [&str; 3] =
    ["Banner Impression", "Debug Tap", "legacy_share_clicked"];
/// Property names that are not in the tracking plan, one per platform.
pub(crate) const UNEXPECTED_PROPERTIES: [&str; 3] = ["ab_bucket", "debug_screen", "legacy_source"];

fn platform_index(platform: Platform) -> usize {
    match platform {
        Platform::Web => 0,
        Platform::Ios => 1,
        Platform::Android => 2,
    }
}

/// Now and then, an unplanned event to track right after the current one.
pub(crate) fn unplanned_event(
    platform: Platform,
    rng: &mut StdRng,
) -> Option<(&'static str, Map<String, Value>)> {
    if !rng.random_bool(UNPLANNED_EVENT_RATE) {
        return None;
    }
    let properties = match platform {
        Platform::Web => props([(
            "banner_id",
            json!(format!("home_top_{}", rng.random_range(1..=4))),
        )]),
        Platform::Ios => props([("screen", json!("ServiceDetailViewController"))]),
        Platform::Android => props([("target", json!("kakaotalk"))]),
    };
    Some((UNPLANNED_EVENTS[platform_index(platform)], properties))
}

/// Now and then, an undeclared property to add to the current event.
pub(crate) fn unexpected_property(
    platform: Platform,
    rng: &mut StdRng,
) -> Option<(&'static str, Value)> {
    if !rng.random_bool(UNEXPECTED_PROPERTY_RATE) {
        return None;
    }
    let value = match platform {
        Platform::Web => json!("exp-412-b"),
        Platform::Ios => json!("ServiceDetailViewController"),
        Platform::Android => json!("home_tab"),
    };
    Some((UNEXPECTED_PROPERTIES[platform_index(platform)], value))
}
