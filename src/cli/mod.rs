//! The command line: `etupass [--config FILE] [COMMAND]`, `serve` by default. Every command
//! reads the same configuration as `serve` and fails with a one-line reason.

pub mod audit;
pub mod cas;
pub mod charter;
pub mod client;
pub mod identity;
pub mod keys;
pub mod migrate;
pub mod saml;
pub mod serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "etupass",
    version,
    about = "Etupass: the university's identity provider (OpenID Connect, CAS and SAML)"
)]
pub struct Cli {
    /// Configuration file (default: ./etupass.toml when present).
    #[arg(long, global = true, env = "ETUPASS_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the provider (the default).
    Serve(serve::ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Register and inspect relying parties.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Provision and inspect identities.
    #[command(subcommand)]
    Identity(identity::IdentityCommand),
    /// Rotate, list and retire signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Publish and show the IT charter.
    #[command(subcommand)]
    Charter(charter::CharterCommand),
    /// Print the audit log.
    Audit(audit::AuditArgs),
    /// Register the services that use CAS.
    #[command(subcommand)]
    Cas(cas::CasCommand),
    /// Register the SAML service providers.
    #[command(subcommand)]
    Saml(saml::SamlCommand),
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    match cli
        .command
        .unwrap_or(Command::Serve(serve::ServeArgs::default()))
    {
        Command::Serve(args) => serve::run(settings, args).await,
        Command::Migrate => migrate::run(settings).await,
        Command::Client(command) => client::run(settings, command).await,
        Command::Identity(command) => identity::run(settings, command).await,
        Command::Keys(command) => keys::run(settings, command).await,
        Command::Charter(command) => charter::run(settings, command).await,
        Command::Audit(args) => audit::run(settings, args).await,
        Command::Cas(command) => cas::run(settings, command).await,
        Command::Saml(command) => saml::run(settings, command).await,
    }
}

/// Prints a value as pretty JSON on standard output: what scripts read.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
