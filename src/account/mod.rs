//! The person's side of the account: signing in, sessions, provisioning, and the
//! lifecycle (activation, recovery, identity theft, the gates before a relying party).

pub mod activation;
pub mod administration;
pub mod app_passwords;
pub mod enrollment;
pub mod gates;
pub mod known_device;
pub mod parents;
pub mod passwords;
pub mod provisioning;
pub mod recovery;
pub mod second_factor;
pub mod sign_in;
pub mod space;
pub mod theft;
pub mod throttle;

use crate::crypto::password::PasswordError;
use crate::crypto::token;
use crate::domain::link::{LinkPurpose, NewLink};
use crate::provider::Provider;
use crate::store::lifecycle::LinkError;
use crate::store::StoreError;
use crate::views::ViewError;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    View(#[from] ViewError),
    #[error(transparent)]
    Cas(#[from] crate::cas::CasError),
}

impl From<sign_in::SignInError> for AccountError {
    fn from(error: sign_in::SignInError) -> Self {
        use sign_in::SignInError;
        match error {
            SignInError::Store(e) => AccountError::Store(e),
            SignInError::Password(e) => AccountError::Password(e),
            SignInError::Mail(e) => AccountError::View(e),
            // The outcomes of a sign-in are not errors of the forms that reuse its check.
            other => AccountError::Store(StoreError::Conflict(other.to_string())),
        }
    }
}

impl From<LinkError> for AccountError {
    fn from(error: LinkError) -> Self {
        match error {
            LinkError::Store(e) => AccountError::Store(e),
            LinkError::Invalid => AccountError::Store(StoreError::Conflict("link".into())),
        }
    }
}

/// The answer to a request that mails something: always the same, whoever asked,
/// unless the asker is being slowed down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    Accepted,
    Throttled(i64),
    /// The form itself is malformed (a date that is no date): said without looking anything up.
    Malformed(&'static str),
}

/// `content` rendered for the person's personal address, when they have one (the mails
/// that tell them of a change to their account).
pub(crate) fn personal_notice(
    provider: &Provider,
    identity: &crate::domain::identity::Identity,
    lang: &str,
    content: crate::mail::MailContent,
) -> Result<Option<crate::domain::mail::OutgoingMail>, ViewError> {
    identity
        .personal_email
        .as_deref()
        .map(|to| {
            content.render(
                &provider.views,
                lang,
                &provider.settings.institution_name,
                to,
            )
        })
        .transpose()
}

/// A fresh link: the secret for the mail, and what the store keeps.
pub(crate) fn new_link(
    provider: &Provider,
    purpose: LinkPurpose,
    lifetime_secs: u64,
    path: &str,
) -> (String, NewLink) {
    let secret = token::generate();
    let url = provider
        .settings
        .endpoint(&format!("{path}?token={secret}"));
    let link = NewLink {
        token_hash: token::digest(&secret),
        purpose,
        expires_at: provider.now() + lifetime_secs as i64,
        payload: None,
    };
    (url, link)
}

/// A request that mails a link to the account a person names (reset, theft report):
/// throttled, answered the same whether the account exists or not, the account's work
/// queued after the answer so that both take the same time.
pub(crate) struct NamedAccountLink {
    pub action: throttle::Action,
    pub purpose: LinkPurpose,
    pub lifetime_secs: u64,
    pub path: &'static str,
    pub event: &'static str,
    /// Whether the named account may receive this link.
    pub eligible: fn(&crate::domain::identity::Identity) -> bool,
    pub content: fn(String) -> crate::mail::MailContent,
}

/// The answer comes right after the throttle, the same for every name; the work that
/// depends on the account (the look-up, the link, the mail, the audit) is queued and done
/// after the answer, so that neither the answer nor its timing tells whether the account
/// exists. (The work is lost if the process dies in between; the person asks again.)
pub(crate) async fn mail_link_to_named_account(
    provider: &std::sync::Arc<Provider>,
    sign_in_name: &str,
    lang: &str,
    context: &crate::domain::audit::RequestContext,
    request: NamedAccountLink,
) -> Result<RequestOutcome, AccountError> {
    let name = sign_in_name.trim();
    let ip = context.ip.as_deref();
    if let Some(wait) = throttle::take_request(provider, request.action, ip, Some(name)).await? {
        return Ok(RequestOutcome::Throttled(wait.0));
    }
    let (queued, name, lang, context) = (
        provider.clone(),
        name.to_string(),
        lang.to_string(),
        context.clone(),
    );
    provider.background.spawn(async move {
        if let Err(error) = send_named_link(&queued, &name, &lang, &context, request).await {
            tracing::error!(%error, "a mailed link could not be prepared");
        }
    });
    Ok(RequestOutcome::Accepted)
}

/// The queued part of `mail_link_to_named_account`.
async fn send_named_link(
    provider: &Provider,
    name: &str,
    lang: &str,
    context: &crate::domain::audit::RequestContext,
    request: NamedAccountLink,
) -> Result<(), AccountError> {
    use crate::domain::audit::AuditEvent;
    let identity = if name.is_empty() || name.len() > 254 || name.chars().any(char::is_control) {
        None
    } else {
        provider.store.find_identity_by_sign_in_name(name).await?
    }
    .filter(|identity| (request.eligible)(identity));
    let (url, link) = new_link(
        provider,
        request.purpose,
        request.lifetime_secs,
        request.path,
    );
    let recipient = identity.as_ref().and_then(|i| i.personal_email.clone());
    let audit = AuditEvent::new(request.event, provider.now(), context);
    match (identity, recipient) {
        (Some(identity), Some(recipient)) => {
            let mail = (request.content)(url).render(
                &provider.views,
                lang,
                &provider.settings.institution_name,
                &recipient,
            )?;
            let audit = audit.identity(&identity);
            provider
                .store
                .send_link(&identity.id, link, mail, Some(audit), provider.now())
                .await?;
        }
        _ => {
            let audit = audit.detail("no eligible account with a personal address");
            provider.store.record_audit(audit).await?;
        }
    }
    Ok(())
}
