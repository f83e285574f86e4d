//! Client assertions (RFC 7523 §2.2 and §3, OIDC Core §9): a JWT the client signs with
//! its private key (`private_key_jwt`) or MACs with its secret (`client_secret_jwt`).
//! Each is accepted once: its `jti` is kept until it expires, so a captured assertion
//! cannot be replayed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::{Jwk, JwkSet};
use josekit::jws::{self, JwsVerifier};
use serde_json::{Map, Value};

use super::clients::derived_secret;
use super::discovery::TOKEN_PATH;
use super::error::OAuthError;
use crate::crypto::token;
use crate::domain::client::{AuthMethod, Client};
use crate::provider::Provider;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How far ahead an assertion may expire: its `jti` is stored that long.
pub const MAX_LIFETIME_SECS: i64 = 3600;
/// Clock skew tolerated on `iat` and `nbf`.
const LEEWAY_SECS: i64 = 60;

/// What can be read from an assertion before verifying it, to find its client.
#[derive(Debug)]
pub struct Unverified {
    pub subject: Option<String>,
    pub method: AuthMethod,
}

/// The header's `alg` says which method the client used (HMAC for a shared secret);
/// the payload's `sub` names the client. Nothing here is trusted yet.
pub fn peek(assertion: &str) -> Option<Unverified> {
    let header = josekit::jwt::decode_header(assertion).ok()?;
    let alg = header.claim("alg")?.as_str()?;
    let method = match alg {
        "HS256" | "HS384" | "HS512" => AuthMethod::ClientSecretJwt,
        "none" => return None,
        _ => AuthMethod::PrivateKeyJwt,
    };
    let payload = assertion.split('.').nth(1)?;
    let payload: Map<String, Value> =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    Some(Unverified {
        subject: payload
            .get("sub")
            .and_then(Value::as_str)
            .map(str::to_string),
        method,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    #[error("the signature does not verify with the client's keys")]
    Signature,
    #[error("{0}")]
    Claims(&'static str),
    #[error("the assertion's jti was already used")]
    Replayed,
    #[error("the client's keys cannot be used: {0}")]
    Keys(String),
    #[error("server error")]
    Server(OAuthError),
}

impl From<crate::store::StoreError> for Rejected {
    fn from(error: crate::store::StoreError) -> Self {
        Rejected::Server(error.into())
    }
}

impl From<OAuthError> for Rejected {
    fn from(error: OAuthError) -> Self {
        Rejected::Server(error)
    }
}

/// Verifies the signature with the client's registered key material, then the claims,
/// then records the `jti`.
pub async fn verify(
    provider: &Provider,
    client: &Client,
    assertion: &str,
    endpoint: &str,
) -> Result<(), Rejected> {
    let header = josekit::jwt::decode_header(assertion).map_err(|_| Rejected::Signature)?;
    let alg = header
        .claim("alg")
        .and_then(Value::as_str)
        .ok_or(Rejected::Signature)?
        .to_string();
    let kid = header
        .claim("kid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let claims = match client.token_endpoint_auth_method {
        AuthMethod::ClientSecretJwt => {
            let salt = client
                .secret_salt
                .as_deref()
                .ok_or_else(|| Rejected::Keys("no secret was issued".into()))?;
            let secret = derived_secret(&provider.token_secret, salt);
            verify_hmac(assertion, &alg, secret.as_bytes())?
        }
        AuthMethod::PrivateKeyJwt => {
            let keys = provider
                .client_keys
                .for_client(client, kid.as_deref())
                .await?;
            verify_with_jwks(assertion, &alg, kid.as_deref(), &keys)?
        }
        _ => return Err(Rejected::Keys("not an assertion client".into())),
    };
    let audiences = [
        provider.settings.issuer().to_string(),
        provider.settings.endpoint(TOKEN_PATH),
        provider.settings.endpoint(endpoint),
    ];
    let now = provider.now();
    let (jti, exp) = check_claims(&claims, &client.client_id, &audiences, now)?;
    let key = token::digest(&format!("{}\0{jti}", client.client_id));
    if provider.store.record_assertion(key, exp, now).await? {
        Ok(())
    } else {
        Err(Rejected::Replayed)
    }
}

/// The MAC is checked here, in constant time (josekit compares MACs with `!=`, which
/// leaks timing to a client that may retry the same payload without limit).
fn verify_hmac(assertion: &str, alg: &str, secret: &[u8]) -> Result<Map<String, Value>, Rejected> {
    use hmac::{Hmac, Mac};
    use sha2::{Sha256, Sha384, Sha512};
    fn check<M: Mac + hmac::digest::KeyInit>(
        secret: &[u8],
        signed: &str,
        signature: &[u8],
    ) -> bool {
        let Ok(mut mac) = <M as Mac>::new_from_slice(secret) else {
            return false;
        };
        mac.update(signed.as_bytes());
        mac.verify_slice(signature).is_ok()
    }
    let mut parts = assertion.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejected::Signature);
    };
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Rejected::Signature)?;
    let signed = format!("{header}.{payload}");
    let valid = match alg {
        "HS256" => check::<Hmac<Sha256>>(secret, &signed, &signature),
        "HS384" => check::<Hmac<Sha384>>(secret, &signed, &signature),
        "HS512" => check::<Hmac<Sha512>>(secret, &signed, &signature),
        _ => {
            return Err(Rejected::Claims(
                "client_secret_jwt takes HS256, HS384 or HS512",
            ))
        }
    };
    if !valid {
        return Err(Rejected::Signature);
    }
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| Rejected::Signature)?;
    serde_json::from_slice(&payload)
        .map_err(|_| Rejected::Claims("the payload is not a JSON object"))
}

fn verify_with_jwks(
    assertion: &str,
    alg: &str,
    kid: Option<&str>,
    keys: &JwkSet,
) -> Result<Map<String, Value>, Rejected> {
    let candidates: Vec<&Jwk> = match kid {
        Some(kid) => keys.get(kid),
        None => keys.keys(),
    };
    for jwk in candidates {
        if jwk.key_use().is_some_and(|u| u != "sig") {
            continue;
        }
        if let Some(verifier) = asymmetric_verifier(alg, jwk) {
            return decode(assertion, verifier.as_ref());
        }
    }
    Err(Rejected::Keys(format!(
        "no {alg} key{} in the client's JWK Set",
        kid.map(|k| format!(" with kid '{k}'")).unwrap_or_default()
    )))
}

/// The verifier of `alg` for `jwk`, if the key suits the algorithm. HMAC and `none` are
/// not among them: a public key must never be used as an HMAC secret.
fn asymmetric_verifier(alg: &str, jwk: &Jwk) -> Option<Box<dyn JwsVerifier>> {
    fn boxed<V: JwsVerifier + 'static>(
        v: Result<V, josekit::JoseError>,
    ) -> Option<Box<dyn JwsVerifier>> {
        v.ok().map(|v| Box::new(v) as Box<dyn JwsVerifier>)
    }
    match alg {
        "RS256" => boxed(jws::RS256.verifier_from_jwk(jwk)),
        "RS384" => boxed(jws::RS384.verifier_from_jwk(jwk)),
        "RS512" => boxed(jws::RS512.verifier_from_jwk(jwk)),
        "PS256" => boxed(jws::PS256.verifier_from_jwk(jwk)),
        "PS384" => boxed(jws::PS384.verifier_from_jwk(jwk)),
        "PS512" => boxed(jws::PS512.verifier_from_jwk(jwk)),
        "ES256" => boxed(jws::ES256.verifier_from_jwk(jwk)),
        "ES384" => boxed(jws::ES384.verifier_from_jwk(jwk)),
        "ES512" => boxed(jws::ES512.verifier_from_jwk(jwk)),
        "EdDSA" => boxed(jws::EdDSA.verifier_from_jwk(jwk)),
        _ => None,
    }
}

fn decode(assertion: &str, verifier: &dyn JwsVerifier) -> Result<Map<String, Value>, Rejected> {
    let (payload, _) =
        josekit::jwt::decode_with_verifier(assertion, verifier).map_err(|_| Rejected::Signature)?;
    Ok(payload.claims_set().clone())
}

/// RFC 7523 §3: `iss` and `sub` are the client, `aud` names this server, `exp` is in
/// the future (and not too far), `jti` is present. Returns the `jti` and `exp`.
fn check_claims(
    claims: &Map<String, Value>,
    client_id: &str,
    audiences: &[String],
    now: i64,
) -> Result<(String, i64), Rejected> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    if text("iss") != Some(client_id) || text("sub") != Some(client_id) {
        return Err(Rejected::Claims("iss and sub must be the client_id"));
    }
    // One audience, and ours: an array naming other parties as well is refused, so an
    // assertion made for another server cannot be played here (audience injection).
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => audiences.contains(aud),
        Some(Value::Array(list)) if list.len() == 1 => list[0]
            .as_str()
            .is_some_and(|aud| audiences.iter().any(|a| a == aud)),
        _ => false,
    };
    if !audience_ok {
        return Err(Rejected::Claims(
            "aud must be the issuer or the endpoint's URL",
        ));
    }
    let exp = number("exp").ok_or(Rejected::Claims("exp is required"))?;
    if exp <= now {
        return Err(Rejected::Claims("the assertion has expired"));
    }
    if exp > now + MAX_LIFETIME_SECS {
        return Err(Rejected::Claims("exp is more than an hour away"));
    }
    if number("nbf").is_some_and(|nbf| nbf > now + LEEWAY_SECS) {
        return Err(Rejected::Claims("the assertion is not valid yet (nbf)"));
    }
    if number("iat").is_some_and(|iat| iat > now + LEEWAY_SECS) {
        return Err(Rejected::Claims(
            "the assertion was issued in the future (iat)",
        ));
    }
    let jti = text("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or(Rejected::Claims("jti is required"))?;
    Ok((jti.to_string(), exp))
}

/// The clients' public keys: inline ones parsed on use, `jwks_uri` ones fetched and kept
/// for a few minutes, fetched again at once (at most every 10 s) when an assertion names
/// a `kid` the cached set lacks, which is how a client's key rotation shows.
pub struct ClientKeyCache {
    http: reqwest::Client,
    /// For dynamically registered clients' `jwks_uri`: public addresses only.
    public_http: reqwest::Client,
    fetched: Mutex<HashMap<String, (Instant, JwkSet)>>,
}

const CACHE_FOR: Duration = Duration::from_secs(300);
const REFETCH_AFTER: Duration = Duration::from_secs(10);
const MAX_JWKS_BYTES: usize = 64 * 1024;

impl ClientKeyCache {
    /// `allow_loopback`: registrants' URLs may reach this machine (tests only).
    pub fn new(allow_loopback: bool) -> Self {
        ClientKeyCache {
            http: super::outbound::client(Duration::from_secs(5)),
            public_http: super::outbound::public_only_client(
                Duration::from_secs(5),
                allow_loopback,
            ),
            fetched: Mutex::new(HashMap::new()),
        }
    }

    async fn for_client(&self, client: &Client, kid: Option<&str>) -> Result<JwkSet, Rejected> {
        if let Some(inline) = &client.jwks {
            return JwkSet::from_bytes(inline.to_string().as_bytes())
                .map_err(|e| Rejected::Keys(e.to_string()));
        }
        let uri = client
            .jwks_uri
            .as_deref()
            .ok_or_else(|| Rejected::Keys("neither jwks nor jwks_uri".into()))?;
        let cached = {
            let fetched = self
                .fetched
                .lock()
                .expect("the cache lock is never poisoned");
            fetched.get(uri).and_then(|(at, set)| {
                let fresh = at.elapsed() < CACHE_FOR;
                let knows_kid = kid.is_none_or(|kid| !set.get(kid).is_empty());
                (fresh && (knows_kid || at.elapsed() < REFETCH_AFTER)).then(|| set.clone())
            })
        };
        if let Some(set) = cached {
            return Ok(set);
        }
        // A registrant's URL is dialled only at public addresses, resolved now.
        let registrant = client.registration_token_hash.is_some();
        let set = self.fetch(uri, registrant).await?;
        self.fetched
            .lock()
            .expect("the cache lock is never poisoned")
            .insert(uri.to_string(), (Instant::now(), set.clone()));
        Ok(set)
    }

    async fn fetch(&self, uri: &str, registrant: bool) -> Result<JwkSet, Rejected> {
        let failed = |e: &dyn std::fmt::Display| Rejected::Keys(format!("fetching {uri}: {e}"));
        let http = if registrant {
            &self.public_http
        } else {
            &self.http
        };
        let response = http.get(uri).send().await.map_err(|e| failed(&e))?;
        if !response.status().is_success() {
            return Err(failed(&response.status()));
        }
        // Read chunk by chunk, stopping past the limit: a chunked answer has no length to
        // check first, and must not fill the memory.
        let mut response = response;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| failed(&e))? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(failed(&"the JWK Set is too large"));
            }
            body.extend_from_slice(&chunk);
        }
        JwkSet::from_bytes(&body).map_err(|e| failed(&e))
    }
}

impl std::fmt::Debug for ClientKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientKeyCache")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    const AUD: &str = "https://id.example.edu";

    fn good() -> Value {
        json!({"iss": "c1", "sub": "c1", "aud": AUD, "exp": 1_100, "jti": "j1"})
    }

    #[test]
    fn claims_are_checked() {
        let audiences = [AUD.to_string()];
        assert_eq!(
            check_claims(&claims(good()), "c1", &audiences, 1_000).unwrap(),
            ("j1".to_string(), 1_100)
        );
        let mut wrong_aud = good();
        wrong_aud["aud"] = json!(["https://other.example"]);
        let mut expired = good();
        expired["exp"] = json!(999);
        let mut too_long = good();
        too_long["exp"] = json!(1_000 + MAX_LIFETIME_SECS + 1);
        let mut no_jti = good();
        no_jti.as_object_mut().unwrap().remove("jti");
        let mut other_client = good();
        other_client["iss"] = json!("c2");
        for bad in [wrong_aud, expired, too_long, no_jti, other_client] {
            assert!(check_claims(&claims(bad), "c1", &audiences, 1_000).is_err());
        }
        let mut listed = good();
        listed["aud"] = json!([AUD]);
        assert!(check_claims(&claims(listed), "c1", &audiences, 1_000).is_ok());
        let mut injected = good();
        injected["aud"] = json!(["https://other.example", AUD]);
        assert!(check_claims(&claims(injected), "c1", &audiences, 1_000).is_err());
    }

    #[test]
    fn peek_reads_the_method_and_subject() {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#);
        let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"c1"}"#);
        let peeked = peek(&format!("{header}.{payload}.sig")).unwrap();
        assert_eq!(peeked.method, AuthMethod::ClientSecretJwt);
        assert_eq!(peeked.subject.as_deref(), Some("c1"));
        let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        assert!(peek(&format!("{none}.{payload}.")).is_none());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            "[A-Za-z0-9_-]{0,60}",
            prop::sample::select(vec![
                r#"{"alg":"HS256"}"#,
                r#"{"alg":"none"}"#,
                r#"{"alg":"RS256","kid":"k"}"#,
                r#"{"sub":"c1","iss":"c1","aud":"x","exp":1e30,"jti":"j"}"#,
                r#"{"sub":1}"#,
                "[]",
                "{",
            ])
            .prop_map(|s| URL_SAFE_NO_PAD.encode(s)),
        ]
    }

    fn claim_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(json!(null)),
            Just(json!("c1")),
            Just(json!("https://id.example.edu")),
            Just(json!(["https://id.example.edu", "https://other.example"])),
            Just(json!([])),
            any::<i64>().prop_map(|n| json!(n)),
            Just(json!(1.5e300)),
            ".{0,20}".prop_map(|s| json!(s)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Whatever is posted as `client_assertion`, reading it before verification
        /// answers or gives up: never a panic, and never `alg: none`.
        #[test]
        fn peeking_at_any_assertion_never_panics(
            header in segment(), payload in segment(), signature in "[A-Za-z0-9_.-]{0,40}"
        ) {
            let assertion = format!("{header}.{payload}.{signature}");
            if let Some(peeked) = peek(&assertion) {
                let alg = josekit::jwt::decode_header(&assertion)
                    .ok()
                    .and_then(|h| h.claim("alg").and_then(Value::as_str).map(str::to_string));
                prop_assert_ne!(alg.as_deref(), Some("none"));
                let _ = peeked.method;
            }
            let _ = verify_hmac(&assertion, "HS256", b"secret");
        }

        /// The claims of a verified assertion: accepted only when `iss` and `sub` are the
        /// client, the audience is ours alone, and it is live; refused otherwise.
        #[test]
        fn claims_are_accepted_only_when_every_rule_holds(
            iss in claim_value(), sub in claim_value(), aud in claim_value(),
            exp in claim_value(), jti in claim_value(),
        ) {
            let mut claims = Map::new();
            for (name, value) in [("iss", iss), ("sub", sub), ("aud", aud), ("exp", exp), ("jti", jti)] {
                if !value.is_null() {
                    claims.insert(name.into(), value);
                }
            }
            let audiences = ["https://id.example.edu".to_string()];
            if let Ok((jti, exp)) = check_claims(&claims, "c1", &audiences, 1_000) {
                prop_assert_eq!(claims.get("iss"), Some(&json!("c1")));
                prop_assert_eq!(claims.get("sub"), Some(&json!("c1")));
                prop_assert!(exp > 1_000 && exp <= 1_000 + 3600);
                prop_assert!(!jti.is_empty());
            }
        }
    }
}
