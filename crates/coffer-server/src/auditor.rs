//! Group commit for audit records: many requests' records share one transaction.
//!
//! A request that must be audited (every read, every refusal, every failure) hands its records
//! to the auditor and waits until they are durable; only then does it answer. The auditor drains
//! everything queued while the previous batch was committing into the next transaction, so under
//! load one fsync covers many requests, and an idle service commits each record at once.

use std::sync::Arc;

use coffer_store::{AuditEntry, AuditStore, StoreError};
use tokio::sync::{mpsc, oneshot};

const MAX_BATCH: usize = 1024;
const QUEUE: usize = 4096;

type Job = (Vec<AuditEntry>, oneshot::Sender<Result<(), String>>);

/// The handle requests use to append audit records.
#[derive(Clone)]
pub(crate) struct Auditor {
    tx: mpsc::Sender<Job>,
}

// === impl Auditor ===

impl Auditor {
    /// Starts the committer task.
    pub(crate) fn spawn(store: Arc<dyn AuditStore>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut jobs = vec![first];
                let mut count = jobs[0].0.len();
                while count < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(job) => {
                            count += job.0.len();
                            jobs.push(job);
                        }
                        Err(_) => break,
                    }
                }
                let batch: Vec<AuditEntry> = jobs.iter().flat_map(|(e, _)| e.iter().cloned()).collect();
                let result = store.append_audit(&batch).await.map_err(|e| e.to_string());
                if let Err(e) = &result {
                    tracing::error!(error = %e, records = batch.len(), "audit log write failed; failing the requests");
                }
                for (_, reply) in jobs {
                    let _ = reply.send(result.clone());
                }
            }
        });
        Self { tx }
    }

    /// Appends records and waits until they are durable.
    pub(crate) async fn append(&self, entries: Vec<AuditEntry>) -> Result<(), StoreError> {
        let (reply, done) = oneshot::channel();
        let gone = || StoreError::unavailable("the audit log writer has stopped");
        self.tx.send((entries, reply)).await.map_err(|_| gone())?;
        done.await.map_err(|_| gone())?.map_err(StoreError::unavailable)
    }
}
