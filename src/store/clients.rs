//! Relying parties.

use diesel::prelude::*;

use super::schema::clients;
use super::{from_json, new_id, to_json, Store, StoreError, StoreResult};
use crate::domain::client::{Client, NewClient};
use crate::domain::clock::UnixTime;
use crate::domain::redirect_uri::RedirectUri;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = clients)]
struct ClientRow {
    id: String,
    name: String,
    secret_hash: Option<String>,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    grant_types: String,
    auth_method: String,
    is_public: bool,
    first_party: bool,
    id_token_alg: String,
    created_at: i64,
    access_token_format: String,
    backchannel_logout_uri: Option<String>,
    subject_type: String,
    sector: Option<String>,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;

    fn try_from(row: ClientRow) -> StoreResult<Client> {
        let corrupt =
            |e: crate::domain::Invalid| StoreError::Corrupt(format!("client {}: {e}", row.id));
        let uris = |column: &str, text: &str| -> StoreResult<Vec<RedirectUri>> {
            let raw: Vec<String> = from_json(column, text)?;
            raw.iter()
                .map(|u| RedirectUri::parse(u).map_err(corrupt))
                .collect()
        };
        let grant_types: Vec<String> = from_json("grant_types", &row.grant_types)?;
        Ok(Client {
            redirect_uris: uris("redirect_uris", &row.redirect_uris)?,
            post_logout_redirect_uris: uris(
                "post_logout_redirect_uris",
                &row.post_logout_redirect_uris,
            )?,
            grant_types: grant_types
                .iter()
                .map(|g| g.parse().map_err(corrupt))
                .collect::<StoreResult<_>>()?,
            token_endpoint_auth_method: row.auth_method.parse().map_err(corrupt)?,
            id_token_signed_response_alg: row.id_token_alg.parse().map_err(corrupt)?,
            access_token_format: row.access_token_format.parse().map_err(corrupt)?,
            pairwise_sector: match row.subject_type.as_str() {
                "pairwise" => Some(row.sector.clone().unwrap_or_default()),
                _ => None,
            },
            backchannel_logout_uri: row
                .backchannel_logout_uri
                .as_deref()
                .map(|u| RedirectUri::parse(u).map_err(corrupt))
                .transpose()?,
            client_id: row.id,
            name: row.name,
            secret_hash: row.secret_hash,
            public: row.is_public,
            first_party: row.first_party,
            created_at: row.created_at,
        })
    }
}

impl Store {
    /// Registers a client; the caller has validated it and hashed its secret.
    pub async fn create_client(
        &self,
        new: NewClient,
        secret_hash: Option<String>,
        now: UnixTime,
    ) -> StoreResult<Client> {
        // Validated by the caller (`NewClient::validate`); a bad sector cannot reach here.
        let sector = new.pairwise_sector().ok().flatten();
        let uris =
            |list: &[RedirectUri]| to_json(&list.iter().map(|u| u.as_str()).collect::<Vec<_>>());
        let row = ClientRow {
            id: new_id(),
            name: new.name.trim().to_string(),
            secret_hash,
            redirect_uris: uris(&new.redirect_uris),
            post_logout_redirect_uris: uris(&new.post_logout_redirect_uris),
            grant_types: to_json(
                &new.grant_types
                    .iter()
                    .map(|g| g.as_str())
                    .collect::<Vec<_>>(),
            ),
            auth_method: new.auth_method.as_str().to_string(),
            is_public: new.public,
            first_party: new.first_party,
            id_token_alg: new.id_token_alg.as_str().to_string(),
            created_at: now,
            access_token_format: new.access_token_format.as_str().to_string(),
            backchannel_logout_uri: new
                .backchannel_logout_uri
                .as_ref()
                .map(|u| u.as_str().to_string()),
            subject_type: if sector.is_some() {
                "pairwise"
            } else {
                "public"
            }
            .to_string(),
            sector,
        };
        self.write(move |conn| {
            diesel::insert_into(clients::table)
                .values(&row)
                .execute(conn)?;
            Client::try_from(row)
        })
        .await
    }

    pub async fn find_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        // Client ids are UUIDs: anything else (a NUL byte, a megabyte) is simply unknown,
        // and never reaches PostgreSQL, which would refuse it with an error.
        if client_id.len() > 64 || client_id.chars().any(char::is_control) {
            return Ok(None);
        }
        let client_id = client_id.to_string();
        self.run(move |conn| {
            clients::table
                .find(client_id)
                .select(ClientRow::as_select())
                .first(conn)
                .optional()?
                .map(Client::try_from)
                .transpose()
        })
        .await
    }

    pub async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        self.run(|conn| {
            clients::table
                .order(clients::created_at.asc())
                .select(ClientRow::as_select())
                .load(conn)?
                .into_iter()
                .map(Client::try_from)
                .collect()
        })
        .await
    }

    /// Removes a client and, by cascade, its codes, tokens and consents.
    pub async fn remove_client(&self, client_id: &str) -> StoreResult<bool> {
        let client_id = client_id.to_string();
        self.write(move |conn| {
            let removed = diesel::delete(clients::table.find(client_id)).execute(conn)?;
            Ok(removed == 1)
        })
        .await
    }
}
