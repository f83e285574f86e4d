//! CAS services and tickets. Tickets are stored by digest; a ticket's own value is kept,
//! sealed, once it validates, only for the single-logout message that names it.

use diesel::prelude::*;

use super::schema::{cas_services, cas_tickets, sessions};
use super::{from_json, new_id, to_json, Store, StoreError, StoreResult};
use crate::domain::cas::{CasService, CasTicket, NewCasService, TicketKind, UrlPattern};
use crate::domain::clock::UnixTime;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = cas_services)]
struct CasServiceRow {
    id: String,
    name: String,
    url_pattern: String,
    attributes: String,
    proxy_allowed: bool,
    logout_url: Option<String>,
    open_to_alumni: bool,
    open_to_parents: bool,
    created_at: i64,
}

impl TryFrom<CasServiceRow> for CasService {
    type Error = StoreError;

    fn try_from(row: CasServiceRow) -> StoreResult<CasService> {
        Ok(CasService {
            url_pattern: UrlPattern::parse(&row.url_pattern)
                .map_err(|e| StoreError::Corrupt(format!("CAS service {}: {e}", row.id)))?,
            attributes: from_json("attributes", &row.attributes)?,
            id: row.id,
            name: row.name,
            proxy_allowed: row.proxy_allowed,
            logout_url: row.logout_url,
            open_to_alumni: row.open_to_alumni,
            open_to_parents: row.open_to_parents,
            created_at: row.created_at,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = cas_tickets)]
struct CasTicketRow {
    ticket_hash: String,
    kind: String,
    service_id: String,
    service: String,
    identity_id: String,
    session_id: String,
    from_new_login: bool,
    proxies: String,
    sealed_ticket: Option<String>,
    created_at: i64,
    expires_at: i64,
    validated_at: Option<i64>,
}

impl TryFrom<CasTicketRow> for CasTicket {
    type Error = StoreError;

    fn try_from(row: CasTicketRow) -> StoreResult<CasTicket> {
        Ok(CasTicket {
            kind: TicketKind::parse(&row.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("CAS ticket kind '{}'", row.kind)))?,
            proxies: from_json("proxies", &row.proxies)?,
            service_id: row.service_id,
            service: row.service,
            identity_id: row.identity_id,
            session_id: row.session_id,
            from_new_login: row.from_new_login,
            expires_at: row.expires_at,
        })
    }
}

/// A ticket to store: `ticket_hash` is the digest of the value handed out.
#[derive(Debug, Clone)]
pub struct NewCasTicket {
    pub ticket_hash: String,
    pub ticket: CasTicket,
}

/// What a validation attempt found.
#[derive(Debug)]
pub enum TicketLookup {
    Unknown,
    /// Validated before (successfully or not): a ticket serves one attempt.
    Spent,
    Found(CasTicket),
}

/// A single-logout message to send: the service, and the ticket it knows the session by.
#[derive(Debug, Clone)]
pub struct CasLogout {
    pub ticket_hash: String,
    pub service_id: String,
    pub service: String,
    pub sealed_ticket: String,
}

impl Store {
    pub async fn add_cas_service(
        &self,
        new: NewCasService,
        now: UnixTime,
    ) -> StoreResult<CasService> {
        let row = CasServiceRow {
            id: new_id(),
            name: new.name.trim().to_string(),
            url_pattern: new.url_pattern.trim().to_string(),
            attributes: to_json(&new.attributes),
            proxy_allowed: new.proxy_allowed,
            logout_url: new.logout_url,
            open_to_alumni: new.open_to_alumni,
            open_to_parents: new.open_to_parents,
            created_at: now,
        };
        self.write(move |conn| {
            diesel::insert_into(cas_services::table)
                .values(&row)
                .execute(conn)?;
            row.try_into()
        })
        .await
    }

    /// Every registered service, oldest first (the order in which URLs are matched).
    pub async fn cas_services(&self) -> StoreResult<Vec<CasService>> {
        self.run(|conn| {
            cas_services::table
                .order((cas_services::created_at.asc(), cas_services::id.asc()))
                .select(CasServiceRow::as_select())
                .load(conn)?
                .into_iter()
                .map(CasService::try_from)
                .collect()
        })
        .await
    }

    /// A service by its id or its name.
    pub async fn find_cas_service(&self, id_or_name: &str) -> StoreResult<Option<CasService>> {
        let key = id_or_name.to_string();
        self.run(move |conn| {
            cas_services::table
                .filter(cas_services::id.eq(&key).or(cas_services::name.eq(&key)))
                .select(CasServiceRow::as_select())
                .first(conn)
                .optional()?
                .map(CasService::try_from)
                .transpose()
        })
        .await
    }

    /// Removes a service with its tickets; whether there was one.
    pub async fn remove_cas_service(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.write(move |conn| {
            diesel::delete(cas_tickets::table.filter(cas_tickets::service_id.eq(&id)))
                .execute(conn)?;
            Ok(diesel::delete(cas_services::table.find(&id)).execute(conn)? == 1)
        })
        .await
    }

    /// Stores a ticket, and deletes those that can no longer serve: expired before
    /// `prune_before` (the start of the oldest session that may still live), so their
    /// sessions, and any single logout they could call for, are over.
    pub async fn insert_cas_ticket(
        &self,
        new: NewCasTicket,
        now: UnixTime,
        prune_before: UnixTime,
    ) -> StoreResult<()> {
        let row = CasTicketRow {
            ticket_hash: new.ticket_hash,
            kind: new.ticket.kind.as_str().to_string(),
            service_id: new.ticket.service_id,
            service: new.ticket.service,
            identity_id: new.ticket.identity_id,
            session_id: new.ticket.session_id,
            from_new_login: new.ticket.from_new_login,
            proxies: to_json(&new.ticket.proxies),
            sealed_ticket: None,
            created_at: now,
            expires_at: new.ticket.expires_at,
            validated_at: None,
        };
        self.write(move |conn| {
            diesel::delete(cas_tickets::table.filter(cas_tickets::expires_at.lt(prune_before)))
                .execute(conn)?;
            diesel::insert_into(cas_tickets::table)
                .values(&row)
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// Spends a service or proxy ticket, keeping its sealed value: the first attempt gets
    /// it (expired or not, for the caller to judge), any later one finds it spent.
    pub async fn spend_cas_ticket(
        &self,
        ticket_hash: &str,
        sealed_ticket: String,
        now: UnixTime,
    ) -> StoreResult<TicketLookup> {
        let ticket_hash = ticket_hash.to_string();
        self.write(move |conn| {
            let spent = diesel::update(
                cas_tickets::table
                    .find(&ticket_hash)
                    .filter(cas_tickets::validated_at.is_null())
                    .filter(cas_tickets::kind.ne(TicketKind::ProxyGranting.as_str())),
            )
            .set((
                cas_tickets::validated_at.eq(Some(now)),
                cas_tickets::sealed_ticket.eq(Some(sealed_ticket)),
            ))
            .execute(conn)?;
            let row: Option<CasTicketRow> = cas_tickets::table
                .find(&ticket_hash)
                .select(CasTicketRow::as_select())
                .first(conn)
                .optional()?;
            match row {
                None => Ok(TicketLookup::Unknown),
                Some(row) if row.kind == TicketKind::ProxyGranting.as_str() => {
                    Ok(TicketLookup::Unknown)
                }
                Some(_) if spent == 0 => Ok(TicketLookup::Spent),
                Some(row) => Ok(TicketLookup::Found(row.try_into()?)),
            }
        })
        .await
    }

    /// After a failed validation, the ticket's value is not kept for single logout.
    pub async fn forget_cas_ticket_value(&self, ticket_hash: &str) -> StoreResult<()> {
        let ticket_hash = ticket_hash.to_string();
        self.write(move |conn| {
            diesel::update(cas_tickets::table.find(ticket_hash))
                .set(cas_tickets::sealed_ticket.eq(None::<String>))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// A proxy-granting ticket, while it and its session live.
    pub async fn find_live_pgt(
        &self,
        ticket_hash: &str,
        now: UnixTime,
    ) -> StoreResult<Option<CasTicket>> {
        let ticket_hash = ticket_hash.to_string();
        self.run(move |conn| {
            cas_tickets::table
                .inner_join(sessions::table.on(sessions::id.eq(cas_tickets::session_id)))
                .filter(cas_tickets::ticket_hash.eq(ticket_hash))
                .filter(cas_tickets::kind.eq(TicketKind::ProxyGranting.as_str()))
                .filter(cas_tickets::expires_at.gt(now))
                .filter(sessions::revoked_at.is_null())
                .filter(sessions::expires_at.gt(now))
                .select(CasTicketRow::as_select())
                .first(conn)
                .optional()?
                .map(CasTicket::try_from)
                .transpose()
        })
        .await
    }

    /// Removes a proxy-granting ticket whose delivery to its `pgtUrl` failed.
    pub async fn delete_cas_ticket(&self, ticket_hash: &str) -> StoreResult<()> {
        let ticket_hash = ticket_hash.to_string();
        self.write(move |conn| {
            diesel::delete(cas_tickets::table.find(ticket_hash)).execute(conn)?;
            Ok(())
        })
        .await
    }

    /// The services to tell that these sessions ended, each once: the tickets validated
    /// in them, whose values are then forgotten. Proxy-granting tickets of these
    /// sessions are deleted.
    pub async fn take_cas_logouts(&self, session_ids: Vec<String>) -> StoreResult<Vec<CasLogout>> {
        self.write(move |conn| {
            let kept: Vec<KeptTicket> = cas_tickets::table
                .filter(cas_tickets::session_id.eq_any(&session_ids))
                .filter(cas_tickets::sealed_ticket.is_not_null())
                .select(KEPT)
                .load(conn)?;
            let logouts = forget_for_logout(conn, kept)?;
            diesel::delete(
                cas_tickets::table
                    .filter(cas_tickets::session_id.eq_any(&session_ids))
                    .filter(cas_tickets::kind.eq(TicketKind::ProxyGranting.as_str())),
            )
            .execute(conn)?;
            Ok(logouts)
        })
        .await
    }

    /// The same for one service of one person (disconnected from the personal space):
    /// the service forgets its sessions, its proxy-granting tickets stop working.
    pub async fn take_cas_logouts_of_service(
        &self,
        identity_id: &str,
        service_id: &str,
    ) -> StoreResult<Vec<CasLogout>> {
        let (identity_id, service_id) = (identity_id.to_string(), service_id.to_string());
        self.write(move |conn| {
            let kept: Vec<KeptTicket> = cas_tickets::table
                .filter(cas_tickets::identity_id.eq(&identity_id))
                .filter(cas_tickets::service_id.eq(&service_id))
                .filter(cas_tickets::sealed_ticket.is_not_null())
                .select(KEPT)
                .load(conn)?;
            let logouts = forget_for_logout(conn, kept)?;
            diesel::delete(
                cas_tickets::table
                    .filter(cas_tickets::identity_id.eq(&identity_id))
                    .filter(cas_tickets::service_id.eq(&service_id))
                    .filter(cas_tickets::kind.eq(TicketKind::ProxyGranting.as_str())),
            )
            .execute(conn)?;
            Ok(logouts)
        })
        .await
    }

    /// The services that hold a session of this person now (a validated ticket not yet
    /// followed by single logout), most recent first, with their last validation.
    pub async fn cas_services_in_use(
        &self,
        identity_id: &str,
    ) -> StoreResult<Vec<(String, String, UnixTime)>> {
        let identity_id = identity_id.to_string();
        self.run(move |conn| {
            let rows: Vec<(String, String, Option<i64>)> = cas_tickets::table
                .inner_join(cas_services::table)
                .filter(cas_tickets::identity_id.eq(identity_id))
                .filter(cas_tickets::sealed_ticket.is_not_null())
                .group_by((cas_services::id, cas_services::name))
                .select((
                    cas_services::id,
                    cas_services::name,
                    diesel::dsl::max(cas_tickets::validated_at),
                ))
                .load(conn)?;
            let mut services: Vec<(String, String, UnixTime)> = rows
                .into_iter()
                .map(|(id, name, at)| (id, name, at.unwrap_or_default()))
                .collect();
            services.sort_by_key(|service| std::cmp::Reverse(service.2));
            Ok(services)
        })
        .await
    }
}

/// A validated ticket whose value is kept: its digest, service id, service URL, value.
type KeptTicket = (String, String, String, Option<String>);

const KEPT: (
    cas_tickets::ticket_hash,
    cas_tickets::service_id,
    cas_tickets::service,
    cas_tickets::sealed_ticket,
) = (
    cas_tickets::ticket_hash,
    cas_tickets::service_id,
    cas_tickets::service,
    cas_tickets::sealed_ticket,
);

/// Forgets the values of these tickets and returns the logout messages they call for.
fn forget_for_logout(
    conn: &mut super::conn::AnyConnection,
    kept: Vec<KeptTicket>,
) -> StoreResult<Vec<CasLogout>> {
    let hashes: Vec<&String> = kept.iter().map(|(hash, ..)| hash).collect();
    diesel::update(cas_tickets::table.filter(cas_tickets::ticket_hash.eq_any(hashes)))
        .set(cas_tickets::sealed_ticket.eq(None::<String>))
        .execute(conn)?;
    Ok(kept
        .into_iter()
        .filter_map(|(ticket_hash, service_id, service, sealed)| {
            Some(CasLogout {
                ticket_hash,
                service_id,
                service,
                sealed_ticket: sealed?,
            })
        })
        .collect())
}
