//! Migrations, embedded in the binary: one tree per backend, same names, same intent.
//!
//! Several instances may start at once on an empty database: each migration must be
//! applied by one of them only. PostgreSQL serializes them with an advisory lock held
//! while migrating; SQLite has no such lock, so an instance that loses the race (its
//! migration fails because the other applied it) looks again while fewer are pending.

use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::conn::AnyConnection;
use super::StoreError;

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// The advisory lock instances take to migrate (any constant of our own: "etupass").
const MIGRATION_LOCK: i64 = 0x0065_7475_7061_7373;

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
            // Failing because another instance applied it, a migration leaves fewer
            // pending than before: look again. Failing with as many pending, it failed.
            let pending = |c: &mut diesel::SqliteConnection| {
                c.pending_migrations(SQLITE)
                    .map(|p| p.len())
                    .map_err(failed)
            };
            let mut before = pending(c)?;
            loop {
                match c.run_pending_migrations(SQLITE) {
                    Ok(applied) => return Ok(names(applied)),
                    Err(error) => {
                        let now = pending(c)?;
                        if now >= before {
                            return Err(failed(error));
                        }
                        tracing::info!(%error, "another instance is migrating the database; looking again");
                        before = now;
                    }
                }
            }
        }
    }
}

fn names(applied: Vec<diesel::migration::MigrationVersion<'_>>) -> Vec<String> {
    applied.iter().map(|v| v.to_string()).collect()
}
