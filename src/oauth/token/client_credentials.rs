//! `grant_type=client_credentials` (RFC 6749 §4.4): a service acting for itself, no
//! person involved. The token carries no identity, so userinfo refuses it.

use super::{TokenRequest, TokenResponse};
use crate::crypto::token;
use crate::domain::attribute::WRITE_SCOPE;
use crate::domain::client::{Client, GrantType};
use crate::domain::grant::AccessToken;
use crate::domain::scope;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::provider::Provider;

pub async fn handle(
    provider: &Provider,
    client: &Client,
    request: &TokenRequest,
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
    provider
        .store
        .save_access_token(AccessToken {
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
        })
        .await?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: lifetime,
        scope: granted.to_string(),
        id_token: None,
        refresh_token: None,
    })
}
