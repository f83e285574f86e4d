//! Relying parties.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

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
        let id = client_id.to_string();
        let replaced = self
            .write(move |conn| {
                let Some(created_at) = clients::table
                    .find(&id)
                    .select(clients::created_at)
                    .first::<i64>(conn)
                    .optional()?
                else {
                    return Ok(None);
                };
                let row = ClientRow::new(id.clone(), new, credentials, created_at);
                diesel::update(clients::table.find(&id))
                    .set(&row)
                    .execute(conn)?;
                Client::try_from(row).map(Some)
            })
            .await;
        self.forget_client(client_id);
        replaced
    }

    pub async fn find_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        let client_id = client_id.to_string();
        self.run(move |conn| load_client(conn, &client_id)).await
    }

    /// The client as this instance last read it, if it did: no database call. It may be
    /// stale; whoever acts on it must have the action's commit check its revision
    /// ([`Store::save_access_token`]).
    pub fn remembered_client(&self, client_id: &str) -> Option<Arc<RememberedClient>> {
        self.remembered_clients.get(client_id)
    }

    /// The client read from the database with its row's revision, and remembered.
    pub async fn read_and_remember_client(
        &self,
        client_id: &str,
    ) -> StoreResult<Option<Arc<RememberedClient>>> {
        let client_id = client_id.to_string();
        let found = self
            .run(move |conn| load_client_at_revision(conn, &client_id))
            .await?;
        Ok(found.map(|read| self.remembered_clients.remember(read)))
    }

    /// Drops what this instance remembers of a client (found stale by a commit).
    pub fn forget_client(&self, client_id: &str) {
        self.remembered_clients.forget(client_id);
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
        let removed = self
            .write({
                let client_id = client_id.clone();
                move |conn| Ok(diesel::delete(clients::table.find(client_id)).execute(conn)? == 1)
            })
            .await;
        self.forget_client(&client_id);
        removed
    }
}

/// Client ids are UUIDs: anything else (a NUL byte, a megabyte) is simply unknown, and
/// never reaches PostgreSQL, which would refuse it with an error.
fn plausible_client_id(client_id: &str) -> bool {
    client_id.len() <= 64 && !client_id.chars().any(char::is_control)
}

/// A client by id, on the caller's connection.
pub(crate) fn load_client(
    conn: &mut AnyConnection,
    client_id: &str,
) -> StoreResult<Option<Client>> {
    if !plausible_client_id(client_id) {
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

fn load_client_at_revision(
    conn: &mut AnyConnection,
    client_id: &str,
) -> StoreResult<Option<RememberedClient>> {
    if !plausible_client_id(client_id) {
        return Ok(None);
    }
    let Some((row, revision)) = clients::table
        .find(client_id)
        .select((ClientRow::as_select(), clients::revision))
        .first::<(ClientRow, i64)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    Ok(Some(RememberedClient {
        client: Client::try_from(row)?,
        revision,
    }))
}

/// The revisions the rows of `client_ids` have now, on the caller's connection (inside
/// the commit that relies on them). A removed client has none. One query per client
/// (a batch rarely holds more than one or two): each is a prepared statement diesel
/// keeps, where an `IN` list of varying length would be parsed again every time.
pub(crate) fn current_revisions(
    conn: &mut AnyConnection,
    client_ids: &[&str],
) -> StoreResult<HashMap<String, i64>> {
    let mut revisions = HashMap::with_capacity(client_ids.len());
    for id in client_ids {
        let revision = clients::table
            .find(*id)
            .select(clients::revision)
            .first::<i64>(conn)
            .optional()?;
        if let Some(revision) = revision {
            revisions.insert(id.to_string(), revision);
        }
    }
    Ok(revisions)
}

/// A client as read from its row, with the row's revision (new at every write to the
/// row, by a trigger: migration `2026-12-03-000016_client_revision`).
#[derive(Debug)]
pub struct RememberedClient {
    pub client: Client,
    pub revision: i64,
}

/// The clients this instance has read for the client_credentials grant. A service asks
/// for tokens over and over: reading and decoding its row each time was a third of the
/// request's cost. Bounded: past `REMEMBERED_CLIENTS` entries, one is forgotten for
/// each new one.
#[derive(Debug, Default, Clone)]
pub(crate) struct RememberedClients(Arc<RwLock<HashMap<String, Arc<RememberedClient>>>>);

const REMEMBERED_CLIENTS: usize = 1024;

impl RememberedClients {
    fn get(&self, client_id: &str) -> Option<Arc<RememberedClient>> {
        let map = self
            .0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.get(client_id).cloned()
    }

    fn remember(&self, read: RememberedClient) -> Arc<RememberedClient> {
        let read = Arc::new(read);
        let mut map = self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.len() >= REMEMBERED_CLIENTS && !map.contains_key(&read.client.client_id) {
            // Any one makes room: a forgotten client is read again at its next request.
            if let Some(some_id) = map.keys().next().cloned() {
                map.remove(&some_id);
            }
        }
        map.insert(read.client.client_id.clone(), read.clone());
        read
    }

    fn forget(&self, client_id: &str) {
        let mut map = self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.remove(client_id);
    }
}
