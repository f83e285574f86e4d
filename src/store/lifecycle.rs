//! The account lifecycle's use cases: each one a transaction that changes the account,
//! consumes or creates its link, queues its mails and writes its audit event together.

use diesel::prelude::*;

use super::audit::insert_audit;
use super::charters::insert_acceptance;
use super::conn::AnyConnection;
use super::outbox::insert_mail;
use super::schema::{
    access_tokens, account_links, authorization_codes, identities, refresh_tokens, sessions,
};
use super::{Store, StoreError, StoreResult};
use crate::domain::audit::AuditEvent;
use crate::domain::clock::UnixTime;
use crate::domain::identity::{Affiliation, Identity, IdentityStatus};
use crate::domain::link::{LinkPurpose, LinkState, NewLink};
use crate::domain::mail::OutgoingMail;

/// Why a link-driven change did not happen.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("the link is unknown, used or expired")]
    Invalid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn insert_link(
    conn: &mut AnyConnection,
    identity_id: &str,
    link: &NewLink,
    now: UnixTime,
) -> StoreResult<()> {
    diesel::insert_into(account_links::table)
        .values((
            account_links::token_hash.eq(&link.token_hash),
            account_links::identity_id.eq(identity_id),
            account_links::purpose.eq(link.purpose.as_str()),
            account_links::payload.eq(&link.payload),
            account_links::created_at.eq(now),
            account_links::expires_at.eq(link.expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Consumes a link exactly once (`UPDATE … WHERE used_at IS NULL`) and returns its
/// identity; `None` when the link is unknown, used or expired.
pub(super) fn consume_link(
    conn: &mut AnyConnection,
    token_hash: &str,
    purpose: LinkPurpose,
    now: UnixTime,
) -> StoreResult<Option<String>> {
    let consumed = diesel::update(
        account_links::table
            .find(token_hash)
            .filter(account_links::purpose.eq(purpose.as_str()))
            .filter(account_links::used_at.is_null())
            .filter(account_links::expires_at.gt(now)),
    )
    .set(account_links::used_at.eq(Some(now)))
    .execute(conn)?;
    if consumed != 1 {
        return Ok(None);
    }
    let identity_id: String = account_links::table
        .find(token_hash)
        .select(account_links::identity_id)
        .first(conn)?;
    if !purpose.voids_siblings() {
        return Ok(Some(identity_id));
    }
    // Other open links of the same purpose die with it.
    diesel::update(
        account_links::table
            .filter(account_links::identity_id.eq(&identity_id))
            .filter(account_links::purpose.eq(purpose.as_str()))
            .filter(account_links::used_at.is_null()),
    )
    .set(account_links::used_at.eq(Some(now)))
    .execute(conn)?;
    Ok(Some(identity_id))
}

/// Every unused link of an identity stops working.
fn void_links(conn: &mut AnyConnection, identity_id: &str, now: UnixTime) -> StoreResult<()> {
    diesel::update(
        account_links::table
            .filter(account_links::identity_id.eq(identity_id))
            .filter(account_links::used_at.is_null()),
    )
    .set(account_links::used_at.eq(Some(now)))
    .execute(conn)?;
    Ok(())
}

/// Ends every session, code, access and refresh token of an identity.
fn revoke_everything(
    conn: &mut AnyConnection,
    identity_id: &str,
    now: UnixTime,
) -> StoreResult<()> {
    diesel::update(
        sessions::table
            .filter(sessions::identity_id.eq(identity_id))
            .filter(sessions::revoked_at.is_null()),
    )
    .set(sessions::revoked_at.eq(Some(now)))
    .execute(conn)?;
    revoke_grants(conn, identity_id, now)
}

/// Ends what an identity granted beyond its sessions: codes, access and refresh tokens,
/// app passwords, devices approved but not yet polled.
fn revoke_grants(conn: &mut AnyConnection, identity_id: &str, now: UnixTime) -> StoreResult<()> {
    diesel::update(
        access_tokens::table
            .filter(access_tokens::identity_id.eq(Some(identity_id)))
            .filter(access_tokens::revoked_at.is_null()),
    )
    .set(access_tokens::revoked_at.eq(Some(now)))
    .execute(conn)?;
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::identity_id.eq(identity_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Some(now)))
    .execute(conn)?;
    diesel::update(
        authorization_codes::table
            .filter(authorization_codes::identity_id.eq(identity_id))
            .filter(authorization_codes::consumed_at.is_null()),
    )
    .set(authorization_codes::consumed_at.eq(Some(now)))
    .execute(conn)?;
    // App passwords too: a thief may have made some before the owner took the account back.
    diesel::update(
        super::schema::app_passwords::table
            .filter(super::schema::app_passwords::identity_id.eq(identity_id))
            .filter(super::schema::app_passwords::revoked_at.is_null()),
    )
    .set(super::schema::app_passwords::revoked_at.eq(Some(now)))
    .execute(conn)?;
    // A device approved by this person but not yet polled gets nothing now.
    diesel::update(
        super::schema::device_grants::table
            .filter(super::schema::device_grants::identity_id.eq(Some(identity_id)))
            .filter(super::schema::device_grants::status.eq("approved")),
    )
    .set(super::schema::device_grants::status.eq("denied"))
    .execute(conn)?;
    Ok(())
}

/// Revokes what these clients hold for an identity: access and refresh tokens, unused
/// codes (a withdrawn consent, a graduation).
pub(super) fn revoke_client_grants(
    conn: &mut AnyConnection,
    identity_id: &str,
    client_ids: &[String],
    now: UnixTime,
) -> StoreResult<()> {
    diesel::update(
        access_tokens::table
            .filter(access_tokens::identity_id.eq(Some(identity_id)))
            .filter(access_tokens::client_id.eq_any(client_ids))
            .filter(access_tokens::revoked_at.is_null()),
    )
    .set(access_tokens::revoked_at.eq(Some(now)))
    .execute(conn)?;
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::identity_id.eq(identity_id))
            .filter(refresh_tokens::client_id.eq_any(client_ids))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Some(now)))
    .execute(conn)?;
    diesel::update(
        authorization_codes::table
            .filter(authorization_codes::identity_id.eq(identity_id))
            .filter(authorization_codes::client_id.eq_any(client_ids))
            .filter(authorization_codes::consumed_at.is_null()),
    )
    .set(authorization_codes::consumed_at.eq(Some(now)))
    .execute(conn)?;
    Ok(())
}

fn set_password(
    conn: &mut AnyConnection,
    identity_id: &str,
    password_hash: &str,
    now: UnixTime,
) -> StoreResult<()> {
    diesel::update(identities::table.find(identity_id))
        .set((
            identities::password_hash.eq(Some(password_hash)),
            identities::password_changed_at.eq(Some(now)),
            identities::must_change_password.eq(false),
            identities::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

fn load(conn: &mut AnyConnection, identity_id: &str) -> StoreResult<Identity> {
    super::identities::load_identity(conn, identity_id)?
        .ok_or_else(|| StoreError::Corrupt(format!("identity {identity_id} vanished")))
}

impl Store {
    /// A change made through a mailed link, in one write transaction: `work` answers
    /// `None` when the link (or the account's state) does not allow it.
    async fn through_link<F>(&self, work: F) -> Result<Identity, LinkError>
    where
        F: FnOnce(&mut AnyConnection) -> StoreResult<Option<Identity>> + Send + 'static,
    {
        self.write(work).await?.ok_or(LinkError::Invalid)
    }

    /// What a presented link is: valid (with its identity), expired, used or unknown.
    pub async fn inspect_link(
        &self,
        token_hash: &str,
        purpose: LinkPurpose,
        now: UnixTime,
    ) -> StoreResult<LinkState> {
        let token_hash = token_hash.to_string();
        self.run(move |conn| {
            let row: Option<(String, i64, Option<i64>)> = account_links::table
                .find(&token_hash)
                .filter(account_links::purpose.eq(purpose.as_str()))
                .select((
                    account_links::identity_id,
                    account_links::expires_at,
                    account_links::used_at,
                ))
                .first(conn)
                .optional()?;
            Ok(match row {
                None => LinkState::Unknown,
                Some((_, _, Some(_))) => LinkState::Used,
                Some((_, expires_at, None)) if expires_at <= now => LinkState::Expired,
                Some((identity_id, _, None)) => {
                    LinkState::Valid(Box::new(load(conn, &identity_id)?))
                }
            })
        })
        .await
    }

    /// Creates a link and queues the mail that carries it, in one transaction.
    pub async fn send_link(
        &self,
        identity_id: &str,
        link: NewLink,
        mail: OutgoingMail,
        audit: Option<AuditEvent>,
        now: UnixTime,
    ) -> StoreResult<()> {
        let identity_id = identity_id.to_string();
        self.write(move |conn| {
            insert_link(conn, &identity_id, &link, now)?;
            insert_mail(conn, &mail, now)?;
            if let Some(audit) = audit {
                insert_audit(conn, &audit)?;
            }
            Ok(())
        })
        .await
    }

    /// Pending identities whose activation mail is due and not yet sent.
    pub async fn due_activations(&self, now: UnixTime, limit: i64) -> StoreResult<Vec<Identity>> {
        self.run(move |conn| {
            let ids: Vec<String> = identities::table
                .filter(identities::status.eq(IdentityStatus::PendingActivation.as_str()))
                .filter(identities::activation_due_at.le(now))
                .filter(identities::activation_sent_at.is_null())
                .order(identities::activation_due_at.asc())
                .limit(limit)
                .select(identities::id)
                .load(conn)?;
            ids.iter().map(|id| load(conn, id)).collect()
        })
        .await
    }

    /// Sends the activation mail of one identity, once across instances: the
    /// `activation_sent_at IS NULL` claim, the link and the mail commit together.
    pub async fn send_activation(
        &self,
        identity_id: &str,
        link: NewLink,
        mail: OutgoingMail,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let identity_id = identity_id.to_string();
        self.write(move |conn| {
            let claimed = diesel::update(
                identities::table
                    .find(&identity_id)
                    .filter(identities::activation_sent_at.is_null()),
            )
            .set(identities::activation_sent_at.eq(Some(now)))
            .execute(conn)?;
            if claimed == 0 {
                return Ok(false);
            }
            insert_link(conn, &identity_id, &link, now)?;
            insert_mail(conn, &mail, now)?;
            Ok(true)
        })
        .await
    }

    /// Activation: consumes the link, sets the password, records the charter acceptance.
    pub async fn activate(
        &self,
        token_hash: &str,
        password_hash: String,
        charter_version: Option<i64>,
        audit: AuditEvent,
        now: UnixTime,
    ) -> Result<Identity, LinkError> {
        let token_hash = token_hash.to_string();
        self.through_link(move |conn| {
            let Some(identity_id) = consume_link(conn, &token_hash, LinkPurpose::Activation, now)?
            else {
                return Ok(None);
            };
            let activated = diesel::update(
                identities::table
                    .find(&identity_id)
                    .filter(identities::status.eq(IdentityStatus::PendingActivation.as_str())),
            )
            .set(identities::status.eq(IdentityStatus::Active.as_str()))
            .execute(conn)?;
            if activated != 1 {
                return Ok(None);
            }
            set_password(conn, &identity_id, &password_hash, now)?;
            let identity = load(conn, &identity_id)?;
            if let Some(version) = charter_version {
                insert_acceptance(conn, &identity_id, version, audit.ip.clone(), now)?;
            }
            insert_audit(conn, &audit.clone().identity(&identity))?;
            if let Some(version) = charter_version {
                let mut accepted = audit
                    .identity(&identity)
                    .detail(format!("version {version}"));
                accepted.event = crate::domain::audit::events::CHARTER_ACCEPTED.to_string();
                insert_audit(conn, &accepted)?;
            }
            Ok(Some(identity))
        })
        .await
    }

    /// A new personal address, confirmed by the link mailed to it: set, and audited.
    pub async fn change_personal_email(
        &self,
        token_hash: &str,
        audit: AuditEvent,
        now: UnixTime,
    ) -> Result<Identity, LinkError> {
        let token_hash = token_hash.to_string();
        self.through_link(move |conn| {
            let Some(identity_id) = consume_link(conn, &token_hash, LinkPurpose::EmailChange, now)?
            else {
                return Ok(None);
            };
            let address: Option<String> = account_links::table
                .find(&token_hash)
                .select(account_links::payload)
                .first(conn)?;
            let Some(address) = address else {
                return Ok(None);
            };
            diesel::update(identities::table.find(&identity_id))
                .set((
                    identities::personal_email.eq(Some(&address)),
                    identities::updated_at.eq(now),
                ))
                .execute(conn)?;
            let identity = load(conn, &identity_id)?;
            insert_audit(conn, &audit.identity(&identity).detail(address))?;
            Ok(Some(identity))
        })
        .await
    }

    /// Password reset by link: new password, everything revoked, a theft suspension lifted,
    /// the second factor kept, and the "your password was changed" mail queued.
    #[allow(clippy::too_many_arguments)]
    pub async fn reset_password(
        &self,
        token_hash: &str,
        password_hash: String,
        notice: impl FnOnce(&Identity) -> Option<OutgoingMail> + Send + 'static,
        audit: AuditEvent,
        now: UnixTime,
    ) -> Result<Identity, LinkError> {
        let token_hash = token_hash.to_string();
        self.through_link(move |conn| {
            let Some(identity_id) =
                consume_link(conn, &token_hash, LinkPurpose::PasswordReset, now)?
            else {
                return Ok(None);
            };
            let before = load(conn, &identity_id)?;
            if !before.may_reset_password() {
                return Ok(None);
            }
            set_password(conn, &identity_id, &password_hash, now)?;
            // A reset proves control of the personal address: it ends a theft lockdown
            // and completes a pending activation.
            if before.status != IdentityStatus::Active {
                diesel::update(identities::table.find(&identity_id))
                    .set((
                        identities::status.eq(IdentityStatus::Active.as_str()),
                        identities::suspended_reason.eq(None::<String>),
                    ))
                    .execute(conn)?;
            }
            revoke_everything(conn, &identity_id, now)?;
            // The second factor stays: a mailbox alone must not undo two-factor sign-in.
            // The next sign-in asks for a code or a recovery code; someone who lost both
            // goes to the help desk (`etupass identity remove-second-factor`).
            let identity = load(conn, &identity_id)?;
            if let Some(mail) = notice(&identity) {
                insert_mail(conn, &mail, now)?;
            }
            insert_audit(conn, &audit.identity(&identity))?;
            Ok(Some(identity))
        })
        .await
    }

    /// A password change by its owner (forced change at sign-in): other sessions end.
    /// Stores a new password chosen by its owner; sessions other than `keep_session` end,
    /// and with `revoke_grants` every token, app password and device grant issued before
    /// it too (what someone else may have opened with the old password).
    #[allow(clippy::too_many_arguments)]
    pub async fn store_new_password(
        &self,
        identity: &Identity,
        password_hash: String,
        keep_session: Option<String>,
        revoke_grants: bool,
        mail: Option<OutgoingMail>,
        audit: AuditEvent,
        now: UnixTime,
    ) -> StoreResult<()> {
        let identity_id = identity.id.clone();
        self.write(move |conn| {
            set_password(conn, &identity_id, &password_hash, now)?;
            let mut others = diesel::update(
                sessions::table
                    .filter(sessions::identity_id.eq(&identity_id))
                    .filter(sessions::revoked_at.is_null()),
            )
            .into_boxed();
            if let Some(keep) = &keep_session {
                others = others.filter(sessions::id.ne(keep));
            }
            others
                .set(sessions::revoked_at.eq(Some(now)))
                .execute(conn)?;
            if revoke_grants {
                self::revoke_grants(conn, &identity_id, now)?;
            }
            // A pending change of the personal address asked from an old session dies.
            diesel::update(
                account_links::table
                    .filter(account_links::identity_id.eq(&identity_id))
                    .filter(account_links::purpose.eq(LinkPurpose::EmailChange.as_str()))
                    .filter(account_links::used_at.is_null()),
            )
            .set(account_links::used_at.eq(Some(now)))
            .execute(conn)?;
            if let Some(mail) = mail {
                insert_mail(conn, &mail, now)?;
            }
            insert_audit(conn, &audit)
        })
        .await
    }

    /// Identity theft confirmed by link: suspended at once, everything revoked, mails
    /// (the security team's alert, the owner's recovery link) queued, audited.
    pub async fn suspend_for_theft(
        &self,
        token_hash: &str,
        recovery: NewLink,
        mails: impl FnOnce(&Identity) -> Vec<OutgoingMail> + Send + 'static,
        audit: AuditEvent,
        now: UnixTime,
    ) -> Result<Identity, LinkError> {
        let token_hash = token_hash.to_string();
        self.through_link(move |conn| {
            let Some(identity_id) = consume_link(conn, &token_hash, LinkPurpose::TheftReport, now)?
            else {
                return Ok(None);
            };
            let suspended = diesel::update(
                identities::table
                    .find(&identity_id)
                    .filter(identities::status.eq(IdentityStatus::Active.as_str())),
            )
            .set((
                identities::status.eq(IdentityStatus::Suspended.as_str()),
                identities::suspended_reason.eq(Some("theft")),
                identities::updated_at.eq(now),
            ))
            .execute(conn)?;
            if suspended != 1 {
                // Locked or closed meanwhile: a theft report must not change that.
                return Ok(None);
            }
            revoke_everything(conn, &identity_id, now)?;
            // Links mailed before the report may be in the thief's hands.
            void_links(conn, &identity_id, now)?;
            // So may a "parent" the thief linked: every parent link ends; the student
            // invites their real parents again once the account is theirs.
            diesel::update(
                super::schema::parent_links::table
                    .filter(super::schema::parent_links::student_id.eq(&identity_id))
                    .filter(super::schema::parent_links::revoked_at.is_null()),
            )
            .set(super::schema::parent_links::revoked_at.eq(Some(now)))
            .execute(conn)?;
            insert_link(conn, &identity_id, &recovery, now)?;
            let identity = load(conn, &identity_id)?;
            for mail in mails(&identity) {
                insert_mail(conn, &mail, now)?;
            }
            insert_audit(conn, &audit.identity(&identity))?;
            Ok(Some(identity))
        })
        .await
    }

    /// Administrator actions: lock, unlock (with a forced password change), force a change,
    /// or set a password (which also forces a change at next sign-in).
    pub async fn admin_update(
        &self,
        identity_id: &str,
        action: AdminAction,
        audit: AuditEvent,
        now: UnixTime,
    ) -> StoreResult<()> {
        let identity_id = identity_id.to_string();
        self.write(move |conn| {
            let target = identities::table.find(&identity_id);
            match action {
                AdminAction::Lock => {
                    diesel::update(target)
                        .set((
                            identities::status.eq(IdentityStatus::Suspended.as_str()),
                            identities::suspended_reason.eq(Some("admin")),
                            identities::updated_at.eq(now),
                        ))
                        .execute(conn)?;
                    revoke_everything(conn, &identity_id, now)?;
                    void_links(conn, &identity_id, now)?;
                }
                AdminAction::Unlock => {
                    // Only a suspension is lifted: a closed or pending account stays so.
                    diesel::update(
                        target.filter(identities::status.eq(IdentityStatus::Suspended.as_str())),
                    )
                    .set((
                        identities::status.eq(IdentityStatus::Active.as_str()),
                        identities::suspended_reason.eq(None::<String>),
                        identities::must_change_password.eq(true),
                        identities::updated_at.eq(now),
                    ))
                    .execute(conn)?;
                }
                AdminAction::RequirePasswordChange => {
                    diesel::update(target)
                        .set((
                            identities::must_change_password.eq(true),
                            identities::updated_at.eq(now),
                        ))
                        .execute(conn)?;
                    // Refresh tokens would let clients go on without the person ever
                    // meeting the change page: they end, and the next sign-in asks.
                    diesel::update(
                        refresh_tokens::table
                            .filter(refresh_tokens::identity_id.eq(&identity_id))
                            .filter(refresh_tokens::revoked_at.is_null()),
                    )
                    .set(refresh_tokens::revoked_at.eq(Some(now)))
                    .execute(conn)?;
                }
                AdminAction::SetPassword(hash) => {
                    let closed: i64 = identities::table
                        .find(&identity_id)
                        .filter(identities::status.eq(IdentityStatus::Closed.as_str()))
                        .count()
                        .get_result(conn)?;
                    if closed > 0 {
                        return Err(StoreError::Conflict(
                            "a closed account gets no password".into(),
                        ));
                    }
                    set_password(conn, &identity_id, &hash, now)?;
                    diesel::update(identities::table.find(&identity_id))
                        .set((
                            identities::must_change_password.eq(true),
                            identities::status.eq(IdentityStatus::Active.as_str()),
                            identities::suspended_reason.eq(None::<String>),
                        ))
                        .execute(conn)?;
                    revoke_everything(conn, &identity_id, now)?;
                }
            }
            insert_audit(conn, &audit)
        })
        .await
    }

    /// Active identities with these civil data (case-insensitive names).
    pub async fn find_by_civil_data(
        &self,
        family_name: &str,
        given_names: &str,
        birth_date: &str,
    ) -> StoreResult<Vec<Identity>> {
        let (family, given, birth) = (
            family_name.to_lowercase(),
            given_names.to_lowercase(),
            birth_date.to_string(),
        );
        self.run(move |conn| {
            // Not parents: they typed their civil data themselves (see the import).
            let ids: Vec<(String, String, String)> = identities::table
                .filter(identities::birth_date.eq(&birth))
                .filter(identities::affiliations.ne(Affiliation::Parent.as_str()))
                .select((
                    identities::id,
                    identities::family_name,
                    identities::given_names,
                ))
                .load(conn)?;
            ids.into_iter()
                .filter(|(_, f, g)| f.to_lowercase() == family && g.to_lowercase() == given)
                .map(|(id, _, _)| load(conn, &id))
                .collect()
        })
        .await
    }
}

/// What an administrator does to an account from the command line.
#[derive(Debug, Clone)]
pub enum AdminAction {
    Lock,
    Unlock,
    RequirePasswordChange,
    SetPassword(String),
}

impl Store {
    /// Moves an identity to alumni (`affiliations`, already computed). If it keeps no
    /// other tie, what the relying parties closed to alumni hold for it is revoked: their
    /// access and refresh tokens and unused codes. Audited in the same transaction.
    pub async fn graduate(
        &self,
        identity_id: &str,
        affiliations: String,
        alumnus_only: bool,
        audit: AuditEvent,
        now: UnixTime,
    ) -> StoreResult<()> {
        use super::schema::clients;
        let identity_id = identity_id.to_string();
        self.write(move |conn| {
            diesel::update(identities::table.find(&identity_id))
                .set((
                    identities::affiliations.eq(affiliations),
                    identities::updated_at.eq(now),
                ))
                .execute(conn)?;
            if alumnus_only {
                let closed: Vec<String> = clients::table
                    .filter(clients::open_to_alumni.eq(false))
                    .select(clients::id)
                    .load(conn)?;
                revoke_client_grants(conn, &identity_id, &closed, now)?;
            }
            insert_audit(conn, &audit)
        })
        .await
    }
}
