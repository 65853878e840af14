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
/// Import jobs are records of this kind (the generic job kind is for exports).
pub const IMPORT_JOB: &str = "import_job";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportJobStatus {
    AwaitingUpload,
    Running,
    Validated,
    Completed,
    Rejected,
    Unreadable,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ImportJob {
    pub id: String,
    pub filename: String,
    /// Where the file goes in the bucket.
    pub key: String,
    pub options: ImportOptions,
    pub status: ImportJobStatus,
    pub created_by: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The report summary once the import ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub report: Option<serde_json::Value>,
}

/// Creates a job that waits for its file at `imports/{tenant}/{job}/{filename}`.
pub async fn create_import_job(
    store: &dyn LeadStore,
    tenant: &TenantId,
    user: &str,
    filename: &str,
    options: ImportOptions,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ImportJob, ServiceError> {
    let name = filename.trim();
    if name.is_empty() || name.chars().count() > 200 || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(crate::domain::error::FieldError::new(
            "filename",
            "invalid_filename",
            "a filename is 1-200 characters, no slashes, not starting with '.'",
        )
        .into());
    }
    let id = uuid::Uuid::now_v7().to_string();
    let key = format!("imports/{tenant}/{id}/{name}");
    BlobKey::parse(&key)?;
    let job = ImportJob {
        id: id.clone(),
        filename: name.to_owned(),
        key,
        options,
        status: ImportJobStatus::AwaitingUpload,
        created_by: user.to_owned(),
        created_at: now,
        report: None,
    };
    put_typed(store, tenant, IMPORT_JOB, &id, &job, Expect::Absent).await?;
    Ok(job)
}

pub async fn get_import_job(
    store: &dyn LeadStore,
    tenant: &TenantId,
    id: &str,
) -> Result<ImportJob, ServiceError> {
    Ok(
        crate::ports::store::get_typed::<ImportJob>(store, tenant, IMPORT_JOB, id)
            .await?
            .ok_or(ServiceError::NotFound { what: "import job" })?
            .value,
    )
}

/// The newest jobs first.
pub async fn list_import_jobs(
    store: &dyn LeadStore,
    tenant: &TenantId,
) -> Result<Vec<ImportJob>, ServiceError> {
    let mut jobs: Vec<ImportJob> = crate::ports::store::list_typed::<ImportJob>(store, tenant, IMPORT_JOB)
        .await?
        .into_iter()
        .map(|v| v.value)
        .collect();
    jobs.reverse();
    Ok(jobs)
}

/// The job a key belongs to, when it is `imports/{tenant}/{job}/{file}` of an existing job.
async fn job_of(
    store: &dyn LeadStore,
    tenant: &TenantId,
    key: &BlobKey,
) -> Result<Option<ImportJob>, ServiceError> {
    let parts: Vec<&str> = key.as_str().splitn(4, '/').collect();
    if parts.len() != 4 {
        return Ok(None);
    }
    Ok(
        crate::ports::store::get_typed::<ImportJob>(store, tenant, IMPORT_JOB, parts[2])
            .await?
            .map(|v| v.value),
    )
}

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
    // A file uploaded for an import job runs with the job's options and reports to it.
    let job = job_of(store, &tenant_id, key).await?;
    let (job_id, options) = match &job {
        Some(j) => (j.id.clone(), j.options.clone()),
        None => (uuid::Uuid::now_v7().to_string(), options),
    };
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
    if let Some(j) = &job {
        let running = ImportJob {
            status: ImportJobStatus::Running,
            ..j.clone()
        };
        put_typed(store, &tenant_id, IMPORT_JOB, &j.id, &running, Expect::Any).await?;
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
    if let Some(j) = job {
        use crate::import::pipeline::ImportOutcome as O;
        let status = match report.outcome {
            O::Validated => ImportJobStatus::Validated,
            O::Completed => ImportJobStatus::Completed,
            O::Rejected => ImportJobStatus::Rejected,
            O::Unreadable => ImportJobStatus::Unreadable,
        };
        let finished = ImportJob {
            status,
            report: serde_json::to_value(&report).ok(),
            ..j
        };
        put_typed(
            store,
            &tenant_id,
            IMPORT_JOB,
            &finished.id,
            &finished,
            Expect::Any,
        )
        .await?;
    }
    let done =
        serde_json::json!({"key": key.as_str(), "etag": etag, "job_id": job_id, "outcome": report.outcome});
    put_typed(store, &tenant_id, IMPORT_OBJECT, &claim, &done, Expect::Any).await?;
    Ok(ObjectImport::Done(Box::new(report)))
}
