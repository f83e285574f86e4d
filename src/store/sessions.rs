//! Single sign-on sessions. The cookie holds a secret; only its digest is stored.

use diesel::prelude::*;

use super::schema::sessions;
use super::{from_json, new_id, to_json, Store, StoreResult};
use crate::domain::clock::UnixTime;
use crate::domain::session::Session;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
struct SessionRow {
    id: String,
    token_hash: String,
    identity_id: String,
    auth_time: i64,
    acr: String,
    amr: String,
    ip: Option<String>,
    user_agent: Option<String>,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

impl SessionRow {
    fn into_session(self) -> StoreResult<Session> {
        Ok(Session {
            amr: from_json("amr", &self.amr)?,
            id: self.id,
            identity_id: self.identity_id,
            auth_time: self.auth_time,
            acr: self.acr,
            expires_at: self.expires_at,
        })
    }
}

/// What a new session records about the sign-in.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub identity_id: String,
    pub token_hash: String,
    pub acr: String,
    pub amr: Vec<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub expires_at: UnixTime,
}

impl Store {
    pub async fn create_session(&self, new: NewSession, now: UnixTime) -> StoreResult<Session> {
        let row = SessionRow {
            id: new_id(),
            token_hash: new.token_hash,
            identity_id: new.identity_id,
            auth_time: now,
            acr: new.acr,
            amr: to_json(&new.amr),
            ip: new.ip,
            user_agent: new.user_agent.map(|ua| ua.chars().take(255).collect()),
            created_at: now,
            expires_at: new.expires_at,
            revoked_at: None,
        };
        // One statement: atomic alone, no BEGIN and COMMIT round trips.
        self.run(move |conn| {
            diesel::insert_into(sessions::table)
                .values(&row)
                .execute(conn)?;
            row.into_session()
        })
        .await
    }

    /// The live session whose cookie digests to `token_hash`, if any.
    pub async fn find_live_session(
        &self,
        token_hash: &str,
        now: UnixTime,
    ) -> StoreResult<Option<Session>> {
        let token_hash = token_hash.to_string();
        self.run(move |conn| {
            sessions::table
                .filter(sessions::token_hash.eq(token_hash))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::expires_at.gt(now))
                .select(SessionRow::as_select())
                .first(conn)
                .optional()?
                .map(SessionRow::into_session)
                .transpose()
        })
        .await
    }

    /// A new sign-in on a live session of the same person: its secret, sign-in time,
    /// level (back to the password alone: a second step follows if due), address and
    /// expiry start again; its id, and so the applications that know it, stay. `None`
    /// if it ended meanwhile.
    pub async fn restart_session(
        &self,
        session_id: &str,
        new: NewSession,
        now: UnixTime,
    ) -> StoreResult<Option<Session>> {
        let session_id = session_id.to_string();
        self.write(move |conn| {
            let restarted = diesel::update(
                sessions::table
                    .find(&session_id)
                    .filter(sessions::identity_id.eq(&new.identity_id))
                    .filter(sessions::revoked_at.is_null()),
            )
            .set((
                sessions::token_hash.eq(new.token_hash),
                sessions::auth_time.eq(now),
                sessions::acr.eq(new.acr),
                sessions::amr.eq(to_json(&new.amr)),
                sessions::ip.eq(new.ip),
                sessions::user_agent.eq(new
                    .user_agent
                    .map(|ua| ua.chars().take(255).collect::<String>())),
                sessions::expires_at.eq(new.expires_at),
            ))
            .execute(conn)?;
            if restarted == 0 {
                return Ok(None);
            }
            sessions::table
                .find(&session_id)
                .select(SessionRow::as_select())
                .first(conn)?
                .into_session()
                .map(Some)
        })
        .await
    }

    /// A session by its id, while it lives.
    pub async fn find_live_session_by_id(
        &self,
        session_id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<Session>> {
        let session_id = session_id.to_string();
        self.run(move |conn| {
            sessions::table
                .find(session_id)
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::expires_at.gt(now))
                .select(SessionRow::as_select())
                .first(conn)
                .optional()?
                .map(SessionRow::into_session)
                .transpose()
        })
        .await
    }

    /// Gives a live session a new cookie secret (after the second step: a secret seen
    /// before the session proved both factors must not carry the upgraded session).
    pub async fn renew_session_secret(
        &self,
        session_id: &str,
        token_hash: String,
    ) -> StoreResult<bool> {
        let session_id = session_id.to_string();
        self.write(move |conn| {
            let renewed = diesel::update(
                sessions::table
                    .find(session_id)
                    .filter(sessions::revoked_at.is_null()),
            )
            .set(sessions::token_hash.eq(token_hash))
            .execute(conn)?;
            Ok(renewed == 1)
        })
        .await
    }

    pub async fn revoke_session(&self, session_id: &str, now: UnixTime) -> StoreResult<()> {
        let session_id = session_id.to_string();
        self.write(move |conn| {
            diesel::update(
                sessions::table
                    .find(session_id)
                    .filter(sessions::revoked_at.is_null()),
            )
            .set(sessions::revoked_at.eq(Some(now)))
            .execute(conn)?;
            Ok(())
        })
        .await
    }
}

/// A relying party that received a code in a session, and wants to hear of its end.
#[derive(Debug, Clone)]
pub struct SessionParticipant {
    pub session_id: String,
    pub client_id: String,
}

impl Store {
    /// The live sessions of an identity (before they are all ended).
    pub async fn live_session_ids(
        &self,
        identity_id: &str,
        now: UnixTime,
    ) -> StoreResult<Vec<String>> {
        let identity_id = identity_id.to_string();
        self.run(move |conn| {
            Ok(sessions::table
                .filter(sessions::identity_id.eq(identity_id))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::expires_at.gt(now))
                .select(sessions::id)
                .load(conn)?)
        })
        .await
    }

    /// The clients with a back-channel logout URI that received a code in these sessions.
    pub async fn session_participants(
        &self,
        session_ids: Vec<String>,
    ) -> StoreResult<Vec<SessionParticipant>> {
        use super::schema::{authorization_codes, clients};
        self.run(move |conn| {
            let pairs: Vec<(String, String)> = authorization_codes::table
                .inner_join(clients::table)
                .filter(authorization_codes::session_id.eq_any(session_ids))
                .filter(clients::backchannel_logout_uri.is_not_null())
                .select((
                    authorization_codes::session_id,
                    authorization_codes::client_id,
                ))
                .distinct()
                .load(conn)?;
            Ok(pairs
                .into_iter()
                .map(|(session_id, client_id)| SessionParticipant {
                    session_id,
                    client_id,
                })
                .collect())
        })
        .await
    }
}

/// A live session as its owner sees it in the personal space.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionSummary {
    pub id: String,
    pub created_at: UnixTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Store {
    /// The live sessions of an identity, newest first.
    pub async fn live_sessions(
        &self,
        identity_id: &str,
        now: UnixTime,
    ) -> StoreResult<Vec<SessionSummary>> {
        let identity_id = identity_id.to_string();
        self.run(move |conn| {
            let rows: Vec<(String, i64, Option<String>, Option<String>)> = sessions::table
                .filter(sessions::identity_id.eq(identity_id))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::expires_at.gt(now))
                .order(sessions::created_at.desc())
                .select((
                    sessions::id,
                    sessions::created_at,
                    sessions::ip,
                    sessions::user_agent,
                ))
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(|(id, created_at, ip, user_agent)| SessionSummary {
                    id,
                    created_at,
                    ip,
                    user_agent,
                })
                .collect())
        })
        .await
    }

    /// Ends sessions of `identity_id` only (a person ends their own sessions, never
    /// another's): `which` names one, or `None` means all but `keep`. Returns the ids
    /// ended, for back-channel logout.
    pub async fn end_own_sessions(
        &self,
        identity_id: &str,
        which: Option<String>,
        keep: &str,
        now: UnixTime,
    ) -> StoreResult<Vec<String>> {
        let (identity_id, keep) = (identity_id.to_string(), keep.to_string());
        self.write(move |conn| {
            let mut query = sessions::table
                .filter(sessions::identity_id.eq(&identity_id))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::id.ne(&keep))
                .into_boxed();
            if let Some(id) = &which {
                query = query.filter(sessions::id.eq(id));
            }
            let ended: Vec<String> = query.select(sessions::id).load(conn)?;
            if !ended.is_empty() {
                diesel::update(sessions::table.filter(sessions::id.eq_any(&ended)))
                    .set(sessions::revoked_at.eq(Some(now)))
                    .execute(conn)?;
            }
            Ok(ended)
        })
        .await
    }
}
