//! OpenID Provider metadata (OIDC Discovery 1.0 §3, RFC 8414): only what is implemented.

use serde_json::json;

use crate::config::Settings;
use crate::domain::client::SigningAlg;
use crate::domain::scope;
use crate::domain::session::ACR_VALUES_SUPPORTED;

pub const AUTHORIZATION_PATH: &str = "/authorize";
pub const TOKEN_PATH: &str = "/token";
pub const USERINFO_PATH: &str = "/userinfo";
pub const JWKS_PATH: &str = "/jwks";
pub const INTROSPECTION_PATH: &str = "/introspect";
pub const REVOCATION_PATH: &str = "/revoke";
pub const END_SESSION_PATH: &str = "/end_session";

pub fn document(settings: &Settings) -> Vec<u8> {
    let algs: Vec<&str> = SigningAlg::ALL.iter().map(|a| a.as_str()).collect();
    let document = json!({
        "issuer": settings.issuer(),
        "authorization_endpoint": settings.endpoint(AUTHORIZATION_PATH),
        "token_endpoint": settings.endpoint(TOKEN_PATH),
        "userinfo_endpoint": settings.endpoint(USERINFO_PATH),
        "jwks_uri": settings.endpoint(JWKS_PATH),
        "introspection_endpoint": settings.endpoint(INTROSPECTION_PATH),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint": settings.endpoint(REVOCATION_PATH),
        "end_session_endpoint": settings.endpoint(END_SESSION_PATH),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": scope::SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
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
        "claims_parameter_supported": false,
    });
    serde_json::to_vec(&document).expect("discovery always serializes")
}
