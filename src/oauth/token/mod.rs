//! The token endpoint (RFC 6749 §3.2): `parse_request` → `authenticate_client` →
//! the grant named by `grant_type`, from the registry below.

mod authorization_code;
mod client_credentials;
mod device_code;
mod refresh_token;

use std::collections::HashMap;

use serde::Serialize;

use super::client_auth;
use super::error::{ErrorCode, OAuthError};
use super::id_token::{self, SignInFacts};
use crate::crypto::jwt;
use crate::crypto::token;
use crate::domain::client::{AccessTokenFormat, Client, GrantType, RefreshLifetimes};
use crate::domain::clock::UnixTime;
use crate::domain::grant::{AccessToken, IssuedTokens, RefreshToken};
use crate::domain::identity::Identity;
use crate::domain::scope::{self, Scope};
use crate::provider::Provider;
use serde_json::json;

/// The successful response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// The form parameters, each present at most once (RFC 6749 §3.2).
#[derive(Debug)]
pub struct TokenRequest {
    params: HashMap<String, String>,
}

impl TokenRequest {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
    }
}

impl TokenRequest {
    /// The form parameters, each present at most once (RFC 6749 §3.2).
    pub fn parse(form: Vec<(String, String)>) -> Result<TokenRequest, OAuthError> {
        parse_request(form)
    }

    /// The client that sent this form, authenticated by whichever method it uses.
    pub async fn authenticate_client(
        &self,
        provider: &Provider,
        authorization: Option<&str>,
        endpoint: &str,
    ) -> Result<Client, OAuthError> {
        client_auth::authenticate_request(
            provider,
            authorization,
            client_auth::FormCredentials::read(|name| self.get(name)),
            endpoint,
        )
        .await
    }
}

pub async fn handle(
    provider: &Provider,
    form: Vec<(String, String)>,
    authorization: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let request = parse_request(form)?;
    if request.get("grant_type") == Some("client_credentials") {
        // A service asking again and again: it authenticates against the client this
        // instance remembers, and its token's commit checks the client is unchanged.
        return client_credentials::handle(provider, &request, authorization).await;
    }
    let client = request
        .authenticate_client(provider, authorization, super::discovery::TOKEN_PATH)
        .await?;
    match request.require("grant_type")? {
        "authorization_code" => authorization_code::handle(provider, &client, &request).await,
        "refresh_token" => refresh_token::handle(provider, &client, &request).await,
        crate::domain::client::DEVICE_CODE_GRANT => {
            device_code::handle(provider, &client, &request).await
        }
        other => Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("grant_type '{other}' is not supported"),
        )),
    }
}

fn parse_request(form: Vec<(String, String)>) -> Result<TokenRequest, OAuthError> {
    let mut params = HashMap::with_capacity(form.len());
    for (name, value) in form {
        if params.insert(name.clone(), value).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "the parameter '{name}' is repeated"
            )));
        }
    }
    Ok(TokenRequest { params })
}

/// `unauthorized_client` unless the client is registered for `grant`.
fn require_grant(client: &Client, grant: GrantType) -> Result<(), OAuthError> {
    if client.allows_grant(grant) {
        Ok(())
    } else {
        Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("this client may not use the {} grant", grant.as_str()),
        ))
    }
}

/// The tokens of a person's grant (a code, an approved device), minted but not saved:
/// an access token and, for clients registered for refresh tokens, a refresh token
/// opening a new family. The family exists from the start: its access tokens, this one
/// included, go with it, and a replay of the code finds the family through this token.
struct PersonTokens {
    access_token: String,
    refresh_token: Option<String>,
    records: IssuedTokens,
}

fn mint_for_person(
    provider: &Provider,
    client: &Client,
    identity: &Identity,
    scope: &str,
    facts: &SignInFacts<'_>,
    code_hash: Option<&str>,
    now: UnixTime,
) -> Result<PersonTokens, OAuthError> {
    let minted = mint_access_token(provider, client, Some((identity, facts)), scope, now)?;
    let access_token = minted.value;
    let family_id = client
        .allows_grant(GrantType::RefreshToken)
        .then(|| uuid::Uuid::new_v4().to_string());
    let access = AccessToken {
        token_hash: token::digest(&access_token),
        client_id: client.client_id.clone(),
        identity_id: Some(identity.id.clone()),
        session_id: facts.session_id.map(str::to_string),
        code_hash: code_hash.map(str::to_string),
        scope: scope.to_string(),
        created_at: now,
        expires_at: now + provider.settings.access_token_lifetime.as_secs() as i64,
        revoked_at: None,
        family_id: family_id.clone(),
        claims: facts.claims.cloned(),
        signing_kid: minted.signing_kid,
    };
    let (refresh_token, refresh) = match family_id {
        Some(family_id) => {
            let secret = token::generate();
            let lifetimes = refresh_lifetimes(provider, client);
            let expires_at = now + lifetimes.absolute as i64;
            let record = RefreshToken {
                token_hash: token::digest(&secret),
                family_id,
                client_id: client.client_id.clone(),
                identity_id: identity.id.clone(),
                session_id: facts.session_id.map(str::to_string),
                scope: scope.to_string(),
                auth_time: facts.auth_time,
                acr: facts.acr.to_string(),
                amr: facts.amr.to_vec(),
                created_at: now,
                idle_expires_at: (now + lifetimes.idle as i64).min(expires_at),
                expires_at,
                used_at: None,
                revoked_at: None,
                claims: facts.claims.cloned(),
            };
            (Some(secret), Some(record))
        }
        None => (None, None),
    };
    Ok(PersonTokens {
        access_token,
        refresh_token,
        records: IssuedTokens { access, refresh },
    })
}

/// The client's own refresh-token lifetimes, or the configured ones.
fn refresh_lifetimes(provider: &Provider, client: &Client) -> RefreshLifetimes {
    client.refresh_token_lifetimes.unwrap_or(RefreshLifetimes {
        idle: provider.settings.refresh_token_idle_lifetime.as_secs(),
        absolute: provider.settings.refresh_token_absolute_lifetime.as_secs(),
    })
}

/// The token response: the access token already saved, an ID token when `openid` was
/// granted, the refresh token when there is one.
#[allow(clippy::too_many_arguments)]
fn respond(
    provider: &Provider,
    client: &Client,
    identity: &Identity,
    scope: &str,
    facts: &SignInFacts<'_>,
    access_token: String,
    refresh_token: Option<String>,
    now: UnixTime,
) -> Result<TokenResponse, OAuthError> {
    let scope = Scope::parse_supported(scope);
    let id_token = if scope.contains(scope::OPENID) {
        Some(id_token::issue(
            provider,
            client,
            identity,
            facts,
            &access_token,
            now,
        )?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: provider.settings.access_token_lifetime.as_secs(),
        scope: scope.to_string(),
        id_token,
        refresh_token,
    })
}

/// An access token as handed out, and the key that signed it if it is a JWT.
pub(crate) struct MintedAccessToken {
    pub value: String,
    pub signing_kid: Option<String>,
}

/// A new access token for `client`: a random string, or a JWT (RFC 9068, `typ` `at+jwt`)
/// for clients that asked for one. Either way only its digest is stored, so
/// introspection, revocation and userinfo treat both alike.
pub(crate) fn mint_access_token(
    provider: &Provider,
    client: &Client,
    subject: Option<(&Identity, &SignInFacts<'_>)>,
    scope: &str,
    now: UnixTime,
) -> Result<MintedAccessToken, OAuthError> {
    if client.access_token_format == AccessTokenFormat::Opaque {
        return Ok(MintedAccessToken {
            value: token::generate(),
            signing_kid: None,
        });
    }
    let mut claims = serde_json::Map::new();
    claims.insert("iss".into(), json!(provider.settings.issuer()));
    claims.insert(
        "exp".into(),
        json!(now + provider.settings.access_token_lifetime.as_secs() as i64),
    );
    claims.insert("iat".into(), json!(now));
    claims.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
    claims.insert("client_id".into(), json!(client.client_id));
    // Without resource indicators the audience is the client's own resource side.
    claims.insert("aud".into(), json!(client.client_id));
    claims.insert("scope".into(), json!(scope));
    match subject {
        Some((identity, facts)) => {
            claims.insert(
                "sub".into(),
                json!(super::subject::for_client(provider, client, identity)),
            );
            claims.insert("auth_time".into(), json!(facts.auth_time));
            claims.insert("acr".into(), json!(facts.acr));
            claims.insert("amr".into(), json!(facts.amr));
        }
        // RFC 9068 §2.2: with no person, the subject is the client itself.
        None => {
            claims.insert("sub".into(), json!(client.client_id));
        }
    }
    let signed = jwt::sign(
        &provider.keys.current(),
        client.id_token_signed_response_alg,
        "at+jwt",
        claims,
        now,
    )?;
    Ok(MintedAccessToken {
        value: signed.token,
        signing_kid: Some(signed.kid),
    })
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// A token request's form: each parameter at most once, else `invalid_request`.
        #[test]
        fn a_form_is_read_or_refused_for_a_repeated_parameter(
            form in prop::collection::vec(
                (prop::sample::select(vec!["grant_type", "code", "redirect_uri",
                    "code_verifier", "client_id", "scope", "refresh_token"]).prop_map(str::to_string),
                 ".{0,40}"),
                0..10,
            )
        ) {
            let repeated = {
                let mut names: Vec<&String> = form.iter().map(|(k, _)| k).collect();
                names.sort();
                names.windows(2).any(|w| w[0] == w[1])
            };
            match TokenRequest::parse(form) {
                Ok(request) => {
                    prop_assert!(!repeated);
                    // `require` never panics, and refuses empty values.
                    let _ = request.require("grant_type");
                }
                Err(error) => {
                    prop_assert!(repeated);
                    prop_assert_eq!(error.code, ErrorCode::InvalidRequest);
                }
            }
        }
    }
}
