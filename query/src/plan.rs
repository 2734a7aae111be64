//! A validated per-person analysis, ready to run once per segment.
//!
//! Segments are compared side by side by running the analysis once per segment, each time with
//! the segment's conditions added to the event the segment applies to: every counted event for
//! segmentation, lifecycle and stickiness; step 1 of a funnel, the start event of a retention
//! and the anchor of paths (where Amplitude applies them).

use std::sync::Arc;

use datafusion::datasource::listing::ListingTable;
use datafusion::execution::context::SessionContext;

use crate::error::{Result, SpecError};
use crate::filter::Conditions;
use crate::identity::PersonMap;
use crate::result::{QueryResult, SegmentResult, SegmentsResult};
use crate::spec::filter::MAX_SEGMENTS;
use crate::spec::{
    EventsQuery, FunnelQuery, Interval, LifecycleQuery, PathsQuery, QuerySpec, RetentionQuery,
    Segment, SegmentationQuery, StartEvent, StickinessQuery,
};
use crate::{funnel, lifecycle, paths, retention, segmentation, stickiness};

/// One of the analyses that count persons, validated.
#[derive(Debug, Clone)]
pub(crate) enum Plan {
    Funnel(FunnelQuery, funnel::GroupLabels),
    Segmentation(SegmentationQuery, Interval),
    Retention(RetentionQuery),
    Lifecycle(LifecycleQuery),
    Stickiness(StickinessQuery),
    Paths(PathsQuery),
}

/// A validated spec: a per-person analysis, or the events listing.
pub(crate) enum Planned {
    Persons(Plan),
    Events(EventsQuery),
}

/// The plans of one query: one unnamed plan, or one per named segment.
pub(crate) struct SegmentPlans(Vec<(Option<String>, Plan)>);

impl SegmentPlans {
    /// Runs them: one result, or the segments' results side by side.
    pub(crate) async fn run(&self, inputs: &Inputs) -> Result<QueryResult> {
        let mut segments = Vec::with_capacity(self.0.len());
        for (name, plan) in &self.0 {
            let result = plan.run(inputs).await?;
            match name {
                None => return Ok(result),
                Some(name) => segments.push(SegmentResult {
                    name: name.clone(),
                    result,
                }),
            }
        }
        Ok(QueryResult::Segments(SegmentsResult { segments }))
    }
}

/// What a plan reads: a session, the events table (`None`: no data yet) and the identity
/// merge map.
pub(crate) struct Inputs {
    pub(crate) ctx: SessionContext,
    pub(crate) table: Option<Arc<ListingTable>>,
    pub(crate) persons: Arc<PersonMap>,
}

/// A named segment, checked.
#[derive(Debug, Clone)]
pub(crate) struct CheckedSegment {
    name: String,
    conditions: Conditions,
}

impl Planned {
    /// Validates `spec`.
    pub(crate) fn from_spec(spec: &QuerySpec) -> std::result::Result<Planned, SpecError> {
        Ok(Planned::Persons(match spec {
            QuerySpec::Funnel(s) => Plan::Funnel(
                s.validate()?,
                funnel::GroupLabels {
                    breakdown: s.breakdown.clone(),
                    group_by: s.group_by.clone(),
                },
            ),
            QuerySpec::Segmentation(s) => Plan::Segmentation(s.validate()?, s.interval),
            QuerySpec::Retention(s) => Plan::Retention(s.validate()?),
            QuerySpec::Lifecycle(s) => Plan::Lifecycle(s.validate()?),
            QuerySpec::Stickiness(s) => Plan::Stickiness(s.validate()?),
            QuerySpec::Paths(s) => Plan::Paths(s.validate()?),
            QuerySpec::Events(s) => return Ok(Planned::Events(s.validate()?)),
        }))
    }
}

impl Plan {
    /// The plan to run for each segment (just this one when the spec compares none).
    pub(crate) fn per_segment(
        self,
        segments: &[CheckedSegment],
    ) -> std::result::Result<SegmentPlans, SpecError> {
        if segments.is_empty() {
            return Ok(SegmentPlans(vec![(None, self)]));
        }
        let mut plans = Vec::with_capacity(segments.len());
        for segment in segments {
            let mut plan = self.clone();
            plan.restrict_to(&segment.conditions)?;
            plans.push((Some(segment.name.clone()), plan));
        }
        Ok(SegmentPlans(plans))
    }

    /// Adds a segment's conditions to the event it applies to.
    fn restrict_to(&mut self, segment: &Conditions) -> std::result::Result<(), SpecError> {
        match self {
            Plan::Retention(q) if q.start == StartEvent::New && !segment.is_empty() => {
                return Err(SpecError::NewUserConditions { field: "segments" });
            }
            Plan::Funnel(q, _) => {
                if let Some(first) = q.step_conditions.first_mut() {
                    first.extend(segment);
                }
            }
            Plan::Segmentation(q, _) => {
                for conditions in &mut q.series_conditions {
                    conditions.extend(segment);
                }
                q.active_conditions.extend(segment);
            }
            Plan::Retention(q) => q.start_conditions.extend(segment),
            Plan::Lifecycle(q) => q.event_conditions.extend(segment),
            Plan::Stickiness(q) => q.event_conditions.extend(segment),
            Plan::Paths(q) => q.anchor_conditions.extend(segment),
        }
        Ok(())
    }

    async fn run(&self, inputs: &Inputs) -> Result<QueryResult> {
        let Inputs {
            ctx,
            table,
            persons,
        } = inputs;
        let table = table.clone();
        Ok(match self {
            Plan::Funnel(q, labels) => {
                QueryResult::Funnel(funnel::run(ctx, table, persons, q, labels.clone()).await?)
            }
            Plan::Segmentation(q, interval) => QueryResult::Segmentation(
                segmentation::run(ctx, table, persons, q, *interval).await?,
            ),
            Plan::Retention(q) => {
                QueryResult::Retention(retention::run(ctx, table, persons, q).await?)
            }
            Plan::Lifecycle(q) => {
                QueryResult::Lifecycle(lifecycle::run(ctx, table, persons, q).await?)
            }
            Plan::Stickiness(q) => {
                QueryResult::Stickiness(stickiness::run(ctx, table, persons, q).await?)
            }
            Plan::Paths(q) => QueryResult::Paths(paths::run(ctx, table, persons, q).await?),
        })
    }
}

/// The spec's segments, checked (empty: no comparison).
pub(crate) fn check_segments(
    spec: &QuerySpec,
) -> std::result::Result<Vec<CheckedSegment>, SpecError> {
    let segments: &[Segment] = match spec {
        QuerySpec::Funnel(s) => &s.segments,
        QuerySpec::Segmentation(s) => &s.segments,
        QuerySpec::Retention(s) => &s.segments,
        QuerySpec::Lifecycle(s) => &s.segments,
        QuerySpec::Stickiness(s) => &s.segments,
        QuerySpec::Paths(s) => &s.segments,
        QuerySpec::Events(_) => &[],
    };
    if segments.len() > MAX_SEGMENTS {
        return Err(SpecError::SegmentCount {
            found: segments.len(),
            max: MAX_SEGMENTS,
        });
    }
    segments
        .iter()
        .enumerate()
        .map(|(i, segment)| {
            Ok(CheckedSegment {
                name: segment
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("segment {}", i + 1)),
                conditions: Conditions::validate(
                    &segment.conditions,
                    &format!("segments[{i}].where"),
                )?,
            })
        })
        .collect()
}
