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
        let mut purged = Purged::default();
        while purged.access_tokens < limit {
            let hashes: Vec<String> = self
                .run(move |conn| {
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
                })
                .await?;
            let found = hashes.len();
            if found == 0 {
                break;
            }
            purged.access_tokens += self
                .write(move |conn| {
                    Ok(diesel::delete(
                        access_tokens::table
                            .filter(access_tokens::token_hash.eq_any(&hashes))
                            .filter(access_tokens::expires_at.lt(before)),
                    )
                    .execute(conn)?)
                })
                .await?;
            if found < BATCH as usize {
                break;
            }
        }
        while purged.authorization_codes < limit {
            let hashes: Vec<String> = self
                .run(move |conn| {
                    let tokens_born_of_it = access_tokens::table.filter(
                        access_tokens::code_hash.eq(authorization_codes::code_hash.nullable()),
                    );
                    Ok(authorization_codes::table
                        .filter(authorization_codes::expires_at.lt(before))
                        .filter(not(exists(tokens_born_of_it)))
                        .select(authorization_codes::code_hash)
                        .limit(BATCH)
                        .load(conn)?)
                })
                .await?;
            let found = hashes.len();
            if found == 0 {
                break;
            }
            purged.authorization_codes += self
                .write(move |conn| {
                    // Checked again inside the write: a token saved from the code since.
                    let tokens_born_of_it = access_tokens::table.filter(
                        access_tokens::code_hash.eq(authorization_codes::code_hash.nullable()),
                    );
                    Ok(diesel::delete(
                        authorization_codes::table
                            .filter(authorization_codes::code_hash.eq_any(&hashes))
                            .filter(not(exists(tokens_born_of_it))),
                    )
                    .execute(conn)?)
                })
                .await?;
            if found < BATCH as usize {
                break;
            }
        }
        Ok(purged)
    }
}
