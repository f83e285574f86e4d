//! `/saml/sso` (SAML 2.0 Web Browser SSO, Profiles §4.1): an AuthnRequest on the
//! HTTP-Redirect or HTTP-POST binding, from a registered service provider, answered by a
//! `Response` POSTed to a consumer URL of its metadata. Read top to bottom: `decode` →
//! `find the SP` → `check the signature` → `check the request` (until here, errors show a
//! page and send nothing anywhere) → sign-in, gates, restrictions (refusals go back to
//! the SP as a SAML status) → `answer once` → the assertion.
//!
//! The request travels through the sign-in page and the gates as a carried request
//! (`saml=sso` and the binding's raw parameters), and is decoded and checked again, from
//! scratch, on every pass: nothing about it is kept on the server until it is answered.

use serde_json::json;

use super::incoming::{self, Refusal};
use super::response::{self, AssertionContent};
use super::{NAMEID_PERSISTENT, NAMEID_TRANSIENT};
use crate::account::gates::{self, Gate};
use crate::crypto::token;
use crate::domain::audit::{events, AuditEvent, RequestContext};
use crate::domain::identity::Identity;
use crate::domain::saml::ServiceProvider;
use crate::domain::session::{Session, ACR_MFA};
use crate::oauth::authorize::{Interaction, RawRequest, SignInForRequest};
use crate::provider::Provider;
use crate::store::saml::SamlParticipant;
use crate::store::StoreError;

/// The first parameter of a carried SAML request.
const MARKER: (&str, &str) = ("saml", "sso");
/// How old an AuthnRequest may be when answered: the sign-in between takes minutes. Its
/// ID is remembered this long, so it is answered once.
const REQUEST_LIFETIME_SECS: i64 = 30 * 60;

pub const CONTEXT_PASSWORD: &str =
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport";
pub const CONTEXT_REFEDS_MFA: &str = "https://refeds.org/profile/mfa";

#[derive(Debug, thiserror::Error)]
pub enum SamlError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Signing(#[from] response::SigningError),
}

/// What the browser gets.
#[derive(Debug)]
pub enum SamlOutcome {
    Refused(Refusal),
    SignIn {
        carried: RawRequest,
    },
    Gate {
        carried: RawRequest,
        identity: Box<Identity>,
        gate: Gate,
    },
    /// The form that POSTs `SAMLResponse` (and `RelayState`) to the SP's consumer.
    Post {
        consumer: String,
        saml_response: String,
        relay_state: Option<String>,
    },
}

/// The request as the binding delivered it.
#[derive(Debug, Clone)]
pub enum Binding {
    /// The query string exactly as received: its signature covers those octets.
    Redirect { query: String },
    Post {
        saml_request: String,
        relay_state: Option<String>,
    },
}

impl Binding {
    pub fn carried(&self) -> RawRequest {
        let mut pairs = vec![(MARKER.0.to_string(), MARKER.1.to_string())];
        match self {
            Binding::Redirect { query } => {
                pairs.push(("binding".into(), "redirect".into()));
                pairs.push(("query".into(), query.clone()));
            }
            Binding::Post {
                saml_request,
                relay_state,
            } => {
                pairs.push(("binding".into(), "post".into()));
                pairs.push(("SAMLRequest".into(), saml_request.clone()));
                if let Some(relay) = relay_state {
                    pairs.push(("RelayState".into(), relay.clone()));
                }
            }
        }
        RawRequest(pairs)
    }

    /// The message as `incoming` reads it.
    fn message(&self) -> incoming::Message {
        match self {
            Binding::Redirect { query } => incoming::Message::Redirect {
                query: query.clone(),
            },
            Binding::Post {
                saml_request,
                relay_state,
            } => incoming::Message::Post {
                message: saml_request.clone(),
                relay_state: relay_state.clone(),
            },
        }
    }

    /// A carried request that is a SAML one (its sign-in proof aside).
    pub fn from_carried(raw: &RawRequest) -> Option<Binding> {
        let (name, value) = raw.0.first()?;
        if name != MARKER.0 || value != MARKER.1 {
            return None;
        }
        match raw.get("binding")? {
            "redirect" => Some(Binding::Redirect {
                query: raw.get("query")?.to_string(),
            }),
            "post" => Some(Binding::Post {
                saml_request: raw.get("SAMLRequest")?.to_string(),
                relay_state: raw.get("RelayState").map(str::to_string),
            }),
            _ => None,
        }
    }
}

/// An AuthnRequest that passed every check of its own: who asked, where to answer.
#[derive(Debug, Clone)]
struct ValidRequest {
    sp: ServiceProvider,
    id: String,
    issue_instant: i64,
    consumer: String,
    relay_state: Option<String>,
    force_authn: bool,
    is_passive: bool,
    name_id_format: Option<&'static str>,
    wants_mfa: bool,
}

pub async fn sso(
    provider: &Provider,
    carried: RawRequest,
    session: Option<(Session, Identity)>,
    interaction: Interaction,
    context: &RequestContext,
) -> Result<SamlOutcome, SamlError> {
    let (raw, proof) = carried.without_sign_in_proof();
    let Some(binding) = Binding::from_carried(&raw) else {
        return Ok(SamlOutcome::Refused(Refusal::Malformed));
    };
    let request = match check(provider, &binding).await? {
        Ok(request) => request,
        Err(refusal) => return Ok(SamlOutcome::Refused(refusal)),
    };
    let sign_in = SignInForRequest::read(
        provider,
        session.as_ref().map(|(s, _)| s),
        &raw,
        proof,
        interaction,
    );
    let signed_in_now = sign_in.now;
    let Some(name_id_format) = request.name_id_format else {
        return refuse(provider, &request, response::STATUS_INVALID_NAMEID_POLICY);
    };
    let session = session.filter(|_| signed_in_now || !request.force_authn);
    let Some((session, identity)) = session else {
        if request.is_passive {
            return refuse(provider, &request, response::STATUS_NO_PASSIVE);
        }
        return Ok(SamlOutcome::SignIn { carried: raw });
    };
    if let Some(gate) =
        gates::pending_for_session(provider, &identity, &session, request.wants_mfa).await?
    {
        if request.is_passive {
            return refuse(provider, &request, response::STATUS_NO_PASSIVE);
        }
        return Ok(SamlOutcome::Gate {
            carried: sign_in.carry(provider, &session, raw),
            identity: Box::new(identity),
            gate,
        });
    }
    if !request.sp.admits(&identity) {
        return refuse(provider, &request, response::STATUS_REQUEST_DENIED);
    }
    let mfa = session.acr == ACR_MFA;
    if request.wants_mfa && !mfa {
        return refuse(provider, &request, response::STATUS_NO_AUTHN_CONTEXT);
    }
    // Answered once: the ID of a request, per SP, is remembered as long as it is valid.
    let now = provider.now();
    let answered = super::incoming::answered_once(
        provider,
        "authn-request",
        &request.sp.metadata.entity_id,
        &request.id,
        request.issue_instant,
        REQUEST_LIFETIME_SECS,
    )
    .await?;
    if !answered {
        return Ok(SamlOutcome::Refused(Refusal::Replayed));
    }
    let sp_entity_id = request.sp.metadata.entity_id.clone();
    let name_id = match name_id_format {
        NAMEID_TRANSIENT => crate::cas::new_ticket("_"),
        _ => super::attributes::pairwise(provider, &sp_entity_id, &identity),
    };
    let attributes =
        super::attributes::released(provider, &request.sp.attributes, &sp_entity_id, &identity);
    let released: Vec<&str> = attributes.iter().map(|a| a.friendly_name).collect();
    provider
        .store
        .record_audit(
            AuditEvent::new(events::SAML_ASSERTION_ISSUED, now, context)
                .identity(&identity)
                .detail(
                    json!({
                        "service_provider": sp_entity_id,
                        "consumer": request.consumer,
                        "name_id_format": name_id_format,
                        "attributes": released,
                    })
                    .to_string(),
                ),
        )
        .await?;
    let session_index = token::derive(
        &provider.token_secret,
        // Per SP too: two SPs comparing SessionIndex values cannot link their NameIDs.
        &format!(
            "saml-session-index\n{}\n{}",
            request.sp.metadata.entity_id, session.id
        ),
    );
    provider
        .store
        .record_saml_participant(
            &session.id,
            &identity.id,
            SamlParticipant {
                sp_id: request.sp.id.clone(),
                name_id: name_id.clone(),
                name_id_format: name_id_format.to_string(),
                session_index: session_index.clone(),
            },
            now,
        )
        .await?;
    let content = AssertionContent {
        idp_entity_id: super::entity_id(&provider.settings),
        sp_entity_id,
        consumer_url: request.consumer.clone(),
        in_response_to: request.id.clone(),
        name_id,
        name_id_format,
        authn_instant: session.auth_time,
        authn_context: if mfa && request.wants_mfa {
            CONTEXT_REFEDS_MFA
        } else {
            CONTEXT_PASSWORD
        },
        session_index,
        attributes,
    };
    let delivery = response::Delivery {
        encrypt_to: request.sp.metadata.encryption_certificate.as_deref(),
        sign_response: request.sp.sign_response,
    };
    let saml_response = response::success(&content, &provider.saml, delivery, now)?;
    Ok(SamlOutcome::Post {
        consumer: request.consumer,
        saml_response,
        relay_state: request.relay_state,
    })
}

/// An XML NCName of at most 256 characters (what an `ID` attribute holds).
pub(crate) fn is_ncname(id: &str) -> bool {
    let mut chars = id.chars();
    id.len() <= 256
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A SAML error status posted back to the SP's consumer.
fn refuse(
    provider: &Provider,
    request: &ValidRequest,
    second: &str,
) -> Result<SamlOutcome, SamlError> {
    let top = if second == response::STATUS_INVALID_NAMEID_POLICY {
        response::STATUS_REQUESTER
    } else {
        response::STATUS_RESPONDER
    };
    let saml_response = response::status(
        &super::entity_id(&provider.settings),
        &request.consumer,
        &request.id,
        top,
        Some(second),
        &provider.saml,
        provider.now(),
    )?;
    Ok(SamlOutcome::Post {
        consumer: request.consumer.clone(),
        saml_response,
        relay_state: request.relay_state.clone(),
    })
}

/// Decodes and checks the request on its own: its SP, its signature, its consumer, its
/// age. Any failure is a page: nothing can be sent to an SP not known to have asked.
async fn check(
    provider: &Provider,
    binding: &Binding,
) -> Result<Result<ValidRequest, Refusal>, SamlError> {
    let Some(decoded) = incoming::decode(&binding.message(), "SAMLRequest") else {
        return Ok(Err(Refusal::Malformed));
    };
    if !incoming::root_is(&decoded.xml, "AuthnRequest") {
        return Ok(Err(Refusal::Malformed));
    }
    let Ok(unverified) = decoded.xml.parse::<samael::schema::AuthnRequest>() else {
        return Ok(Err(Refusal::Malformed));
    };
    let Some(issuer) = unverified.issuer.as_ref().and_then(|i| i.value.clone()) else {
        return Ok(Err(Refusal::Malformed));
    };
    let Some(sp) = provider
        .store
        .find_service_provider_by_entity_id(issuer.trim())
        .await?
    else {
        return Ok(Err(Refusal::UnknownServiceProvider));
    };
    // What the request says: for a signed POST, only what the signature covers.
    let request =
        match incoming::verify(&decoded, &sp.metadata.signing_certificates, "AuthnRequest") {
            Err(refusal) => return Ok(Err(refusal)),
            Ok(incoming::Verified::Unsigned) if sp.metadata.authn_requests_signed => {
                return Ok(Err(Refusal::Unsigned))
            }
            Ok(incoming::Verified::Unsigned | incoming::Verified::Query) => unverified,
            Ok(incoming::Verified::Enveloped(signed)) => {
                // The signed request is the one that named the SP (same ID, same issuer).
                match signed.parse::<samael::schema::AuthnRequest>() {
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
                    _ => return Ok(Err(Refusal::BadSignature)),
                }
            }
        };
    // Its ID goes into our signed answer and our replay record: an XML name, not
    // anything at all; the rest as SAML Core §3.2.1 and Bindings §3.4.5.2 require.
    if !is_ncname(&request.id)
        || request.version != "2.0"
        || request
            .destination
            .as_deref()
            .is_some_and(|d| d.trim() != provider.settings.endpoint(super::SSO_PATH))
        || (request.assertion_consumer_service_url.is_some()
            && request.assertion_consumer_service_index.is_some())
    {
        return Ok(Err(Refusal::Malformed));
    }
    let issue_instant = request.issue_instant.timestamp();
    let now = provider.now();
    if sp.metadata.valid_until.is_some_and(|until| until <= now) {
        return Ok(Err(Refusal::UnknownServiceProvider));
    }
    if !super::incoming::is_fresh(issue_instant, REQUEST_LIFETIME_SECS, now) {
        return Ok(Err(Refusal::Stale));
    }
    if request
        .protocol_binding
        .as_deref()
        .is_some_and(|b| b != crate::domain::saml::BINDING_POST)
    {
        return Ok(Err(Refusal::UnknownConsumer));
    }
    let Some(consumer) = sp
        .consumer(
            request.assertion_consumer_service_url.as_deref(),
            request.assertion_consumer_service_index,
        )
        .map(|c| c.location.clone())
    else {
        return Ok(Err(Refusal::UnknownConsumer));
    };
    let name_id_format = match request
        .name_id_policy
        .as_ref()
        .and_then(|p| p.format.as_deref())
    {
        None
        | Some("urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified")
        | Some(NAMEID_PERSISTENT) => Some(NAMEID_PERSISTENT),
        Some(NAMEID_TRANSIENT) => Some(NAMEID_TRANSIENT),
        Some(_) => None,
    };
    let wants_mfa = request
        .requested_authn_context
        .as_ref()
        .and_then(|c| c.authn_context_class_refs.as_ref())
        .is_some_and(|refs| {
            refs.iter()
                .any(|r| r.value.as_deref().map(str::trim) == Some(CONTEXT_REFEDS_MFA))
        });
    Ok(Ok(ValidRequest {
        id: request.id.clone(),
        issue_instant,
        consumer,
        relay_state: decoded.relay_state.filter(|r| r.len() <= 1024),
        force_authn: request.force_authn.unwrap_or(false),
        is_passive: request.is_passive.unwrap_or(false),
        name_id_format,
        wants_mfa,
        sp,
    }))
}
