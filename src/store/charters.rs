//! The IT charter: versions and who accepted which.

use diesel::prelude::*;

use super::conn::AnyConnection;
use super::schema::{charter_acceptances, charters};
use super::{Store, StoreResult};
use crate::domain::clock::UnixTime;

/// A published version of the IT charter.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Charter {
    pub version: i64,
    pub body: String,
    pub published_at: UnixTime,
}

pub(crate) fn insert_acceptance(
    conn: &mut AnyConnection,
    identity_id: &str,
    version: i64,
    ip: Option<String>,
    now: UnixTime,
) -> StoreResult<()> {
    let already: i64 = charter_acceptances::table
        .filter(charter_acceptances::identity_id.eq(identity_id))
        .filter(charter_acceptances::version.eq(version))
        .count()
        .get_result(conn)?;
    if already == 0 {
        diesel::insert_into(charter_acceptances::table)
            .values((
                charter_acceptances::identity_id.eq(identity_id),
                charter_acceptances::version.eq(version),
                charter_acceptances::accepted_at.eq(now),
                charter_acceptances::ip.eq(ip),
            ))
            .execute(conn)?;
    }
    Ok(())
}

impl Store {
    /// Publishes a new version (the previous one plus one) and returns it.
    pub async fn publish_charter(&self, body: String, now: UnixTime) -> StoreResult<Charter> {
        self.write(move |conn| {
            let latest: Option<i64> = charters::table
                .select(diesel::dsl::max(charters::version))
                .first(conn)?;
            let version = latest.unwrap_or(0) + 1;
            diesel::insert_into(charters::table)
                .values((
                    charters::version.eq(version),
                    charters::body.eq(&body),
                    charters::published_at.eq(now),
                ))
                .execute(conn)?;
            Ok(Charter {
                version,
                body,
                published_at: now,
            })
        })
        .await
    }

    pub async fn latest_charter(&self) -> StoreResult<Option<Charter>> {
        self.run(|conn| {
            let row: Option<(i64, String, i64)> = charters::table
                .order(charters::version.desc())
                .select((charters::version, charters::body, charters::published_at))
                .first(conn)
                .optional()?;
            Ok(row.map(|(version, body, published_at)| Charter {
                version,
                body,
                published_at,
            }))
        })
        .await
    }

    /// The newest version this identity accepted, with when.
    pub async fn accepted_charter(
        &self,
        identity_id: &str,
    ) -> StoreResult<Option<(i64, UnixTime)>> {
        let identity_id = identity_id.to_string();
        self.run(move |conn| {
            Ok(charter_acceptances::table
                .filter(charter_acceptances::identity_id.eq(identity_id))
                .order(charter_acceptances::version.desc())
                .select((
                    charter_acceptances::version,
                    charter_acceptances::accepted_at,
                ))
                .first(conn)
                .optional()?)
        })
        .await
    }

    pub async fn accept_charter(
        &self,
        identity_id: &str,
        version: i64,
        ip: Option<String>,
        audit: crate::domain::audit::AuditEvent,
        now: UnixTime,
    ) -> StoreResult<()> {
        let identity_id = identity_id.to_string();
        let result = self
            .write(move |conn| {
                insert_acceptance(conn, &identity_id, version, ip, now)?;
                super::audit::insert_audit(conn, &audit)
            })
            .await;
        match result {
            // A double-submitted form: the other request recorded the acceptance.
            Err(super::StoreError::Conflict(_)) => Ok(()),
            other => other,
        }
    }
}
