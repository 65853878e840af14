//! The local bucket folder's stand-in for S3's ObjectCreated notification on `attachments/`:
//! each file uploaded through a presigned URL is reported here once stored, and goes on its
//! lead's timeline (`services::attachments::arrived`), as the import function does on AWS.
//!
//! A notice lost to a crash between the upload and this task leaves the file stored and
//! listed but not on the timeline; S3's notifications, retried by Lambda, do not lose it.

use leadgate_core::adapters::local_blob::LocalBlobStore;
use leadgate_core::ports::blob::BlobMeta;
use leadgate_core::ports::clock::Clock;
use leadgate_core::ports::store::LeadStore;
use leadgate_core::services::attachments;
use std::sync::Arc;
use std::time::Duration;

/// Starts the task that records arrivals, and points the local bucket's uploads at it.
pub fn record_arrivals(local: &LocalBlobStore, store: Arc<dyn LeadStore>, clock: Arc<dyn Clock>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<BlobMeta>();
    local.notify_uploads(tx);
    tokio::spawn(async move {
        while let Some(meta) = rx.recv().await {
            if !meta
                .key
                .as_str()
                .starts_with(leadgate_core::bucket_keys::ATTACHMENTS)
            {
                continue;
            }
            // A store hiccup is retried a few times, as Lambda retries an S3 event.
            for attempt in 1..=3u32 {
                match attachments::arrived(&*store, &*clock, &meta.key, meta.size).await {
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, attempt, "an attachment's arrival could not be recorded");
                        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
                    }
                }
            }
        }
    });
}
