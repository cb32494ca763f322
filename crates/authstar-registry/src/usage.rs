//! `last_used_at`, recorded off the request path.
//!
//! Authentication only reads. A successful check drops a note in a bounded channel; one
//! background task writes the notes in batches, and a note that cannot be written (the database
//! is busy or unreachable, the channel is full) is dropped: a usage timestamp is worth less
//! than an answer.

use std::sync::Arc;

use tokio::sync::mpsc::{Receiver, Sender, channel, error::TrySendError};

use crate::store::{Store, Usage};

/// Notes waiting at most; more are dropped.
const QUEUE: usize = 4096;

/// The sending side: cheap to clone, never blocks.
#[derive(Clone, Debug)]
pub(crate) struct UsageRecorder(Sender<Usage>);

impl UsageRecorder {
    /// Starts the writer task; it ends when every recorder is dropped.
    pub(crate) fn start(store: Arc<dyn Store>) -> Self {
        let (sender, receiver) = channel(QUEUE);
        tokio::spawn(write_notes(store, receiver));
        Self(sender)
    }

    /// Notes a use; drops it when the writer is behind.
    pub(crate) fn note(&self, used: Usage) {
        match self.0.try_send(used) {
            Ok(()) | Err(TrySendError::Closed(_)) => {}
            Err(TrySendError::Full(_)) => {
                tracing::debug!("authstar registry: usage queue full, a last_used_at note dropped");
            }
        }
    }
}

/// Until every sender is gone: waits for a note, takes whatever else is queued, writes them
/// in one transaction.
async fn write_notes(store: Arc<dyn Store>, mut receiver: Receiver<Usage>) {
    let mut batch = Vec::new();
    while receiver.recv_many(&mut batch, QUEUE).await > 0 {
        if let Err(error) = store.record_usage(&batch).await {
            tracing::debug!(%error, notes = batch.len(), "authstar registry: last_used_at not recorded");
        }
        batch.clear();
    }
}
