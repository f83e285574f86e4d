//! The password policy of NIST SP 800-63B rev. 4: a length floor and ceiling, no
//! composition rules, and a refusal of passwords that are common, built from the person's
//! own data, or easy to guess.

use std::collections::HashSet;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use super::Invalid;

/// zxcvbn only looks at the first 100 characters; cutting them ourselves keeps the cost of
/// the estimate bounded whatever the policy's `max_length`.
const ZXCVBN_MAX_CHARS: usize = 100;

/// Name parts and numbers shorter than this are too common inside ordinary words ("le",
/// "di") to be refused as personal data.
const MIN_PERSONAL_TOKEN_CHARS: usize = 3;

/// Highest score zxcvbn gives.
const MAX_ZXCVBN_SCORE: u8 = 4;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordPolicy {
    /// Minimum length, in characters, when the password is the only factor (NIST: 15).
    pub min_length: usize,
    /// Minimum length when the account also has a second factor (NIST: 8).
    pub min_length_with_second_factor: usize,
    /// Maximum length; NIST asks to accept at least 64 characters.
    pub max_length: usize,
    /// Lowest zxcvbn score (0 to 4) accepted. zxcvbn caps any 8-character password at
    /// score 2 (10^8 guesses), so 3 means at least 9 characters in practice.
    pub min_strength: u8,
    /// Refuse passwords from the embedded list of common passwords.
    pub refuse_common: bool,
    /// Refuse passwords containing the person's names, number or birth date.
    pub refuse_personal_data: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_length: 15,
            min_length_with_second_factor: 8,
            max_length: 128,
            min_strength: 3,
            refuse_common: true,
            refuse_personal_data: true,
        }
    }
}

/// What is known of the person choosing the password, to refuse passwords built from it.
#[derive(Debug, Clone, Copy)]
pub struct PasswordContext<'a> {
    pub family_name: &'a str,
    pub given_names: &'a str,
    pub number: &'a str,
    /// `YYYY-MM-DD`; anything else (or empty) is ignored.
    pub birth_date: &'a str,
    pub has_second_factor: bool,
}

/// Why a password was refused; one per broken rule, shown through its i18n key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    TooShort { min: usize },
    TooLong { max: usize },
    Common,
    PersonalData,
    Guessable,
}

impl Refusal {
    pub fn message_key(&self) -> &'static str {
        match self {
            Refusal::TooShort { .. } => "password.too_short",
            Refusal::TooLong { .. } => "password.too_long",
            Refusal::Common => "password.common",
            Refusal::PersonalData => "password.personal_data",
            Refusal::Guessable => "password.guessable",
        }
    }
}

/// The form in which a password is checked and hashed: Unicode NFC, so that "é" typed as
/// one code point or as "e" + combining accent is the same password (NIST asks for it).
/// Any character is accepted: no composition rules.
pub fn normalize(password: &str) -> String {
    password.nfc().collect()
}

impl PasswordPolicy {
    /// Refuses a configuration that would break NIST SP 800-63B's floors.
    pub fn validate(&self) -> Result<(), Invalid> {
        if self.min_length_with_second_factor < 8 {
            return Err(Invalid::new(
                "min_length_with_second_factor must be at least 8 (NIST SP 800-63B)",
            ));
        }
        if self.min_length < 15 {
            return Err(Invalid::new(
                "min_length must be at least 15, the floor for a single factor (NIST SP 800-63B)",
            ));
        }
        if self.max_length < 64 {
            return Err(Invalid::new(
                "max_length must be at least 64 (NIST SP 800-63B)",
            ));
        }
        if self.max_length < self.min_length {
            return Err(Invalid::new("max_length must not be below min_length"));
        }
        if self.min_strength > MAX_ZXCVBN_SCORE {
            return Err(Invalid::new("min_strength is a zxcvbn score, from 0 to 4"));
        }
        Ok(())
    }

    /// Checks a password against every rule and returns all the refusals at once, so the
    /// person can fix everything in one go.
    pub fn check(&self, password: &str, context: &PasswordContext<'_>) -> Result<(), Vec<Refusal>> {
        let password = normalize(password);
        // Characters as the person sees them (after NFC), not bytes.
        let length = password.chars().count();
        let mut refusals = Vec::new();

        let min = if context.has_second_factor {
            self.min_length_with_second_factor
        } else {
            self.min_length
        };
        if length < min {
            refusals.push(Refusal::TooShort { min });
        }
        let too_long = length > self.max_length;
        if too_long {
            refusals.push(Refusal::TooLong {
                max: self.max_length,
            });
        }

        if self.refuse_common && is_common(&password) {
            refusals.push(Refusal::Common);
        }

        let personal = personal_tokens(context);
        if self.refuse_personal_data && contains_any(&password, &personal) {
            refusals.push(Refusal::PersonalData);
        }

        // zxcvbn is slow on long inputs and a too-long password is refused anyway. With a
        // second factor, zxcvbn's estimate of any 8-character string tops out at score 2
        // (10^8 guesses): the bar drops to 2 there, or the 8-character minimum that
        // NIST SP 800-63B allows would be unreachable.
        let min_strength = if context.has_second_factor {
            self.min_strength.min(2)
        } else {
            self.min_strength
        };
        if !too_long && min_strength > 0 && strength(&password, context, &personal) < min_strength {
            refusals.push(Refusal::Guessable);
        }

        if refusals.is_empty() {
            Ok(())
        } else {
            Err(refusals)
        }
    }
}

/// The embedded list, one lower-case password a line, in frequency order.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

struct CommonPasswords {
    set: HashSet<&'static str>,
    /// Length in bytes of the longest entry: longer candidates are not looked up.
    longest: usize,
}

/// Built on first use. A static is fine here: it is immutable data compiled into the
/// binary, not configuration.
fn common_passwords() -> &'static CommonPasswords {
    static LIST: OnceLock<CommonPasswords> = OnceLock::new();
    LIST.get_or_init(|| {
        let set: HashSet<&'static str> = COMMON_PASSWORDS
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect();
        let longest = set.iter().map(|entry| entry.len()).max().unwrap_or(0);
        CommonPasswords { set, longest }
    })
}

/// A common password stays common when capitalised, followed by digits or punctuation
/// ("Password2024!") or written in l33t ("p@ssw0rd"): try each of these readings.
fn is_common(password: &str) -> bool {
    let list = common_passwords();
    let lower = password.to_lowercase();
    // Every prefix that ends at or after the last letter: the password without 0, 1, 2…
    // of its trailing non-letters. Stripping one at a time (rather than all of them) also
    // tries the readings that keep a trailing l33t digit ("sunshin3" for "sunshine").
    let last_letter_end = lower
        .char_indices()
        .rfind(|(_, c)| c.is_alphabetic())
        .map_or(0, |(index, c)| index + c.len_utf8());
    let prefix_ends = lower
        .char_indices()
        .map(|(index, _)| index)
        .chain(std::iter::once(lower.len()))
        .filter(|&end| end > 0 && end >= last_letter_end);
    for end in prefix_ends {
        // Entries are ASCII and undoing l33t keeps the byte length, so a longer candidate
        // cannot match; this bounds the work on very long inputs.
        if end > list.longest {
            break;
        }
        let candidate = &lower[..end];
        if list.set.contains(candidate)
            || list.set.contains(undo_leet(candidate, 'l').as_str())
            || list.set.contains(undo_leet(candidate, 'i').as_str())
        {
            return true;
        }
    }
    false
}

/// Undoes the usual l33t substitutions; "1" stands for "l" or "i", hence the argument.
fn undo_leet(candidate: &str, one: char) -> String {
    candidate
        .chars()
        .map(|c| match c {
            '0' => 'o',
            '1' => one,
            '3' => 'e',
            '4' | '@' => 'a',
            '5' | '$' => 's',
            '7' => 't',
            other => other,
        })
        .collect()
}

/// Lower case without accents, so that "LEFÈVRE", "lefevre" and "Lefèvre" compare equal.
/// Lower-casing first: some capitals lower-case to a letter plus a combining mark.
fn fold(text: &str) -> String {
    let lower = text.to_lowercase();
    lower.nfd().filter(|c| !is_combining_mark(*c)).collect()
}

fn is_name_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '\'' | '\u{2019}' | '\u{2010}')
}

/// Folded pieces of personal data that a password must not contain: name parts of at
/// least three letters, the number, and the birth date in its usual spellings.
fn personal_tokens(context: &PasswordContext<'_>) -> Vec<String> {
    let mut tokens = Vec::new();
    for name in [context.family_name, context.given_names] {
        for part in fold(name).split(is_name_separator) {
            if part.chars().filter(|c| c.is_alphabetic()).count() >= MIN_PERSONAL_TOKEN_CHARS {
                tokens.push(part.to_string());
            }
        }
    }
    let number = fold(context.number.trim());
    if number.chars().count() >= MIN_PERSONAL_TOKEN_CHARS {
        tokens.push(number);
    }
    tokens.extend(birth_date_forms(context.birth_date));
    tokens
}

/// The birth date as people type it: 2004-05-17, 20040517, 17052004, 17/05/2004, 170504
/// (and 17-05-2004, 17.05.2004). The year alone is too weak a signal to refuse.
fn birth_date_forms(birth_date: &str) -> Vec<String> {
    let parts: Vec<&str> = birth_date.trim().split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return Vec::new();
    };
    let well_formed = year.len() == 4
        && month.len() == 2
        && day.len() == 2
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()));
    if !well_formed {
        return Vec::new();
    }
    let short_year = &year[2..];
    vec![
        format!("{year}-{month}-{day}"),
        format!("{year}{month}{day}"),
        format!("{day}{month}{year}"),
        format!("{day}/{month}/{year}"),
        format!("{day}-{month}-{year}"),
        format!("{day}.{month}.{year}"),
        format!("{day}{month}{short_year}"),
    ]
}

fn contains_any(password: &str, tokens: &[String]) -> bool {
    let folded = fold(password);
    tokens.iter().any(|token| folded.contains(token.as_str()))
}

/// The zxcvbn score (0 to 4), told the personal data so that it counts them as cheap
/// guesses, even when the personal-data rule is off.
fn strength(password: &str, context: &PasswordContext<'_>, personal: &[String]) -> u8 {
    let capped: String = password.chars().take(ZXCVBN_MAX_CHARS).collect();
    let mut user_inputs: Vec<&str> = personal.iter().map(String::as_str).collect();
    // The unfolded names too: zxcvbn lower-cases but keeps accents.
    user_inputs.extend(
        [context.family_name, context.given_names]
            .into_iter()
            .map(str::trim)
            .filter(|name| !name.is_empty()),
    );
    u8::from(zxcvbn::zxcvbn(&capped, &user_inputs).score())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> PasswordContext<'static> {
        PasswordContext {
            family_name: "Le Fèvre",
            given_names: "Élodie Marie",
            number: "20231234",
            birth_date: "2004-05-17",
            has_second_factor: false,
        }
    }

    fn check(password: &str) -> Result<(), Vec<Refusal>> {
        PasswordPolicy::default().check(password, &context())
    }

    #[test]
    fn a_long_passphrase_is_accepted() {
        // Also shows that the two-letter name part "le" (inside "violet") is not refused.
        assert_eq!(check("Violet piano marches under 7 quiet lanterns"), Ok(()));
    }

    #[test]
    fn eight_characters_are_enough_only_with_a_second_factor() {
        // zxcvbn scores any 8-character password 2 at most: lower the strength floor to
        // see the length rule alone.
        let policy = PasswordPolicy {
            min_strength: 2,
            ..PasswordPolicy::default()
        };
        let with_second_factor = PasswordContext {
            has_second_factor: true,
            ..context()
        };
        assert_eq!(policy.check("Xk9#qTv2", &with_second_factor), Ok(()));
        assert_eq!(
            policy.check("Xk9#qTv2", &context()),
            Err(vec![Refusal::TooShort { min: 15 }])
        );
    }

    #[test]
    fn eight_random_characters_pass_with_a_second_factor_only() {
        let with_second_factor = PasswordContext {
            has_second_factor: true,
            ..context()
        };
        assert_eq!(
            PasswordPolicy::default().check("Xk9#qTv2", &with_second_factor),
            Ok(())
        );
        assert!(PasswordPolicy::default()
            .check("Xk9#qTv2", &context())
            .is_err());
    }

    #[test]
    fn too_long_passwords_are_refused_without_estimating_them() {
        // 200 times the same letter would be Guessable: its absence shows zxcvbn was skipped.
        assert_eq!(
            check(&"a".repeat(200)),
            Err(vec![Refusal::TooLong { max: 128 }])
        );
        let at_max: String = "Violet piano marches under 7 quiet lanterns "
            .repeat(3)
            .chars()
            .take(128)
            .collect();
        assert_eq!(check(&at_max), Ok(()));
    }

    #[test]
    fn common_passwords_are_refused_in_their_usual_disguises() {
        for password in [
            "password1234567",
            "PASSWORD1234567",
            "P@ssw0rd2024!!!!",
            "5unshine12345678",
            "Baseball!!!!!!!!",
            "Sunshin3!!!!!!!!",
        ] {
            let refusals = check(password).unwrap_err();
            assert!(
                refusals.contains(&Refusal::Common),
                "{password}: {refusals:?}"
            );
        }
    }

    #[test]
    fn the_common_list_is_loaded_without_its_comment() {
        let list = common_passwords();
        assert!(list.set.contains("password"));
        assert!(list.set.iter().all(|entry| !entry.starts_with('#')));
        assert!(list.set.len() <= 20_000);
    }

    #[test]
    fn names_are_refused_whatever_their_case_and_accents() {
        for password in ["lefevre-rides-a-bike", "my cat LEFÈVRE likes tuna"] {
            assert_eq!(
                check(password),
                Err(vec![Refusal::PersonalData]),
                "{password}"
            );
        }
    }

    #[test]
    fn names_are_split_on_hyphens_and_apostrophes() {
        let hyphenated = PasswordContext {
            family_name: "D'Artagnan",
            given_names: "Jean-Éric",
            ..context()
        };
        let policy = PasswordPolicy::default();
        for password in [
            "my friend ARTAGNAN sails far",
            "seven rivers for eric today",
        ] {
            let refusals = policy.check(password, &hyphenated).unwrap_err();
            assert!(
                refusals.contains(&Refusal::PersonalData),
                "{password}: {refusals:?}"
            );
        }
    }

    #[test]
    fn the_number_is_refused() {
        assert_eq!(
            check("Brume tenace sur le quai 20231234"),
            Err(vec![Refusal::PersonalData])
        );
    }

    #[test]
    fn the_birth_date_is_refused_in_its_usual_forms() {
        for password in [
            "Kx7!tamis-orange 17052004",
            "Kx7!tamis-orange 2004-05-17",
            "Kx7!tamis-orange 17/05/2004",
            "Kx7!tamis-orange 170504",
        ] {
            let refusals = check(password).unwrap_err();
            assert!(
                refusals.contains(&Refusal::PersonalData),
                "{password}: {refusals:?}"
            );
        }
    }

    #[test]
    fn a_repeated_letter_is_guessable() {
        assert_eq!(check("aaaaaaaaaaaaaaaa"), Err(vec![Refusal::Guessable]));
    }

    #[test]
    fn length_is_counted_after_nfc() {
        assert_eq!(normalize("e\u{301}"), "\u{e9}");
        // 14 characters composed, 15 code points decomposed: both are one short of 15.
        let composed = "Br\u{e8}ve ancre 9z";
        let decomposed = "Bre\u{300}ve ancre 9z";
        assert_eq!(decomposed.chars().count(), 15);
        assert!(check(decomposed)
            .unwrap_err()
            .contains(&Refusal::TooShort { min: 15 }));
        assert_eq!(check(composed), check(decomposed));
    }

    #[test]
    fn every_refusal_is_reported_at_once() {
        assert_eq!(
            check("password170504"),
            Err(vec![
                Refusal::TooShort { min: 15 },
                Refusal::Common,
                Refusal::PersonalData,
                Refusal::Guessable,
            ])
        );
    }

    #[test]
    fn refusals_name_their_message() {
        assert_eq!(
            Refusal::TooShort { min: 15 }.message_key(),
            "password.too_short"
        );
        assert_eq!(
            Refusal::TooLong { max: 128 }.message_key(),
            "password.too_long"
        );
        assert_eq!(Refusal::Common.message_key(), "password.common");
        assert_eq!(
            Refusal::PersonalData.message_key(),
            "password.personal_data"
        );
        assert_eq!(Refusal::Guessable.message_key(), "password.guessable");
    }

    #[test]
    fn the_default_policy_follows_nist() {
        assert_eq!(PasswordPolicy::default().validate(), Ok(()));
        let short_max = PasswordPolicy {
            max_length: 63,
            ..PasswordPolicy::default()
        };
        assert!(short_max.validate().is_err());
    }
}
