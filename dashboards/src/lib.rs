//! Sluice's dashboards crate: the HTTP surface of the query layer (`POST /api/v1/query`), and later
//! the web UI served by the same binary.
//!
//! Invariant: this crate depends on `query` only, never on `ingest`; the two meet through Parquet.

pub mod access;
mod api;
mod boards;
pub mod saved;
mod syncs;
mod taxonomy;
mod usage;

pub use api::api_router;
