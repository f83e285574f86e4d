//! Choosing a password: the configured policy applied with the person's own data.

use crate::config::Settings;
use crate::domain::identity::Identity;
use crate::domain::password_policy::{PasswordContext, PasswordPolicy, Refusal};

pub fn policy(settings: &Settings) -> PasswordPolicy {
    PasswordPolicy {
        min_length: settings.password_min_length,
        min_length_with_second_factor: settings.password_min_length_with_second_factor,
        max_length: settings.password_max_length,
        min_strength: settings.password_min_strength,
        ..PasswordPolicy::default()
    }
}

/// The i18n keys of every reason the new password is refused (empty when accepted).
pub fn refusals(
    settings: &Settings,
    identity: &Identity,
    password: &str,
    confirmation: &str,
) -> Vec<&'static str> {
    let context = PasswordContext {
        family_name: &identity.family_name,
        given_names: &identity.given_names,
        number: identity.number.as_str(),
        birth_date: identity.birth_date.as_str(),
        has_second_factor: false,
    };
    refusals_in(settings, &context, password, confirmation)
}

/// The same, for someone whose identity does not exist yet (a parent accepting an
/// invitation).
pub fn refusals_in(
    settings: &Settings,
    context: &PasswordContext<'_>,
    password: &str,
    confirmation: &str,
) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = match policy(settings).check(password, context) {
        Ok(()) => Vec::new(),
        Err(refusals) => refusals.iter().map(Refusal::message_key).collect(),
    };
    if password != confirmation {
        keys.push("password.mismatch");
    }
    keys
}
