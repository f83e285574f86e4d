//! The device authorization grant (RFC 8628): a device without a keyboard worth the name
//! (the wifi captive portal, a kiosk, a TV) shows a short user code; the person types it
//! at `/device` on a phone or a computer, signs in there, and approves.

use rand::Rng;

use super::clock::UnixTime;

/// RFC 8628 §6.1: consonants only (no vowels, so no words), no look-alikes; 20^8 codes
/// (34 bits), enough for codes that live minutes behind a throttled form.
const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
const LENGTH: usize = 8;

/// A fresh user code, shown as `XXXX-XXXX`.
pub fn new_user_code() -> String {
    let mut rng = rand::rngs::OsRng;
    let letters: String = (0..LENGTH)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{}-{}", &letters[..4], &letters[4..])
}

/// What a person typed, as stored: upper case, separators and spaces dropped. `None` if
/// it cannot be a user code at all.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let letters: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (letters.len() == LENGTH && letters.bytes().all(|b| ALPHABET.contains(&b))).then_some(letters)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    Pending,
    Approved,
    Denied,
    Redeemed,
}

impl DeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Pending => "pending",
            DeviceStatus::Approved => "approved",
            DeviceStatus::Denied => "denied",
            DeviceStatus::Redeemed => "redeemed",
        }
    }

    pub fn parse(raw: &str) -> Option<DeviceStatus> {
        [
            DeviceStatus::Pending,
            DeviceStatus::Approved,
            DeviceStatus::Denied,
            DeviceStatus::Redeemed,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

/// A device's authorization, from the device request to the token.
#[derive(Debug, Clone)]
pub struct DeviceGrant {
    pub device_code_hash: String,
    pub user_code_hash: String,
    pub client_id: String,
    pub scope: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub interval_secs: i64,
    pub status: DeviceStatus,
    /// Who approved, once approved.
    pub approval: Option<DeviceApproval>,
}

/// The sign-in that approved a device: it becomes the tokens' sign-in facts.
#[derive(Debug, Clone)]
pub struct DeviceApproval {
    pub identity_id: String,
    pub session_id: String,
    pub auth_time: UnixTime,
    pub acr: String,
    pub amr: Vec<String>,
}

/// The outcome of one poll of the token endpoint, decided atomically in the database.
#[derive(Debug)]
pub enum DevicePoll {
    Unknown,
    Expired,
    /// Polled faster than the interval: the interval grows by 5 seconds (§3.5).
    SlowDown,
    Pending,
    Denied,
    /// This poll spent the approval: issue the tokens.
    Approved(Box<DeviceGrant>),
    /// Tokens were already issued for this device code.
    AlreadyRedeemed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_round_trip_through_what_people_type() {
        let code = new_user_code();
        assert_eq!(code.len(), 9);
        let stored = normalize_user_code(&code).unwrap();
        assert_eq!(
            normalize_user_code(&code.to_lowercase()),
            Some(stored.clone())
        );
        assert_eq!(normalize_user_code(&stored.replace("", " ")), Some(stored));
        assert_eq!(
            normalize_user_code("ABCD-EFGH"),
            None,
            "vowels never appear"
        );
        assert_eq!(normalize_user_code("BCDF"), None);
    }
}
