//! Sluice's query layer: analyses over the Parquet event dataset.
//!
//! A caller sends a JSON [`QuerySpec`] (versioned, tagged by analysis); the [`QueryEngine`]
//! validates it, plans it onto DataFusion over the `events/` listing table (union of the file
//! schemas, `event_date` partition pruning) and returns a [`QueryResult`] that serialises to JSON
//! or renders as a text table ([`render_table`]). Per-person analyses are user-defined aggregates
//! grouped by person — the funnel is `funnel::udaf`, its semantics are in `funnel::path` — never
//! self-joins or window functions. Errors say whose fault they are ([`QueryError::is_user_error`]).
//!
//! This crate only reads the dataset; the ingest crate writes it. They share only the layout
//! constants of `sluice-schema`.

pub mod clock;
pub mod cohort;
mod csv;
pub mod durable_file;
mod engine;
mod error;
mod events;
mod filter;
mod funnel;
mod grouping;
mod handover;
mod identity;
mod json;
mod lifecycle;
mod paths;
mod person_cache;
mod person_periods;
mod person_sort;
mod plan;
mod property;
mod render;
pub mod result;
mod retention;
pub mod rfm;
mod segmentation;
mod shared;
pub mod spec;
mod stickiness;
pub mod sync;
mod table;
pub mod volumes;
mod whole_table;

pub use csv::render_csv;
pub use engine::QueryEngine;
pub use error::{FilterProblem, FormulaProblem, QueryError, SpecError};
pub use render::render_table;
pub use result::QueryResult;
pub use spec::QuerySpec;
