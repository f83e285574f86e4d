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
        created_at: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<()> {
        self.write(move |conn| {
            diesel::insert_into(initial_access_tokens::table)
                .values((
                    initial_access_tokens::token_hash.eq(token_hash),
                    initial_access_tokens::note.eq(note),
                    initial_access_tokens::created_at.eq(created_at),
                    initial_access_tokens::expires_at.eq(expires_at),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// The note of an unexpired initial access token, `None` if there is no such token.
    pub async fn find_initial_access_token(
        &self,
        token_hash: String,
        now: UnixTime,
    ) -> StoreResult<Option<Option<String>>> {
        self.run(move |conn| {
            Ok(initial_access_tokens::table
                .find(token_hash)
                .filter(initial_access_tokens::expires_at.gt(now))
                .select(initial_access_tokens::note)
                .first::<Option<String>>(conn)
                .optional()?)
        })
        .await
    }
}
