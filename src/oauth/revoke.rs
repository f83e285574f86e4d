//! Token revocation (RFC 7009): a client revokes its own access or refresh tokens. The
//! answer is 200 whether or not the token existed, so it tells nothing.

use super::error::OAuthError;
use super::token::TokenRequest;
use crate::crypto::token;
use crate::provider::Provider;

pub async fn handle(
    provider: &Provider,
    form: Vec<(String, String)>,
    authorization: Option<&str>,
) -> Result<(), OAuthError> {
    let request = TokenRequest::parse(form)?;
    let client = request
        .authenticate_client(provider, authorization, super::discovery::REVOCATION_PATH)
        .await?;
    let hash = token::digest(request.require("token")?);
    let now = provider.now();
    if let Some(access) = provider.store.find_access_token(&hash).await? {
        if access.client_id == client.client_id {
            provider.store.revoke_access_token(&hash, now).await?;
        }
        return Ok(());
    }
    if let Some(refresh) = provider.store.find_refresh_token(&hash).await? {
        if refresh.client_id == client.client_id {
            // RFC 7009 §2.1: revoking a refresh token revokes its access tokens too.
            provider
                .store
                .revoke_refresh_family(&refresh.family_id, now)
                .await?;
        }
    }
    Ok(())
}
