//! `sluice`: the one binary. It parses flags and wires the library crates together; all logic
//! lives in `schema`, `ingest`, `query` and `dashboards`.

mod cohort;
mod demo;
mod kafka;
mod quarantine;
mod scenario;
mod server;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: the collector allocates for every key and string of
/// every event it parses and serialises, and glibc's malloc/free were a large share of its CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Self-hosted product analytics: an Amplitude-compatible collector, a durable event log, Parquet,
/// and funnel / retention analyses for people who do not write SQL.
#[derive(Parser)]
#[command(name = "sluice", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the collector, the loader and the query API on one machine.
    Serve(server::ServeArgs),
    /// Load events from Kafka into Parquet, as a member of a consumer group.
    Load(kafka::LoadArgs),
    /// Compact small Parquet files of each date into large sorted ones, once (the loaders also
    /// compact in the background).
    Compact(kafka::CompactArgs),
    /// Generate a realistic marketplace data set (once), then serve it.
    Demo(demo::DemoArgs),
    /// Run a JSON query spec against a data directory and print the answer.
    Query(QueryArgs),
    /// Save cohorts by name, compute them (each computation stored with who entered and
    /// exited) and read them back.
    Cohort {
        #[command(subcommand)]
        command: cohort::CohortCommand,
    },
    /// Accounts of the query and admin APIs: users (passwords) and API tokens.
    User {
        #[command(subcommand)]
        command: user::UserCommand,
    },
    /// List or replay the events the tracking plan rejected.
    Quarantine {
        #[command(subcommand)]
        command: quarantine::QuarantineCommand,
    },
    /// Work with tracking plans.
    Taxonomy {
        #[command(subcommand)]
        command: TaxonomyCommand,
    },
}

#[derive(clap::Args)]
struct QueryArgs {
    /// The query spec: a JSON file, or `-` for standard input (format: docs/query-api.md).
    spec: PathBuf,
    /// The data directory `sluice serve` writes to.
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = "sluice-data")]
    data_dir: PathBuf,
    /// Print the result as JSON instead of a table.
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print the result as CSV (one header line, raw numbers) instead of a table.
    #[arg(long)]
    csv: bool,
}

#[derive(Subcommand)]
enum TaxonomyCommand {
    /// Validate a tracking-plan file; prints every problem with its line and column.
    Check {
        /// The tracking plan (TOML; format: docs/tracking-plan.md).
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only for people: log files and pipes get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", describe(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each once: a library error whose message already quotes its cause
/// (`invalid query spec: <the spec error>`) is not followed by that cause again.
fn describe(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if text.contains(&message) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&message);
    }
    text
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => runtime()?.block_on(server::serve(args))?,
        Command::Load(args) => runtime()?.block_on(kafka::load(args))?,
        Command::Compact(args) => kafka::compact(&args)?,
        Command::Demo(args) => runtime()?.block_on(demo::run(args))?,
        Command::Query(args) => runtime()?.block_on(query(args))?,
        Command::Cohort { command } => runtime()?.block_on(cohort::run(command))?,
        Command::User { command } => user::run(command)?,
        Command::Quarantine { command } => runtime()?.block_on(quarantine::run(command))?,
        Command::Taxonomy {
            command: TaxonomyCommand::Check { file },
        } => return taxonomy_check(&file),
    }
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn query(args: QueryArgs) -> anyhow::Result<()> {
    let text = if args.spec.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading the spec from standard input")?
    } else {
        std::fs::read_to_string(&args.spec)
            .with_context(|| format!("reading {}", args.spec.display()))?
    };
    let spec: sluice_query::QuerySpec =
        serde_json::from_str(&text).context("invalid query spec")?;
    let engine = sluice_query::QueryEngine::new(args.data_dir);
    let result = engine.run(&spec).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else if args.csv {
        print!("{}", sluice_query::render_csv(&result));
    } else {
        print!("{}", sluice_query::render_table(&result));
    }
    Ok(())
}

fn taxonomy_check(file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    match sluice_schema::TrackingPlan::parse(&text) {
        Ok(plan) => {
            println!(
                "{}: ok — project {:?} ({}), {} events, {} event properties, {} user properties",
                file.display(),
                plan.project.name,
                plan.project.time_zone.name(),
                plan.events.len(),
                plan.event_properties.len(),
                plan.user_properties.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{}:{}:{}: {}", file.display(), e.line, e.column, e.message);
            }
            eprintln!("{}: {} problem(s)", file.display(), errors.0.len());
            Ok(ExitCode::FAILURE)
        }
    }
}
