//! The UserInfo endpoint (OIDC Core §5.3) with bearer tokens (RFC 6750).

use serde_json::{Map, Value};

use super::claims;
use super::error::{ErrorCode, OAuthError};
use crate::crypto::token;
use crate::domain::scope::{self, Scope};
use crate::provider::Provider;

/// Where the bearer token came from (RFC 6750 §2.1 header, §2.2 form body).
#[derive(Debug, Default)]
pub struct Bearer<'a> {
    pub authorization: Option<&'a str>,
    pub form_access_token: Option<&'a str>,
}

/// A missing token answers with a bare challenge (RFC 6750 §3.1: no error code).
#[derive(Debug)]
pub enum UserinfoError {
    NoToken,
    Rejected(OAuthError),
}

impl From<crate::store::StoreError> for UserinfoError {
    fn from(error: crate::store::StoreError) -> Self {
        UserinfoError::Rejected(error.into())
    }
}

impl From<OAuthError> for UserinfoError {
    fn from(error: OAuthError) -> Self {
        UserinfoError::Rejected(error)
    }
}

pub async fn handle(
    provider: &Provider,
    bearer: Bearer<'_>,
) -> Result<Map<String, Value>, UserinfoError> {
    let presented = extract_token(&bearer)?;
    let now = provider.now();
    let found = provider
        .store
        .find_access_token_in_context(&token::digest(presented))
        .await?
        .filter(|found| provider.access_token_usable(&found.token, now))
        .ok_or_else(|| OAuthError::invalid_token("the access token is not valid"))?;
    let access = &found.token;
    let scope = Scope::parse_supported(&access.scope);
    if !scope.contains(scope::OPENID) {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            "the access token was not issued with the openid scope",
        )
        .into());
    }
    let identity = found
        .identity
        .as_ref()
        .filter(|identity| identity.can_sign_in())
        .ok_or_else(|| OAuthError::invalid_token("the access token is not valid"))?;
    let subject = super::subject::for_sector(provider, found.pairwise_sector.as_deref(), identity);
    let requested = access
        .claims
        .as_ref()
        .map(|c| c.userinfo.as_slice())
        .unwrap_or_default();
    let mut released = claims::for_scope(identity, &subject, &scope, requested, &provider.settings);
    // Attributes pushed by other systems, for the clients chosen to receive them, under
    // the university scope the person agreed to.
    if scope.contains(scope::ETUPASS) && !found.released_attributes.is_empty() {
        let attributes: serde_json::Map<String, Value> = provider
            .store
            .attributes(&identity.id)
            .await?
            .into_iter()
            .filter(|a| found.released_attributes.contains(&a.name))
            .map(|a| {
                (
                    a.name.clone(),
                    serde_json::to_value(&a).unwrap_or(Value::Null),
                )
            })
            .collect();
        released.insert("etupass_attributes".into(), Value::Object(attributes));
    }
    // A parent's students, each as the `sub` this client knows them by, only where the
    // student lets applications know of the link.
    if scope.contains(scope::FAMILY) {
        let followed: Vec<Value> = provider
            .store
            .students_followed_by(&identity.id)
            .await?
            .into_iter()
            .filter(|(link, student)| link.shared_with_apps && student.can_sign_in())
            .map(|(_, student)| {
                serde_json::json!({
                    "sub": super::subject::for_sector(
                        provider,
                        found.pairwise_sector.as_deref(),
                        &student,
                    ),
                    "name": student.display_name(),
                    "given_name": student.given_names,
                    "family_name": student.family_name,
                })
            })
            .collect();
        released.insert("followed_students".into(), Value::from(followed));
    }
    Ok(released)
}

fn extract_token<'a>(bearer: &Bearer<'a>) -> Result<&'a str, UserinfoError> {
    let from_header = bearer.authorization.map(|header| {
        let header = header.trim();
        match header.split_once(' ') {
            Some((scheme, value)) if scheme.eq_ignore_ascii_case("bearer") => Some(value.trim()),
            _ => None,
        }
    });
    match (from_header, bearer.form_access_token) {
        (Some(Some(_)), Some(_)) => {
            Err(OAuthError::invalid_request("send the access token in one place only").into())
        }
        (Some(Some(token)), None) if !token.is_empty() => Ok(token),
        (Some(_), None) => Err(OAuthError::invalid_request(
            "the Authorization header is not a Bearer token",
        )
        .into()),
        (None, Some(token)) if !token.is_empty() => Ok(token),
        _ => Err(UserinfoError::NoToken),
    }
}
