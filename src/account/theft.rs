//! Identity theft: reported from the sign-in page with the number, confirmed by a link
//! mailed to the personal address (so nobody can lock a student out by typing a number).
//! Confirmed, the account is suspended at once, every session, code and token revoked,
//! the security team alerted, and the owner mailed a recovery (reset) link.

use super::throttle::{self, Action};
use super::{new_link, AccountError, RequestOutcome};
use crate::crypto::token;
use crate::domain::audit::{events, AuditEvent, RequestContext};
use crate::domain::identity::{Identity, IdentityStatus};
use crate::domain::link::{LinkPurpose, LinkState};
use crate::mail::MailContent;
use crate::provider::Provider;
use crate::store::lifecycle::LinkError;

pub async fn request(
    provider: &Provider,
    sign_in_name: &str,
    lang: &str,
    context: &RequestContext,
) -> Result<RequestOutcome, AccountError> {
    let name = sign_in_name.trim();
    if let Some(wait) = throttle::check(
        provider,
        Action::TheftReport,
        context.ip.as_deref(),
        Some(name),
    )
    .await?
    {
        return Ok(RequestOutcome::Throttled(wait.0));
    }
    throttle::count(
        provider,
        Action::TheftReport,
        context.ip.as_deref(),
        Some(name),
    )
    .await?;
    let identity = if name.is_empty() || name.len() > 254 {
        None
    } else {
        provider.store.find_identity_by_sign_in_name(name).await?
    };
    let (url, link) = new_link(
        provider,
        LinkPurpose::TheftReport,
        provider.settings.theft_link_lifetime.as_secs(),
        "/theft/confirm",
    );
    let recipient = identity.as_ref().and_then(|i| i.personal_email.clone());
    let mail = MailContent::theft_confirmation(url).render(
        &provider.views,
        lang,
        &provider.settings.institution_name,
        recipient.as_deref().unwrap_or("nobody@invalid.example"),
    )?;
    match (identity, recipient) {
        (Some(identity), Some(_)) if identity.status == IdentityStatus::Active => {
            let audit = AuditEvent::new(events::THEFT_REPORT_REQUESTED, provider.now(), context)
                .identity(&identity);
            provider
                .store
                .send_link(&identity.id, link, mail, Some(audit), provider.now())
                .await?;
        }
        _ => {
            let audit = AuditEvent::new(events::THEFT_REPORT_REQUESTED, provider.now(), context)
                .detail("no matching active account");
            provider.store.record_audit(audit).await?;
        }
    }
    Ok(RequestOutcome::Accepted)
}

pub async fn inspect(provider: &Provider, secret: &str) -> Result<LinkState, AccountError> {
    Ok(provider
        .store
        .inspect_link(
            &token::digest(secret),
            LinkPurpose::TheftReport,
            provider.now(),
        )
        .await?)
}

#[derive(Debug)]
pub enum ConfirmOutcome {
    Suspended(Box<Identity>),
    Invalid(LinkState),
}

pub async fn confirm(
    provider: &Provider,
    secret: &str,
    lang: &str,
    context: &RequestContext,
) -> Result<ConfirmOutcome, AccountError> {
    let identity = match inspect(provider, secret).await? {
        LinkState::Valid(identity) => identity,
        other => return Ok(ConfirmOutcome::Invalid(other)),
    };
    // The recovery link lives as long as an activation link: the owner may read mail late.
    let (url, recovery) = new_link(
        provider,
        LinkPurpose::PasswordReset,
        provider.settings.activation_link_lifetime.as_secs(),
        "/password/reset",
    );
    let institution = &provider.settings.institution_name;
    let mut mails = Vec::new();
    if let Some(to) = identity.personal_email.as_deref() {
        mails.push(MailContent::theft_suspended(url).render(
            &provider.views,
            lang,
            institution,
            to,
        )?);
    }
    let mut alert = MailContent::theft_alert(identity.number.as_str()).render(
        &provider.views,
        &provider.settings.default_locale,
        institution,
        &provider.settings.security_team_email,
    )?;
    let details = format!(
        "\nsubject: {}\nreported at (unix): {}\nfrom IP: {}\nuser agent: {}\n",
        identity.subject,
        provider.now(),
        context.ip.as_deref().unwrap_or("unknown"),
        context.user_agent.as_deref().unwrap_or("unknown"),
    );
    alert.body_text.push_str(&details);
    mails.push(alert);
    let audit = AuditEvent::new(events::THEFT_REPORTED, provider.now(), context);
    match provider
        .store
        .suspend_for_theft(
            &token::digest(secret),
            recovery,
            move |_| mails,
            audit,
            provider.now(),
        )
        .await
    {
        Ok(identity) => {
            tracing::warn!(event = "theft_reported", subject = %identity.subject, "identity theft reported: account suspended");
            Ok(ConfirmOutcome::Suspended(Box::new(identity)))
        }
        Err(LinkError::Invalid) => Ok(ConfirmOutcome::Invalid(LinkState::Used)),
        Err(LinkError::Store(e)) => Err(e.into()),
    }
}
