//! Creating identities by hand (`etupass identity add`); bulk enrollment builds on it.

use unicode_normalization::UnicodeNormalization;

use crate::crypto::password::{PasswordError, PasswordHasher};
use crate::crypto::Secret;
use crate::domain::identity::{
    parse_email, parse_name, Affiliation, BirthDate, Identity, IdentityStatus, NewIdentity,
    StudentNumber,
};
use crate::domain::Invalid;
use crate::store::{Store, StoreError};

/// Limits for a provisioned password until the full policy (NIST SP 800-63B) lands with
/// activation: long enough to mean something, short enough to hash cheaply.
const MIN_PASSWORD_CHARS: usize = 8;
const MAX_PASSWORD_CHARS: usize = 256;

#[derive(Debug, Clone)]
pub struct IdentityInput {
    pub number: String,
    pub family_name: String,
    pub given_names: String,
    pub birth_date: String,
    pub affiliations: String,
    pub personal_email: Option<String>,
    pub institutional_email: Option<String>,
    pub password: Option<Secret>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Password(#[from] PasswordError),
}

impl From<StoreError> for ProvisionError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(message) => ProvisionError::Conflict(message),
            other => ProvisionError::Store(other),
        }
    }
}

/// Validates the input and creates the identity: active when a password is given,
/// pending activation otherwise.
pub async fn add_identity(
    store: &Store,
    passwords: &PasswordHasher,
    eppn_domain: &str,
    input: IdentityInput,
    now: i64,
) -> Result<Identity, ProvisionError> {
    let number = StudentNumber::parse(&input.number)?;
    let family_name = parse_name("family name", &input.family_name)?;
    let given_names = parse_name("given names", &input.given_names)?;
    let birth_date = BirthDate::parse(&input.birth_date)?;
    let affiliations = Affiliation::parse_list(&input.affiliations)?;
    let personal_email = input
        .personal_email
        .as_deref()
        .map(parse_email)
        .transpose()?;
    let institutional_email = match input.institutional_email.as_deref() {
        Some(raw) => parse_email(raw)?,
        None => {
            let local = institutional_local_part(&given_names, &family_name);
            free_institutional_email(store, &local, eppn_domain).await?
        }
    };
    let password_hash = match &input.password {
        Some(password) => {
            let chars = password.expose().chars().count();
            if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
                return Err(Invalid::new(format!(
                    "the password must have {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
                ))
                .into());
            }
            Some(passwords.hash(password.expose()).await?)
        }
        None => None,
    };
    let status = if password_hash.is_some() {
        IdentityStatus::Active
    } else {
        IdentityStatus::PendingActivation
    };
    let identity = store
        .create_identity(
            NewIdentity {
                number,
                family_name,
                given_names,
                birth_date,
                affiliations,
                institutional_email: Some(institutional_email),
                personal_email,
                status,
                password_hash,
                phone: None,
                must_change_password: false,
                // Provisioned with a password: nothing to activate.
                activation_due_at: None,
            },
            now,
        )
        .await?;
    Ok(identity)
}

/// `given.family`, lower-case ASCII: diacritics dropped, spaces and apostrophes folded to
/// '-' ("Élodie", "Le Fèvre" gives `elodie.le-fevre`).
pub fn institutional_local_part(given_names: &str, family_name: &str) -> String {
    let fold = |name: &str| -> String {
        let ascii: String = name
            .nfd()
            .filter(|c| c.is_ascii())
            .collect::<String>()
            .to_lowercase();
        let mut out = String::new();
        for c in ascii.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c);
            } else if !out.ends_with('-') && !out.is_empty() {
                out.push('-');
            }
        }
        out.trim_end_matches('-').to_string()
    };
    let given = given_names.split(',').next().unwrap_or(given_names);
    format!("{}.{}", fold(given), fold(family_name))
}

/// The first free address among `local@domain`, `local2@domain`, `local3@domain`…
async fn free_institutional_email(
    store: &Store,
    local: &str,
    domain: &str,
) -> Result<String, ProvisionError> {
    for n in 1..1000 {
        let candidate = if n == 1 {
            format!("{local}@{domain}")
        } else {
            format!("{local}{n}@{domain}")
        };
        if store
            .find_identity_by_sign_in_name(&candidate)
            .await?
            .is_none()
        {
            return Ok(candidate);
        }
    }
    Err(ProvisionError::Conflict(format!(
        "no free institutional address for {local}@{domain}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_parts_fold_diacritics_and_spaces() {
        assert_eq!(
            institutional_local_part("Élodie", "Le Fèvre"),
            "elodie.le-fevre"
        );
        assert_eq!(
            institutional_local_part("Jean-Luc", "D'Artagnan"),
            "jean-luc.d-artagnan"
        );
        assert_eq!(
            institutional_local_part("Zoë Anne", "Müller"),
            "zoe-anne.muller"
        );
    }
}
