//! App passwords: created and revoked by their owner in the personal space, checked by
//! the mail server and the RADIUS server (`POST /api/app-passwords/{purpose}/check`).

use super::throttle::{self, Action};
use crate::crypto::token;
use crate::domain::app_password::{self, Purpose};
use crate::domain::audit::{events, AuditEvent, RequestContext};
use crate::domain::identity::Identity;
use crate::provider::Provider;
use crate::store::StoreError;

/// Creates an app password; returns it, to be shown once (only its digest is kept), or
/// the refusal of the name.
pub async fn create(
    provider: &Provider,
    identity: &Identity,
    name: &str,
    purpose: Purpose,
    context: &RequestContext,
) -> Result<Result<String, &'static str>, StoreError> {
    let Ok(name) = app_password::check_name(name) else {
        return Ok(Err("account.app_password_name"));
    };
    // Parents have no university mailbox nor wifi to sync.
    if identity.is_parent_only() {
        return Ok(Err("account.app_password_not_for_parents"));
    }
    let password = app_password::generate();
    let now = provider.now();
    provider
        .store
        .create_app_password(
            &identity.id,
            name.clone(),
            purpose,
            token::digest(&app_password::normalize(&password)),
            now,
        )
        .await?;
    let audit = AuditEvent::new(events::APP_PASSWORD_CREATED, now, context)
        .identity(identity)
        .detail(format!("{} ({})", name, purpose.as_str()));
    provider.store.record_audit(audit).await?;
    Ok(Ok(password))
}

pub async fn revoke(
    provider: &Provider,
    identity: &Identity,
    id: &str,
    context: &RequestContext,
) -> Result<bool, StoreError> {
    let now = provider.now();
    let revoked = provider
        .store
        .revoke_app_password(&identity.id, id, now)
        .await?;
    if revoked {
        let audit = AuditEvent::new(events::APP_PASSWORD_REVOKED, now, context).identity(identity);
        provider.store.record_audit(audit).await?;
    }
    Ok(revoked)
}

/// Whether `password` is a live app password of `purpose` for the account `username`
/// names (number or institutional address) and the account may sign in. Failures count
/// against the name and the caller's address, as sign-in failures do.
pub async fn check(
    provider: &Provider,
    service: &crate::domain::client::Client,
    purpose: Purpose,
    username: &str,
    password: &str,
) -> Result<bool, StoreError> {
    // Per account only: the caller is the mail or RADIUS server, the same address for
    // everyone, which a per-address count would block for all. The secrets carry about
    // 90 bits; the per-account delay is there against a leaked list, not guessing.
    let ip = None;
    let name = username.trim();
    if throttle::check(provider, Action::AppPassword, ip, Some(name))
        .await?
        .is_some()
    {
        return Ok(false);
    }
    let digest = token::digest(&app_password::normalize(password));
    let identity = if name.is_empty() || name.len() > 254 || name.chars().any(char::is_control) {
        None
    } else {
        provider.store.find_identity_by_sign_in_name(name).await?
    };
    // As at sign-in: an alumnus reaches only services open to alumni, and a pending page
    // (a new charter, a required password change) must be met in a browser first.
    let usable = match identity.filter(|i| i.can_sign_in() && service.admits(i)) {
        Some(identity) if super::gates::pending(provider, &identity).await?.is_none() => {
            Some(identity)
        }
        _ => None,
    };
    let accepted = match usable {
        Some(identity) => {
            provider
                .store
                .use_app_password(&identity.id, purpose, digest, provider.now())
                .await?
        }
        None => false,
    };
    if !accepted {
        throttle::count(provider, Action::AppPassword, ip, Some(name)).await?;
    }
    Ok(accepted)
}
