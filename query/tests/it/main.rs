//! Integration tests of `sluice-query`: the engine over real Parquet files.

mod cohorts;
mod differential;
mod engine;
mod events;
mod filters;
mod funnel_exclusions;
mod funnel_groups;
mod funnel_orders;
mod funnel_over_time;
mod funnel_times;
mod funnel_totals;
mod golden;
mod group_by;
mod identity;
mod lifecycle;
mod paths;
mod reference;
mod retention;
mod retention_rolling;
mod rfm;
mod segmentation;
mod segmentation_formulas;
mod segmentation_measures;
mod segmentation_views;
mod stickiness;
mod support;
