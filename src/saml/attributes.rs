//! The attributes a service provider can be released, under their SAML names: the
//! `urn:oid` of eduPerson, inetOrgPerson and SUPANN, and the SAML V2.0 Subject Identifier
//! attributes (`subject-id`, `pairwise-id`), scoped by `eppn_domain`.

use super::response::Attribute;
use crate::cas::attributes::edu_person_affiliations;
use crate::crypto::token;
use crate::domain::identity::{Affiliation, Identity};
use crate::provider::Provider;

/// The per-SP identifier (the persistent NameID and `pairwise-id`): derived with the
/// server secret from the person's subject and the SP's entity ID, like OpenID Connect's
/// pairwise subjects; stable, not reversible, different for every SP. Hex, as the
/// Subject Identifier profile's character set requires.
pub fn pairwise(provider: &Provider, sp_entity_id: &str, identity: &Identity) -> String {
    token::digest(&token::derive(
        &provider.token_secret,
        &format!("saml-pairwise\n{sp_entity_id}\n{}", identity.subject),
    ))
}

/// The same for every SP (`subject-id`).
fn subject_id(provider: &Provider, identity: &Identity) -> String {
    token::digest(&token::derive(
        &provider.token_secret,
        &format!("saml-subject-id\n{}", identity.subject),
    ))
}

/// The released attributes that have a value, in the order they were released.
pub fn released(
    provider: &Provider,
    names: &[String],
    sp_entity_id: &str,
    identity: &Identity,
) -> Vec<Attribute> {
    let scope = &provider.settings.eppn_domain;
    let number = identity.number.as_str().to_string();
    let has = |a: Affiliation| identity.affiliations.contains(&a);
    names
        .iter()
        .filter_map(|name| {
            let (oid, values): (&'static str, Vec<String>) = match name.as_str() {
                "eduPersonPrincipalName" => (
                    "urn:oid:1.3.6.1.4.1.5923.1.1.1.6",
                    vec![format!("{number}@{scope}")],
                ),
                "eduPersonAffiliation" => (
                    "urn:oid:1.3.6.1.4.1.5923.1.1.1.1",
                    edu_person_affiliations(identity),
                ),
                "eduPersonScopedAffiliation" => (
                    "urn:oid:1.3.6.1.4.1.5923.1.1.1.9",
                    edu_person_affiliations(identity)
                        .into_iter()
                        .map(|a| format!("{a}@{scope}"))
                        .collect(),
                ),
                "eduPersonEntitlement" => (
                    "urn:oid:1.3.6.1.4.1.5923.1.1.1.7",
                    identity
                        .groups
                        .iter()
                        .map(|g| format!("urn:mace:{scope}:group:{g}"))
                        .collect(),
                ),
                "pairwise-id" => (
                    "urn:oasis:names:tc:SAML:attribute:pairwise-id",
                    vec![format!(
                        "{}@{scope}",
                        pairwise(provider, sp_entity_id, identity)
                    )],
                ),
                "subject-id" => (
                    "urn:oasis:names:tc:SAML:attribute:subject-id",
                    vec![format!("{}@{scope}", subject_id(provider, identity))],
                ),
                "mail" => (
                    "urn:oid:0.9.2342.19200300.100.1.3",
                    identity.institutional_email.iter().cloned().collect(),
                ),
                "displayName" => (
                    "urn:oid:2.16.840.1.113730.3.1.241",
                    vec![identity.display_name()],
                ),
                "givenName" => ("urn:oid:2.5.4.42", vec![identity.given_names.clone()]),
                "sn" => ("urn:oid:2.5.4.4", vec![identity.family_name.clone()]),
                "uid" => ("urn:oid:0.9.2342.19200300.100.1.1", vec![number.clone()]),
                "supannEtuId" if has(Affiliation::Student) || has(Affiliation::Alumni) => {
                    ("urn:oid:1.3.6.1.4.1.7135.1.2.1.26", vec![number.clone()])
                }
                "supannEtablissement" => (
                    "urn:oid:1.3.6.1.4.1.7135.1.2.1.14",
                    provider
                        .settings
                        .uai
                        .iter()
                        .map(|uai| format!("{{UAI}}{uai}"))
                        .collect(),
                ),
                _ => return None,
            };
            let friendly_name = crate::domain::saml::ATTRIBUTES
                .iter()
                .find(|known| **known == name)?;
            (!values.is_empty()).then_some(Attribute {
                name: oid,
                friendly_name,
                values,
            })
        })
        .collect()
}
