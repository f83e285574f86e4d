//! Client authentication at the token endpoint (RFC 6749 §2.3): `client_secret_basic`,
//! `client_secret_post`, or `none` for a public client (which must then use PKCE).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::error::OAuthError;
use crate::crypto::token::matches_digest;
use crate::crypto::Secret;
use crate::domain::client::{AuthMethod, Client};
use crate::store::Store;

/// What the request presented, before any look-up.
#[derive(Debug)]
pub struct PresentedCredentials {
    pub client_id: String,
    pub secret: Option<Secret>,
    pub method: AuthMethod,
}

/// Reads the credentials from the `Authorization` header or the form, refusing a
/// request that uses more than one method (RFC 6749 §2.3).
pub fn extract(
    authorization: Option<&str>,
    form_client_id: Option<&str>,
    form_client_secret: Option<&str>,
) -> Result<PresentedCredentials, OAuthError> {
    let basic = authorization
        .map(|h| h.trim())
        .filter(|h| h.len() > 6 && h[..6].eq_ignore_ascii_case("basic "));
    if let Some(header) = basic {
        if form_client_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not both Basic and client_secret",
            ));
        }
        let invalid = || {
            OAuthError::invalid_client("malformed HTTP Basic credentials")
                .with_basic_challenge(true)
        };
        let decoded = STANDARD.decode(header[6..].trim()).map_err(|_| invalid())?;
        let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
        let (id, secret) = decoded.split_once(':').ok_or_else(invalid)?;
        // RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
        let (id, secret) = (form_decode(id), form_decode(secret));
        if let Some(form_id) = form_client_id {
            if form_id != id {
                return Err(invalid());
            }
        }
        return Ok(PresentedCredentials {
            client_id: id,
            secret: Some(Secret::new(secret)),
            method: AuthMethod::ClientSecretBasic,
        });
    }
    let client_id = form_client_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?;
    Ok(PresentedCredentials {
        client_id: client_id.to_string(),
        secret: form_client_secret.map(Secret::new),
        method: if form_client_secret.is_some() {
            AuthMethod::ClientSecretPost
        } else {
            AuthMethod::None
        },
    })
}

/// Checks the presented credentials against the registered client. Every failure is the
/// same `invalid_client`, so the answer does not tell which part was wrong.
pub async fn authenticate(
    store: &Store,
    presented: PresentedCredentials,
) -> Result<Client, OAuthError> {
    let basic = presented.method == AuthMethod::ClientSecretBasic;
    let failed =
        || OAuthError::invalid_client("client authentication failed").with_basic_challenge(basic);
    let client = store
        .find_client(&presented.client_id)
        .await?
        .ok_or_else(failed)?;
    if client.token_endpoint_auth_method != presented.method {
        return Err(failed());
    }
    match (presented.method, &presented.secret, &client.secret_hash) {
        (AuthMethod::None, None, _) if client.public => Ok(client),
        (
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost,
            Some(secret),
            Some(hash),
        ) if matches_digest(secret.expose(), hash) => Ok(client),
        _ => Err(failed()),
    }
}

fn form_decode(part: &str) -> String {
    url::form_urlencoded::parse(format!("v={part}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| part.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20client:s%3Acret"));
        let creds = extract(Some(&header), None, None).unwrap();
        assert_eq!(creds.client_id, "my client");
        assert_eq!(creds.secret.unwrap().expose(), "s:cret");
        assert_eq!(creds.method, AuthMethod::ClientSecretBasic);
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let header = format!("Basic {}", STANDARD.encode("a:b"));
        let err = extract(Some(&header), Some("a"), Some("b")).unwrap_err();
        assert_eq!(err.code, super::super::error::ErrorCode::InvalidRequest);
    }

    #[test]
    fn no_credentials_is_invalid_client() {
        let err = extract(None, None, None).unwrap_err();
        assert_eq!(err.code, super::super::error::ErrorCode::InvalidClient);
    }

    #[test]
    fn form_post_and_none() {
        assert_eq!(
            extract(None, Some("c"), Some("s")).unwrap().method,
            AuthMethod::ClientSecretPost
        );
        assert_eq!(
            extract(None, Some("c"), None).unwrap().method,
            AuthMethod::None
        );
    }
}
