//! `/cas/login` (CAS 3.0 §2.1): with a live session, straight back to the service with a
//! service ticket; otherwise the Etupass sign-in page, then the same gates as OpenID
//! Connect (second factor, new charter, required password change), then the ticket.
//! The request travels through those pages as a carried request (`cas=login`), and is
//! checked again, from scratch, on every pass.

use crate::account::gates::{self, Gate};
use crate::crypto::token;
use crate::domain::cas::{CasService, CasTicket, TicketKind};
use crate::domain::identity::Identity;
use crate::domain::session::Session;
use crate::oauth::authorize::{Interaction, RawRequest, SignInForRequest};
use crate::provider::Provider;
use crate::store::cas::NewCasTicket;

use super::CasError;

/// The first parameter of a carried CAS request.
const MARKER: (&str, &str) = ("cas", "login");

/// A `/cas/login` request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CasLogin {
    pub service: Option<String>,
    /// `renew=true`: the password must be given for this very ticket, session or not.
    pub renew: bool,
    /// `gateway=true`: never show a page; without a session, back to the service without
    /// a ticket (ignored with `renew`, as §2.1.1 recommends).
    pub gateway: bool,
}

/// CAS 3.0 §2.1.1: "true" (or any value but "false") sets a flag; absent leaves it unset.
fn flag(raw: &RawRequest, name: &str) -> bool {
    raw.0
        .iter()
        .any(|(k, v)| k == name && !v.eq_ignore_ascii_case("false"))
}

impl CasLogin {
    pub fn from_query(raw: &RawRequest) -> CasLogin {
        let renew = flag(raw, "renew");
        CasLogin {
            service: raw.get("service").map(str::to_string),
            renew,
            gateway: flag(raw, "gateway") && !renew,
        }
    }

    /// The request as the sign-in and gate forms carry it.
    pub fn carried(&self) -> RawRequest {
        let mut pairs = vec![(MARKER.0.to_string(), MARKER.1.to_string())];
        if let Some(service) = &self.service {
            pairs.push(("service".into(), service.clone()));
        }
        if self.renew {
            pairs.push(("renew".into(), "true".into()));
        }
        if self.gateway {
            pairs.push(("gateway".into(), "true".into()));
        }
        RawRequest(pairs)
    }

    /// A carried request that is a CAS one (its sign-in proof aside).
    pub fn from_carried(raw: &RawRequest) -> Option<CasLogin> {
        let (name, value) = raw.0.first()?;
        (name == MARKER.0 && value == MARKER.1).then(|| CasLogin::from_query(raw))
    }
}

/// What the browser gets.
#[derive(Debug)]
pub enum CasOutcome {
    /// The service is not registered (or not a web URL): a page that names no one and
    /// links nowhere.
    UnknownService,
    /// The sign-in page, carrying `carried` back.
    SignIn { carried: RawRequest },
    /// A page the person must meet first, carrying `carried` back.
    Gate {
        carried: RawRequest,
        identity: Box<Identity>,
        gate: Gate,
    },
    /// Back to the service, with a ticket or (gateway) without.
    Redirect(String),
    /// Signed in, no service named: the Etupass home page.
    SignedIn,
    /// This service is not open to this person (alumni, parents): the i18n key.
    Refused(&'static str),
}

/// One pass through `/cas/login`, from the link or from one of our forms.
pub async fn login(
    provider: &Provider,
    carried: RawRequest,
    session: Option<(Session, Identity)>,
    interaction: Interaction,
) -> Result<CasOutcome, CasError> {
    let (raw, proof) = carried.without_sign_in_proof();
    let request = CasLogin::from_carried(&raw).unwrap_or_default();
    let sign_in = SignInForRequest::read(
        provider,
        session.as_ref().map(|(s, _)| s),
        &raw,
        proof,
        interaction,
    );
    let signed_in_now = sign_in.now;
    let service = match &request.service {
        None => None,
        Some(url) => match registered_service(provider, url).await? {
            Some(service) => Some((url.clone(), service)),
            None => return Ok(CasOutcome::UnknownService),
        },
    };
    let back_without_ticket = || match &service {
        Some((url, _)) => CasOutcome::Redirect(url.clone()),
        None => CasOutcome::SignedIn,
    };
    let Some((session, identity)) = session.filter(|_| signed_in_now || !request.renew) else {
        if request.gateway {
            return Ok(back_without_ticket());
        }
        return Ok(CasOutcome::SignIn { carried: raw });
    };
    if let Some(gate) = gates::pending_for_session(provider, &identity, &session, false).await? {
        if request.gateway {
            return Ok(back_without_ticket());
        }
        return Ok(CasOutcome::Gate {
            carried: sign_in.carry(provider, &session, raw),
            identity: Box::new(identity),
            gate,
        });
    }
    let Some((url, service)) = service else {
        return Ok(CasOutcome::SignedIn);
    };
    if !service.admits(&identity) {
        if request.gateway {
            return Ok(CasOutcome::Redirect(url));
        }
        return Ok(CasOutcome::Refused("cas.not_open"));
    }
    let ticket = issue(
        provider,
        TicketKind::Service,
        &service,
        &url,
        &session,
        signed_in_now,
        Vec::new(),
    )
    .await?;
    Ok(CasOutcome::Redirect(with_ticket(&url, &ticket)))
}

/// The registered service whose pattern covers `url`; when several do, the most
/// specific: a prefix before a regular expression, the longer pattern first (so
/// `https://ent.example.edu/gestion/` keeps its own rules inside `https://ent.example.edu/`).
pub async fn registered_service(
    provider: &Provider,
    url: &str,
) -> Result<Option<CasService>, CasError> {
    Ok(provider
        .store
        .cas_services()
        .await?
        .into_iter()
        .filter(|service| service.url_pattern.covers(url))
        .max_by_key(|service| service.url_pattern.specificity()))
}

/// Stores a new service or proxy ticket for `url` and returns its value.
pub(super) async fn issue(
    provider: &Provider,
    kind: TicketKind,
    service: &CasService,
    url: &str,
    session: &Session,
    from_new_login: bool,
    proxies: Vec<String>,
) -> Result<String, CasError> {
    let now = provider.now();
    let ticket = super::new_ticket_of(kind);
    let new = NewCasTicket {
        ticket_hash: token::digest(&ticket),
        ticket: CasTicket {
            kind,
            service_id: service.id.clone(),
            service: url.to_string(),
            identity_id: session.identity_id.clone(),
            session_id: session.id.clone(),
            from_new_login,
            proxies,
            expires_at: now + provider.settings.cas_ticket_lifetime.as_secs().max(1) as i64,
        },
    };
    provider
        .store
        .insert_cas_ticket(new, now, super::prune_before(provider, now))
        .await?;
    Ok(ticket)
}

/// The service URL with `ticket` added to its query (before any fragment), the rest of
/// it left exactly as the service wrote it: it validates with that same string.
pub fn with_ticket(service: &str, ticket: &str) -> String {
    let (base, fragment) = match service.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (service, None),
    };
    let separator = if base.contains('?') { '&' } else { '?' };
    let mut url = format!("{base}{separator}ticket={ticket}");
    if let Some(fragment) = fragment {
        url.push('#');
        url.push_str(fragment);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ticket_joins_the_query_before_the_fragment() {
        assert_eq!(
            with_ticket("https://a.edu/", "ST-1"),
            "https://a.edu/?ticket=ST-1"
        );
        assert_eq!(
            with_ticket("https://a.edu/?x=1", "ST-1"),
            "https://a.edu/?x=1&ticket=ST-1"
        );
        assert_eq!(
            with_ticket("https://a.edu/p#top", "ST-1"),
            "https://a.edu/p?ticket=ST-1#top"
        );
    }

    #[test]
    fn a_request_survives_the_forms_and_only_cas_ones_are_recognised() {
        let raw =
            RawRequest::from_urlencoded("service=https%3A%2F%2Fa.edu%2F&renew=true&gateway=true");
        let login = CasLogin::from_query(&raw);
        assert!(login.renew && !login.gateway, "renew wins over gateway");
        assert_eq!(CasLogin::from_carried(&login.carried()), Some(login));
        assert_eq!(CasLogin::from_carried(&raw), None);
        let gateway =
            CasLogin::from_query(&RawRequest::from_urlencoded("gateway=true&renew=false"));
        assert!(gateway.gateway && !gateway.renew);
    }
}
