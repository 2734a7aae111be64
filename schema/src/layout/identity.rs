//! The identity dataset: what the query layer needs to turn stored `person_id`s into persons.
//!
//! The loader gives every event a dense integer `person_id` as it arrives (see
//! `ingest/src/loader/state/identity.rs`). Two things are learnt only later, and are written
//! here instead of rewriting events already stored (Amplitude's merged-ID mapping, applied at
//! query time):
//! - **merges**: a device's anonymous person turned out to be a user (the device logged in), so
//!   the anonymous person's earlier events belong to the user's person;
//! - **users first seen in a partition**: with several log partitions (Kafka), each partition's
//!   loader numbers its own persons, so a user seen in two partitions has two ids; the query
//!   layer unites the ids of one `(project, user_id)`.
//!
//! Files live in `<data>/identity/`, one per loader batch that learnt something, named like the
//! batch's event files (a replayed batch rewrites the same file).

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

/// Folder of the identity files, beside `events/`.
pub const IDENTITY_DIR: &str = "identity";

/// Column: the kind of row, [`KIND_MERGE`] or [`KIND_USER`].
pub const KIND_COLUMN: &str = "kind";
/// Column: the project.
pub const PROJECT_COLUMN: &str = "project";
/// Column: the user id (rows of kind [`KIND_USER`]).
pub const USER_ID_COLUMN: &str = "user_id";
/// Column: the person id the row is about.
pub const PERSON_ID_COLUMN: &str = "person_id";
/// Column: the person id it merges into (rows of kind [`KIND_MERGE`]).
pub const MERGED_INTO_COLUMN: &str = "merged_into";
/// Column: the event time (Unix ms) of the event that taught it.
pub const TIME_COLUMN: &str = "time";

/// Row kind: `person_id` (an anonymous device's person) belongs to `merged_into` (a user's).
pub const KIND_MERGE: &str = "merge";
/// Row kind: `(project, user_id)` has id `person_id` in the partition that wrote the row.
pub const KIND_USER: &str = "user";

/// Bits of a `person_id` below the partition number: each log partition's loader numbers its
/// persons `partition << PARTITION_SHIFT | n`, `n` counting from 0, so ids are dense per
/// partition and the embedded log's (partition 0) are simply `0, 1, 2, …`.
pub const PARTITION_SHIFT: u32 = 40;

/// The Arrow schema of identity files.
pub fn identity_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(KIND_COLUMN, DataType::Utf8, false),
        Field::new(PROJECT_COLUMN, DataType::Utf8, false),
        Field::new(USER_ID_COLUMN, DataType::Utf8, true),
        Field::new(PERSON_ID_COLUMN, DataType::Int64, false),
        Field::new(MERGED_INTO_COLUMN, DataType::Int64, true),
        Field::new(TIME_COLUMN, DataType::Int64, false),
    ]))
}
