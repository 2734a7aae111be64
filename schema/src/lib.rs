//! Sluice's schema crate: the canonical event model, its one Arrow layout, the Amplitude wire
//! format's normalisation, and the tracking plan.
//!
//! Invariant: this crate is pure — no I/O, no async, no clock. Callers pass in times and bytes.

pub mod amplitude;
mod event;
pub mod layout;
pub mod operations;
pub mod taxonomy;

pub use event::property_list::{EventProperties, PropertyRef, PropertyValue};
pub use event::row::{ContextRow, EventRow, PropertiesRef, RevenueRow, Text};
pub use event::{Context, Event, Properties, Revenue};
pub use layout::{StorageLayout, partition_date};
pub use taxonomy::{PropertyType, TrackingPlan, is_builtin_event};
