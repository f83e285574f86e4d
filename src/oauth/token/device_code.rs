//! `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4–3.5): the
//! device polls until the person approves or denies, or the code expires.

use super::{TokenRequest, TokenResponse};
use crate::crypto::token;
use crate::domain::client::{Client, GrantType};
use crate::domain::device::DevicePoll;
use crate::domain::grant::AccessToken;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::id_token::SignInFacts;
use crate::provider::Provider;

pub async fn handle(
    provider: &Provider,
    client: &Client,
    request: &TokenRequest,
) -> Result<TokenResponse, OAuthError> {
    if !client.allows_grant(GrantType::DeviceCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the device_code grant",
        ));
    }
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
        .filter(|identity| identity.can_sign_in())
        .ok_or_else(|| OAuthError::invalid_grant("the account can no longer sign in"))?;
    let facts = SignInFacts {
        auth_time: approval.auth_time,
        acr: &approval.acr,
        amr: &approval.amr,
        session_id: Some(&approval.session_id),
        nonce: None,
        claims: None,
    };
    let access_token = super::mint_access_token(
        provider,
        client,
        Some((&identity, &facts)),
        &grant.scope,
        now,
    )?;
    let lifetime = provider.settings.access_token_lifetime.as_secs();
    let family_id = client
        .allows_grant(GrantType::RefreshToken)
        .then(|| uuid::Uuid::new_v4().to_string());
    provider
        .store
        .save_access_token(AccessToken {
            token_hash: token::digest(&access_token),
            client_id: client.client_id.clone(),
            identity_id: Some(identity.id.clone()),
            session_id: Some(approval.session_id.clone()),
            code_hash: None,
            scope: grant.scope.clone(),
            created_at: now,
            expires_at: now + lifetime as i64,
            revoked_at: None,
            family_id: family_id.clone(),
            claims: None,
        })
        .await?;
    let refresh_token = match family_id {
        Some(family_id) => Some(
            super::start_refresh_family(
                provider,
                client,
                &identity,
                (&grant.scope, &family_id),
                &facts,
                Some(&approval.session_id),
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
