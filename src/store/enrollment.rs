//! Bulk enrollment: the whole directory of identities loaded once, the rows applied in
//! large transactions. 50,000 rows must import in seconds, not minutes.

use std::collections::HashMap;

use diesel::prelude::*;

use super::audit::insert_audit;
use super::conn::AnyConnection;
use super::schema::identities;
use super::{new_id, Store, StoreResult};
use crate::domain::audit::AuditEvent;
use crate::domain::clock::UnixTime;
use crate::domain::identity::Affiliation;

/// What the importer needs to know of every existing identity.
#[derive(Debug, Clone, Queryable)]
pub struct DirectoryEntry {
    pub id: String,
    pub number: String,
    pub family_name: String,
    pub given_names: String,
    pub birth_date: String,
    pub affiliations: String,
    pub institutional_email: Option<String>,
    pub personal_email: Option<String>,
    pub phone: Option<String>,
    pub postal_address: Option<String>,
    /// JSON list, as stored.
    pub group_names: String,
}

/// A row, decided: create this identity, or update that one.
#[derive(Debug, Clone)]
pub enum EnrollmentChange {
    Create {
        number: String,
        family_name: String,
        given_names: String,
        birth_date: String,
        affiliations: String,
        institutional_email: String,
        personal_email: String,
        phone: Option<String>,
        postal_address: Option<String>,
        group_names: String,
        activation_due_at: UnixTime,
    },
    Update {
        id: String,
        family_name: String,
        given_names: String,
        birth_date: String,
        affiliations: String,
        institutional_email: Option<String>,
        personal_email: String,
        phone: Option<String>,
        postal_address: Option<String>,
        group_names: String,
    },
}

#[derive(Insertable)]
#[diesel(table_name = identities)]
struct NewRow {
    id: String,
    subject: String,
    number: String,
    family_name: String,
    given_names: String,
    birth_date: String,
    affiliations: String,
    institutional_email: Option<String>,
    personal_email: Option<String>,
    status: String,
    created_at: i64,
    updated_at: i64,
    phone: Option<String>,
    must_change_password: bool,
    activation_due_at: Option<i64>,
    postal_address: Option<String>,
    group_names: String,
}

impl Store {
    pub async fn load_directory(&self) -> StoreResult<Vec<DirectoryEntry>> {
        self.run(|conn| {
            Ok(identities::table
                .select((
                    identities::id,
                    identities::number,
                    identities::family_name,
                    identities::given_names,
                    identities::birth_date,
                    identities::affiliations,
                    identities::institutional_email,
                    identities::personal_email,
                    identities::phone,
                    identities::postal_address,
                    identities::group_names,
                ))
                .load(conn)?)
        })
        .await
    }

    /// Applies changes in one transaction: all of them, or (on error) none.
    pub async fn apply_enrollment(
        &self,
        changes: Vec<EnrollmentChange>,
        audit: Option<AuditEvent>,
        now: UnixTime,
    ) -> StoreResult<()> {
        self.write(move |conn| {
            let mut creations = Vec::new();
            for change in changes {
                match change {
                    EnrollmentChange::Create {
                        number,
                        family_name,
                        given_names,
                        birth_date,
                        affiliations,
                        institutional_email,
                        personal_email,
                        phone,
                        postal_address,
                        group_names,
                        activation_due_at,
                    } => creations.push(NewRow {
                        id: new_id(),
                        subject: new_id(),
                        number,
                        family_name,
                        given_names,
                        birth_date,
                        affiliations,
                        institutional_email: Some(institutional_email),
                        personal_email: Some(personal_email),
                        status: "pending_activation".into(),
                        created_at: now,
                        updated_at: now,
                        phone,
                        must_change_password: false,
                        activation_due_at: Some(activation_due_at),
                        postal_address,
                        group_names,
                    }),
                    EnrollmentChange::Update {
                        id,
                        family_name,
                        given_names,
                        birth_date,
                        affiliations,
                        institutional_email,
                        personal_email,
                        phone,
                        postal_address,
                        group_names,
                    } => {
                        diesel::update(identities::table.find(&id))
                            .set((
                                identities::family_name.eq(family_name),
                                identities::given_names.eq(given_names),
                                identities::birth_date.eq(birth_date),
                                identities::affiliations.eq(affiliations),
                                identities::personal_email.eq(Some(personal_email)),
                                identities::phone.eq(phone),
                                identities::postal_address.eq(postal_address),
                                identities::group_names.eq(group_names),
                                identities::updated_at.eq(now),
                            ))
                            .execute(conn)?;
                        if let Some(email) = institutional_email {
                            diesel::update(identities::table.find(&id))
                                .set(identities::institutional_email.eq(Some(email)))
                                .execute(conn)?;
                        }
                    }
                }
            }
            // Batch INSERTs go through the concrete connection: the multi-backend
            // connection cannot express them. PostgreSQL gets one multi-row statement per
            // 500 identities (one round trip instead of 500).
            for chunk in creations.chunks(500) {
                match conn {
                    AnyConnection::Postgresql(pg) => {
                        diesel::insert_into(identities::table)
                            .values(chunk)
                            .execute(pg)?;
                    }
                    AnyConnection::Sqlite(sqlite) => {
                        // Row by row: diesel wraps a SQLite batch in a transaction of its
                        // own, which cannot nest in ours. In-process, that costs little.
                        for row in chunk {
                            diesel::insert_into(identities::table)
                                .values(row)
                                .execute(sqlite)?;
                        }
                    }
                }
            }
            if let Some(audit) = audit {
                insert_audit(conn, &audit)?;
            }
            Ok(())
        })
        .await
    }
}

/// Existing identities indexed the ways a row can name them.
#[derive(Debug, Default)]
pub struct DirectoryIndex {
    pub by_number: HashMap<String, DirectoryEntry>,
    /// (family, given, birth date), lower-cased: for rows that carry no number.
    pub by_civil: HashMap<(String, String, String), Vec<String>>,
    /// Institutional address → number of its owner.
    pub by_email: HashMap<String, String>,
}

impl DirectoryIndex {
    pub fn new(entries: Vec<DirectoryEntry>) -> DirectoryIndex {
        let mut index = DirectoryIndex::default();
        for entry in entries {
            // A parent typed their own civil data: a registrar's row must never match
            // (and take over) a parent's account by name and birth date.
            let parent_only = entry.affiliations == Affiliation::Parent.as_str();
            if !parent_only {
                index
                    .by_civil
                    .entry(civil_key(
                        &entry.family_name,
                        &entry.given_names,
                        &entry.birth_date,
                    ))
                    .or_default()
                    .push(entry.number.clone());
            }
            if let Some(email) = &entry.institutional_email {
                index.by_email.insert(email.clone(), entry.number.clone());
            }
            index.by_number.insert(entry.number.clone(), entry);
        }
        index
    }
}

pub fn civil_key(family: &str, given: &str, birth: &str) -> (String, String, String) {
    (
        family.trim().to_lowercase(),
        given.trim().to_lowercase(),
        birth.to_string(),
    )
}
