//! The background worker: sends the activation mails that have come due, then delivers
//! the outbox with retries and backoff. Several instances may run it at once: activation
//! and mail rows are claimed atomically, so each mail goes out from one of them.

use std::sync::Arc;

use tokio::sync::watch;

use super::message::MailContent;
use super::transport::Transport;
use crate::crypto::token;
use crate::domain::link::{LinkPurpose, NewLink};
use crate::provider::Provider;

const BATCH: i64 = 50;
/// Retries back off from 30 s, doubling, up to an hour.
const RETRY_BASE_SECS: i64 = 30;
const RETRY_MAX_SECS: i64 = 3600;
/// After this many failures (about a day of hourly retries) a mail is given up on and
/// left in the outbox, with its last error, for an operator to look at.
const MAX_ATTEMPTS: i64 = 30;

pub async fn run(provider: Arc<Provider>, transport: Transport, mut stop: watch::Receiver<bool>) {
    let timeout = std::time::Duration::from_secs(10);
    let http = Outbound {
        administrators: crate::oauth::outbound::client(timeout),
        registrants: crate::oauth::outbound::public_only_client(
            timeout,
            provider.settings.outbound_allow_loopback,
        ),
    };
    let interval = provider.settings.mail_poll_interval;
    loop {
        if let Err(error) = send_due_activations(&provider).await {
            tracing::error!(%error, "activation scheduling failed");
        }
        if let Err(error) = deliver(&provider, &transport, &http).await {
            tracing::error!(%error, "mail delivery round failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => break,
        }
    }
}

/// One round of activation mails: a fresh 7-day link each, created when the mail is due
/// (not at import), so the link's lifetime starts when the student can see it.
pub async fn send_due_activations(provider: &Provider) -> anyhow::Result<usize> {
    let now = provider.now();
    let mut sent = 0;
    for identity in provider.store.due_activations(now, BATCH).await? {
        let Some(address) = identity.personal_email.clone() else {
            tracing::warn!(subject = %identity.subject, "pending identity has no personal address: no activation mail");
            continue;
        };
        let secret = token::generate();
        let link = provider
            .settings
            .endpoint(&format!("/activate?token={secret}"));
        let mail = MailContent::activation(identity.number.as_str(), link).render(
            &provider.views,
            &provider.settings.default_locale,
            &provider.settings.institution_name,
            &address,
        )?;
        let new_link = NewLink {
            token_hash: token::digest(&secret),
            purpose: LinkPurpose::Activation,
            expires_at: now + provider.settings.activation_link_lifetime.as_secs() as i64,
            payload: None,
        };
        if provider
            .store
            .send_activation(&identity.id, new_link, mail, now)
            .await?
        {
            sent += 1;
        }
    }
    Ok(sent)
}

/// HTTP clients for deliveries: to administrators' URLs, and to registrants' URLs
/// (public addresses only).
pub struct Outbound {
    pub administrators: reqwest::Client,
    pub registrants: reqwest::Client,
}

/// One delivery round over the due mails.
pub async fn deliver(
    provider: &Provider,
    transport: &Transport,
    http: &Outbound,
) -> anyhow::Result<usize> {
    let now = provider.now();
    let claimed = provider
        .store
        .claim_mails(
            now,
            provider.settings.mail_claim_lease.as_secs().max(1) as i64,
            BATCH,
        )
        .await?;
    let mut delivered = 0;
    for queued in claimed {
        use crate::oauth::backchannel::{KIND, KIND_REGISTRANT};
        let sent = if queued.mail.kind == KIND {
            let client = &http.administrators;
            post_form(
                client,
                &queued.mail.recipient,
                ("logout_token", &queued.mail.body_text),
                logout_token_accepted,
            )
            .await
        } else if queued.mail.kind == KIND_REGISTRANT {
            let client = &http.registrants;
            post_form(
                client,
                &queued.mail.recipient,
                ("logout_token", &queued.mail.body_text),
                logout_token_accepted,
            )
            .await
        } else if queued.mail.kind == crate::saml::logout::KIND {
            post_saml_logout(
                provider,
                &http.administrators,
                &queued.mail.recipient,
                &queued.mail.body_text,
            )
            .await
        } else if queued.mail.kind == crate::cas::logout::KIND {
            let client = &http.administrators;
            // Received is enough: mod_auth_cas handles the message, then redirects the
            // POST to the login page like any request without its cookie.
            let received =
                |status: reqwest::StatusCode| status.is_success() || status.is_redirection();
            post_form(
                client,
                &queued.mail.recipient,
                ("logoutRequest", &queued.mail.body_text),
                received,
            )
            .await
        } else {
            transport
                .send(&provider.settings.mail_from, &queued.id, &queued.mail)
                .await
        };
        match sent {
            Ok(()) => {
                provider
                    .store
                    .mark_mail_sent(&queued.id, &queued.claim_id, provider.now())
                    .await?;
                tracing::info!(kind = %queued.mail.kind, id = %queued.id, "mail delivered");
                delivered += 1;
            }
            Err(error) => {
                let exponent = (queued.attempts - 1).clamp(0, 16) as u32;
                let mut delay = (RETRY_BASE_SECS << exponent).min(RETRY_MAX_SECS);
                if queued.attempts >= MAX_ATTEMPTS {
                    tracing::error!(kind = %queued.mail.kind, id = %queued.id, %error, "mail given up after {MAX_ATTEMPTS} attempts");
                    delay = 10 * 365 * 24 * 3600;
                }
                tracing::warn!(kind = %queued.mail.kind, id = %queued.id, attempts = queued.attempts, retry_in = delay, %error, "mail delivery failed");
                provider
                    .store
                    .mark_mail_failed(&queued.id, &queued.claim_id, &error, provider.now() + delay)
                    .await?;
            }
        }
    }
    Ok(delivered)
}

/// SAML single logout on the SOAP binding: the request signed now, POSTed; any 200 SOAP
/// answer is taken (a `PartialLogout` is not improved by sending again).
async fn post_saml_logout(
    provider: &Provider,
    http: &reqwest::Client,
    uri: &str,
    pending: &str,
) -> Result<(), String> {
    let pending: crate::saml::logout::PendingLogout =
        serde_json::from_str(pending).map_err(|e| format!("unreadable outbox entry: {e}"))?;
    let envelope =
        crate::saml::logout::soap_request(provider, uri, &pending).map_err(|e| e.to_string())?;
    let response = http
        .post(uri)
        .header("content-type", "text/xml; charset=utf-8")
        .header(
            "soapaction",
            "http://www.oasis-open.org/committees/security",
        )
        .body(envelope)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match response.status().as_u16() {
        200 => Ok(()),
        status => Err(format!("the service provider answered {status}")),
    }
}

/// Back-Channel Logout 1.0 §2.5: 200 or 204 is success.
fn logout_token_accepted(status: reqwest::StatusCode) -> bool {
    matches!(status.as_u16(), 200 | 204)
}

/// A logout message POSTed form-encoded as one field: `logout_token` (Back-Channel Logout
/// 1.0) or CAS's `logoutRequest`; `accepted` says which answers count as delivered.
async fn post_form(
    http: &reqwest::Client,
    uri: &str,
    field: (&str, &str),
    accepted: impl Fn(reqwest::StatusCode) -> bool,
) -> Result<(), String> {
    let response = http
        .post(uri)
        .form(&[field])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match response.status() {
        status if accepted(status) => Ok(()),
        status => Err(format!("the relying party answered {}", status.as_u16())),
    }
}
