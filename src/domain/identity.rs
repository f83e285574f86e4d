//! An identity: a student, a staff member, a parent… and the rules on its fields.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::clock::UnixTime;
use super::Invalid;

/// The student or staff number: the sign-in name, unique, never used as the subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct StudentNumber(String);

impl StudentNumber {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let value = raw.trim();
        if value.is_empty() || value.len() > 32 {
            return Err(Invalid::new("the number must have 1 to 32 characters"));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err(Invalid::new(
                "the number may hold only letters, digits, '-', '_' and '.'",
            ));
        }
        Ok(StudentNumber(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StudentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A calendar date written `YYYY-MM-DD`, checked to exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct BirthDate(String);

impl BirthDate {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let invalid = || Invalid::new(format!("'{raw}' is not a date of the form YYYY-MM-DD"));
        let value = raw.trim();
        let parts: Vec<&str> = value.split('-').collect();
        if parts.len() != 3 || parts[0].len() != 4 || parts[1].len() != 2 || parts[2].len() != 2 {
            return Err(invalid());
        }
        let year: u32 = parts[0].parse().map_err(|_| invalid())?;
        let month: u32 = parts[1].parse().map_err(|_| invalid())?;
        let day: u32 = parts[2].parse().map_err(|_| invalid())?;
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let days_in_month = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return Err(invalid()),
        };
        if !(1900..=2200).contains(&year) || day == 0 || day > days_in_month {
            return Err(invalid());
        }
        Ok(BirthDate(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Affiliation {
    Student,
    Staff,
    Faculty,
    Affiliate,
    Alumni,
    Parent,
}

impl Affiliation {
    pub const ALL: [Affiliation; 6] = [
        Affiliation::Student,
        Affiliation::Staff,
        Affiliation::Faculty,
        Affiliation::Affiliate,
        Affiliation::Alumni,
        Affiliation::Parent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Affiliation::Student => "student",
            Affiliation::Staff => "staff",
            Affiliation::Faculty => "faculty",
            Affiliation::Affiliate => "affiliate",
            Affiliation::Alumni => "alumni",
            Affiliation::Parent => "parent",
        }
    }

    /// Parses a comma-separated list, refusing an empty one and unknown values.
    pub fn parse_list(raw: &str) -> Result<Vec<Affiliation>, Invalid> {
        let mut list = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let affiliation: Affiliation = part.parse()?;
            if !list.contains(&affiliation) {
                list.push(affiliation);
            }
        }
        if list.is_empty() {
            return Err(Invalid::new("at least one affiliation is required"));
        }
        Ok(list)
    }

    /// The affiliations after graduation: `student` becomes `alumni`; a tie that remains
    /// (staff, faculty…) stays.
    pub fn graduated(list: &[Affiliation]) -> Vec<Affiliation> {
        let mut after: Vec<Affiliation> = list
            .iter()
            .copied()
            .filter(|a| *a != Affiliation::Student)
            .collect();
        if !after.contains(&Affiliation::Alumni) {
            after.push(Affiliation::Alumni);
        }
        after
    }

    pub fn join(list: &[Affiliation]) -> String {
        list.iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl FromStr for Affiliation {
    type Err = Invalid;

    fn from_str(raw: &str) -> Result<Self, Invalid> {
        Affiliation::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(raw.trim()))
            .ok_or_else(|| {
                Invalid::new(format!(
                    "unknown affiliation '{raw}' (expected student, staff, faculty, affiliate, alumni or parent)"
                ))
            })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityStatus {
    PendingActivation,
    Active,
    Suspended,
    Closed,
}

impl IdentityStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityStatus::PendingActivation => "pending_activation",
            IdentityStatus::Active => "active",
            IdentityStatus::Suspended => "suspended",
            IdentityStatus::Closed => "closed",
        }
    }
}

impl FromStr for IdentityStatus {
    type Err = Invalid;

    fn from_str(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "pending_activation" => Ok(IdentityStatus::PendingActivation),
            "active" => Ok(IdentityStatus::Active),
            "suspended" => Ok(IdentityStatus::Suspended),
            "closed" => Ok(IdentityStatus::Closed),
            other => Err(Invalid::new(format!("unknown status '{other}'"))),
        }
    }
}

/// A syntactically plausible e-mail address, stored lower-cased.
pub fn parse_email(raw: &str) -> Result<String, Invalid> {
    let value = raw.trim().to_lowercase();
    let valid = match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !value
                    .chars()
                    .any(|c| c.is_whitespace() || c == '<' || c == '>')
                && value.matches('@').count() == 1
                && value.len() <= 254
        }
        None => false,
    };
    if valid {
        Ok(value)
    } else {
        Err(Invalid::new(format!("'{raw}' is not an e-mail address")))
    }
}

/// A name field: trimmed, Unicode NFC, not empty, no control characters.
pub fn parse_name(field: &str, raw: &str) -> Result<String, Invalid> {
    use unicode_normalization::UnicodeNormalization;
    let value: String = raw.trim().nfc().collect();
    if value.is_empty() || value.chars().count() > 200 || value.chars().any(char::is_control) {
        return Err(Invalid::new(format!(
            "the {field} must be 1 to 200 printable characters"
        )));
    }
    Ok(value)
}

#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    pub id: String,
    /// Opaque, stable, never the number: what relying parties see as `sub`.
    pub subject: String,
    pub number: StudentNumber,
    pub family_name: String,
    pub given_names: String,
    pub birth_date: BirthDate,
    pub affiliations: Vec<Affiliation>,
    pub institutional_email: Option<String>,
    pub personal_email: Option<String>,
    pub status: IdentityStatus,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub password_changed_at: Option<UnixTime>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
    pub phone: Option<String>,
    /// Set by an administrator reset or a theft recovery: the next sign-in asks for a new password.
    pub must_change_password: bool,
    /// Why the account is suspended (`theft`, `admin`), when it is.
    pub suspended_reason: Option<String>,
    /// When the activation mail of a pending identity is due, and when it was sent.
    pub activation_due_at: Option<UnixTime>,
    pub activation_sent_at: Option<UnixTime>,
    /// Multi-line postal address from the registrar (the `address` claim).
    pub postal_address: Option<String>,
    /// Groups from the registrar or the directory (the `groups` claim).
    pub groups: Vec<String>,
    /// Where the person wants to hear from the university after their studies.
    pub keep_in_touch_email: Option<String>,
}

impl Identity {
    /// A former student with no other tie to the university: they reach only the
    /// relying parties opened to alumni.
    pub fn is_alumnus_only(&self) -> bool {
        self.affiliations == [Affiliation::Alumni]
    }

    /// A parent with no other tie to the university: they reach only the relying parties
    /// opened to parents.
    pub fn is_parent_only(&self) -> bool {
        self.affiliations == [Affiliation::Parent]
    }

    /// Whether an application with these openings admits this person: alumni-only and
    /// parent-only accounts reach only the applications opened to them (OpenID Connect
    /// clients, CAS services and SAML service providers alike).
    pub fn admitted_by(&self, open_to_alumni: bool, open_to_parents: bool) -> bool {
        (open_to_alumni || !self.is_alumnus_only()) && (open_to_parents || !self.is_parent_only())
    }

    pub fn can_sign_in(&self) -> bool {
        self.status == IdentityStatus::Active
    }

    /// Who may reset a password by mail: an active account, one awaiting activation,
    /// or one suspended after a theft report (the reset is its recovery). An account an
    /// administrator locked stays locked until an administrator unlocks it.
    pub fn may_reset_password(&self) -> bool {
        match self.status {
            IdentityStatus::Active | IdentityStatus::PendingActivation => true,
            IdentityStatus::Suspended => self.suspended_reason.as_deref() == Some("theft"),
            IdentityStatus::Closed => false,
        }
    }

    pub fn display_name(&self) -> String {
        format!("{} {}", self.given_names, self.family_name)
    }
}

/// What it takes to create an identity; the store adds ids and timestamps.
#[derive(Debug, Clone)]
pub struct NewIdentity {
    pub number: StudentNumber,
    pub family_name: String,
    pub given_names: String,
    pub birth_date: BirthDate,
    pub affiliations: Vec<Affiliation>,
    pub institutional_email: Option<String>,
    pub personal_email: Option<String>,
    pub status: IdentityStatus,
    pub password_hash: Option<String>,
    pub phone: Option<String>,
    pub must_change_password: bool,
    pub activation_due_at: Option<UnixTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_trimmed_and_checked() {
        assert_eq!(
            StudentNumber::parse(" 21901234 ").unwrap().as_str(),
            "21901234"
        );
        assert!(StudentNumber::parse("").is_err());
        assert!(StudentNumber::parse("12 34").is_err());
        assert!(StudentNumber::parse("a@b").is_err());
    }

    #[test]
    fn birth_dates_must_exist() {
        assert!(BirthDate::parse("2004-02-29").is_ok());
        assert!(BirthDate::parse("2003-02-29").is_err());
        assert!(BirthDate::parse("2003-13-01").is_err());
        assert!(BirthDate::parse("03/02/2003").is_err());
    }

    #[test]
    fn affiliations_parse_as_a_list() {
        assert_eq!(
            Affiliation::parse_list("student, staff,student").unwrap(),
            vec![Affiliation::Student, Affiliation::Staff]
        );
        assert!(Affiliation::parse_list("wizard").is_err());
        assert!(Affiliation::parse_list("").is_err());
    }

    #[test]
    fn emails_are_lowercased_and_checked() {
        assert_eq!(
            parse_email(" Alice@Example.EDU").unwrap(),
            "alice@example.edu"
        );
        assert!(parse_email("alice").is_err());
        assert!(parse_email("a@b@c.d").is_err());
    }
}
