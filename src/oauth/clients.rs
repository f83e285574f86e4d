//! Registering relying parties: by the administrator's command line, or by the relying
//! party itself with an initial access token (RFC 7591, see `oauth::registration`).

use crate::crypto::token;
use crate::domain::client::{AuthMethod, Client, NewClient};
use crate::domain::Invalid;
use crate::store::clients::ClientCredentials;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Validates and stores a client. A client that authenticates with a secret gets a
/// 256-bit one, returned here once:
/// - `client_secret_basic`/`_post`: stored only as its SHA-256 digest;
/// - `client_secret_jwt`: Etupass must compute HMACs with it, so a digest will not do;
///   it is derived from a random salt and the server key (`keys/token-secret.key`), and
///   only the salt is stored: the database alone does not reveal it.
pub async fn register(
    store: &Store,
    server_key: &[u8],
    new: NewClient,
    now: i64,
) -> Result<(Client, Option<String>), RegistrationError> {
    new.validate()?;
    let (credentials, secret) = issue_credentials(server_key, new.auth_method);
    let client = store.create_client(new, credentials, now).await?;
    Ok((client, secret))
}

/// The credentials of a new client of `method`, and its secret if it has one.
pub fn issue_credentials(
    server_key: &[u8],
    method: AuthMethod,
) -> (ClientCredentials, Option<String>) {
    match method {
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
            let secret = token::generate();
            let credentials = ClientCredentials {
                secret_hash: Some(token::digest(&secret)),
                ..ClientCredentials::default()
            };
            (credentials, Some(secret))
        }
        AuthMethod::ClientSecretJwt => {
            let salt = token::generate();
            let secret = derived_secret(server_key, &salt);
            let credentials = ClientCredentials {
                secret_salt: Some(salt),
                ..ClientCredentials::default()
            };
            (credentials, Some(secret))
        }
        AuthMethod::PrivateKeyJwt | AuthMethod::None => (ClientCredentials::default(), None),
    }
}

/// The shared secret of a `client_secret_jwt` client.
pub fn derived_secret(server_key: &[u8], salt: &str) -> String {
    token::derive(server_key, &format!("client_secret_jwt\0{salt}"))
}
