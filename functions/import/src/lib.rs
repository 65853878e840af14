//! Bulk import around the core pipeline (`leadgate_core::services::imports`, which also holds
//! the continuation protocol): the S3 trigger (Lambda) and the local gateway's watched folder. The import-job routes and the template are part of the API
//! (`leadgate_api::routes::imports`), since the API function serves them.
//! Large files go in chunks: see `handle_s3_event`.

use aws_lambda_events::event::s3::S3Event;
use futures::FutureExt;
use leadgate_core::bucket_keys;
use leadgate_core::import::ImportOptions;
use leadgate_core::ports::blob::{BlobKey, BlobStore};
use leadgate_core::ports::clock::Clock;
use leadgate_core::ports::store::LeadStore;
use leadgate_core::services::attachments;
use leadgate_core::services::imports::pipeline::Budget;
use leadgate_core::services::imports::{ObjectImport, import_object, leave_continuation, read_continuation};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct ImportDeps {
    pub store: Arc<dyn LeadStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub clock: Arc<dyn Clock>,
    /// Where files are downloaded to while they import.
    pub scratch: PathBuf,
}

pub use leadgate_core::bucket_keys::decode_event_key as decode_s3_key;

pub use leadgate_core::services::imports::CONTINUE_PREFIX;

/// Time kept back from a Lambda's deadline for the last checkpoint and the marker.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(90);

/// Handles an S3 ObjectCreated event: each `imports/…` object is imported once per version;
/// each `imports-continue/…` marker goes on with a paused import; each `attachments/…` object
/// goes on its lead's timeline once. `deadline` is when the
/// invocation ends: an import still running near it pauses at a checkpoint and leaves a
/// marker for the next invocation. Errors are returned (so Lambda retries and then
/// dead-letters the event); the per-object claim makes the retry safe.
pub async fn handle_s3_event(
    deps: &ImportDeps,
    event: S3Event,
    deadline: Option<Instant>,
) -> Result<Vec<ObjectImport>, String> {
    let budget = Budget {
        deadline: deadline.map(|d| d.checked_sub(DEADLINE_MARGIN).unwrap_or(d)),
        max_rows: None,
    };
    let mut out = Vec::new();
    for record in event.records {
        let Some(raw) = record.s3.object.key.as_deref() else {
            continue;
        };
        let raw_key = decode_s3_key(raw);
        // An attachment uploaded to a lead: it goes on the lead's timeline, once.
        if raw_key.starts_with(bucket_keys::ATTACHMENTS) {
            let key = BlobKey::parse(&raw_key).map_err(|e| e.to_string())?;
            let size = record.s3.object.size.unwrap_or_default().max(0) as u64;
            attachments::arrived(&*deps.store, &*deps.clock, &key, size)
                .await
                .map_err(|e| format!("{key}: {e}"))?;
            continue;
        }
        let (key, etag) = if raw_key.starts_with(CONTINUE_PREFIX) {
            let marker = BlobKey::parse(&raw_key).map_err(|e| e.to_string())?;
            let c = read_continuation(&*deps.blobs, &marker)
                .await
                .map_err(|e| e.to_string())?;
            (c.key, c.etag)
        } else if raw_key.starts_with(bucket_keys::IMPORTS) {
            let etag = record
                .s3
                .object
                .e_tag
                .clone()
                .or(record.s3.object.version_id.clone())
                .unwrap_or_default();
            (raw_key, etag)
        } else {
            continue;
        };
        let key = BlobKey::parse(&key).map_err(|e| e.to_string())?;
        let r = import_object(
            &*deps.store,
            &*deps.blobs,
            &*deps.clock,
            &key,
            &etag,
            ImportOptions::default(),
            &deps.scratch,
            budget,
        )
        .await
        .map_err(|e| format!("{key}: {e}"))?;
        match &r {
            ObjectImport::Paused { rows_done } => {
                leave_continuation(&*deps.blobs, &key, &etag, &rows_done.to_string())
                    .await
                    .map_err(|e| format!("{key}: {e}"))?;
                tracing::info!(rows_done, "import paused at a checkpoint; continuation left");
            }
            // Another invocation holds the lease: fail, so Lambda retries after the lease of
            // a run that died has run out.
            ObjectImport::InProgress => {
                return Err(format!("{key}: an import of this object is in progress"));
            }
            // A failed job is terminal and says why: retrying the event changes nothing.
            ObjectImport::Done(_) | ObjectImport::AlreadyHandled | ObjectImport::Failed { .. } => {}
        }
        out.push(r);
    }
    Ok(out)
}

/// Files known to be complete before a scan could tell (the gateway's filesystem
/// notifications: a file closed after writing, or moved in), and the signal that wakes the
/// watcher for them.
#[derive(Clone, Default)]
pub struct Arrivals {
    /// Bucket keys (`imports/…`) of complete files, each with its version (etag) when it was
    /// complete: a file written again since is a version no event vouched for.
    pub complete: Arc<Mutex<HashMap<String, String>>>,
    pub wake: Arc<tokio::sync::Notify>,
}

impl Arrivals {
    /// Says that the object at `key` was complete at version `etag`, and wakes the watcher.
    pub fn arrived(&self, key: String, etag: String) {
        self.complete
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, etag);
        self.wake.notify_one();
    }
}

/// The local gateway's stand-in for the S3 trigger: imports each object under `imports/`
/// not imported yet at its current version, when `arrivals` says a file is complete, and
/// every `interval` (the fallback when notifications are missing or dropped). A run that
/// was killed is taken over by a later scan once its lease has run out.
///
/// A file found by a scan alone is imported once it has kept its size and modification time
/// for one interval: one still being copied into the folder is left for the next scan (S3
/// only announces complete objects, a folder does not).
pub async fn watch_folder(deps: ImportDeps, interval: Duration, arrivals: Arrivals) {
    let mut last_seen = HashMap::new();
    loop {
        if let Err(e) = scan(&deps, Some((&mut last_seen, &arrivals))).await {
            tracing::error!(error = %e, "import folder scan failed");
        }
        tokio::select! {
            _ = arrivals.wake.notified() => {}
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// One scan that imports every object now (tests, and objects known to be complete).
pub async fn scan_once(deps: &ImportDeps) -> Result<usize, String> {
    scan(deps, None).await
}

/// Imports what is ready: with `settled` (the last scan's versions and the arrivals), an
/// object whose version has not changed since the last scan or that arrived complete;
/// without it, every object.
async fn scan(
    deps: &ImportDeps,
    mut settled: Option<(&mut HashMap<String, String>, &Arrivals)>,
) -> Result<usize, String> {
    let complete: HashMap<String, String> = match &settled {
        Some((_, arrivals)) => {
            std::mem::take(&mut *arrivals.complete.lock().unwrap_or_else(|e| e.into_inner()))
        }
        None => HashMap::new(),
    };
    let mut after: Option<String> = None;
    let mut done = 0;
    let mut now_seen = HashMap::new();
    loop {
        let page = deps
            .blobs
            .list(bucket_keys::IMPORTS, after.as_deref(), 1000)
            .await
            .map_err(|e| e.to_string())?;
        for meta in &page.items {
            if let Some((last, _)) = settled.as_ref() {
                now_seen.insert(meta.key.to_string(), meta.etag.clone());
                let vouched = complete.get(meta.key.as_str()) == Some(&meta.etag);
                if last.get(meta.key.as_str()) != Some(&meta.etag) && !vouched {
                    continue;
                }
            }
            // A panic in one file's run (a bug a file triggers) must not end the watcher: it
            // is caught here, the claim's lease runs out, and the poison-file limit ends it.
            let run = import_object(
                &*deps.store,
                &*deps.blobs,
                &*deps.clock,
                &meta.key,
                &meta.etag,
                ImportOptions::default(),
                &deps.scratch,
                Budget::UNLIMITED,
            );
            match std::panic::AssertUnwindSafe(run).catch_unwind().await {
                Ok(Ok(ObjectImport::Done(r))) => {
                    done += 1;
                    tracing::info!(job = %r.job_id, outcome = ?r.outcome, rows = r.rows, "imported");
                }
                Ok(Ok(ObjectImport::Failed { reason })) => {
                    done += 1;
                    tracing::warn!(%reason, "import failed");
                }
                Ok(Ok(
                    ObjectImport::AlreadyHandled | ObjectImport::InProgress | ObjectImport::Paused { .. },
                )) => {}
                // A key of an unknown tenant, or a store hiccup (the run logged its cause
                // chain and gave its lease back): go on with the others.
                Ok(Err(e)) => tracing::warn!(error = %e, "import skipped; retried on the next scan"),
                Err(_) => tracing::error!("import run panicked; it is retried once its lease runs out"),
            }
        }
        match page.next_after {
            Some(a) => after = Some(a),
            None => {
                if let Some((last, _)) = settled.as_mut() {
                    **last = now_seen;
                }
                return Ok(done);
            }
        }
    }
}
