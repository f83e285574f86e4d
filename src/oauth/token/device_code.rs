//! `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4–3.5): the
//! device polls until the person approves or denies, or the code expires.

use super::{TokenRequest, TokenResponse};
use crate::crypto::token;
use crate::domain::client::{Client, GrantType};
use crate::domain::device::DevicePoll;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::id_token::SignInFacts;
use crate::provider::Provider;

pub async fn handle(
    provider: &Provider,
    client: &Client,
    request: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    super::require_grant(client, GrantType::DeviceCode)?;
    let device_code = request.require("device_code")?;
    let now = provider.now();
    let grant = match provider
        .store
        .poll_device_grant(token::digest(device_code), client.client_id.clone(), now)
        .await?
    {
        DevicePoll::Approved(grant) => grant,
        DevicePoll::Pending => {
            return Err(OAuthError::new(
                ErrorCode::AuthorizationPending,
                "the user has not answered yet",
            ))
        }
        DevicePoll::SlowDown => {
            return Err(OAuthError::new(
                ErrorCode::SlowDown,
                "polling too fast: wait 5 more seconds between requests",
            ))
        }
        DevicePoll::Denied => {
            return Err(OAuthError::new(
                ErrorCode::AccessDenied,
                "the user declined",
            ))
        }
        DevicePoll::Expired => {
            return Err(OAuthError::new(
                ErrorCode::ExpiredToken,
                "the device code has expired",
            ))
        }
        DevicePoll::Unknown | DevicePoll::AlreadyRedeemed => {
            return Err(OAuthError::invalid_grant("the device code is not valid"))
        }
    };
    let approval = grant
        .approval
        .as_ref()
        .ok_or_else(|| OAuthError::server(&"an approved device grant without its approval"))?;
    let identity = provider
        .store
        .find_identity(&approval.identity_id)
        .await?
        .filter(|identity| identity.can_sign_in() && client.admits(identity))
        .ok_or_else(|| OAuthError::invalid_grant("the account can no longer sign in here"))?;
    // A required password change or a new charter since the approval: no tokens until
    // the person has met that page.
    if crate::account::gates::pending(provider, &identity)
        .await?
        .is_some()
    {
        return Err(OAuthError::invalid_grant(
            "the user must sign in again: an Etupass page awaits them",
        ));
    }
    let facts = SignInFacts {
        auth_time: approval.auth_time,
        acr: &approval.acr,
        amr: &approval.amr,
        session_id: Some(&approval.session_id),
        nonce: None,
        claims: None,
    };
    let minted =
        super::mint_for_person(provider, client, &identity, &grant.scope, &facts, None, now)?;
    provider.store.save_issued_tokens(minted.records).await?;
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
