//! What stands between a signed-in person and the relying party: the second step of a
//! two-factor sign-in, a password change the administrator (or the password age policy)
//! requires, a new IT charter version, and setting up a second factor when the person's
//! affiliation or the relying party requires one.

use super::{passwords, second_factor, AccountError};
use crate::domain::audit::{events, AuditEvent, RequestContext};
use crate::domain::identity::Identity;
use crate::domain::session::Session;
use crate::mail::MailContent;
use crate::provider::Provider;
use crate::store::charters::Charter;
use crate::store::gates::GateFacts;
use crate::store::StoreError;

#[derive(Debug)]
pub enum Gate {
    /// The password was right; the code from the authenticator app comes next.
    SecondFactor,
    ChangePassword,
    AcceptCharter(Charter),
    /// A second factor is required (by affiliation, or by the relying party's `acr`) and
    /// the person has none yet.
    SetUpSecondFactor,
}

/// The gate before this session may be used, the second step first: until then the
/// session proves only the password, and may do nothing else (not even a required
/// password change). `second_factor_asked`: the relying party asks for two factors.
pub async fn pending_for_session(
    provider: &Provider,
    identity: &Identity,
    session: &Session,
    second_factor_asked: bool,
) -> Result<Option<Gate>, StoreError> {
    let facts = provider.store.gate_facts(&identity.id).await?;
    if facts.second_factor && !session.has_second_factor() {
        return Ok(Some(Gate::SecondFactor));
    }
    if let Some(gate) = identity_gates(provider, identity, facts).await? {
        return Ok(Some(gate));
    }
    if second_factor_asked && !facts.second_factor {
        return Ok(Some(Gate::SetUpSecondFactor));
    }
    Ok(None)
}

/// Whether this session gave the password only, for someone with a second factor: until
/// the code is given it opens nothing, and shows nothing of the person.
pub async fn awaits_second_factor(
    provider: &Provider,
    identity: &Identity,
    session: &Session,
) -> Result<bool, StoreError> {
    Ok(!session.has_second_factor() && second_factor::is_enabled(provider, identity).await?)
}

/// The gates of the identity alone, whatever the session (also checked before refresh
/// tokens, device codes and app passwords are honoured).
pub async fn pending(provider: &Provider, identity: &Identity) -> Result<Option<Gate>, StoreError> {
    let facts = provider.store.gate_facts(&identity.id).await?;
    identity_gates(provider, identity, facts).await
}

/// Decided on `facts` (one query); the charter itself is read only when it is due.
async fn identity_gates(
    provider: &Provider,
    identity: &Identity,
    facts: GateFacts,
) -> Result<Option<Gate>, StoreError> {
    let too_old = match (
        provider.settings.password_max_age,
        identity.password_changed_at,
    ) {
        (Some(max_age), Some(changed)) => provider.now() - changed > max_age.as_secs() as i64,
        _ => false,
    };
    if identity.must_change_password || too_old {
        return Ok(Some(Gate::ChangePassword));
    }
    if facts.charter_due() {
        if let Some(charter) = provider.store.latest_charter().await? {
            return Ok(Some(Gate::AcceptCharter(charter)));
        }
    }
    if second_factor::required_by_affiliation(provider, identity) && !facts.second_factor {
        return Ok(Some(Gate::SetUpSecondFactor));
    }
    Ok(None)
}

/// A new password chosen by its owner (the required change here, and the one asked for in
/// the personal space): the policy applies; other sessions end, and with
/// `revoke_grants` every token, app password and device grant too; a mail tells the
/// owner. Returns the refusals (empty when the password was changed).
#[allow(clippy::too_many_arguments)]
pub async fn set_new_password(
    provider: &Provider,
    identity: &Identity,
    session: &Session,
    password: &str,
    confirmation: &str,
    revoke_grants: bool,
    lang: &str,
    context: &RequestContext,
) -> Result<Vec<&'static str>, AccountError> {
    let mut refused = passwords::refusals(&provider.settings, identity, password, confirmation);
    if refused.is_empty() {
        // Bounded like a sign-in: this form is open to any signed-in person.
        match provider
            .passwords
            .verify_or_busy(identity.password_hash.as_deref(), password)
            .await
        {
            Ok(same) if same.matches => refused.push("password.same_as_before"),
            Ok(_) => {}
            Err(crate::crypto::password::PasswordError::Busy) => refused.push("login.busy"),
            Err(error) => return Err(error.into()),
        }
    }
    if !refused.is_empty() {
        return Ok(refused);
    }
    let hash = provider.passwords.hash(password).await?;
    let mail = super::personal_notice(provider, identity, lang, MailContent::password_changed())?;
    let audit =
        AuditEvent::new(events::PASSWORD_CHANGED, provider.now(), context).identity(identity);
    provider
        .store
        .store_new_password(
            identity,
            hash,
            Some(session.id.clone()),
            revoke_grants,
            mail,
            audit,
            provider.now(),
        )
        .await?;
    Ok(Vec::new())
}

pub async fn accept_charter(
    provider: &Provider,
    identity: &Identity,
    version: i64,
    context: &RequestContext,
) -> Result<(), StoreError> {
    let audit = AuditEvent::new(events::CHARTER_ACCEPTED, provider.now(), context)
        .identity(identity)
        .detail(format!("version {version}"));
    provider
        .store
        .accept_charter(
            &identity.id,
            version,
            context.ip.clone(),
            audit,
            provider.now(),
        )
        .await
}
