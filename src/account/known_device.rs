//! Browsers an account's owner signed in from: a signed device cookie (the OWASP "device
//! cookie" scheme against lockout by strangers). Failed sign-ins from a known browser
//! count on that browser's own counter, so a stranger guessing the owner's password from
//! elsewhere, who blocks the account for unknown browsers, does not block the owner's.
//!
//! The cookie is `identity.device.mac`: the account's id, a random device id, and an
//! HMAC of both under the server key. It proves nothing by itself (the password is still
//! asked); it only chooses which counter a failure goes to.

use crate::crypto::token;

/// A browser the owner of `identity_id` signed in from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDevice {
    pub identity_id: String,
    pub device_id: String,
}

fn mac(server_key: &[u8], identity_id: &str, device_id: &str) -> String {
    token::derive(
        server_key,
        &format!("known-device:{identity_id}:{device_id}"),
    )
}

/// A new cookie value for `identity_id`, with a fresh device id.
pub fn issue(server_key: &[u8], identity_id: &str) -> String {
    let device_id = token::generate()[..22].to_string();
    let mac = mac(server_key, identity_id, &device_id);
    format!("{identity_id}.{device_id}.{mac}")
}

/// The device a cookie names, if its MAC is ours (checked in constant time).
pub fn read(server_key: &[u8], cookie: &str) -> Option<KnownDevice> {
    let mut parts = cookie.split('.');
    let (identity_id, device_id, presented) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || identity_id.is_empty() || device_id.is_empty() {
        return None;
    }
    let expected = mac(server_key, identity_id, device_id);
    token::constant_time_eq(expected.as_bytes(), presented.as_bytes()).then(|| KnownDevice {
        identity_id: identity_id.to_string(),
        device_id: device_id.to_string(),
    })
}

/// The device, when the cookie is ours and names this account.
pub fn for_identity(
    server_key: &[u8],
    cookie: Option<&str>,
    identity_id: &str,
) -> Option<KnownDevice> {
    cookie
        .and_then(|c| read(server_key, c))
        .filter(|device| device.identity_id == identity_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_read_back_only_with_its_key_and_account() {
        let key = b"server key";
        let cookie = issue(key, "id-1");
        assert!(cookie.len() <= 128, "fits the cookie reader's bound");
        let device = read(key, &cookie).expect("ours");
        assert_eq!(device.identity_id, "id-1");
        assert!(for_identity(key, Some(&cookie), "id-1").is_some());
        assert!(for_identity(key, Some(&cookie), "id-2").is_none());
        assert!(read(b"another key", &cookie).is_none());
        let forged = cookie.replacen("id-1", "id-2", 1);
        assert!(read(key, &forged).is_none());
        assert!(read(key, "id-1.device").is_none());
        assert!(read(key, "").is_none());
        assert_ne!(issue(key, "id-1"), cookie, "each sign-in a new device id");
    }
}
