//! SAML service providers. (The AuthnRequests already answered are kept with the used
//! client assertions: `Store::record_assertion`.)

use diesel::prelude::*;

use super::schema::{saml_service_providers, saml_sessions};
use super::{from_json, new_id, to_json, Store, StoreError, StoreResult};
use crate::domain::clock::UnixTime;
use crate::domain::saml::{ServiceProvider, SpMetadata};

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = saml_service_providers, treat_none_as_null = true)]
struct ServiceProviderRow {
    id: String,
    entity_id: String,
    metadata: String,
    consumers: String,
    signing_certificates: String,
    encryption_certificate: Option<String>,
    logout_services: String,
    authn_requests_signed: bool,
    want_assertions_signed: bool,
    valid_until: Option<i64>,
    attributes: String,
    open_to_alumni: bool,
    open_to_parents: bool,
    source: String,
    created_at: i64,
    refreshed_at: i64,
    sign_response: bool,
    metadata_certificate: Option<String>,
}

impl TryFrom<ServiceProviderRow> for ServiceProvider {
    type Error = StoreError;

    fn try_from(row: ServiceProviderRow) -> StoreResult<ServiceProvider> {
        Ok(ServiceProvider {
            metadata: SpMetadata {
                entity_id: row.entity_id,
                consumers: from_json("consumers", &row.consumers)?,
                signing_certificates: from_json("signing_certificates", &row.signing_certificates)?,
                encryption_certificate: row.encryption_certificate,
                logout_services: from_json("logout_services", &row.logout_services)?,
                authn_requests_signed: row.authn_requests_signed,
                want_assertions_signed: row.want_assertions_signed,
                valid_until: row.valid_until,
            },
            attributes: from_json("attributes", &row.attributes)?,
            id: row.id,
            open_to_alumni: row.open_to_alumni,
            open_to_parents: row.open_to_parents,
            sign_response: row.sign_response,
            metadata_certificate: row.metadata_certificate,
            source: row.source,
            created_at: row.created_at,
        })
    }
}

/// What registering an SP takes: its checked metadata, the document itself, and the
/// administrator's choices.
#[derive(Debug, Clone)]
pub struct NewServiceProvider {
    pub metadata: SpMetadata,
    pub document: String,
    pub attributes: Vec<String>,
    pub open_to_alumni: bool,
    pub open_to_parents: bool,
    pub sign_response: bool,
    pub metadata_certificate: Option<String>,
    pub source: String,
}

fn row_of(id: String, new: NewServiceProvider, created_at: i64, now: i64) -> ServiceProviderRow {
    ServiceProviderRow {
        id,
        entity_id: new.metadata.entity_id,
        metadata: new.document,
        consumers: to_json(&new.metadata.consumers),
        signing_certificates: to_json(&new.metadata.signing_certificates),
        encryption_certificate: new.metadata.encryption_certificate,
        logout_services: to_json(&new.metadata.logout_services),
        authn_requests_signed: new.metadata.authn_requests_signed,
        want_assertions_signed: new.metadata.want_assertions_signed,
        valid_until: new.metadata.valid_until,
        attributes: to_json(&new.attributes),
        open_to_alumni: new.open_to_alumni,
        open_to_parents: new.open_to_parents,
        sign_response: new.sign_response,
        metadata_certificate: new.metadata_certificate,
        source: new.source,
        created_at,
        refreshed_at: now,
    }
}

impl Store {
    pub async fn add_service_provider(
        &self,
        new: NewServiceProvider,
        now: UnixTime,
    ) -> StoreResult<ServiceProvider> {
        let row = row_of(new_id(), new, now, now);
        self.write(move |conn| {
            diesel::insert_into(saml_service_providers::table)
                .values(&row)
                .execute(conn)?;
            row.try_into()
        })
        .await
    }

    /// Replaces an SP's metadata (a refresh), keeping the administrator's choices.
    pub async fn refresh_service_provider(
        &self,
        sp: &ServiceProvider,
        metadata: SpMetadata,
        document: String,
        now: UnixTime,
    ) -> StoreResult<ServiceProvider> {
        let new = NewServiceProvider {
            metadata,
            document,
            attributes: sp.attributes.clone(),
            open_to_alumni: sp.open_to_alumni,
            open_to_parents: sp.open_to_parents,
            sign_response: sp.sign_response,
            metadata_certificate: sp.metadata_certificate.clone(),
            source: sp.source.clone(),
        };
        let row = row_of(sp.id.clone(), new, sp.created_at, now);
        self.write(move |conn| {
            diesel::update(saml_service_providers::table.find(row.id.clone()))
                .set(&row)
                .execute(conn)?;
            row.try_into()
        })
        .await
    }

    pub async fn service_providers(&self) -> StoreResult<Vec<ServiceProvider>> {
        self.run(|conn| {
            saml_service_providers::table
                .order(saml_service_providers::created_at.asc())
                .select(ServiceProviderRow::as_select())
                .load(conn)?
                .into_iter()
                .map(ServiceProvider::try_from)
                .collect()
        })
        .await
    }

    /// An SP by its entity ID, as a message names it.
    pub async fn find_service_provider_by_entity_id(
        &self,
        entity_id: &str,
    ) -> StoreResult<Option<ServiceProvider>> {
        let entity_id = entity_id.to_string();
        self.run(move |conn| {
            saml_service_providers::table
                .filter(saml_service_providers::entity_id.eq(&entity_id))
                .select(ServiceProviderRow::as_select())
                .first(conn)
                .optional()?
                .map(ServiceProvider::try_from)
                .transpose()
        })
        .await
    }

    /// An SP by its entity ID (or, from the command line, its id).
    pub async fn find_service_provider(&self, key: &str) -> StoreResult<Option<ServiceProvider>> {
        let key = key.to_string();
        self.run(move |conn| {
            saml_service_providers::table
                .filter(
                    saml_service_providers::entity_id
                        .eq(&key)
                        .or(saml_service_providers::id.eq(&key)),
                )
                .select(ServiceProviderRow::as_select())
                .first(conn)
                .optional()?
                .map(ServiceProvider::try_from)
                .transpose()
        })
        .await
    }

    pub async fn remove_service_provider(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.write(move |conn| {
            Ok(diesel::delete(saml_service_providers::table.find(id)).execute(conn)? == 1)
        })
        .await
    }
}

/// An SP that received an assertion in a session: what single logout names.
#[derive(Debug, Clone)]
pub struct SamlParticipant {
    pub sp_id: String,
    pub name_id: String,
    pub name_id_format: String,
    pub session_index: String,
}

impl Store {
    /// Records that `sp_id` received an assertion in `session_id`.
    pub async fn record_saml_participant(
        &self,
        session_id: &str,
        identity_id: &str,
        participant: SamlParticipant,
        now: UnixTime,
    ) -> StoreResult<()> {
        let (session_id, identity_id) = (session_id.to_string(), identity_id.to_string());
        self.write(move |conn| {
            diesel::insert_into(saml_sessions::table)
                .values((
                    saml_sessions::id.eq(new_id()),
                    saml_sessions::session_id.eq(session_id),
                    saml_sessions::identity_id.eq(identity_id),
                    saml_sessions::sp_id.eq(participant.sp_id),
                    saml_sessions::name_id.eq(participant.name_id),
                    saml_sessions::name_id_format.eq(participant.name_id_format),
                    saml_sessions::session_index.eq(participant.session_index),
                    saml_sessions::created_at.eq(now),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// The SPs of these sessions not yet told of their end, marked told (each once).
    pub async fn take_saml_participants(
        &self,
        session_ids: Vec<String>,
        now: UnixTime,
    ) -> StoreResult<Vec<SamlParticipant>> {
        self.write(move |conn| {
            let rows: Vec<ParticipantRow> = saml_sessions::table
                .filter(saml_sessions::session_id.eq_any(&session_ids))
                .filter(saml_sessions::ended_at.is_null())
                .select(PARTICIPANT)
                .load(conn)?;
            mark_ended(conn, rows, now)
        })
        .await
    }
}

impl Store {
    /// The sessions in which `sp_id` was given `name_id` and not yet told of an end,
    /// marked told: the SP asked for that logout itself.
    pub async fn take_saml_sessions_of(
        &self,
        sp_id: &str,
        name_id: &str,
        now: UnixTime,
    ) -> StoreResult<Vec<String>> {
        let (sp_id, name_id) = (sp_id.to_string(), name_id.to_string());
        self.write(move |conn| {
            let rows: Vec<(String, String)> = saml_sessions::table
                .filter(saml_sessions::sp_id.eq(&sp_id))
                .filter(saml_sessions::name_id.eq(&name_id))
                .filter(saml_sessions::ended_at.is_null())
                .select((saml_sessions::id, saml_sessions::session_id))
                .load(conn)?;
            let ids: Vec<&String> = rows.iter().map(|(id, _)| id).collect();
            diesel::update(saml_sessions::table.filter(saml_sessions::id.eq_any(ids)))
                .set(saml_sessions::ended_at.eq(Some(now)))
                .execute(conn)?;
            let mut sessions: Vec<String> = rows.into_iter().map(|(_, session)| session).collect();
            sessions.dedup();
            Ok(sessions)
        })
        .await
    }
}

impl Store {
    /// The same as `take_saml_participants`, for one SP of one person, whatever the session.
    pub async fn take_saml_participants_of(
        &self,
        identity_id: &str,
        sp_id: &str,
        now: UnixTime,
    ) -> StoreResult<Vec<SamlParticipant>> {
        let (identity_id, sp_id) = (identity_id.to_string(), sp_id.to_string());
        self.write(move |conn| {
            let rows: Vec<ParticipantRow> = saml_sessions::table
                .filter(saml_sessions::identity_id.eq(&identity_id))
                .filter(saml_sessions::sp_id.eq(&sp_id))
                .filter(saml_sessions::ended_at.is_null())
                .select(PARTICIPANT)
                .load(conn)?;
            mark_ended(conn, rows, now)
        })
        .await
    }

    /// The SPs that hold a session of this person now, with their last assertion.
    pub async fn saml_sps_in_use(
        &self,
        identity_id: &str,
    ) -> StoreResult<Vec<(String, String, UnixTime)>> {
        let identity_id = identity_id.to_string();
        self.run(move |conn| {
            let rows: Vec<(String, String, Option<i64>)> = saml_sessions::table
                .inner_join(saml_service_providers::table)
                .filter(saml_sessions::identity_id.eq(identity_id))
                .filter(saml_sessions::ended_at.is_null())
                .group_by((
                    saml_service_providers::id,
                    saml_service_providers::entity_id,
                ))
                .select((
                    saml_service_providers::id,
                    saml_service_providers::entity_id,
                    diesel::dsl::max(saml_sessions::created_at),
                ))
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(|(id, name, at)| (id, name, at.unwrap_or_default()))
                .collect())
        })
        .await
    }
}

/// A `saml_sessions` row's id and what single logout names.
type ParticipantRow = (String, String, String, String, String);

const PARTICIPANT: (
    saml_sessions::id,
    saml_sessions::sp_id,
    saml_sessions::name_id,
    saml_sessions::name_id_format,
    saml_sessions::session_index,
) = (
    saml_sessions::id,
    saml_sessions::sp_id,
    saml_sessions::name_id,
    saml_sessions::name_id_format,
    saml_sessions::session_index,
);

/// Marks these `saml_sessions` rows told of their end and returns what names them.
fn mark_ended(
    conn: &mut super::conn::AnyConnection,
    rows: Vec<ParticipantRow>,
    now: UnixTime,
) -> StoreResult<Vec<SamlParticipant>> {
    let ids: Vec<&String> = rows.iter().map(|row| &row.0).collect();
    diesel::update(saml_sessions::table.filter(saml_sessions::id.eq_any(ids)))
        .set(saml_sessions::ended_at.eq(Some(now)))
        .execute(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(_, sp_id, name_id, name_id_format, session_index)| SamlParticipant {
                sp_id,
                name_id,
                name_id_format,
                session_index,
            },
        )
        .collect())
}
