//! `last_used_at`, recorded off the request path.
//!
//! Authentication only reads. A successful check drops a note in a bounded channel; one
//! background thread with its own connection writes the notes in batches, and a note that
//! cannot be written (the database is locked by another writer for longer than its busy
//! timeout, the channel is full) is dropped: a usage timestamp is worth less than an answer.

use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use rusqlite::{Connection, params};

/// Notes waiting at most; more are dropped.
const QUEUE: usize = 4096;

/// What was used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Used {
    Client,
    Key,
}

/// The sending side: cheap to clone, never blocks.
#[derive(Clone)]
pub(crate) struct UsageRecorder(SyncSender<(Used, String, u64)>);

impl UsageRecorder {
    /// Starts the writer thread on its own connection to `db`.
    pub(crate) fn start(db: &Path) -> Result<Self, rusqlite::Error> {
        let connection = Connection::open(db)?;
        connection.busy_timeout(Duration::from_secs(5))?;
        let (sender, receiver) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("authstar-usage".into())
            .spawn(move || write_notes(&connection, &receiver))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Self(sender))
    }

    /// Notes a use; drops it when the writer is behind.
    pub(crate) fn note(&self, used: Used, id: &str, at: u64) {
        match self.0.try_send((used, id.to_owned(), at)) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                tracing::debug!("authstar registry: usage queue full, a last_used_at note dropped");
            }
        }
    }
}

/// Until every sender is gone: waits for a note, takes whatever else is queued, writes them
/// in one transaction.
fn write_notes(connection: &Connection, receiver: &Receiver<(Used, String, u64)>) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        batch.extend(receiver.try_iter().take(QUEUE));
        if let Err(error) = write_batch(connection, &batch) {
            tracing::debug!(%error, notes = batch.len(), "authstar registry: last_used_at not recorded");
        }
    }
}

fn write_batch(connection: &Connection, batch: &[(Used, String, u64)]) -> rusqlite::Result<()> {
    let transaction = connection.unchecked_transaction()?;
    for (used, id, at) in batch {
        let sql = match used {
            Used::Client => "UPDATE clients SET last_used_at = ?2 WHERE client_id = ?1",
            Used::Key => "UPDATE api_keys SET last_used_at = ?2 WHERE key_id = ?1",
        };
        transaction.execute(sql, params![id, at])?;
    }
    transaction.commit()
}
