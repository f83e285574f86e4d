//! Registering relying parties (by the administrator's command line today; RFC 7591 later).

use crate::crypto::token;
use crate::domain::client::{Client, NewClient};
use crate::domain::Invalid;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Validates and stores a client. A confidential client gets a 256-bit secret, returned
/// here once and stored only as its SHA-256 digest.
pub async fn register(
    store: &Store,
    new: NewClient,
    now: i64,
) -> Result<(Client, Option<String>), RegistrationError> {
    new.validate()?;
    let secret = (!new.public).then(token::generate);
    let client = store
        .create_client(new, secret.as_deref().map(token::digest), now)
        .await?;
    Ok((client, secret))
}
