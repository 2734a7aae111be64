//! Behavioural cohorts (amplitude.md §4.6): which persons meet a definition of conditions on
//! what they did — performed an event (a count, a property sum, distinct property values,
//! distinct days, the n-th time), did not perform it, a user property most recently or at any
//! time, a static list of user ids, a retention cell, a lifecycle state — combined with `all` /
//! `any` / `not`; ranges of fixed days or per person "within N days of first use".
//!
//! `spec.rs` is the JSON; `validate.rs` checks it into a tree over per-person tests; `run.rs`
//! answers every test from one grouped scan and walks the tree per person; `store.rs` keeps
//! saved cohorts and each computation's members, with who entered and exited.

mod day;
pub(crate) mod filter;
mod first_use;
mod lifecycle;
mod retention;
pub(crate) mod run;
pub mod spec;
pub mod store;
mod validate;

pub(crate) use validate::CohortQuery;
pub use validate::MAX_COHORT_LIMIT;
