//! The `jti`s of accepted client assertions, kept until the assertions expire.

use diesel::prelude::*;

use super::schema::used_assertions;
use super::{Store, StoreError, StoreResult};
use crate::domain::clock::UnixTime;

impl Store {
    /// Records an assertion's `jti` digest; `false` if it was already there (a replay).
    /// One `INSERT`: the primary key decides between two racing uses, on any instance.
    pub async fn record_assertion(
        &self,
        jti_hash: String,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> StoreResult<bool> {
        self.run(move |conn| {
            // Forgetting expired entries now and then keeps the table to about an hour of
            // assertions; an expired assertion is refused for its `exp` anyway.
            if rand::random::<u8>() < 4 {
                diesel::delete(used_assertions::table.filter(used_assertions::expires_at.lt(now)))
                    .execute(conn)?;
            }
            match diesel::insert_into(used_assertions::table)
                .values((
                    used_assertions::jti_hash.eq(&jti_hash),
                    used_assertions::expires_at.eq(expires_at),
                ))
                .execute(conn)
                .map_err(StoreError::from)
            {
                Ok(_) => Ok(true),
                Err(StoreError::Conflict(_)) => Ok(false),
                Err(other) => Err(other),
            }
        })
        .await
    }
}
