//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): a relying party sends the
//! person here to end the Etupass session, then back to a registered URI.

use url::Url;

use super::authorize::RawRequest;
use super::error::OAuthError;
use crate::crypto::jwt;
use crate::domain::session::Session;
use crate::provider::Provider;

#[derive(Debug)]
pub enum EndSession {
    /// End the session, then go to `redirect` (or show the signed-out page).
    SignOut { redirect: Option<String> },
    /// Nothing proves the request comes from the person's relying party: ask first, so a
    /// third-party page cannot sign students out (logout CSRF).
    Confirm { client_name: Option<String> },
    /// Shown on a page, never redirected: the i18n key of the reason.
    Refuse(&'static str),
}

pub async fn decide(
    provider: &Provider,
    raw: &RawRequest,
    session: Option<&Session>,
    confirmed: bool,
) -> Result<EndSession, OAuthError> {
    let hint = match raw.get("id_token_hint") {
        None => None,
        Some(token) => match jwt::verify_own(&provider.keys.current(), token) {
            Some(claims)
                if claims.get("iss").and_then(|v| v.as_str())
                    == Some(provider.settings.issuer()) =>
            {
                Some(claims)
            }
            _ => return Ok(EndSession::Refuse("logout.bad_hint")),
        },
    };
    let hinted_client = hint.as_ref().and_then(|claims| match claims.get("aud") {
        Some(serde_json::Value::String(aud)) => Some(aud.clone()),
        Some(serde_json::Value::Array(list)) => {
            list.first().and_then(|v| v.as_str()).map(str::to_string)
        }
        _ => None,
    });
    let client_id = match (hinted_client, raw.get("client_id")) {
        (Some(hinted), Some(given)) if hinted != given => {
            return Ok(EndSession::Refuse("logout.client_mismatch"))
        }
        (Some(hinted), _) => Some(hinted),
        (None, given) => given.map(str::to_string),
    };
    let client = match &client_id {
        Some(id) => provider.store.find_client(id).await?,
        None => None,
    };
    let redirect = match raw.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let registered = client
                .as_ref()
                .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r.matches(uri)));
            if !registered {
                return Ok(EndSession::Refuse("logout.unregistered_uri"));
            }
            let mut url = Url::parse(uri).map_err(|e| OAuthError::server(&e))?;
            if let Some(state) = raw.get("state") {
                url.query_pairs_mut().append_pair("state", state);
            }
            Some(url.to_string())
        }
    };
    // A valid hint for this very session (or for a session already gone) is the relying
    // party's proof; anything else is confirmed by the person.
    let proven = hint.as_ref().is_some_and(|claims| {
        let sid = claims.get("sid").and_then(|v| v.as_str());
        session.is_none_or(|s| sid == Some(s.id.as_str()))
    });
    if proven || confirmed || session.is_none() {
        Ok(EndSession::SignOut { redirect })
    } else {
        Ok(EndSession::Confirm {
            client_name: client.map(|c| c.name),
        })
    }
}
