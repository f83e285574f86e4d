//! Identities: creation, look-up by sign-in name, password hash updates.

use diesel::prelude::*;

use super::conn::AnyConnection;
use super::schema::identities;
use super::{new_id, Store, StoreError, StoreResult};
use crate::domain::clock::UnixTime;
use crate::domain::identity::{
    Affiliation, BirthDate, Identity, IdentityStatus, NewIdentity, StudentNumber,
};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = identities)]
pub(crate) struct IdentityRow {
    id: String,
    subject: String,
    number: String,
    family_name: String,
    given_names: String,
    birth_date: String,
    affiliations: String,
    institutional_email: Option<String>,
    personal_email: Option<String>,
    status: String,
    password_hash: Option<String>,
    password_changed_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    phone: Option<String>,
    must_change_password: bool,
    suspended_reason: Option<String>,
    activation_due_at: Option<i64>,
    activation_sent_at: Option<i64>,
    postal_address: Option<String>,
    group_names: String,
    keep_in_touch_email: Option<String>,
}

impl TryFrom<IdentityRow> for Identity {
    type Error = StoreError;

    fn try_from(row: IdentityRow) -> StoreResult<Identity> {
        let corrupt =
            |e: crate::domain::Invalid| StoreError::Corrupt(format!("identity {}: {e}", row.id));
        Ok(Identity {
            number: StudentNumber::parse(&row.number).map_err(corrupt)?,
            birth_date: BirthDate::parse(&row.birth_date).map_err(corrupt)?,
            affiliations: Affiliation::parse_list(&row.affiliations).map_err(corrupt)?,
            status: row.status.parse::<IdentityStatus>().map_err(corrupt)?,
            id: row.id,
            subject: row.subject,
            family_name: row.family_name,
            given_names: row.given_names,
            institutional_email: row.institutional_email,
            personal_email: row.personal_email,
            password_hash: row.password_hash,
            password_changed_at: row.password_changed_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
            phone: row.phone,
            must_change_password: row.must_change_password,
            suspended_reason: row.suspended_reason,
            activation_due_at: row.activation_due_at,
            activation_sent_at: row.activation_sent_at,
            groups: super::from_json("group_names", &row.group_names)?,
            postal_address: row.postal_address,
            keep_in_touch_email: row.keep_in_touch_email,
        })
    }
}

/// Inside a caller's transaction.
pub(crate) fn load_identity(
    conn: &mut super::conn::AnyConnection,
    id: &str,
) -> StoreResult<Option<Identity>> {
    identities::table
        .find(id)
        .select(IdentityRow::as_select())
        .first(conn)
        .optional()?
        .map(Identity::try_from)
        .transpose()
}

impl Store {
    /// Creates an identity; a number or institutional address already taken is a
    /// [`StoreError::Conflict`].
    pub async fn create_identity(&self, new: NewIdentity, now: UnixTime) -> StoreResult<Identity> {
        self.write(move |conn| insert_identity(conn, new, now))
            .await
    }
}

/// Inside a caller's transaction: a new identity (a number or institutional address
/// already taken is a [`StoreError::Conflict`]).
pub(crate) fn insert_identity(
    conn: &mut AnyConnection,
    new: NewIdentity,
    now: UnixTime,
) -> StoreResult<Identity> {
    let row = IdentityRow {
        id: new_id(),
        subject: new_id(),
        number: new.number.as_str().to_string(),
        family_name: new.family_name,
        given_names: new.given_names,
        birth_date: new.birth_date.as_str().to_string(),
        affiliations: Affiliation::join(&new.affiliations),
        institutional_email: new.institutional_email,
        personal_email: new.personal_email,
        status: new.status.as_str().to_string(),
        password_changed_at: new.password_hash.as_ref().map(|_| now),
        password_hash: new.password_hash,
        created_at: now,
        updated_at: now,
        phone: new.phone,
        must_change_password: new.must_change_password,
        suspended_reason: None,
        activation_due_at: new.activation_due_at,
        activation_sent_at: None,
        // Given by the registrar's import (`identity import`), not at creation.
        postal_address: None,
        group_names: "[]".into(),
        keep_in_touch_email: None,
    };
    let number = row.number.clone();
    diesel::insert_into(identities::table)
        .values(&row)
        .execute(conn)
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!(
                "an identity with number {number} or this institutional e-mail already exists"
            )),
            other => other,
        })?;
    Identity::try_from(row)
}

impl Store {
    /// Finds the identity a person names at sign-in: the institutional e-mail when the
    /// name holds an '@', the number otherwise.
    pub async fn find_identity_by_sign_in_name(&self, name: &str) -> StoreResult<Option<Identity>> {
        let name = name.trim().to_string();
        self.run(move |conn| {
            let query = identities::table
                .select(IdentityRow::as_select())
                .into_boxed();
            let query = if name.contains('@') {
                query.filter(identities::institutional_email.eq(name.to_lowercase()))
            } else {
                query.filter(identities::number.eq(name))
            };
            query
                .first(conn)
                .optional()?
                .map(Identity::try_from)
                .transpose()
        })
        .await
    }

    pub async fn find_identity(&self, id: &str) -> StoreResult<Option<Identity>> {
        let id = id.to_string();
        self.run(move |conn| {
            identities::table
                .find(id)
                .select(IdentityRow::as_select())
                .first(conn)
                .optional()?
                .map(Identity::try_from)
                .transpose()
        })
        .await
    }

    pub async fn find_identity_by_number(
        &self,
        number: &StudentNumber,
    ) -> StoreResult<Option<Identity>> {
        let number = number.as_str().to_string();
        self.run(move |conn| {
            identities::table
                .filter(identities::number.eq(number))
                .select(IdentityRow::as_select())
                .first(conn)
                .optional()?
                .map(Identity::try_from)
                .transpose()
        })
        .await
    }

    /// Replaces the stored hash of an unchanged password (parameters upgraded at sign-in).
    pub async fn rehash_password(
        &self,
        identity_id: &str,
        new_hash: String,
        now: UnixTime,
    ) -> StoreResult<()> {
        let identity_id = identity_id.to_string();
        self.write(move |conn| {
            diesel::update(identities::table.find(identity_id))
                .set((
                    identities::password_hash.eq(Some(new_hash)),
                    identities::updated_at.eq(now),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
    }
}

/// The contact details a person edits in the personal space (already validated).
#[derive(Debug, Clone, Default)]
pub struct ContactDetails {
    pub phone: Option<String>,
    pub postal_address: Option<String>,
    pub keep_in_touch_email: Option<String>,
}

impl Store {
    /// Replaces the person's own contact details, audited in the same transaction.
    pub async fn update_contact_details(
        &self,
        identity_id: &str,
        details: ContactDetails,
        audit: crate::domain::audit::AuditEvent,
        now: UnixTime,
    ) -> StoreResult<()> {
        let identity_id = identity_id.to_string();
        self.write(move |conn| {
            diesel::update(identities::table.find(&identity_id))
                .set((
                    identities::phone.eq(details.phone),
                    identities::postal_address.eq(details.postal_address),
                    identities::keep_in_touch_email.eq(details.keep_in_touch_email),
                    identities::updated_at.eq(now),
                ))
                .execute(conn)?;
            super::audit::insert_audit(conn, &audit)
        })
        .await
    }
}
