//! Device authorizations (RFC 8628), found by device code (polls) or user code (`/device`).

use diesel::prelude::*;

use super::schema::device_grants;
use super::{from_json, to_json, Store, StoreError, StoreResult};
use crate::domain::clock::UnixTime;
use crate::domain::device::{DeviceApproval, DeviceGrant, DevicePoll, DeviceStatus};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = device_grants)]
struct DeviceRow {
    device_code_hash: String,
    user_code_hash: String,
    client_id: String,
    scope: String,
    created_at: i64,
    expires_at: i64,
    interval_secs: i64,
    last_polled_at: Option<i64>,
    status: String,
    identity_id: Option<String>,
    session_id: Option<String>,
    auth_time: Option<i64>,
    acr: Option<String>,
    amr: Option<String>,
}

impl DeviceRow {
    fn into_grant(self) -> StoreResult<DeviceGrant> {
        let status = DeviceStatus::parse(&self.status)
            .ok_or_else(|| StoreError::Corrupt(format!("device grant status {}", self.status)))?;
        let approval = match (
            self.identity_id,
            self.session_id,
            self.auth_time,
            self.acr,
            self.amr,
        ) {
            (Some(identity_id), Some(session_id), Some(auth_time), Some(acr), Some(amr)) => {
                Some(DeviceApproval {
                    identity_id,
                    session_id,
                    auth_time,
                    acr,
                    amr: from_json("amr", &amr)?,
                })
            }
            _ => None,
        };
        Ok(DeviceGrant {
            device_code_hash: self.device_code_hash,
            user_code_hash: self.user_code_hash,
            client_id: self.client_id,
            scope: self.scope,
            created_at: self.created_at,
            expires_at: self.expires_at,
            interval_secs: self.interval_secs,
            status,
            approval,
        })
    }
}

impl Store {
    pub async fn save_device_grant(&self, grant: DeviceGrant) -> StoreResult<()> {
        let row = DeviceRow {
            device_code_hash: grant.device_code_hash,
            user_code_hash: grant.user_code_hash,
            client_id: grant.client_id,
            scope: grant.scope,
            created_at: grant.created_at,
            expires_at: grant.expires_at,
            interval_secs: grant.interval_secs,
            last_polled_at: None,
            status: grant.status.as_str().to_string(),
            identity_id: None,
            session_id: None,
            auth_time: None,
            acr: None,
            amr: None,
        };
        self.write(move |conn| {
            diesel::insert_into(device_grants::table)
                .values(&row)
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    /// The pending, unexpired authorization a typed user code names.
    pub async fn find_pending_device_grant(
        &self,
        user_code_hash: String,
        now: UnixTime,
    ) -> StoreResult<Option<DeviceGrant>> {
        self.run(move |conn| {
            device_grants::table
                .filter(device_grants::user_code_hash.eq(user_code_hash))
                .filter(device_grants::status.eq(DeviceStatus::Pending.as_str()))
                .filter(device_grants::expires_at.gt(now))
                .select(DeviceRow::as_select())
                .first(conn)
                .optional()?
                .map(DeviceRow::into_grant)
                .transpose()
        })
        .await
    }

    /// The person's answer, recorded once: `false` if the code is no longer pending.
    pub async fn decide_device_grant(
        &self,
        user_code_hash: String,
        approval: Option<DeviceApproval>,
        now: UnixTime,
    ) -> StoreResult<bool> {
        self.write(move |conn| {
            let pending = device_grants::table
                .filter(device_grants::user_code_hash.eq(user_code_hash))
                .filter(device_grants::status.eq(DeviceStatus::Pending.as_str()))
                .filter(device_grants::expires_at.gt(now));
            let changed = match approval {
                Some(a) => diesel::update(pending)
                    .set((
                        device_grants::status.eq(DeviceStatus::Approved.as_str()),
                        device_grants::identity_id.eq(a.identity_id),
                        device_grants::session_id.eq(a.session_id),
                        device_grants::auth_time.eq(a.auth_time),
                        device_grants::acr.eq(a.acr),
                        device_grants::amr.eq(to_json(&a.amr)),
                    ))
                    .execute(conn)?,
                None => diesel::update(pending)
                    .set(device_grants::status.eq(DeviceStatus::Denied.as_str()))
                    .execute(conn)?,
            };
            Ok(changed == 1)
        })
        .await
    }

    /// One poll by the device's client. Every outcome is decided in one transaction,
    /// and an approval is spent by a conditional `UPDATE`, so two racing polls cannot
    /// both receive tokens.
    pub async fn poll_device_grant(
        &self,
        device_code_hash: String,
        client_id: String,
        now: UnixTime,
    ) -> StoreResult<DevicePoll> {
        self.write(move |conn| {
            let Some(row) = device_grants::table
                .find(&device_code_hash)
                .filter(device_grants::client_id.eq(&client_id))
                .select(DeviceRow::as_select())
                .first(conn)
                .optional()?
            else {
                return Ok(DevicePoll::Unknown);
            };
            if now >= row.expires_at {
                return Ok(DevicePoll::Expired);
            }
            let this = device_grants::table.find(&device_code_hash);
            if row
                .last_polled_at
                .is_some_and(|last| now - last < row.interval_secs)
            {
                diesel::update(this)
                    .set((
                        device_grants::interval_secs.eq(device_grants::interval_secs + 5),
                        device_grants::last_polled_at.eq(now),
                    ))
                    .execute(conn)?;
                return Ok(DevicePoll::SlowDown);
            }
            diesel::update(this)
                .set(device_grants::last_polled_at.eq(now))
                .execute(conn)?;
            let grant = row.into_grant()?;
            Ok(match grant.status {
                DeviceStatus::Pending => DevicePoll::Pending,
                DeviceStatus::Denied => DevicePoll::Denied,
                DeviceStatus::Redeemed => DevicePoll::AlreadyRedeemed,
                DeviceStatus::Approved => {
                    let spent = diesel::update(
                        this.filter(device_grants::status.eq(DeviceStatus::Approved.as_str())),
                    )
                    .set(device_grants::status.eq(DeviceStatus::Redeemed.as_str()))
                    .execute(conn)?;
                    if spent == 1 {
                        DevicePoll::Approved(Box::new(grant))
                    } else {
                        DevicePoll::AlreadyRedeemed
                    }
                }
            })
        })
        .await
    }
}
