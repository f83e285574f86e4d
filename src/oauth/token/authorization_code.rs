//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6, OIDC Core §3.1.3).
//! Parameters: `code`, `redirect_uri`, `code_verifier`.

use super::{TokenRequest, TokenResponse};
use crate::crypto::token;
use crate::domain::client::{Client, GrantType};
use crate::domain::grant::{AccessToken, AuthorizationCode, CodeRedemption};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::id_token::SignInFacts;
use crate::oauth::pkce;
use crate::provider::Provider;

pub async fn handle(
    provider: &Provider,
    client: &Client,
    request: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization_code grant",
        ));
    }
    let code = request.require("code")?;
    let redirect_uri = request.require("redirect_uri")?;
    let now = provider.now();
    let code_hash = token::digest(code);
    let grant = match provider
        .store
        .redeem_authorization_code(&code_hash, &client.client_id, now)
        .await?
    {
        CodeRedemption::Redeemed(grant) => grant,
        CodeRedemption::Replayed { revoked_tokens } => {
            tracing::warn!(
                client_id = %client.client_id,
                revoked_tokens,
                "authorization code replayed; tokens issued from it revoked"
            );
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used",
            ));
        }
        CodeRedemption::Unknown => {
            return Err(OAuthError::invalid_grant(
                "the authorization code is not valid",
            ))
        }
    };
    check_binding(
        &grant,
        client,
        redirect_uri,
        request.get("code_verifier"),
        now,
    )?;
    let identity = provider
        .store
        .find_identity(&grant.identity_id)
        .await?
        .filter(|identity| identity.can_sign_in())
        .ok_or_else(|| OAuthError::invalid_grant("the account can no longer sign in"))?;

    let facts = SignInFacts {
        auth_time: grant.auth_time,
        acr: &grant.acr,
        amr: &grant.amr,
        session_id: Some(&grant.session_id),
        nonce: grant.nonce.as_deref(),
        claims: grant.claims.as_ref(),
    };
    let access_token = super::mint_access_token(
        provider,
        client,
        Some((&identity, &facts)),
        &grant.scope,
        now,
    )?;
    let lifetime = provider.settings.access_token_lifetime.as_secs();
    // The family exists from the start: its access tokens, this one included, go with it,
    // and a replay of the code finds the family through this token.
    let family_id = client
        .allows_grant(GrantType::RefreshToken)
        .then(|| uuid::Uuid::new_v4().to_string());
    let saved = provider
        .store
        .save_access_token_for_code(
            &grant.code_hash,
            AccessToken {
                token_hash: token::digest(&access_token),
                client_id: client.client_id.clone(),
                identity_id: Some(identity.id.clone()),
                session_id: Some(grant.session_id.clone()),
                code_hash: Some(grant.code_hash.clone()),
                scope: grant.scope.clone(),
                created_at: now,
                expires_at: now + lifetime as i64,
                revoked_at: None,
                family_id: family_id.clone(),
                claims: grant.claims.clone(),
            },
        )
        .await?;
    if !saved {
        return Err(OAuthError::invalid_grant(
            "the authorization code was already used",
        ));
    }
    let refresh_token = match family_id {
        Some(family_id) => Some(
            super::start_refresh_family(
                provider,
                client,
                &identity,
                (&grant.scope, &family_id),
                &facts,
                Some(&grant.session_id),
                now,
            )
            .await?,
        ),
        None => None,
    };
    super::respond(
        provider,
        client,
        &identity,
        &grant.scope,
        &facts,
        access_token,
        refresh_token,
        now,
    )
}

/// The code must have been issued to this client, for this redirect URI, still be
/// fresh, and the verifier must match the challenge (RFC 6749 §4.1.3, RFC 7636 §4.6).
fn check_binding(
    grant: &AuthorizationCode,
    client: &Client,
    redirect_uri: &str,
    verifier: Option<&str>,
    now: i64,
) -> Result<(), OAuthError> {
    if grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if now >= grant.expires_at {
        return Err(OAuthError::invalid_grant(
            "the authorization code has expired",
        ));
    }
    if grant.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    match (&grant.code_challenge, verifier) {
        (Some(challenge), Some(verifier)) if pkce::verify(verifier, challenge) => Ok(()),
        (Some(_), Some(_)) => Err(OAuthError::invalid_grant(
            "the PKCE code_verifier does not match",
        )),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required")),
        // RFC 9700 §2.1.1: a verifier without a challenge is a downgrade attempt.
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier sent, but the authorization request had no code_challenge",
        )),
        (None, None) => Ok(()),
    }
}
