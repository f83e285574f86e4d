//! Single logout towards service providers (SAML Profiles §4.4), IdP-initiated: when an
//! Etupass session ends (sign-out, logout through any protocol, a password reset, a theft
//! lockdown, an administrator's lock), each SP that received an assertion in it and has a
//! SOAP single logout service gets a signed `LogoutRequest` naming the NameID and
//! SessionIndex it was given, on the back channel. Deliveries go through the outbox; the
//! message is built and signed when it is sent (SPs refuse a stale `IssueInstant`), so
//! the outbox keeps only what names the session.

use serde::{Deserialize, Serialize};

use super::response::{instant, new_id, signature_template, signed_element};
use crate::cas::response::xml_escape;
use crate::domain::mail::OutgoingMail;
use crate::domain::saml::BINDING_SOAP;
use crate::provider::Provider;
use crate::store::StoreError;

/// The outbox kind of a SOAP logout request.
pub const KIND: &str = "saml_logout";

/// What the outbox keeps for one message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogout {
    pub sp_entity_id: String,
    pub name_id: String,
    pub name_id_format: String,
    pub session_index: String,
}

/// Queues a logout request for each SP of `session_ids` that has a SOAP logout service.
pub async fn notify(provider: &Provider, session_ids: Vec<String>) -> Result<usize, StoreError> {
    if session_ids.is_empty() {
        return Ok(0);
    }
    let participants = provider
        .store
        .take_saml_participants(session_ids, provider.now())
        .await?;
    queue(provider, participants).await
}

/// "Disconnect" in the personal space: the SP is told to end every session it holds of
/// this person (those it has a SOAP logout service for).
pub async fn disconnect(
    provider: &Provider,
    identity_id: &str,
    sp_id: &str,
) -> Result<usize, StoreError> {
    let participants = provider
        .store
        .take_saml_participants_of(identity_id, sp_id, provider.now())
        .await?;
    queue(provider, participants).await
}

async fn queue(
    provider: &Provider,
    participants: Vec<crate::store::saml::SamlParticipant>,
) -> Result<usize, StoreError> {
    let now = provider.now();
    let mut queued = 0;
    for participant in participants {
        let Some(sp) = provider
            .store
            .find_service_provider(&participant.sp_id)
            .await?
        else {
            continue;
        };
        let Some(service) = sp.logout_service(BINDING_SOAP) else {
            continue;
        };
        let pending = PendingLogout {
            sp_entity_id: sp.metadata.entity_id.clone(),
            name_id: participant.name_id,
            name_id_format: participant.name_id_format,
            session_index: participant.session_index,
        };
        provider
            .store
            .queue_mail(
                OutgoingMail {
                    kind: KIND.to_string(),
                    recipient: service.location.clone(),
                    subject: String::new(),
                    body_text: serde_json::to_string(&pending).expect("strings serialize"),
                    body_html: String::new(),
                },
                now,
            )
            .await?;
        queued += 1;
    }
    Ok(queued)
}

/// The SOAP envelope with the signed `LogoutRequest` for `destination`.
pub fn soap_request(
    provider: &Provider,
    destination: &str,
    pending: &PendingLogout,
) -> Result<String, super::response::SigningError> {
    let e = |v: &str| xml_escape(v);
    let id = new_id();
    let idp = super::entity_id(&provider.settings);
    let request = format!(
        concat!(
            "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{now}\" Destination=\"{destination}\">",
            "<saml:Issuer>{idp}</saml:Issuer>{signature}",
            "<saml:NameID Format=\"{format}\" NameQualifier=\"{idp}\" SPNameQualifier=\"{sp}\">{name_id}</saml:NameID>",
            "<samlp:SessionIndex>{index}</samlp:SessionIndex>",
            "</samlp:LogoutRequest>"
        ),
        id = id,
        now = instant(provider.now()),
        destination = e(destination),
        idp = e(&idp),
        signature = signature_template(&id, &provider.saml),
        format = e(&pending.name_id_format),
        sp = e(&pending.sp_entity_id),
        name_id = e(&pending.name_id),
        index = e(&pending.session_index),
    );
    let signed = signed_element(&request, &provider.saml)?;
    Ok(format!(
        "<S:Envelope xmlns:S=\"http://schemas.xmlsoap.org/soap/envelope/\"><S:Body>{signed}</S:Body></S:Envelope>"
    ))
}
