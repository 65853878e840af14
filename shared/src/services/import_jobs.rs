//! Import jobs: the record an admin watches. Every import is one, whether it was created
//! through `POST /v1/imports` (then its file goes to the key it names) or its file was dropped
//! straight into the bucket (then the job is made when the file is claimed, `created_by:
//! "bucket"`).
//!
//! A job ends in exactly one terminal state: `validated`, `completed`, `rejected`,
//! `unreadable` or `failed`. While it is `running` it shows its phase and progress, updated at
//! every checkpoint together with its lease. A `running` job whose lease ran out long ago is
//! settled when it is read: its file gone, or nobody took it over, it is `failed` and says
//! what was written (`settle`).

use crate::domain::ids::TenantId;
use crate::domain::tenant::Tenant;
use crate::import::ImportOptions;
use crate::ports::blob::{BlobError, BlobKey, BlobStore};
use crate::ports::store::{Expect, LeadStore, get_typed, list_typed, put_typed};
use crate::services::ServiceError;
use crate::services::imports::pipeline::{Checkpoint, Counters, Pass};
use chrono::{DateTime, Utc};

/// Import jobs are records of this kind (the generic job kind is for exports).
pub const IMPORT_JOB: &str = "import_job";

/// How long past its lease a `running` job waits for a takeover before a read settles it.
pub const STALLED_AFTER: chrono::Duration = chrono::Duration::seconds(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportJobStatus {
    /// Created through the API; waiting for its file.
    AwaitingUpload,
    /// The file arrived and is being imported (see `progress`).
    Running,
    /// `validate` mode: the report is ready, nothing was saved.
    Validated,
    /// Rows were saved (all of them, or the valid ones).
    Completed,
    /// `all_or_nothing` and some rows had errors: nothing was saved.
    Rejected,
    /// The file could not be read as a table: nothing was saved.
    Unreadable,
    /// The run could not finish (see `failure`): what was written is in `progress`.
    Failed,
    /// Undone with `DELETE /v1/imports/{id}` (see `undo`).
    Undone,
    /// A validated job asked to run with `POST /v1/imports/{id}/run`: it starts at the next
    /// bucket event or scan, on the file it validated.
    Queued,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportPhase {
    /// Fetching the file.
    Reading,
    /// Pass 1: every row checked, nothing written yet.
    Validating,
    /// Pass 2: rows being saved.
    Writing,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ImportProgress {
    pub phase: ImportPhase,
    /// Rows done in this phase.
    pub rows_done: u64,
    /// The file's data rows, once pass 1 has counted them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_total: Option<u64>,
    /// Rows per second since the job started (both passes count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_per_second: Option<f64>,
    /// What was saved so far.
    pub created: u64,
    pub updated: u64,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ImportJob {
    pub id: String,
    pub filename: String,
    /// Where the file goes in the bucket.
    pub key: String,
    pub options: ImportOptions,
    pub status: ImportJobStatus,
    /// The user who created the job, or `bucket` for a file dropped into the bucket.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    /// While running (and after a failure): the phase and the rows done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<ImportProgress>,
    /// Why a `failed` job failed, in words a person can act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// The run's lease: a `running` job past it (and `STALLED_AFTER`) has nobody working on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
    /// The claim of the object version this job imports (internal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub claim: Option<String>,
    /// The report summary once the import ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub report: Option<serde_json::Value>,
    /// What undoing the job did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub undo: Option<super::import_undo::UndoSummary>,
    /// Runs asked for after the first (`POST /v1/imports/{id}/run`): each claims the same
    /// file version afresh.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub run: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Runs a `validated` job again on the file it validated, without a new upload: with the
/// same options (in `all_or_nothing` when they were `validate`) or `options` (checked like a
/// new job's). Refused when the job is not validated, or its file changed or is gone since.
/// Asked again of a `queued` job (without options), it only asks for the start again.
pub async fn run_validated_job(
    store: &dyn LeadStore,
    blobs: &dyn BlobStore,
    tenant: &Tenant,
    id: &str,
    options: Option<ImportOptions>,
) -> Result<ImportJob, ServiceError> {
    let found = get_typed::<ImportJob>(store, &tenant.id, IMPORT_JOB, id)
        .await?
        .ok_or(ServiceError::NotFound { what: "import job" })?;
    let job = found.value;
    // A queued job whose start was lost (the marker's write failed) is asked for again.
    let validated_run = match job.status {
        ImportJobStatus::Validated => job.run,
        ImportJobStatus::Queued if options.is_none() => job.run.saturating_sub(1),
        other => {
            return Err(ServiceError::InUse(format!(
                "only a validated job can be run; this one is {}",
                serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )));
        }
    };
    let key = BlobKey::parse(&job.key)?;
    let etag = match blobs.head(&key).await {
        Ok(Some(meta)) => meta.etag,
        Ok(None) | Err(BlobError::NotFound) => {
            return Err(ServiceError::InUse(
                "the validated file is gone from the bucket; upload it again".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    if job.claim.as_deref() != Some(super::imports::claim_id(&job.key, &etag, validated_run).as_str()) {
        return Err(ServiceError::InUse(
            "the file changed since it was validated; its new version is imported as it arrives".into(),
        ));
    }
    // A dropped file's key does not name its job: this record leads its next run to it.
    let pointer = serde_json::json!({ "job": id });
    let rerun_id = super::imports::claim_id(&job.key, &etag, 0);
    store
        .put_record(
            &tenant.id,
            super::imports::IMPORT_RERUN,
            &rerun_id,
            &pointer,
            Expect::Any,
        )
        .await?;
    let queued = if job.status == ImportJobStatus::Queued {
        job
    } else {
        let options = match options {
            Some(o) => o,
            None => ImportOptions {
                mode: crate::import::ImportMode::AllOrNothing,
                ..job.options.clone()
            },
        };
        check_options(store, tenant, &options).await?;
        let queued = ImportJob {
            options,
            status: ImportJobStatus::Queued,
            run: job.run + 1,
            progress: None,
            failure: None,
            lease_until: None,
            report: None,
            ..job
        };
        // Conditional on the version read: of two runs asked at once, one is queued.
        put_typed(
            store,
            &tenant.id,
            IMPORT_JOB,
            id,
            &queued,
            Expect::Version(found.version),
        )
        .await?;
        queued
    };
    // The Lambda import function starts on this marker (after the job names its new run);
    // the gateway's scan finds the job's new claim by itself.
    super::imports::leave_continuation(blobs, &key, &etag, &format!("run{}", queued.run)).await?;
    Ok(queued)
}

/// Checks import options against the tenant (`Mapping::new`: targets, values, sizes), as a
/// job, a run or a profile takes them (the import checks them again: a field or rep may
/// have gone since).
pub async fn check_options(
    store: &dyn LeadStore,
    tenant: &Tenant,
    options: &ImportOptions,
) -> Result<(), ServiceError> {
    let ctx = crate::services::leads::load_context(store, tenant).await?;
    crate::import::mapping::Mapping::new(options, &ctx)?;
    Ok(())
}

/// Creates a job that waits for its file at `imports/{tenant}/{job}/{filename}`.
pub async fn create_import_job(
    store: &dyn LeadStore,
    tenant: &Tenant,
    user: &str,
    filename: &str,
    options: ImportOptions,
    now: DateTime<Utc>,
) -> Result<ImportJob, ServiceError> {
    let name = crate::domain::filename::check_filename(filename)?;
    check_options(store, tenant, &options).await?;
    let tenant = &tenant.id;
    let name = name.as_str();
    let id = uuid::Uuid::now_v7().to_string();
    let key = crate::bucket_keys::import_upload(tenant, &id, &crate::domain::filename::key_segment(name));
    BlobKey::parse(&key)?;
    let job = ImportJob {
        id: id.clone(),
        filename: name.to_owned(),
        key,
        options,
        status: ImportJobStatus::AwaitingUpload,
        created_by: user.to_owned(),
        created_at: now,
        progress: None,
        failure: None,
        lease_until: None,
        claim: None,
        report: None,
        undo: None,
        run: 0,
    };
    put_typed(store, tenant, IMPORT_JOB, &id, &job, Expect::Absent).await?;
    Ok(job)
}

/// The job for a file dropped into the bucket, made when the file is first claimed.
pub fn bucket_job(id: &str, key: &BlobKey, options: ImportOptions, now: DateTime<Utc>) -> ImportJob {
    let filename = key.as_str().rsplit('/').next().unwrap_or_default().to_owned();
    ImportJob {
        id: id.to_owned(),
        filename,
        key: key.to_string(),
        options,
        status: ImportJobStatus::Running,
        created_by: "bucket".into(),
        created_at: now,
        progress: None,
        failure: None,
        lease_until: None,
        claim: None,
        report: None,
        undo: None,
        run: 0,
    }
}

/// Reads a job, settling it first if it stalled.
pub async fn get_import_job(
    store: &dyn LeadStore,
    blobs: &dyn BlobStore,
    tenant: &TenantId,
    id: &str,
    now: DateTime<Utc>,
) -> Result<ImportJob, ServiceError> {
    let job = get_typed::<ImportJob>(store, tenant, IMPORT_JOB, id)
        .await?
        .ok_or(ServiceError::NotFound { what: "import job" })?
        .value;
    settle(store, blobs, tenant, job, now).await
}

/// The newest jobs first, each settled if it stalled.
pub async fn list_import_jobs(
    store: &dyn LeadStore,
    blobs: &dyn BlobStore,
    tenant: &TenantId,
    now: DateTime<Utc>,
) -> Result<Vec<ImportJob>, ServiceError> {
    let mut out = Vec::new();
    for v in list_typed::<ImportJob>(store, tenant, IMPORT_JOB)
        .await?
        .into_iter()
        .rev()
    {
        out.push(settle(store, blobs, tenant, v.value, now).await?);
    }
    Ok(out)
}

/// The progress a checkpoint stands for.
pub fn progress_at(cp: &Checkpoint, now: DateTime<Utc>) -> ImportProgress {
    let c: &Counters = &cp.counters;
    let (phase, rows_total, both_passes) = match cp.pass {
        Pass::Classify => (ImportPhase::Validating, None, cp.rows_done),
        Pass::Write => (ImportPhase::Writing, Some(c.rows), c.rows + cp.rows_done),
    };
    let secs = (now - cp.started_at).num_milliseconds() as f64 / 1000.0;
    ImportProgress {
        phase,
        rows_done: cp.rows_done,
        rows_total,
        rows_per_second: (secs > 0.0).then(|| (both_passes as f64 / secs).round()),
        created: c.created,
        updated: c.updated,
        updated_at: now,
    }
}

/// What a failed run leaves written, in a sentence.
pub fn written_so_far(progress: Option<&ImportProgress>) -> String {
    match progress {
        Some(p) if p.created + p.updated > 0 => format!(
            "{} leads were created and {} updated before it stopped (they stay; see the job's report)",
            p.created, p.updated
        ),
        _ => "nothing was written".into(),
    }
}

/// A `running` job whose lease ran out more than `STALLED_AFTER` ago has nobody working on
/// it: if its file is gone, or nobody took it over, it is failed with the reason. The write
/// is conditional on the claim, so a run that takes the job over meanwhile wins.
async fn settle(
    store: &dyn LeadStore,
    blobs: &dyn BlobStore,
    tenant: &TenantId,
    job: ImportJob,
    now: DateTime<Utc>,
) -> Result<ImportJob, ServiceError> {
    let stalled =
        job.status == ImportJobStatus::Running && job.lease_until.is_some_and(|l| l + STALLED_AFTER < now);
    let (true, Some(claim_id)) = (stalled, job.claim.clone()) else {
        return Ok(job);
    };
    let gone = match BlobKey::parse(&job.key) {
        Ok(key) => matches!(blobs.head(&key).await, Ok(None) | Err(BlobError::NotFound)),
        Err(_) => true,
    };
    let reason = if gone {
        format!(
            "the file was removed from the bucket before the import finished; {}",
            written_so_far(job.progress.as_ref())
        )
    } else {
        format!(
            "the import stopped and was not resumed within {} minutes; {}. Upload the file again to retry",
            (STALLED_AFTER.num_minutes() + super::imports::LEASE.num_minutes()),
            written_so_far(job.progress.as_ref())
        )
    };
    use super::imports::StalledClaim;
    match super::imports::fail_stalled_claim(store, tenant, &claim_id, now).await? {
        StalledClaim::Failed(claim) => {
            // An all_or_nothing run that got to writing takes its writes back, here too.
            let undone = super::imports::undo_if_all_or_nothing(store, tenant, &claim, now).await?;
            fail_job(store, tenant, job, reason + &undone.unwrap_or_default(), now).await
        }
        StalledClaim::Missing => fail_job(store, tenant, job, reason, now).await,
        // The run failed, but its job record could not be written then.
        StalledClaim::Ended(super::imports::ClaimState::Failed) => {
            let reason = format!("the import failed; {}", written_so_far(job.progress.as_ref()));
            fail_job(store, tenant, job, reason, now).await
        }
        // Taken over (or finished) meanwhile: the job says so itself.
        StalledClaim::Held | StalledClaim::Ended(_) => {
            Ok(get_typed::<ImportJob>(store, tenant, IMPORT_JOB, &job.id)
                .await?
                .map_or(job, |v| v.value))
        }
    }
}

/// Ends a job as `failed` with `reason`.
pub async fn fail_job(
    store: &dyn LeadStore,
    tenant: &TenantId,
    job: ImportJob,
    reason: String,
    now: DateTime<Utc>,
) -> Result<ImportJob, ServiceError> {
    let failed = ImportJob {
        status: ImportJobStatus::Failed,
        failure: Some(reason),
        lease_until: None,
        progress: job
            .progress
            .clone()
            .map(|p| ImportProgress { updated_at: now, ..p }),
        ..job
    };
    put_typed(store, tenant, IMPORT_JOB, &failed.id, &failed, Expect::Any).await?;
    Ok(failed)
}
