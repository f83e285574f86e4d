//! Storage: a cloneable [`Store`] with methods named by intent. Row structs stay private,
//! signatures use domain types, and every call runs on the blocking pool. Backend-specific
//! SQL appears only here, by matching on [`conn::AnyConnection`], with a comment saying why.

pub mod app_passwords;
pub mod assertions;
pub mod attributes;
pub mod audit;
pub mod cas;
pub mod charters;
pub mod clients;
pub mod conn;
pub mod consents;
pub mod devices;
pub mod enrollment;
pub mod gates;
pub mod grants;
mod group_commit;
pub mod housekeeping;
pub mod identities;
pub mod key_set;
pub mod lifecycle;
pub mod migrate;
pub mod outbox;
pub mod parents;
pub mod pushed;
pub mod refresh;
pub mod registration;
pub mod saml;
pub mod schema;
pub mod second_factor;
pub mod sessions;
pub mod throttles;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::Connection;

use conn::{AnyConnection, Manager, Pool, SqlitePragmas, Target};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database query failed: {0}")]
    Query(DieselError),
    #[error("{0}")]
    Conflict(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the database task was cancelled")]
    Cancelled,
    /// The client a request authenticated from memory was changed or removed since: the
    /// commit refused the request's row (see [`Store::remembered_client`]).
    #[error("the client changed since it was read")]
    ClientChanged,
}

impl StoreError {
    /// An error of one row's content (a duplicate, a missing parent, a broken rule):
    /// another row may still be stored where this one was refused.
    pub(crate) fn is_row_level(&self) -> bool {
        matches!(
            self,
            StoreError::Conflict(_)
                | StoreError::ClientChanged
                | StoreError::Query(DieselError::DatabaseError(
                    DatabaseErrorKind::ForeignKeyViolation
                        | DatabaseErrorKind::NotNullViolation
                        | DatabaseErrorKind::CheckViolation,
                    _
                ))
        )
    }

    /// The database could not be reached or lost the connection: a passing condition,
    /// answered 503 with `Retry-After` rather than 500.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_)
                | StoreError::Query(
                    DieselError::DatabaseError(
                        DatabaseErrorKind::ClosedConnection
                            | DatabaseErrorKind::UnableToSendCommand,
                        _
                    ) | DieselError::BrokenTransactionManager
                        | DieselError::RollbackErrorOnCommit { .. }
                )
        )
    }

    /// Whether the connection that gave this error may be unusable: anything but the
    /// answers a healthy database gives to a query it refuses.
    fn may_break_connection(&self) -> bool {
        match self {
            StoreError::Query(DieselError::NotFound) => false,
            StoreError::Query(DieselError::DatabaseError(kind, _)) => !matches!(
                kind,
                DatabaseErrorKind::UniqueViolation
                    | DatabaseErrorKind::ForeignKeyViolation
                    | DatabaseErrorKind::NotNullViolation
                    | DatabaseErrorKind::CheckViolation
                    | DatabaseErrorKind::SerializationFailure
            ),
            StoreError::Query(_) | StoreError::Unavailable(_) | StoreError::Migration(_) => true,
            StoreError::Conflict(_)
            | StoreError::Corrupt(_)
            | StoreError::Cancelled
            | StoreError::ClientChanged => false,
        }
    }
}

impl From<DieselError> for StoreError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::Conflict(info.message().to_string())
            }
            other => StoreError::Query(other),
        }
    }
}

impl From<diesel::r2d2::PoolError> for StoreError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        StoreError::Unavailable(error.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    pool: Pool,
    backend: &'static str,
    /// client_credentials tokens, the one row a request writes alone, committed in groups.
    access_tokens: group_commit::GroupCommit<grants::PendingAccessToken>,
    /// The clients this instance read for the client_credentials grant.
    remembered_clients: clients::RememberedClients,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Store {
    /// Builds the pool for the backend the URL selects (the commands' one connection).
    pub fn connect(database_url: &str, pool_size: u32) -> StoreResult<Store> {
        Store::connect_waiting(database_url, pool_size, Duration::from_secs(10))
    }

    /// Builds the pool; a request waits at most `wait` for a connection, then fails with
    /// [`StoreError::Unavailable`] (the database is down or every connection is busy).
    pub fn connect_waiting(
        database_url: &str,
        pool_size: u32,
        wait: Duration,
    ) -> StoreResult<Store> {
        crate::crypto::init();
        let target = Target::parse(database_url);
        if let Target::Sqlite(path) = &target {
            conn::restrict_sqlite_file(path)
                .map_err(|e| StoreError::Unavailable(format!("the database file {path}: {e}")))?;
        }
        let backend = target.backend_name();
        let pool = Pool::builder()
            .max_size(pool_size)
            .min_idle(Some(1))
            .connection_timeout(wait)
            // A failed query marks its connection instead (`conn::suspect_connection`).
            .test_on_check_out(false)
            .connection_customizer(Box::new(SqlitePragmas))
            .build(Manager::new(target))
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let access_tokens = group_commit::GroupCommit::start(
            pool.clone(),
            "access-token-writer",
            grants::insert_access_tokens,
            wait,
        )?;
        Ok(Store {
            pool,
            backend,
            access_tokens,
            remembered_clients: clients::RememberedClients::default(),
        })
    }

    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Applies pending migrations (at start and by `etupass migrate`).
    pub async fn migrate(&self) -> StoreResult<Vec<String>> {
        self.run(migrate::run_pending).await
    }

    /// `/readyz`: one round trip to the database.
    pub async fn ping(&self) -> StoreResult<()> {
        self.run(|conn| conn.batch_execute("SELECT 1").map_err(StoreError::from))
            .await
    }

    /// Runs `work` with a pooled connection on the blocking pool, each statement
    /// autocommitted. A write of one statement is atomic alone: it runs here, not in
    /// [`Store::write`], whose BEGIN and COMMIT are two more round trips on PostgreSQL.
    pub(crate) async fn run<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> StoreResult<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || with_pooled_connection(&pool, work))
            .await
            .map_err(|_| StoreError::Cancelled)?
    }

    /// Runs `work` in one write transaction.
    pub(crate) async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> StoreResult<T> + Send + 'static,
    {
        self.run(|conn| write_transaction(conn, work)).await
    }

    /// Runs `work` in one write transaction whose commit does not wait for the disk on
    /// PostgreSQL (`synchronous_commit` off for it alone): for counters whose loss in a
    /// crash costs nothing that matters (a throttle that counts a few attempts less).
    /// The write-ahead log keeps its order, so any durable commit after it (the code
    /// or the token a sign-in hands out) makes it durable too. It spares the commit's
    /// flush, which is most of what a small write costs PostgreSQL. SQLite commits
    /// without a flush already (WAL, `synchronous = NORMAL`).
    pub(crate) async fn write_counters<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> StoreResult<T> + Send + 'static,
    {
        self.run(|conn| match conn {
            AnyConnection::Postgresql(_) => {
                explicit_transaction(conn, "BEGIN; SET LOCAL synchronous_commit TO off", work)
            }
            AnyConnection::Sqlite(_) => write_transaction(conn, work),
        })
        .await
    }
}

/// Runs `work` with a connection of `pool`, on this (blocking) thread. A connection whose
/// query failed in a way that may have broken it is dropped instead of reused.
fn with_pooled_connection<T>(
    pool: &Pool,
    work: impl FnOnce(&mut AnyConnection) -> StoreResult<T>,
) -> StoreResult<T> {
    let mut conn = pool.get()?;
    let result = work(&mut conn);
    if result.as_ref().is_err_and(StoreError::may_break_connection) {
        conn::suspect_connection();
    }
    // Back to the pool here, on this thread, where the mark is read.
    drop(conn);
    result
}

/// One write transaction. On SQLite it starts with `BEGIN IMMEDIATE`: a deferred
/// transaction that reads, then writes, fails with `SQLITE_BUSY` (without waiting) when
/// another writer committed in between; taking the write lock first makes it wait instead.
fn write_transaction<T>(
    conn: &mut AnyConnection,
    work: impl FnOnce(&mut AnyConnection) -> StoreResult<T>,
) -> StoreResult<T> {
    match conn {
        AnyConnection::Postgresql(_) => conn.transaction(work),
        AnyConnection::Sqlite(_) => explicit_transaction(conn, "BEGIN IMMEDIATE", work),
    }
}

/// A transaction opened by `begin` (one round trip, several statements allowed), then
/// committed, or rolled back when `work` fails. Diesel does not see this `BEGIN`: `work`
/// must not open a transaction of its own (diesel's `COMMIT` would end this one).
fn explicit_transaction<T>(
    conn: &mut AnyConnection,
    begin: &str,
    work: impl FnOnce(&mut AnyConnection) -> StoreResult<T>,
) -> StoreResult<T> {
    if let Err(error) = conn.batch_execute(begin) {
        // Part of `begin` may have run (the `BEGIN` of two statements): whatever state
        // the connection is in, it does not go back to the pool.
        conn::suspect_connection();
        return Err(error.into());
    }
    let result = work(conn).and_then(|value| {
        conn.batch_execute("COMMIT")?;
        Ok(value)
    });
    if result.is_err() && conn.batch_execute("ROLLBACK").is_err() {
        // Never hand a connection back to the pool inside a transaction: one that could
        // not roll back is dropped.
        conn::suspect_connection();
    }
    result
}

/// Lists are stored as JSON text, the form both backends share.
fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("lists of strings always serialize")
}

fn from_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
