//! Single logout towards service providers (SAML Profiles §4.4), IdP-initiated: when an
//! Etupass session ends (sign-out, logout through any protocol, a password reset, a theft
//! lockdown, an administrator's lock), each SP that received an assertion in it gets a
//! signed `LogoutRequest` naming the NameID and SessionIndex it was given.
//!
//! - On the back channel (SOAP) when its metadata has that service: through the outbox,
//!   the message built and signed when it is sent (SPs refuse a stale `IssueInstant`), so
//!   the outbox keeps only what names the session. This reaches the SP whether or not a
//!   browser is there.
//! - Otherwise on the front channel (HTTP-Redirect, else HTTP-POST): the signed request
//!   is handed back to the page that ends the session in the browser, which carries it
//!   in a hidden frame (as Shibboleth's IdP does). A session that ends without a browser (a theft
//!   lockdown, an administrator's lock) cannot reach such an SP; its session there lasts
//!   until it expires.

use base64::Engine;
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

/// How the SPs of ended sessions were told: requests queued on the back channel, and the
/// front-channel URLs (signed Redirect-binding requests) a browser still has to load.
#[derive(Debug, Default)]
pub struct Told {
    pub queued: usize,
    pub front_channel: Vec<FrontChannelLogout>,
}

/// A signed `LogoutRequest` the browser carries to an SP that has no back channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrontChannelLogout {
    /// Loaded in a frame: the SP's Redirect-binding URL, the query signed.
    Redirect(String),
    /// Posted from a frame: the SP's POST-binding location and the request, signed
    /// (enveloped), base64.
    Post {
        location: String,
        saml_request: String,
    },
}

impl FrontChannelLogout {
    /// Where the browser goes (its origin must be allowed to be framed).
    pub fn location(&self) -> &str {
        match self {
            FrontChannelLogout::Redirect(url) => url,
            FrontChannelLogout::Post { location, .. } => location,
        }
    }
}

/// Tells each SP of `session_ids`: on SOAP when it can, else on the front channel.
pub async fn notify(provider: &Provider, session_ids: Vec<String>) -> Result<Told, StoreError> {
    if session_ids.is_empty() {
        return Ok(Told::default());
    }
    let participants = provider
        .store
        .take_saml_participants(session_ids, provider.now())
        .await?;
    queue(provider, participants).await
}

/// "Disconnect" in the personal space: the SP is told to end every session it holds of
/// this person (on SOAP, or in the personal space's page on the front channel).
pub async fn disconnect(
    provider: &Provider,
    identity_id: &str,
    sp_id: &str,
) -> Result<Told, StoreError> {
    let participants = provider
        .store
        .take_saml_participants_of(identity_id, sp_id, provider.now())
        .await?;
    queue(provider, participants).await
}

async fn queue(
    provider: &Provider,
    participants: Vec<crate::store::saml::SamlParticipant>,
) -> Result<Told, StoreError> {
    let now = provider.now();
    let mut told = Told::default();
    for participant in participants {
        let Some(sp) = provider
            .store
            .find_service_provider(&participant.sp_id)
            .await?
        else {
            continue;
        };
        let pending = PendingLogout {
            sp_entity_id: sp.metadata.entity_id.clone(),
            name_id: participant.name_id,
            name_id_format: participant.name_id_format,
            session_index: participant.session_index,
        };
        if let Some(service) = sp.logout_service(BINDING_SOAP) {
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
            told.queued += 1;
        } else if let Some(service) = sp.logout_service(super::BINDING_REDIRECT) {
            let xml = logout_request(provider, &service.location, &pending, false);
            match super::slo::signed_redirect(
                provider,
                &service.location,
                "SAMLRequest",
                &xml,
                None,
            ) {
                Ok(url) => told.front_channel.push(FrontChannelLogout::Redirect(url)),
                Err(error) => {
                    tracing::error!(%error, "a front-channel logout request could not be signed")
                }
            }
        } else if let Some(service) = sp.logout_service(super::BINDING_POST) {
            let xml = logout_request(provider, &service.location, &pending, true);
            match signed_element(&xml, &provider.saml) {
                Ok(signed) => told.front_channel.push(FrontChannelLogout::Post {
                    location: service.location.clone(),
                    saml_request: base64::engine::general_purpose::STANDARD.encode(signed),
                }),
                Err(error) => {
                    tracing::error!(%error, "a front-channel logout request could not be signed")
                }
            }
        }
    }
    Ok(told)
}

/// A `LogoutRequest` for `destination`; with a signature template when it is signed in
/// the XML (SOAP), without on the Redirect binding (the query is signed).
fn logout_request(
    provider: &Provider,
    destination: &str,
    pending: &PendingLogout,
    enveloped_signature: bool,
) -> String {
    let e = |v: &str| xml_escape(v);
    let id = new_id();
    let idp = super::entity_id(&provider.settings);
    format!(
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
        signature = if enveloped_signature {
            signature_template(&id, &provider.saml)
        } else {
            String::new()
        },
        format = e(&pending.name_id_format),
        sp = e(&pending.sp_entity_id),
        name_id = e(&pending.name_id),
        index = e(&pending.session_index),
    )
}

/// The SOAP envelope with the signed `LogoutRequest` for `destination`.
pub fn soap_request(
    provider: &Provider,
    destination: &str,
    pending: &PendingLogout,
) -> Result<String, super::response::SigningError> {
    let request = logout_request(provider, destination, pending, true);
    let signed = signed_element(&request, &provider.saml)?;
    Ok(format!(
        "<S:Envelope xmlns:S=\"http://schemas.xmlsoap.org/soap/envelope/\"><S:Body>{signed}</S:Body></S:Envelope>"
    ))
}
