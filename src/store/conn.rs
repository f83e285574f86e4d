//! Connections: one enum over both backends, a pool, and the SQLite pragmas.

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, CustomizeConnection, ManageConnection};
use diesel::{Connection, PgConnection, SqliteConnection};

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

pub type Pool = r2d2::Pool<Manager>;

/// Which backend a database URL selects: `postgres://` or `postgresql://` means
/// PostgreSQL; `sqlite://PATH`, `sqlite:PATH` or a plain path means SQLite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Postgres(String),
    Sqlite(String),
}

impl Target {
    pub fn parse(url: &str) -> Target {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Target::Postgres(url.to_string())
        } else {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url);
            Target::Sqlite(path.to_string())
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Target::Postgres(_) => "postgresql",
            Target::Sqlite(_) => "sqlite",
        }
    }
}

/// Opens connections of the backend the URL names, never falling back to the other one
/// (a derived `establish` would try each backend in turn, and an unreachable PostgreSQL
/// would quietly become a SQLite file).
#[derive(Debug)]
pub struct Manager {
    target: Target,
}

impl Manager {
    pub fn new(target: Target) -> Self {
        Manager { target }
    }
}

impl ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<AnyConnection, r2d2::Error> {
        match &self.target {
            Target::Postgres(url) => PgConnection::establish(url).map(AnyConnection::Postgresql),
            Target::Sqlite(path) => SqliteConnection::establish(path).map(AnyConnection::Sqlite),
        }
        .map_err(r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, _conn: &mut AnyConnection) -> bool {
        // A connection dropped while a panic unwinds may hold an open transaction.
        std::thread::panicking()
    }
}

/// SQLite per-connection settings: WAL so readers never block the writer, NORMAL sync
/// (durable at checkpoints, safe with WAL), a busy timeout instead of instant
/// `SQLITE_BUSY`, and foreign keys, which SQLite leaves off by default.
#[derive(Debug)]
pub struct SqlitePragmas;

impl CustomizeConnection<AnyConnection, r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut AnyConnection) -> Result<(), r2d2::Error> {
        if let AnyConnection::Sqlite(sqlite) = conn {
            sqlite
                .batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
                )
                .map_err(r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}
