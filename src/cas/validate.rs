//! Ticket validation (CAS 3.0 §2.4–2.6): `/cas/validate`, `/cas/serviceValidate` and
//! `/cas/proxyValidate` (and their `/p3/` twins), proxy-granting tickets delivered to a
//! `pgtUrl` (§2.5.4), and proxy tickets from `/cas/proxy` (§2.7). Every ticket serves one
//! validation attempt, successful or not; a ticket for another service is spent too
//! (`INVALID_SERVICE`).

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::json;

use super::response::{codes, Failure, Success};
use super::{login, seal_owner, CasError};
use crate::crypto::token;
use crate::domain::audit::{events, AuditEvent, RequestContext};
use crate::domain::cas::{CasService, CasTicket, TicketKind};
use crate::domain::identity::Identity;
use crate::domain::session::Session;
use crate::provider::Provider;
use crate::store::cas::{NewCasTicket, TicketLookup};

/// Which endpoint is asked: what kinds of ticket it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/cas/validate` (CAS 1.0): service tickets only, no proxies.
    V1,
    /// `/cas/serviceValidate`: service tickets only (§2.5.1).
    Service,
    /// `/cas/proxyValidate`: service and proxy tickets.
    Proxy,
}

/// The parameters of a validation request.
#[derive(Debug, Clone, Default)]
pub struct Validation {
    pub service: Option<String>,
    pub ticket: Option<String>,
    pub pgt_url: Option<String>,
    pub renew: bool,
}

type Checked<T> = Result<T, Failure>;

pub async fn validate(
    provider: &Provider,
    endpoint: Endpoint,
    request: Validation,
    context: &RequestContext,
) -> Result<Checked<Success>, CasError> {
    let (Some(service_url), Some(ticket)) = (request.service.as_deref(), request.ticket.as_deref())
    else {
        return Ok(Err(Failure::new(
            codes::INVALID_REQUEST,
            "'service' and 'ticket' parameters are both required",
        )));
    };
    match (TicketKind::of(ticket), endpoint) {
        (Some(TicketKind::Service), _) | (Some(TicketKind::Proxy), Endpoint::Proxy) => {}
        (Some(TicketKind::Proxy), Endpoint::Service | Endpoint::V1) => {
            return Ok(Err(Failure::new(
                codes::INVALID_TICKET_SPEC,
                "a proxy ticket is validated at /cas/proxyValidate, not here",
            )))
        }
        _ => {
            return Ok(Err(Failure::new(
                codes::INVALID_TICKET_SPEC,
                "not a service or proxy ticket",
            )))
        }
    }
    // Ours are a prefix and 64 hex digits: anything else is unknown without a write.
    if ticket.len() > 80
        || !ticket
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Ok(Err(not_recognized(ticket)));
    }
    let ticket_hash = token::digest(ticket);
    let now = provider.now();
    // Sealed before it is spent, and kept with the spending in one statement: a session
    // that ends while this validation runs still tells the service (single logout).
    let sealed = provider
        .sealer
        .seal(ticket.as_bytes(), &seal_owner(&ticket_hash))?;
    let found = match provider
        .store
        .spend_cas_ticket(&ticket_hash, sealed, now)
        .await?
    {
        TicketLookup::Unknown => return Ok(Err(not_recognized(ticket))),
        TicketLookup::Spent => {
            return Ok(Err(Failure::new(
                codes::INVALID_TICKET,
                format!("ticket '{ticket}' has already been used"),
            )))
        }
        TicketLookup::Found(found) => found,
    };
    let checked =
        match check_spent_ticket(provider, &found, service_url, request.renew, now).await? {
            Ok((service, session, identity)) => match &request.pgt_url {
                // CAS 1.0 has no proxies: a pgtUrl there is ignored.
                Some(pgt_url) if endpoint != Endpoint::V1 => {
                    grant_proxy(provider, &service, pgt_url, &found, &session)
                        .await?
                        .map(|iou| (service, session, identity, iou))
                }
                _ => Ok((service, session, identity, None)),
            },
            Err(failure) => Err(failure),
        };
    let (service, session, identity, pgt_iou) = match checked {
        Ok(checked) => checked,
        Err(failure) => {
            // Nothing for single logout to name: the service got no session from it.
            provider.store.forget_cas_ticket_value(&ticket_hash).await?;
            return Ok(Err(failure));
        }
    };
    let attributes =
        super::attributes::released(&service.attributes, &identity, &provider.settings);
    let released: Vec<&str> = attributes.iter().map(|(name, _)| name.as_str()).collect();
    let detail = json!({
        "service": service.name,
        "url": found.service,
        "ticket": found.kind.as_str(),
        "attributes": released,
    });
    provider
        .store
        .record_audit(
            AuditEvent::new(events::CAS_TICKET_VALIDATED, now, context)
                .identity(&identity)
                .detail(detail.to_string()),
        )
        .await?;
    Ok(Ok(Success {
        user: identity.number.as_str().to_string(),
        attributes,
        authentication_date: session.auth_time,
        from_new_login: found.from_new_login,
        pgt_iou,
        proxies: found.proxies,
    }))
}

fn not_recognized(ticket: &str) -> Failure {
    Failure::new(
        codes::INVALID_TICKET,
        format!("ticket '{ticket}' not recognized"),
    )
}

/// What must still hold when a spent ticket is presented: the same service, in time, from
/// a sign-in when `renew` asks, from a session that still lives, for a person who may
/// still sign in, to a service still registered and open to them.
async fn check_spent_ticket(
    provider: &Provider,
    found: &CasTicket,
    service_url: &str,
    renew: bool,
    now: i64,
) -> Result<Checked<(CasService, Session, Identity)>, CasError> {
    if found.expires_at <= now {
        return Ok(Err(Failure::new(
            codes::INVALID_TICKET,
            "the ticket has expired",
        )));
    }
    if found.service != service_url {
        return Ok(Err(Failure::new(
            codes::INVALID_SERVICE,
            "the ticket was issued for another service; it is now spent",
        )));
    }
    if renew && !found.from_new_login {
        return Ok(Err(Failure::new(
            codes::INVALID_TICKET,
            "renew was asked, and the ticket was not issued from a sign-in",
        )));
    }
    let Some(session) = provider
        .store
        .find_live_session_by_id(&found.session_id, now)
        .await?
    else {
        return Ok(Err(Failure::new(
            codes::INVALID_TICKET,
            "the sign-in session of this ticket has ended",
        )));
    };
    let identity = provider
        .store
        .find_identity(&found.identity_id)
        .await?
        .filter(Identity::can_sign_in);
    let service = provider.store.find_cas_service(&found.service_id).await?;
    match (identity, service) {
        (Some(identity), Some(service)) if service.admits(&identity) => {
            Ok(Ok((service, session, identity)))
        }
        (None, _) => Ok(Err(Failure::new(
            codes::INVALID_TICKET,
            "the account cannot sign in",
        ))),
        _ => Ok(Err(Failure::new(
            codes::INVALID_SERVICE,
            "the service is not registered or not open to this person",
        ))),
    }
}

/// A proxy-granting ticket for `pgt_url` (§2.5.4): the service must be allowed to proxy
/// and the URL must be one of its own, over https. The ticket is handed to the URL with
/// its IOU; only when that URL answers 200 is the IOU returned here.
async fn grant_proxy(
    provider: &Provider,
    service: &CasService,
    pgt_url: &str,
    found: &CasTicket,
    session: &Session,
) -> Result<Checked<Option<String>>, CasError> {
    if !service.proxy_allowed {
        return Ok(Err(Failure::new(
            codes::UNAUTHORIZED_SERVICE_PROXY,
            "this service may not obtain proxy-granting tickets",
        )));
    }
    if !callback_allowed(service, pgt_url, provider.settings.outbound_allow_loopback) {
        return Ok(Err(Failure::new(
            codes::INVALID_PROXY_CALLBACK,
            "the pgtUrl must be an https URL of this service",
        )));
    }
    let pgt = super::new_ticket_of(TicketKind::ProxyGranting);
    let iou = super::new_ticket("PGTIOU-");
    let pgt_hash = token::digest(&pgt);
    let mut proxies = vec![pgt_url.to_string()];
    proxies.extend(found.proxies.iter().cloned());
    let new = NewCasTicket {
        ticket_hash: pgt_hash.clone(),
        ticket: CasTicket {
            kind: TicketKind::ProxyGranting,
            service_id: service.id.clone(),
            service: pgt_url.to_string(),
            identity_id: found.identity_id.clone(),
            session_id: session.id.clone(),
            from_new_login: false,
            proxies,
            expires_at: session.expires_at,
        },
    };
    provider
        .store
        .insert_cas_ticket(
            new,
            provider.now(),
            super::prune_before(provider, provider.now()),
        )
        .await?;
    let delivered = callback_client()
        .get(pgt_url)
        .query(&[("pgtIou", iou.as_str()), ("pgtId", pgt.as_str())])
        .send()
        .await
        .map(|response| response.status() == reqwest::StatusCode::OK)
        // The error would name the URL, and with it the proxy-granting ticket.
        .map_err(reqwest::Error::without_url);
    match delivered {
        Ok(true) => Ok(Ok(Some(iou))),
        outcome => {
            tracing::warn!(service = %service.name, ?outcome, "the proxy callback did not take the proxy-granting ticket");
            provider.store.delete_cas_ticket(&pgt_hash).await?;
            Ok(Ok(None))
        }
    }
}

/// https, and covered by the service's own pattern; plain http only to this machine's
/// loopback, and only when `outbound_allow_loopback` (tests) says so.
fn callback_allowed(service: &CasService, pgt_url: &str, allow_loopback: bool) -> bool {
    let Ok(url) = url::Url::parse(pgt_url) else {
        return false;
    };
    let secure = match url.scheme() {
        "https" => true,
        "http" => {
            allow_loopback
                && match url.host() {
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    Some(url::Host::Domain(name)) => name == "localhost",
                    None => false,
                }
        }
        _ => false,
    };
    secure && service.url_pattern.covers(pgt_url)
}

/// Certificates verified, no redirect followed, ten seconds at most.
fn callback_client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| crate::oauth::outbound::client(Duration::from_secs(10)))
}

/// `/cas/proxy` (§2.7): a proxy ticket for `target_service`, from a live proxy-granting
/// ticket.
pub async fn proxy(
    provider: &Provider,
    pgt: Option<&str>,
    target_service: Option<&str>,
) -> Result<Checked<String>, CasError> {
    let (Some(pgt), Some(target)) = (pgt, target_service) else {
        return Ok(Err(Failure::new(
            codes::INVALID_REQUEST,
            "'pgt' and 'targetService' parameters are both required",
        )));
    };
    let Some(service) = login::registered_service(provider, target).await? else {
        return Ok(Err(Failure::new(
            codes::UNAUTHORIZED_SERVICE,
            "the target service is not registered",
        )));
    };
    let now = provider.now();
    let bad_pgt = || Failure::new(codes::BAD_PGT, "the proxy-granting ticket is not valid");
    if TicketKind::of(pgt) != Some(TicketKind::ProxyGranting) {
        return Ok(Err(bad_pgt()));
    }
    let Some(granting) = provider
        .store
        .find_live_pgt(&token::digest(pgt), now)
        .await?
    else {
        return Ok(Err(bad_pgt()));
    };
    let session = provider
        .store
        .find_live_session_by_id(&granting.session_id, now)
        .await?;
    let identity = provider
        .store
        .find_identity(&granting.identity_id)
        .await?
        .filter(Identity::can_sign_in);
    let (Some(session), Some(identity)) = (session, identity) else {
        return Ok(Err(bad_pgt()));
    };
    // A new charter, a required password change or second factor stops proxying too,
    // until the person has met it on an Etupass page.
    if crate::account::gates::pending_for_session(provider, &identity, &session, false)
        .await?
        .is_some()
    {
        return Ok(Err(Failure::new(
            codes::UNAUTHORIZED_SERVICE,
            "the person must act on an Etupass page first",
        )));
    }
    if !service.admits(&identity) {
        return Ok(Err(Failure::new(
            codes::UNAUTHORIZED_SERVICE,
            "the target service is not open to this person",
        )));
    }
    let ticket = login::issue(
        provider,
        TicketKind::Proxy,
        &service,
        target,
        &session,
        false,
        granting.proxies,
    )
    .await?;
    Ok(Ok(ticket))
}
