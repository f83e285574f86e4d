//! `etupass cas service add|list|show|remove`: the registry of CAS services. No ticket
//! goes to a URL that no registered service covers.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::config::Settings;
use crate::domain::cas::{CasService, NewCasService};
use crate::domain::clock::{Clock, SystemClock};
use crate::store::{Store, StoreError};

#[derive(Debug, Subcommand)]
pub enum CasCommand {
    /// The services that may receive CAS tickets.
    #[command(subcommand)]
    Service(ServiceCommand),
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Register a service; prints it as JSON.
    Add(AddService),
    /// List the registered services.
    List,
    /// Show one service, by id or name.
    Show { service: String },
    /// Remove a service (by id or name) with its tickets.
    Remove { service: String },
}

#[derive(Debug, Args)]
pub struct AddService {
    #[arg(long)]
    pub name: String,
    /// The service URLs covered: a URL prefix (`https://ent.example.edu/`) or a regular
    /// expression starting with `^`, matched against the whole URL.
    #[arg(long)]
    pub url_pattern: String,
    /// An attribute released in validation responses (repeatable): uid, mail,
    /// displayName, givenName, sn, eduPersonAffiliation, eduPersonPrincipalName,
    /// supannEtuId, supannEmpId, memberOf.
    #[arg(long = "attribute")]
    pub attributes: Vec<String>,
    /// The service may obtain proxy-granting tickets, at a `pgtUrl` its pattern covers.
    #[arg(long)]
    pub proxy_allowed: bool,
    /// Where single logout POSTs its LogoutRequest (default: the service URL the ticket
    /// was issued for).
    #[arg(long)]
    pub logout_url: Option<String>,
    /// Alumni may sign in to this service.
    #[arg(long)]
    pub open_to_alumni: bool,
    /// Parent accounts may sign in to this service.
    #[arg(long)]
    pub open_to_parents: bool,
}

pub fn describe(service: &CasService) -> Value {
    json!({
        "id": service.id,
        "name": service.name,
        "url_pattern": service.url_pattern.written(),
        "attributes": service.attributes,
        "proxy_allowed": service.proxy_allowed,
        "logout_url": service.logout_url,
        "open_to_alumni": service.open_to_alumni,
        "open_to_parents": service.open_to_parents,
        "created_at": service.created_at,
    })
}

pub async fn run(settings: Settings, command: CasCommand) -> anyhow::Result<()> {
    let store = Store::connect(settings.database_url.expose(), 1)?;
    store.migrate().await?;
    let CasCommand::Service(command) = command;
    match command {
        ServiceCommand::Add(args) => {
            let new = NewCasService {
                name: args.name,
                url_pattern: args.url_pattern,
                attributes: args.attributes,
                proxy_allowed: args.proxy_allowed,
                logout_url: args.logout_url,
                open_to_alumni: args.open_to_alumni,
                open_to_parents: args.open_to_parents,
            };
            new.validate()?;
            let service = match store.add_cas_service(new.clone(), SystemClock.now()).await {
                Err(StoreError::Conflict(_)) => {
                    anyhow::bail!("a CAS service is already named '{}'", new.name.trim())
                }
                other => other?,
            };
            super::print_json(&describe(&service))
        }
        ServiceCommand::List => {
            let services: Vec<Value> = store.cas_services().await?.iter().map(describe).collect();
            super::print_json(&services)
        }
        ServiceCommand::Show { service } => match store.find_cas_service(&service).await? {
            Some(found) => super::print_json(&describe(&found)),
            None => anyhow::bail!("no CAS service has the id or name '{service}'"),
        },
        ServiceCommand::Remove { service } => {
            let Some(found) = store.find_cas_service(&service).await? else {
                anyhow::bail!("no CAS service has the id or name '{service}'");
            };
            store.remove_cas_service(&found.id).await?;
            eprintln!("removed CAS service '{}'", found.name);
            Ok(())
        }
    }
}
