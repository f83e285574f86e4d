//! Scopes: a set of tokens (RFC 6749 §3.3); the provider keeps only those it knows.

use std::collections::BTreeSet;
use std::fmt;

pub const OPENID: &str = "openid";
pub const PROFILE: &str = "profile";
pub const EMAIL: &str = "email";
/// The university scope: number, affiliations, eduPersonPrincipalName.
pub const ETUPASS: &str = "etupass";

/// Asks for a refresh token (OIDC Core §11), for clients allowed the refresh_token grant.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// The phone number the registrar gave (OIDC Core §5.4).
pub const PHONE: &str = "phone";

/// The postal address the registrar gave (OIDC Core §5.4).
pub const ADDRESS: &str = "address";

/// For a parent: the students they follow who let applications know of it
/// (`followed_students`, userinfo only).
pub const FAMILY: &str = "family";

pub const SUPPORTED: [&str; 8] = [
    OPENID,
    PROFILE,
    EMAIL,
    ADDRESS,
    PHONE,
    ETUPASS,
    FAMILY,
    OFFLINE_ACCESS,
];

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope(BTreeSet<String>);

impl Scope {
    /// Parses a space-separated list, dropping scopes this provider does not offer
    /// (RFC 6749 §3.3 lets the server grant less than asked; the granted set is returned).
    pub fn parse_supported(raw: &str) -> Scope {
        Scope(
            raw.split(' ')
                .filter(|s| SUPPORTED.contains(s))
                .map(str::to_string)
                .collect(),
        )
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    /// True when every scope of `self` is in `other`.
    pub fn is_subset(&self, other: &Scope) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn union(&self, other: &Scope) -> Scope {
        Scope(self.0.union(&other.0).cloned().collect())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let joined: Vec<&str> = self.iter().collect();
        f.write_str(&joined.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_scopes_are_dropped() {
        let scope = Scope::parse_supported("openid  email unknown profile");
        assert_eq!(scope.to_string(), "email openid profile");
    }

    #[test]
    fn subset() {
        let small = Scope::parse_supported("openid email");
        let big = Scope::parse_supported("openid email profile");
        assert!(small.is_subset(&big));
        assert!(!big.is_subset(&small));
    }
}
