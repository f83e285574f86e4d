//! The person's side of the account: signing in, sessions, provisioning, and the
//! lifecycle (activation, recovery, identity theft, the gates before a relying party).

pub mod activation;
pub mod enrollment;
pub mod gates;
pub mod passwords;
pub mod provisioning;
pub mod recovery;
pub mod sign_in;
pub mod theft;
pub mod throttle;

use crate::crypto::password::PasswordError;
use crate::crypto::token;
use crate::domain::link::{LinkPurpose, NewLink};
use crate::provider::Provider;
use crate::store::lifecycle::LinkError;
use crate::store::StoreError;
use crate::views::ViewError;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    View(#[from] ViewError),
}

impl From<LinkError> for AccountError {
    fn from(error: LinkError) -> Self {
        match error {
            LinkError::Store(e) => AccountError::Store(e),
            LinkError::Invalid => AccountError::Store(StoreError::Conflict("link".into())),
        }
    }
}

/// The answer to a request that mails something: always the same, whoever asked,
/// unless the asker is being slowed down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    Accepted,
    Throttled(i64),
    /// The form itself is malformed (a date that is no date): said without looking anything up.
    Malformed(&'static str),
}

/// A fresh link: the secret for the mail, and what the store keeps.
pub(crate) fn new_link(
    provider: &Provider,
    purpose: LinkPurpose,
    lifetime_secs: u64,
    path: &str,
) -> (String, NewLink) {
    let secret = token::generate();
    let url = provider
        .settings
        .endpoint(&format!("{path}?token={secret}"));
    let link = NewLink {
        token_hash: token::digest(&secret),
        purpose,
        expires_at: provider.now() + lifetime_secs as i64,
    };
    (url, link)
}
