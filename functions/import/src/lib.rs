//! Bulk import around the core pipeline: the S3 trigger (Lambda), the local gateway's watched
//! folder, the import-job routes (options + presigned upload + report) and the template.

pub mod routes;

use aws_lambda_events::event::s3::S3Event;
use leadgate_api::ApiPart;
use leadgate_core::import::ImportOptions;
use leadgate_core::ports::blob::{BlobKey, BlobStore};
use leadgate_core::ports::clock::Clock;
use leadgate_core::ports::store::LeadStore;
use leadgate_core::services::imports::{ObjectImport, import_object};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(Clone)]
pub struct ImportDeps {
    pub store: Arc<dyn LeadStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub clock: Arc<dyn Clock>,
    /// Where files are downloaded to while they import.
    pub scratch: PathBuf,
}

/// S3 puts keys in events URL-encoded, with `+` for spaces.
pub fn decode_s3_key(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    let bytes = spaced.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Handles an S3 ObjectCreated event: each `imports/…` object is imported once per version.
/// Errors are returned (so Lambda retries and then dead-letters the event); the per-object
/// claim makes the retry safe.
pub async fn handle_s3_event(deps: &ImportDeps, event: S3Event) -> Result<Vec<ObjectImport>, String> {
    let mut out = Vec::new();
    for record in event.records {
        let Some(raw) = record.s3.object.key.as_deref() else {
            continue;
        };
        let key = decode_s3_key(raw);
        if !key.starts_with("imports/") {
            continue;
        }
        let key = BlobKey::parse(&key).map_err(|e| e.to_string())?;
        let etag = record
            .s3
            .object
            .e_tag
            .clone()
            .or(record.s3.object.version_id.clone())
            .unwrap_or_default();
        let r = import_object(
            &*deps.store,
            &*deps.blobs,
            &*deps.clock,
            &key,
            &etag,
            ImportOptions::default(),
            &deps.scratch,
        )
        .await
        .map_err(|e| format!("{key}: {e}"))?;
        out.push(r);
    }
    Ok(out)
}

/// The local gateway's stand-in for the S3 trigger: every `interval`, imports each object
/// under `imports/` not imported yet at its current version.
pub async fn watch_folder(deps: ImportDeps, interval: Duration) {
    loop {
        if let Err(e) = scan_once(&deps).await {
            tracing::error!(error = %e, "import folder scan failed");
        }
        tokio::time::sleep(interval).await;
    }
}

pub async fn scan_once(deps: &ImportDeps) -> Result<usize, String> {
    let mut after: Option<String> = None;
    let mut done = 0;
    loop {
        let page = deps
            .blobs
            .list("imports/", after.as_deref(), 1000)
            .await
            .map_err(|e| e.to_string())?;
        for meta in &page.items {
            match import_object(
                &*deps.store,
                &*deps.blobs,
                &*deps.clock,
                &meta.key,
                &meta.etag,
                ImportOptions::default(),
                &deps.scratch,
            )
            .await
            {
                Ok(ObjectImport::Done(r)) => {
                    done += 1;
                    tracing::info!(job = %r.job_id, outcome = ?r.outcome, rows = r.rows, "imported");
                }
                Ok(ObjectImport::AlreadyHandled) => {}
                // A key of an unknown tenant, or a store hiccup: log and go on with the others.
                Err(e) => tracing::warn!(error = %e, "import skipped"),
            }
        }
        match page.next_after {
            Some(a) => after = Some(a),
            None => return Ok(done),
        }
    }
}

#[derive(OpenApi)]
#[openapi(info(title = "Leadgate imports"))]
struct ImportDoc;

pub fn api() -> ApiPart {
    OpenApiRouter::with_openapi(ImportDoc::openapi())
        .routes(routes!(routes::create_job, routes::list_jobs))
        .routes(routes!(routes::template))
        .routes(routes!(routes::get_job))
        .split_for_parts()
}
