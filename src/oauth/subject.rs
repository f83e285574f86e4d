//! The `sub` a relying party sees (OIDC Core §8): the identity's opaque subject, or for a
//! pairwise client a value of its own sector, so that services of different sectors cannot
//! correlate a person. Derived with the server secret: stable, and not reversible.

use crate::crypto::token;
use crate::domain::client::Client;
use crate::domain::identity::Identity;
use crate::provider::Provider;

pub fn for_client(provider: &Provider, client: &Client, identity: &Identity) -> String {
    for_sector(provider, client.pairwise_sector.as_deref(), identity)
}

/// The same, knowing only the client's pairwise sector (`None`: public subjects).
pub fn for_sector(provider: &Provider, sector: Option<&str>, identity: &Identity) -> String {
    match sector {
        None => identity.subject.clone(),
        Some(sector) => token::derive(
            &provider.token_secret,
            &format!("pairwise-subject\n{sector}\n{}", identity.subject),
        ),
    }
}
