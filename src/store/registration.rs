//! Initial access tokens (RFC 7591 §3): what an administrator hands out so that a relying
//! party can register itself.

use diesel::prelude::*;

use super::schema::initial_access_tokens;
use super::{Store, StoreResult};
use crate::domain::clock::UnixTime;

impl Store {
    pub async fn save_initial_access_token(
        &self,
        token_hash: String,
        note: Option<String>,
        reusable: bool,
        created_at: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<()> {
        self.write(move |conn| {
            diesel::insert_into(initial_access_tokens::table)
                .values((
                    initial_access_tokens::token_hash.eq(token_hash),
                    initial_access_tokens::note.eq(note),
                    initial_access_tokens::reusable.eq(reusable),
                    initial_access_tokens::created_at.eq(created_at),
                    initial_access_tokens::expires_at.eq(expires_at),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// The note of an initial access token that can still register a client (unexpired;
    /// unused, unless reusable), `None` if there is no such token.
    pub async fn find_initial_access_token(
        &self,
        token_hash: String,
        now: UnixTime,
    ) -> StoreResult<Option<Option<String>>> {
        self.run(move |conn| {
            Ok(initial_access_tokens::table
                .find(token_hash)
                .filter(initial_access_tokens::expires_at.gt(now))
                .filter(
                    initial_access_tokens::reusable
                        .eq(true)
                        .or(initial_access_tokens::used_at.is_null()),
                )
                .select(initial_access_tokens::note)
                .first::<Option<String>>(conn)
                .optional()?)
        })
        .await
    }

    /// Spends an initial access token for one registration: `UPDATE … WHERE used_at IS
    /// NULL` (unless reusable), so two registrations racing with a single-use token do not
    /// both succeed, on any instance. Whether it was spent.
    pub async fn spend_initial_access_token(
        &self,
        token_hash: String,
        now: UnixTime,
    ) -> StoreResult<bool> {
        self.write(move |conn| {
            let spent = diesel::update(
                initial_access_tokens::table
                    .find(token_hash)
                    .filter(initial_access_tokens::expires_at.gt(now))
                    .filter(
                        initial_access_tokens::reusable
                            .eq(true)
                            .or(initial_access_tokens::used_at.is_null()),
                    ),
            )
            .set(initial_access_tokens::used_at.eq(Some(now)))
            .execute(conn)?;
            Ok(spent == 1)
        })
        .await
    }
}
