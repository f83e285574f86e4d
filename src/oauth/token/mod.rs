//! The token endpoint (RFC 6749 §3.2): `parse_request` → `authenticate_client` →
//! the grant named by `grant_type`, from the registry below.

mod authorization_code;

use std::collections::HashMap;

use serde::Serialize;

use super::client_auth;
use super::error::{ErrorCode, OAuthError};
use crate::provider::Provider;

/// The successful response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// The form parameters, each present at most once (RFC 6749 §3.2).
#[derive(Debug)]
pub struct TokenRequest {
    params: HashMap<String, String>,
}

impl TokenRequest {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("{name} is required")))
    }
}

pub async fn handle(
    provider: &Provider,
    form: Vec<(String, String)>,
    authorization: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let request = parse_request(form)?;
    let presented = client_auth::extract(
        authorization,
        request.get("client_id"),
        request.get("client_secret"),
    )?;
    let client = client_auth::authenticate(&provider.store, presented).await?;
    match request.require("grant_type")? {
        "authorization_code" => authorization_code::handle(provider, &client, &request).await,
        other => Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("grant_type '{other}' is not supported"),
        )),
    }
}

fn parse_request(form: Vec<(String, String)>) -> Result<TokenRequest, OAuthError> {
    let mut params = HashMap::with_capacity(form.len());
    for (name, value) in form {
        if params.insert(name.clone(), value).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "the parameter '{name}' is repeated"
            )));
        }
    }
    Ok(TokenRequest { params })
}
