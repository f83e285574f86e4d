use std::io::BufRead;

use clap::{Args, Subcommand};

use crate::account::provisioning::{self, IdentityInput};
use crate::config::Settings;
use crate::crypto::password::PasswordHasher;
use crate::crypto::Secret;
use crate::domain::clock::{Clock, SystemClock};
use crate::domain::identity::StudentNumber;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Create one identity (active when --password-stdin gives a password).
    Add(AddIdentity),
    /// Show one identity by number.
    Show { number: String },
}

#[derive(Debug, Args)]
pub struct AddIdentity {
    #[arg(long)]
    pub number: String,
    #[arg(long)]
    pub family_name: String,
    /// Given name(s).
    #[arg(long = "given-name", alias = "given-names")]
    pub given_names: String,
    /// YYYY-MM-DD.
    #[arg(long)]
    pub birth_date: String,
    /// student, staff, faculty, affiliate, alumni or parent (comma-separated or repeated).
    #[arg(long = "affiliation", required = true)]
    pub affiliations: Vec<String>,
    #[arg(long)]
    pub personal_email: Option<String>,
    /// Default: given.family@<eppn_domain>, made unique.
    #[arg(long)]
    pub institutional_email: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

pub async fn run(settings: Settings, command: IdentityCommand) -> anyhow::Result<()> {
    let store = Store::connect(settings.database_url.expose(), 1)?;
    store.migrate().await?;
    match command {
        IdentityCommand::Add(args) => {
            let password = if args.password_stdin {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                Some(Secret::new(line.trim_end_matches(['\n', '\r'])))
            } else {
                None
            };
            let hasher = PasswordHasher::new(settings.argon2(), 1)?;
            let input = IdentityInput {
                number: args.number,
                family_name: args.family_name,
                given_names: args.given_names,
                birth_date: args.birth_date,
                affiliations: args.affiliations.join(","),
                personal_email: args.personal_email,
                institutional_email: args.institutional_email,
                password,
            };
            let identity = provisioning::add_identity(
                &store,
                &hasher,
                &settings.eppn_domain,
                input,
                SystemClock.now(),
            )
            .await?;
            super::print_json(&identity)
        }
        IdentityCommand::Show { number } => {
            let number = StudentNumber::parse(&number)?;
            match store.find_identity_by_number(&number).await? {
                Some(identity) => super::print_json(&identity),
                None => anyhow::bail!("no identity has number {number}"),
            }
        }
    }
}
