//! Remembered consents: which scopes a person let a relying party have.

use diesel::prelude::*;

use super::schema::consents;
use super::{Store, StoreResult};
use crate::domain::clock::UnixTime;
use crate::domain::scope::Scope;

impl Store {
    /// The scopes the person already granted this client, if any.
    pub async fn find_consent(
        &self,
        identity_id: &str,
        client_id: &str,
    ) -> StoreResult<Option<Scope>> {
        let (identity_id, client_id) = (identity_id.to_string(), client_id.to_string());
        self.run(move |conn| {
            let scope: Option<String> = consents::table
                .find((identity_id, client_id))
                .select(consents::scope)
                .first(conn)
                .optional()?;
            Ok(scope.map(|s| Scope::parse_supported(&s)))
        })
        .await
    }

    /// Records a consent, widening any earlier one (delete then insert: portable upsert).
    pub async fn grant_consent(
        &self,
        identity_id: &str,
        client_id: &str,
        scope: &Scope,
        now: UnixTime,
    ) -> StoreResult<()> {
        let (identity_id, client_id) = (identity_id.to_string(), client_id.to_string());
        let scope = scope.clone();
        let result = self
            .write(move |conn| {
                let key = (identity_id.clone(), client_id.clone());
                let previous: Option<String> = consents::table
                    .find(key.clone())
                    .select(consents::scope)
                    .first(conn)
                    .optional()?;
                let merged = match previous {
                    Some(p) => Scope::parse_supported(&p).union(&scope),
                    None => scope,
                };
                diesel::delete(consents::table.find(key)).execute(conn)?;
                diesel::insert_into(consents::table)
                    .values((
                        consents::identity_id.eq(identity_id),
                        consents::client_id.eq(client_id),
                        consents::scope.eq(merged.to_string()),
                        consents::granted_at.eq(now),
                    ))
                    .execute(conn)?;
                Ok(())
            })
            .await;
        match result {
            // Two "allow" clicks at once: the other request recorded the consent.
            Err(super::StoreError::Conflict(_)) => Ok(()),
            other => other,
        }
    }
}

/// A relying party the person let in, as the personal space lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConnectedApp {
    /// The client id, or the CAS service id.
    pub client_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub granted_at: UnixTime,
    /// `oidc` (a consent), `cas` or `saml` (a service holding a session of the person).
    pub protocol: &'static str,
}

impl Store {
    pub async fn connected_apps(&self, identity_id: &str) -> StoreResult<Vec<ConnectedApp>> {
        use super::schema::clients;
        let identity_id = identity_id.to_string();
        self.run(move |conn| {
            let rows: Vec<(String, String, String, i64)> = consents::table
                .inner_join(clients::table)
                .filter(consents::identity_id.eq(identity_id))
                .order(consents::granted_at.desc())
                .select((
                    clients::id,
                    clients::name,
                    consents::scope,
                    consents::granted_at,
                ))
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(|(client_id, name, scope, granted_at)| ConnectedApp {
                    client_id,
                    name,
                    scopes: Scope::parse_supported(&scope)
                        .iter()
                        .map(str::to_string)
                        .collect(),
                    granted_at,
                    protocol: "oidc",
                })
                .collect())
        })
        .await
    }

    /// Withdraws a consent and revokes what the client holds for the person: its access
    /// and refresh tokens and unused codes. `false` if there was no such consent.
    pub async fn withdraw_consent(
        &self,
        identity_id: &str,
        client_id: &str,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let (identity_id, client_id) = (identity_id.to_string(), client_id.to_string());
        self.write(move |conn| {
            let removed =
                diesel::delete(consents::table.find((&identity_id, &client_id))).execute(conn)?;
            if removed == 0 {
                return Ok(false);
            }
            super::lifecycle::revoke_client_grants(conn, &identity_id, &[client_id], now)?;
            Ok(true)
        })
        .await
    }
}
