//! Attributes pushed by other systems, per identity.

use diesel::prelude::*;

use super::schema::identity_attributes;
use super::{Store, StoreResult};
use crate::domain::attribute::Attribute;
use crate::domain::clock::UnixTime;

/// Whether `client_id` may write this attribute: nobody owns it yet, or it does. Each
/// system keeps its own attributes; one cannot rewrite another's tile.
fn owned_by(
    conn: &mut super::conn::AnyConnection,
    identity_id: &str,
    name: &str,
    client_id: &str,
) -> StoreResult<bool> {
    let owner: Option<String> = identity_attributes::table
        .find((identity_id, name))
        .select(identity_attributes::client_id)
        .first(conn)
        .optional()?;
    Ok(owner.is_none_or(|owner| owner == client_id))
}

impl Store {
    /// Sets (or replaces) one attribute of an identity; `false`, and nothing changed,
    /// when another system owns that attribute.
    pub async fn put_attribute(
        &self,
        identity_id: &str,
        attribute: Attribute,
        client_id: &str,
        now: UnixTime,
    ) -> StoreResult<bool> {
        let (identity_id, client_id) = (identity_id.to_string(), client_id.to_string());
        self.write(move |conn| {
            if !owned_by(conn, &identity_id, &attribute.name, &client_id)? {
                return Ok(false);
            }
            // Delete then insert: the same portable upsert on both backends.
            diesel::delete(identity_attributes::table.find((&identity_id, &attribute.name)))
                .execute(conn)?;
            diesel::insert_into(identity_attributes::table)
                .values((
                    identity_attributes::identity_id.eq(&identity_id),
                    identity_attributes::name.eq(&attribute.name),
                    identity_attributes::label.eq(&attribute.label),
                    identity_attributes::value.eq(&attribute.value),
                    identity_attributes::link.eq(&attribute.link),
                    identity_attributes::client_id.eq(&client_id),
                    identity_attributes::updated_at.eq(now),
                ))
                .execute(conn)?;
            Ok(true)
        })
        .await
    }

    /// `false` if there was no such attribute of this system.
    pub async fn delete_attribute(
        &self,
        identity_id: &str,
        name: &str,
        client_id: &str,
    ) -> StoreResult<bool> {
        let (identity_id, name, client_id) = (
            identity_id.to_string(),
            name.to_string(),
            client_id.to_string(),
        );
        self.write(move |conn| {
            let removed = diesel::delete(
                identity_attributes::table
                    .find((identity_id, name))
                    .filter(identity_attributes::client_id.eq(client_id)),
            )
            .execute(conn)?;
            Ok(removed == 1)
        })
        .await
    }

    /// The identity's attributes, by name.
    pub async fn attributes(&self, identity_id: &str) -> StoreResult<Vec<Attribute>> {
        let identity_id = identity_id.to_string();
        self.run(move |conn| {
            let rows: Vec<(String, String, String, Option<String>)> = identity_attributes::table
                .filter(identity_attributes::identity_id.eq(identity_id))
                .order(identity_attributes::name.asc())
                .select((
                    identity_attributes::name,
                    identity_attributes::label,
                    identity_attributes::value,
                    identity_attributes::link,
                ))
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(|(name, label, value, link)| Attribute {
                    name,
                    label,
                    value,
                    link,
                })
                .collect())
        })
        .await
    }
}
