//! Plain types and rules of the identity provider: no I/O, no HTTP, no SQL.

pub mod app_password;
pub mod attribute;
pub mod audit;
pub mod cas;
pub mod client;
pub mod clock;
pub mod device;
pub mod enrollment;
pub mod grant;
pub mod identity;
pub mod link;
pub mod mail;
pub mod parent;
pub mod password_policy;
pub mod redirect_uri;
pub mod saml;
pub mod scope;
pub mod second_factor;
pub mod session;

/// A value that failed to parse, with a sentence a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Invalid(message.into())
    }
}
