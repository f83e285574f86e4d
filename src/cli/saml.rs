//! `etupass saml sp add|list|show|remove|refresh`: the SAML service providers, registered
//! from their metadata (a file or an https URL), checked when loaded.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::config::Settings;
use crate::domain::clock::{Clock, SystemClock};
use crate::domain::saml::{self, ServiceProvider};
use crate::store::saml::NewServiceProvider;
use crate::store::{Store, StoreError};

#[derive(Debug, Subcommand)]
pub enum SamlCommand {
    /// The service providers that may receive assertions.
    #[command(subcommand)]
    Sp(SpCommand),
}

#[derive(Debug, Subcommand)]
pub enum SpCommand {
    /// Register a service provider from its metadata; prints it as JSON.
    Add(AddSp),
    /// List the registered service providers.
    List,
    /// Show one, by entity ID or id.
    Show { sp: String },
    /// Remove one, by entity ID or id.
    Remove { sp: String },
    /// Load an SP's metadata again from where it came from.
    Refresh { sp: String },
}

#[derive(Debug, Args)]
pub struct AddSp {
    /// The SP's metadata: a file, or an https URL.
    #[arg(long)]
    pub metadata: String,
    /// An attribute released to it (repeatable): eduPersonPrincipalName,
    /// eduPersonAffiliation, eduPersonScopedAffiliation, eduPersonEntitlement, pairwise-id,
    /// subject-id, mail, displayName, givenName, sn, uid, supannEtuId, supannEtablissement.
    #[arg(long = "attribute")]
    pub attributes: Vec<String>,
    /// Alumni may sign in to it.
    #[arg(long)]
    pub open_to_alumni: bool,
    /// Parent accounts may sign in to it.
    #[arg(long)]
    pub open_to_parents: bool,
}

pub fn describe(sp: &ServiceProvider) -> Value {
    let m = &sp.metadata;
    json!({
        "id": sp.id,
        "entity_id": m.entity_id,
        "assertion_consumer_services": m.consumers,
        "authn_requests_signed": m.authn_requests_signed,
        "want_assertions_signed": m.want_assertions_signed,
        "signing_certificates": m.signing_certificates.len(),
        "encryption": m.encryption_certificate.is_some(),
        "valid_until": m.valid_until,
        "attributes": sp.attributes,
        "open_to_alumni": sp.open_to_alumni,
        "open_to_parents": sp.open_to_parents,
        "source": sp.source,
        "created_at": sp.created_at,
    })
}

/// The metadata document at `source`: a file, or an https URL (certificate checked, no
/// redirect, 10 s, 1 MiB at most).
async fn read_metadata(source: &str) -> anyhow::Result<String> {
    if source.starts_with("https://") || source.starts_with("http://") {
        if !source.starts_with("https://") {
            anyhow::bail!("metadata is fetched over https only: {source}");
        }
        let http = crate::oauth::outbound::client(std::time::Duration::from_secs(10));
        let response = http.get(source).send().await?;
        if !response.status().is_success() {
            anyhow::bail!("{source} answered {}", response.status());
        }
        let body = response.bytes().await?;
        if body.len() > 1 << 20 {
            anyhow::bail!("the metadata at {source} is larger than 1 MiB");
        }
        return Ok(String::from_utf8(body.to_vec())?);
    }
    std::fs::read_to_string(source).map_err(|e| anyhow::anyhow!("{source}: {e}"))
}

pub async fn run(settings: Settings, command: SamlCommand) -> anyhow::Result<()> {
    let store = Store::connect(settings.database_url.expose(), 1)?;
    store.migrate().await?;
    let SamlCommand::Sp(command) = command;
    let now = SystemClock.now();
    let find = |key: String| {
        let store = store.clone();
        async move {
            match store.find_service_provider(&key).await? {
                Some(sp) => Ok(sp),
                None => anyhow::bail!("no service provider has the entity ID or id '{key}'"),
            }
        }
    };
    match command {
        SpCommand::Add(args) => {
            for attribute in &args.attributes {
                if !saml::ATTRIBUTES.contains(&attribute.as_str()) {
                    anyhow::bail!(
                        "unknown attribute '{attribute}' (known: {})",
                        saml::ATTRIBUTES.join(", ")
                    );
                }
            }
            let document = read_metadata(&args.metadata).await?;
            let metadata = saml::parse_metadata(&document, now)?;
            let entity_id = metadata.entity_id.clone();
            let source = match std::fs::canonicalize(&args.metadata) {
                Ok(path) => path.display().to_string(),
                Err(_) => args.metadata.clone(),
            };
            let new = NewServiceProvider {
                metadata,
                document,
                attributes: args.attributes,
                open_to_alumni: args.open_to_alumni,
                open_to_parents: args.open_to_parents,
                source,
            };
            match store.add_service_provider(new, now).await {
                Ok(sp) => super::print_json(&describe(&sp)),
                Err(StoreError::Conflict(_)) => {
                    anyhow::bail!("{entity_id} is already registered (use refresh)")
                }
                Err(other) => Err(other.into()),
            }
        }
        SpCommand::List => {
            let list: Vec<Value> = store
                .service_providers()
                .await?
                .iter()
                .map(describe)
                .collect();
            super::print_json(&list)
        }
        SpCommand::Show { sp } => super::print_json(&describe(&find(sp).await?)),
        SpCommand::Remove { sp } => {
            let sp = find(sp).await?;
            store.remove_service_provider(&sp.id).await?;
            eprintln!("removed service provider {}", sp.metadata.entity_id);
            Ok(())
        }
        SpCommand::Refresh { sp } => {
            let sp = find(sp).await?;
            let document = read_metadata(&sp.source).await?;
            let metadata = saml::parse_metadata(&document, now)?;
            if metadata.entity_id != sp.metadata.entity_id {
                anyhow::bail!(
                    "the metadata at {} is now for {}, not {}",
                    sp.source,
                    metadata.entity_id,
                    sp.metadata.entity_id
                );
            }
            let sp = store
                .refresh_service_provider(&sp, metadata, document, now)
                .await?;
            super::print_json(&describe(&sp))
        }
    }
}
