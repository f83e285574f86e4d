//! Expired rows go: access tokens and authorization codes are written at every grant
//! and would otherwise pile up for ever (a service that asks for a token per call makes
//! millions a day). Each instance purges on its own (`app::purge_expired`); a row deleted
//! twice is deleted once, so several instances need no coordination.
//!
//! What must stay, stays: a token born of a refresh family is kept while any refresh
//! token of the family has not expired, since a replayed code finds the family through
//! it; a code is kept while any token born of it is, since its replay revokes them.
//! Candidates are read first (on SQLite, without the write lock), then deleted by primary
//! key in short transactions, so writers never wait for a scan.

use diesel::dsl::{exists, not};
use diesel::prelude::*;

use super::conn::AnyConnection;
use super::schema::{access_tokens, authorization_codes, refresh_tokens};
use super::{Store, StoreResult};
use crate::domain::clock::UnixTime;

/// Rows deleted by one statement.
const BATCH: i64 = 1000;

/// How many rows one purge deleted, table by table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub access_tokens: usize,
    pub authorization_codes: usize,
}

impl Store {
    /// Deletes the access tokens and codes that expired before `before` and that nothing
    /// may still need, at most `limit` rows of each table (the next purge takes the rest).
    pub async fn purge_expired(&self, before: UnixTime, limit: usize) -> StoreResult<Purged> {
        // Tokens first: a code whose last token goes in this round goes in this round too.
        let access_tokens = self
            .purge_in_batches(
                limit,
                move |conn| {
                    let family_alive = refresh_tokens::table
                        .filter(
                            refresh_tokens::family_id
                                .nullable()
                                .eq(access_tokens::family_id),
                        )
                        .filter(refresh_tokens::expires_at.ge(before));
                    Ok(access_tokens::table
                        .filter(access_tokens::expires_at.lt(before))
                        .filter(not(exists(family_alive)))
                        .select(access_tokens::token_hash)
                        .limit(BATCH)
                        .load(conn)?)
                },
                move |conn, hashes| {
                    Ok(diesel::delete(
                        access_tokens::table
                            .filter(access_tokens::token_hash.eq_any(hashes))
                            .filter(access_tokens::expires_at.lt(before)),
                    )
                    .execute(conn)?)
                },
            )
            .await?;
        let unclaimed_codes = move || {
            let tokens_born_of_it = access_tokens::table
                .filter(access_tokens::code_hash.eq(authorization_codes::code_hash.nullable()));
            authorization_codes::table.filter(not(exists(tokens_born_of_it)))
        };
        let authorization_codes = self
            .purge_in_batches(
                limit,
                move |conn| {
                    Ok(unclaimed_codes()
                        .filter(authorization_codes::expires_at.lt(before))
                        .select(authorization_codes::code_hash)
                        .limit(BATCH)
                        .load(conn)?)
                },
                // Checked again inside the write: a token saved from the code since.
                move |conn, hashes| {
                    Ok(diesel::delete(
                        unclaimed_codes().filter(authorization_codes::code_hash.eq_any(hashes)),
                    )
                    .execute(conn)?)
                },
            )
            .await?;
        Ok(Purged {
            access_tokens,
            authorization_codes,
        })
    }

    /// Up to `limit` rows: `find` reads a batch of candidates' keys (a read, no write
    /// lock), `delete` deletes them in a short write; until a batch comes back short.
    async fn purge_in_batches(
        &self,
        limit: usize,
        find: impl Fn(&mut AnyConnection) -> StoreResult<Vec<String>> + Send + Copy + 'static,
        delete: impl Fn(&mut AnyConnection, &[String]) -> StoreResult<usize> + Send + Copy + 'static,
    ) -> StoreResult<usize> {
        let mut purged = 0;
        while purged < limit {
            let keys = self.run(find).await?;
            let found = keys.len();
            if found == 0 {
                break;
            }
            purged += self.write(move |conn| delete(conn, &keys)).await?;
            if found < BATCH as usize {
                break;
            }
        }
        Ok(purged)
    }
}
