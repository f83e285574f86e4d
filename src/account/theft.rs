//! Identity theft: reported from the sign-in page with the number, confirmed by a link
//! mailed to the personal address (so nobody can lock a student out by typing a number).
//! Confirmed, the account is suspended at once, every session, code and token revoked,
//! the security team alerted, and the owner mailed a recovery (reset) link.

use super::throttle::Action;
use super::{mail_link_to_named_account, new_link, AccountError, NamedAccountLink, RequestOutcome};
use crate::crypto::token;
use crate::domain::audit::{events, AuditEvent, RequestContext};
use crate::domain::identity::{Identity, IdentityStatus};
use crate::domain::link::{LinkPurpose, LinkState};
use crate::mail::MailContent;
use crate::provider::Provider;
use crate::store::lifecycle::LinkError;

pub async fn request(
    provider: &std::sync::Arc<Provider>,
    sign_in_name: &str,
    lang: &str,
    context: &RequestContext,
) -> Result<RequestOutcome, AccountError> {
    let request = NamedAccountLink {
        action: Action::TheftReport,
        purpose: LinkPurpose::TheftReport,
        lifetime_secs: provider.settings.theft_link_lifetime.as_secs(),
        path: "/theft/confirm",
        event: events::THEFT_REPORT_REQUESTED,
        eligible: |identity| identity.status == IdentityStatus::Active,
        content: MailContent::theft_confirmation,
    };
    mail_link_to_named_account(provider, sign_in_name, lang, context, request).await
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
        context
            .user_agent
            .as_deref()
            .map(|ua| ua.chars().take(200).collect::<String>())
            .unwrap_or_else(|| "unknown".into()),
    );
    alert.body_text.push_str(&details);
    mails.push(alert);
    let audit = AuditEvent::new(events::THEFT_REPORTED, provider.now(), context);
    let sessions = provider
        .store
        .live_session_ids(&identity.id, provider.now())
        .await?;
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
            super::sign_in::tell_relying_parties(provider, &identity, sessions).await;
            tracing::warn!(event = "theft_reported", subject = %identity.subject, "identity theft reported: account suspended");
            Ok(ConfirmOutcome::Suspended(Box::new(identity)))
        }
        Err(LinkError::Invalid) => Ok(ConfirmOutcome::Invalid(LinkState::Used)),
        Err(LinkError::Store(e)) => Err(e.into()),
    }
}
