//! Browsers an account's owner signed in from: a signed device cookie (the OWASP "device
//! cookie" scheme against lockout by strangers). Failed sign-ins from a known browser
//! count on that browser's own counter, so a stranger guessing the owner's password from
//! elsewhere, who blocks the account for unknown browsers, does not block the owner's.
//!
//! The cookie is `identity.device.issued.mac`: the account's id, a random device id, when
//! it was issued, and an HMAC under the server key of those and of the time the password
//! last changed. It proves nothing by itself (the password is still asked); it only
//! chooses which counter a failure goes to. It lapses after `device_cookie_lifetime`,
//! and at once when the password changes (a reset after a theft report ends the thief's).

use crate::crypto::token;
use crate::domain::clock::UnixTime;
use crate::domain::identity::Identity;

/// A browser the owner of `identity_id` signed in from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDevice {
    pub identity_id: String,
    pub device_id: String,
}

fn mac(server_key: &[u8], identity: &Identity, device_id: &str, issued: UnixTime) -> String {
    token::derive(
        server_key,
        &format!(
            "known-device:{}:{device_id}:{issued}:{}",
            identity.id,
            identity.password_changed_at.unwrap_or(0)
        ),
    )
}

/// A cookie value for `identity`: for the browser's `device_id` if it has one, else a
/// fresh one.
pub fn issue(
    server_key: &[u8],
    identity: &Identity,
    device_id: Option<&str>,
    now: UnixTime,
) -> String {
    let device_id = device_id
        .map(str::to_string)
        .unwrap_or_else(|| token::generate()[..22].to_string());
    let mac = mac(server_key, identity, &device_id, now);
    format!("{}.{device_id}.{now}.{mac}", identity.id)
}

/// The device a cookie names, when the cookie is ours (MAC checked in constant time),
/// names this account, is younger than `lifetime` and older than no password change.
pub fn for_identity(
    server_key: &[u8],
    cookie: Option<&str>,
    identity: &Identity,
    now: UnixTime,
    lifetime: i64,
) -> Option<KnownDevice> {
    let mut parts = cookie?.split('.');
    let (identity_id, device_id, issued, presented) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || identity_id != identity.id || device_id.is_empty() {
        return None;
    }
    let issued: UnixTime = issued.parse().ok()?;
    if now - issued >= lifetime || issued > now + 60 {
        return None;
    }
    let expected = mac(server_key, identity, device_id, issued);
    token::constant_time_eq(expected.as_bytes(), presented.as_bytes()).then(|| KnownDevice {
        identity_id: identity_id.to_string(),
        device_id: device_id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(id: &str, changed: Option<UnixTime>) -> Identity {
        use crate::domain::identity::{Affiliation, BirthDate, IdentityStatus, StudentNumber};
        Identity {
            id: id.into(),
            subject: "s".into(),
            number: StudentNumber::parse("21900001").unwrap(),
            family_name: "F".into(),
            given_names: "G".into(),
            birth_date: BirthDate::parse("2004-05-17").unwrap(),
            affiliations: vec![Affiliation::Student],
            institutional_email: None,
            personal_email: None,
            status: IdentityStatus::Active,
            password_hash: None,
            password_changed_at: changed,
            created_at: 0,
            updated_at: 0,
            phone: None,
            must_change_password: false,
            suspended_reason: None,
            activation_due_at: None,
            activation_sent_at: None,
            postal_address: None,
            groups: Vec::new(),
            keep_in_touch_email: None,
        }
    }

    #[test]
    fn a_cookie_is_read_back_only_with_its_key_account_age_and_password() {
        let key = b"server key";
        let owner = identity("id-1", Some(100));
        let cookie = issue(key, &owner, None, 1_000);
        assert!(cookie.len() <= 128, "fits the cookie reader's bound");
        let read =
            |cookie: &str, who: &Identity, now| for_identity(key, Some(cookie), who, now, 3_600);
        let device = read(&cookie, &owner, 1_000).expect("ours");
        assert_eq!(device.identity_id, "id-1");
        assert!(
            read(&cookie, &identity("id-2", Some(100)), 1_000).is_none(),
            "another account"
        );
        assert!(for_identity(b"another key", Some(&cookie), &owner, 1_000, 3_600).is_none());
        assert!(read(&cookie, &owner, 1_000 + 3_600).is_none(), "expired");
        assert!(
            read(&cookie, &identity("id-1", Some(2_000)), 1_000).is_none(),
            "password changed"
        );
        let forged = cookie.replacen("1000", "1001", 1);
        assert!(read(&forged, &owner, 1_001).is_none());
        assert!(read("id-1.device", &owner, 1_000).is_none());
        assert!(read("", &owner, 1_000).is_none());
        // Renewed at the next sign-in, the browser keeps its device id.
        let renewed = issue(key, &owner, Some(&device.device_id), 2_000);
        assert_eq!(
            read(&renewed, &owner, 2_000).unwrap().device_id,
            device.device_id
        );
        assert_ne!(
            issue(key, &owner, None, 1_000),
            cookie,
            "a new browser, a new id"
        );
    }
}
