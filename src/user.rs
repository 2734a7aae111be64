//! `sluice user`: the accounts of the query and admin APIs — users who log in with a password,
//! and API tokens for scripts (docs/query-api.md, "Access").

use std::path::PathBuf;

use anyhow::Context;
use sluice_dashboards::access::accounts::{Accounts, Role};

#[derive(clap::Subcommand)]
pub(crate) enum UserCommand {
    /// Add a user (or set an existing user's role and password).
    Add {
        /// The login name.
        name: String,
        /// viewer, editor or admin.
        #[arg(long)]
        role: Role,
        /// A file holding the password (its first line); else SLUICE_PASSWORD.
        #[arg(long)]
        password_file: Option<PathBuf>,
        #[command(flatten)]
        data: crate::cohort::DataDir,
    },
    /// Make an API token and print it (only now: it is stored as a hash).
    Token {
        /// Who or what uses it.
        name: String,
        /// viewer, editor or admin.
        #[arg(long)]
        role: Role,
        #[command(flatten)]
        data: crate::cohort::DataDir,
    },
    /// List the users and their roles.
    List {
        #[command(flatten)]
        data: crate::cohort::DataDir,
    },
    /// Delete a user.
    Delete {
        name: String,
        #[command(flatten)]
        data: crate::cohort::DataDir,
    },
}

pub(crate) fn run(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            role,
            password_file,
            data,
        } => {
            let password = match password_file {
                Some(file) => std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
                None => std::env::var("SLUICE_PASSWORD")
                    .context("give --password-file or set SLUICE_PASSWORD")?,
            };
            Accounts::new(data.path()).set_user(&name, role, &password)?;
            eprintln!("user {name} ({role:?}) saved");
        }
        UserCommand::Token { name, role, data } => {
            let token = Accounts::new(data.path()).new_token(&name, role)?;
            println!("{token}");
        }
        UserCommand::List { data } => {
            for (name, role) in Accounts::new(data.path()).users()? {
                println!("{name}\t{role:?}");
            }
        }
        UserCommand::Delete { name, data } => {
            anyhow::ensure!(
                Accounts::new(data.path()).delete_user(&name)?,
                "no user is named {name:?}"
            );
            eprintln!("user {name} deleted");
        }
    }
    Ok(())
}
