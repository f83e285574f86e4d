//! Security events, and where a request came from.

use serde::Serialize;

use super::clock::UnixTime;

/// Where a request came from: recorded with sessions and audit events.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The events the audit log records. Names are stable: scripts filter on them.
pub mod events {
    pub const SIGN_IN: &str = "sign_in";
    pub const SIGN_IN_FAILED: &str = "sign_in_failed";
    pub const SIGN_IN_THROTTLED: &str = "sign_in_throttled";
    pub const ACTIVATION: &str = "activation";
    pub const CHARTER_ACCEPTED: &str = "charter_accepted";
    pub const PASSWORD_CHANGED: &str = "password_changed";
    pub const PASSWORD_CHANGE_REQUIRED: &str = "password_change_required";
    pub const PASSWORD_RESET_REQUESTED: &str = "password_reset_requested";
    pub const PASSWORD_RESET: &str = "password_reset";
    pub const NUMBER_RECOVERY: &str = "number_recovery";
    pub const THEFT_REPORT_REQUESTED: &str = "theft_report_requested";
    pub const THEFT_REPORTED: &str = "theft_reported";
    pub const LOCKED: &str = "locked";
    pub const UNLOCKED: &str = "unlocked";
    pub const IMPORTED: &str = "imported";
    pub const INITIAL_ACCESS_TOKEN_ISSUED: &str = "initial_access_token_issued";
    pub const CLIENT_REGISTERED: &str = "client_registered";
    pub const CLIENT_UPDATED: &str = "client_updated";
    pub const CLIENT_DELETED: &str = "client_deleted";
    pub const APP_DISCONNECTED: &str = "app_disconnected";
    pub const GRADUATED: &str = "graduated";
    pub const CONTACT_DETAILS_CHANGED: &str = "contact_details_changed";
    pub const EMAIL_CHANGE_REQUESTED: &str = "email_change_requested";
    pub const EMAIL_CHANGED: &str = "email_changed";
    pub const APP_PASSWORD_CREATED: &str = "app_password_created";
    pub const APP_PASSWORD_REVOKED: &str = "app_password_revoked";
    pub const SECOND_FACTOR_ENABLED: &str = "second_factor_enabled";
    pub const SECOND_FACTOR_USED: &str = "second_factor_used";
    pub const SECOND_FACTOR_DISABLED: &str = "second_factor_disabled";
    pub const SECOND_FACTOR_REMOVED: &str = "second_factor_removed";
    pub const PARENT_INVITED: &str = "parent_invited";
    pub const PARENT_LINKED: &str = "parent_linked";
    pub const PARENT_UNLINKED: &str = "parent_unlinked";
    pub const PARENT_SHARING_CHANGED: &str = "parent_sharing_changed";
    /// A CAS service or proxy ticket validated: the service, its URL, the attributes released.
    pub const CAS_TICKET_VALIDATED: &str = "cas_ticket_validated";
    /// A SAML assertion sent: the SP, the consumer URL, the NameID format, the attributes.
    pub const SAML_ASSERTION_ISSUED: &str = "saml_assertion_issued";
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    pub at: UnixTime,
    pub event: String,
    pub identity_id: Option<String>,
    pub subject: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Option<String>,
}

impl AuditEvent {
    pub fn new(event: &str, at: UnixTime, context: &RequestContext) -> AuditEvent {
        AuditEvent {
            at,
            event: event.to_string(),
            identity_id: None,
            subject: None,
            ip: context.ip.clone(),
            user_agent: context.user_agent.clone(),
            detail: None,
        }
    }

    pub fn identity(mut self, identity: &super::identity::Identity) -> AuditEvent {
        self.identity_id = Some(identity.id.clone());
        self.subject = Some(identity.subject.clone());
        self
    }

    pub fn detail(mut self, detail: impl Into<String>) -> AuditEvent {
        self.detail = Some(detail.into());
        self
    }
}
