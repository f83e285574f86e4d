use clap::{Args, Subcommand};
use serde_json::json;

use crate::config::Settings;
use crate::crypto::key_set::{self, KeySetSettings};
use crate::domain::client::{AuthMethod, GrantType, NewClient, RefreshLifetimes, SigningAlg};
use crate::domain::clock::{Clock, SystemClock};
use crate::domain::redirect_uri::RedirectUri;
use crate::oauth::clients;
use crate::store::Store;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a relying party; prints JSON with client_id and, once, client_secret.
    Add(Box<AddClient>),
    /// List the registered relying parties.
    List,
    /// Show one relying party.
    Show { client_id: String },
    /// Remove a relying party with its codes, tokens and consents.
    Remove { client_id: String },
    /// Issue an initial access token for dynamic client registration (RFC 7591); the
    /// token is printed once, as the last line.
    Token(TokenArgs),
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// How long the token may be used.
    #[arg(long, default_value = "1day", value_parser = humantime::parse_duration)]
    pub lifetime: std::time::Duration,
    /// The token may register any number of clients until it expires (by default it
    /// registers one).
    #[arg(long)]
    pub reusable: bool,
    /// What the token is for, kept in the database and the audit log.
    #[arg(long)]
    pub note: Option<String>,
}

#[derive(Debug, Args)]
pub struct AddClient {
    #[arg(long)]
    pub name: String,
    /// Exact redirect URI (repeatable).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may return (repeatable).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (native or browser app): no secret, PKCE required.
    #[arg(long)]
    pub public: bool,
    /// Skip the consent page (the university's own services).
    #[arg(long)]
    pub first_party: bool,
    /// client_secret_basic (default), client_secret_post, or none (public clients).
    #[arg(long)]
    pub auth_method: Option<String>,
    /// authorization_code (default), refresh_token, client_credentials (repeatable).
    #[arg(long = "grant-type")]
    pub grant_types: Vec<String>,
    /// RS256 (default), ES256 or EdDSA.
    #[arg(long, default_value = "RS256")]
    pub id_token_alg: String,
    /// opaque (default) or jwt (RFC 9068, verifiable by resource servers without a call).
    #[arg(long, default_value = "opaque")]
    pub access_token_format: String,
    /// Where logout tokens go when a session ends (Back-Channel Logout 1.0).
    #[arg(long)]
    pub backchannel_logout_uri: Option<String>,
    /// public (default: the same `sub` for every client) or pairwise (a `sub` of its own
    /// per sector, the redirect URIs' host).
    #[arg(long, default_value = "public")]
    pub subject_type: String,
    /// private_key_jwt: the client's public keys, a JWK Set file.
    #[arg(long)]
    pub jwks_file: Option<std::path::PathBuf>,
    /// private_key_jwt: where the client publishes its JWK Set.
    #[arg(long)]
    pub jwks_uri: Option<String>,
    /// Accept authorization requests from this client only when pushed first (RFC 9126).
    #[arg(long)]
    pub require_par: bool,
    /// How long an unused refresh token of this client lives (default: the configured one).
    #[arg(long, value_parser = humantime::parse_duration, requires = "refresh_absolute_lifetime")]
    pub refresh_idle_lifetime: Option<std::time::Duration>,
    /// Alumni may sign in to this relying party (others are closed to them).
    #[arg(long)]
    pub open_to_alumni: bool,
    /// Parent accounts may sign in to this relying party (others are closed to them).
    #[arg(long)]
    pub open_to_parents: bool,
    /// A university system that pushes per-person attributes (client_credentials with
    /// the etupass:attributes scope).
    #[arg(long)]
    pub attribute_writer: bool,
    /// A pushed attribute this relying party receives as a claim (repeatable).
    #[arg(long = "release-attribute")]
    pub released_attributes: Vec<String>,
    /// A service that checks app passwords of this purpose (`mail` for the mail server,
    /// `wifi` for the RADIUS server; repeatable). Needs `--grant-type client_credentials`.
    #[arg(long = "check-app-passwords", value_parser = parse_purpose)]
    pub app_password_purposes: Vec<crate::domain::app_password::Purpose>,
    /// A resource server (the IMAP server, an API) that introspects tokens issued to
    /// other clients (RFC 7662); any other client introspects only its own.
    #[arg(long)]
    pub introspect: bool,
    /// How long a refresh-token family of this client lives at most.
    #[arg(long, value_parser = humantime::parse_duration, requires = "refresh_idle_lifetime")]
    pub refresh_absolute_lifetime: Option<std::time::Duration>,
}

impl AddClient {
    fn into_new_client(self) -> anyhow::Result<NewClient> {
        let parse_uris = |list: &[String]| -> anyhow::Result<Vec<RedirectUri>> {
            Ok(list
                .iter()
                .map(|u| RedirectUri::parse(u))
                .collect::<Result<_, _>>()?)
        };
        let auth_method: AuthMethod = match (&self.auth_method, self.public) {
            (Some(method), _) => method.parse()?,
            (None, true) => AuthMethod::None,
            (None, false) => AuthMethod::ClientSecretBasic,
        };
        let grant_types: Vec<GrantType> = if self.grant_types.is_empty() {
            vec![GrantType::AuthorizationCode]
        } else {
            self.grant_types
                .iter()
                .map(|g| g.parse())
                .collect::<Result<_, _>>()?
        };
        Ok(NewClient {
            redirect_uris: parse_uris(&self.redirect_uris)?,
            post_logout_redirect_uris: parse_uris(&self.post_logout_redirect_uris)?,
            id_token_alg: self.id_token_alg.parse::<SigningAlg>()?,
            access_token_format: self.access_token_format.parse()?,
            pairwise: match self.subject_type.as_str() {
                "public" => false,
                "pairwise" => true,
                other => {
                    anyhow::bail!("unknown subject type '{other}' (expected public or pairwise)")
                }
            },
            backchannel_logout_uri: self
                .backchannel_logout_uri
                .as_deref()
                .map(RedirectUri::parse)
                .transpose()?,
            jwks: match &self.jwks_file {
                Some(path) => Some(
                    serde_json::from_slice(
                        &std::fs::read(path)
                            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?,
                    )
                    .map_err(|e| anyhow::anyhow!("{} is not JSON: {e}", path.display()))?,
                ),
                None => None,
            },
            jwks_uri: self
                .jwks_uri
                .as_deref()
                .map(RedirectUri::parse_web)
                .transpose()?,
            require_par: self.require_par,
            open_to_alumni: self.open_to_alumni,
            open_to_parents: self.open_to_parents,
            attribute_writer: self.attribute_writer,
            released_attributes: self.released_attributes,
            app_password_purposes: self.app_password_purposes,
            may_introspect: self.introspect,
            refresh_lifetimes: match (self.refresh_idle_lifetime, self.refresh_absolute_lifetime) {
                (Some(idle), Some(absolute)) => Some(RefreshLifetimes {
                    idle: idle.as_secs(),
                    absolute: absolute.as_secs(),
                }),
                _ => None,
            },
            name: self.name,
            grant_types,
            auth_method,
            public: self.public,
            first_party: self.first_party,
        })
    }
}

pub async fn run(settings: Settings, command: ClientCommand) -> anyhow::Result<()> {
    let store = Store::connect(settings.database_url.expose(), 1)?;
    store.migrate().await?;
    match command {
        ClientCommand::Add(args) => {
            let new = args.into_new_client()?;
            let (secrets, _) =
                key_set::open(KeySetSettings::from(&settings), &store, SystemClock.now()).await?;
            let server_key = secrets.token_secret;
            let (client, secret) =
                clients::register(&store, &server_key, new, SystemClock.now()).await?;
            let mut output = serde_json::to_value(&client)?;
            if let Some(secret) = secret {
                output["client_secret"] = json!(secret);
            }
            super::print_json(&output)
        }
        ClientCommand::List => super::print_json(&store.list_clients().await?),
        ClientCommand::Show { client_id } => match store.find_client(&client_id).await? {
            Some(client) => super::print_json(&client),
            None => anyhow::bail!("no client has id {client_id}"),
        },
        ClientCommand::Token(args) => {
            let now = SystemClock.now();
            let token = crate::oauth::registration::issue_initial_access_token(
                &store,
                args.note,
                args.reusable,
                now,
                now + args.lifetime.as_secs() as i64,
            )
            .await?;
            eprintln!(
                "initial access token, valid for {} (shown once):",
                humantime::format_duration(args.lifetime)
            );
            println!("{token}");
            Ok(())
        }
        ClientCommand::Remove { client_id } => {
            if store.remove_client(&client_id).await? {
                println!("removed {client_id}");
                Ok(())
            } else {
                anyhow::bail!("no client has id {client_id}")
            }
        }
    }
}

fn parse_purpose(raw: &str) -> Result<crate::domain::app_password::Purpose, String> {
    raw.parse().map_err(|e: crate::domain::Invalid| e.0)
}
