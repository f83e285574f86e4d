//! Authorization codes and access tokens.

use diesel::prelude::*;

use super::conn::AnyConnection;
use super::schema::{access_tokens, authorization_codes};
use super::{from_json, to_json, Store, StoreError, StoreResult};
use crate::domain::client::Client;
use crate::domain::clock::UnixTime;
use crate::domain::grant::{
    AccessToken, AuthorizationCode, CodeLookup, CodeRedemption, IssuedTokens, RequestedClaims,
};
use crate::domain::identity::Identity;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = authorization_codes)]
struct CodeRow {
    code_hash: String,
    client_id: String,
    identity_id: String,
    session_id: String,
    redirect_uri: String,
    scope: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    auth_time: i64,
    acr: String,
    amr: String,
    created_at: i64,
    expires_at: i64,
    consumed_at: Option<i64>,
    replayed_at: Option<i64>,
    claims: Option<String>,
}

impl CodeRow {
    fn into_code(self) -> StoreResult<AuthorizationCode> {
        Ok(AuthorizationCode {
            amr: from_json("amr", &self.amr)?,
            claims: claims_from_json(self.claims.as_deref())?,
            code_hash: self.code_hash,
            client_id: self.client_id,
            identity_id: self.identity_id,
            session_id: self.session_id,
            redirect_uri: self.redirect_uri,
            scope: self.scope,
            nonce: self.nonce,
            code_challenge: self.code_challenge,
            auth_time: self.auth_time,
            acr: self.acr,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = access_tokens)]
pub(crate) struct AccessTokenRow {
    token_hash: String,
    client_id: String,
    identity_id: Option<String>,
    session_id: Option<String>,
    code_hash: Option<String>,
    scope: String,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    family_id: Option<String>,
    claims: Option<String>,
    signing_kid: Option<String>,
}

/// A client_credentials token waiting for the writer, with the revision its client's row
/// had when the request authenticated from memory (`None`: read from the database by the
/// request itself, nothing to check).
pub(crate) struct PendingAccessToken {
    row: AccessTokenRow,
    client_revision: Option<i64>,
}

/// Access tokens, inside the caller's transaction. A token whose client's row no longer
/// has the revision the request relied on is refused ([`StoreError::ClientChanged`], a
/// row-level error: the writer then stores the others one by one). On SQLite the check
/// and the inserts hold the write lock together; on PostgreSQL the check reads just
/// before the insert (revisions come from a sequence and never repeat), a narrower window
/// than reading the client at the start of the request, as every request did before
/// clients were remembered.
///
/// On PostgreSQL one multi-row `INSERT`: one round trip for the lot. SQLite is in
/// process, so one cached prepared statement per row costs no round trip (and diesel's
/// multi-backend connection has no batch insert).
pub(crate) fn insert_access_tokens(
    conn: &mut AnyConnection,
    pending: &[PendingAccessToken],
) -> StoreResult<()> {
    let relied_on: Vec<(&str, i64)> = pending
        .iter()
        .filter_map(|p| p.client_revision.map(|r| (p.row.client_id.as_str(), r)))
        .collect();
    if !relied_on.is_empty() {
        let mut ids: Vec<&str> = relied_on.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        let current = super::clients::current_revisions(conn, &ids)?;
        if relied_on
            .iter()
            .any(|(id, revision)| current.get(*id) != Some(revision))
        {
            return Err(StoreError::ClientChanged);
        }
    }
    match conn {
        AnyConnection::Postgresql(pg) => {
            let rows: Vec<&AccessTokenRow> = pending.iter().map(|p| &p.row).collect();
            diesel::insert_into(access_tokens::table)
                .values(rows)
                .execute(pg)?;
        }
        AnyConnection::Sqlite(_) => {
            for p in pending {
                diesel::insert_into(access_tokens::table)
                    .values(&p.row)
                    .execute(conn)?;
            }
        }
    }
    Ok(())
}

impl From<AccessTokenRow> for AccessToken {
    fn from(row: AccessTokenRow) -> AccessToken {
        AccessToken {
            token_hash: row.token_hash,
            client_id: row.client_id,
            identity_id: row.identity_id,
            session_id: row.session_id,
            code_hash: row.code_hash,
            scope: row.scope,
            created_at: row.created_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            family_id: row.family_id,
            // Written by `claims_to_json` below; unreadable text would mean no claims.
            claims: claims_from_json(row.claims.as_deref()).unwrap_or_default(),
            signing_kid: row.signing_kid,
        }
    }
}

impl From<AccessToken> for AccessTokenRow {
    fn from(token: AccessToken) -> AccessTokenRow {
        AccessTokenRow {
            token_hash: token.token_hash,
            client_id: token.client_id,
            identity_id: token.identity_id,
            session_id: token.session_id,
            code_hash: token.code_hash,
            scope: token.scope,
            created_at: token.created_at,
            expires_at: token.expires_at,
            revoked_at: token.revoked_at,
            family_id: token.family_id,
            claims: claims_to_json(token.claims.as_ref()),
            signing_kid: token.signing_kid,
        }
    }
}

/// Requested claims as stored: JSON, or NULL when none were requested.
pub(crate) fn claims_to_json(claims: Option<&RequestedClaims>) -> Option<String> {
    claims.filter(|c| !c.is_empty()).map(to_json)
}

pub(crate) fn claims_from_json(text: Option<&str>) -> StoreResult<Option<RequestedClaims>> {
    text.map(|t| from_json("claims", t)).transpose()
}

/// See [`Store::find_access_token_in_context`].
#[derive(Debug, Clone)]
pub struct AccessTokenContext {
    pub token: AccessToken,
    pub pairwise_sector: Option<String>,
    /// The pushed attributes the token's client receives as claims.
    pub released_attributes: Vec<String>,
    pub identity: Option<Identity>,
}

pub(super) fn insert_access_token(
    conn: &mut AnyConnection,
    token: &AccessToken,
) -> StoreResult<()> {
    diesel::insert_into(access_tokens::table)
        .values(&AccessTokenRow::from(token.clone()))
        .execute(conn)?;
    Ok(())
}

/// Inserts an access token and the refresh token issued with it.
fn insert_issued(conn: &mut AnyConnection, tokens: &IssuedTokens) -> StoreResult<()> {
    insert_access_token(conn, &tokens.access)?;
    if let Some(refresh) = &tokens.refresh {
        super::refresh::insert(conn, refresh)?;
    }
    Ok(())
}

/// A spent code presented again by its own client: marks it replayed and revokes the
/// access tokens issued from it and their refresh families.
fn revoke_replayed(
    conn: &mut AnyConnection,
    code_hash: &str,
    client_id: &str,
    now: UnixTime,
) -> StoreResult<CodeRedemption> {
    let marked = diesel::update(
        authorization_codes::table
            .find(code_hash)
            .filter(authorization_codes::client_id.eq(client_id)),
    )
    .set(authorization_codes::replayed_at.eq(Some(now)))
    .execute(conn)?;
    if marked == 0 {
        return Ok(CodeRedemption::Unknown);
    }
    let families: Vec<Option<String>> = access_tokens::table
        .filter(access_tokens::code_hash.eq(Some(code_hash)))
        .select(access_tokens::family_id)
        .load(conn)?;
    let revoked_tokens = diesel::update(
        access_tokens::table
            .filter(access_tokens::code_hash.eq(Some(code_hash)))
            .filter(access_tokens::revoked_at.is_null()),
    )
    .set(access_tokens::revoked_at.eq(Some(now)))
    .execute(conn)?;
    // The refresh tokens born of the code go too (RFC 6749 §4.1.2).
    for family in families.into_iter().flatten() {
        super::refresh::revoke_family(conn, &family, now)?;
    }
    Ok(CodeRedemption::Replayed { revoked_tokens })
}

impl Store {
    pub async fn save_authorization_code(&self, code: AuthorizationCode) -> StoreResult<()> {
        let row = CodeRow {
            amr: to_json(&code.amr),
            code_hash: code.code_hash,
            client_id: code.client_id,
            identity_id: code.identity_id,
            session_id: code.session_id,
            redirect_uri: code.redirect_uri,
            scope: code.scope,
            nonce: code.nonce,
            code_challenge: code.code_challenge,
            auth_time: code.auth_time,
            acr: code.acr,
            created_at: code.created_at,
            expires_at: code.expires_at,
            consumed_at: None,
            replayed_at: None,
            claims: claims_to_json(code.claims.as_ref()),
        };
        // One statement: atomic alone, no BEGIN and COMMIT round trips.
        self.run(move |conn| {
            diesel::insert_into(authorization_codes::table)
                .values(&row)
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// The code as issued, for the checks made before it is spent (client, redirect URI,
    /// PKCE, expiry), with the identity an unspent code names, read in the same query
    /// (the token endpoint needs both). Only the client the code was issued to can see
    /// it: for any other, and for an unknown code, `Unknown`.
    pub async fn find_authorization_code(
        &self,
        code_hash: &str,
        client_id: &str,
    ) -> StoreResult<(CodeLookup, Option<Identity>)> {
        use super::identities::IdentityRow;
        use super::schema::identities;
        let (code_hash, client_id) = (code_hash.to_string(), client_id.to_string());
        self.run(move |conn| {
            let row: Option<(CodeRow, Option<IdentityRow>)> = authorization_codes::table
                .left_join(
                    identities::table.on(authorization_codes::identity_id.eq(identities::id)),
                )
                .filter(authorization_codes::code_hash.eq(&code_hash))
                .filter(authorization_codes::client_id.eq(&client_id))
                .select((CodeRow::as_select(), Option::<IdentityRow>::as_select()))
                .first(conn)
                .optional()?;
            let Some((row, identity)) = row else {
                return Ok((CodeLookup::Unknown, None));
            };
            Ok(if row.consumed_at.is_some() {
                // A replay revokes what the code gave, whatever became of the identity.
                (CodeLookup::Spent(Box::new(row.into_code()?)), None)
            } else {
                let identity = identity.map(Identity::try_from).transpose()?;
                (CodeLookup::Unspent(Box::new(row.into_code()?)), identity)
            })
        })
        .await
    }

    /// Spends a code and saves the tokens issued for it, in one transaction, exactly once
    /// across instances: `UPDATE … WHERE consumed_at IS NULL` changes one row for the
    /// first caller only, who inserts the access token and the refresh token with it. Any
    /// other caller presents a spent code: a replay, which revokes every token issued from
    /// the code, refresh family included (RFC 6749 §4.1.2). Since the tokens and the spend
    /// commit together, a replay sees all of them or none: no token saved a moment later
    /// escapes the revocation.
    pub async fn redeem_authorization_code(
        &self,
        code_hash: &str,
        client_id: &str,
        tokens: IssuedTokens,
        now: UnixTime,
    ) -> StoreResult<CodeRedemption> {
        let (code_hash, client_id) = (code_hash.to_string(), client_id.to_string());
        self.write(move |conn| {
            let claimed = diesel::update(
                authorization_codes::table
                    .find(&code_hash)
                    .filter(authorization_codes::client_id.eq(&client_id))
                    .filter(authorization_codes::consumed_at.is_null()),
            )
            .set(authorization_codes::consumed_at.eq(Some(now)))
            .execute(conn)?;
            if claimed == 1 {
                insert_issued(conn, &tokens)?;
                return Ok(CodeRedemption::Redeemed);
            }
            revoke_replayed(conn, &code_hash, &client_id, now)
        })
        .await
    }

    /// A spent code presented again: its tokens are revoked (RFC 6749 §4.1.2).
    pub async fn revoke_replayed_code(
        &self,
        code_hash: &str,
        client_id: &str,
        now: UnixTime,
    ) -> StoreResult<CodeRedemption> {
        let (code_hash, client_id) = (code_hash.to_string(), client_id.to_string());
        self.write(move |conn| revoke_replayed(conn, &code_hash, &client_id, now))
            .await
    }

    /// The tokens of a grant without a code (an approved device), in one transaction.
    pub async fn save_issued_tokens(&self, tokens: IssuedTokens) -> StoreResult<()> {
        self.write(move |conn| insert_issued(conn, &tokens)).await
    }

    /// A client_credentials token, committed with the tokens of concurrent requests
    /// (group commit); answered once the commit holding it is done. With
    /// `client_revision` (the request took its client from memory), the commit refuses
    /// the token with [`StoreError::ClientChanged`] unless the client's row still has it.
    pub async fn save_access_token(
        &self,
        token: AccessToken,
        client_revision: Option<i64>,
    ) -> StoreResult<()> {
        let row = AccessTokenRow::from(token);
        self.access_tokens
            .insert(PendingAccessToken {
                row,
                client_revision,
            })
            .await
    }

    /// An access token with what answering for it takes, in one query: the pairwise sector
    /// of its client (joined) and its identity (left joined: none for client_credentials).
    /// Userinfo runs this on every call.
    pub async fn find_access_token_in_context(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<AccessTokenContext>> {
        let token_hash = token_hash.to_string();
        self.run(move |conn| load_access_token_in_context(conn, &token_hash))
            .await
    }

    /// Introspection's one database call: the calling client (by the id it presents) and
    /// the token in context.
    pub async fn find_client_and_access_token_in_context(
        &self,
        client_id: &str,
        token_hash: &str,
    ) -> StoreResult<(Option<Client>, Option<AccessTokenContext>)> {
        let (client_id, token_hash) = (client_id.to_string(), token_hash.to_string());
        self.run(move |conn| {
            Ok((
                super::clients::load_client(conn, &client_id)?,
                load_access_token_in_context(conn, &token_hash)?,
            ))
        })
        .await
    }

    pub async fn find_access_token(&self, token_hash: &str) -> StoreResult<Option<AccessToken>> {
        let token_hash = token_hash.to_string();
        self.run(move |conn| {
            Ok(access_tokens::table
                .find(token_hash)
                .select(AccessTokenRow::as_select())
                .first(conn)
                .optional()?
                .map(AccessToken::from))
        })
        .await
    }
}

/// An access token, its client's pairwise sector and released attributes (joined) and its
/// identity (left joined: none for client_credentials), in one query.
fn load_access_token_in_context(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> StoreResult<Option<AccessTokenContext>> {
    use super::identities::IdentityRow;
    use super::schema::{clients, identities};
    type Joined = (
        AccessTokenRow,
        String,
        Option<String>,
        String,
        Option<IdentityRow>,
    );
    let row: Option<Joined> = access_tokens::table
        .inner_join(clients::table)
        .left_join(identities::table.on(access_tokens::identity_id.eq(identities::id.nullable())))
        .filter(access_tokens::token_hash.eq(token_hash))
        .select((
            AccessTokenRow::as_select(),
            clients::subject_type,
            clients::sector,
            clients::released_attributes,
            Option::<IdentityRow>::as_select(),
        ))
        .first(conn)
        .optional()?;
    let Some((token, subject_type, sector, released, identity)) = row else {
        return Ok(None);
    };
    Ok(Some(AccessTokenContext {
        token: AccessToken::from(token),
        pairwise_sector: (subject_type == "pairwise").then(|| sector.unwrap_or_default()),
        released_attributes: from_json("released_attributes", &released)?,
        identity: identity.map(Identity::try_from).transpose()?,
    }))
}
