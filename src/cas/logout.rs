//! Single logout (CAS 3.0 §2.3.3): when a session ends, every service that validated a
//! ticket in it gets a SAML `LogoutRequest` naming that ticket, POSTed as the
//! `logoutRequest` form field to its logout URL (by default the service URL itself,
//! without its query). The messages go through the outbox, retried like mail and
//! back-channel logout tokens.

use std::collections::HashMap;

use super::response::xml_escape;
use super::{seal_owner, CasError};
use crate::domain::mail::OutgoingMail;
use crate::provider::Provider;
use crate::store::cas::CasLogout;

/// The outbox kind of a CAS logout message.
pub const KIND: &str = "cas_logout";

/// Queues a `LogoutRequest` for each ticket validated in `session_ids`; how many.
pub async fn notify(provider: &Provider, session_ids: Vec<String>) -> Result<usize, CasError> {
    if session_ids.is_empty() {
        return Ok(0);
    }
    let logouts = provider.store.take_cas_logouts(session_ids).await?;
    queue(provider, logouts).await
}

/// "Disconnect" in the personal space: the service forgets every session it holds of
/// this person (their proxy-granting tickets end too); how many messages.
pub async fn disconnect(
    provider: &Provider,
    identity_id: &str,
    service_id: &str,
) -> Result<usize, CasError> {
    let logouts = provider
        .store
        .take_cas_logouts_of_service(identity_id, service_id)
        .await?;
    queue(provider, logouts).await
}

/// At most this many messages to one service for one end of session: enough for the
/// tabs a person opens, not a lever to make Etupass flood a server.
const MAX_PER_SERVICE: usize = 20;

fn without_query(service: &str) -> String {
    match url::Url::parse(service) {
        Ok(mut url) => {
            url.set_query(None);
            url.set_fragment(None);
            url.to_string()
        }
        Err(_) => service.to_string(),
    }
}

async fn queue(provider: &Provider, logouts: Vec<CasLogout>) -> Result<usize, CasError> {
    let mut services = HashMap::new();
    let mut per_service: HashMap<String, usize> = HashMap::new();
    let now = provider.now();
    let mut queued = 0;
    for logout in logouts {
        if !services.contains_key(&logout.service_id) {
            let service = provider.store.find_cas_service(&logout.service_id).await?;
            services.insert(logout.service_id.clone(), service);
        }
        let Some(Some(service)) = services.get(&logout.service_id) else {
            continue;
        };
        let ticket = provider
            .sealer
            .open(&logout.sealed_ticket, &seal_owner(&logout.ticket_hash))?;
        let ticket = String::from_utf8_lossy(&ticket);
        // The registered logout URL, or the service URL without its query: never a
        // query string a person chose at /cas/login.
        let destination = match &service.logout_url {
            Some(url) => url.clone(),
            None => without_query(&logout.service),
        };
        let sent = per_service.entry(logout.service_id.clone()).or_insert(0);
        *sent += 1;
        if *sent > MAX_PER_SERVICE {
            continue;
        }
        provider
            .store
            .queue_mail(
                OutgoingMail {
                    kind: KIND.to_string(),
                    recipient: destination,
                    subject: String::new(),
                    body_text: logout_request(&ticket, now),
                    body_html: String::new(),
                },
                now,
            )
            .await?;
        queued += 1;
    }
    Ok(queued)
}

/// The message of §2.3.3 (a SAML 2.0 `LogoutRequest`, unsigned, as CAS clients expect):
/// the `SessionIndex` is the service ticket the service knows the session by.
pub fn logout_request(ticket: &str, now: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(now.max(0) as u64);
    format!(
        "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\" xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\" ID=\"LR-{}\" Version=\"2.0\" IssueInstant=\"{}\"><saml:NameID>@NOT_USED@</saml:NameID><samlp:SessionIndex>{}</samlp:SessionIndex></samlp:LogoutRequest>",
        super::new_ticket(""),
        humantime::format_rfc3339_seconds(at),
        xml_escape(ticket)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_logout_url_is_the_service_without_what_the_person_added() {
        assert_eq!(
            super::without_query("https://ent.example.edu/portal/?next=http://10.0.0.1/#x"),
            "https://ent.example.edu/portal/"
        );
    }
}
