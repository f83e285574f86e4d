//! The single sign-on session and the strength of its authentication.

use super::clock::UnixTime;

/// Authentication context class of a password-only sign-in.
pub const ACR_PASSWORD: &str = "urn:etupass:acr:password";
pub const ACR_VALUES_SUPPORTED: [&str; 1] = [ACR_PASSWORD];

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
    /// OIDC Core §3.1.2.1 `max_age`: the sign-in is too old to be reused.
    pub fn older_than(&self, max_age: u64, now: UnixTime) -> bool {
        now.saturating_sub(self.auth_time) > max_age as i64
    }
}
