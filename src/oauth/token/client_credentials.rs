//! `grant_type=client_credentials` (RFC 6749 §4.4): a service acting for itself, no
//! person involved. The token carries no identity, so userinfo refuses it.

use super::{TokenRequest, TokenResponse};
use crate::crypto::token;
use crate::domain::attribute::WRITE_SCOPE;
use crate::domain::client::{Client, GrantType};
use crate::domain::grant::AccessToken;
use crate::domain::scope;
use crate::oauth::client_auth;
use crate::oauth::discovery::TOKEN_PATH;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::provider::Provider;
use crate::store::StoreError;

/// Authenticates the client (from this instance's memory when it can) and issues its
/// token. A client taken from memory and refused, by its token's commit because the row
/// changed since (its secret, its grants, its removal, on any instance or by the command
/// line) or by a rule the row may no longer hold (a grant added since), is forgotten and
/// decided on again from its row, read afresh.
pub async fn handle(
    provider: &Provider,
    request: &TokenRequest,
    authorization: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let presented = client_auth::extract(
        authorization,
        client_auth::FormCredentials::read(|name| request.get(name)),
    )?;
    let (client, remembered_revision) =
        client_auth::authenticate_remembered(provider, presented.clone(), TOKEN_PATH).await?;
    let Some(revision) = remembered_revision else {
        return issue(provider, &client, request, None).await;
    };
    match issue(provider, &client, request, Some(revision)).await {
        Err(error) if error.code != ErrorCode::ServerError || is_client_changed(&error) => {
            provider.store.forget_client(&client.client_id);
            let client = client_auth::authenticate(provider, presented, TOKEN_PATH).await?;
            issue(provider, &client, request, None).await
        }
        issued => issued,
    }
}

fn is_client_changed(error: &OAuthError) -> bool {
    error.description == CLIENT_CHANGED
}

/// The description of the error a token refused by [`StoreError::ClientChanged`] gives.
const CLIENT_CHANGED: &str = "the client changed while its token was issued; try again";

/// The token for `client`, authenticated from a row of revision `client_revision`
/// (`None`: read by this request, nothing to check).
async fn issue(
    provider: &Provider,
    client: &Client,
    request: &TokenRequest,
    client_revision: Option<i64>,
) -> Result<TokenResponse, OAuthError> {
    if client.public || !client.allows_grant(GrantType::ClientCredentials) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the client_credentials grant",
        ));
    }
    // Scopes about a person make no sense without one. The one service scope,
    // etupass:attributes, is for the systems an administrator marked as writers.
    let requested: Vec<&str> = request
        .get("scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if requested.iter().any(|s| scope::SUPPORTED.contains(s)) {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "client_credentials tokens carry no user scope",
        ));
    }
    let writes_attributes = requested.contains(&WRITE_SCOPE);
    if writes_attributes && !client.attribute_writer {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "this client may not push attributes",
        ));
    }
    let granted = if writes_attributes { WRITE_SCOPE } else { "" };
    let now = provider.now();
    let lifetime = provider.settings.access_token_lifetime.as_secs();
    let minted = super::mint_access_token(provider, client, None, granted, now)?;
    let access_token = minted.value;
    let saved = provider
        .store
        .save_access_token(
            AccessToken {
                token_hash: token::digest(&access_token),
                client_id: client.client_id.clone(),
                identity_id: None,
                session_id: None,
                code_hash: None,
                scope: granted.to_string(),
                created_at: now,
                expires_at: now + lifetime as i64,
                revoked_at: None,
                family_id: None,
                claims: None,
                signing_kid: minted.signing_kid,
            },
            client_revision,
        )
        .await;
    match saved {
        // Passing: answered 503 should it ever reach the client (`handle` tries again).
        Err(StoreError::ClientChanged) => {
            return Err(OAuthError {
                unavailable: true,
                ..OAuthError::new(ErrorCode::ServerError, CLIENT_CHANGED)
            })
        }
        saved => saved?,
    }
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: lifetime,
        scope: granted.to_string(),
        id_token: None,
        refresh_token: None,
    })
}
