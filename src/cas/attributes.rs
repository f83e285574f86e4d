//! What a CAS service (and, later, a SAML service provider) is told about the person:
//! the attributes an administrator released to it, under their LDAP names.

use crate::config::Settings;
use crate::domain::identity::{Affiliation, Identity};

/// eduPerson affiliations (eduPerson 2021, `eduPersonAffiliation`): the controlled
/// vocabulary, not ours. Students, staff and faculty are also `member`; staff and
/// faculty `employee`; alumni are `alum`; a parent is an `affiliate`.
pub fn edu_person_affiliations(identity: &Identity) -> Vec<String> {
    let mut values: Vec<&str> = Vec::new();
    for affiliation in &identity.affiliations {
        let mapped: &[&str] = match affiliation {
            Affiliation::Student => &["student", "member"],
            Affiliation::Staff => &["staff", "employee", "member"],
            Affiliation::Faculty => &["faculty", "employee", "member"],
            Affiliation::Affiliate | Affiliation::Parent => &["affiliate"],
            Affiliation::Alumni => &["alum"],
        };
        for value in mapped {
            if !values.contains(value) {
                values.push(value);
            }
        }
    }
    values.into_iter().map(str::to_string).collect()
}

/// The value(s) of one attribute for this person; empty when the person has none.
pub fn value_of(name: &str, identity: &Identity, settings: &Settings) -> Vec<String> {
    let number = identity.number.as_str().to_string();
    let has = |a: Affiliation| identity.affiliations.contains(&a);
    match name {
        "uid" => vec![number],
        "mail" => identity.institutional_email.iter().cloned().collect(),
        "displayName" => vec![identity.display_name()],
        "givenName" => vec![identity.given_names.clone()],
        "sn" => vec![identity.family_name.clone()],
        "eduPersonAffiliation" => edu_person_affiliations(identity),
        "eduPersonPrincipalName" => vec![format!("{number}@{}", settings.eppn_domain)],
        "supannEtuId" if has(Affiliation::Student) || has(Affiliation::Alumni) => vec![number],
        "supannEmpId" if has(Affiliation::Staff) || has(Affiliation::Faculty) => vec![number],
        "memberOf" => identity.groups.clone(),
        _ => Vec::new(),
    }
}

/// The released attributes that have a value, in the order they were released.
pub fn released(
    names: &[String],
    identity: &Identity,
    settings: &Settings,
) -> Vec<(String, Vec<String>)> {
    names
        .iter()
        .map(|name| (name.clone(), value_of(name, identity, settings)))
        .filter(|(_, values)| !values.is_empty())
        .collect()
}
