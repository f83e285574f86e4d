//! Links between students and their parents, and the invitations that create them.

use diesel::prelude::*;

use super::audit::insert_audit;
use super::conn::AnyConnection;
use super::identities::{insert_identity, load_identity};
use super::lifecycle::{consume_link, LinkError};
use super::outbox::insert_mail;
use super::schema::{account_links, identities, parent_links};
use super::{new_id, Store, StoreError, StoreResult};
use crate::domain::audit::AuditEvent;
use crate::domain::clock::UnixTime;
use crate::domain::identity::{Identity, NewIdentity};
use crate::domain::link::{LinkPurpose, LinkState, NewLink};
use crate::domain::mail::OutgoingMail;
use crate::domain::parent::{ParentLink, MAX_PARENTS};

type LinkRow = (
    String,
    String,
    String,
    Option<String>,
    bool,
    i64,
    Option<i64>,
);

fn from_row(
    (id, student_id, parent_email, parent_id, shared_with_apps, created_at, accepted_at): LinkRow,
) -> ParentLink {
    ParentLink {
        id,
        student_id,
        parent_email,
        parent_id,
        shared_with_apps,
        created_at,
        accepted_at,
    }
}

macro_rules! link_columns {
    () => {
        (
            parent_links::id,
            parent_links::student_id,
            parent_links::parent_email,
            parent_links::parent_id,
            parent_links::shared_with_apps,
            parent_links::created_at,
            parent_links::accepted_at,
        )
    };
}

/// An invitation to record, with the mail that carries its link.
#[derive(Debug)]
pub struct NewInvitation {
    pub parent_email: String,
    pub shared_with_apps: bool,
    pub link: NewLink,
    pub mail: OutgoingMail,
}

/// The answer to an invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invited {
    Sent,
    /// [`MAX_PARENTS`] links already.
    TooMany,
    /// This address is invited or linked already.
    AlreadyInvited,
}

/// Who accepts an invitation.
#[derive(Debug)]
pub enum Acceptor {
    /// A parent identity that exists already (a sibling invited them before).
    Existing(String),
    /// A new parent identity.
    New(Box<NewIdentity>),
}

/// What an invitation link leads to.
#[derive(Debug)]
pub enum Invitation {
    Valid {
        link: ParentLink,
        student: Box<Identity>,
        /// The parent identity that already signs in with the invited address.
        parent: Option<Box<Identity>>,
    },
    Invalid(LinkState),
}

impl Store {
    /// Records an invitation and queues its mail, in one transaction.
    pub async fn invite_parent(
        &self,
        student_id: &str,
        invitation: NewInvitation,
        audit: AuditEvent,
        now: UnixTime,
    ) -> StoreResult<Invited> {
        let student_id = student_id.to_string();
        let NewInvitation {
            parent_email,
            shared_with_apps,
            link,
            mail,
        } = invitation;
        self.write(move |conn| {
            let live: Vec<String> = live_links(conn, &student_id, now)?
                .into_iter()
                .map(|link| link.parent_email)
                .collect();
            if live.contains(&parent_email) {
                return Ok(Invited::AlreadyInvited);
            }
            if live.len() >= MAX_PARENTS {
                return Ok(Invited::TooMany);
            }
            let id = link.payload.clone().unwrap_or_else(new_id);
            diesel::insert_into(parent_links::table)
                .values((
                    parent_links::id.eq(&id),
                    parent_links::student_id.eq(&student_id),
                    parent_links::parent_email.eq(&parent_email),
                    parent_links::shared_with_apps.eq(shared_with_apps),
                    parent_links::created_at.eq(now),
                ))
                .execute(conn)?;
            diesel::insert_into(account_links::table)
                .values((
                    account_links::token_hash.eq(&link.token_hash),
                    account_links::identity_id.eq(&student_id),
                    account_links::purpose.eq(LinkPurpose::ParentInvitation.as_str()),
                    account_links::payload.eq(Some(&id)),
                    account_links::created_at.eq(now),
                    account_links::expires_at.eq(link.expires_at),
                ))
                .execute(conn)?;
            insert_mail(conn, &mail, now)?;
            insert_audit(conn, &audit)?;
            Ok(Invited::Sent)
        })
        .await
    }

    /// A student's live links (accepted, or invited with the invitation still valid),
    /// oldest first.
    pub async fn parents_of(
        &self,
        student_id: &str,
        now: UnixTime,
    ) -> StoreResult<Vec<ParentLink>> {
        let student_id = student_id.to_string();
        self.run(move |conn| live_links(conn, &student_id, now))
            .await
    }

    /// The students a parent follows (accepted, not revoked), with their identities.
    pub async fn students_followed_by(
        &self,
        parent_id: &str,
    ) -> StoreResult<Vec<(ParentLink, Identity)>> {
        let parent_id = parent_id.to_string();
        self.run(move |conn| {
            let rows: Vec<LinkRow> = parent_links::table
                .filter(parent_links::parent_id.eq(Some(parent_id)))
                .filter(parent_links::revoked_at.is_null())
                .filter(parent_links::accepted_at.is_not_null())
                .order(parent_links::accepted_at.asc())
                .select(link_columns!())
                .load(conn)?;
            let mut followed = Vec::new();
            for link in rows.into_iter().map(from_row) {
                if let Some(student) = load_identity(conn, &link.student_id)? {
                    followed.push((link, student));
                }
            }
            Ok(followed)
        })
        .await
    }

    /// The student ends a link (or withdraws an invitation): `false` if it is not theirs.
    /// The invitation link, if still unused, dies with it.
    pub async fn revoke_parent_link(
        &self,
        student_id: &str,
        link_id: &str,
        audit: AuditEvent,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let (student_id, link_id) = (student_id.to_string(), link_id.to_string());
        self.write(move |conn| {
            let revoked = diesel::update(
                parent_links::table
                    .find(&link_id)
                    .filter(parent_links::student_id.eq(&student_id))
                    .filter(parent_links::revoked_at.is_null()),
            )
            .set(parent_links::revoked_at.eq(Some(now)))
            .execute(conn)?;
            if revoked == 0 {
                return Ok(false);
            }
            diesel::update(
                account_links::table
                    .filter(account_links::purpose.eq(LinkPurpose::ParentInvitation.as_str()))
                    .filter(account_links::payload.eq(Some(&link_id)))
                    .filter(account_links::used_at.is_null()),
            )
            .set(account_links::used_at.eq(Some(now)))
            .execute(conn)?;
            insert_audit(conn, &audit)?;
            Ok(true)
        })
        .await
    }

    /// The student lets relying parties know of a link, or stops.
    pub async fn share_parent_link(
        &self,
        student_id: &str,
        link_id: &str,
        shared: bool,
    ) -> StoreResult<bool> {
        let (student_id, link_id) = (student_id.to_string(), link_id.to_string());
        self.write(move |conn| {
            let changed = diesel::update(
                parent_links::table
                    .find(&link_id)
                    .filter(parent_links::student_id.eq(&student_id))
                    .filter(parent_links::revoked_at.is_null()),
            )
            .set(parent_links::shared_with_apps.eq(shared))
            .execute(conn)?;
            Ok(changed > 0)
        })
        .await
    }

    /// What an invitation link leads to (the page shows a form before anything happens).
    pub async fn parent_invitation(
        &self,
        token_hash: &str,
        now: UnixTime,
    ) -> StoreResult<Invitation> {
        let state = self
            .inspect_link(token_hash, LinkPurpose::ParentInvitation, now)
            .await?;
        let LinkState::Valid(student) = state else {
            return Ok(Invitation::Invalid(state));
        };
        let token_hash = token_hash.to_string();
        self.run(move |conn| {
            let Some(link) = live_invitation(conn, &token_hash)? else {
                return Ok(Invitation::Invalid(LinkState::Used));
            };
            let parent = identities::table
                .filter(identities::institutional_email.eq(&link.parent_email))
                .select(identities::id)
                .first::<String>(conn)
                .optional()?
                .map(|id| load_identity(conn, &id))
                .transpose()?
                .flatten()
                .map(Box::new);
            Ok(Invitation::Valid {
                link,
                student,
                parent,
            })
        })
        .await
    }

    /// Accepts an invitation once: the link is spent, the parent identity created (or the
    /// existing one named), the link between them recorded. Returns the parent.
    pub async fn accept_parent_invitation(
        &self,
        token_hash: &str,
        acceptor: Acceptor,
        audit: AuditEvent,
        now: UnixTime,
    ) -> Result<Identity, LinkError> {
        let token_hash = token_hash.to_string();
        let accepted = self
            .write(move |conn| {
                let Some(link) = live_invitation(conn, &token_hash)? else {
                    return Ok(None);
                };
                if consume_link(conn, &token_hash, LinkPurpose::ParentInvitation, now)?.is_none() {
                    return Ok(None);
                }
                let parent = match acceptor {
                    Acceptor::Existing(id) => load_identity(conn, &id)?
                        .ok_or_else(|| StoreError::Corrupt(format!("identity {id} vanished")))?,
                    Acceptor::New(new) => insert_identity(conn, *new, now)?,
                };
                diesel::update(parent_links::table.find(&link.id))
                    .set((
                        parent_links::parent_id.eq(Some(&parent.id)),
                        parent_links::accepted_at.eq(Some(now)),
                    ))
                    .execute(conn)?;
                insert_audit(conn, &audit.identity(&parent).detail(link.student_id))?;
                Ok(Some(parent))
            })
            .await?;
        accepted.ok_or(LinkError::Invalid)
    }
}

/// Accepted links, and invitations whose link can still be followed: an expired
/// invitation neither counts towards [`MAX_PARENTS`] nor stops inviting that address again.
fn live_links(
    conn: &mut AnyConnection,
    student_id: &str,
    now: UnixTime,
) -> StoreResult<Vec<ParentLink>> {
    let rows: Vec<LinkRow> = parent_links::table
        .filter(parent_links::student_id.eq(student_id))
        .filter(parent_links::revoked_at.is_null())
        .order(parent_links::created_at.asc())
        .select(link_columns!())
        .load(conn)?;
    let open: Vec<Option<String>> = account_links::table
        .filter(account_links::identity_id.eq(student_id))
        .filter(account_links::purpose.eq(LinkPurpose::ParentInvitation.as_str()))
        .filter(account_links::used_at.is_null())
        .filter(account_links::expires_at.gt(now))
        .select(account_links::payload)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(from_row)
        .filter(|link| link.accepted_at.is_some() || open.contains(&Some(link.id.clone())))
        .collect())
}

/// The parent link an unused invitation names, unless the student revoked it.
fn live_invitation(conn: &mut AnyConnection, token_hash: &str) -> StoreResult<Option<ParentLink>> {
    let payload: Option<Option<String>> = account_links::table
        .find(token_hash)
        .filter(account_links::purpose.eq(LinkPurpose::ParentInvitation.as_str()))
        .select(account_links::payload)
        .first(conn)
        .optional()?;
    let Some(Some(link_id)) = payload else {
        return Ok(None);
    };
    let row: Option<LinkRow> = parent_links::table
        .find(link_id)
        .filter(parent_links::revoked_at.is_null())
        .select(link_columns!())
        .first(conn)
        .optional()?;
    Ok(row.map(from_row))
}
