//! The mail outbox. A mail row is inserted in the transaction of the change that causes
//! it ([`insert_mail`]); workers claim rows with an atomic `UPDATE` (claim id + lease), so
//! each mail is handled by one instance at a time, and a crashed worker's claim expires.

use diesel::prelude::*;

use super::conn::AnyConnection;
use super::schema::outbox;
use super::{new_id, Store, StoreResult};
use crate::domain::clock::UnixTime;
use crate::domain::mail::{OutgoingMail, QueuedMail};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = outbox)]
struct OutboxRow {
    id: String,
    kind: String,
    recipient: String,
    subject: String,
    body_text: String,
    body_html: String,
    created_at: i64,
    not_before: i64,
    attempts: i64,
    claim_id: Option<String>,
    claimed_until: Option<i64>,
    sent_at: Option<i64>,
    last_error: Option<String>,
}

/// Inside a caller's transaction: queue a mail, due now.
pub(crate) fn insert_mail(
    conn: &mut AnyConnection,
    mail: &OutgoingMail,
    now: UnixTime,
) -> StoreResult<()> {
    diesel::insert_into(outbox::table)
        .values(&OutboxRow {
            id: new_id(),
            kind: mail.kind.clone(),
            recipient: mail.recipient.clone(),
            subject: mail.subject.clone(),
            body_text: mail.body_text.clone(),
            body_html: mail.body_html.clone(),
            created_at: now,
            not_before: now,
            attempts: 0,
            claim_id: None,
            claimed_until: None,
            sent_at: None,
            last_error: None,
        })
        .execute(conn)?;
    Ok(())
}

impl Store {
    pub async fn queue_mail(&self, mail: OutgoingMail, now: UnixTime) -> StoreResult<()> {
        self.write(move |conn| insert_mail(conn, &mail, now)).await
    }

    /// A mail (or none) and the audit event that explains it, in one transaction.
    pub async fn queue_mail_with_audit(
        &self,
        mail: Option<OutgoingMail>,
        audit: crate::domain::audit::AuditEvent,
        now: UnixTime,
    ) -> StoreResult<()> {
        self.write(move |conn| {
            if let Some(mail) = &mail {
                insert_mail(conn, mail, now)?;
            }
            super::audit::insert_audit(conn, &audit)
        })
        .await
    }

    /// Claims up to `limit` due mails for `lease` seconds. The second `UPDATE` filter is
    /// re-checked by PostgreSQL on rows another instance claimed meanwhile, so no mail is
    /// claimed twice; SQLite serializes writers anyway.
    pub async fn claim_mails(
        &self,
        now: UnixTime,
        lease: i64,
        limit: i64,
    ) -> StoreResult<Vec<QueuedMail>> {
        let claim = new_id();
        self.write(move |conn| {
            let due = outbox::sent_at
                .is_null()
                .and(outbox::not_before.le(now))
                .and(
                    outbox::claimed_until
                        .is_null()
                        .or(outbox::claimed_until.lt(now)),
                );
            let ids: Vec<String> = outbox::table
                .filter(due)
                .order(outbox::not_before.asc())
                .limit(limit)
                .select(outbox::id)
                .load(conn)?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)).filter(due))
                .set((
                    outbox::claim_id.eq(Some(&claim)),
                    outbox::claimed_until.eq(Some(now + lease)),
                    outbox::attempts.eq(outbox::attempts + 1),
                ))
                .execute(conn)?;
            let rows: Vec<OutboxRow> = outbox::table
                .filter(outbox::claim_id.eq(Some(&claim)))
                .select(OutboxRow::as_select())
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(|row| QueuedMail {
                    id: row.id,
                    claim_id: claim.clone(),
                    attempts: row.attempts,
                    mail: OutgoingMail {
                        kind: row.kind,
                        recipient: row.recipient,
                        subject: row.subject,
                        body_text: row.body_text,
                        body_html: row.body_html,
                    },
                })
                .collect())
        })
        .await
    }

    /// Marks a mail sent and blanks its bodies: links inside them must not outlive delivery.
    pub async fn mark_mail_sent(&self, id: &str, claim: &str, now: UnixTime) -> StoreResult<()> {
        let (id, claim) = (id.to_string(), claim.to_string());
        self.write(move |conn| {
            diesel::update(
                outbox::table
                    .find(id)
                    .filter(outbox::claim_id.eq(Some(claim))),
            )
            .set((
                outbox::sent_at.eq(Some(now)),
                outbox::body_text.eq(""),
                outbox::body_html.eq(""),
                outbox::claimed_until.eq(None::<i64>),
            ))
            .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// Releases a failed mail for another try at `retry_at`.
    pub async fn mark_mail_failed(
        &self,
        id: &str,
        claim: &str,
        error: &str,
        retry_at: UnixTime,
    ) -> StoreResult<()> {
        let (id, claim, error) = (
            id.to_string(),
            claim.to_string(),
            error.chars().take(500).collect::<String>(),
        );
        self.write(move |conn| {
            diesel::update(
                outbox::table
                    .find(id)
                    .filter(outbox::claim_id.eq(Some(claim))),
            )
            .set((
                outbox::not_before.eq(retry_at),
                outbox::claimed_until.eq(None::<i64>),
                outbox::last_error.eq(Some(error)),
            ))
            .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// Mails not yet delivered (for `/readyz`-style checks and tests).
    pub async fn undelivered_mail_count(&self) -> StoreResult<i64> {
        self.run(|conn| {
            Ok(outbox::table
                .filter(outbox::sent_at.is_null())
                .count()
                .get_result(conn)?)
        })
        .await
    }

    /// Delivery attempts made so far on undelivered mails (tests of the retry path).
    pub async fn undelivered_mail_attempts(&self) -> StoreResult<i64> {
        self.run(|conn| {
            let attempts: Vec<i64> = outbox::table
                .filter(outbox::sent_at.is_null())
                .select(outbox::attempts)
                .load(conn)?;
            Ok(attempts.into_iter().sum())
        })
        .await
    }
}
