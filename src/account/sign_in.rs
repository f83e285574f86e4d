//! Signing in with the number (or institutional e-mail) and password, and the SSO session
//! that follows. One argon2id verification per attempt, known account or not.

use super::throttle::{self, Action};
use crate::crypto::password::PasswordError;
use crate::crypto::token;
use crate::domain::audit::{events, AuditEvent, RequestContext};
use crate::domain::identity::{Identity, IdentityStatus};
use crate::domain::session::{amr_for, Session, ACR_PASSWORD};
use crate::provider::Provider;
use crate::store::sessions::NewSession;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Wrong number, wrong e-mail or wrong password: one answer for all three.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The password was right, but the account may not sign in.
    #[error("the account is {}", .0.as_str())]
    NotActive(IdentityStatus),
    /// Too many failures from this address or for this name: wait this many seconds.
    #[error("throttled for {0} s")]
    Throttled(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Password(#[from] PasswordError),
}

pub async fn authenticate(
    provider: &Provider,
    sign_in_name: &str,
    password: &str,
    context: &RequestContext,
) -> Result<Identity, SignInError> {
    let ip = context.ip.as_deref();
    if let Some(wait) = throttle::check(provider, Action::SignIn, ip, Some(sign_in_name)).await? {
        let audit = AuditEvent::new(events::SIGN_IN_THROTTLED, provider.now(), context)
            .detail(format!("wait {} s", wait.0));
        provider.store.record_audit(audit).await?;
        return Err(SignInError::Throttled(wait.0));
    }
    let identity = if sign_in_name.trim().is_empty()
        || sign_in_name.len() > 254
        || sign_in_name.chars().any(char::is_control)
    {
        None
    } else {
        provider
            .store
            .find_identity_by_sign_in_name(sign_in_name)
            .await?
    };
    let stored_hash = identity.as_ref().and_then(|i| i.password_hash.as_deref());
    // Verified even when the account or its password is missing, against a dummy hash,
    // so the time taken does not tell whether the account exists.
    let verification = provider.passwords.verify(stored_hash, password).await?;
    // Checked again after the hash: attempts sent in parallel all passed the first check,
    // but failures counted meanwhile now hold them. Right or wrong, they get the same
    // "wait" answer, so a burst of guesses learns nothing past the free attempts.
    if let Some(wait) = throttle::check(provider, Action::SignIn, ip, Some(sign_in_name)).await? {
        if !verification.matches {
            throttle::count(provider, Action::SignIn, ip, Some(sign_in_name)).await?;
        }
        return Err(SignInError::Throttled(wait.0));
    }
    let identity = match identity {
        Some(identity) if verification.matches => identity,
        known => {
            tracing::info!(event = "sign_in_failed", "sign-in failed");
            throttle::count(provider, Action::SignIn, ip, Some(sign_in_name)).await?;
            let mut audit = AuditEvent::new(events::SIGN_IN_FAILED, provider.now(), context);
            if let Some(identity) = &known {
                audit = audit.identity(identity);
            }
            provider.store.record_audit(audit).await?;
            return Err(SignInError::InvalidCredentials);
        }
    };
    if !identity.can_sign_in() {
        tracing::info!(event = "sign_in_refused", subject = %identity.subject, status = identity.status.as_str(), "sign-in refused: account not active");
        return Err(SignInError::NotActive(identity.status));
    }
    if verification.needs_rehash {
        let fresh = provider.passwords.hash(password).await?;
        provider
            .store
            .rehash_password(&identity.id, fresh, provider.now())
            .await?;
    }
    throttle::clear(provider, Action::SignIn, sign_in_name).await?;
    let audit = AuditEvent::new(events::SIGN_IN, provider.now(), context).identity(&identity);
    provider.store.record_audit(audit).await?;
    tracing::info!(event = "sign_in", subject = %identity.subject, "signed in");
    Ok(identity)
}

/// Opens an SSO session; returns it with the secret for the cookie (stored only hashed).
pub async fn start_session(
    provider: &Provider,
    identity: &Identity,
    context: &RequestContext,
) -> Result<(Session, String), StoreError> {
    let secret = token::generate();
    let now = provider.now();
    let session = provider
        .store
        .create_session(
            NewSession {
                identity_id: identity.id.clone(),
                token_hash: token::digest(&secret),
                acr: ACR_PASSWORD.to_string(),
                amr: amr_for(ACR_PASSWORD),
                ip: context.ip.clone(),
                user_agent: context.user_agent.clone(),
                expires_at: now + provider.settings.session_lifetime.as_secs() as i64,
            },
            now,
        )
        .await?;
    Ok((session, secret))
}

/// The live session named by a cookie, with its identity.
pub async fn resume_session(
    provider: &Provider,
    cookie_secret: &str,
) -> Result<Option<(Session, Identity)>, StoreError> {
    let now = provider.now();
    let Some(session) = provider
        .store
        .find_live_session(&token::digest(cookie_secret), now)
        .await?
    else {
        return Ok(None);
    };
    let identity = provider.store.find_identity(&session.identity_id).await?;
    Ok(identity
        .filter(|identity| identity.can_sign_in())
        .map(|identity| (session, identity)))
}

/// Ends a session and tells its relying parties (back-channel logout).
pub async fn end_session(
    provider: &Provider,
    session: &Session,
    identity: &Identity,
) -> Result<(), StoreError> {
    provider
        .store
        .revoke_session(&session.id, provider.now())
        .await?;
    tell_relying_parties(provider, identity, vec![session.id.clone()]).await;
    Ok(())
}

/// Queues back-channel logout tokens; a failure here is logged, never fatal: the
/// sessions are already over on our side.
pub async fn tell_relying_parties(
    provider: &Provider,
    identity: &Identity,
    session_ids: Vec<String>,
) {
    if let Err(error) = crate::oauth::backchannel::notify(provider, identity, session_ids).await {
        tracing::error!(%error, "back-channel logout could not be queued");
    }
}
