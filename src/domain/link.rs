//! Single-use links mailed to a person. The token travels in the mail; only its SHA-256
//! digest is stored.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    Activation,
    PasswordReset,
    TheftReport,
    /// Confirms a new personal e-mail address (the link goes to that address).
    EmailChange,
    /// Invites a parent (the link goes to the parent; it belongs to the student).
    ParentInvitation,
}

impl LinkPurpose {
    /// Whether following one link of this purpose voids the identity's other open links of
    /// the same purpose (a second reset link must not outlive the reset). A student's
    /// invitations to different parents are each their own.
    pub fn voids_siblings(self) -> bool {
        self != LinkPurpose::ParentInvitation
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Activation => "activation",
            LinkPurpose::PasswordReset => "password_reset",
            LinkPurpose::TheftReport => "theft_report",
            LinkPurpose::EmailChange => "email_change",
            LinkPurpose::ParentInvitation => "parent_invitation",
        }
    }
}

/// A link to create: its digest, purpose and expiry.
#[derive(Debug, Clone)]
pub struct NewLink {
    pub token_hash: String,
    pub purpose: LinkPurpose,
    pub expires_at: i64,
    /// What the change will set (the new address of an address change).
    pub payload: Option<String>,
}

/// What a presented link turns out to be.
#[derive(Debug, Clone)]
pub enum LinkState {
    Valid(Box<super::identity::Identity>),
    Expired,
    Used,
    Unknown,
}
