//! OpenID Provider metadata (OIDC Discovery 1.0 §3, RFC 8414): only what is implemented.

use serde_json::json;

use crate::config::Settings;
use crate::domain::client::{AuthMethod, SigningAlg, DEVICE_CODE_GRANT};
use crate::domain::scope;
use crate::domain::session::ACR_VALUES_SUPPORTED;

pub const AUTHORIZATION_PATH: &str = "/authorize";
pub const TOKEN_PATH: &str = "/token";
pub const USERINFO_PATH: &str = "/userinfo";
pub const JWKS_PATH: &str = "/jwks";
pub const INTROSPECTION_PATH: &str = "/introspect";
pub const REVOCATION_PATH: &str = "/revoke";
pub const END_SESSION_PATH: &str = "/end_session";
pub const REGISTRATION_PATH: &str = "/register";
pub const PAR_PATH: &str = "/par";
pub const DEVICE_AUTHORIZATION_PATH: &str = "/device_authorization";
pub const DEVICE_VERIFICATION_PATH: &str = "/device";

/// Algorithms accepted in client assertions (`client_assertion::verify`).
const ASSERTION_ALGS: [&str; 13] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
    "HS256", "HS384", "HS512",
];

pub fn document(settings: &Settings) -> Vec<u8> {
    let algs: Vec<&str> = SigningAlg::ALL.iter().map(|a| a.as_str()).collect();
    let auth_methods: Vec<&str> = AuthMethod::ALL.iter().map(|m| m.as_str()).collect();
    let confidential_methods: Vec<&str> = AuthMethod::ALL
        .iter()
        .filter(|m| **m != AuthMethod::None)
        .map(|m| m.as_str())
        .collect();
    let document = json!({
        "issuer": settings.issuer(),
        "authorization_endpoint": settings.endpoint(AUTHORIZATION_PATH),
        "token_endpoint": settings.endpoint(TOKEN_PATH),
        "userinfo_endpoint": settings.endpoint(USERINFO_PATH),
        "jwks_uri": settings.endpoint(JWKS_PATH),
        "introspection_endpoint": settings.endpoint(INTROSPECTION_PATH),
        "introspection_endpoint_auth_methods_supported": confidential_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "registration_endpoint": settings.endpoint(REGISTRATION_PATH),
        "pushed_authorization_request_endpoint": settings.endpoint(PAR_PATH),
        "require_pushed_authorization_requests": false,
        "device_authorization_endpoint": settings.endpoint(DEVICE_AUTHORIZATION_PATH),
        "revocation_endpoint": settings.endpoint(REVOCATION_PATH),
        "end_session_endpoint": settings.endpoint(END_SESSION_PATH),
        // Not OpenID Connect: where the same sign-in speaks CAS 3.0 (the prefix CAS
        // clients are configured with, `casServerUrlPrefix`).
        "cas_server_url_prefix": settings.endpoint("/cas"),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "scopes_supported": scope::SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", DEVICE_CODE_GRANT],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGS,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": super::claims::SUPPORTED,
        "claim_types_supported": ["normal"],
        "acr_values_supported": ACR_VALUES_SUPPORTED,
        "prompt_values_supported": ["none", "login", "consent"],
        "ui_locales_supported": ["fr", "en"],
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "require_request_uri_registration": false,
        "claims_parameter_supported": true,
    });
    serde_json::to_vec(&document).expect("discovery always serializes")
}
