//! `sluice quarantine`: list the events the tracking plan rejected, and replay them once the plan
//! is fixed.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use sluice_ingest::quarantine::{ReplayOptions, replay};
use sluice_query::spec::{Dataset, EventsSpec, SPEC_VERSION};
use sluice_query::{QueryEngine, QuerySpec, render_table};

use crate::server::read_plan;

#[derive(Subcommand)]
pub(crate) enum QuarantineCommand {
    /// Show quarantined events, newest first, with why they were rejected.
    List {
        /// The data directory `sluice serve` writes to.
        #[arg(long, env = "SLUICE_DATA_DIR", default_value = "sluice-data")]
        data_dir: PathBuf,
        /// Only this project's events.
        #[arg(long)]
        project: Option<String>,
        /// Only events of this type (repeat for several).
        #[arg(long = "event-type")]
        event_types: Vec<String>,
        /// How many events to show (counts cover all of them).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Re-check quarantined events against a (fixed) tracking plan and move those it accepts into
    /// the main dataset. Safe to interrupt and to repeat; may run while `sluice serve` runs
    /// (restart the server with the same plan so new events are checked against it too).
    Replay {
        /// The data directory `sluice serve` writes to.
        #[arg(long, env = "SLUICE_DATA_DIR", default_value = "sluice-data")]
        data_dir: PathBuf,
        /// The tracking plan to check against (TOML).
        #[arg(long, env = "SLUICE_TRACKING_PLAN")]
        tracking_plan: PathBuf,
        /// Only report what would move.
        #[arg(long)]
        dry_run: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(command: QuarantineCommand) -> anyhow::Result<()> {
    match command {
        QuarantineCommand::List {
            data_dir,
            project,
            event_types,
            limit,
            json,
        } => {
            let spec = QuerySpec::Events(EventsSpec {
                version: SPEC_VERSION,
                dataset: Dataset::Quarantine,
                project,
                user_id: None,
                device_id: None,
                event_types,
                insert_id: None,
                date_range: None,
                time_zone: "UTC".to_owned(),
                limit,
            });
            let result = QueryEngine::new(data_dir).run(&spec).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&result)?);
            } else {
                print!("{}", render_table(&result));
            }
        }
        QuarantineCommand::Replay {
            data_dir,
            tracking_plan,
            dry_run,
            json,
        } => {
            let plan = read_plan(&tracking_plan)?;
            let report = tokio::task::spawn_blocking(move || {
                replay(
                    &data_dir,
                    ReplayOptions {
                        plan: &plan,
                        dry_run,
                    },
                )
            })
            .await
            .context("the replay task failed")??;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
                return Ok(());
            }
            if let Some(recovered) = report.recovered {
                println!("an interrupted replay was {recovered}");
            }
            let verb = if dry_run { "would move" } else { "moved" };
            println!(
                "{} quarantine file(s) examined: {verb} {} event(s) to the main dataset ({} file(s)); {} event(s) still quarantined",
                report.files_examined,
                report.events_replayed,
                report.files_moved,
                report.events_still_quarantined
            );
            for (issue, events) in &report.remaining_issues {
                println!("  {events:>8}  {issue}");
            }
        }
    }
    Ok(())
}
