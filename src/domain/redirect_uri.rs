//! Redirect URIs: parsed once at registration, compared exactly at authorization.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

use super::Invalid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// Registration rules (RFC 6749 §3.1.2, RFC 8252, RFC 9700 §2.1): absolute, no
    /// fragment, no credentials; `http` only for loopback; private-use schemes allowed
    /// for native apps.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let url = Url::parse(raw)
            .map_err(|e| Invalid::new(format!("redirect URI '{raw}' is not absolute: {e}")))?;
        if url.fragment().is_some() {
            return Err(Invalid::new(format!(
                "redirect URI '{raw}' must not have a fragment"
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Invalid::new(format!(
                "redirect URI '{raw}' must not carry credentials"
            )));
        }
        match url.scheme() {
            "https" => {}
            "http" if !is_loopback(&url) => {
                return Err(Invalid::new(format!(
                    "redirect URI '{raw}' uses http: only https is allowed, except for loopback hosts"
                )));
            }
            "javascript" | "data" | "file" | "vbscript" => {
                return Err(Invalid::new(format!(
                    "redirect URI '{raw}' uses a forbidden scheme"
                )))
            }
            _ => {}
        }
        Ok(RedirectUri(raw.to_string()))
    }

    /// A URI that Etupass itself calls (a JWKS, a back-channel logout endpoint): the
    /// same rules, and the scheme must be https (http for loopback).
    pub fn parse_web(raw: &str) -> Result<Self, Invalid> {
        let uri = Self::parse(raw)?;
        match uri.0.split_once(':').map(|(scheme, _)| scheme) {
            Some("https") | Some("http") => Ok(uri),
            _ => Err(Invalid::new(format!("'{raw}' must be an https URL"))),
        }
    }

    /// Exact string comparison, as RFC 9700 §4.1.3 requires.
    pub fn matches(&self, candidate: &str) -> bool {
        self.0 == candidate
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_and_loopback_http() {
        assert!(RedirectUri::parse("https://mail.example.edu/cb").is_ok());
        assert!(RedirectUri::parse("http://127.0.0.1:9000/cb").is_ok());
        assert!(RedirectUri::parse("http://localhost/cb").is_ok());
        assert!(RedirectUri::parse("edu.example.app:/oauth").is_ok());
    }

    #[test]
    fn refuses_fragments_relative_and_plain_http() {
        assert!(RedirectUri::parse("https://a.example/cb#x").is_err());
        assert!(RedirectUri::parse("/cb").is_err());
        assert!(RedirectUri::parse("http://rp.example.edu/cb").is_err());
        assert!(RedirectUri::parse("javascript:alert(1)").is_err());
    }

    #[test]
    fn matching_is_exact() {
        let uri = RedirectUri::parse("https://rp.example/cb").unwrap();
        assert!(uri.matches("https://rp.example/cb"));
        assert!(!uri.matches("https://rp.example/cb/"));
        assert!(!uri.matches("https://rp.example/cb?x=1"));
        assert!(!uri.matches("HTTPS://rp.example/cb"));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn candidate() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,60}",
            (
                prop::sample::select(vec![
                    "https://",
                    "http://",
                    "javascript:",
                    "data:",
                    "file://",
                    "edu.univ.app:/",
                    "HTTPS://",
                    "",
                ]),
                prop::sample::select(vec![
                    "rp.example",
                    "127.0.0.1",
                    "[::1]",
                    "localhost",
                    "user:pw@rp.example",
                    "rp.example:443",
                    "10.0.0.1",
                    "",
                ]),
                "[/a-z0-9?=&#%.]{0,20}",
            )
                .prop_map(|(scheme, host, rest)| format!("{scheme}{host}{rest}")),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// A redirect URI is parsed or refused, never panics; a parsed one matches
        /// itself exactly and nothing else that differs.
        #[test]
        fn a_redirect_uri_matches_only_itself(raw in candidate(), other in candidate()) {
            if let Ok(uri) = RedirectUri::parse(&raw) {
                prop_assert!(uri.matches(uri.as_str()));
                prop_assert!(!uri.as_str().contains('#'), "no fragment is ever registered");
                if other != uri.as_str() {
                    prop_assert!(!uri.matches(&other));
                }
            }
            if let Ok(web) = RedirectUri::parse_web(&raw) {
                prop_assert!(web.as_str().starts_with("https://") || web.as_str().starts_with("http://"));
            }
        }
    }
}
