//! Integration tests of `sluice-query`: the engine over real Parquet files.

mod differential;
mod engine;
mod golden;
mod reference;
mod support;
