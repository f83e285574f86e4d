//! Relying parties.

use diesel::prelude::*;

use super::conn::AnyConnection;
use super::schema::clients;
use super::{from_json, new_id, to_json, Store, StoreError, StoreResult};
use crate::domain::client::{Client, NewClient, RefreshLifetimes};
use crate::domain::clock::UnixTime;
use crate::domain::redirect_uri::RedirectUri;

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = clients, treat_none_as_null = true)]
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
    jwks: Option<String>,
    jwks_uri: Option<String>,
    secret_salt: Option<String>,
    require_par: bool,
    refresh_idle_lifetime: Option<i64>,
    refresh_absolute_lifetime: Option<i64>,
    registration_token_hash: Option<String>,
    open_to_alumni: bool,
    attribute_writer: bool,
    released_attributes: String,
    open_to_parents: bool,
    app_password_purposes: String,
    may_introspect: bool,
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
            jwks: row
                .jwks
                .as_deref()
                .map(|text| from_json("jwks", text))
                .transpose()?,
            jwks_uri: row.jwks_uri,
            secret_salt: row.secret_salt,
            require_pushed_authorization_requests: row.require_par,
            refresh_token_lifetimes: match (
                row.refresh_idle_lifetime,
                row.refresh_absolute_lifetime,
            ) {
                (Some(idle), Some(absolute)) => Some(RefreshLifetimes {
                    idle: idle as u64,
                    absolute: absolute as u64,
                }),
                _ => None,
            },
            registration_token_hash: row.registration_token_hash,
            open_to_alumni: row.open_to_alumni,
            open_to_parents: row.open_to_parents,
            attribute_writer: row.attribute_writer,
            may_introspect: row.may_introspect,
            released_attributes: from_json("released_attributes", &row.released_attributes)?,
            app_password_purposes: from_json("app_password_purposes", &row.app_password_purposes)?,
            client_id: row.id,
            name: row.name,
            secret_hash: row.secret_hash,
            public: row.is_public,
            first_party: row.first_party,
            created_at: row.created_at,
        })
    }
}

/// The credentials stored with a client, all digests or salts, never a usable secret.
#[derive(Debug, Default)]
pub struct ClientCredentials {
    pub secret_hash: Option<String>,
    pub secret_salt: Option<String>,
    pub registration_token_hash: Option<String>,
}

impl ClientRow {
    fn new(
        id: String,
        new: NewClient,
        credentials: ClientCredentials,
        created_at: UnixTime,
    ) -> ClientRow {
        // Validated by the caller (`NewClient::validate`); a bad sector cannot reach here.
        let sector = new.pairwise_sector().ok().flatten();
        let uris =
            |list: &[RedirectUri]| to_json(&list.iter().map(|u| u.as_str()).collect::<Vec<_>>());
        ClientRow {
            id,
            name: new.name.trim().to_string(),
            secret_hash: credentials.secret_hash,
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
            created_at,
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
            jwks: new.jwks.as_ref().map(to_json),
            jwks_uri: new.jwks_uri.as_ref().map(|u| u.as_str().to_string()),
            secret_salt: credentials.secret_salt,
            require_par: new.require_par,
            refresh_idle_lifetime: new.refresh_lifetimes.map(|l| l.idle as i64),
            refresh_absolute_lifetime: new.refresh_lifetimes.map(|l| l.absolute as i64),
            registration_token_hash: credentials.registration_token_hash,
            open_to_alumni: new.open_to_alumni,
            open_to_parents: new.open_to_parents,
            attribute_writer: new.attribute_writer,
            may_introspect: new.may_introspect,
            released_attributes: to_json(&new.released_attributes),
            app_password_purposes: to_json(&new.app_password_purposes),
        }
    }
}

impl Store {
    /// Registers a client; the caller has validated it and hashed its secret.
    pub async fn create_client(
        &self,
        new: NewClient,
        credentials: ClientCredentials,
        now: UnixTime,
    ) -> StoreResult<Client> {
        let row = ClientRow::new(new_id(), new, credentials, now);
        self.write(move |conn| {
            diesel::insert_into(clients::table)
                .values(&row)
                .execute(conn)?;
            Client::try_from(row)
        })
        .await
    }

    /// RFC 7592 update: the metadata is replaced, the id, credentials and creation time
    /// are kept. `None` when the client is gone.
    pub async fn replace_client(
        &self,
        client_id: &str,
        new: NewClient,
        credentials: ClientCredentials,
    ) -> StoreResult<Option<Client>> {
        let client_id = client_id.to_string();
        self.write(move |conn| {
            let Some(created_at) = clients::table
                .find(&client_id)
                .select(clients::created_at)
                .first::<i64>(conn)
                .optional()?
            else {
                return Ok(None);
            };
            let row = ClientRow::new(client_id.clone(), new, credentials, created_at);
            diesel::update(clients::table.find(&client_id))
                .set(&row)
                .execute(conn)?;
            Client::try_from(row).map(Some)
        })
        .await
    }

    pub async fn find_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        let client_id = client_id.to_string();
        self.run(move |conn| load_client(conn, &client_id)).await
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

/// A client by id, on the caller's connection.
pub(crate) fn load_client(
    conn: &mut AnyConnection,
    client_id: &str,
) -> StoreResult<Option<Client>> {
    // Client ids are UUIDs: anything else (a NUL byte, a megabyte) is simply unknown,
    // and never reaches PostgreSQL, which would refuse it with an error.
    if client_id.len() > 64 || client_id.chars().any(char::is_control) {
        return Ok(None);
    }
    clients::table
        .find(client_id)
        .select(ClientRow::as_select())
        .first(conn)
        .optional()?
        .map(Client::try_from)
        .transpose()
}
