//! `sluice cohort`: save cohort definitions by name, compute them (each computation stored with
//! who entered and exited), and read them back.

use std::path::PathBuf;

use anyhow::Context;
use sluice_query::cohort::spec::CohortCondition;
use sluice_query::cohort::store::{SavedCohort, ids_from_csv};
use sluice_query::{QueryEngine, QuerySpec};

#[derive(clap::Subcommand)]
pub(crate) enum CohortCommand {
    /// Save a definition under a name (replacing one saved before; its history stays).
    Save {
        /// The name: lower-case letters, digits, '-' and '_'.
        name: String,
        /// A cohort spec (docs/query-api.md, "Cohort spec"): its project, time zone and
        /// definition are saved.
        #[arg(long, required_unless_present = "ids", conflicts_with = "ids")]
        spec: Option<PathBuf>,
        /// Instead of a spec, a static cohort: a file of user ids, one per line (a CSV of one
        /// column, an optional `user_id` header).
        #[arg(long)]
        ids: Option<PathBuf>,
        /// What the cohort is for.
        #[arg(long)]
        description: Option<String>,
        /// Who looks after it.
        #[arg(long)]
        owner: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
    /// List the saved cohorts with their latest size.
    List {
        #[command(flatten)]
        data: DataDir,
    },
    /// Print a saved cohort's definition and every computation.
    Show {
        name: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Compute a saved cohort now and store its members.
    Compute {
        name: String,
        /// The day to compute it on (YYYY-MM-DD); today in its time zone when absent.
        #[arg(long)]
        as_of: Option<String>,
        /// Members to print.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print the members as CSV (person_id,user_id,device_id) instead of a summary.
        #[arg(long)]
        csv: bool,
        #[command(flatten)]
        data: DataDir,
    },
    /// Delete a saved cohort, its history and its members.
    Delete {
        name: String,
        #[command(flatten)]
        data: DataDir,
    },
}

#[derive(clap::Args)]
pub(crate) struct DataDir {
    /// The data directory `sluice serve` writes to.
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = "sluice-data")]
    data_dir: PathBuf,
}

/// The saved cohort of a cohort spec file: its project, time zone and definition.
fn saved_from_spec(
    name: String,
    spec: &std::path::Path,
    description: Option<String>,
    owner: Option<String>,
) -> anyhow::Result<SavedCohort> {
    let text =
        std::fs::read_to_string(spec).with_context(|| format!("reading {}", spec.display()))?;
    let parsed: QuerySpec = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a query spec", spec.display()))?;
    let QuerySpec::Cohort(cohort) = parsed else {
        anyhow::bail!(
            "{} is not a cohort spec (its \"analysis\" must be \"cohort\")",
            spec.display()
        );
    };
    Ok(SavedCohort {
        name,
        description,
        owner,
        project: cohort.project,
        time_zone: cohort.time_zone,
        definition: cohort.definition,
    })
}

pub(crate) async fn run(command: CohortCommand) -> anyhow::Result<()> {
    match command {
        CohortCommand::Save {
            name,
            spec,
            ids,
            description,
            owner,
            data,
        } => {
            let cohort = match (spec, ids) {
                (Some(spec), _) => saved_from_spec(name.clone(), &spec, description, owner)?,
                (None, Some(ids)) => {
                    let text = std::fs::read_to_string(&ids)
                        .with_context(|| format!("reading {}", ids.display()))?;
                    let ids = ids_from_csv(&text);
                    anyhow::ensure!(!ids.is_empty(), "the list holds no user ids");
                    SavedCohort {
                        name: name.clone(),
                        description,
                        owner,
                        project: None,
                        time_zone: "UTC".to_owned(),
                        definition: CohortCondition::UserIds(ids),
                    }
                }
                (None, None) => anyhow::bail!("give --spec or --ids"),
            };
            QueryEngine::new(data.data_dir).save_cohort(&cohort)?;
            println!("saved cohort {name}");
        }
        CohortCommand::List { data } => {
            let store = QueryEngine::new(data.data_dir).cohorts();
            for name in store.names()? {
                let latest = store.history(&name)?.pop();
                let description = store.get(&name)?.description.unwrap_or_default();
                match latest {
                    Some(run) => println!(
                        "{name}\t{} members on {}\t{description}",
                        run.size, run.as_of
                    ),
                    None => println!("{name}\tnever computed\t{description}"),
                }
            }
        }
        CohortCommand::Show { name, data } => {
            let store = QueryEngine::new(data.data_dir).cohorts();
            let cohort = store.get(&name)?;
            println!("{}", serde_json::to_string_pretty(&cohort)?);
            println!("computed_ms\tas_of\tsize\tentered\texited");
            for run in store.history(&name)? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    run.computed_ms, run.as_of, run.size, run.entered, run.exited
                );
            }
        }
        CohortCommand::Compute {
            name,
            as_of,
            limit,
            csv,
            data,
        } => {
            let engine = QueryEngine::new(data.data_dir);
            let (run, result) = engine.compute_cohort(&name, as_of, Some(limit)).await?;
            let result = sluice_query::QueryResult::Cohort(result);
            if csv {
                print!("{}", sluice_query::render_csv(&result));
            } else {
                println!(
                    "{name} on {}: {} members ({} entered, {} exited)",
                    run.as_of, run.size, run.entered, run.exited
                );
                print!("{}", sluice_query::render_table(&result));
            }
        }
        CohortCommand::Delete { name, data } => {
            QueryEngine::new(data.data_dir).cohorts().delete(&name)?;
            println!("deleted cohort {name}");
        }
    }
    Ok(())
}
