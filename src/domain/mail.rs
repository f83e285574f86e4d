//! A mail ready to go: rendered when the change that causes it is made, stored in the
//! outbox in the same transaction, delivered later by the worker.

#[derive(Debug, Clone)]
pub struct OutgoingMail {
    /// What kind of mail (`activation`, `password_reset`…), for logs and tests.
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
}

/// A mail claimed from the outbox by one worker.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    pub id: String,
    pub claim_id: String,
    pub attempts: i64,
    pub mail: OutgoingMail,
}
