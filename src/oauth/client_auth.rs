//! Client authentication at the token, introspection, revocation and PAR endpoints
//! (RFC 6749 §2.3, OIDC Core §9): `client_secret_basic`, `client_secret_post`,
//! `client_secret_jwt` and `private_key_jwt` (RFC 7523, see `client_assertion`), or
//! `none` for a public client (which must then use PKCE).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::client_assertion;
use super::error::OAuthError;
use crate::crypto::token::matches_digest;
use crate::crypto::Secret;
use crate::domain::client::{AuthMethod, Client};
use crate::provider::Provider;

/// What the request presented, before any look-up.
#[derive(Debug, Clone)]
pub struct PresentedCredentials {
    pub client_id: String,
    pub secret: Option<Secret>,
    /// A signed client assertion (RFC 7523 §2.2).
    pub assertion: Option<String>,
    pub method: AuthMethod,
}

/// The client-authentication parameters of a form.
#[derive(Debug, Default, Clone, Copy)]
pub struct FormCredentials<'a> {
    pub client_id: Option<&'a str>,
    pub client_secret: Option<&'a str>,
    pub client_assertion_type: Option<&'a str>,
    pub client_assertion: Option<&'a str>,
}

impl<'a> FormCredentials<'a> {
    /// Reads them with the form's own accessor (which treats empty values as absent).
    pub fn read(get: impl Fn(&'static str) -> Option<&'a str>) -> Self {
        FormCredentials {
            client_id: get("client_id"),
            client_secret: get("client_secret"),
            client_assertion_type: get("client_assertion_type"),
            client_assertion: get("client_assertion"),
        }
    }
}

/// Reads the credentials from the `Authorization` header or the form, refusing a
/// request that uses more than one method (RFC 6749 §2.3).
pub fn extract(
    authorization: Option<&str>,
    form: FormCredentials<'_>,
) -> Result<PresentedCredentials, OAuthError> {
    let basic = authorization
        .map(|h| h.trim())
        .filter(|h| h.len() > 6 && h[..6].eq_ignore_ascii_case("basic "));
    let form_methods =
        usize::from(form.client_secret.is_some()) + usize::from(form.client_assertion.is_some());
    if form_methods + usize::from(basic.is_some()) > 1 {
        return Err(OAuthError::invalid_request(
            "use one client authentication method, not several",
        ));
    }
    if let Some(header) = basic {
        let invalid = || {
            OAuthError::invalid_client("malformed HTTP Basic credentials")
                .with_basic_challenge(true)
        };
        let decoded = STANDARD.decode(header[6..].trim()).map_err(|_| invalid())?;
        let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
        let (id, secret) = decoded.split_once(':').ok_or_else(invalid)?;
        // RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
        let (id, secret) = (form_decode(id), form_decode(secret));
        if let Some(form_id) = form.client_id {
            if form_id != id {
                return Err(invalid());
            }
        }
        return Ok(PresentedCredentials {
            client_id: id,
            secret: Some(Secret::new(secret)),
            assertion: None,
            method: AuthMethod::ClientSecretBasic,
        });
    }
    if let Some(assertion) = form.client_assertion {
        if form.client_assertion_type != Some(client_assertion::JWT_BEARER) {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type must be {}",
                client_assertion::JWT_BEARER
            )));
        }
        let unverified = client_assertion::peek(assertion)
            .ok_or_else(|| OAuthError::invalid_client("client_assertion is not a signed JWT"))?;
        // RFC 7523 §3: the subject is the client; client_id, if sent, must agree.
        let client_id = match (form.client_id, unverified.subject) {
            (Some(id), Some(sub)) if id != sub => {
                return Err(OAuthError::invalid_client(
                    "client_id and the assertion's sub differ",
                ))
            }
            (_, Some(sub)) => sub,
            (_, None) => {
                return Err(OAuthError::invalid_client(
                    "the client assertion has no sub",
                ))
            }
        };
        return Ok(PresentedCredentials {
            client_id,
            secret: None,
            assertion: Some(assertion.to_string()),
            method: unverified.method,
        });
    }
    let client_id = form
        .client_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?;
    Ok(PresentedCredentials {
        client_id: client_id.to_string(),
        secret: form.client_secret.map(Secret::new),
        assertion: None,
        method: if form.client_secret.is_some() {
            AuthMethod::ClientSecretPost
        } else {
            AuthMethod::None
        },
    })
}

/// Checks the presented credentials against the registered client. Every failure is the
/// same `invalid_client`, so the answer does not tell which part was wrong; the reason
/// goes to the log. `endpoint` is the path called: a client assertion may name its URL
/// as audience.
pub async fn authenticate(
    provider: &Provider,
    presented: PresentedCredentials,
    endpoint: &str,
) -> Result<Client, OAuthError> {
    let registered = provider.store.find_client(&presented.client_id).await?;
    check(provider, presented, registered, endpoint).await
}

/// [`authenticate`] with the client already read (`None`: no client of that id), for an
/// endpoint that reads it together with what it needs next, in one database call.
pub async fn check(
    provider: &Provider,
    presented: PresentedCredentials,
    registered: Option<Client>,
    endpoint: &str,
) -> Result<Client, OAuthError> {
    let basic = presented.method == AuthMethod::ClientSecretBasic;
    let failed =
        || OAuthError::invalid_client("client authentication failed").with_basic_challenge(basic);
    let client = registered.ok_or_else(failed)?;
    if client.token_endpoint_auth_method != presented.method {
        tracing::info!(client_id = %client.client_id, presented = presented.method.as_str(), "client used another authentication method than registered");
        return Err(failed());
    }
    let accepted = match (presented.method, &presented.secret, &presented.assertion) {
        (AuthMethod::None, None, None) => client.public,
        (AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost, Some(_), None) => {
            secret_matches(&client, &presented)
        }
        (AuthMethod::PrivateKeyJwt | AuthMethod::ClientSecretJwt, None, Some(assertion)) => {
            match client_assertion::verify(provider, &client, assertion, endpoint).await {
                Ok(()) => true,
                Err(client_assertion::Rejected::Server(error)) => return Err(error),
                Err(reason) => {
                    tracing::info!(client_id = %client.client_id, %reason, "client assertion refused");
                    false
                }
            }
        }
        _ => false,
    };
    if accepted {
        Ok(client)
    } else {
        Err(failed())
    }
}

/// Whether `presented` is a client secret, sent the way `client` is registered for, that
/// matches the digest `client` holds.
fn secret_matches(client: &Client, presented: &PresentedCredentials) -> bool {
    matches!(
        presented.method,
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
    ) && client.token_endpoint_auth_method == presented.method
        && presented.assertion.is_none()
        && match (&presented.secret, client.secret_hash.as_deref()) {
            (Some(secret), Some(hash)) => matches_digest(secret.expose(), hash),
            _ => false,
        }
}

/// A client authenticated by its secret against this instance's memory of it when it
/// has one, else (nothing remembered, or a secret that does not match what is
/// remembered, perhaps changed meanwhile) [`authenticate`] against its row, which is
/// then remembered. Gives the revision of the remembered row when the client came from
/// memory: the write that acts on it must check the row still has it
/// (`Store::save_access_token`); `None` when this request read the row. Assertions
/// (`private_key_jwt`, `client_secret_jwt`) are never checked from memory: each is used
/// once, in the database.
pub async fn authenticate_remembered(
    provider: &Provider,
    presented: PresentedCredentials,
    endpoint: &str,
) -> Result<(Client, Option<i64>), OAuthError> {
    if !matches!(
        presented.method,
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
    ) {
        return Ok((authenticate(provider, presented, endpoint).await?, None));
    }
    if let Some(remembered) = provider.store.remembered_client(&presented.client_id) {
        if secret_matches(&remembered.client, &presented) {
            return Ok((remembered.client.clone(), Some(remembered.revision)));
        }
    }
    let read = provider
        .store
        .read_and_remember_client(&presented.client_id)
        .await?;
    let client = check(
        provider,
        presented,
        read.map(|r| r.client.clone()),
        endpoint,
    )
    .await?;
    Ok((client, None))
}

/// `extract` then `authenticate`, as every client-authenticating endpoint does.
pub async fn authenticate_request(
    provider: &Provider,
    authorization: Option<&str>,
    form: FormCredentials<'_>,
    endpoint: &str,
) -> Result<Client, OAuthError> {
    let presented = extract(authorization, form)?;
    authenticate(provider, presented, endpoint).await
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

    fn form<'a>(client_id: Option<&'a str>, client_secret: Option<&'a str>) -> FormCredentials<'a> {
        FormCredentials {
            client_id,
            client_secret,
            ..FormCredentials::default()
        }
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20client:s%3Acret"));
        let creds = extract(Some(&header), FormCredentials::default()).unwrap();
        assert_eq!(creds.client_id, "my client");
        assert_eq!(creds.secret.unwrap().expose(), "s:cret");
        assert_eq!(creds.method, AuthMethod::ClientSecretBasic);
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let header = format!("Basic {}", STANDARD.encode("a:b"));
        let err = extract(Some(&header), form(Some("a"), Some("b"))).unwrap_err();
        assert_eq!(err.code, super::super::error::ErrorCode::InvalidRequest);
    }

    #[test]
    fn no_credentials_is_invalid_client() {
        let err = extract(None, FormCredentials::default()).unwrap_err();
        assert_eq!(err.code, super::super::error::ErrorCode::InvalidClient);
    }

    #[test]
    fn form_post_and_none() {
        assert_eq!(
            extract(None, form(Some("c"), Some("s"))).unwrap().method,
            AuthMethod::ClientSecretPost
        );
        assert_eq!(
            extract(None, form(Some("c"), None)).unwrap().method,
            AuthMethod::None
        );
    }
}
