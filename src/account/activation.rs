//! Activation: the link mailed after enrollment; the student sets a password and accepts
//! the current IT charter. An expired or used link explains itself and offers a new one.

use super::throttle::{self, Action};
use super::{new_link, passwords, AccountError, RequestOutcome};
use crate::crypto::token;
use crate::domain::audit::{events, AuditEvent, RequestContext};
use crate::domain::identity::{BirthDate, Identity, IdentityStatus, StudentNumber};
use crate::domain::link::{LinkPurpose, LinkState};
use crate::mail::MailContent;
use crate::provider::Provider;
use crate::store::charters::Charter;
use crate::store::lifecycle::LinkError;

#[derive(Debug)]
pub enum ActivationView {
    Ready {
        identity: Box<Identity>,
        charter: Option<Charter>,
    },
    Invalid(LinkState),
}

pub async fn inspect(provider: &Provider, secret: &str) -> Result<ActivationView, AccountError> {
    let state = provider
        .store
        .inspect_link(
            &token::digest(secret),
            LinkPurpose::Activation,
            provider.now(),
        )
        .await?;
    Ok(match state {
        LinkState::Valid(identity) if identity.status == IdentityStatus::PendingActivation => {
            ActivationView::Ready {
                identity,
                charter: provider.store.latest_charter().await?,
            }
        }
        LinkState::Valid(_) => ActivationView::Invalid(LinkState::Used),
        other => ActivationView::Invalid(other),
    })
}

#[derive(Debug)]
pub enum ActivationOutcome {
    Done(Box<Identity>),
    Refused {
        reasons: Vec<&'static str>,
        identity: Box<Identity>,
        charter: Option<Charter>,
    },
    Invalid(LinkState),
}

pub async fn activate(
    provider: &Provider,
    secret: &str,
    password: &str,
    confirmation: &str,
    charter_accepted: bool,
    context: &RequestContext,
) -> Result<ActivationOutcome, AccountError> {
    let (identity, charter) = match inspect(provider, secret).await? {
        ActivationView::Ready { identity, charter } => (identity, charter),
        ActivationView::Invalid(state) => return Ok(ActivationOutcome::Invalid(state)),
    };
    let mut reasons = passwords::refusals(&provider.settings, &identity, password, confirmation);
    if charter.is_some() && !charter_accepted {
        reasons.push("activation.accept_charter");
    }
    if !reasons.is_empty() {
        return Ok(ActivationOutcome::Refused {
            reasons,
            identity,
            charter,
        });
    }
    let hash = provider.passwords.hash(password).await?;
    let audit = AuditEvent::new(events::ACTIVATION, provider.now(), context);
    match provider
        .store
        .activate(
            &token::digest(secret),
            hash,
            charter.map(|c| c.version),
            audit,
            provider.now(),
        )
        .await
    {
        Ok(identity) => Ok(ActivationOutcome::Done(Box::new(identity))),
        Err(LinkError::Invalid) => Ok(ActivationOutcome::Invalid(LinkState::Used)),
        Err(LinkError::Store(e)) => Err(e.into()),
    }
}

/// A new activation link, for a pending account whose number and birth date match.
/// Answered the same whether they match or not, right after the throttle: the look-up
/// and the mail are queued after the answer, so its timing tells nothing either.
pub async fn resend(
    provider: &std::sync::Arc<Provider>,
    number: &str,
    birth_date: &str,
    lang: &str,
    context: &RequestContext,
) -> Result<RequestOutcome, AccountError> {
    let (Ok(number), Ok(birth_date)) = (StudentNumber::parse(number), BirthDate::parse(birth_date))
    else {
        return Ok(RequestOutcome::Malformed("activation.bad_resend"));
    };
    if let Some(wait) = throttle::take_request(
        provider,
        Action::Activation,
        context.ip.as_deref(),
        Some(number.as_str()),
    )
    .await?
    {
        return Ok(RequestOutcome::Throttled(wait.0));
    }
    let (queued, lang) = (provider.clone(), lang.to_string());
    provider.background.spawn(async move {
        if let Err(error) = send_new_activation(&queued, &number, birth_date, &lang).await {
            tracing::error!(%error, "a new activation link could not be prepared");
        }
    });
    Ok(RequestOutcome::Accepted)
}

/// The queued part of `resend`.
async fn send_new_activation(
    provider: &Provider,
    number: &StudentNumber,
    birth_date: BirthDate,
    lang: &str,
) -> Result<(), AccountError> {
    let identity = provider
        .store
        .find_identity_by_number(number)
        .await?
        .filter(|i| i.status == IdentityStatus::PendingActivation && i.birth_date == birth_date);
    let Some((identity, recipient)) =
        identity.and_then(|i| i.personal_email.clone().map(|to| (i, to)))
    else {
        return Ok(());
    };
    let (url, link) = new_link(
        provider,
        LinkPurpose::Activation,
        provider.settings.activation_link_lifetime.as_secs(),
        "/activate",
    );
    let mail = MailContent::activation(number.as_str(), url).render(
        &provider.views,
        lang,
        &provider.settings.institution_name,
        &recipient,
    )?;
    provider
        .store
        .send_link(&identity.id, link, mail, None, provider.now())
        .await?;
    Ok(())
}
