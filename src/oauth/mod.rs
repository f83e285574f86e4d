//! The OAuth 2.0 / OpenID Connect protocol: one module per endpoint, and the pieces they
//! share (client authentication, PKCE, errors, claims).

pub mod attributes;
pub mod authorize;
pub mod backchannel;
pub mod claims;
pub mod client_assertion;
pub mod client_auth;
pub mod clients;
pub mod device;
pub mod discovery;
pub mod end_session;
pub mod error;
pub mod id_token;
pub mod introspect;
pub mod outbound;
pub mod par;
pub mod pkce;
pub mod registration;
pub mod revoke;
pub mod subject;
pub mod token;
pub mod userinfo;

pub use error::{ErrorCode, OAuthError};

/// The token of an `Authorization: Bearer …` header (RFC 6750 §2.1), if that is what it is.
pub(crate) fn bearer_token(authorization: Option<&str>) -> Option<&str> {
    authorization
        .map(str::trim)
        .filter(|h| h.len() > 7 && h[..7].eq_ignore_ascii_case("bearer "))
        .map(|h| h[7..].trim())
}
