//! Dynamic client registration (RFC 7591) and management (RFC 7592). Registration needs
//! an initial access token from an administrator (`etupass client token`); each client
//! registered gets a registration access token that lets it read, replace or delete its
//! own registration at `/register/{client_id}`, and nothing else.

use serde::Deserialize;
use serde_json::{json, Value};

use super::clients::{issue_credentials, RegistrationError};
use super::discovery::REGISTRATION_PATH;
use super::error::{ErrorCode, OAuthError};
use crate::crypto::token;
use crate::domain::audit::{events, AuditEvent, RequestContext};
use crate::domain::client::{
    check_public_jwks, AuthMethod, Client, GrantType, NewClient, SigningAlg,
};
use crate::domain::clock::UnixTime;
use crate::domain::redirect_uri::RedirectUri;
use crate::domain::Invalid;
use crate::provider::Provider;
use crate::store::clients::ClientCredentials;
use crate::store::Store;

/// Issues an initial access token; returns it (shown once, stored as a digest).
/// It registers one client, or any number until it expires when `reusable`.
pub async fn issue_initial_access_token(
    store: &Store,
    note: Option<String>,
    reusable: bool,
    now: UnixTime,
    expires_at: UnixTime,
) -> Result<String, RegistrationError> {
    let secret = token::generate();
    store
        .save_initial_access_token(
            token::digest(&secret),
            note.clone(),
            reusable,
            now,
            expires_at,
        )
        .await?;
    let mut event = AuditEvent::new(
        events::INITIAL_ACCESS_TOKEN_ISSUED,
        now,
        &RequestContext::default(),
    );
    if let Some(note) = note {
        event = event.detail(note);
    }
    store.record_audit(event).await?;
    Ok(secret)
}

/// The longest `client_name` a registrant may choose: the consent page shows it in full.
const CLIENT_NAME_MAX_CHARS: usize = 80;

/// A registrant's `client_name`, shown on the consent page: printable, one line, short
/// (a name of many lines or thousands of characters could push the real relying party's
/// address out of sight or imitate Etupass's own words).
fn client_name(name: Option<String>) -> Result<String, OAuthError> {
    let Some(name) = name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()) else {
        return Ok("Unnamed application".into());
    };
    if name.chars().count() > CLIENT_NAME_MAX_CHARS {
        return Err(invalid_metadata(format!(
            "client_name is longer than {CLIENT_NAME_MAX_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid_metadata("client_name must be one line of text"));
    }
    // Invisible and direction-changing characters could make the name read as another.
    let invisible = |c: char| {
        matches!(c, '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{FEFF}')
            || ('\u{200B}'..='\u{200F}').contains(&c)
            || ('\u{202A}'..='\u{202E}').contains(&c)
            || ('\u{2060}'..='\u{2069}').contains(&c)
    };
    if name.chars().any(invisible) {
        return Err(invalid_metadata(
            "client_name must not hold invisible or direction characters",
        ));
    }
    Ok(name)
}

/// Client metadata as RFC 7591 §2 defines it; unknown members are ignored (§3.1).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ClientMetadata {
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    client_name: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    id_token_signed_response_alg: Option<String>,
    subject_type: Option<String>,
    jwks: Option<Value>,
    jwks_uri: Option<String>,
    backchannel_logout_uri: Option<String>,
    require_pushed_authorization_requests: bool,
    /// RFC 7592 §2.2: an update names the client it replaces…
    client_id: Option<String>,
    /// …and may repeat its secret, which must then be the current one.
    client_secret: Option<String>,
}

fn invalid_metadata(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, description)
}

fn invalid_redirect_uri(error: Invalid) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRedirectUri, error.to_string())
}

impl ClientMetadata {
    pub fn parse(body: &[u8]) -> Result<ClientMetadata, OAuthError> {
        serde_json::from_slice(body)
            .map_err(|e| invalid_metadata(format!("the body is not client metadata JSON: {e}")))
    }

    /// The client to store. Redirect URIs follow the registration rules, with the web
    /// ones of RFC 7591 on top: https, or http on a loopback address.
    fn into_new_client(self) -> Result<NewClient, OAuthError> {
        let web_uris = |list: &[String]| -> Result<Vec<RedirectUri>, OAuthError> {
            list.iter()
                .map(|u| RedirectUri::parse_web(u).map_err(invalid_redirect_uri))
                .collect()
        };
        let grant_types: Vec<GrantType> = match &self.grant_types {
            None => vec![GrantType::AuthorizationCode],
            Some(list) => list
                .iter()
                .map(|g| {
                    g.parse()
                        .map_err(|e: Invalid| invalid_metadata(e.to_string()))
                })
                .collect::<Result<_, _>>()?,
        };
        // RFC 7591 §2.1: response types and grant types must agree.
        let wants_code = grant_types.contains(&GrantType::AuthorizationCode);
        match self.response_types.as_deref() {
            None => {}
            Some([]) if !wants_code => {}
            Some([only]) if only == "code" && wants_code => {}
            Some(_) => {
                return Err(invalid_metadata(
                    "response_types must be [\"code\"], with the authorization_code grant",
                ))
            }
        }
        let auth_method: AuthMethod = self
            .token_endpoint_auth_method
            .as_deref()
            .unwrap_or("client_secret_basic")
            .parse()
            .map_err(|e: Invalid| invalid_metadata(e.to_string()))?;
        if let Some(jwks) = &self.jwks {
            check_public_jwks(jwks).map_err(|e| invalid_metadata(e.to_string()))?;
        }
        let new = NewClient {
            redirect_uris: web_uris(&self.redirect_uris)?,
            post_logout_redirect_uris: web_uris(&self.post_logout_redirect_uris)?,
            public: auth_method == AuthMethod::None,
            id_token_alg: self
                .id_token_signed_response_alg
                .as_deref()
                .unwrap_or("RS256")
                .parse::<SigningAlg>()
                .map_err(|e| invalid_metadata(e.to_string()))?,
            pairwise: match self.subject_type.as_deref() {
                None | Some("public") => false,
                Some("pairwise") => true,
                Some(other) => {
                    return Err(invalid_metadata(format!(
                        "subject_type '{other}' is not supported (public or pairwise)"
                    )))
                }
            },
            jwks_uri: self.jwks_uri.as_deref().map(outbound_uri).transpose()?,
            backchannel_logout_uri: self
                .backchannel_logout_uri
                .as_deref()
                .map(outbound_uri)
                .transpose()?,
            jwks: self.jwks,
            require_par: self.require_pushed_authorization_requests,
            grant_types,
            auth_method,
            // Dynamically registered clients are never first-party: the person always
            // sees, and agrees to, what such a client receives.
            first_party: false,
            ..NewClient::new(client_name(self.client_name)?)
        };
        new.validate()
            .map_err(|e| invalid_metadata(e.to_string()))?;
        // A pairwise sector is the redirect URIs' host, which a registrant need not own:
        // without a redirect to deliver through, a client naming another's host would
        // receive that relying party's subjects. So pairwise means the code flow only.
        if new.pairwise
            && new
                .grant_types
                .iter()
                .any(|g| !matches!(g, GrantType::AuthorizationCode | GrantType::RefreshToken))
        {
            return Err(invalid_metadata(
                "a pairwise client registered here may use only authorization_code and refresh_token",
            ));
        }
        Ok(new)
    }
}

/// A URI Etupass itself will call for a registrant (its JWKS, its back-channel logout):
/// https, and not a name or address of this machine or of a private network, so that
/// registering cannot turn Etupass into a probe of the university's internal services.
/// (A name that resolves to such an address is not caught here; administrators who
/// register clients by hand are not limited.)
fn outbound_uri(raw: &str) -> Result<RedirectUri, OAuthError> {
    let refuse = |why: &str| invalid_metadata(format!("'{raw}': {why}"));
    let uri = RedirectUri::parse_web(raw).map_err(|e| invalid_metadata(e.to_string()))?;
    let url = url::Url::parse(raw).map_err(|_| refuse("not a URL"))?;
    if url.scheme() != "https" {
        return Err(refuse("must be https"));
    }
    let internal = match url.host() {
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost") || !name.contains('.')
        }
        // Names are checked again when they are resolved, at each call (`outbound`).
        Some(_) => !super::outbound::literal_host_is_public(&url, false),
        None => true,
    };
    if internal {
        return Err(refuse(
            "must not point at this machine or a private network",
        ));
    }
    Ok(uri)
}

/// The registration response (RFC 7591 §3.2.1) or read response (RFC 7592 §3).
fn metadata_of(provider: &Provider, client: &Client) -> Value {
    fn uris(list: &[RedirectUri]) -> Vec<&str> {
        list.iter().map(RedirectUri::as_str).collect()
    }
    let mut body = json!({
        "client_id": client.client_id,
        "client_id_issued_at": client.created_at,
        "client_name": client.name,
        "redirect_uris": uris(&client.redirect_uris),
        "post_logout_redirect_uris": uris(&client.post_logout_redirect_uris),
        "grant_types": client.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "response_types": if client.allows_grant(GrantType::AuthorizationCode) { vec!["code"] } else { vec![] },
        "token_endpoint_auth_method": client.token_endpoint_auth_method.as_str(),
        "id_token_signed_response_alg": client.id_token_signed_response_alg.as_str(),
        "subject_type": if client.pairwise_sector.is_some() { "pairwise" } else { "public" },
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        "registration_client_uri": provider
            .settings
            .endpoint(&format!("{REGISTRATION_PATH}/{}", client.client_id)),
    });
    if let Some(jwks) = &client.jwks {
        body["jwks"] = jwks.clone();
    }
    if let Some(uri) = &client.jwks_uri {
        body["jwks_uri"] = json!(uri);
    }
    if let Some(uri) = &client.backchannel_logout_uri {
        body["backchannel_logout_uri"] = json!(uri.as_str());
        body["backchannel_logout_session_required"] = json!(true);
    }
    body
}

/// Adds the secrets issued by this call: shown once, never readable again.
fn with_secrets(mut body: Value, secret: Option<String>, registration_token: &str) -> Value {
    if let Some(secret) = secret {
        body["client_secret"] = json!(secret);
        // RFC 7591 §3.2.1: 0 means it does not expire.
        body["client_secret_expires_at"] = json!(0);
    }
    body["registration_access_token"] = json!(registration_token);
    body
}

fn no_access() -> OAuthError {
    OAuthError::invalid_token("a valid initial access token is required to register")
}

/// `POST /register`.
pub async fn register(
    provider: &Provider,
    authorization: Option<&str>,
    body: &[u8],
    context: &RequestContext,
) -> Result<Value, OAuthError> {
    let presented = super::bearer_token(authorization).ok_or_else(no_access)?;
    let now = provider.now();
    let note = provider
        .store
        .find_initial_access_token(token::digest(presented), now)
        .await?
        .ok_or_else(no_access)?;
    let metadata = ClientMetadata::parse(body)?;
    if metadata.client_id.is_some() || metadata.client_secret.is_some() {
        return Err(invalid_metadata(
            "client_id and client_secret are assigned by the server",
        ));
    }
    let new = metadata.into_new_client()?;
    // Spent only once the metadata is valid: a refused registration can be corrected.
    if !provider
        .store
        .spend_initial_access_token(token::digest(presented), now)
        .await?
    {
        return Err(no_access());
    }
    let (mut credentials, secret) = issue_credentials(&provider.token_secret, new.auth_method);
    let registration_token = token::generate();
    credentials.registration_token_hash = Some(token::digest(&registration_token));
    let client = provider.store.create_client(new, credentials, now).await?;
    let detail = format!(
        "client {} ({}){}",
        client.client_id,
        client.name,
        note.map(|n| format!(", initial access token: {n}"))
            .unwrap_or_default()
    );
    provider
        .store
        .record_audit(AuditEvent::new(events::CLIENT_REGISTERED, now, context).detail(detail))
        .await?;
    Ok(with_secrets(
        metadata_of(provider, &client),
        secret,
        &registration_token,
    ))
}

/// The client whose registration access token this is (RFC 7592 §2: a wrong token, or
/// a client that is gone, is the same 401).
async fn managed_client(
    provider: &Provider,
    client_id: &str,
    authorization: Option<&str>,
) -> Result<Client, OAuthError> {
    let refused = || OAuthError::invalid_token("the registration access token is not valid");
    let presented = super::bearer_token(authorization).ok_or_else(refused)?;
    let client = provider
        .store
        .find_client(client_id)
        .await?
        .ok_or_else(refused)?;
    match &client.registration_token_hash {
        Some(hash) if token::matches_digest(presented, hash) => Ok(client),
        _ => Err(refused()),
    }
}

/// `GET /register/{client_id}`.
pub async fn read(
    provider: &Provider,
    client_id: &str,
    authorization: Option<&str>,
) -> Result<Value, OAuthError> {
    let client = managed_client(provider, client_id, authorization).await?;
    Ok(metadata_of(provider, &client))
}

/// `PUT /register/{client_id}`: the metadata is replaced as a whole (RFC 7592 §2.2). A
/// changed authentication method gets new credentials; otherwise the secret is kept.
pub async fn update(
    provider: &Provider,
    client_id: &str,
    authorization: Option<&str>,
    body: &[u8],
    context: &RequestContext,
) -> Result<Value, OAuthError> {
    let client = managed_client(provider, client_id, authorization).await?;
    let metadata = ClientMetadata::parse(body)?;
    if metadata.client_id.as_deref() != Some(client_id) {
        return Err(invalid_metadata(
            "the body's client_id must be the client's",
        ));
    }
    // RFC 7592 §2.2: a client never chooses its own secret.
    if let Some(secret) = &metadata.client_secret {
        let current = match (&client.secret_hash, &client.secret_salt) {
            (Some(hash), _) => token::matches_digest(secret, hash),
            (None, Some(salt)) => token::constant_time_eq(
                super::clients::derived_secret(&provider.token_secret, salt).as_bytes(),
                secret.as_bytes(),
            ),
            (None, None) => false,
        };
        if !current {
            return Err(invalid_metadata(
                "client_secret is not the client's current secret",
            ));
        }
    }
    let new = metadata.into_new_client()?;
    let (credentials, secret) = if new.auth_method == client.token_endpoint_auth_method {
        let kept = ClientCredentials {
            secret_hash: client.secret_hash.clone(),
            secret_salt: client.secret_salt.clone(),
            registration_token_hash: client.registration_token_hash.clone(),
        };
        (kept, None)
    } else {
        let (mut fresh, secret) = issue_credentials(&provider.token_secret, new.auth_method);
        fresh.registration_token_hash = client.registration_token_hash.clone();
        (fresh, secret)
    };
    let updated = provider
        .store
        .replace_client(client_id, new, credentials)
        .await?
        .ok_or_else(|| OAuthError::invalid_token("the registration access token is not valid"))?;
    provider
        .store
        .record_audit(
            AuditEvent::new(events::CLIENT_UPDATED, provider.now(), context)
                .detail(format!("client {client_id}")),
        )
        .await?;
    let mut body = metadata_of(provider, &updated);
    if let Some(secret) = secret {
        body["client_secret"] = json!(secret);
        body["client_secret_expires_at"] = json!(0);
    }
    Ok(body)
}

/// `DELETE /register/{client_id}`: the client and, by cascade, its grants are removed.
pub async fn delete(
    provider: &Provider,
    client_id: &str,
    authorization: Option<&str>,
    context: &RequestContext,
) -> Result<(), OAuthError> {
    let client = managed_client(provider, client_id, authorization).await?;
    provider.store.remove_client(&client.client_id).await?;
    provider
        .store
        .record_audit(
            AuditEvent::new(events::CLIENT_DELETED, provider.now(), context)
                .detail(format!("client {client_id}")),
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(value: Value) -> Result<NewClient, OAuthError> {
        ClientMetadata::parse(value.to_string().as_bytes())?.into_new_client()
    }

    #[test]
    fn redirect_uris_must_be_https_or_loopback_without_fragment() {
        for bad in [
            "http://rp.example/cb",
            "https://rp.example/cb#frag",
            "/relative",
            "com.example.app:/cb",
        ] {
            let err = metadata(json!({"redirect_uris": [bad]})).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidRedirectUri, "{bad}");
        }
        assert!(metadata(json!({"redirect_uris": ["http://127.0.0.1:8080/cb"]})).is_ok());
        assert!(metadata(json!({"redirect_uris": ["https://rp.example/cb"]})).is_ok());
    }

    #[test]
    fn metadata_must_be_consistent() {
        let no_uri = metadata(json!({"client_name": "x"})).unwrap_err();
        assert_eq!(no_uri.code, ErrorCode::InvalidClientMetadata);
        let token_response = metadata(
            json!({"redirect_uris": ["https://rp.example/cb"], "response_types": ["token"]}),
        );
        assert_eq!(
            token_response.unwrap_err().code,
            ErrorCode::InvalidClientMetadata
        );
        let method = metadata(
            json!({"redirect_uris": ["https://rp.example/cb"], "token_endpoint_auth_method": "tls_client_auth"}),
        );
        assert_eq!(method.unwrap_err().code, ErrorCode::InvalidClientMetadata);
        let public = metadata(json!({"redirect_uris": ["https://rp.example/cb"], "token_endpoint_auth_method": "none"})).unwrap();
        assert!(public.public && !public.first_party);
        let pairwise_device = metadata(
            json!({"redirect_uris": ["https://rp.example/cb"], "subject_type": "pairwise", "grant_types": ["urn:ietf:params:oauth:grant-type:device_code"]}),
        );
        assert_eq!(
            pairwise_device.unwrap_err().code,
            ErrorCode::InvalidClientMetadata
        );
    }

    #[test]
    fn uris_etupass_calls_must_be_public_https() {
        for internal in [
            "http://rp.example/jwks",
            "https://localhost/jwks",
            "https://127.0.0.1/jwks",
            "https://10.1.2.3/jwks",
            "https://192.168.0.1/jwks",
            "https://169.254.169.254/latest",
            "https://[::1]/jwks",
            "https://[fd00::1]/jwks",
            "https://intranet/jwks",
        ] {
            assert!(outbound_uri(internal).is_err(), "{internal}");
        }
        assert!(outbound_uri("https://lms.univ.example/jwks.json").is_ok());
    }
}
