//! Code the benchmark programs share: the baseline dataset's queries as Sluice specs.

pub mod baseline;
