//! `grant_type=refresh_token` (RFC 6749 §6), rotated on every use (RFC 9700 §4.14).
//! Parameters: `refresh_token`, `scope` (optional, at most the original scope).

use super::{TokenRequest, TokenResponse};
use crate::account::gates;
use crate::crypto::token;
use crate::domain::client::{Client, GrantType};
use crate::domain::grant::{AccessToken, RefreshRedemption, RefreshToken};
use crate::domain::scope::Scope;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::id_token::SignInFacts;
use crate::provider::Provider;

pub async fn handle(
    provider: &Provider,
    client: &Client,
    request: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    super::require_grant(client, GrantType::RefreshToken)?;
    let presented = request.require("refresh_token")?;
    let now = provider.now();
    // The requested scope is checked before the token is spent: a refused narrowing must
    // not burn a token whose successor the client would never receive.
    let current = match provider
        .store
        .find_refresh_token(&token::digest(presented))
        .await?
    {
        Some(current) if current.client_id == client.client_id => current,
        _ => return Err(OAuthError::invalid_grant("the refresh token is not valid")),
    };
    let scope = narrowed_scope(&current.scope, request.get("scope"))?;
    let identity = provider
        .store
        .find_identity(&current.identity_id)
        .await?
        .filter(|identity| identity.can_sign_in() && client.admits(identity))
        .ok_or_else(|| OAuthError::invalid_grant("the account can no longer sign in here"))?;
    // A new charter to accept or an expired password: the person must meet that page,
    // which only an interactive sign-in shows, so tokens stop flowing around it.
    if gates::pending(provider, &identity).await?.is_some() {
        return Err(OAuthError::invalid_grant(
            "the user must sign in again: an Etupass page awaits them",
        ));
    }
    let settings = &provider.settings;
    // Minted before the rotation from the presented token's facts (a successor inherits
    // them unchanged), so that the rotation and the new access token commit together.
    let facts = SignInFacts {
        auth_time: current.auth_time,
        acr: &current.acr,
        amr: &current.amr,
        session_id: current.session_id.as_deref(),
        nonce: None,
        claims: current.claims.as_ref(),
    };
    let minted =
        super::mint_access_token(provider, client, Some((&identity, &facts)), &scope, now)?;
    let access_token = minted.value;
    let access = AccessToken {
        token_hash: token::digest(&access_token),
        client_id: client.client_id.clone(),
        identity_id: Some(identity.id.clone()),
        session_id: current.session_id.clone(),
        code_hash: None,
        scope: scope.clone(),
        created_at: now,
        expires_at: now + settings.access_token_lifetime.as_secs() as i64,
        revoked_at: None,
        family_id: Some(current.family_id.clone()),
        claims: current.claims.clone(),
        signing_kid: minted.signing_kid,
    };
    // The successor is derived from the presented token with the server's secret, so two
    // racing refreshes compute the same one without it ever being stored in clear.
    let successor = token::derive(&provider.token_secret, presented);
    let successor_hash = token::digest(&successor);
    let idle = super::refresh_lifetimes(provider, client).idle as i64;
    let redemption = provider
        .store
        .rotate_refresh_token(
            &token::digest(presented),
            &client.client_id,
            move |parent: &RefreshToken| RefreshToken {
                token_hash: successor_hash,
                created_at: now,
                idle_expires_at: (now + idle).min(parent.expires_at),
                used_at: None,
                revoked_at: None,
                ..parent.clone()
            },
            access,
            settings.refresh_token_reuse_grace.as_secs() as i64,
            now,
        )
        .await?;
    match redemption {
        RefreshRedemption::Rotated(_) | RefreshRedemption::WithinGrace(_) => {}
        RefreshRedemption::Reused { revoked } => {
            tracing::warn!(client_id = %client.client_id, revoked, "refresh token reused: family revoked");
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used",
            ));
        }
        RefreshRedemption::Invalid => {
            return Err(OAuthError::invalid_grant("the refresh token is not valid"))
        }
    };
    super::respond(
        provider,
        client,
        &identity,
        &scope,
        &facts,
        access_token,
        Some(successor),
        now,
    )
}

/// RFC 6749 §6: a refresh may ask for less than was granted, never more.
fn narrowed_scope(granted: &str, requested: Option<&str>) -> Result<String, OAuthError> {
    let granted = Scope::parse_supported(granted);
    match requested {
        None => Ok(granted.to_string()),
        Some(raw) => {
            let asked = Scope::parse_supported(raw);
            if !asked.is_subset(&granted)
                || raw
                    .split(' ')
                    .any(|s| !s.is_empty() && !granted.contains(s))
            {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "a refresh cannot widen the granted scope",
                ));
            }
            Ok(asked.to_string())
        }
    }
}
