//! Token introspection (RFC 7662) for resource servers: the IMAP server asks whether a
//! bearer token is active and whose it is (`username` is the sign-in name, which an IMAP
//! server compares with the login). Callers authenticate as confidential clients.

use serde_json::{json, Map, Value};

use super::client_auth;
use super::error::OAuthError;
use super::token::TokenRequest;
use crate::crypto::token;
use crate::domain::client::Client;
use crate::provider::Provider;

pub async fn handle(
    provider: &Provider,
    form: Vec<(String, String)>,
    authorization: Option<&str>,
) -> Result<Map<String, Value>, OAuthError> {
    let request = TokenRequest::parse(form)?;
    let Some(presented) = request.get("token") else {
        // Who asks comes first: an unauthenticated caller learns nothing, not even this.
        authenticate_resource_server(provider, &request, authorization).await?;
        return Err(OAuthError::invalid_request("token is required"));
    };
    let hash = token::digest(presented);
    // The caller's client and the token (access tokens first: they are what resource
    // servers see) in one database call; nothing about the token is used before the
    // caller is authenticated.
    let credentials = client_auth::extract(
        authorization,
        client_auth::FormCredentials::read(|name| request.get(name)),
    )?;
    let (registered, access_token) = provider
        .store
        .find_client_and_access_token_in_context(&credentials.client_id, &hash)
        .await?;
    let client = client_auth::check(
        provider,
        credentials,
        registered,
        super::discovery::INTROSPECTION_PATH,
    )
    .await?;
    refuse_public(&client)?;
    tracing::debug!(caller = %client.client_id, "introspection");
    let now = provider.now();
    if let Some(found) = access_token {
        let access = &found.token;
        if !provider.access_token_usable(access, now) || !may_introspect(&client, &access.client_id)
        {
            return Ok(inactive());
        }
        let mut answer = json!({
            "active": true,
            "token_type": "Bearer",
            "client_id": access.client_id,
            "scope": access.scope,
            "iat": access.created_at,
            "exp": access.expires_at,
            "iss": provider.settings.issuer(),
            "aud": access.client_id,
        });
        if access.identity_id.is_some() {
            match &found.identity {
                Some(identity) if identity.can_sign_in() => {
                    // The `sub` the token's own client sees (pairwise clients differ).
                    let sector = found.pairwise_sector.as_deref();
                    answer["sub"] = json!(super::subject::for_sector(provider, sector, identity));
                    if releases_number(&client, &access.scope) {
                        answer["username"] = json!(identity.number.as_str());
                    }
                }
                _ => return Ok(inactive()),
            }
        }
        return Ok(answer.as_object().cloned().unwrap_or_default());
    }
    if let Some(refresh) = provider.store.find_refresh_token(&hash).await? {
        let live = refresh.used_at.is_none()
            && refresh.revoked_at.is_none()
            && now < refresh.idle_expires_at
            && now < refresh.expires_at;
        // Only the client that holds a refresh token learns about it.
        if !live || refresh.client_id != client.client_id {
            return Ok(inactive());
        }
        let identity = provider.store.find_identity(&refresh.identity_id).await?;
        let Some(identity) = identity.filter(|i| i.can_sign_in()) else {
            return Ok(inactive());
        };
        let answer = json!({
            "active": true,
            "token_type": "refresh_token",
            "client_id": refresh.client_id,
            "scope": refresh.scope,
            "iat": refresh.created_at,
            "exp": refresh.idle_expires_at,
            "iss": provider.settings.issuer(),
            "sub": super::subject::for_client(provider, &client, &identity),
        });
        let mut answer = answer.as_object().cloned().unwrap_or_default();
        if releases_number(&client, &refresh.scope) {
            answer.insert("username".into(), json!(identity.number.as_str()));
        }
        return Ok(answer);
    }
    Ok(inactive())
}

/// Resource servers an administrator marks (`client add --introspect`: the IMAP server)
/// introspect any token; any other client only its own: it must not learn who holds
/// the tokens of other relying parties, nor link their pairwise subjects.
fn may_introspect(caller: &Client, token_client_id: &str) -> bool {
    caller.may_introspect || caller.client_id == token_client_id
}

/// `username` is the student number: a marked resource server needs it to match a
/// login; another client gets it only if the person let it see the number (`profile` or
/// `etupass`), never through introspection of a narrower token.
fn releases_number(caller: &Client, scope: &str) -> bool {
    let scope = crate::domain::scope::Scope::parse_supported(scope);
    caller.may_introspect
        || scope.contains(crate::domain::scope::PROFILE)
        || scope.contains(crate::domain::scope::ETUPASS)
}

/// RFC 7662 §2.2: an inactive token says nothing more.
fn inactive() -> Map<String, Value> {
    let mut map = Map::new();
    map.insert("active".into(), Value::Bool(false));
    map
}

/// Introspection is for confidential clients only (resource servers): a public client
/// cannot keep a secret, so it cannot prove who asks.
pub(crate) async fn authenticate_resource_server(
    provider: &Provider,
    request: &TokenRequest,
    authorization: Option<&str>,
) -> Result<Client, OAuthError> {
    let client = request
        .authenticate_client(
            provider,
            authorization,
            super::discovery::INTROSPECTION_PATH,
        )
        .await?;
    refuse_public(&client)?;
    Ok(client)
}

/// Introspection is for confidential clients only.
fn refuse_public(client: &Client) -> Result<(), OAuthError> {
    if client.public {
        return Err(OAuthError::invalid_client(
            "public clients may not introspect tokens",
        ));
    }
    Ok(())
}
