//! The audit log: append-only.

use diesel::prelude::*;

use super::conn::AnyConnection;
use super::schema::audit_events;
use super::{new_id, Store, StoreResult};
use crate::domain::audit::AuditEvent;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
struct AuditRow {
    id: String,
    at: i64,
    event: String,
    identity_id: Option<String>,
    subject: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: Option<String>,
}

/// Inside a caller's transaction: the event commits with the change it describes.
pub(crate) fn insert_audit(conn: &mut AnyConnection, event: &AuditEvent) -> StoreResult<()> {
    diesel::insert_into(audit_events::table)
        .values(&AuditRow {
            id: new_id(),
            at: event.at,
            event: event.event.clone(),
            identity_id: event.identity_id.clone(),
            subject: event.subject.clone(),
            ip: event.ip.clone(),
            user_agent: event
                .user_agent
                .as_ref()
                .map(|ua| ua.chars().take(255).collect()),
            detail: event.detail.clone(),
        })
        .execute(conn)?;
    Ok(())
}

/// What `etupass audit` filters on.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub identity_id: Option<String>,
    pub event: Option<String>,
    pub since: Option<i64>,
    pub limit: i64,
}

impl Store {
    pub async fn record_audit(&self, event: AuditEvent) -> StoreResult<()> {
        // One statement: atomic alone, no BEGIN and COMMIT round trips.
        self.run(move |conn| insert_audit(conn, &event)).await
    }

    /// Events, newest first.
    pub async fn list_audit(&self, filter: AuditFilter) -> StoreResult<Vec<AuditEvent>> {
        self.run(move |conn| {
            let mut query = audit_events::table
                .select(AuditRow::as_select())
                .into_boxed();
            if let Some(identity_id) = filter.identity_id {
                query = query.filter(audit_events::identity_id.eq(identity_id));
            }
            if let Some(event) = filter.event {
                query = query.filter(audit_events::event.eq(event));
            }
            if let Some(since) = filter.since {
                query = query.filter(audit_events::at.ge(since));
            }
            let rows: Vec<AuditRow> = query
                .order((audit_events::at.desc(), audit_events::id.desc()))
                .limit(filter.limit.max(1))
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(|row| AuditEvent {
                    at: row.at,
                    event: row.event,
                    identity_id: row.identity_id,
                    subject: row.subject,
                    ip: row.ip,
                    user_agent: row.user_agent,
                    detail: row.detail,
                })
                .collect())
        })
        .await
    }
}
