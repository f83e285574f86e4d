//! The second factor: a TOTP authenticator app (RFC 6238) and single-use recovery codes.

use super::app_password::{normalize, typeable_secret};

/// Time step and digits every authenticator app understands (SHA-1, 30 s, 6 digits).
pub const STEP_SECONDS: u64 = 30;
pub const DIGITS: usize = 6;
/// Size of a new authenticator key: 160 bits, as RFC 4226 recommends.
pub const KEY_BYTES: usize = 20;
/// Recovery codes handed out at once.
pub const RECOVERY_CODES: usize = 10;
/// 16 letters of 23: about 72 bits each, so a SHA-256 digest is enough at rest.
const RECOVERY_CODE_LETTERS: usize = 16;

/// What a person typed as a second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypedCode {
    /// Six digits from the authenticator app.
    Totp(String),
    /// A recovery code, normalised (lower-case letters, no dashes).
    Recovery(String),
    Malformed,
}

impl TypedCode {
    pub fn parse(typed: &str) -> TypedCode {
        let compact: String = typed.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if compact.len() == DIGITS && compact.bytes().all(|b| b.is_ascii_digit()) {
            return TypedCode::Totp(compact);
        }
        let letters = normalize(typed);
        if letters.len() == RECOVERY_CODE_LETTERS && letters.bytes().all(|b| b.is_ascii_lowercase())
        {
            return TypedCode::Recovery(letters);
        }
        TypedCode::Malformed
    }
}

/// Ten fresh recovery codes, shown as `abcd-efgh-jkmn-pqrs`.
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| typeable_secret(RECOVERY_CODE_LETTERS))
        .collect()
}

/// The time steps a code is accepted in: the current one and one either side, for a
/// phone whose clock is a little off.
pub fn acceptable_steps(now: i64) -> [i64; 3] {
    let current = now.div_euclid(STEP_SECONDS as i64);
    [current - 1, current, current + 1]
}

/// The key as people type it into an app that cannot scan: base32 in groups of four.
pub fn display_key(base32: &str) -> String {
    base32
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_codes_are_told_apart() {
        assert_eq!(
            TypedCode::parse(" 123 456 "),
            TypedCode::Totp("123456".into())
        );
        let code = &new_recovery_codes()[0];
        assert_eq!(code.len(), 19);
        assert_eq!(
            TypedCode::parse(&code.to_uppercase()),
            TypedCode::Recovery(code.replace('-', ""))
        );
        assert_eq!(TypedCode::parse("12345"), TypedCode::Malformed);
        assert_eq!(TypedCode::parse("abc"), TypedCode::Malformed);
        assert_eq!(TypedCode::parse(""), TypedCode::Malformed);
    }

    #[test]
    fn ten_distinct_recovery_codes() {
        let mut codes = new_recovery_codes();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), RECOVERY_CODES);
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side() {
        assert_eq!(acceptable_steps(59), [0, 1, 2]);
        assert_eq!(acceptable_steps(60), [1, 2, 3]);
    }
}
