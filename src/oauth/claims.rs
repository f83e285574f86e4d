//! Which claims each scope releases (OIDC Core §5.4), the university claims, and claims
//! asked for by name (the `claims` request parameter, §5.5).

use serde_json::{json, Map, Value};

use crate::config::Settings;
use crate::domain::identity::Identity;
use crate::domain::scope::{self, Scope};

/// Claims that can appear in userinfo or the ID token.
pub const SUPPORTED: [&str; 27] = [
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
    "address",
    "student_number",
    "eduPersonAffiliation",
    "eduPersonPrincipalName",
    "groups",
    "etupass_attributes",
    "followed_students",
];

/// The scope that releases each claim about the person: what the consent page names
/// when a claim is asked for by name.
const RELEASED_BY: [(&str, &str); 13] = [
    ("name", scope::PROFILE),
    ("family_name", scope::PROFILE),
    ("given_name", scope::PROFILE),
    ("preferred_username", scope::PROFILE),
    ("email", scope::EMAIL),
    ("email_verified", scope::EMAIL),
    ("phone_number", scope::PHONE),
    ("phone_number_verified", scope::PHONE),
    ("address", scope::ADDRESS),
    ("student_number", scope::ETUPASS),
    ("eduPersonAffiliation", scope::ETUPASS),
    ("eduPersonPrincipalName", scope::ETUPASS),
    ("groups", scope::ETUPASS),
];

/// The scope whose consent covers `claim`, for claims about the person.
pub fn scope_releasing(claim: &str) -> Option<&'static str> {
    RELEASED_BY
        .iter()
        .find(|(name, _)| *name == claim)
        .map(|(_, scope)| *scope)
}

/// The userinfo claims `scope` releases, plus those asked for by name. Birth date is
/// deliberately not released under `profile`: relying parties of a university have no
/// need for it (data minimisation). `subject` is the `sub` this client sees (see
/// `oauth::subject`).
pub fn for_scope(
    identity: &Identity,
    subject: &str,
    scope: &Scope,
    requested: &[String],
    settings: &Settings,
) -> Map<String, Value> {
    let mut claims = about(identity, |s| scope.contains(s), settings);
    claims.extend(by_name(identity, requested, settings));
    claims.insert("sub".into(), json!(subject));
    claims
}

/// The claims about the person named in `names` (unknown names are ignored, §5.5.1).
pub fn by_name(identity: &Identity, names: &[String], settings: &Settings) -> Map<String, Value> {
    if names.is_empty() {
        return Map::new();
    }
    about(identity, |_| true, settings)
        .into_iter()
        .filter(|(name, _)| names.iter().any(|n| n == name))
        .collect()
}

/// The claims about the person of every scope `released` accepts.
fn about(
    identity: &Identity,
    released: impl Fn(&str) -> bool,
    settings: &Settings,
) -> Map<String, Value> {
    let mut claims = Map::new();
    if released(scope::PROFILE) {
        claims.insert("name".into(), json!(identity.display_name()));
        claims.insert("family_name".into(), json!(identity.family_name));
        claims.insert("given_name".into(), json!(identity.given_names));
        claims.insert("preferred_username".into(), json!(identity.number.as_str()));
    }
    if released(scope::EMAIL) {
        if let Some(email) = &identity.institutional_email {
            claims.insert("email".into(), json!(email));
            // Institutional addresses are issued by the university itself.
            claims.insert("email_verified".into(), json!(true));
        }
    }
    if released(scope::PHONE) {
        if let Some(phone) = &identity.phone {
            claims.insert("phone_number".into(), json!(phone));
            // Given by the registrar, never confirmed by a code sent to it.
            claims.insert("phone_number_verified".into(), json!(false));
        }
    }
    if released(scope::ADDRESS) {
        if let Some(address) = &identity.postal_address {
            // OIDC Core §5.1.1: the registrar gives one multi-line text.
            claims.insert("address".into(), json!({ "formatted": address }));
        }
    }
    if released(scope::ETUPASS) {
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
        claims.insert("groups".into(), json!(identity.groups));
    }
    claims
}
