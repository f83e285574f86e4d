//! Single-use links mailed to a person. The token travels in the mail; only its SHA-256
//! digest is stored.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    Activation,
    PasswordReset,
    TheftReport,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Activation => "activation",
            LinkPurpose::PasswordReset => "password_reset",
            LinkPurpose::TheftReport => "theft_report",
        }
    }
}

/// A link to create: its digest, purpose and expiry.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub token_hash: String,
    pub purpose: LinkPurpose,
    pub expires_at: i64,
}

/// What a presented link turns out to be.
#[derive(Debug, Clone)]
pub enum LinkState {
    Valid(Box<super::identity::Identity>),
    Expired,
    Used,
    Unknown,
}
