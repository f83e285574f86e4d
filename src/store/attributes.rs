//! Attributes pushed by other systems, per identity.

use diesel::prelude::*;

use super::schema::identity_attributes;
use super::{Store, StoreResult};
use crate::domain::attribute::Attribute;
use crate::domain::clock::UnixTime;

impl Store {
    /// Sets (or replaces) one attribute of an identity.
    pub async fn put_attribute(
        &self,
        identity_id: &str,
        attribute: Attribute,
        client_id: &str,
        now: UnixTime,
    ) -> StoreResult<()> {
        let (identity_id, client_id) = (identity_id.to_string(), client_id.to_string());
        self.write(move |conn| {
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
            Ok(())
        })
        .await
    }

    /// `false` if there was no such attribute.
    pub async fn delete_attribute(&self, identity_id: &str, name: &str) -> StoreResult<bool> {
        let (identity_id, name) = (identity_id.to_string(), name.to_string());
        self.write(move |conn| {
            let removed = diesel::delete(identity_attributes::table.find((identity_id, name)))
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
