//! `sluice cohort`: save cohort definitions by name, compute them (each computation stored with
//! who entered and exited), and read them back.

use std::path::PathBuf;

use anyhow::Context;
use sluice_query::cohort::spec::CohortCondition;
use sluice_query::cohort::store::{SavedCohort, ids_from_csv};
use sluice_query::sync::config::FileFormat;
use sluice_query::sync::{self, SyncConfig, SyncOutcome, SyncStore};
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
    /// Print who entered and who exited at a computation (the latest by default), as CSV:
    /// change,person_id,user_id,device_id.
    Changes {
        name: String,
        /// The computation (`computed_ms`, as `sluice cohort show` lists them).
        #[arg(long)]
        run: Option<i64>,
        /// Most persons listed each way.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        #[command(flatten)]
        data: DataDir,
    },
    /// Delete a saved cohort, its history and its members.
    Delete {
        name: String,
        #[command(flatten)]
        data: DataDir,
    },
    /// Write a cohort's latest computation to a file: person_id, user_id, device_id per member.
    Export {
        name: String,
        /// The file to write (replaced whole).
        #[arg(long)]
        out: PathBuf,
        /// csv or parquet; from the file's extension when absent.
        #[arg(long)]
        format: Option<String>,
        #[command(flatten)]
        data: DataDir,
    },
    /// Syncs: keep a cohort up to date in Braze, a webhook, files or a Kafka topic
    /// (docs/query-api.md, "Cohort syncs").
    #[command(subcommand)]
    Sync(SyncCommand),
}

#[derive(clap::Subcommand)]
pub(crate) enum SyncCommand {
    /// Save syncs from a JSON file: one sync config, or an array of them.
    Save {
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        data: DataDir,
    },
    /// List the syncs and where each stands.
    List {
        #[command(flatten)]
        data: DataDir,
    },
    /// Send a sync's changes now: what its cohort's latest computation changed since the last
    /// completed sync (a failed sync resumes where it stopped).
    Run {
        name: String,
        /// Compute the cohort first.
        #[arg(long)]
        compute: bool,
        #[command(flatten)]
        data: DataDir,
    },
    /// Print a sync's delivery log (JSON lines, newest last).
    Log {
        name: String,
        /// Only the last entries.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        data: DataDir,
    },
    /// Delete a sync, its state and its log (the destination keeps what it holds).
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

impl DataDir {
    /// The folder.
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.data_dir
    }
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
        CohortCommand::Changes {
            name,
            run,
            limit,
            data,
        } => {
            let engine = QueryEngine::new(data.data_dir);
            let changes = engine.cohort_changes(&name, run, limit).await?;
            eprintln!(
                "{name} at {} ({}): {} entered, {} exited",
                changes.run.computed_ms, changes.run.as_of, changes.run.entered, changes.run.exited
            );
            println!("change,person_id,user_id,device_id");
            for (change, persons) in [("entered", &changes.entered), ("exited", &changes.exited)] {
                for p in persons {
                    println!(
                        "{change},{},{},{}",
                        p.person_id,
                        p.user_id.as_deref().unwrap_or_default(),
                        p.device_id.as_deref().unwrap_or_default()
                    );
                }
            }
        }
        CohortCommand::Export {
            name,
            out,
            format,
            data,
        } => {
            let format = file_format(format.as_deref(), &out)?;
            let engine = QueryEngine::new(data.data_dir);
            let members = sync::export(&engine, &name, &out, format).await?;
            println!("wrote {members} members of {name} to {}", out.display());
        }
        CohortCommand::Sync(command) => run_sync(command).await?,
    }
    Ok(())
}

/// The format named, or the one `path`'s extension says.
fn file_format(named: Option<&str>, path: &std::path::Path) -> anyhow::Result<FileFormat> {
    let name = named
        .map(str::to_owned)
        .or_else(|| Some(path.extension()?.to_str()?.to_ascii_lowercase()))
        .unwrap_or_default();
    match name.as_str() {
        "csv" => Ok(FileFormat::Csv),
        "parquet" => Ok(FileFormat::Parquet),
        _ => anyhow::bail!("give --format csv or --format parquet (or a .csv / .parquet file)"),
    }
}

/// The sync configs of a file: one config, or an array of them.
pub(crate) fn configs_from_file(path: &std::path::Path) -> anyhow::Result<Vec<SyncConfig>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let configs = match value {
        serde_json::Value::Array(_) => serde_json::from_value(value),
        _ => serde_json::from_value(value).map(|one| vec![one]),
    };
    configs.with_context(|| {
        format!(
            "{} is not a sync config or an array of them",
            path.display()
        )
    })
}

async fn run_sync(command: SyncCommand) -> anyhow::Result<()> {
    match command {
        SyncCommand::Save { file, data } => {
            let store = SyncStore::new(&data.data_dir);
            for config in configs_from_file(&file)? {
                store
                    .save(&config)
                    .with_context(|| format!("sync {}", config.name))?;
                println!("saved sync {}", config.name);
            }
        }
        SyncCommand::List { data } => {
            let store = SyncStore::new(&data.data_dir);
            for name in store.names()? {
                let config = store.get(&name)?;
                let state = store.state(&name)?;
                let every = config
                    .every_secs
                    .map_or_else(|| "manual".to_owned(), |s| format!("every {s} s"));
                let held = state
                    .synced_run_ms
                    .map_or_else(|| "never synced".to_owned(), |ms| format!("holds {ms}"));
                println!("{name}\t{}\t{every}\t{held}", config.cohort);
            }
        }
        SyncCommand::Run {
            name,
            compute,
            data,
        } => {
            let engine = QueryEngine::new(data.data_dir);
            if compute {
                let cohort = SyncStore::new(engine.data_dir()).get(&name)?.cohort;
                engine.compute_cohort(&cohort, None, Some(0)).await?;
            }
            let report = sync::run(&engine, &name).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            anyhow::ensure!(
                report.outcome != SyncOutcome::Failed,
                "sync {name} failed: {}",
                report.detail.unwrap_or_default()
            );
        }
        SyncCommand::Log { name, limit, data } => {
            for entry in SyncStore::new(&data.data_dir).delivery_log(&name, Some(limit))? {
                println!("{}", serde_json::to_string(&entry)?);
            }
        }
        SyncCommand::Delete { name, data } => {
            SyncStore::new(&data.data_dir).delete(&name)?;
            println!("deleted sync {name}");
        }
    }
    Ok(())
}
