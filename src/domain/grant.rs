//! What the provider remembers of an authorization: codes and access tokens. Only the
//! digests of the secrets are ever kept.

use serde::{Deserialize, Serialize};

use super::clock::UnixTime;

/// Claims asked for one by one with the `claims` request parameter (OIDC Core §5.5),
/// by where they must appear. Kept with the code and the tokens born of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedClaims {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token: Vec<String>,
}

impl RequestedClaims {
    pub fn is_empty(&self) -> bool {
        self.userinfo.is_empty() && self.id_token.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct AuthorizationCode {
    pub code_hash: String,
    pub client_id: String,
    pub identity_id: String,
    pub session_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    /// PKCE S256 challenge; `plain` is never accepted.
    pub code_challenge: Option<String>,
    pub auth_time: UnixTime,
    pub acr: String,
    pub amr: Vec<String>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub claims: Option<RequestedClaims>,
}

/// A code looked up before it is spent.
#[derive(Debug)]
pub enum CodeLookup {
    Unspent(Box<AuthorizationCode>),
    /// Redeemed before: presenting it again is a replay.
    Spent(Box<AuthorizationCode>),
    Unknown,
}

/// The outcome of redeeming a code, decided atomically in the database.
#[derive(Debug)]
pub enum CodeRedemption {
    /// This call spent the code and saved its tokens.
    Redeemed,
    /// The code was spent before: a replay. The tokens issued from it were revoked.
    Replayed {
        revoked_tokens: usize,
    },
    Unknown,
}

/// The records of the tokens one grant hands out, saved together or not at all.
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access: AccessToken,
    pub refresh: Option<RefreshToken>,
}

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token_hash: String,
    pub client_id: String,
    pub identity_id: Option<String>,
    pub session_id: Option<String>,
    pub code_hash: Option<String>,
    pub scope: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
    /// The refresh-token family it was issued from, if any.
    pub family_id: Option<String>,
    pub claims: Option<RequestedClaims>,
    /// The key a JWT access token was signed with (none for an opaque one).
    pub signing_kid: Option<String>,
}

impl AccessToken {
    pub fn is_usable(&self, now: UnixTime) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// A refresh token as stored (only its digest).
#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub token_hash: String,
    pub family_id: String,
    pub client_id: String,
    pub identity_id: String,
    pub session_id: Option<String>,
    pub scope: String,
    pub auth_time: UnixTime,
    pub acr: String,
    pub amr: Vec<String>,
    pub created_at: UnixTime,
    pub idle_expires_at: UnixTime,
    /// The family's absolute end: rotation never extends it.
    pub expires_at: UnixTime,
    pub used_at: Option<UnixTime>,
    pub revoked_at: Option<UnixTime>,
    pub claims: Option<RequestedClaims>,
}

/// The outcome of presenting a refresh token, decided atomically.
#[derive(Debug)]
pub enum RefreshRedemption {
    /// This call rotated the token: the caller issues `successor_hash`'s token.
    Rotated(Box<RefreshToken>),
    /// A concurrent rotation of the same token happened less than the grace window ago:
    /// answer with the same successor instead of tripping reuse detection.
    WithinGrace(Box<RefreshToken>),
    /// Reuse of a rotated token: the whole family was revoked.
    Reused {
        revoked: usize,
    },
    Invalid,
}
