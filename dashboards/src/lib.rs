//! Sluice's dashboards crate: the HTTP surface of the query layer (`POST /api/v1/query`), and the web UI
//! served by the same binary (`web`, embedded from `web/dist/`).
//!
//! Invariant: this crate depends on `query` only, never on `ingest`; the two meet through Parquet.

pub mod access;
mod api;
mod boards;
pub mod saved;
mod syncs;
mod taxonomy;
mod usage;
mod web;

pub use api::api_router;
pub use web::web_router;
