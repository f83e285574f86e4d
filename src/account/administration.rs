//! What an administrator does to an account from the command line. Actions that end the
//! person's sessions (lock, set a password) also tell the relying parties of those
//! sessions, as a sign-out or a theft report does (Back-Channel Logout 1.0).

use crate::domain::audit::AuditEvent;
use crate::domain::identity::Identity;
use crate::provider::Provider;
use crate::store::lifecycle::AdminAction;
use crate::store::StoreError;

pub async fn act(
    provider: &Provider,
    identity: &Identity,
    action: AdminAction,
    audit: AuditEvent,
) -> Result<(), StoreError> {
    let ends_sessions = matches!(action, AdminAction::Lock | AdminAction::SetPassword(_));
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
    Ok(())
}
