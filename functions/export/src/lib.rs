//! The background jobs around the core: exports (`services::exports`) and bulk edits of more
//! than 1,000 leads (`services::bulk_jobs`). The S3 trigger on their request prefixes
//! (Lambda) and the local gateway's watched folder run them. The job routes are part of the
//! API (`leadgate_api::routes`), since the API function serves them.

use aws_lambda_events::event::s3::S3Event;
use leadgate_core::bucket_keys::decode_event_key;
use leadgate_core::ports::blob::{BlobKey, BlobStore};
use leadgate_core::ports::clock::Clock;
use leadgate_core::ports::store::LeadStore;
use leadgate_core::services::bulk_jobs::{self, BulkRun, run_bulk_job};
use leadgate_core::services::exports::{ExportRun, REQUEST_PREFIX, run_export};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct ExportDeps {
    pub store: Arc<dyn LeadStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub clock: Arc<dyn Clock>,
    /// Working files of XLSX exports.
    pub scratch: PathBuf,
}

/// Handles an S3 ObjectCreated event on `exports/requests/…`: each request runs its job once.
/// A job another invocation holds is an error, so Lambda retries it after that run's lease
/// (a run that died) and the job is never left behind; a job that failed is an error too.
///
/// `deadline` is when the invocation ends: a bulk-edit job still running near it pauses at a
/// checkpoint and drops its request again for the next invocation.
pub async fn handle_s3_event(
    deps: &ExportDeps,
    event: S3Event,
    deadline: Option<std::time::Instant>,
) -> Result<Vec<ExportRun>, String> {
    let mut out = Vec::new();
    for record in event.records {
        let Some(raw) = record.s3.object.key.as_deref() else {
            continue;
        };
        let key = decode_event_key(raw);
        if key.starts_with(bulk_jobs::REQUEST_PREFIX) {
            let key = BlobKey::parse(&key).map_err(|e| e.to_string())?;
            run_bulk(deps, &key, deadline).await?;
            continue;
        }
        if !key.starts_with(REQUEST_PREFIX) {
            continue;
        }
        let key = BlobKey::parse(&key).map_err(|e| e.to_string())?;
        let run = run_export(&*deps.store, &*deps.blobs, &*deps.clock, &key, &deps.scratch)
            .await
            .map_err(|e| format!("{key}: {e}"))?;
        match &run {
            ExportRun::InProgress => return Err(format!("{key}: an export of this job is in progress")),
            // Failed, so the event is retried and then kept in the dead-letter queue, from
            // which it can be sent again once the tenant is resumed.
            ExportRun::Suspended => return Err(format!("{key}: the tenant is suspended")),
            ExportRun::NotAJob => tracing::warn!(%key, "export request names no job; ignored"),
            ExportRun::Done(_) | ExportRun::AlreadyHandled => {}
        }
        out.push(run);
    }
    Ok(out)
}

/// Runs one bulk-edit job request. As with exports, a job held elsewhere, a suspended tenant
/// or a failure is an error, so Lambda retries the event (and then keeps it in the DLQ).
async fn run_bulk(
    deps: &ExportDeps,
    key: &BlobKey,
    deadline: Option<std::time::Instant>,
) -> Result<(), String> {
    let run = run_bulk_job(&*deps.store, &*deps.blobs, &*deps.clock, key, deadline)
        .await
        .map_err(|e| format!("{key}: {e}"))?;
    match run {
        BulkRun::InProgress => Err(format!("{key}: a run of this bulk edit is in progress")),
        BulkRun::Suspended => Err(format!("{key}: the tenant is suspended")),
        BulkRun::NotAJob => {
            tracing::warn!(%key, "bulk edit request names no job; ignored");
            Ok(())
        }
        BulkRun::Done(_) | BulkRun::AlreadyHandled | BulkRun::Paused => Ok(()),
    }
}

/// The local gateway's stand-in for the S3 trigger: every `interval`, runs each request under
/// `exports/requests/` and `bulk-edits/requests/`. Finished requests are removed, so the folder stays short.
pub async fn watch_folder(deps: ExportDeps, interval: Duration) {
    loop {
        if let Err(e) = scan_once(&deps).await {
            tracing::error!(error = %e, "export folder scan failed");
        }
        tokio::time::sleep(interval).await;
    }
}

/// One scan; the number of exports written.
pub async fn scan_once(deps: &ExportDeps) -> Result<usize, String> {
    let mut after: Option<String> = None;
    let mut done = 0;
    loop {
        let page = deps
            .blobs
            .list(REQUEST_PREFIX, after.as_deref(), 1000)
            .await
            .map_err(|e| e.to_string())?;
        for meta in &page.items {
            match run_export(&*deps.store, &*deps.blobs, &*deps.clock, &meta.key, &deps.scratch).await {
                Ok(ExportRun::Done(_)) => done += 1,
                // A suspended tenant's request stays; a later scan runs it once resumed.
                Ok(
                    ExportRun::AlreadyHandled
                    | ExportRun::InProgress
                    | ExportRun::NotAJob
                    | ExportRun::Suspended,
                ) => {}
                // Retried at the next scan, until the job's attempts run out.
                Err(e) => tracing::warn!(error = %e, "export failed"),
            }
        }
        match page.next_after {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    scan_bulk_edits(deps).await?;
    Ok(done)
}

/// Runs each bulk-edit request under `bulk-edits/requests/`; one that failed stays for the next
/// scan, until its job's attempts run out.
async fn scan_bulk_edits(deps: &ExportDeps) -> Result<(), String> {
    let mut after: Option<String> = None;
    loop {
        let page = deps
            .blobs
            .list(bulk_jobs::REQUEST_PREFIX, after.as_deref(), 1000)
            .await
            .map_err(|e| e.to_string())?;
        for meta in &page.items {
            if let Err(e) = run_bulk(deps, &meta.key, None).await {
                tracing::debug!(error = %e, "bulk edit not run this scan");
            }
        }
        match page.next_after {
            Some(a) => after = Some(a),
            None => return Ok(()),
        }
    }
}
