//! The ID token (OIDC Core §2, §3.1.3.6).

use serde_json::{json, Map};

use crate::crypto::jwt;
use crate::crypto::keys::KeyError;
use crate::domain::client::Client;
use crate::domain::clock::UnixTime;

use crate::domain::grant::RequestedClaims;
use crate::domain::identity::Identity;
use crate::provider::Provider;

/// What the ID token says about the sign-in it comes from.
#[derive(Debug, Clone)]
pub struct SignInFacts<'a> {
    pub auth_time: UnixTime,
    pub acr: &'a str,
    pub amr: &'a [String],
    pub session_id: Option<&'a str>,
    pub nonce: Option<&'a str>,
    /// Claims the relying party asked for by name (the `claims` parameter).
    pub claims: Option<&'a RequestedClaims>,
}

pub fn issue(
    provider: &Provider,
    client: &Client,
    identity: &Identity,
    code: &SignInFacts<'_>,
    access_token: &str,
    now: UnixTime,
) -> Result<String, KeyError> {
    let alg = client.id_token_signed_response_alg;
    let lifetime = provider.settings.id_token_lifetime.as_secs() as i64;
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(provider.settings.issuer()));
    let subject = super::subject::for_client(provider, client, identity);
    // Claims asked for in the ID token itself (OIDC Core §5.5); the rest stay in userinfo.
    if let Some(requested) = code.claims {
        claims.extend(super::claims::by_name(
            identity,
            &requested.id_token,
            &provider.settings,
        ));
    }
    claims.insert("sub".into(), json!(subject));
    claims.insert("aud".into(), json!(client.client_id));
    claims.insert("azp".into(), json!(client.client_id));
    claims.insert("exp".into(), json!(now + lifetime));
    claims.insert("iat".into(), json!(now));
    claims.insert("auth_time".into(), json!(code.auth_time));
    if let Some(nonce) = code.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    claims.insert(
        "at_hash".into(),
        json!(jwt::left_half_hash(alg, access_token)),
    );
    claims.insert("acr".into(), json!(code.acr));
    claims.insert("amr".into(), json!(code.amr));
    if let Some(sid) = code.session_id {
        claims.insert("sid".into(), json!(sid));
    }
    Ok(jwt::sign(&provider.keys.current(), alg, "JWT", claims, now)?.token)
}
