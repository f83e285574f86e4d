//! App passwords: created and revoked by their owner in the personal space, checked by
//! the mail server and the RADIUS server (`POST /api/app-passwords/{purpose}/check`).

use super::throttle::{self, Attempt, Subject};
use super::AccountError;
use crate::crypto::token;
use crate::domain::app_password::{self, Purpose};
use crate::domain::audit::{events, AuditEvent, RequestContext};
use crate::domain::identity::Identity;
use crate::domain::session::Session;
use crate::mail::MailContent;
use crate::provider::Provider;
use crate::store::StoreError;

/// A sign-in this recent stands for the current password when creating an app password.
const RECENT_SIGN_IN_SECS: i64 = 5 * 60;

/// Creates an app password; returns it, to be shown once (only its digest is kept), or
/// the refusal. An app password outlives the session and skips the second factor, so a
/// session cookie alone (a lab computer left signed in) must not be enough: the current
/// password is asked, unless the person signed in less than 5 minutes ago. The owner is
/// mailed.
pub async fn create(
    provider: &Provider,
    identity: &Identity,
    session: &Session,
    current_password: &str,
    name: &str,
    purpose: Purpose,
    context: &RequestContext,
) -> Result<Result<String, &'static str>, AccountError> {
    let Ok(name) = app_password::check_name(name) else {
        return Ok(Err("account.app_password_name"));
    };
    // Parents have no university mailbox nor wifi to sync.
    if identity.is_parent_only() {
        return Ok(Err("account.app_password_not_for_parents"));
    }
    let recent = provider.now() - session.auth_time < RECENT_SIGN_IN_SECS;
    if !recent {
        if current_password.is_empty() {
            return Ok(Err("account.recent_sign_in_needed"));
        }
        if let Some(refusal) =
            super::space::check_current_password(provider, identity, current_password, context)
                .await?
        {
            return Ok(Err(refusal));
        }
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
    let mail = super::personal_notice(
        provider,
        identity,
        &provider.settings.default_locale,
        MailContent::app_password_created(&name),
    )?;
    provider
        .store
        .queue_mail_with_audit(mail, audit, now)
        .await?;
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
/// names (number or institutional address) and the account may sign in. `end_user` is
/// where the person connects from, as the service saw it (Dovecot's remote IP, RADIUS's
/// Calling-Station-Id): attempts count per account and end user, and per account alone
/// with a higher ceiling, before the check (refunded when it succeeds). Never per the
/// caller's own address: that is the mail or RADIUS server, the same for everyone.
pub async fn check(
    provider: &Provider,
    service: &crate::domain::client::Client,
    purpose: Purpose,
    username: &str,
    password: &str,
    end_user: Option<&str>,
) -> Result<bool, StoreError> {
    let name = username.trim();
    let identity = if name.is_empty() || name.len() > 254 || name.chars().any(char::is_control) {
        None
    } else {
        provider.store.find_identity_by_sign_in_name(name).await?
    };
    let identity_id = identity.as_ref().map(|i| i.id.clone());
    let subject = match identity_id.as_deref() {
        Some(id) => Subject::Identity(id),
        None => Subject::Typed(name),
    };
    if let Attempt::Throttled(_) =
        throttle::attempt_app_password(provider, subject, purpose.as_str(), end_user).await?
    {
        return Ok(false);
    }
    let digest = token::digest(&app_password::normalize(password));
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
    if accepted {
        throttle::refund_app_password(provider, subject, purpose.as_str(), end_user).await?;
    }
    Ok(accepted)
}
