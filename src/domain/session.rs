//! The single sign-on session and the strength of its authentication.

use super::clock::UnixTime;

/// Authentication context class of a password-only sign-in.
pub const ACR_PASSWORD: &str = "urn:etupass:acr:password";
/// The password and a second factor (a TOTP code or a recovery code).
pub const ACR_MFA: &str = "urn:etupass:acr:mfa";
pub const ACR_VALUES_SUPPORTED: [&str; 2] = [ACR_PASSWORD, ACR_MFA];

/// Authentication methods (RFC 8176) of each level.
pub fn amr_for(acr: &str) -> Vec<String> {
    let methods: &[&str] = if acr == ACR_MFA {
        &["pwd", "otp", "mfa"]
    } else {
        &["pwd"]
    };
    methods.iter().map(|m| m.to_string()).collect()
}

/// Whether a sign-in of class `achieved` meets a request for `requested`: each level
/// meets the ones below it; an unknown class is met by nothing.
pub fn acr_meets(achieved: &str, requested: &str) -> bool {
    fn rank(acr: &str) -> u8 {
        match acr {
            ACR_PASSWORD => 1,
            ACR_MFA => 2,
            _ => 0,
        }
    }
    rank(requested) > 0 && rank(achieved) >= rank(requested)
}

#[derive(Debug, Clone)]
pub struct Session {
    /// Public id: the `sid` claim. The cookie holds a different, secret value.
    pub id: String,
    pub identity_id: String,
    pub auth_time: UnixTime,
    pub acr: String,
    pub amr: Vec<String>,
    pub expires_at: UnixTime,
}

impl Session {
    /// Whether the second factor was given in this session.
    pub fn has_second_factor(&self) -> bool {
        self.acr == ACR_MFA
    }

    /// OIDC Core §3.1.2.1 `max_age`: the sign-in is too old to be reused.
    pub fn older_than(&self, max_age: u64, now: UnixTime) -> bool {
        now.saturating_sub(self.auth_time) > max_age as i64
    }
}
