//! `grant_type=client_credentials` (RFC 6749 §4.4): a service acting for itself, no
//! person involved. The token carries no identity, so userinfo refuses it.

use super::{TokenRequest, TokenResponse};
use crate::crypto::token;
use crate::domain::attribute::WRITE_SCOPE;
use crate::domain::client::{Client, GrantType};
use crate::domain::grant::AccessToken;
use crate::domain::scope;
use crate::oauth::client_auth;
use crate::oauth::discovery::TOKEN_PATH;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::provider::Provider;
use crate::store::StoreError;

/// Authenticates the client (from this instance's memory when it can) and issues its
/// token. A token refused because the remembered client changed meanwhile (its secret,
/// its grants, its removal, on any instance or by the command line) is issued again, or
/// refused, after reading the client afresh.
pub async fn handle(
    provider: &Provider,
    request: &TokenRequest,
    authorization: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let presented = client_auth::extract(
        authorization,
        client_auth::FormCredentials::read(|name| request.get(name)),
    )?;
    let (client, revision) =
        client_auth::authenticate_remembered(provider, presented.clone(), TOKEN_PATH).await?;
    match issue(provider, &client, request, revision).await {
        Err(Refused::ClientChanged) => {
            provider.store.forget_client(&client.client_id);
            let client = client_auth::authenticate(provider, presented, TOKEN_PATH).await?;
            issue(provider, &client, request, None)
                .await
                .map_err(Refused::into_oauth)
        }
        issued => issued.map_err(Refused::into_oauth),
    }
}

/// Why a token was not issued.
enum Refused {
    /// The client relied on is not the one in the database any more.
    ClientChanged,
    OAuth(OAuthError),
}

impl Refused {
    fn into_oauth(self) -> OAuthError {
        match self {
            Refused::OAuth(error) => error,
            Refused::ClientChanged => StoreError::ClientChanged.into(),
        }
    }
}

impl From<OAuthError> for Refused {
    fn from(error: OAuthError) -> Self {
        Refused::OAuth(error)
    }
}

/// The token for `client`, authenticated from a row of revision `client_revision`
/// (`None`: read by this request, nothing to check).
async fn issue(
    provider: &Provider,
    client: &Client,
    request: &TokenRequest,
    client_revision: Option<i64>,
) -> Result<TokenResponse, Refused> {
    if client.public || !client.allows_grant(GrantType::ClientCredentials) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the client_credentials grant",
        )
        .into());
    }
    // Scopes about a person make no sense without one. The one service scope,
    // etupass:attributes, is for the systems an administrator marked as writers.
    let requested: Vec<&str> = request
        .get("scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if requested.iter().any(|s| scope::SUPPORTED.contains(s)) {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "client_credentials tokens carry no user scope",
        )
        .into());
    }
    let writes_attributes = requested.contains(&WRITE_SCOPE);
    if writes_attributes && !client.attribute_writer {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "this client may not push attributes",
        )
        .into());
    }
    let granted = if writes_attributes { WRITE_SCOPE } else { "" };
    let now = provider.now();
    let lifetime = provider.settings.access_token_lifetime.as_secs();
    let minted = super::mint_access_token(provider, client, None, granted, now)?;
    let access_token = minted.value;
    let saved = provider
        .store
        .save_access_token(
            AccessToken {
                token_hash: token::digest(&access_token),
                client_id: client.client_id.clone(),
                identity_id: None,
                session_id: None,
                code_hash: None,
                scope: granted.to_string(),
                created_at: now,
                expires_at: now + lifetime as i64,
                revoked_at: None,
                family_id: None,
                claims: None,
                signing_kid: minted.signing_kid,
            },
            client_revision,
        )
        .await;
    match saved {
        Err(StoreError::ClientChanged) => return Err(Refused::ClientChanged),
        saved => saved.map_err(OAuthError::from)?,
    }
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: lifetime,
        scope: granted.to_string(),
        id_token: None,
        refresh_token: None,
    })
}
