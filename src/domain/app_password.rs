//! App passwords: one per program and purpose (the phone's mail, the wifi), seen once,
//! revocable, never the account password.

use std::str::FromStr;

use rand::Rng;
use serde::Serialize;

use super::Invalid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// IMAP/SMTP/CalDAV sync with the webmail server.
    Mail,
    /// 802.1X (eduroam-style) wifi, checked by the RADIUS server.
    Wifi,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Mail => "mail",
            Purpose::Wifi => "wifi",
        }
    }
}

impl FromStr for Purpose {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "mail" => Ok(Purpose::Mail),
            "wifi" => Ok(Purpose::Wifi),
            other => Err(Invalid::new(format!(
                "unknown purpose '{other}' (mail or wifi)"
            ))),
        }
    }
}

/// Lower-case letters without look-alikes (no i, l, o): easy to type on a phone.
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz";
/// 20 letters of 23: about 90 bits.
const LENGTH: usize = 20;

/// A new app password, shown as `abcd-efgh-jkmn-pqrs-tuvw`; the dashes are not part of it.
pub fn generate() -> String {
    typeable_secret(LENGTH)
}

/// `length` random letters of [`ALPHABET`] in groups of four, read back by [`normalize`]
/// (also the form of the second factor's recovery codes).
pub fn typeable_secret(length: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    let letters: Vec<char> = (0..length)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    letters
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// What is hashed and compared: the letters only, lower-case (a phone may capitalise the
/// first letter, a person may drop the dashes).
pub fn normalize(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// A name the person gives it ("iPhone mail"): 1 to 40 printable characters.
pub fn check_name(name: &str) -> Result<String, Invalid> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 40 || name.chars().any(char::is_control) {
        return Err(Invalid::new("the name: 1 to 40 printable characters"));
    }
    Ok(name.to_string())
}

/// As the personal space lists it.
#[derive(Debug, Clone, Serialize)]
pub struct AppPassword {
    pub id: String,
    pub name: String,
    pub purpose: Purpose,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_and_forgiving_to_type() {
        let password = generate();
        assert_eq!(password.len(), 24);
        assert_ne!(password, generate());
        let typed = password.replace('-', " ").to_uppercase();
        assert_eq!(normalize(&typed), normalize(&password));
        assert_eq!(normalize(&password).len(), 20);
    }
}
