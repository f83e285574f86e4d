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

/// Creates the SQLite file readable by its owner only (0600), or narrows an existing
/// one: it holds password hashes and the personal data of every student. SQLite gives
/// the `-wal` and `-shm` files the mode of the database file, so they follow.
pub fn restrict_sqlite_file(path: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if path.is_empty() || path == ":memory:" || path.starts_with("file:") {
        return Ok(());
    }
    let file = std::path::Path::new(path);
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    // Opened (and closed) only when it does not exist yet: closing any descriptor of a
    // file drops every POSIX lock this process holds on it, SQLite's included, so an
    // open database is only ever chmod-ed (by path, no descriptor).
    if !file.exists() {
        let created = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(file);
        match created {
            Ok(_) => {}
            // Another instance starting at the same moment made it: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let side = format!("{path}{suffix}");
        if std::path::Path::new(&side).exists() {
            std::fs::set_permissions(&side, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
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
        // A connection dropped while a panic unwinds may hold an open transaction; one whose
        // last query failed oddly may have lost its server.
        std::thread::panicking() || SUSPECT.with(|suspect| suspect.replace(false))
    }
}

thread_local! {
    /// Set on the thread that ran a query which failed in a way that may have broken its
    /// connection (the server restarted, the network dropped); read when that connection
    /// goes back to the pool, on the same thread, which then drops it. Connections are
    /// not tested with a query at every checkout: that round trip cost every request.
    static SUSPECT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The connection in use on this thread is not to be reused.
pub(crate) fn suspect_connection() {
    SUSPECT.with(|suspect| suspect.set(true));
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
                    // The busy timeout first: switching to WAL waits for an instance
                    // that is migrating the same file instead of failing at once.
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                )
                .map_err(r2d2::Error::QueryError)?;
        }
        Ok(())
    }
}
