//! Group commit: one writer thread collects the rows that concurrent requests insert into
//! one table and commits them together (on PostgreSQL one multi-row `INSERT`, atomic
//! alone; on SQLite one transaction). Each request still waits for the commit that holds
//! its own row before it answers, so nothing it answered for is lost on a crash; what the
//! requests share is the commit's cost (the WAL write and sync, the wakeups between the
//! async workers and the blocking pool), paid once per batch instead of once per row.
//!
//! A batch refused for one row's content (a row whose client was removed meanwhile, a
//! duplicate) is retried row by row, so each request gets its own row's answer and no
//! other row is lost. A batch that failed for any other reason (the database is away)
//! fails for every row at once: retrying each alone would only wait out the outage once
//! per row. A request never waits for the writer longer than twice `database_wait`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::conn::{AnyConnection, Pool};
use super::{with_pooled_connection, write_transaction, StoreError, StoreResult};

/// The most rows one commit takes; the rest wait for the next.
const MAX_BATCH: usize = 256;

/// Rows waiting for the writer; past that a request is answered 503 at once.
const QUEUE: usize = 4 * MAX_BATCH;

/// Inserts rows of one type; `R` is the table's row struct.
pub(crate) type InsertRows<R> = fn(&mut AnyConnection, &[R]) -> StoreResult<()>;

struct Pending<R> {
    row: R,
    done: oneshot::Sender<StoreResult<()>>,
}

/// The handle requests insert through. Cloned with the store; the writer thread ends when
/// the last clone is dropped.
pub(crate) struct GroupCommit<R> {
    queue: mpsc::Sender<Pending<R>>,
    /// How long a request waits for its commit at most.
    patience: Duration,
}

impl<R> Clone for GroupCommit<R> {
    fn clone(&self) -> Self {
        GroupCommit {
            queue: self.queue.clone(),
            patience: self.patience,
        }
    }
}

impl<R: Send + 'static> GroupCommit<R> {
    /// Starts the writer thread `name`, inserting with `insert` on connections of `pool`
    /// (whose checkout waits at most `database_wait`).
    pub(crate) fn start(
        pool: Pool,
        name: &str,
        insert: InsertRows<R>,
        database_wait: Duration,
    ) -> StoreResult<Self> {
        let (queue, waiting) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || write_batches(pool, waiting, insert))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the {name} thread: {e}")))?;
        Ok(GroupCommit {
            queue,
            // One batch ahead of ours and ours, each waiting for a connection at most.
            patience: 2 * database_wait + Duration::from_secs(1),
        })
    }

    /// Inserts `row`, returning once the commit that holds it is done. A full queue or
    /// a commit that does not come in time is [`StoreError::Unavailable`] (503): a row
    /// committed after its request gave up is a token nobody was given.
    pub(crate) async fn insert(&self, row: R) -> StoreResult<()> {
        let busy = || StoreError::Unavailable("the token writer is behind".into());
        let (done, committed) = oneshot::channel();
        self.queue
            .try_send(Pending { row, done })
            .map_err(|_| busy())?;
        match tokio::time::timeout(self.patience, committed).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(StoreError::Cancelled),
            Err(_) => Err(busy()),
        }
    }
}

/// The writer: waits for a row, takes every row queued behind it (up to `MAX_BATCH`),
/// commits them, answers each, and starts over.
fn write_batches<R>(pool: Pool, mut waiting: mpsc::Receiver<Pending<R>>, insert: InsertRows<R>) {
    let mut batch: Vec<Pending<R>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = waiting.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match waiting.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (rows, answers): (Vec<R>, Vec<_>) = batch.drain(..).map(|p| (p.row, p.done)).unzip();
        // A panic fails this batch (its transaction rolls back with the dropped
        // connection), never the writer: later requests still get their commits.
        let results = catch_unwind(AssertUnwindSafe(|| commit(&pool, &rows, insert)))
            .unwrap_or_else(|_| {
                tracing::error!("the group-commit writer panicked; its batch failed");
                rows.iter().map(|_| Err(StoreError::Cancelled)).collect()
            });
        for (answer, result) in answers.into_iter().zip(results) {
            // A request that gave up waiting needs no answer.
            let _ = answer.send(result);
        }
    }
}

/// One result per row: all `Ok` when the batch committed; each row's own when it was
/// refused for a row's content; the same error for all otherwise.
fn commit<R>(pool: &Pool, rows: &[R], insert: InsertRows<R>) -> Vec<StoreResult<()>> {
    match insert_once(pool, rows, insert) {
        Ok(()) => rows.iter().map(|_| Ok(())).collect(),
        Err(error) if rows.len() == 1 => vec![Err(error)],
        Err(error) if error.is_row_level() => rows
            .iter()
            .map(|row| insert_once(pool, std::slice::from_ref(row), insert))
            .collect(),
        Err(error) => {
            let reason = error.to_string();
            rows.iter()
                .map(|_| Err(StoreError::Unavailable(reason.clone())))
                .collect()
        }
    }
}

/// `rows` in one commit: on SQLite one transaction holding the write lock throughout
/// (the inserter's checks and its inserts see the same database); on PostgreSQL the
/// inserter's statements as they are, a multi-row `INSERT` being atomic alone (no `BEGIN`
/// and `COMMIT` round trips).
fn insert_once<R>(pool: &Pool, rows: &[R], insert: InsertRows<R>) -> StoreResult<()> {
    with_pooled_connection(pool, |conn| match conn {
        AnyConnection::Postgresql(_) => insert(conn, rows),
        AnyConnection::Sqlite(_) => write_transaction(conn, |conn| insert(conn, rows)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conn::{Manager, SqlitePragmas, Target};
    use diesel::connection::SimpleConnection;
    use diesel::RunQueryDsl;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A pool on a SQLite file holding `numbers (n INTEGER PRIMARY KEY CHECK (n <> 17))`.
    fn pool(dir: &tempfile::TempDir) -> Pool {
        let path = dir.path().join("test.db").display().to_string();
        let pool = Pool::builder()
            .max_size(2)
            .connection_customizer(Box::new(SqlitePragmas))
            .build(Manager::new(Target::Sqlite(path)))
            .unwrap();
        pool.get()
            .unwrap()
            .batch_execute("CREATE TABLE numbers (n INTEGER PRIMARY KEY CHECK (n <> 17))")
            .unwrap();
        pool
    }

    fn insert_numbers(conn: &mut AnyConnection, rows: &[i64]) -> StoreResult<()> {
        for n in rows {
            diesel::sql_query(format!("INSERT INTO numbers VALUES ({n})")).execute(conn)?;
        }
        Ok(())
    }

    fn stored(pool: &Pool) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            count: i64,
        }
        let counted: Count = diesel::sql_query("SELECT COUNT(*) AS count FROM numbers")
            .get_result(&mut *pool.get().unwrap())
            .unwrap();
        counted.count
    }

    #[test]
    fn a_row_refused_for_its_content_fails_alone_and_the_others_are_stored() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir);
        let rows: Vec<i64> = (0..40).collect();
        let results = commit(&pool, &rows, insert_numbers);
        for (n, result) in results.iter().enumerate() {
            assert_eq!(result.is_ok(), n != 17, "row {n}: {result:?}");
        }
        assert_eq!(
            stored(&pool),
            39,
            "the batch rolled back, then each row alone"
        );
    }

    #[test]
    fn a_batch_failing_for_the_database_fails_every_row_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir);
        pool.get()
            .unwrap()
            .batch_execute("DROP TABLE numbers")
            .unwrap();
        static CALLS: AtomicUsize = AtomicUsize::new(0);
        fn counted(conn: &mut AnyConnection, rows: &[i64]) -> StoreResult<()> {
            CALLS.fetch_add(1, Ordering::SeqCst);
            insert_numbers(conn, rows)
        }
        let results = commit(&pool, &[1, 2, 3, 4], counted);
        assert!(results
            .iter()
            .all(|r| matches!(r, Err(StoreError::Unavailable(_)))));
        assert_eq!(CALLS.load(Ordering::SeqCst), 1, "not retried row by row");
    }

    #[tokio::test]
    async fn requests_get_their_own_answers_through_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let pool = pool(&dir);
        let writer = GroupCommit::start(
            pool.clone(),
            "test-writer",
            insert_numbers,
            Duration::from_secs(1),
        )
        .unwrap();
        let answers = futures_util::future::join_all((100..164).map(|n| writer.insert(n))).await;
        assert!(answers.iter().all(Result::is_ok));
        assert!(writer.insert(100).await.is_err(), "a duplicate is refused");
        assert_eq!(stored(&pool), 64);
    }
}
