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
//! - a run that fails (the store or the bucket erring, a file that cannot be fetched) gives
//!   its lease back at once, so the retry (the event's, the next scan's) starts without
//!   waiting; a claim taken over or retried `MAX_ATTEMPTS` times is a poison file and fails.
//!
//! Every path ends the job in a terminal state (`import_jobs`); a failure logs its cause
//! chain and tells the admin what was written. The file is streamed to a scratch file first;
//! memory does not grow with its size.

pub mod pipeline;

use crate::domain::ids::TenantId;
use crate::import::{ImportMode, ImportOptions};
use crate::ports::blob::{BlobError, BlobKey, BlobStore};
use crate::ports::clock::Clock;
use crate::ports::store::{LeadStore, StoreError, get_typed};
use crate::services::ServiceError;
use crate::services::import_profiles::options_for_drop;
use crate::services::imports::pipeline::{Budget, CHECKPOINT_ROWS, ImportReport, ImportRun, Pass, RunResult};
use chrono::{DateTime, Utc};
use std::path::Path;
use std::sync::Mutex;

pub use super::import_jobs::{
    IMPORT_JOB, ImportJob, ImportJobStatus, ImportPhase, ImportProgress, create_import_job, get_import_job,
    list_import_jobs, run_validated_job,
};
use super::import_jobs::{bucket_job, fail_job, written_so_far};

mod claim;
mod continuation;
use claim::{ClaimSink, Claimed, claim_object};
pub use claim::{ClaimState, IMPORT_OBJECT, LEASE, MAX_ATTEMPTS, ObjectClaim, claim_id};
pub(in crate::services) use claim::{StalledClaim, fail_stalled_claim};
pub use continuation::{CONTINUE_PREFIX, Continuation, MarkerError, leave_continuation, read_continuation};

/// Points an object version dropped into the bucket at the job asked to run it again
/// (`{"job": id}`, by `claim_id(key, etag, 0)`).
pub const IMPORT_RERUN: &str = "import_rerun";

/// The job a key belongs to, when it is `imports/{tenant}/{job}/{file}` of an existing job.
async fn job_of(
    store: &dyn LeadStore,
    tenant: &TenantId,
    key: &BlobKey,
) -> Result<Option<ImportJob>, ServiceError> {
    let Some(job) = crate::bucket_keys::import_key(key.as_str()).and_then(|k| k.folder) else {
        return Ok(None);
    };
    Ok(
        crate::ports::store::get_typed::<ImportJob>(store, tenant, IMPORT_JOB, job)
            .await?
            .map(|v| v.value),
    )
}

/// The job a dropped object version was asked to run again for, if any.
async fn rerun_job(
    store: &dyn LeadStore,
    tenant: &TenantId,
    key: &BlobKey,
    etag: &str,
) -> Result<Option<ImportJob>, ServiceError> {
    let Some(pointer) = store
        .get_record(tenant, IMPORT_RERUN, &claim_id(key.as_str(), etag, 0))
        .await?
    else {
        return Ok(None);
    };
    let Some(job_id) = pointer.body["job"].as_str() else {
        return Ok(None);
    };
    Ok(get_typed::<ImportJob>(store, tenant, IMPORT_JOB, job_id)
        .await?
        .map(|v| v.value))
}

#[derive(Debug, Clone, PartialEq)]
pub enum ObjectImport {
    Done(Box<ImportReport>),
    /// This object version was imported (or failed) already.
    AlreadyHandled,
    /// Another run holds the lease on this object version.
    InProgress,
    /// The budget ran out at a checkpoint; call again (same key and etag) to go on.
    Paused {
        rows_done: u64,
    },
    /// The job ended `failed` with this reason.
    Failed {
        reason: String,
    },
}

/// The tenant a bucket key belongs to: `imports/{tenant}/…`.
pub use crate::bucket_keys::import_tenant as tenant_of;

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

/// The reason a failed run gives the admin, and whether retrying can help.
fn failure_reason(e: &ServiceError) -> (String, bool) {
    match e {
        ServiceError::Blob(BlobError::NotFound) => (
            "the file was removed from the bucket before the import could read it all".into(),
            false,
        ),
        ServiceError::Blob(_) => ("the bucket could not be read or written".into(), true),
        ServiceError::Store(_) | ServiceError::VersionConflict => {
            ("the lead store did not accept the writes".into(), true)
        }
        other => (other.to_string(), true),
    }
}

/// The whole error and its sources, for the log.
fn cause_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
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
    let tenant = crate::services::tenants::active_tenant(store, &tenant_id).await?;
    // A file uploaded for an import job runs with the job's options and reports to it; so
    // does a dropped file whose validated job was asked to run.
    let job = match job_of(store, &tenant_id, key).await? {
        Some(j) => Some(j),
        None => rerun_job(store, &tenant_id, key, etag).await?,
    };
    let claim_id = claim_id(key.as_str(), etag, job.as_ref().map_or(0, |j| j.run));
    // A dropped file runs with its folder's profile; a folder that names none fails the job.
    let (job_id, options, refused) = match &job {
        Some(j) => (j.id.clone(), j.options.clone(), None),
        None => match options_for_drop(store, &tenant, key, options.clone()).await? {
            Ok(o) => (uuid::Uuid::now_v7().to_string(), o, None),
            Err(why) => (uuid::Uuid::now_v7().to_string(), options, Some(why)),
        },
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
        attempts: 1,
    };
    let (claim, version, poison) = match claim_object(store, clock, &tenant_id, &claim_id, fresh).await? {
        Claimed::Mine(c, v) => (c, v, false),
        Claimed::Poison(c, v) => (c, v, true),
        Claimed::Not(other) => return Ok(other),
    };
    // Every import is a job: a file dropped into the bucket gets one when it is claimed.
    let now = clock.now();
    let job = match job {
        Some(j) if j.id == claim.job_id => j,
        _ => match get_typed::<ImportJob>(store, &tenant_id, IMPORT_JOB, &claim.job_id).await? {
            Some(j) => j.value,
            None => bucket_job(&claim.job_id, key, claim.options.clone(), now),
        },
    };
    let sink = ClaimSink {
        store,
        clock,
        tenant: &tenant_id,
        id: &claim_id,
        claim: Mutex::new((claim.clone(), version)),
        job: Mutex::new(job),
    };
    if let Some(reason) = refused {
        return give_up(&sink, reason).await;
    }
    if poison {
        let reason = format!(
            "the import was started {MAX_ATTEMPTS} times and never finished (the process stopped or \
             failed each time); {}. Check the file, then upload it again",
            written_so_far(sink.job().progress.as_ref())
        );
        return give_up(&sink, reason).await;
    }
    let started = async {
        sink.update_job(|j| {
            j.status = ImportJobStatus::Running;
            j.claim = Some(claim_id.clone());
            j.lease_until = Some(now + LEASE);
            j.failure = None;
            if j.progress.is_none() {
                j.progress = Some(ImportProgress {
                    phase: ImportPhase::Reading,
                    rows_done: 0,
                    rows_total: None,
                    rows_per_second: None,
                    created: 0,
                    updated: 0,
                    updated_at: now,
                });
            }
        })
        .await?;
        run_claimed(&sink, &tenant, blobs, key, scratch, budget, checkpoint_every).await
    };
    match started.await {
        Ok(done) => Ok(done),
        Err(e) => {
            let (reason, retry) = failure_reason(&e);
            tracing::error!(
                job = %claim.job_id,
                attempt = claim.attempts,
                error = %cause_chain(&e),
                "import run failed"
            );
            if retry && claim.attempts < MAX_ATTEMPTS {
                // Give the lease back so the retry starts at once, from the last checkpoint.
                if let Err(back) = sink.release().await {
                    tracing::warn!(error = %cause_chain(&back), "could not give the import lease back");
                }
                return Err(e);
            }
            let reason = format!(
                "{reason} (attempt {} of {MAX_ATTEMPTS}); {}",
                claim.attempts,
                written_so_far(sink.job().progress.as_ref())
            );
            give_up(&sink, reason).await
        }
    }
}

/// Ends the claim and the job as failed. An `all_or_nothing` job that had begun writing
/// undoes what it wrote first: it promised all or nothing. If the undo cannot finish now, the
/// claim's lease goes back and the next delivery gives up again (and undoes again).
async fn give_up(sink: &ClaimSink<'_>, mut reason: String) -> Result<ObjectImport, ServiceError> {
    let claim = sink.claim();
    match undo_if_all_or_nothing(sink.store, sink.tenant, &claim, sink.clock.now()).await {
        Ok(Some(undone)) => reason.push_str(&undone),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(job = %claim.job_id, error = %cause_chain(&e), "an all_or_nothing import could not undo its writes yet");
            let _ = sink.release().await;
            return Err(e);
        }
    }
    sink.write(|c| c.state = ClaimState::Failed).await?;
    fail_job(
        sink.store,
        sink.tenant,
        sink.job(),
        reason.clone(),
        sink.clock.now(),
    )
    .await?;
    Ok(ObjectImport::Failed { reason })
}

/// Undoes the writes of an `all_or_nothing` run that got to its write pass; says what it did.
pub(super) async fn undo_if_all_or_nothing(
    store: &dyn LeadStore,
    tenant: &TenantId,
    claim: &ObjectClaim,
    now: DateTime<Utc>,
) -> Result<Option<String>, ServiceError> {
    let wrote = claim.checkpoint.as_ref().is_some_and(|c| c.pass == Pass::Write);
    if claim.options.mode != ImportMode::AllOrNothing || !wrote {
        return Ok(None);
    }
    let actor = crate::domain::activity::Actor::Import {
        job: claim.job_id.clone(),
    };
    let undone = super::import_undo::undo_writes(store, now, tenant, &claim.job_id, &actor).await?;
    Ok(Some(format!(
        "; all_or_nothing: the {} leads it created were removed and {} updates reverted",
        undone.deleted, undone.reverted
    )))
}

/// The run itself, once the claim is this run's: fetch the file, import it, record the end.
async fn run_claimed(
    sink: &ClaimSink<'_>,
    tenant: &crate::domain::tenant::Tenant,
    blobs: &dyn BlobStore,
    key: &BlobKey,
    scratch: &Path,
    budget: Budget,
    checkpoint_every: u64,
) -> Result<ObjectImport, ServiceError> {
    let claim = sink.claim();
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
            .map_err(|e| ServiceError::Blob(BlobError::unavailable(e)))?;
    }
    let run = ImportRun {
        store: sink.store,
        blobs,
        clock: sink.clock,
        tenant,
        job_id: job_id.clone(),
        file: key.to_string(),
        options: claim.options.clone(),
        resume: claim.checkpoint.clone(),
        budget,
        checkpoint_every,
        sink,
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
    use crate::services::imports::pipeline::ImportOutcome as O;
    let status = match report.outcome {
        O::Validated => ImportJobStatus::Validated,
        O::Completed => ImportJobStatus::Completed,
        O::Rejected => ImportJobStatus::Rejected,
        O::Unreadable => ImportJobStatus::Unreadable,
    };
    sink.finish_job(|j| {
        j.status = status;
        j.report = serde_json::to_value(&report).ok();
        j.progress = None;
        j.lease_until = None;
    })
    .await?;
    let outcome = report.outcome;
    sink.write(|c| {
        c.state = ClaimState::Done;
        c.outcome = Some(outcome);
    })
    .await?;
    crate::services::imports::pipeline::remove_report_parts(blobs, sink.tenant, &job_id).await;
    Ok(ObjectImport::Done(report))
}
