//! CAS services (the Apereo CAS Protocol 3.0): which service URLs may receive tickets,
//! what each is told about the person, and the tickets' kinds.

use serde::Serialize;

use super::clock::UnixTime;
use super::Invalid;

/// The attributes a service can be released, by their CAS (LDAP) names.
pub const ATTRIBUTES: [&str; 10] = [
    "uid",
    "mail",
    "displayName",
    "givenName",
    "sn",
    "eduPersonAffiliation",
    "eduPersonPrincipalName",
    "supannEtuId",
    "supannEmpId",
    "memberOf",
];

/// Which service URLs a registered service covers.
#[derive(Debug, Clone)]
pub enum UrlPattern {
    /// A URL and everything below it: `https://ent.example.edu/` covers
    /// `https://ent.example.edu/portal?x=1`; `https://ent.example.edu/app` covers
    /// `/app`, `/app/…` and `/app?…`, never `/application` nor `…edu.evil.org`.
    Prefix(String),
    /// A regular expression (written with a leading `^`) the whole URL must match.
    Regex(regex::Regex),
}

impl UrlPattern {
    pub fn parse(raw: &str) -> Result<UrlPattern, Invalid> {
        let raw = raw.trim();
        if raw.starts_with('^') {
            // Anchored at both ends whatever was written: a pattern that forgot `$` must
            // not cover `https://ent.example.edu.evil.org`.
            let anchored = format!(
                "^(?:{})$",
                raw.trim_start_matches('^').trim_end_matches('$')
            );
            return regex::Regex::new(&anchored)
                .map(UrlPattern::Regex)
                .map_err(|e| {
                    Invalid::new(format!(
                        "the URL pattern is not a valid regular expression: {e}"
                    ))
                });
        }
        let url = url::Url::parse(raw)
            .map_err(|e| Invalid::new(format!("the URL pattern '{raw}' is neither a URL ({e}) nor a regular expression starting with ^")))?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
            return Err(Invalid::new(
                "a URL prefix must be an http or https URL with a host",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return Err(Invalid::new(
                "a URL prefix may not hold a user name, a password or a fragment",
            ));
        }
        Ok(UrlPattern::Prefix(raw.to_string()))
    }

    /// The pattern as the administrator gave it (a regex without the anchoring added).
    pub fn written(&self) -> String {
        match self {
            UrlPattern::Prefix(prefix) => prefix.clone(),
            UrlPattern::Regex(regex) => {
                let inner = regex.as_str();
                format!("^{}", &inner[4..inner.len() - 2])
            }
        }
    }

    /// How specific the pattern is, to choose among several that cover one URL: any
    /// prefix before any regular expression, then the longer.
    pub fn specificity(&self) -> (bool, usize) {
        match self {
            UrlPattern::Prefix(prefix) => (true, prefix.len()),
            UrlPattern::Regex(regex) => (false, regex.as_str().len()),
        }
    }

    /// Whether `service` is covered; a URL that does not parse, carries credentials, or
    /// is not http(s) never is.
    pub fn covers(&self, service: &str) -> bool {
        if !is_plain_web_url(service) {
            return false;
        }
        match self {
            UrlPattern::Regex(regex) => regex.is_match(service),
            UrlPattern::Prefix(prefix) => match service.strip_prefix(prefix.as_str()) {
                Some("") => true,
                Some(rest) => prefix.ends_with('/') || rest.starts_with(['/', '?', '#']),
                None => false,
            },
        }
    }
}

/// An absolute http(s) URL with a host and no user information (which would make
/// `https://ent.example.edu@evil.org` look like the university's), written the way it
/// will be read: a URL whose path a browser or server would rewrite (`/app/../~eve`,
/// `%2e%2e`, `..;`, an encoded slash or backslash) could leave a registered prefix after
/// the check, so only a URL equal to its own normalised form is accepted.
pub fn is_plain_web_url(candidate: &str) -> bool {
    if candidate
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return false;
    }
    let Ok(url) = url::Url::parse(candidate) else {
        return false;
    };
    let normalised = url.as_str();
    let path = url.path().to_ascii_lowercase();
    matches!(url.scheme(), "https" | "http")
        && url.host_str().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && (normalised == candidate || normalised == format!("{candidate}/"))
        && !path.contains(';')
        && !path.contains("%2f")
        && !path.contains("%5c")
        && !path.contains("%2e")
}

/// A registered CAS service.
#[derive(Debug, Clone)]
pub struct CasService {
    pub id: String,
    pub name: String,
    pub url_pattern: UrlPattern,
    /// The attributes released in its validation responses.
    pub attributes: Vec<String>,
    /// May receive proxy-granting tickets (at a `pgtUrl` it covers).
    pub proxy_allowed: bool,
    /// Where single logout POSTs; by default the service URL the ticket was issued for.
    pub logout_url: Option<String>,
    pub open_to_alumni: bool,
    pub open_to_parents: bool,
    pub created_at: UnixTime,
}

impl CasService {
    pub fn admits(&self, identity: &super::identity::Identity) -> bool {
        identity.admitted_by(self.open_to_alumni, self.open_to_parents)
    }
}

/// What an administrator registers, checked by [`NewCasService::validate`].
#[derive(Debug, Clone)]
pub struct NewCasService {
    pub name: String,
    pub url_pattern: String,
    pub attributes: Vec<String>,
    pub proxy_allowed: bool,
    pub logout_url: Option<String>,
    pub open_to_alumni: bool,
    pub open_to_parents: bool,
}

impl NewCasService {
    pub fn validate(&self) -> Result<UrlPattern, Invalid> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(Invalid::new(
                "the name must have 1 to 100 printable characters",
            ));
        }
        for attribute in &self.attributes {
            if !ATTRIBUTES.contains(&attribute.as_str()) {
                return Err(Invalid::new(format!(
                    "unknown attribute '{attribute}' (known: {})",
                    ATTRIBUTES.join(", ")
                )));
            }
        }
        if let Some(url) = &self.logout_url {
            if !is_plain_web_url(url) {
                return Err(Invalid::new(format!(
                    "the logout URL '{url}' is not an http or https URL"
                )));
            }
        }
        UrlPattern::parse(&self.url_pattern)
    }
}

/// The kinds of tickets, by their prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TicketKind {
    /// `ST-`: a service ticket, from `/cas/login`.
    Service,
    /// `PT-`: a proxy ticket, from `/cas/proxy`.
    Proxy,
    /// `PGT-`: a proxy-granting ticket, delivered to a `pgtUrl`.
    ProxyGranting,
}

impl TicketKind {
    pub fn prefix(self) -> &'static str {
        match self {
            TicketKind::Service => "ST-",
            TicketKind::Proxy => "PT-",
            TicketKind::ProxyGranting => "PGT-",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TicketKind::Service => "ST",
            TicketKind::Proxy => "PT",
            TicketKind::ProxyGranting => "PGT",
        }
    }

    pub fn parse(stored: &str) -> Option<TicketKind> {
        match stored {
            "ST" => Some(TicketKind::Service),
            "PT" => Some(TicketKind::Proxy),
            "PGT" => Some(TicketKind::ProxyGranting),
            _ => None,
        }
    }

    /// The kind a presented ticket claims by its prefix.
    pub fn of(ticket: &str) -> Option<TicketKind> {
        [
            TicketKind::Service,
            TicketKind::Proxy,
            TicketKind::ProxyGranting,
        ]
        .into_iter()
        .find(|kind| ticket.starts_with(kind.prefix()))
    }
}

/// A stored ticket, as validation reads it.
#[derive(Debug, Clone)]
pub struct CasTicket {
    pub kind: TicketKind,
    pub service_id: String,
    pub service: String,
    pub identity_id: String,
    pub session_id: String,
    pub from_new_login: bool,
    pub proxies: Vec<String>,
    pub expires_at: UnixTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_covers_its_paths_and_nothing_that_merely_starts_alike() {
        let app = UrlPattern::parse("https://ent.example.edu/app").unwrap();
        assert!(app.covers("https://ent.example.edu/app"));
        assert!(app.covers("https://ent.example.edu/app/"));
        assert!(app.covers("https://ent.example.edu/app?x=1"));
        assert!(!app.covers("https://ent.example.edu/application"));
        let host = UrlPattern::parse("https://ent.example.edu").unwrap();
        assert!(host.covers("https://ent.example.edu/portal"));
        assert!(!host.covers("https://ent.example.edu.evil.org/"));
        assert!(!host.covers("https://ent.example.edu@evil.org/"));
        assert!(!host.covers("https://ent.example.edu:8443/"));
        assert!(!host.covers("https://ent.example.edu/\\evil"));
        assert!(UrlPattern::parse("ent.example.edu").is_err());
        assert!(UrlPattern::parse("javascript:alert(1)").is_err());
        assert!(UrlPattern::parse("https://user@ent.example.edu/").is_err());
    }

    #[test]
    fn a_path_that_would_be_rewritten_never_matches() {
        let app = UrlPattern::parse("https://www.example.edu/app").unwrap();
        let regex = UrlPattern::parse(r"^https://www\.example\.edu/app/.*").unwrap();
        for escape in [
            "https://www.example.edu/app/../~eve/x.php",
            "https://www.example.edu/app/./../~eve/",
            "https://www.example.edu/app/%2e%2e/~eve/",
            "https://www.example.edu/app/%2E%2E/~eve/",
            "https://www.example.edu/app/..;/admin",
            "https://www.example.edu/app/x;jsessionid=1",
            "https://www.example.edu/app/%2f..%2f~eve",
            "https://www.example.edu/app/%5c..%5c~eve",
            "https://WWW.example.edu/app/",
            "https://www.example.edu:443/app/",
        ] {
            assert!(!app.covers(escape), "{escape}");
            assert!(!regex.covers(escape), "{escape}");
        }
        assert!(app.covers("https://www.example.edu/app/cours?id=3&x=%C3%A9"));
        assert!(UrlPattern::parse("https://www.example.edu")
            .unwrap()
            .covers("https://www.example.edu"));
    }

    #[test]
    fn a_regex_must_match_the_whole_url() {
        let pattern = UrlPattern::parse(r"^https://(www\.)?ent\.example\.edu/.*").unwrap();
        assert!(pattern.covers("https://ent.example.edu/portal"));
        assert!(pattern.covers("https://www.ent.example.edu/"));
        assert!(!pattern.covers("https://evil.org/?https://ent.example.edu/"));
        let unanchored = UrlPattern::parse(r"^https://ent\.example\.edu").unwrap();
        assert!(!unanchored.covers("https://ent.example.edu.evil.org/"));
        assert_eq!(unanchored.written(), r"^https://ent\.example\.edu");
        assert!(UrlPattern::parse("^https://(").is_err());
    }

    #[test]
    fn tickets_are_told_apart_by_their_prefix() {
        assert_eq!(TicketKind::of("ST-abc"), Some(TicketKind::Service));
        assert_eq!(TicketKind::of("PT-abc"), Some(TicketKind::Proxy));
        assert_eq!(TicketKind::of("PGT-abc"), Some(TicketKind::ProxyGranting));
        assert_eq!(TicketKind::of("PGTIOU-abc"), None);
        assert_eq!(TicketKind::of("TGT-abc"), None);
    }
}
