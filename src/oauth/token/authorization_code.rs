//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6, OIDC Core §3.1.3).
//! Parameters: `code`, `redirect_uri`, `code_verifier`.

use super::{TokenRequest, TokenResponse};
use crate::crypto::token;
use crate::domain::client::{Client, GrantType};
use crate::domain::grant::{AuthorizationCode, CodeLookup, CodeRedemption};
use crate::oauth::error::OAuthError;
use crate::oauth::id_token::SignInFacts;
use crate::oauth::pkce;
use crate::provider::Provider;

pub async fn handle(
    provider: &Provider,
    client: &Client,
    request: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    super::require_grant(client, GrantType::AuthorizationCode)?;
    let code = request.require("code")?;
    let redirect_uri = request.require("redirect_uri")?;
    let now = provider.now();
    let code_hash = token::digest(code);
    // Looked up first, spent last: a request that fails the checks (no verifier, another
    // redirect URI) leaves the code for the real client, and a replay is known at once.
    let (lookup, identity) = provider
        .store
        .find_authorization_code(&code_hash, &client.client_id)
        .await?;
    let grant = match lookup {
        CodeLookup::Unspent(grant) => grant,
        CodeLookup::Spent(grant) => {
            // Only a replay that proves what the first redemption proved (the redirect URI,
            // the PKCE verifier) revokes: a used code found in a log or a history must not
            // let a stranger end a public client's grant.
            check_binding(
                &grant,
                client,
                redirect_uri,
                request.get("code_verifier"),
                None,
            )?;
            let outcome = provider
                .store
                .revoke_replayed_code(&code_hash, &client.client_id, now)
                .await?;
            return Err(replayed(client, outcome));
        }
        CodeLookup::Unknown => {
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
        Some(now),
    )?;
    let identity = identity
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
    let minted = super::mint_for_person(
        provider,
        client,
        &identity,
        &grant.scope,
        &facts,
        Some(&code_hash),
        now,
    )?;
    // The spend and the tokens commit together (see `Store::redeem_authorization_code`).
    match provider
        .store
        .redeem_authorization_code(&code_hash, &client.client_id, minted.records, now)
        .await?
    {
        CodeRedemption::Redeemed => {}
        outcome => return Err(replayed(client, outcome)),
    }
    super::respond(
        provider,
        client,
        &identity,
        &grant.scope,
        &facts,
        minted.access_token,
        minted.refresh_token,
        now,
    )
}

/// The answer to a code presented after it was spent (its tokens are revoked by then).
fn replayed(client: &Client, outcome: CodeRedemption) -> OAuthError {
    match outcome {
        CodeRedemption::Replayed { revoked_tokens } => {
            tracing::warn!(
                client_id = %client.client_id,
                revoked_tokens,
                "authorization code replayed; tokens issued from it revoked"
            );
            OAuthError::invalid_grant("the authorization code was already used")
        }
        _ => OAuthError::invalid_grant("the authorization code is not valid"),
    }
}

/// The code must have been issued to this client, for this redirect URI, still be
/// fresh (when `now` is given), and the verifier must match the challenge (RFC 6749
/// §4.1.3, RFC 7636 §4.6).
fn check_binding(
    grant: &AuthorizationCode,
    client: &Client,
    redirect_uri: &str,
    verifier: Option<&str>,
    now: Option<i64>,
) -> Result<(), OAuthError> {
    if grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if now.is_some_and(|now| now >= grant.expires_at) {
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
