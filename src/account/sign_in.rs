//! Signing in with the number (or institutional e-mail) and password, and the SSO session
//! that follows. One argon2id verification per attempt, known account or not, counted
//! against the throttle before it is made.

use std::sync::Arc;

use super::known_device;
use super::throttle::{self, Action, Attempt, Subject};
use crate::crypto::password::PasswordError;
use crate::crypto::token;
use crate::domain::audit::{events, AuditEvent, RequestContext};
use crate::domain::identity::{Identity, IdentityStatus};
use crate::domain::session::{amr_for, Session, ACR_PASSWORD};
use crate::mail::MailContent;
use crate::provider::Provider;
use crate::saml::logout::FrontChannelLogout;
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
    /// Too many failures from this address or for this account: wait this many seconds.
    #[error("throttled for {0} s")]
    Throttled(i64),
    /// Too many sign-ins wait for a password hash: try again in a moment.
    #[error("too many sign-ins in progress")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Mail(#[from] crate::views::ViewError),
}

/// A sign-in that succeeded: the identity, and the device cookie to set (this browser
/// is now known as the owner's).
#[derive(Debug)]
pub struct SignedIn {
    pub identity: Identity,
    pub device_cookie: String,
}

/// Checks a sign-in name and password. The steps: look the account up (a cheap query),
/// bound the attempts in progress from this address, count the attempt against the
/// address and the account before hashing (refunded on success), then one argon2id
/// verification whatever the account: unknown, without a password, suspended, alumni or
/// parent, the work and the answer are the same.
pub async fn authenticate(
    provider: &Arc<Provider>,
    sign_in_name: &str,
    password: &str,
    known_device: Option<&str>,
    context: &RequestContext,
) -> Result<SignedIn, SignInError> {
    let ip = context.ip.as_deref();
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
    let device = identity.as_ref().and_then(|identity| {
        known_device::for_identity(
            &provider.token_secret,
            known_device,
            identity,
            provider.now(),
            provider.settings.device_cookie_lifetime.as_secs() as i64,
        )
    });
    let identity_id = identity.as_ref().map(|i| i.id.clone());
    let device_id = device.as_ref().map(|d| d.device_id.clone());
    let subject = match (identity_id.as_deref(), device_id.as_deref()) {
        (Some(identity_id), Some(device)) => Subject::Device {
            identity_id,
            device,
        },
        (Some(identity_id), None) => Subject::Identity(identity_id),
        (None, _) => Subject::Typed(sign_in_name),
    };
    // A known browser of the account counts on its own counter only: a stranger behind
    // the same address (a campus NAT, eduroam) cannot keep the owner out of it.
    let ip = if device.is_some() { None } else { ip };
    // Attempts in progress from one address are bounded: a burst from one place is
    // answered at once instead of filling the hashing queue in front of everyone else.
    let _in_flight = match ip {
        Some(ip) => Some(
            provider
                .sign_ins_in_flight
                .enter(ip, provider.settings.sign_in_concurrency_per_address)
                .ok_or(SignInError::Throttled(1))?,
        ),
        None => None,
    };
    let subject_failures = match throttle::attempt(provider, Action::SignIn, ip, subject).await? {
        Attempt::Allowed { subject_failures } => subject_failures,
        Attempt::Throttled(wait) => {
            let mut audit = AuditEvent::new(events::SIGN_IN_THROTTLED, provider.now(), context)
                .detail(format!("wait {} s", wait.0));
            if let Some(identity) = &identity {
                audit = audit.identity(identity);
            }
            provider.store.record_audit(audit).await?;
            return Err(SignInError::Throttled(wait.0));
        }
    };
    let stored_hash = identity.as_ref().and_then(|i| i.password_hash.as_deref());
    // Verified even when the account or its password is missing, against a dummy hash,
    // so the time taken does not tell whether the account exists.
    let verification = match provider
        .passwords
        .verify_or_busy(stored_hash, password)
        .await
    {
        Ok(verification) => verification,
        Err(PasswordError::Busy) => {
            // Not the person's failure: that one attempt is given back (the rest of the
            // count stays: a full queue must not wipe an account's failures).
            throttle::give_back(provider, Action::SignIn, ip, subject).await?;
            return Err(SignInError::Busy);
        }
        Err(error) => return Err(error.into()),
    };
    let identity = match identity {
        Some(identity) if verification.matches => identity,
        known => {
            tracing::info!(event = "sign_in_failed", "sign-in failed");
            let mut audit = AuditEvent::new(events::SIGN_IN_FAILED, provider.now(), context);
            if let Some(identity) = &known {
                audit = audit.identity(identity);
                if matches!(subject, Subject::Identity(_)) {
                    alert_when_guessed(provider, identity, subject_failures);
                }
            }
            provider.store.record_audit(audit).await?;
            return Err(SignInError::InvalidCredentials);
        }
    };
    throttle::refund(provider, Action::SignIn, ip, subject).await?;
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
    let audit = AuditEvent::new(events::SIGN_IN, provider.now(), context).identity(&identity);
    provider.store.record_audit(audit).await?;
    tracing::info!(event = "sign_in", subject = %identity.subject, "signed in");
    // The browser keeps its device id (its cookie issued anew), or gets one.
    let device_cookie = known_device::issue(
        &provider.token_secret,
        &identity,
        device.as_ref().map(|d| d.device_id.as_str()),
        provider.now(),
    );
    Ok(SignedIn {
        identity,
        device_cookie,
    })
}

/// Mails the owner once when failures from unknown browsers reach twice the free
/// attempts (someone is guessing), and once more when the account locks, with the link
/// to report identity theft. Queued after the answer: a failure costs the same time
/// whether it alerts or not.
fn alert_when_guessed(provider: &Arc<Provider>, identity: &Identity, failures: i64) {
    let settings = &provider.settings;
    let alert_at = i64::from(settings.throttle_account_free_attempts.max(1)) * 2;
    let lockout_at = i64::from(settings.throttle_account_lockout_after);
    if failures != alert_at && failures != lockout_at {
        return;
    }
    tracing::warn!(event = "sign_in_guessing", subject = %identity.subject, failures, "many wrong passwords for one account");
    let (queued, identity) = (provider.clone(), identity.clone());
    provider.background.spawn(async move {
        let settings = &queued.settings;
        let content = MailContent::guessing_alert(settings.endpoint("/theft"));
        let mail = super::personal_notice(&queued, &identity, &settings.default_locale, content);
        let queued_mail = match mail {
            Ok(Some(mail)) => queued.store.queue_mail(mail, queued.now()).await,
            Ok(None) => Ok(()),
            Err(error) => {
                tracing::error!(%error, "the guessing alert could not be rendered");
                Ok(())
            }
        };
        if let Err(error) = queued_mail {
            tracing::error!(%error, "the guessing alert could not be queued");
        }
    });
}

/// What checking a known person's password again says (the current password before a
/// change, a parent's password to accept an invitation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    Right,
    Wrong,
    Throttled(i64),
    Busy,
}

/// Checks the password of a known identity under the sign-in's rules: counted against
/// the address and the identity before the hash (the same counters as sign-in, so these
/// forms give no extra guesses), the bounded queue, the attempt given back when right.
pub async fn check_password_of(
    provider: &Provider,
    identity: &Identity,
    password: &str,
    ip: Option<&str>,
) -> Result<PasswordCheck, SignInError> {
    let subject = Subject::Identity(&identity.id);
    if let Attempt::Throttled(wait) =
        throttle::attempt(provider, Action::SignIn, ip, subject).await?
    {
        return Ok(PasswordCheck::Throttled(wait.0));
    }
    match provider
        .passwords
        .verify_or_busy(identity.password_hash.as_deref(), password)
        .await
    {
        Ok(verification) if verification.matches => {
            throttle::refund(provider, Action::SignIn, ip, subject).await?;
            Ok(PasswordCheck::Right)
        }
        Ok(_) => Ok(PasswordCheck::Wrong),
        Err(PasswordError::Busy) => {
            throttle::give_back(provider, Action::SignIn, ip, subject).await?;
            Ok(PasswordCheck::Busy)
        }
        Err(error) => Err(error.into()),
    }
}

/// Opens an SSO session; returns it with the secret for the cookie (stored only hashed).
/// After a sign-in: a new session, or, when this browser already has a live session of
/// the same person (`renew=true`, `prompt=login`, `max_age`), that session started again
/// in place, so that signing in anew does not sign the person out of every application.
pub async fn start_session(
    provider: &Provider,
    identity: &Identity,
    same_person: Option<&Session>,
    context: &RequestContext,
) -> Result<(Session, String), StoreError> {
    let secret = token::generate();
    let now = provider.now();
    let new = NewSession {
        identity_id: identity.id.clone(),
        token_hash: token::digest(&secret),
        acr: ACR_PASSWORD.to_string(),
        amr: amr_for(ACR_PASSWORD),
        ip: context.ip.clone(),
        user_agent: context.user_agent.clone(),
        expires_at: now + provider.settings.session_lifetime.as_secs() as i64,
    };
    if let Some(previous) = same_person.filter(|s| s.identity_id == identity.id) {
        if let Some(session) = provider
            .store
            .restart_session(&previous.id, new.clone(), now)
            .await?
        {
            return Ok((session, secret));
        }
    }
    let session = provider.store.create_session(new, now).await?;
    Ok((session, secret))
}

/// A new cookie secret for a live session (after it proved the second factor); the
/// old cookie stops working.
pub async fn renew_session_secret(
    provider: &Provider,
    session: &Session,
) -> Result<Option<String>, StoreError> {
    let secret = token::generate();
    let renewed = provider
        .store
        .renew_session_secret(&session.id, token::digest(&secret))
        .await?;
    Ok(renewed.then_some(secret))
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

/// Ends a session and tells its relying parties (back-channel logout). Returns the
/// front-channel logout URLs the browser that ended it should load (`saml::logout`).
pub async fn end_session(
    provider: &Provider,
    session: &Session,
    identity: &Identity,
) -> Result<Vec<FrontChannelLogout>, StoreError> {
    provider
        .store
        .revoke_session(&session.id, provider.now())
        .await?;
    Ok(tell_relying_parties(provider, identity, vec![session.id.clone()]).await)
}

/// Queues back-channel logout tokens (OpenID Connect) and logout requests (CAS, SAML); a
/// failure here is logged, never fatal: the sessions are already over on our side.
/// Returns the front-channel logouts of the SAML SPs that have no back channel, for a
/// browser that is there to carry them (without one they cannot be reached).
pub async fn tell_relying_parties(
    provider: &Provider,
    identity: &Identity,
    session_ids: Vec<String>,
) -> Vec<FrontChannelLogout> {
    if let Err(error) = crate::cas::logout::notify(provider, session_ids.clone()).await {
        tracing::error!(%error, "CAS single logout could not be queued");
    }
    let front_channel = match crate::saml::logout::notify(provider, session_ids.clone()).await {
        Ok(told) => told.front_channel,
        Err(error) => {
            tracing::error!(%error, "SAML single logout could not be queued");
            Vec::new()
        }
    };
    if let Err(error) = crate::oauth::backchannel::notify(provider, identity, session_ids).await {
        tracing::error!(%error, "back-channel logout could not be queued");
    }
    front_channel
}
