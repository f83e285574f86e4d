//! Which claims each scope releases (OIDC Core §5.4), and the university claims.

use serde_json::{json, Map, Value};

use crate::config::Settings;
use crate::domain::identity::Identity;
use crate::domain::scope::{self, Scope};

/// Claims that can appear in userinfo or the ID token.
pub const SUPPORTED: [&str; 23] = [
    "phone_number",
    "phone_number_verified",
    "iss",
    "sub",
    "aud",
    "azp",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "sid",
    "at_hash",
    "name",
    "family_name",
    "given_name",
    "preferred_username",
    "email",
    "email_verified",
    "student_number",
    "eduPersonAffiliation",
    "eduPersonPrincipalName",
];

/// The userinfo claims `scope` releases. Birth date is deliberately not released under
/// `profile`: relying parties of a university have no need for it (data minimisation).
/// `subject` is the `sub` this client sees (see `oauth::subject`).
pub fn for_scope(
    identity: &Identity,
    subject: &str,
    scope: &Scope,
    settings: &Settings,
) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(subject));
    if scope.contains(scope::PROFILE) {
        claims.insert("name".into(), json!(identity.display_name()));
        claims.insert("family_name".into(), json!(identity.family_name));
        claims.insert("given_name".into(), json!(identity.given_names));
        claims.insert("preferred_username".into(), json!(identity.number.as_str()));
    }
    if scope.contains(scope::EMAIL) {
        if let Some(email) = &identity.institutional_email {
            claims.insert("email".into(), json!(email));
            // Institutional addresses are issued by the university itself.
            claims.insert("email_verified".into(), json!(true));
        }
    }
    if scope.contains(scope::PHONE) {
        if let Some(phone) = &identity.phone {
            claims.insert("phone_number".into(), json!(phone));
            // Given by the registrar, never confirmed by a code sent to it.
            claims.insert("phone_number_verified".into(), json!(false));
        }
    }
    if scope.contains(scope::ETUPASS) {
        claims.insert("student_number".into(), json!(identity.number.as_str()));
        let affiliations: Vec<&str> = identity.affiliations.iter().map(|a| a.as_str()).collect();
        claims.insert("eduPersonAffiliation".into(), json!(affiliations));
        claims.insert(
            "eduPersonPrincipalName".into(),
            json!(format!(
                "{}@{}",
                identity.number.as_str(),
                settings.eppn_domain
            )),
        );
    }
    claims
}
