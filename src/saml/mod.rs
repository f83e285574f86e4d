//! SAML 2.0 identity provider (Web Browser SSO profile), for the research federation and
//! the applications that speak SAML: `metadata` (what Etupass publishes at
//! `/saml/metadata`), `sso` (AuthnRequests answered), `response` (the signed `Response`),
//! `attributes` (eduPerson, SUPANN and the Subject Identifier attributes). XML signatures go through xmlsec (the `samael` crate); the XML
//! Etupass writes is built here from templates, every value escaped.

pub mod attributes;
pub mod encryption;
pub mod incoming;
pub mod logout;
pub mod metadata;
pub mod peer_metadata;
pub mod response;
pub mod shape;
pub mod slo;
pub mod sso;

use crate::config::Settings;

/// Etupass's SAML entity ID: the issuer and `/saml`.
pub fn entity_id(settings: &Settings) -> String {
    settings.endpoint("/saml")
}

pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
pub const NAMEID_PERSISTENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent";
pub const NAMEID_TRANSIENT: &str = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient";

/// The single sign-on endpoint (both bindings).
pub const SSO_PATH: &str = "/saml/sso";
/// The single logout endpoint (both bindings).
pub const SLO_PATH: &str = "/saml/slo";
