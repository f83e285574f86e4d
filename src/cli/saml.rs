//! `etupass saml sp add|list|show|remove|refresh`: the SAML service providers, registered
//! from their metadata (a file or an https URL), checked when loaded; and
//! `etupass saml federation load`: every SP of a federation's signed metadata aggregate.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::config::Settings;
use crate::domain::clock::{Clock, SystemClock};
use crate::domain::saml::{self, ServiceProvider, SpMetadata};
use crate::saml::peer_metadata::{self, Signer};
use crate::store::saml::NewServiceProvider;
use crate::store::{Store, StoreError};

#[derive(Debug, Subcommand)]
pub enum SamlCommand {
    /// The service providers that may receive assertions.
    #[command(subcommand)]
    Sp(SpCommand),
    /// A federation's metadata aggregate.
    #[command(subcommand)]
    Federation(FederationCommand),
}

#[derive(Debug, Subcommand)]
pub enum FederationCommand {
    /// Register every SP of a signed metadata aggregate (a file or an https URL); run
    /// again to follow the federation: SPs it added are registered, changed ones
    /// refreshed, the ones it dropped removed. Prints what changed as JSON.
    Load(LoadFederation),
}

#[derive(Debug, Args)]
pub struct LoadFederation {
    /// The aggregate: a file, or an https URL.
    #[arg(long)]
    pub metadata: String,
    /// The certificate (PEM) the federation signs its aggregate with, obtained from the
    /// federation out of band. An aggregate not signed by it is refused whole.
    #[arg(long)]
    pub certificate: String,
    /// What the SPs it registers are given.
    #[command(flatten)]
    pub release: Release,
}

/// What an administrator gives an SP: the attributes released to it, and who may sign in.
#[derive(Debug, Args)]
pub struct Release {
    /// An attribute released (repeatable): eduPersonPrincipalName, eduPersonAffiliation,
    /// eduPersonScopedAffiliation, eduPersonEntitlement, pairwise-id, subject-id, mail,
    /// displayName, givenName, sn, uid, supannEtuId, supannEtablissement.
    #[arg(long = "attribute")]
    pub attributes: Vec<String>,
    /// Alumni may sign in.
    #[arg(long)]
    pub open_to_alumni: bool,
    /// Parent accounts may sign in.
    #[arg(long)]
    pub open_to_parents: bool,
}

impl Release {
    /// Refuses an attribute Etupass does not know, before any metadata is fetched.
    fn check(&self) -> anyhow::Result<()> {
        for attribute in &self.attributes {
            if !saml::ATTRIBUTES.contains(&attribute.as_str()) {
                anyhow::bail!(
                    "unknown attribute '{attribute}' (known: {})",
                    saml::ATTRIBUTES.join(", ")
                );
            }
        }
        Ok(())
    }

    /// The registration of an SP from `metadata` (read from `source`) with these choices.
    fn register(
        &self,
        metadata: SpMetadata,
        document: String,
        source: String,
    ) -> NewServiceProvider {
        NewServiceProvider {
            metadata,
            document,
            attributes: self.attributes.clone(),
            open_to_alumni: self.open_to_alumni,
            open_to_parents: self.open_to_parents,
            sign_response: false,
            metadata_certificate: None,
            source,
        }
    }
}

/// Where metadata was read from, as `refresh` and `federation load` find it again: a
/// file's absolute path, or the URL.
fn source_of(location: &str) -> String {
    match std::fs::canonicalize(location) {
        Ok(path) => path.display().to_string(),
        Err(_) => location.to_string(),
    }
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
    /// Load an SP's metadata again from where it came from; prints what changed.
    Refresh {
        sp: String,
        /// The certificate (PEM) its metadata must be signed with.
        #[arg(long)]
        certificate: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct AddSp {
    /// The SP's metadata: a file, or an https URL.
    #[arg(long)]
    pub metadata: String,
    /// What it is given.
    #[command(flatten)]
    pub release: Release,
    /// Sign the whole Response too, not only the assertion (for SAML libraries that
    /// check only the Response's signature).
    #[arg(long)]
    pub sign_response: bool,
    /// The certificate (PEM) its metadata must be signed with. Without it, signed
    /// metadata is still checked against the certificate in its own signature.
    #[arg(long)]
    pub certificate: Option<String>,
}

pub fn describe(sp: &ServiceProvider) -> Value {
    let m = &sp.metadata;
    json!({
        "id": sp.id,
        "entity_id": m.entity_id,
        "assertion_consumer_services": m.consumers,
        "authn_requests_signed": m.authn_requests_signed,
        "want_assertions_signed": m.want_assertions_signed,
        "signing_certificates": m.signing_certificates.iter().map(|c| fingerprint(c)).collect::<Vec<_>>(),
        "encryption_certificate": m.encryption_certificate.as_deref().map(fingerprint),
        "logout_services": m.logout_services,
        "valid_until": m.valid_until,
        "attributes": sp.attributes,
        "open_to_alumni": sp.open_to_alumni,
        "open_to_parents": sp.open_to_parents,
        "sign_response": sp.sign_response,
        "metadata_certificate": sp.metadata_certificate.as_deref().map(fingerprint),
        "source": sp.source,
        "created_at": sp.created_at,
    })
}

/// How large an SP's metadata may be; a federation's aggregate, with thousands of
/// entities, may be far larger.
const MAX_METADATA_BYTES: usize = 1 << 20;
const MAX_AGGREGATE_BYTES: usize = 100 << 20;

/// A certificate (base64 DER) by its SHA-256 fingerprint, as `openssl x509 -fingerprint
/// -sha256` prints it.
fn fingerprint(certificate: &str) -> String {
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(certificate)
        .unwrap_or_default();
    openssl::sha::sha256(&der)
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn base64_der(der: &[u8]) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der)
}

/// The metadata document at `source`: a file, or an https URL (certificate checked, no
/// redirect, `max_bytes` at most).
async fn read_metadata(source: &str, max_bytes: usize) -> anyhow::Result<String> {
    let too_large = || anyhow::anyhow!("the metadata at {source} is larger than {max_bytes} bytes");
    if source.starts_with("https://") || source.starts_with("http://") {
        if !source.starts_with("https://") {
            anyhow::bail!("metadata is fetched over https only: {source}");
        }
        let http = crate::oauth::outbound::client(std::time::Duration::from_secs(60));
        let mut response = http.get(source).send().await?;
        if !response.status().is_success() {
            anyhow::bail!("{source} answered {}", response.status());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        return Ok(String::from_utf8(body)?);
    }
    let size = std::fs::metadata(source)
        .map_err(|e| anyhow::anyhow!("{source}: {e}"))?
        .len();
    if size > max_bytes as u64 {
        return Err(too_large());
    }
    std::fs::read_to_string(source).map_err(|e| anyhow::anyhow!("{source}: {e}"))
}

/// The certificate in the PEM file at `path`, in DER.
fn read_certificate(path: &str) -> anyhow::Result<Vec<u8>> {
    let pem = std::fs::read(path).map_err(|e| anyhow::anyhow!("{path}: {e}"))?;
    let certificate = openssl::x509::X509::from_pem(&pem)
        .map_err(|_| anyhow::anyhow!("{path} holds no PEM certificate"))?;
    Ok(certificate.to_der()?)
}

/// One SP's metadata at `source`, its signature checked (against `trusted`, DER, when
/// given), then read.
async fn load_sp_metadata(
    source: &str,
    trusted: Option<&[u8]>,
    now: i64,
) -> anyhow::Result<(SpMetadata, String)> {
    let document = read_metadata(source, MAX_METADATA_BYTES).await?;
    if crate::saml::incoming::root_is(&document, "EntitiesDescriptor") {
        anyhow::bail!(
            "{source} is a metadata aggregate: register its SPs with `etupass saml federation load`"
        );
    }
    let signer = match trusted {
        Some(der) => Signer::Trusted(der),
        None => Signer::Itself,
    };
    let content = peer_metadata::checked(&document, "EntityDescriptor", signer)?;
    let metadata = saml::parse_metadata(&content, now)?;
    Ok((metadata, document))
}

/// The fields of `describe` whose value differ between `before` and `after`.
fn changes(before: &Value, after: &Value) -> Vec<String> {
    let (Some(before), Some(after)) = (before.as_object(), after.as_object()) else {
        return Vec::new();
    };
    after
        .iter()
        .filter(|(key, value)| before.get(*key) != Some(*value))
        .map(|(key, _)| key.clone())
        .collect()
}

pub async fn run(settings: Settings, command: SamlCommand) -> anyhow::Result<()> {
    let store = Store::connect(settings.database_url.expose(), 1)?;
    store.migrate().await?;
    let now = SystemClock.now();
    let command = match command {
        SamlCommand::Sp(command) => command,
        SamlCommand::Federation(FederationCommand::Load(args)) => {
            return load_federation(&store, args, now).await
        }
    };
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
            args.release.check()?;
            let trusted = args
                .certificate
                .as_deref()
                .map(read_certificate)
                .transpose()?;
            let (metadata, document) =
                load_sp_metadata(&args.metadata, trusted.as_deref(), now).await?;
            let entity_id = metadata.entity_id.clone();
            let new = NewServiceProvider {
                sign_response: args.sign_response,
                metadata_certificate: trusted.map(|der| base64_der(&der)),
                ..args
                    .release
                    .register(metadata, document, source_of(&args.metadata))
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
        SpCommand::Refresh { sp, certificate } => {
            let mut sp = find(sp).await?;
            let before = describe(&sp);
            // The certificate given now replaces the one given before; without one, the
            // one given before is checked again.
            if let Some(path) = certificate {
                sp.metadata_certificate = Some(base64_der(&read_certificate(&path)?));
            }
            let trusted = sp
                .metadata_certificate
                .as_deref()
                .map(|b64| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b64))
                .transpose()?;
            let (metadata, document) =
                load_sp_metadata(&sp.source, trusted.as_deref(), now).await?;
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
            let after = describe(&sp);
            let changed = changes(&before, &after);
            super::print_json(&json!({ "changed": changed, "service_provider": after }))
        }
    }
}

/// `saml federation load`: the aggregate is taken whole or not at all (its signature,
/// its validity), then each SP in it on its own. SPs registered by hand (from another
/// source) are never touched by it.
async fn load_federation(store: &Store, args: LoadFederation, now: i64) -> anyhow::Result<()> {
    args.release.check()?;
    let trusted = read_certificate(&args.certificate)?;
    let document = read_metadata(&args.metadata, MAX_AGGREGATE_BYTES).await?;
    let content =
        peer_metadata::checked(&document, "EntitiesDescriptor", Signer::Trusted(&trusted))?;
    let members = saml::parse_aggregate(&content, now)?;
    let source = source_of(&args.metadata);
    let registered = store.service_providers().await?;
    let (mut added, mut updated, mut unchanged, mut removed, mut skipped) =
        (Vec::new(), Vec::new(), 0usize, Vec::new(), Vec::new());
    let mut seen = std::collections::HashSet::new();
    for member in members {
        let (metadata, entity_document) = match member {
            Ok(member) => member,
            Err((entity_id, why)) => {
                // An SP registered from an earlier aggregate keeps that version: a defect
                // of this one (a certificate that will be fixed) does not remove it.
                skipped.push(json!({ "entity_id": entity_id, "why": why.0 }));
                seen.insert(entity_id);
                continue;
            }
        };
        let entity_id = metadata.entity_id.clone();
        if !seen.insert(entity_id.clone()) {
            skipped.push(json!({ "entity_id": entity_id, "why": "listed twice in the aggregate" }));
            continue;
        }
        match registered
            .iter()
            .find(|sp| sp.metadata.entity_id == entity_id)
        {
            Some(sp) if sp.source != source => skipped.push(json!({
                "entity_id": entity_id,
                "why": format!("registered separately (from {}): left as it is", sp.source),
            })),
            Some(sp) => {
                let before = describe(sp);
                let sp = store
                    .refresh_service_provider(sp, metadata, entity_document, now)
                    .await?;
                if changes(&before, &describe(&sp)).is_empty() {
                    unchanged += 1;
                } else {
                    updated.push(entity_id);
                }
            }
            None => {
                let new = args
                    .release
                    .register(metadata, entity_document, source.clone());
                store.add_service_provider(new, now).await?;
                added.push(entity_id);
            }
        }
    }
    for sp in registered
        .iter()
        .filter(|sp| sp.source == source && !seen.contains(&sp.metadata.entity_id))
    {
        store.remove_service_provider(&sp.id).await?;
        removed.push(sp.metadata.entity_id.clone());
    }
    super::print_json(&json!({
        "source": source,
        "added": added,
        "updated": updated,
        "unchanged": unchanged,
        "removed": removed,
        "skipped": skipped,
    }))
}
