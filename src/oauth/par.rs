//! Pushed authorization requests (RFC 9126): the client sends the authorization request
//! to Etupass directly, authenticated, and the browser carries only a `request_uri`. The
//! parameters cannot be read or changed on the way, and are checked before anyone signs in.

use serde::Serialize;

use super::authorize::{self, RawRequest};
use super::discovery::PAR_PATH;
use super::error::OAuthError;
use super::token::TokenRequest;
use crate::crypto::token;
use crate::provider::Provider;
use crate::store::pushed::PushedRequest;

/// RFC 9126 §2.2: the form of the request URIs handed out.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Parameters that authenticate the client and are not part of the request itself.
const CLIENT_AUTHENTICATION: [&str; 3] =
    ["client_secret", "client_assertion", "client_assertion_type"];

#[derive(Debug, Serialize)]
pub struct PushedResponse {
    pub request_uri: String,
    pub expires_in: u64,
}

pub async fn handle(
    provider: &Provider,
    form: Vec<(String, String)>,
    authorization: Option<&str>,
) -> Result<PushedResponse, OAuthError> {
    // The same parsing as the token endpoint: a repeated parameter is refused.
    let request = TokenRequest::parse(form.clone())?;
    let client = request
        .authenticate_client(provider, authorization, PAR_PATH)
        .await?;
    let mut parameters: Vec<(String, String)> = form
        .into_iter()
        .filter(|(name, _)| !CLIENT_AUTHENTICATION.contains(&name.as_str()))
        .collect();
    match request.get("client_id") {
        Some(id) if id != client.client_id => {
            return Err(OAuthError::invalid_request(
                "client_id is not the authenticated client",
            ))
        }
        Some(_) => {}
        // Basic authentication names the client in the header only.
        None => parameters.push(("client_id".into(), client.client_id.clone())),
    }
    authorize::check_pushed(RawRequest(parameters.clone()), client.clone())?;
    let reference = token::generate();
    let now = provider.now();
    let lifetime = provider.settings.pushed_request_lifetime.as_secs();
    provider
        .store
        .save_pushed_request(
            token::digest(&reference),
            PushedRequest {
                client_id: client.client_id,
                parameters,
            },
            now,
            now + lifetime as i64,
        )
        .await?;
    Ok(PushedResponse {
        request_uri: format!("{REQUEST_URI_PREFIX}{reference}"),
        expires_in: lifetime,
    })
}
