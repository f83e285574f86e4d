//! Group commit: one writer thread collects the rows that concurrent requests insert into
//! one table and commits them together, in one transaction (one multi-row `INSERT` on
//! PostgreSQL, one round trip). Each request still waits for the commit that holds its
//! own row before it answers, so nothing it answered for is lost on a crash; what the
//! requests share is the commit's cost (the WAL write and sync, the wakeups between the
//! async workers and the blocking pool), paid once per batch instead of once per row.
//!
//! A batch that fails (a row whose client was removed meanwhile, a duplicate) is retried
//! row by row, so each request gets its own row's answer and no other row is lost.

use tokio::sync::{mpsc, oneshot};

use super::conn::{AnyConnection, Pool};
use super::{with_pooled_connection, write_transaction, StoreError, StoreResult};

/// The most rows one commit takes; the rest wait for the next.
const MAX_BATCH: usize = 256;

/// Rows waiting for the writer; a request finding it full waits for room.
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
}

impl<R> Clone for GroupCommit<R> {
    fn clone(&self) -> Self {
        GroupCommit {
            queue: self.queue.clone(),
        }
    }
}

impl<R: Send + 'static> GroupCommit<R> {
    /// Starts the writer thread `name`, inserting with `insert` on connections of `pool`.
    pub(crate) fn start(pool: Pool, name: &str, insert: InsertRows<R>) -> StoreResult<Self> {
        let (queue, waiting) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || write_batches(pool, waiting, insert))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the {name} thread: {e}")))?;
        Ok(GroupCommit { queue })
    }

    /// Inserts `row`, returning once the transaction that holds it has committed.
    pub(crate) async fn insert(&self, row: R) -> StoreResult<()> {
        let (done, committed) = oneshot::channel();
        self.queue
            .send(Pending { row, done })
            .await
            .map_err(|_| StoreError::Cancelled)?;
        committed.await.map_err(|_| StoreError::Cancelled)?
    }
}

/// The writer: waits for a row, takes every row queued behind it (up to `MAX_BATCH`),
/// commits them in one transaction, answers each, and starts over.
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
        for (answer, result) in answers.into_iter().zip(commit(&pool, &rows, insert)) {
            // A request that gave up waiting (its client went away) needs no answer.
            let _ = answer.send(result);
        }
    }
}

/// One result per row: all `Ok` when the batch committed; otherwise each row's own,
/// from inserting it alone.
fn commit<R>(pool: &Pool, rows: &[R], insert: InsertRows<R>) -> Vec<StoreResult<()>> {
    let together = with_pooled_connection(pool, |conn| {
        write_transaction(conn, |conn| insert(conn, rows))
    });
    match together {
        Ok(()) => rows.iter().map(|_| Ok(())).collect(),
        Err(error) if rows.len() == 1 => vec![Err(error)],
        Err(_) => rows
            .iter()
            .map(|row| with_pooled_connection(pool, |conn| insert(conn, std::slice::from_ref(row))))
            .collect(),
    }
}
