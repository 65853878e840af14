//! Running an import for a file in the bucket under `imports/{tenant}/…`. The same handler
//! serves the S3 trigger and the local gateway's watched folder.
//!
//! Idempotent per object version: the (key, etag) pair is claimed with a conditional write
//! before anything runs, so a duplicate or concurrent delivery of the same event imports once.
//! The claim holds a lease, renewed at every checkpoint of the run, and the last checkpoint:
//! - a run that stops because its budget is spent (a Lambda near its deadline) leaves the
//!   claim `paused`, and the next call for the same object goes on from the checkpoint;
//! - a run that is killed leaves it `running` with a lease that runs out; after that, the next
//!   call (the event's retry, the folder's next scan) takes it over from the checkpoint.
//!
//! The file is streamed to a scratch file first; memory does not grow with its size.

use crate::domain::ids::TenantId;
use crate::import::ImportOptions;
use crate::import::pipeline::{
    Budget, CHECKPOINT_ROWS, Checkpoint, CheckpointSink, ImportOutcome, ImportReport, ImportRun, RunResult,
};
use crate::ports::blob::{BlobKey, BlobStore};
use crate::ports::clock::Clock;
use crate::ports::store::{Expect, LeadStore, StoreError, put_typed};
use crate::services::ServiceError;
use crate::services::tenants::get_tenant;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Mutex;

pub const IMPORT_OBJECT: &str = "import_object";
/// Where a paused import leaves its continuation marker (Lambda). The prefix has its own
/// bucket notification to the import function, so the next chunk starts in a fresh invocation.
pub const CONTINUE_PREFIX: &str = "imports-continue/";
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
    let name = crate::domain::filename::check_filename(filename)?;
    let name = name.as_str();
    let id = uuid::Uuid::now_v7().to_string();
    let key = format!(
        "imports/{tenant}/{id}/{}",
        crate::domain::filename::key_segment(name)
    );
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
    /// This object version was imported already.
    AlreadyHandled,
    /// Another run holds the lease on this object version.
    InProgress,
    /// The budget ran out at a checkpoint; call again (same key and etag) to go on.
    Paused {
        rows_done: u64,
    },
}

/// How long a run's claim stays its own without a checkpoint.
pub const LEASE: chrono::Duration = chrono::Duration::seconds(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimState {
    Running,
    Paused,
    Done,
}

/// The record that makes an object version import once.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ObjectClaim {
    pub key: String,
    pub etag: String,
    pub job_id: String,
    pub options: ImportOptions,
    pub state: ClaimState,
    pub lease_until: DateTime<Utc>,
    #[serde(default)]
    pub checkpoint: Option<Checkpoint>,
    #[serde(default)]
    pub outcome: Option<ImportOutcome>,
}

/// Writes checkpoints into the claim, conditional on the version this run last wrote: a run
/// whose lease was taken over fails its next checkpoint and stops.
struct ClaimSink<'a> {
    store: &'a dyn LeadStore,
    clock: &'a dyn Clock,
    tenant: &'a TenantId,
    id: &'a str,
    claim: Mutex<(ObjectClaim, u64)>,
}

impl ClaimSink<'_> {
    async fn write(&self, change: impl FnOnce(&mut ObjectClaim)) -> Result<(), ServiceError> {
        let (mut claim, version) = self.claim.lock().unwrap_or_else(|p| p.into_inner()).clone();
        change(&mut claim);
        claim.lease_until = self.clock.now() + LEASE;
        let v = put_typed(
            self.store,
            self.tenant,
            IMPORT_OBJECT,
            self.id,
            &claim,
            Expect::Version(version),
        )
        .await?;
        *self.claim.lock().unwrap_or_else(|p| p.into_inner()) = (claim, v);
        Ok(())
    }
}

#[async_trait::async_trait]
impl CheckpointSink for ClaimSink<'_> {
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), ServiceError> {
        self.write(|c| c.checkpoint = Some(checkpoint.clone())).await
    }
}

/// Claims the object version for this run: a new claim, or one that is paused or whose lease
/// ran out. `None` when it is done or another run holds it.
async fn claim_object(
    store: &dyn LeadStore,
    clock: &dyn Clock,
    tenant: &TenantId,
    id: &str,
    fresh: ObjectClaim,
) -> Result<Result<(ObjectClaim, u64), ObjectImport>, ServiceError> {
    let now = clock.now();
    match crate::ports::store::get_typed::<ObjectClaim>(store, tenant, IMPORT_OBJECT, id).await? {
        None => match put_typed(store, tenant, IMPORT_OBJECT, id, &fresh, Expect::Absent).await {
            Ok(v) => Ok(Ok((fresh, v))),
            Err(StoreError::Conflict { .. }) => Ok(Err(ObjectImport::InProgress)),
            Err(e) => Err(e.into()),
        },
        Some(found) => {
            let mut claim = found.value;
            match claim.state {
                ClaimState::Done => return Ok(Err(ObjectImport::AlreadyHandled)),
                ClaimState::Running if claim.lease_until > now => return Ok(Err(ObjectImport::InProgress)),
                ClaimState::Running | ClaimState::Paused => {}
            }
            claim.state = ClaimState::Running;
            claim.lease_until = now + LEASE;
            match put_typed(
                store,
                tenant,
                IMPORT_OBJECT,
                id,
                &claim,
                Expect::Version(found.version),
            )
            .await
            {
                Ok(v) => Ok(Ok((claim, v))),
                Err(StoreError::Conflict { .. }) => Ok(Err(ObjectImport::InProgress)),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// The tenant a bucket key belongs to: `imports/{tenant}/…`.
pub fn tenant_of(key: &BlobKey) -> Option<TenantId> {
    let mut parts = key.as_str().split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("imports"), Some(t), Some(_)) => TenantId::parse(t).ok(),
        _ => None,
    }
}

/// Imports (or goes on importing) one object version, within `budget`.
#[allow(clippy::too_many_arguments)]
pub async fn import_object(
    store: &dyn LeadStore,
    blobs: &dyn BlobStore,
    clock: &dyn Clock,
    key: &BlobKey,
    etag: &str,
    options: ImportOptions,
    scratch: &Path,
    budget: Budget,
) -> Result<ObjectImport, ServiceError> {
    import_object_with(
        store,
        blobs,
        clock,
        key,
        etag,
        options,
        scratch,
        budget,
        CHECKPOINT_ROWS,
    )
    .await
}

/// `import_object` with a checkpoint interval (tests use small ones).
#[allow(clippy::too_many_arguments)]
pub async fn import_object_with(
    store: &dyn LeadStore,
    blobs: &dyn BlobStore,
    clock: &dyn Clock,
    key: &BlobKey,
    etag: &str,
    options: ImportOptions,
    scratch: &Path,
    budget: Budget,
    checkpoint_every: u64,
) -> Result<ObjectImport, ServiceError> {
    let tenant_id = tenant_of(key).ok_or(ServiceError::NotFound {
        what: "tenant in the import key",
    })?;
    let tenant = get_tenant(store, &tenant_id)
        .await?
        .ok_or(ServiceError::NotFound { what: "tenant" })?;
    let claim_id = hex::encode(Sha256::digest(format!("{}\n{etag}", key.as_str()).as_bytes()));
    // A file uploaded for an import job runs with the job's options and reports to it.
    let job = job_of(store, &tenant_id, key).await?;
    let (job_id, options) = match &job {
        Some(j) => (j.id.clone(), j.options.clone()),
        None => (uuid::Uuid::now_v7().to_string(), options),
    };
    let fresh = ObjectClaim {
        key: key.to_string(),
        etag: etag.to_owned(),
        job_id,
        options,
        state: ClaimState::Running,
        lease_until: clock.now() + LEASE,
        checkpoint: None,
        outcome: None,
    };
    let (claim, version) = match claim_object(store, clock, &tenant_id, &claim_id, fresh).await? {
        Ok(c) => c,
        Err(other) => return Ok(other),
    };
    let job_id = claim.job_id.clone();
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
    if let Some(j) = &job
        && j.status != ImportJobStatus::Running
    {
        let running = ImportJob {
            status: ImportJobStatus::Running,
            ..j.clone()
        };
        put_typed(store, &tenant_id, IMPORT_JOB, &j.id, &running, Expect::Any).await?;
    }
    let sink = ClaimSink {
        store,
        clock,
        tenant: &tenant_id,
        id: &claim_id,
        claim: Mutex::new((claim.clone(), version)),
    };
    let run = ImportRun {
        store,
        blobs,
        clock,
        tenant: &tenant,
        job_id: job_id.clone(),
        file: key.to_string(),
        options: claim.options.clone(),
        resume: claim.checkpoint.clone(),
        budget,
        checkpoint_every,
        sink: &sink,
    };
    let result = run.run(&local, scratch).await;
    let _ = std::fs::remove_file(&local);
    let report = match result? {
        RunResult::Finished(r) => r,
        RunResult::Paused(cp) => {
            let rows_done = cp.rows_done;
            sink.write(|c| {
                c.state = ClaimState::Paused;
                c.checkpoint = Some(cp);
            })
            .await?;
            return Ok(ObjectImport::Paused { rows_done });
        }
    };
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
    let outcome = report.outcome;
    sink.write(|c| {
        c.state = ClaimState::Done;
        c.outcome = Some(outcome);
    })
    .await?;
    Ok(ObjectImport::Done(report))
}
