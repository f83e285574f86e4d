//! Pushed authorization requests (RFC 9126): the parameters behind a `request_uri`.

use diesel::prelude::*;

use super::schema::pushed_requests;
use super::{from_json, to_json, Store, StoreResult};
use crate::domain::clock::UnixTime;

/// A pushed request, found by its `request_uri` digest.
#[derive(Debug, Clone)]
pub struct PushedRequest {
    pub client_id: String,
    pub parameters: Vec<(String, String)>,
}

impl Store {
    pub async fn save_pushed_request(
        &self,
        uri_hash: String,
        request: PushedRequest,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<()> {
        self.write(move |conn| {
            diesel::insert_into(pushed_requests::table)
                .values((
                    pushed_requests::uri_hash.eq(uri_hash),
                    pushed_requests::client_id.eq(request.client_id),
                    pushed_requests::parameters.eq(to_json(&request.parameters)),
                    pushed_requests::created_at.eq(now),
                    pushed_requests::expires_at.eq(expires_at),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// The request, while it is unexpired and no code was issued from it.
    pub async fn find_pushed_request(
        &self,
        uri_hash: String,
        now: UnixTime,
    ) -> StoreResult<Option<PushedRequest>> {
        self.run(move |conn| {
            let row: Option<(String, String)> = pushed_requests::table
                .find(uri_hash)
                .filter(pushed_requests::expires_at.gt(now))
                .filter(pushed_requests::used_at.is_null())
                .select((pushed_requests::client_id, pushed_requests::parameters))
                .first(conn)
                .optional()?;
            row.map(|(client_id, parameters)| {
                Ok(PushedRequest {
                    client_id,
                    parameters: from_json("parameters", &parameters)?,
                })
            })
            .transpose()
        })
        .await
    }

    /// Spends the request when a code is issued from it: `true` once, `false` after
    /// (a second browser tab, a replayed request_uri), across instances.
    pub async fn consume_pushed_request(
        &self,
        uri_hash: String,
        now: UnixTime,
    ) -> StoreResult<bool> {
        self.write(move |conn| {
            let spent = diesel::update(
                pushed_requests::table
                    .find(uri_hash)
                    .filter(pushed_requests::expires_at.gt(now))
                    .filter(pushed_requests::used_at.is_null()),
            )
            .set(pushed_requests::used_at.eq(now))
            .execute(conn)?;
            Ok(spent == 1)
        })
        .await
    }
}
