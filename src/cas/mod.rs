//! CAS 3.0 (the Apereo CAS Protocol 3.0 specification), served from the same sign-in,
//! session, gates and logout as OpenID Connect: `login` (the browser side), `validate`
//! (ticket validation, proxy-granting tickets, `/cas/proxy`), `attributes` (what a
//! service is told), `response` (the XML, JSON and CAS 1.0 bodies) and `logout` (single
//! logout by back-channel `LogoutRequest`).

pub mod attributes;
pub mod login;
pub mod logout;
pub mod response;
pub mod validate;

use rand::RngCore;

use crate::domain::cas::TicketKind;
use crate::store::StoreError;

/// What went wrong on our side (the protocol's `INTERNAL_ERROR`, or a 500 page).
#[derive(Debug, thiserror::Error)]
pub enum CasError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sealing a ticket failed: {0}")]
    Seal(#[from] crate::crypto::sealed::SealError),
}

/// A new ticket: its prefix and 256 random bits in hex (the protocol allows only
/// letters, digits and hyphens; mod_auth_cas checks it).
pub fn new_ticket(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// A ticket of `kind`.
pub fn new_ticket_of(kind: TicketKind) -> String {
    new_ticket(kind.prefix())
}

/// Tickets that expired before this belong to sessions that are over (a session lives at
/// most `session_lifetime` from its sign-in): nothing can use them, not even single logout.
fn prune_before(provider: &crate::provider::Provider, now: i64) -> i64 {
    now - provider.settings.session_lifetime.as_secs() as i64 - 60
}

/// The owner a ticket's sealed value is bound to (its digest): a sealed value copied
/// onto another row does not open.
fn seal_owner(ticket_hash: &str) -> String {
    format!("cas-ticket:{ticket_hash}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn tickets_carry_their_prefix_and_256_bits_in_the_allowed_characters() {
        let ticket = super::new_ticket("ST-");
        assert!(ticket.starts_with("ST-"));
        assert_eq!(ticket.len(), 3 + 64);
        assert!(ticket[3..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(ticket, super::new_ticket("ST-"));
    }
}
