//! The entry point: a [`QueryEngine`] over a data directory runs query specs.
//!
//! Each query gets a fresh DataFusion session (two partitions, matching the machine) and a fresh
//! listing of the event files, so Parquet files written since the last query are always seen.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::execution::context::SessionContext;
use datafusion::prelude::SessionConfig;

use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;

use crate::cohort::spec::{
    CohortCondition, CohortSpec, During, FunnelCondition, LifecycleCondition, LifecycleState,
    RetentionCondition,
};
use crate::cohort::store::{CohortRun, CohortStore, SavedCohort};
use crate::error::QueryError;
use crate::result::{CohortChanges, CohortMember, CohortResult, QueryResult};
use crate::spec::{
    FunnelCounting, FunnelSpec, LifecycleSpec, RetentionMethod, RetentionSpec, SPEC_VERSION,
};
use sluice_schema::layout::{COMPACTION_EPOCH_FILE, EVENTS_DIR, QUARANTINE_DIR};

use crate::cohort::filter::{self, CohortCell};
use crate::cohort::store::StoreError;
use crate::error::SpecError;
use crate::grouping::GroupBy;
use crate::identity::PersonMap;
use crate::person_cache::PersonCache;
use crate::plan::{CheckedSegment, Grouping, Inputs, Planned, check_segments};
use crate::property::column;
use crate::spec::{Dataset, EventsQuery, QuerySpec};
use crate::sync::store::PersonIds;
use crate::whole_table::counted_event;
use crate::{cohort, events, rfm, table};
use datafusion::prelude::lit;

/// How often a query is tried when files vanish under it.
const MAX_ATTEMPTS: u32 = 3;
/// How often a query is tried while compactions swap files under it.
const MAX_SWAP_ATTEMPTS: u32 = 10;

/// Runs analyses over the Parquet dataset in one data directory.
#[derive(Debug, Clone)]
pub struct QueryEngine {
    data_dir: PathBuf,
    /// The person map, kept between queries.
    persons: Arc<PersonCache>,
}

impl QueryEngine {
    /// An engine over `data_dir` (the folder holding `events/`). Nothing is read until a query
    /// runs; the folder need not exist yet.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        QueryEngine {
            data_dir: data_dir.into(),
            persons: Arc::default(),
        }
    }

    /// The data directory this engine reads.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Validates `spec` and runs it. A bad spec is a [`QueryError::InvalidSpec`]; no data yet
    /// gives zero counts, not an error. A query that meets a file deleted after it was listed is
    /// run again over a fresh listing (a few times at most), and so is a query during which a
    /// compaction swapped files (it may have listed both a compacted file and its inputs).
    pub async fn run(&self, spec: &QuerySpec) -> Result<QueryResult, QueryError> {
        let mut attempts = 1;
        loop {
            let before = self.compaction_epoch(true).await;
            let result = self.run_once(spec).await;
            let swapped = self.compaction_epoch(false).await != before;
            match result {
                Err(e) if attempts < MAX_ATTEMPTS && e.is_vanished_file() => attempts += 1,
                _ if swapped && attempts < MAX_SWAP_ATTEMPTS => attempts += 1,
                done => return done,
            }
        }
    }

    /// The compaction counter (`events/.compaction-epoch`; odd while a swap is under way). With
    /// `wait_even`, waits up to 2 s for a swap in progress to end: a swap takes milliseconds, so an
    /// odd number that stays is a compactor that died mid-swap (the next compaction finishes it).
    async fn compaction_epoch(&self, wait_even: bool) -> u64 {
        let path = self.data_dir.join(EVENTS_DIR).join(COMPACTION_EPOCH_FILE);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            let epoch = tokio::fs::read_to_string(&path)
                .await
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok())
                .unwrap_or(0);
            if !wait_even || epoch % 2 == 0 || std::time::Instant::now() >= deadline {
                return epoch;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    async fn run_once(&self, spec: &QuerySpec) -> Result<QueryResult, QueryError> {
        // The spec is validated before anything is read, so a bad spec costs no I/O. Saved
        // cohorts its conditions name are read after validation, into the cells it made.
        let (validated, cohorts) = filter::collecting(|| validate(spec));
        let (planned, checks) = validated?;
        let plan = match planned {
            Planned::Persons(plan) => plan,
            Planned::Events(query) => return self.list_events(&query).await,
            Planned::Cohort(query) => {
                let inputs = self.person_inputs(&cohorts).await?;
                let table = inputs.table.clone();
                let result = cohort::run::run(&inputs.ctx, table, &inputs.persons, &query).await?;
                return Ok(QueryResult::Cohort(result));
            }
            Planned::Rfm(query) => {
                let inputs = self.person_inputs(&cohorts).await?;
                let table = inputs.table.clone();
                let result = rfm::run(&inputs.ctx, table, &inputs.persons, &query).await?;
                return Ok(QueryResult::Rfm(result));
            }
        };
        let Some((group_by, segments)) = checks else {
            return Err(QueryError::Internal(
                "an analysis was not checked".to_owned(),
            ));
        };
        let plans = plan.clone().per_segment(&segments);
        let inputs = self.person_inputs(&cohorts).await?;
        let grouping = match group_by {
            Some(group_by) => Some(Grouping {
                ranked: group_by.rank(&inputs, &plan).await?,
                group_by,
            }),
            None => None,
        };
        plans.run(&inputs, grouping.as_ref()).await
    }

    /// Gives each cohort condition its cohort's latest members; a cohort that does not exist or
    /// was never computed is the spec's fault.
    fn load_cohorts(
        &self,
        cells: &[Arc<CohortCell>],
        persons: &Arc<PersonMap>,
    ) -> Result<(), QueryError> {
        let store = self.cohorts();
        for cell in cells {
            let problem = match store.latest(&cell.name) {
                Ok(Some((_, members))) => {
                    cell.fill(members, Arc::clone(persons));
                    continue;
                }
                Ok(None) => format!(
                    "cohort {:?} has never been computed: compute it first (POST \
                     /api/v1/cohorts/{}/compute or sluice cohort compute)",
                    cell.name, cell.name
                ),
                Err(StoreError::NotFound(_)) => format!("no saved cohort is named {:?}", cell.name),
                Err(e) => return Err(e.into()),
            };
            return Err(SpecError::Cohort {
                at: "where".to_owned(),
                problem,
            }
            .into());
        }
        Ok(())
    }

    /// Checks `spec` as running it would, reading nothing (a saved cohort it names is looked
    /// for only when it runs).
    pub fn check_spec(spec: &QuerySpec) -> Result<(), QueryError> {
        let (checked, _cells) = filter::collecting(|| validate(spec));
        checked.map(|_| ()).map_err(QueryError::from)
    }

    /// The saved cohorts of this data directory.
    pub fn cohorts(&self) -> CohortStore {
        CohortStore::new(&self.data_dir)
    }

    /// Checks `cohort`'s definition as a cohort spec would be, then saves it (replacing the
    /// definition saved under its name; the history stays).
    pub fn save_cohort(&self, cohort: &SavedCohort) -> Result<(), QueryError> {
        spec_of(cohort, None, None).validate()?;
        Ok(self.cohorts().save(cohort)?)
    }

    /// "Create cohort from this chart point" for a funnel bar: saves, as `name`, the persons of
    /// `funnel` who reached step `step` (1-based; `dropped`: who reached the step before it and
    /// not this one, the bar's drop-off), as a funnel condition over the same steps, window,
    /// order, exclusions and days — so it stays dynamic, recomputed like any saved cohort.
    /// Breakdowns, segments, held properties, strict modes and totals do not name one set of
    /// persons per bar here and are refused.
    pub fn cohort_from_funnel(
        &self,
        name: &str,
        funnel: &FunnelSpec,
        step: u8,
        dropped: bool,
        description: Option<String>,
    ) -> Result<SavedCohort, QueryError> {
        let refused = |what: &str| {
            Err(QueryError::from(SpecError::Cohort {
                at: "funnel".to_owned(),
                problem: format!(
                    "a cohort from a funnel bar takes the funnel without {what}; give the plain funnel"
                ),
            }))
        };
        if funnel.breakdown.is_some() || !funnel.group_by.is_empty() {
            return refused("a breakdown or group-by");
        }
        if !funnel.segments.is_empty() {
            return refused("segments (give the segment's funnel on its own)");
        }
        if !funnel.hold_constant.is_empty() || !funnel.strict.is_empty() {
            return refused("held properties or strict modes");
        }
        if funnel.counting != FunnelCounting::Uniques {
            return refused("event totals (a cohort holds persons)");
        }
        let (reached, dropped_after) = match (dropped, step) {
            (false, _) => (Some(step), None),
            (true, 2..) => (None, Some(step - 1)),
            (true, _) => {
                return Err(SpecError::Cohort {
                    at: "step".to_owned(),
                    problem: "the first step has no drop-off: nobody is before it".to_owned(),
                }
                .into());
            }
        };
        let during = During {
            from: funnel.date_range.from.clone(),
            to: funnel.date_range.to.clone(),
            last_days: funnel.date_range.last_days,
            since: None,
            within_days_of_first_use: None,
        };
        let cohort = SavedCohort {
            name: name.to_owned(),
            description,
            owner: None,
            project: funnel.project.clone(),
            time_zone: funnel.time_zone.clone(),
            definition: CohortCondition::Funnel(FunnelCondition {
                steps: funnel.steps.clone(),
                conversion_window: funnel.conversion_window,
                order: funnel.order,
                exclusions: funnel.exclusions.clone(),
                during,
                reached,
                dropped_after,
            }),
        };
        self.save_cohort(&cohort)?;
        Ok(cohort)
    }

    /// "Create cohort from this chart point" for a retention cell: saves, as `name`, the persons
    /// of cohort row `cohort` (its period's first day, as the chart labels it) who returned in
    /// column `column` (0-based, as the chart lists them) — or, with `returned: false`, those
    /// of the row who did not — as a retention condition over the same start and return
    /// events, boundaries and periods, started on the days of that row. Its size is the cell's
    /// count. Segments, group-bys, two return events and "Return On or After" (whose last
    /// period is the chart's horizon, not the cell's) are refused.
    pub fn cohort_from_retention(
        &self,
        name: &str,
        retention: &RetentionSpec,
        cohort: &str,
        column: usize,
        returned: bool,
        description: Option<String>,
    ) -> Result<SavedCohort, QueryError> {
        let refused = |what: &str| {
            Err(QueryError::from(SpecError::Cohort {
                at: "retention".to_owned(),
                problem: format!("a cohort from a retention cell takes {what}"),
            }))
        };
        if !retention.segments.is_empty() || !retention.group_by.is_empty() {
            return refused(
                "the chart without segments or group-by (give the segment's chart on its own)",
            );
        }
        if retention.method == RetentionMethod::ReturnOnOrAfter {
            return refused(
                "\"return_on\" or bracket columns: \"Return On or After\" counts up to the \
                 chart's horizon; give a bracket [N, end) instead",
            );
        }
        let return_event = match (&retention.return_event, retention.return_events.as_slice()) {
            (Some(event), []) | (None, [event]) => event.clone(),
            _ => return refused("one return event (give the chart of that return event)"),
        };
        let query = retention.validate()?;
        let tz = crate::spec::parse_time_zone(&retention.time_zone)?;
        let (range_from, range_to) = retention.date_range.days(crate::spec::today_in(tz))?;
        let labels = &query.buckets.labels[..query.cohort_periods];
        let Some(row) = labels.iter().position(|label| label == cohort) else {
            return Err(cell_problem(
                "cohort",
                format!(
                    "{cohort:?} is not a cohort row of the chart (its rows are {} to {})",
                    labels.first().map_or("", String::as_str),
                    labels.last().map_or("", String::as_str)
                ),
            ));
        };
        let (from, to) = cell_days(row, &query.buckets.starts, range_from, range_to, tz);
        let (a, b) = match query.columns.get(column) {
            Some(&(a, Some(b))) => (a, b),
            _ => {
                return Err(cell_problem(
                    "column",
                    format!(
                        "the chart has columns 0 to {}",
                        query.columns.len().saturating_sub(1)
                    ),
                ));
            }
        };
        let (period, periods) = match retention.method {
            RetentionMethod::ReturnOn => (Some(a), None),
            _ => (None, Some([a, b])),
        };
        let cohort = SavedCohort {
            name: name.to_owned(),
            description,
            owner: None,
            project: retention.project.clone(),
            time_zone: retention.time_zone.clone(),
            definition: CohortCondition::Retention(RetentionCondition {
                start_event: retention.start_event.clone(),
                return_event,
                started_during: During {
                    from: Some(from.to_string()),
                    to: Some(to.to_string()),
                    ..During::default()
                },
                interval: retention.interval,
                week_start: retention.week_start,
                boundaries: retention.boundaries,
                period,
                periods,
                returned,
            }),
        };
        self.save_cohort(&cohort)?;
        Ok(cohort)
    }

    /// "Create cohort from this chart point" for a lifecycle bar: saves, as `name`, the persons
    /// who were `state` in the chart's interval starting on `period` (as the chart labels it),
    /// as a lifecycle condition over the same event and interval. Its size is the bar's count.
    /// Segments and group-bys are refused.
    pub fn cohort_from_lifecycle(
        &self,
        name: &str,
        lifecycle: &LifecycleSpec,
        period: &str,
        state: LifecycleState,
        description: Option<String>,
    ) -> Result<SavedCohort, QueryError> {
        if !lifecycle.segments.is_empty() || !lifecycle.group_by.is_empty() {
            return Err(SpecError::Cohort {
                at: "lifecycle".to_owned(),
                problem: "a cohort from a lifecycle bar takes the chart without segments or \
                          group-by (give the segment's chart on its own)"
                    .to_owned(),
            }
            .into());
        }
        let query = lifecycle.validate()?;
        let labels = &query.buckets.labels[crate::spec::LIFECYCLE_LEAD..];
        if !labels.iter().any(|label| label == period) {
            return Err(cell_problem(
                "period",
                format!(
                    "{period:?} is not a period of the chart (its periods are {} to {})",
                    labels.first().map_or("", String::as_str),
                    labels.last().map_or("", String::as_str)
                ),
            ));
        }
        let cohort = SavedCohort {
            name: name.to_owned(),
            description,
            owner: None,
            project: lifecycle.project.clone(),
            time_zone: lifecycle.time_zone.clone(),
            definition: CohortCondition::Lifecycle(LifecycleCondition {
                event: lifecycle.event.clone(),
                state,
                interval: lifecycle.interval,
                week_start: lifecycle.week_start,
                starting: period.to_owned(),
            }),
        };
        self.save_cohort(&cohort)?;
        Ok(cohort)
    }

    /// Computes the saved cohort `name` on `as_of` (`YYYY-MM-DD`; today in its time zone when
    /// absent), stores its members with who entered and exited since the computation before,
    /// and returns the computation and the result listing `limit` members.
    pub async fn compute_cohort(
        &self,
        name: &str,
        as_of: Option<String>,
        limit: Option<usize>,
    ) -> Result<(CohortRun, CohortResult), QueryError> {
        let store = self.cohorts();
        let saved = store.get(name)?;
        let spec = spec_of(&saved, as_of, limit);
        let day = spec.validate()?.as_of.to_string();
        let result = match self.run(&QuerySpec::Cohort(spec)).await? {
            QueryResult::Cohort(result) => result,
            _ => {
                return Err(QueryError::Internal(
                    "a cohort spec gave another result".into(),
                ));
            }
        };
        let computed_ms = crate::clock::now_ms();
        let run = store.record(name, computed_ms, &day, &result.all_members)?;
        Ok((run, result))
    }

    /// Who entered and who exited the saved cohort `name` at its computation `computed_ms`
    /// (the latest when `None`), compared with the computation before it: at most `limit` of
    /// each, by person id, with their ids.
    pub async fn cohort_changes(
        &self,
        name: &str,
        computed_ms: Option<i64>,
        limit: usize,
    ) -> Result<CohortChanges, QueryError> {
        let store = self.cohorts();
        let saved = store.get(name)?;
        let history = store.history(name)?;
        let at = match computed_ms {
            Some(ms) => history.iter().position(|run| run.computed_ms == ms),
            None => history.len().checked_sub(1),
        };
        let Some(at) = at else {
            let problem = match computed_ms {
                Some(ms) => format!("cohort {name:?} has no computation at {ms} ms"),
                None => format!("cohort {name:?} has never been computed"),
            };
            return Err(SpecError::Cohort {
                at: "run".to_owned(),
                problem,
            }
            .into());
        };
        let run = history[at].clone();
        let members = store.members(name, &run)?;
        let previous = at.checked_sub(1).map(|i| history[i].clone());
        let before = match &previous {
            Some(previous) => store.members(name, previous)?,
            None => roaring::RoaringTreemap::new(),
        };
        let entered: Vec<u64> = (&members - &before).iter().take(limit).collect();
        let exited: Vec<u64> = (&before - &members).iter().take(limit).collect();
        // A person of an earlier computation may since have been merged into another (an
        // anonymous device that logged in): listed with the ids of the person it is now.
        let persons = self.persons.person_map(&session(), &self.data_dir).await?;
        let now_of = |person: u64| persons.resolve(person as i64) as u64;
        let listed: Vec<u64> = entered
            .iter()
            .chain(&exited)
            .flat_map(|&p| [p, now_of(p)])
            .collect();
        let ids = self.person_ids(saved.project.as_deref(), &listed).await?;
        let member = |person: &u64| {
            let now = now_of(*person);
            let ids = ids.get(&now).cloned().unwrap_or_default();
            CohortMember {
                person_id: *person as i64,
                user_id: ids.user_id,
                device_id: ids.device_id,
                merged_into: (now != *person).then_some(now as i64),
            }
        };
        Ok(CohortChanges {
            run,
            previous_ms: previous.map(|p| p.computed_ms),
            entered: entered.iter().map(member).collect(),
            exited: exited.iter().map(member).collect(),
        })
    }

    /// The user id and (greatest) device id of each of `persons`, from their events of
    /// `project` (all projects when none); a person with no event there is left out.
    pub(crate) async fn person_ids(
        &self,
        project: Option<&str>,
        persons: &[u64],
    ) -> Result<BTreeMap<u64, PersonIds>, QueryError> {
        let inputs = self.person_inputs(&[]).await?;
        let Some(table) = inputs.table else {
            return Ok(BTreeMap::new());
        };
        let mut filter = counted_event();
        if let Some(project) = project {
            filter = filter.and(column("project").eq(lit(project.to_owned())));
        }
        let listed: Vec<i64> = persons.iter().map(|&p| p as i64).collect();
        let ids = cohort::run::ids_of(&inputs.ctx, table, &inputs.persons, filter, &listed).await?;
        Ok(ids
            .into_iter()
            .map(|(person, (user_id, device_id))| (person as u64, PersonIds { user_id, device_id }))
            .collect())
    }

    /// Per event type, its events on each of the `days` (`YYYY-MM-DD`, the stored days, in
    /// order) and when it was last seen: of the events dataset, or of the quarantine.
    pub async fn event_volumes(
        &self,
        dataset: Dataset,
        days: &[String],
    ) -> Result<Vec<crate::volumes::EventVolume>, QueryError> {
        let ctx = session();
        let folder = match dataset {
            Dataset::Events => EVENTS_DIR,
            Dataset::Quarantine => QUARANTINE_DIR,
        };
        let table = table::dataset_table(&ctx, &self.data_dir, folder).await?;
        crate::volumes::volumes(&ctx, table, days).await
    }

    async fn list_events(&self, query: &EventsQuery) -> Result<QueryResult, QueryError> {
        let ctx = session();
        let folder = match query.dataset {
            Dataset::Events => EVENTS_DIR,
            Dataset::Quarantine => QUARANTINE_DIR,
        };
        let table = table::dataset_table(&ctx, &self.data_dir, folder).await?;
        Ok(QueryResult::Events(events::run(&ctx, table, query).await?))
    }

    /// A fresh session over a fresh listing of the events, with the person map.
    /// The saved cohorts the spec's conditions name (`cohorts`) are read into their cells here,
    /// with the person map their members are resolved by.
    async fn person_inputs(&self, cohorts: &[Arc<CohortCell>]) -> Result<Inputs, QueryError> {
        let ctx = session();
        let table = table::events_table(&ctx, &self.data_dir).await?;
        let persons = self.persons.person_map(&ctx, &self.data_dir).await?;
        self.load_cohorts(cohorts, &persons)?;
        Ok(Inputs {
            ctx,
            table,
            persons,
        })
    }
}

/// A chart cell that is not one.
fn cell_problem(at: &str, problem: String) -> QueryError {
    SpecError::Cohort {
        at: at.to_owned(),
        problem,
    }
    .into()
}

/// The days of cohort row `row` (boundaries `starts`): its period's, cut by the chart's range.
fn cell_days(
    row: usize,
    starts: &[i64],
    range_from: NaiveDate,
    range_to: NaiveDate,
    tz: Tz,
) -> (NaiveDate, NaiveDate) {
    let day_of = |ms: i64| {
        tz.timestamp_millis_opt(ms)
            .earliest()
            .map(|t| t.date_naive())
    };
    let from = day_of(starts[row]).unwrap_or(range_from).max(range_from);
    // The period ends where the next begins: its last day is the day before.
    let to = day_of(starts[row + 1] - 1)
        .unwrap_or(range_to)
        .min(range_to);
    (from, to)
}

/// The cohort spec that computes `saved` on `as_of`.
fn spec_of(saved: &SavedCohort, as_of: Option<String>, limit: Option<usize>) -> CohortSpec {
    CohortSpec {
        version: SPEC_VERSION,
        project: saved.project.clone(),
        time_zone: saved.time_zone.clone(),
        as_of,
        definition: saved.definition.clone(),
        limit,
    }
}

/// The checks a spec passes before anything is read: the plan, and for a per-person analysis
/// its group-by and segments.
type Checked = (Planned, Option<(Option<GroupBy>, Vec<CheckedSegment>)>);

fn validate(spec: &QuerySpec) -> Result<Checked, SpecError> {
    let planned = Planned::from_spec(spec)?;
    let checks = match planned {
        Planned::Persons(_) => Some((GroupBy::check(spec)?, check_segments(spec)?)),
        _ => None,
    };
    Ok((planned, checks))
}

fn session() -> SessionContext {
    SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2))
}
