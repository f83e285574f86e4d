//! What an administrator does to an account from the command line. Actions that end the
//! person's sessions (lock, set a password) also tell the relying parties of those
//! sessions, as a sign-out or a theft report does (Back-Channel Logout 1.0).

use crate::domain::audit::AuditEvent;
use crate::domain::identity::Identity;
use crate::provider::Provider;
use crate::store::lifecycle::AdminAction;
use crate::store::StoreError;

/// `etupass identity graduate`: the person becomes an alumnus (see
/// `Affiliation::graduated`). `false` if they already were.
pub async fn graduate(provider: &Provider, identity: &Identity) -> Result<bool, StoreError> {
    use crate::domain::audit::{events, RequestContext};
    use crate::domain::identity::Affiliation;
    let after = Affiliation::graduated(&identity.affiliations);
    if after == identity.affiliations {
        return Ok(false);
    }
    let now = provider.now();
    let audit = AuditEvent::new(events::GRADUATED, now, &RequestContext::default())
        .identity(identity)
        .detail(format!("affiliations: {}", Affiliation::join(&after)));
    provider
        .store
        .graduate(
            &identity.id,
            Affiliation::join(&after),
            after == [Affiliation::Alumni],
            audit,
            now,
        )
        .await?;
    Ok(true)
}

pub async fn act(
    provider: &Provider,
    identity: &Identity,
    action: AdminAction,
    audit: AuditEvent,
) -> Result<(), StoreError> {
    let ends_sessions = matches!(action, AdminAction::Lock | AdminAction::SetPassword(_));
    // An administrator's unlock or new password also lifts a lockout by guessing.
    let forgives = matches!(action, AdminAction::Unlock | AdminAction::SetPassword(_));
    let now = provider.now();
    let sessions = if ends_sessions {
        provider.store.live_session_ids(&identity.id, now).await?
    } else {
        Vec::new()
    };
    provider
        .store
        .admin_update(&identity.id, action, audit, now)
        .await?;
    super::sign_in::tell_relying_parties(provider, identity, sessions).await;
    if forgives {
        use super::throttle::{clear_app_password_account, clear_subject, Action, Subject};
        clear_subject(provider, Action::SignIn, Subject::Identity(&identity.id)).await?;
        clear_app_password_account(provider, Subject::Identity(&identity.id)).await?;
    }
    Ok(())
}
