//! The attribute API: `PUT` and `DELETE /api/attributes/{number}/{name}`, for university
//! systems holding a client_credentials token of the `etupass:attributes` scope.

use super::error::{ErrorCode, OAuthError};
use crate::crypto::token;
use crate::domain::attribute::{Attribute, WRITE_SCOPE};
use crate::domain::client::Client;
use crate::domain::identity::{Identity, StudentNumber};
use crate::provider::Provider;

/// The body of a `PUT`.
#[derive(Debug, serde::Deserialize)]
pub struct AttributeBody {
    pub label: String,
    pub value: String,
    #[serde(default)]
    pub link: Option<String>,
}

/// The writing system behind a bearer token: a service token with the scope, of a client
/// still marked as a writer (a mark removed later stops its live tokens too).
async fn writer(provider: &Provider, authorization: Option<&str>) -> Result<Client, OAuthError> {
    let invalid = || OAuthError::invalid_token("the access token is not valid");
    let presented = super::bearer_token(authorization).ok_or_else(invalid)?;
    let found = provider
        .store
        .find_access_token(&token::digest(presented))
        .await?
        .filter(|t| provider.access_token_usable(t, provider.now()))
        .ok_or_else(invalid)?;
    let insufficient = || {
        OAuthError::new(
            ErrorCode::InsufficientScope,
            format!("a client_credentials token with the {WRITE_SCOPE} scope is required"),
        )
    };
    if found.identity_id.is_some() || !found.scope.split(' ').any(|s| s == WRITE_SCOPE) {
        return Err(insufficient());
    }
    provider
        .store
        .find_client(&found.client_id)
        .await?
        .filter(|c| c.attribute_writer)
        .ok_or_else(insufficient)
}

async fn person(provider: &Provider, number: &str) -> Result<Identity, OAuthError> {
    let number =
        StudentNumber::parse(number).map_err(|e| OAuthError::invalid_request(e.to_string()))?;
    provider
        .store
        .find_identity_by_number(&number)
        .await?
        .ok_or_else(|| OAuthError::invalid_request(format!("no identity has number {number}")))
}

pub async fn put(
    provider: &Provider,
    authorization: Option<&str>,
    number: &str,
    name: &str,
    body: &[u8],
) -> Result<Attribute, OAuthError> {
    let client = writer(provider, authorization).await?;
    let body: AttributeBody = serde_json::from_slice(body).map_err(|e| {
        OAuthError::invalid_request(format!("the body must be {{label, value, link?}}: {e}"))
    })?;
    let attribute = Attribute {
        name: name.to_string(),
        label: body.label,
        value: body.value,
        link: body.link,
    };
    attribute
        .check()
        .map_err(|e| OAuthError::invalid_request(e.to_string()))?;
    let identity = person(provider, number).await?;
    if !provider
        .store
        .put_attribute(
            &identity.id,
            attribute.clone(),
            &client.client_id,
            provider.now(),
        )
        .await?
    {
        return Err(OAuthError::invalid_request(
            "another system owns this attribute: choose a name of your own",
        ));
    }
    Ok(attribute)
}

/// `false` if the person had no such attribute.
pub async fn delete(
    provider: &Provider,
    authorization: Option<&str>,
    number: &str,
    name: &str,
) -> Result<bool, OAuthError> {
    let client = writer(provider, authorization).await?;
    let identity = person(provider, number).await?;
    Ok(provider
        .store
        .delete_attribute(&identity.id, name, &client.client_id)
        .await?)
}
