//! The device authorization endpoint (RFC 8628 §3.1–3.3) and the approval the person
//! gives at `/device`. The token side is `token::device_code`.

use serde::Serialize;

use super::discovery::{DEVICE_AUTHORIZATION_PATH, DEVICE_VERIFICATION_PATH};
use super::error::{ErrorCode, OAuthError};
use super::token::TokenRequest;
use crate::crypto::token;
use crate::domain::client::{Client, GrantType};
use crate::domain::device::{
    new_user_code, normalize_user_code, DeviceApproval, DeviceGrant, DeviceStatus,
};
use crate::domain::identity::Identity;
use crate::domain::scope::Scope;
use crate::domain::session::Session;
use crate::provider::Provider;
use crate::store::StoreError;

#[derive(Debug, Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: u64,
    pub interval: u64,
}

pub async fn authorize_device(
    provider: &Provider,
    form: Vec<(String, String)>,
    authorization: Option<&str>,
) -> Result<DeviceAuthorization, OAuthError> {
    let request = TokenRequest::parse(form)?;
    let client = request
        .authenticate_client(provider, authorization, DEVICE_AUTHORIZATION_PATH)
        .await?;
    if !client.allows_grant(GrantType::DeviceCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the device authorization grant",
        ));
    }
    let scope = Scope::parse_supported(request.get("scope").unwrap_or("openid"));
    let settings = &provider.settings;
    let now = provider.now();
    let device_code = token::generate();
    // A user code is short: on the rare collision with a stored one, draw again.
    for _ in 0..3 {
        let user_code = new_user_code();
        let grant = DeviceGrant {
            device_code_hash: token::digest(&device_code),
            user_code_hash: user_code_hash(provider, &user_code)
                .expect("generated codes are valid"),
            client_id: client.client_id.clone(),
            scope: scope.to_string(),
            created_at: now,
            expires_at: now + settings.device_code_lifetime.as_secs() as i64,
            interval_secs: settings.device_poll_interval.as_secs() as i64,
            status: DeviceStatus::Pending,
            approval: None,
        };
        match provider.store.save_device_grant(grant).await {
            Ok(()) => {
                let verification_uri = settings.endpoint(DEVICE_VERIFICATION_PATH);
                return Ok(DeviceAuthorization {
                    verification_uri_complete: format!("{verification_uri}?user_code={user_code}"),
                    verification_uri,
                    device_code,
                    user_code,
                    expires_in: settings.device_code_lifetime.as_secs(),
                    interval: settings.device_poll_interval.as_secs(),
                });
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(OAuthError::server(&"no free user code after three draws"))
}

/// The stored form of a user code: an HMAC under the server key, not a bare digest. A
/// user code has 34 bits: a plain SHA-256 of it could be reversed by trying them all
/// from a copy of the table.
fn user_code_hash(provider: &Provider, typed: &str) -> Option<String> {
    normalize_user_code(typed)
        .map(|code| token::derive(&provider.token_secret, &format!("user-code:{code}")))
}

/// The device waiting for the code the person typed, with its client.
pub async fn pending(
    provider: &Provider,
    typed: &str,
) -> Result<Option<(DeviceGrant, Client)>, OAuthError> {
    let Some(hash) = user_code_hash(provider, typed) else {
        return Ok(None);
    };
    let Some(grant) = provider
        .store
        .find_pending_device_grant(hash, provider.now())
        .await?
    else {
        return Ok(None);
    };
    let client = provider.store.find_client(&grant.client_id).await?;
    Ok(client.map(|client| (grant, client)))
}

/// Records the signed-in person's answer; `false` when the code is no longer pending.
pub async fn decide(
    provider: &Provider,
    typed: &str,
    signed_in: &(Session, Identity),
    approve: bool,
) -> Result<bool, OAuthError> {
    let Some(hash) = user_code_hash(provider, typed) else {
        return Ok(false);
    };
    let (session, identity) = signed_in;
    let approval = approve.then(|| DeviceApproval {
        identity_id: identity.id.clone(),
        session_id: session.id.clone(),
        auth_time: session.auth_time,
        acr: session.acr.clone(),
        amr: session.amr.clone(),
    });
    Ok(provider
        .store
        .decide_device_grant(hash, approval, provider.now())
        .await?)
}
