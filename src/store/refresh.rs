//! Refresh tokens: rotation, reuse detection by family, and the grace window for
//! concurrent refreshes.

use diesel::prelude::*;

use super::conn::AnyConnection;
use super::schema::{access_tokens, refresh_tokens};
use super::{from_json, to_json, Store, StoreResult};
use crate::domain::clock::UnixTime;
use crate::domain::grant::{AccessToken, RefreshRedemption, RefreshToken};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
struct RefreshRow {
    token_hash: String,
    family_id: String,
    client_id: String,
    identity_id: String,
    session_id: Option<String>,
    scope: String,
    auth_time: i64,
    acr: String,
    amr: String,
    created_at: i64,
    idle_expires_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
    claims: Option<String>,
}

impl RefreshRow {
    fn from_token(token: &RefreshToken) -> RefreshRow {
        RefreshRow {
            token_hash: token.token_hash.clone(),
            family_id: token.family_id.clone(),
            client_id: token.client_id.clone(),
            identity_id: token.identity_id.clone(),
            session_id: token.session_id.clone(),
            scope: token.scope.clone(),
            auth_time: token.auth_time,
            acr: token.acr.clone(),
            amr: to_json(&token.amr),
            created_at: token.created_at,
            idle_expires_at: token.idle_expires_at,
            expires_at: token.expires_at,
            used_at: token.used_at,
            revoked_at: token.revoked_at,
            claims: super::grants::claims_to_json(token.claims.as_ref()),
        }
    }

    fn into_token(self) -> StoreResult<RefreshToken> {
        Ok(RefreshToken {
            amr: from_json("amr", &self.amr)?,
            claims: super::grants::claims_from_json(self.claims.as_deref())?,
            token_hash: self.token_hash,
            family_id: self.family_id,
            client_id: self.client_id,
            identity_id: self.identity_id,
            session_id: self.session_id,
            scope: self.scope,
            auth_time: self.auth_time,
            acr: self.acr,
            created_at: self.created_at,
            idle_expires_at: self.idle_expires_at,
            expires_at: self.expires_at,
            used_at: self.used_at,
            revoked_at: self.revoked_at,
        })
    }
}

fn find(conn: &mut AnyConnection, token_hash: &str) -> StoreResult<Option<RefreshToken>> {
    refresh_tokens::table
        .find(token_hash)
        .select(RefreshRow::as_select())
        .first(conn)
        .optional()?
        .map(RefreshRow::into_token)
        .transpose()
}

pub(super) fn insert(conn: &mut AnyConnection, token: &RefreshToken) -> StoreResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values(&RefreshRow::from_token(token))
        .execute(conn)?;
    Ok(())
}

/// Revokes a family and every access token issued from it.
pub(crate) fn revoke_family(
    conn: &mut AnyConnection,
    family_id: &str,
    now: UnixTime,
) -> StoreResult<usize> {
    let revoked = diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq(family_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(Some(now)))
    .execute(conn)?;
    diesel::update(
        access_tokens::table
            .filter(access_tokens::family_id.eq(Some(family_id)))
            .filter(access_tokens::revoked_at.is_null()),
    )
    .set(access_tokens::revoked_at.eq(Some(now)))
    .execute(conn)?;
    Ok(revoked)
}

impl Store {
    pub async fn find_refresh_token(&self, token_hash: &str) -> StoreResult<Option<RefreshToken>> {
        let token_hash = token_hash.to_string();
        self.run(move |conn| find(conn, &token_hash)).await
    }

    /// Rotates `presented_hash` (issued to `client_id`) into `successor`, exactly once:
    /// `UPDATE … WHERE used_at IS NULL` claims it. With a `grace` window (seconds, none
    /// by default), a second presentation within it, while the successor is still unused,
    /// is taken for a race between two tabs and gets the same successor; any other reuse
    /// revokes the family. The access token issued with the successor is saved in the
    /// same transaction, so a reuse revoking the family never misses it.
    pub async fn rotate_refresh_token(
        &self,
        presented_hash: &str,
        client_id: &str,
        successor: impl FnOnce(&RefreshToken) -> RefreshToken + Send + 'static,
        access: AccessToken,
        grace: i64,
        now: UnixTime,
    ) -> StoreResult<RefreshRedemption> {
        let (presented_hash, client_id) = (presented_hash.to_string(), client_id.to_string());
        self.write(move |conn| {
            let Some(token) = find(conn, &presented_hash)? else {
                return Ok(RefreshRedemption::Invalid);
            };
            if token.client_id != client_id || token.revoked_at.is_some() || now >= token.expires_at
            {
                return Ok(RefreshRedemption::Invalid);
            }
            let claimed = diesel::update(
                refresh_tokens::table
                    .find(&presented_hash)
                    .filter(refresh_tokens::used_at.is_null())
                    .filter(refresh_tokens::revoked_at.is_null()),
            )
            .set(refresh_tokens::used_at.eq(Some(now)))
            .execute(conn)?;
            let next = successor(&token);
            if claimed == 1 {
                if now >= token.idle_expires_at {
                    return Ok(RefreshRedemption::Invalid);
                }
                insert(conn, &next)?;
                super::grants::insert_access_token(conn, &access)?;
                return Ok(RefreshRedemption::Rotated(Box::new(token)));
            }
            // Read again: on PostgreSQL the first read may predate the concurrent rotation
            // that our UPDATE waited for, and would not show its `used_at`.
            let token = find(conn, &presented_hash)?.unwrap_or(token);
            // `grace` 0 is no window at all: a reuse within the same second is a reuse.
            let recent = grace > 0 && token.used_at.is_some_and(|used| now - used < grace);
            let successor_live = find(conn, &next.token_hash)?
                .is_some_and(|s| s.used_at.is_none() && s.revoked_at.is_none());
            if recent && successor_live {
                super::grants::insert_access_token(conn, &access)?;
                return Ok(RefreshRedemption::WithinGrace(Box::new(token)));
            }
            let revoked = revoke_family(conn, &token.family_id, now)?;
            Ok(RefreshRedemption::Reused { revoked })
        })
        .await
    }

    /// RFC 7009 for a refresh token: the family goes, with its access tokens.
    pub async fn revoke_refresh_family(
        &self,
        family_id: &str,
        now: UnixTime,
    ) -> StoreResult<usize> {
        let family_id = family_id.to_string();
        self.write(move |conn| revoke_family(conn, &family_id, now))
            .await
    }

    pub async fn revoke_access_token(&self, token_hash: &str, now: UnixTime) -> StoreResult<()> {
        let token_hash = token_hash.to_string();
        self.write(move |conn| {
            diesel::update(
                access_tokens::table
                    .find(token_hash)
                    .filter(access_tokens::revoked_at.is_null()),
            )
            .set(access_tokens::revoked_at.eq(Some(now)))
            .execute(conn)?;
            Ok(())
        })
        .await
    }
}
