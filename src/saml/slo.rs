//! `/saml/slo`: single logout asked by a service provider (SAML Profiles §4.4), on the
//! HTTP-Redirect or HTTP-POST binding. The `LogoutRequest` must be signed by the SP (a
//! third-party page must not sign students out); the sessions it names (by the NameID
//! this SP was given) end, with single logout to every other application of them; the
//! SP gets a signed `LogoutResponse` on the same binding.

use std::io::Write;

use base64::Engine;

use super::incoming::{self, Message, Refusal, Verified};
use super::response::{instant, new_id, signature_template, signed_element, STATUS_SUCCESS};
use crate::account::sign_in;
use crate::cas::response::xml_escape;
use crate::domain::saml::BINDING_POST;
use crate::provider::Provider;

use super::sso::SamlError;
use super::BINDING_REDIRECT;

/// What the browser gets.
#[derive(Debug)]
pub enum SloOutcome {
    Refused(Refusal),
    /// Back to the SP with the signed `LogoutResponse` in the query.
    Redirect(String),
    /// The page that POSTs the `LogoutResponse` to the SP.
    Post {
        destination: String,
        saml_response: String,
        relay_state: Option<String>,
    },
    /// Signed out; the SP has no logout service on this binding to answer to.
    Done,
}

/// What answering a `LogoutRequest` did.
#[derive(Debug)]
pub struct SloAnswer {
    pub outcome: SloOutcome,
    /// The sessions it ended.
    pub ended: Vec<String>,
    /// Front-channel logouts of the other SPs of those sessions, for the browser to load.
    pub front_channel: Vec<super::logout::FrontChannelLogout>,
}

/// How old a `LogoutRequest` may be (the SP sends it as the person clicks). Its ID is
/// remembered as long, so it is answered once.
const REQUEST_LIFETIME_SECS: i64 = 5 * 60;

/// Answers a `LogoutRequest`. `browser_session` is the session of the browser that
/// carried it: only that session's front-channel logouts go back to it (another
/// device's sessions end too, but their other SPs' NameIDs are not this browser's to see).
pub async fn logout(
    provider: &Provider,
    message: Message,
    browser_session: Option<&str>,
) -> Result<SloAnswer, SamlError> {
    let refused = |refusal| {
        Ok(SloAnswer {
            outcome: SloOutcome::Refused(refusal),
            ended: Vec::new(),
            front_channel: Vec::new(),
        })
    };
    let binding = match &message {
        Message::Redirect { .. } => BINDING_REDIRECT,
        Message::Post { .. } => BINDING_POST,
    };
    let Some(decoded) = incoming::decode(&message, "SAMLRequest") else {
        return refused(Refusal::Malformed);
    };
    // A comment inside the NameID would let a parser read less than was signed.
    if !incoming::root_is(&decoded.xml, "LogoutRequest") || decoded.xml.contains("<!--") {
        return refused(Refusal::Malformed);
    }
    let Ok(unverified) = decoded.xml.parse::<samael::schema::LogoutRequest>() else {
        return refused(Refusal::Malformed);
    };
    let Some(issuer) = unverified.issuer.as_ref().and_then(|i| i.value.clone()) else {
        return refused(Refusal::Malformed);
    };
    let Some(sp) = provider
        .store
        .find_service_provider_by_entity_id(issuer.trim())
        .await?
    else {
        return refused(Refusal::UnknownServiceProvider);
    };
    let request =
        match incoming::verify(&decoded, &sp.metadata.signing_certificates, "LogoutRequest") {
            Err(refusal) => return refused(refusal),
            Ok(Verified::Unsigned) => return refused(Refusal::Unsigned),
            Ok(Verified::Query) => unverified,
            Ok(Verified::Enveloped(signed)) => {
                match signed.parse::<samael::schema::LogoutRequest>() {
                    Ok(request)
                        if request.id == unverified.id
                            && request
                                .issuer
                                .as_ref()
                                .and_then(|i| i.value.as_deref())
                                .map(str::trim)
                                == Some(issuer.trim()) =>
                    {
                        request
                    }
                    _ => return refused(Refusal::BadSignature),
                }
            }
        };
    let (Some(id), Some(name_id)) = (request.id.clone(), request.name_id.as_ref()) else {
        return refused(Refusal::Malformed);
    };
    if !super::sso::is_ncname(&id) {
        return refused(Refusal::Malformed);
    }
    let now = provider.now();
    // Fresh, and answered once: a signed logout URL left in a browser's history must not
    // sign the person out again later.
    let Some(issued) = request.issue_instant.map(|at| at.timestamp()) else {
        return refused(Refusal::Malformed);
    };
    if !incoming::is_fresh(issued, REQUEST_LIFETIME_SECS, now) {
        return refused(Refusal::Stale);
    }
    let first_time = incoming::answered_once(
        provider,
        "logout-request",
        &sp.metadata.entity_id,
        &id,
        issued,
        REQUEST_LIFETIME_SECS,
    )
    .await?;
    if !first_time {
        return refused(Refusal::Replayed);
    }
    // The sessions in which this SP was given this NameID; it is not told back.
    let session_ids = provider
        .store
        .take_saml_sessions_of(&sp.id, name_id.value.trim(), now)
        .await?;
    let mut ended = Vec::new();
    let mut front_channel = Vec::new();
    for session_id in session_ids {
        let Some(session) = provider
            .store
            .find_live_session_by_id(&session_id, now)
            .await?
        else {
            continue;
        };
        let Some(identity) = provider.store.find_identity(&session.identity_id).await? else {
            continue;
        };
        let logouts = sign_in::end_session(provider, &session, &identity).await?;
        if browser_session == Some(session.id.as_str()) {
            front_channel.extend(logouts);
        }
        ended.push(session_id);
    }
    tracing::info!(sp = %sp.metadata.entity_id, sessions = ended.len(), "SAML logout asked by the service provider");
    let outcome = match sp.logout_service(binding) {
        None => SloOutcome::Done,
        Some(service) => {
            let destination = service
                .response_location
                .clone()
                .unwrap_or_else(|| service.location.clone());
            answer(provider, &destination, &id, decoded.relay_state, binding)?
        }
    };
    Ok(SloAnswer {
        outcome,
        ended,
        front_channel,
    })
}

/// The signed `LogoutResponse` (Success) for request `in_response_to`, on `binding`.
fn answer(
    provider: &Provider,
    destination: &str,
    in_response_to: &str,
    relay_state: Option<String>,
    binding: &str,
) -> Result<SloOutcome, SamlError> {
    let e = |v: &str| xml_escape(v);
    let id = new_id();
    let idp = super::entity_id(&provider.settings);
    let signature = if binding == BINDING_POST {
        signature_template(&id, &provider.saml)
    } else {
        // On the Redirect binding the signature is the query's, not in the XML.
        String::new()
    };
    let xml = format!(
        "<samlp:LogoutResponse xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"{id}\" Version=\"2.0\" IssueInstant=\"{now}\" Destination=\"{destination}\" InResponseTo=\"{irt}\"><saml:Issuer>{idp}</saml:Issuer>{signature}<samlp:Status><samlp:StatusCode Value=\"{STATUS_SUCCESS}\"/></samlp:Status></samlp:LogoutResponse>",
        now = instant(provider.now()),
        destination = e(destination),
        irt = e(in_response_to),
        idp = e(&idp),
    );
    if binding == BINDING_POST {
        let signed = signed_element(&xml, &provider.saml)?;
        return Ok(SloOutcome::Post {
            destination: destination.to_string(),
            saml_response: base64::engine::general_purpose::STANDARD.encode(signed),
            relay_state,
        });
    }
    let url = signed_redirect(
        provider,
        destination,
        "SAMLResponse",
        &xml,
        relay_state.as_deref(),
    )
    .map_err(|e| super::response::SigningError(e.to_string()))?;
    Ok(SloOutcome::Redirect(url))
}

/// `destination` with a Redirect-binding query (Bindings §3.4.4.1): the message deflated
/// and base64'd, the relay state, `SigAlg`, and the RSA-SHA256 signature over those
/// octets.
pub(crate) fn signed_redirect(
    provider: &Provider,
    destination: &str,
    field: &str,
    xml: &str,
    relay_state: Option<&str>,
) -> Result<String, openssl::error::ErrorStack> {
    let encode = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let mut deflater =
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    deflater
        .write_all(xml.as_bytes())
        .and_then(|_| deflater.try_finish())
        .expect("deflating into memory does not fail");
    let deflated = deflater.get_ref().clone();
    let mut query = format!(
        "{field}={}",
        encode(&base64::engine::general_purpose::STANDARD.encode(deflated))
    );
    if let Some(relay) = relay_state {
        query.push_str(&format!("&RelayState={}", encode(relay)));
    }
    query.push_str(&format!(
        "&SigAlg={}",
        encode("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    ));
    let mut signer =
        openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &provider.saml.key)?;
    signer.update(query.as_bytes())?;
    let signature = base64::engine::general_purpose::STANDARD.encode(signer.sign_to_vec()?);
    query.push_str(&format!("&Signature={}", encode(&signature)));
    let separator = if destination.contains('?') { '&' } else { '?' };
    Ok(format!("{destination}{separator}{query}"))
}
