//! Running an import for a file in the bucket under `imports/{tenant}/…`. The same handler
//! serves the S3 trigger and the local gateway's watched folder.
//!
//! Idempotent per object version: the (key, etag) pair is claimed with a conditional write
//! before anything runs, so a duplicate or concurrent delivery of the same event imports once.
//! The file is streamed to a scratch file first; memory does not grow with its size.

use crate::domain::ids::TenantId;
use crate::import::ImportOptions;
use crate::import::pipeline::{ImportReport, ImportRun};
use crate::ports::blob::{BlobKey, BlobStore};
use crate::ports::clock::Clock;
use crate::ports::store::{Expect, LeadStore, StoreError, put_typed};
use crate::services::ServiceError;
use crate::services::tenants::get_tenant;
use sha2::{Digest, Sha256};
use std::path::Path;

pub const IMPORT_OBJECT: &str = "import_object";

#[derive(Debug, Clone, PartialEq)]
pub enum ObjectImport {
    Done(Box<ImportReport>),
    /// This object version was imported (or is being imported) already.
    AlreadyHandled,
}

/// The tenant a bucket key belongs to: `imports/{tenant}/…`.
pub fn tenant_of(key: &BlobKey) -> Option<TenantId> {
    let mut parts = key.as_str().split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("imports"), Some(t), Some(_)) => TenantId::parse(t).ok(),
        _ => None,
    }
}

pub async fn import_object(
    store: &dyn LeadStore,
    blobs: &dyn BlobStore,
    clock: &dyn Clock,
    key: &BlobKey,
    etag: &str,
    options: ImportOptions,
    scratch: &Path,
) -> Result<ObjectImport, ServiceError> {
    let tenant_id = tenant_of(key).ok_or(ServiceError::NotFound {
        what: "tenant in the import key",
    })?;
    let tenant = get_tenant(store, &tenant_id)
        .await?
        .ok_or(ServiceError::NotFound { what: "tenant" })?;
    let claim = hex::encode(Sha256::digest(format!("{}\n{etag}", key.as_str()).as_bytes()));
    let job_id = uuid::Uuid::now_v7().to_string();
    let marker = serde_json::json!({"key": key.as_str(), "etag": etag, "job_id": job_id});
    match put_typed(store, &tenant_id, IMPORT_OBJECT, &claim, &marker, Expect::Absent).await {
        Ok(_) => {}
        Err(StoreError::Conflict { .. }) => return Ok(ObjectImport::AlreadyHandled),
        Err(e) => return Err(e.into()),
    }
    std::fs::create_dir_all(scratch).map_err(|e| ServiceError::Store(StoreError::unavailable(e)))?;
    let local = scratch.join(format!("{job_id}.upload"));
    {
        let mut reader = blobs.get(key).await?;
        let mut file = tokio::fs::File::create(&local)
            .await
            .map_err(|e| ServiceError::Store(StoreError::unavailable(e)))?;
        tokio::io::copy(&mut reader, &mut file)
            .await
            .map_err(|e| ServiceError::Store(StoreError::unavailable(e)))?;
    }
    let run = ImportRun {
        store,
        blobs,
        clock,
        tenant: &tenant,
        job_id: job_id.clone(),
        file: key.to_string(),
        options,
    };
    let result = run.run(&local, scratch).await;
    let _ = std::fs::remove_file(&local);
    let report = result?;
    let done =
        serde_json::json!({"key": key.as_str(), "etag": etag, "job_id": job_id, "outcome": report.outcome});
    put_typed(store, &tenant_id, IMPORT_OBJECT, &claim, &done, Expect::Any).await?;
    Ok(ObjectImport::Done(Box::new(report)))
}
