//! App passwords, stored as digests.

use diesel::prelude::*;

use super::schema::app_passwords;
use super::{new_id, Store, StoreResult};
use crate::domain::app_password::{AppPassword, Purpose};
use crate::domain::clock::UnixTime;

impl Store {
    pub async fn create_app_password(
        &self,
        identity_id: &str,
        name: String,
        purpose: Purpose,
        password_hash: String,
        now: UnixTime,
    ) -> StoreResult<()> {
        let identity_id = identity_id.to_string();
        self.write(move |conn| {
            diesel::insert_into(app_passwords::table)
                .values((
                    app_passwords::id.eq(new_id()),
                    app_passwords::identity_id.eq(identity_id),
                    app_passwords::name.eq(name),
                    app_passwords::purpose.eq(purpose.as_str()),
                    app_passwords::password_hash.eq(password_hash),
                    app_passwords::created_at.eq(now),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// The live app passwords of an identity, newest first.
    pub async fn app_passwords(&self, identity_id: &str) -> StoreResult<Vec<AppPassword>> {
        let identity_id = identity_id.to_string();
        self.run(move |conn| {
            let rows: Vec<(String, String, String, i64, Option<i64>)> = app_passwords::table
                .filter(app_passwords::identity_id.eq(identity_id))
                .filter(app_passwords::revoked_at.is_null())
                .order(app_passwords::created_at.desc())
                .select((
                    app_passwords::id,
                    app_passwords::name,
                    app_passwords::purpose,
                    app_passwords::created_at,
                    app_passwords::last_used_at,
                ))
                .load(conn)?;
            Ok(rows
                .into_iter()
                .filter_map(|(id, name, purpose, created_at, last_used_at)| {
                    Some(AppPassword {
                        purpose: purpose.parse().ok()?,
                        id,
                        name,
                        created_at,
                        last_used_at,
                    })
                })
                .collect())
        })
        .await
    }

    /// Revokes one of the identity's own app passwords; `false` if it had no such one.
    pub async fn revoke_app_password(
        &self,
        identity_id: &str,
        id: &str,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let (identity_id, id) = (identity_id.to_string(), id.to_string());
        self.write(move |conn| {
            let revoked = diesel::update(
                app_passwords::table
                    .find(id)
                    .filter(app_passwords::identity_id.eq(identity_id))
                    .filter(app_passwords::revoked_at.is_null()),
            )
            .set(app_passwords::revoked_at.eq(Some(now)))
            .execute(conn)?;
            Ok(revoked == 1)
        })
        .await
    }

    /// Whether this digest is a live app password of the identity for `purpose`; marks it
    /// used. One indexed look-up (the digest is unique): no loop over the person's passwords.
    pub async fn use_app_password(
        &self,
        identity_id: &str,
        purpose: Purpose,
        password_hash: String,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let identity_id = identity_id.to_string();
        self.write(move |conn| {
            let used = diesel::update(
                app_passwords::table
                    .filter(app_passwords::password_hash.eq(password_hash))
                    .filter(app_passwords::identity_id.eq(identity_id))
                    .filter(app_passwords::purpose.eq(purpose.as_str()))
                    .filter(app_passwords::revoked_at.is_null()),
            )
            .set(app_passwords::last_used_at.eq(Some(now)))
            .execute(conn)?;
            Ok(used == 1)
        })
        .await
    }
}
