//! The second factor: the sealed authenticator key, the last time step used, and the
//! digests of the recovery codes. Spending a code is a conditional `UPDATE`, so two
//! requests racing with one code cannot both succeed.

use diesel::prelude::*;

use super::audit::insert_audit;
use super::conn::AnyConnection;
use super::outbox::insert_mail;
use super::schema::{recovery_codes, second_factors, sessions};
use super::{to_json, Store, StoreResult};
use crate::domain::audit::AuditEvent;
use crate::domain::clock::UnixTime;
use crate::domain::mail::OutgoingMail;
use crate::domain::session::{amr_for, ACR_MFA};

#[derive(Debug, Clone)]
pub struct StoredSecondFactor {
    pub secret_sealed: String,
    pub created_at: UnixTime,
    /// `None` while the enrolment waits for its first code.
    pub confirmed_at: Option<UnixTime>,
}

/// A second factor that checked out, to be spent once.
#[derive(Debug, Clone)]
pub enum Proof {
    /// The TOTP time step the code belonged to.
    Totp(i64),
    /// The digest of a recovery code.
    Recovery(String),
}

/// What else happens when a proof is spent.
#[derive(Debug)]
pub struct ProofUse {
    /// The session that now counts as signed in with two factors.
    pub upgrade_session: Option<String>,
    /// Disabling: the authenticator and the recovery codes are removed.
    pub remove: bool,
    pub mail: Option<OutgoingMail>,
    pub audit: AuditEvent,
}

impl Store {
    pub async fn second_factor(
        &self,
        identity_id: &str,
    ) -> StoreResult<Option<StoredSecondFactor>> {
        let identity_id = identity_id.to_string();
        self.run(move |conn| {
            let row: Option<(String, i64, Option<i64>)> = second_factors::table
                .find(identity_id)
                .select((
                    second_factors::secret_sealed,
                    second_factors::created_at,
                    second_factors::confirmed_at,
                ))
                .first(conn)
                .optional()?;
            Ok(row.map(
                |(secret_sealed, created_at, confirmed_at)| StoredSecondFactor {
                    secret_sealed,
                    created_at,
                    confirmed_at,
                },
            ))
        })
        .await
    }

    /// Unused recovery codes left.
    pub async fn recovery_codes_left(&self, identity_id: &str) -> StoreResult<i64> {
        let identity_id = identity_id.to_string();
        self.run(move |conn| {
            Ok(recovery_codes::table
                .filter(recovery_codes::identity_id.eq(identity_id))
                .filter(recovery_codes::used_at.is_null())
                .count()
                .get_result(conn)?)
        })
        .await
    }

    /// Records a new, unconfirmed authenticator key (replacing an unconfirmed one). Refused
    /// (`false`) when a confirmed one exists (it must be disabled first), or when another
    /// request inserted one at the same moment.
    pub async fn begin_second_factor(
        &self,
        identity_id: &str,
        secret_sealed: String,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let identity_id = identity_id.to_string();
        self.write(move |conn| {
            let confirmed: Option<Option<i64>> = second_factors::table
                .find(&identity_id)
                .select(second_factors::confirmed_at)
                .first(conn)
                .optional()?;
            if confirmed.flatten().is_some() {
                return Ok(false);
            }
            diesel::delete(second_factors::table.find(&identity_id)).execute(conn)?;
            let inserted = diesel::insert_into(second_factors::table)
                .values((
                    second_factors::identity_id.eq(&identity_id),
                    second_factors::secret_sealed.eq(secret_sealed),
                    second_factors::created_at.eq(now),
                ))
                .execute(conn);
            match inserted {
                Ok(_) => Ok(true),
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                )) => Ok(false),
                Err(other) => Err(other.into()),
            }
        })
        .await
    }

    /// The first valid code turns the enrolment on: the step is spent, the recovery codes
    /// replace any old ones, the session counts as two-factor. `false` if there was no
    /// enrolment waiting (a second tab already confirmed it).
    pub async fn confirm_second_factor(
        &self,
        identity_id: &str,
        step: i64,
        recovery_code_hashes: Vec<String>,
        used: ProofUse,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let identity_id = identity_id.to_string();
        self.write(move |conn| {
            let confirmed = diesel::update(
                second_factors::table
                    .find(&identity_id)
                    .filter(second_factors::confirmed_at.is_null()),
            )
            .set((
                second_factors::confirmed_at.eq(Some(now)),
                second_factors::last_used_step.eq(Some(step)),
            ))
            .execute(conn)?;
            if confirmed == 0 {
                return Ok(false);
            }
            delete_recovery_codes(conn, &identity_id)?;
            for code_hash in recovery_code_hashes {
                diesel::insert_into(recovery_codes::table)
                    .values((
                        recovery_codes::code_hash.eq(code_hash),
                        recovery_codes::identity_id.eq(&identity_id),
                        recovery_codes::created_at.eq(now),
                    ))
                    .execute(conn)?;
            }
            finish_use(conn, &identity_id, used, now)?;
            Ok(true)
        })
        .await
    }

    /// Spends a proof once (a time step not later than one already used, or a used
    /// recovery code, is refused with `false`), then does what `used` says, in one
    /// transaction.
    pub async fn spend_second_factor(
        &self,
        identity_id: &str,
        proof: Proof,
        used: ProofUse,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let identity_id = identity_id.to_string();
        self.write(move |conn| {
            let spent = match proof {
                Proof::Totp(step) => diesel::update(
                    second_factors::table
                        .find(&identity_id)
                        .filter(second_factors::confirmed_at.is_not_null())
                        .filter(
                            second_factors::last_used_step
                                .is_null()
                                .or(second_factors::last_used_step.lt(step)),
                        ),
                )
                .set(second_factors::last_used_step.eq(Some(step)))
                .execute(conn)?,
                Proof::Recovery(code_hash) => diesel::update(
                    recovery_codes::table
                        .find(code_hash)
                        .filter(recovery_codes::identity_id.eq(&identity_id))
                        .filter(recovery_codes::used_at.is_null()),
                )
                .set(recovery_codes::used_at.eq(Some(now)))
                .execute(conn)?,
            };
            if spent == 0 {
                return Ok(false);
            }
            if used.remove {
                delete_second_factor(conn, &identity_id)?;
            }
            finish_use(conn, &identity_id, used, now)?;
            Ok(true)
        })
        .await
    }

    /// An administrator's removal (a lost phone, no recovery code left): audited.
    pub async fn remove_second_factor(
        &self,
        identity_id: &str,
        audit: AuditEvent,
    ) -> StoreResult<bool> {
        let identity_id = identity_id.to_string();
        self.write(move |conn| {
            let removed = delete_second_factor(conn, &identity_id)?;
            if removed {
                insert_audit(conn, &audit)?;
            }
            Ok(removed)
        })
        .await
    }
}

fn finish_use(
    conn: &mut AnyConnection,
    identity_id: &str,
    used: ProofUse,
    now: UnixTime,
) -> StoreResult<()> {
    if let Some(session_id) = used.upgrade_session {
        diesel::update(
            sessions::table
                .find(session_id)
                .filter(sessions::identity_id.eq(identity_id))
                .filter(sessions::revoked_at.is_null()),
        )
        // auth_time stays the password's: a code alone does not make an old sign-in new
        // for `max_age` or `prompt=login`.
        .set((
            sessions::acr.eq(ACR_MFA),
            sessions::amr.eq(to_json(&amr_for(ACR_MFA))),
        ))
        .execute(conn)?;
    }
    if let Some(mail) = used.mail {
        insert_mail(conn, &mail, now)?;
    }
    insert_audit(conn, &used.audit)
}

fn delete_recovery_codes(conn: &mut AnyConnection, identity_id: &str) -> StoreResult<()> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::identity_id.eq(identity_id)))
        .execute(conn)?;
    Ok(())
}

/// Inside a caller's transaction (disabling, a password reset by link): the authenticator
/// and the recovery codes go. `true` if there was a confirmed authenticator.
pub(crate) fn delete_second_factor(
    conn: &mut AnyConnection,
    identity_id: &str,
) -> StoreResult<bool> {
    let confirmed = diesel::delete(
        second_factors::table
            .find(identity_id)
            .filter(second_factors::confirmed_at.is_not_null()),
    )
    .execute(conn)?;
    diesel::delete(second_factors::table.find(identity_id)).execute(conn)?;
    delete_recovery_codes(conn, identity_id)?;
    Ok(confirmed > 0)
}
