//! The shared key set: sealed secrets and JWT signing keys, as [`crate::crypto::key_set`]
//! seals and opens them. Nothing here sees a key in clear.

use diesel::prelude::*;

use super::schema::{access_tokens, sealed_secrets, signing_keys};
use super::{Store, StoreError, StoreResult};
use crate::domain::client::SigningAlg;
use crate::domain::clock::UnixTime;

/// A signing key as stored: its private part sealed.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct StoredKey {
    pub kid: String,
    pub alg: String,
    pub generation: i64,
    pub public_jwk: String,
    pub sealed_private: String,
    pub published_at: i64,
    pub signs_from: i64,
}

impl StoredKey {
    pub fn alg(&self) -> StoreResult<SigningAlg> {
        self.alg
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("signing key {}: {e}", self.kid)))
    }
}

impl Store {
    /// Every sealed secret, by name.
    pub async fn sealed_secrets(&self) -> StoreResult<Vec<(String, String)>> {
        self.run(|conn| {
            Ok(sealed_secrets::table
                .select((sealed_secrets::name, sealed_secrets::sealed))
                .load(conn)?)
        })
        .await
    }

    /// Inserts secrets, all or none, unless one of those names exists: the first instance
    /// to start makes them, the others read theirs. True when these were inserted.
    pub async fn insert_sealed_secrets_once(
        &self,
        secrets: Vec<(String, String)>,
        now: UnixTime,
    ) -> StoreResult<bool> {
        inserted_once(
            self.write(move |conn| {
                for (name, sealed) in secrets {
                    diesel::insert_into(sealed_secrets::table)
                        .values((
                            sealed_secrets::name.eq(name),
                            sealed_secrets::sealed.eq(sealed),
                            sealed_secrets::created_at.eq(now),
                        ))
                        .execute(conn)?;
                }
                Ok(())
            })
            .await,
        )
    }

    /// Every signing key, oldest generation first within each algorithm.
    pub async fn signing_keys(&self) -> StoreResult<Vec<StoredKey>> {
        self.run(|conn| {
            Ok(signing_keys::table
                .select(StoredKey::as_select())
                .order((signing_keys::alg, signing_keys::generation))
                .load(conn)?)
        })
        .await
    }

    /// Inserts keys in one transaction. The `(alg, generation)` pair is unique, so of two
    /// instances adding the same generation at once (the first keys, or two rotations),
    /// one gets `false` and nothing of its own is kept.
    pub async fn insert_signing_keys(&self, keys: Vec<StoredKey>) -> StoreResult<bool> {
        inserted_once(
            self.write(move |conn| {
                // One statement per key: a batch insert is not open to both backends.
                for key in &keys {
                    diesel::insert_into(signing_keys::table)
                        .values(key)
                        .execute(conn)?;
                }
                Ok(())
            })
            .await,
        )
    }

    /// Removes keys whose every token has expired (any instance may, at once: removing a
    /// removed key does nothing).
    pub async fn remove_signing_keys(&self, kids: Vec<String>) -> StoreResult<usize> {
        self.write(move |conn| {
            Ok(
                diesel::delete(signing_keys::table.filter(signing_keys::kid.eq_any(kids)))
                    .execute(conn)?,
            )
        })
        .await
    }

    /// Removes a compromised key and revokes the access tokens it signed, in one
    /// transaction; `replacement` (a key moved forward, or a new one) signs from now.
    pub async fn remove_compromised_key(
        &self,
        kid: String,
        replacement: Option<KeyReplacement>,
        now: UnixTime,
    ) -> StoreResult<usize> {
        self.write(move |conn| {
            match replacement {
                Some(KeyReplacement::Existing(next)) => {
                    let moved = diesel::update(signing_keys::table.find(&next))
                        .set(signing_keys::signs_from.eq(now))
                        .execute(conn)?;
                    if moved != 1 {
                        return Err(StoreError::Conflict(format!(
                            "the key {next} meant to replace it is gone; list the keys and retry"
                        )));
                    }
                }
                Some(KeyReplacement::New(key)) => {
                    diesel::insert_into(signing_keys::table)
                        .values(&key)
                        .execute(conn)?;
                }
                None => {}
            }
            diesel::delete(signing_keys::table.find(&kid)).execute(conn)?;
            Ok(diesel::update(
                access_tokens::table
                    .filter(access_tokens::signing_kid.eq(&kid))
                    .filter(access_tokens::revoked_at.is_null()),
            )
            .set(access_tokens::revoked_at.eq(now))
            .execute(conn)?)
        })
        .await
    }

    /// Replaces every sealed value (a new key-encryption key), in one transaction, each
    /// only if it is still what was read: `(name or kid, as read, resealed)`. The set must
    /// still hold `key_count` keys: a key added or removed meanwhile fails it whole.
    pub async fn reseal_key_set(
        &self,
        secrets: Vec<(String, String, String)>,
        keys: Vec<(String, String, String)>,
        key_count: usize,
    ) -> StoreResult<()> {
        let changed = || StoreError::Conflict("the key set changed during the rewrap".into());
        self.write(move |conn| {
            for (name, read, sealed) in secrets {
                let updated = diesel::update(
                    sealed_secrets::table
                        .filter(sealed_secrets::name.eq(name))
                        .filter(sealed_secrets::sealed.eq(read)),
                )
                .set(sealed_secrets::sealed.eq(sealed))
                .execute(conn)?;
                if updated != 1 {
                    return Err(changed());
                }
            }
            for (kid, read, sealed) in keys {
                let updated = diesel::update(
                    signing_keys::table
                        .filter(signing_keys::kid.eq(kid))
                        .filter(signing_keys::sealed_private.eq(read)),
                )
                .set(signing_keys::sealed_private.eq(sealed))
                .execute(conn)?;
                if updated != 1 {
                    return Err(changed());
                }
            }
            let count: i64 = signing_keys::table.count().get_result(conn)?;
            if count as usize != key_count {
                return Err(changed());
            }
            Ok(())
        })
        .await
    }
}

/// What signs in place of a compromised active key.
#[derive(Debug, Clone)]
pub enum KeyReplacement {
    /// A `next` key already published: it signs at once.
    Existing(String),
    /// A new key, signing at once.
    New(StoredKey),
}

/// `Ok(true)` when inserted, `Ok(false)` when another writer got there first.
fn inserted_once(result: StoreResult<()>) -> StoreResult<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(other) => Err(other),
    }
}
