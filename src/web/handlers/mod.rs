//! Thin handlers: extract, call one function of `oauth` or `account`, map the result.

pub mod account;
pub mod app_passwords;
pub mod attributes;
pub mod authorize;
pub mod cas;
pub mod device;
pub mod health;
pub mod home;
pub mod metadata;
pub mod registration;
pub mod saml;
pub mod second_factor;
pub mod space;
pub mod token;
pub mod userinfo;

use actix_web::HttpRequest;

/// Where the request came from: the peer address, or behind a proxy listed in
/// `trusted_proxies`, the address that proxy saw (see [`client_address`]).
pub fn request_context(req: &HttpRequest) -> crate::domain::audit::RequestContext {
    let trusted = req
        .app_data::<actix_web::web::Data<crate::web::AppState>>()
        .map(|state| state.provider.settings.trusted_proxies.as_slice())
        .unwrap_or_default();
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .collect();
    crate::domain::audit::RequestContext {
        ip: client_address(req.peer_addr().map(|a| a.ip()), &forwarded, trusted)
            .map(|ip| ip.to_string()),
        user_agent: header(req, "user-agent").map(str::to_string),
    }
}

/// The address of the person behind a request: the peer, unless the peer is a trusted
/// proxy; then the right-most `X-Forwarded-For` entry that is not a trusted proxy (the
/// ones to its left were written by the client, who can write anything). From anyone
/// else the header is ignored.
fn client_address(
    peer: Option<std::net::IpAddr>,
    forwarded_for: &[&str],
    trusted: &[ipnet::IpNet],
) -> Option<std::net::IpAddr> {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(ip));
    // An IPv4 client seen through an IPv6 socket is its IPv4 address (for the CIDRs).
    let mut address = peer?.to_canonical();
    if !is_trusted(&address) {
        return Some(address);
    }
    let hops = forwarded_for
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in hops.into_iter().rev() {
        match hop.parse::<std::net::IpAddr>().map(|ip| ip.to_canonical()) {
            Ok(ip) if is_trusted(&ip) => address = ip,
            Ok(ip) => return Some(ip),
            // Not an address: the chain is broken here; the last proxy is all we know.
            Err(_) => return Some(address),
        }
    }
    Some(address)
}

/// What the sign-in form carries to come back to an Etupass page instead of a relying
/// party: `continue_to`, a path of ours.
pub const CONTINUE_TO: &str = "continue_to";

/// The carried request that brings the person back to `path` once signed in.
pub fn come_back_to(path: String) -> crate::oauth::authorize::RawRequest {
    crate::oauth::authorize::RawRequest(vec![(CONTINUE_TO.to_string(), path)])
}

/// Where to go back to after signing in, if the carried request says so. Only our own
/// pages: a path of the personal space or the device page, never another site.
pub fn continuation(raw: &crate::oauth::authorize::RawRequest) -> Option<String> {
    let (name, path) = raw.0.first()?;
    let ours = ["/account", "/account/second-factor", "/device"]
        .iter()
        .any(|page| path == page || path.starts_with(&format!("{page}?")));
    (raw.0.len() == 1 && name == CONTINUE_TO && ours && !path.contains(['\\', '\r', '\n']))
        .then(|| path.clone())
}

/// A request header as text, if present and printable.
pub fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::client_address;

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let ip = |s: &str| Some(s.parse::<std::net::IpAddr>().unwrap());
        // Straight from a client: the header is the client's own words.
        assert_eq!(
            client_address(ip("203.0.113.9"), &["198.51.100.1"], &trusted),
            ip("203.0.113.9")
        );
        // Behind the proxy: the right-most untrusted entry, not the forged left one.
        assert_eq!(
            client_address(ip("10.0.0.2"), &["1.2.3.4, 203.0.113.7"], &trusted),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_address(
                ip("10.0.0.2"),
                &["1.2.3.4", "203.0.113.7, 10.0.0.3"],
                &trusted
            ),
            ip("203.0.113.7"),
            "several headers, a second proxy"
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), &["garbage"], &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), &[], &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), &["203.0.113.7"], &[]),
            ip("10.0.0.2"),
            "no proxy trusted: the header is ignored"
        );
    }
}
