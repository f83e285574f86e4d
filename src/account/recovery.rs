//! A forgotten password (a reset link to the personal address) and a forgotten number
//! (mailed, never shown). Both answer the same whether the account exists or not.

use super::throttle::{self, Action, Subject};
use super::{
    mail_link_to_named_account, passwords, AccountError, NamedAccountLink, RequestOutcome,
};
use crate::domain::audit::{events, AuditEvent, RequestContext};
use crate::domain::identity::{BirthDate, Identity, IdentityStatus};
use crate::domain::link::{LinkPurpose, LinkState};
use crate::mail::MailContent;
use crate::provider::Provider;
use crate::store::lifecycle::LinkError;

/// "Mot de passe oublié": number or institutional e-mail in, a link out if it exists.
pub async fn request_reset(
    provider: &std::sync::Arc<Provider>,
    sign_in_name: &str,
    lang: &str,
    context: &RequestContext,
) -> Result<RequestOutcome, AccountError> {
    let request = NamedAccountLink {
        action: Action::PasswordReset,
        purpose: LinkPurpose::PasswordReset,
        lifetime_secs: provider.settings.reset_link_lifetime.as_secs(),
        path: "/password/reset",
        event: events::PASSWORD_RESET_REQUESTED,
        eligible: Identity::may_reset_password,
        content: MailContent::password_reset,
    };
    mail_link_to_named_account(provider, sign_in_name, lang, context, request).await
}

#[derive(Debug)]
pub enum ResetOutcome {
    Done(Box<Identity>),
    /// The new password is refused: the i18n keys of every reason.
    Refused(Vec<&'static str>),
    Invalid(LinkState),
}

/// Who the reset link belongs to, if it is still good.
pub async fn inspect(provider: &Provider, secret: &str) -> Result<LinkState, AccountError> {
    Ok(provider
        .store
        .inspect_link(
            &crate::crypto::token::digest(secret),
            LinkPurpose::PasswordReset,
            provider.now(),
        )
        .await?)
}

/// Sets the new password; every session and token of the account is revoked and a
/// "your password was changed" mail goes to the personal address.
pub async fn reset(
    provider: &Provider,
    secret: &str,
    password: &str,
    confirmation: &str,
    lang: &str,
    context: &RequestContext,
) -> Result<ResetOutcome, AccountError> {
    let identity = match inspect(provider, secret).await? {
        LinkState::Valid(identity) => identity,
        other => return Ok(ResetOutcome::Invalid(other)),
    };
    let refused = passwords::refusals(&provider.settings, &identity, password, confirmation);
    if !refused.is_empty() {
        return Ok(ResetOutcome::Refused(refused));
    }
    let hash = provider.passwords.hash(password).await?;
    let sessions = provider
        .store
        .live_session_ids(&identity.id, provider.now())
        .await?;
    let notice =
        super::personal_notice(provider, &identity, lang, MailContent::password_changed())?;
    let audit = AuditEvent::new(events::PASSWORD_RESET, provider.now(), context);
    match provider
        .store
        .reset_password(
            &crate::crypto::token::digest(secret),
            hash,
            move |_| notice,
            audit,
            provider.now(),
        )
        .await
    {
        Ok(identity) => {
            super::sign_in::tell_relying_parties(provider, &identity, sessions).await;
            // The mailbox proved the owner: a lockout by strangers' guesses ends here.
            throttle::clear_subject(provider, Action::SignIn, Subject::Identity(&identity.id))
                .await?;
            Ok(ResetOutcome::Done(Box::new(identity)))
        }
        Err(LinkError::Invalid) => Ok(ResetOutcome::Invalid(LinkState::Used)),
        Err(LinkError::Store(e)) => Err(e.into()),
    }
}

/// "Numéro oublié": civil data in; when exactly one active identity matches, its number
/// is mailed to its personal address. Never shown on screen.
pub async fn recover_number(
    provider: &Provider,
    family_name: &str,
    given_names: &str,
    birth_date: &str,
    lang: &str,
    context: &RequestContext,
) -> Result<RequestOutcome, AccountError> {
    let Ok(birth_date) = BirthDate::parse(birth_date) else {
        return Ok(RequestOutcome::Malformed("number.bad_date"));
    };
    let (family, given) = (family_name.trim(), given_names.trim());
    if family.is_empty() || given.is_empty() {
        return Ok(RequestOutcome::Malformed("number.missing_names"));
    }
    let account_key = format!("{}|{}", family.to_lowercase(), birth_date.as_str());
    if let Some(wait) = throttle::take_request(
        provider,
        Action::NumberRecovery,
        context.ip.as_deref(),
        Some(&account_key),
    )
    .await?
    {
        return Ok(RequestOutcome::Throttled(wait.0));
    }
    let matches: Vec<Identity> = provider
        .store
        .find_by_civil_data(family, given, birth_date.as_str())
        .await?
        .into_iter()
        .filter(|i| i.status == IdentityStatus::Active && i.personal_email.is_some())
        .collect();
    let now = provider.now();
    // Rendered either way and written in one transaction either way, so a match and no
    // match cost about the same.
    let (identity, number) = match matches.as_slice() {
        [identity] => (Some(identity), identity.number.as_str().to_string()),
        _ => (None, String::from("00000000")),
    };
    let to = identity
        .and_then(|i| i.personal_email.as_deref())
        .unwrap_or("nobody@invalid.example");
    let mail = MailContent::number_reminder(&number).render(
        &provider.views,
        lang,
        &provider.settings.institution_name,
        to,
    )?;
    let audit = AuditEvent::new(events::NUMBER_RECOVERY, now, context);
    let (mail, audit) = match identity {
        Some(identity) => (Some(mail), audit.identity(identity)),
        None => (
            None,
            audit.detail(format!("{} matching active identities", matches.len())),
        ),
    };
    provider
        .store
        .queue_mail_with_audit(mail, audit, now)
        .await?;
    Ok(RequestOutcome::Accepted)
}
