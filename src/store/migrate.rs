//! Migrations, embedded in the binary: one tree per backend, same names, same intent.
//!
//! Several instances may start at once on an empty database: each migration must be
//! applied by one of them only. PostgreSQL serializes them with an advisory lock held
//! while migrating; SQLite has no such lock, so an instance that loses the race (its
//! migration fails because the other applied it) looks again at what is still pending.

use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::conn::AnyConnection;
use super::StoreError;

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// The advisory lock instances take to migrate (any constant of our own: "etupass").
const MIGRATION_LOCK: i64 = 0x6574_7570_6173_73;

/// Attempts on SQLite before a failing migration is reported as failing.
const SQLITE_ATTEMPTS: usize = 3;

/// Applies pending migrations; returns the names of those applied.
pub fn run_pending(conn: &mut AnyConnection) -> Result<Vec<String>, StoreError> {
    let failed = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
    match conn {
        AnyConnection::Postgresql(c) => {
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
            let applied = c.run_pending_migrations(POSTGRES).map(names);
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
            applied.map_err(failed)
        }
        AnyConnection::Sqlite(c) => {
            let mut attempt = 1;
            loop {
                match c.run_pending_migrations(SQLITE) {
                    Ok(applied) => return Ok(names(applied)),
                    Err(error) if attempt < SQLITE_ATTEMPTS => {
                        tracing::debug!(%error, "migration raced another instance; looking again");
                        attempt += 1;
                    }
                    Err(error) => return Err(failed(error)),
                }
            }
        }
    }
}

fn names(applied: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    applied.iter().map(|v| v.to_string()).collect()
}
