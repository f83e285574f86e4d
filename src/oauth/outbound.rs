//! Outbound calls to addresses a registrant chose (a dynamically registered client's
//! `jwks_uri` and `backchannel_logout_uri`). Registration refuses internal hosts by
//! name, but a public name can resolve to an internal address, now or later (DNS
//! rebinding): so the name is resolved at connect time and only public addresses are
//! dialled. Administrators' clients, registered on purpose with internal addresses (an
//! LMS on the campus network), are not limited.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether an address may be dialled for a registrant: not loopback (unless
/// `allow_loopback`, for tests), private, link-local, shared (CGNAT), documentation,
/// benchmarking, multicast, reserved or unspecified.
pub fn is_public(ip: IpAddr, allow_loopback: bool) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip, allow_loopback),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4, allow_loopback),
            None => is_public_v6(ip, allow_loopback),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        || (first == 0x0064 && ip.segments()[1] == 0xff9b))
}

/// Resolves with the system resolver and keeps only public addresses; a name that
/// resolves to none is an error (nothing is dialled).
#[derive(Debug, Clone, Copy)]
struct PublicOnly {
    allow_loopback: bool,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| is_public(addr.ip(), allow_loopback))
                .collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// An HTTP client for registrants' URLs: public addresses only, no redirects, a timeout.
pub fn public_only_client(timeout: Duration, allow_loopback: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        // Through an HTTP(S)_PROXY of the environment the proxy would resolve the name,
        // out of the resolver's sight.
        .no_proxy()
        .dns_resolver(Arc::new(PublicOnly { allow_loopback }))
        .build()
        .expect("an HTTP client with no custom TLS builds")
}

/// An HTTP client for administrators' URLs: no redirects, a timeout.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client with no custom TLS builds")
}

/// Whether a registrant's URL names a host it may point at: an IP literal is checked
/// here (no resolver sees it); a name is checked when it is resolved.
pub fn literal_host_is_public(url: &url::Url, allow_loopback: bool) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => is_public(IpAddr::V4(ip), allow_loopback),
        Some(url::Host::Ipv6(ip)) => is_public(IpAddr::V6(ip), allow_loopback),
        Some(url::Host::Domain(_)) => true,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "192.0.0.8",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::",
        ] {
            assert!(!is_public(internal.parse().unwrap(), false), "{internal}");
        }
        for public in ["193.55.120.1", "8.8.8.8", "2001:660::1"] {
            assert!(is_public(public.parse().unwrap(), false), "{public}");
        }
        assert!(is_public("127.0.0.1".parse().unwrap(), true), "tests only");
        assert!(!is_public("10.0.0.1".parse().unwrap(), true));
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_not_dialled() {
        let refused = PublicOnly {
            allow_loopback: false,
        }
        .resolve("localhost".parse().unwrap())
        .await;
        assert!(refused.is_err());
        let allowed = PublicOnly {
            allow_loopback: true,
        }
        .resolve("localhost".parse().unwrap())
        .await;
        assert!(allowed.is_ok_and(|mut addrs| addrs.next().is_some()));
    }

    #[test]
    fn literal_hosts_are_checked_at_once() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert!(!literal_host_is_public(
            &url("https://10.0.0.1/jwks"),
            false
        ));
        assert!(!literal_host_is_public(&url("https://[::1]/jwks"), false));
        assert!(literal_host_is_public(&url("https://193.55.120.1/"), false));
        assert!(literal_host_is_public(&url("https://rp.example/"), false));
    }
}
