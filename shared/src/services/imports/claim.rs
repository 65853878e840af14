//! The claim that makes one run of an object version happen once: a record per (key, etag)
//! and run, taken with a conditional write, holding a lease that each checkpoint renews.
//! `ClaimSink` writes those checkpoints (and the job's progress) under the claim's version,
//! so a run whose lease was taken over stops at its next checkpoint.

use super::ObjectImport;
use super::pipeline::{Checkpoint, CheckpointSink, ImportOutcome};
use crate::domain::ids::TenantId;
use crate::import::ImportOptions;
use crate::ports::clock::Clock;
use crate::ports::store::{Expect, LeadStore, RecordWrite, StoreError, get_typed, outbox_record, put_typed};
use crate::services::ServiceError;
use crate::services::import_jobs::{IMPORT_JOB, ImportJob, progress_at};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::sync::Mutex;

/// The record kind of a claim.
pub const IMPORT_OBJECT: &str = "import_object";
/// Runs of one object version (first, retries after errors, takeovers after a kill) before
/// it is failed as a poison file. Resuming a paused run is not an attempt.
pub const MAX_ATTEMPTS: u32 = 3;

/// The claim that makes one run of an object version happen once: per (key, etag), and per
/// run of its job (`POST /v1/imports/{id}/run` asks for another).
pub fn claim_id(key: &str, etag: &str, run: u32) -> String {
    let seed = match run {
        0 => format!("{key}\n{etag}"),
        n => format!("{key}\n{etag}\nrun {n}"),
    };
    hex::encode(Sha256::digest(seed.as_bytes()))
}

/// How long a run's claim stays its own without a checkpoint.
pub const LEASE: chrono::Duration = chrono::Duration::seconds(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimState {
    Running,
    Paused,
    Done,
    Failed,
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
    /// Runs started on this object version (not counting resumptions after a pause).
    #[serde(default)]
    pub attempts: u32,
}

/// Writes checkpoints into the claim, conditional on the version this run last wrote: a run
/// whose lease was taken over fails its next checkpoint and stops. Each checkpoint also shows
/// on the job as its progress and lease.
pub(super) struct ClaimSink<'a> {
    pub(super) store: &'a dyn LeadStore,
    pub(super) clock: &'a dyn Clock,
    pub(super) tenant: &'a TenantId,
    pub(super) id: &'a str,
    pub(super) claim: Mutex<(ObjectClaim, u64)>,
    pub(super) job: Mutex<ImportJob>,
}

impl ClaimSink<'_> {
    pub(super) async fn write(&self, change: impl FnOnce(&mut ObjectClaim)) -> Result<(), ServiceError> {
        self.write_leased(change, self.clock.now() + LEASE).await
    }

    /// Gives the lease back, so the next delivery or scan retries at once.
    pub(super) async fn release(&self) -> Result<(), ServiceError> {
        self.write_leased(|_| {}, self.clock.now()).await
    }

    pub(super) async fn write_leased(
        &self,
        change: impl FnOnce(&mut ObjectClaim),
        lease_until: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        let (mut claim, version) = self.claim.lock().unwrap_or_else(|p| p.into_inner()).clone();
        change(&mut claim);
        claim.lease_until = lease_until;
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

    pub(super) fn claim(&self) -> ObjectClaim {
        self.claim.lock().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    pub(super) fn job(&self) -> ImportJob {
        self.job.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Writes the job with `change` applied (the job follows the claim; the claim's
    /// conditional writes are what keep two runs apart).
    pub(super) async fn update_job(
        &self,
        change: impl FnOnce(&mut ImportJob),
    ) -> Result<ImportJob, ServiceError> {
        let mut job = self.job();
        change(&mut job);
        put_typed(self.store, self.tenant, IMPORT_JOB, &job.id, &job, Expect::Any).await?;
        *self.job.lock().unwrap_or_else(|p| p.into_inner()) = job.clone();
        Ok(job)
    }

    /// `update_job` for a run's end: the job and its `import.completed` event (whatever the
    /// outcome; the job says which) in one write.
    pub(super) async fn finish_job(
        &self,
        change: impl FnOnce(&mut ImportJob),
    ) -> Result<ImportJob, ServiceError> {
        use crate::domain::webhook::{EventType, OutboxEntry};
        let mut job = self.job();
        change(&mut job);
        let event = OutboxEntry::other(
            self.tenant.clone(),
            EventType::ImportCompleted,
            &format!("import-{}", job.id),
            self.clock.now(),
            serde_json::json!({ "import": job }),
        );
        self.store
            .put_records(
                self.tenant,
                &[
                    RecordWrite::typed(IMPORT_JOB, job.id.clone(), &job, Expect::Any)?,
                    outbox_record(&event)?,
                ],
            )
            .await?;
        *self.job.lock().unwrap_or_else(|p| p.into_inner()) = job.clone();
        Ok(job)
    }
}

#[async_trait::async_trait]
impl CheckpointSink for ClaimSink<'_> {
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), ServiceError> {
        self.write(|c| c.checkpoint = Some(checkpoint.clone())).await?;
        let now = self.clock.now();
        self.update_job(|j| {
            j.progress = Some(progress_at(checkpoint, now));
            j.lease_until = Some(now + LEASE);
        })
        .await?;
        Ok(())
    }
}

/// What claiming an object version came to.
pub(super) enum Claimed {
    /// This run holds it (claim and its version).
    Mine(ObjectClaim, u64),
    /// Done, failed, or another run holds it.
    Not(ObjectImport),
    /// Taken, but it has been tried `MAX_ATTEMPTS` times: fail it.
    Poison(ObjectClaim, u64),
}

/// Claims the object version for this run: a new claim, or one that is paused or whose lease
/// ran out (a takeover, which counts as an attempt).
pub(super) async fn claim_object(
    store: &dyn LeadStore,
    clock: &dyn Clock,
    tenant: &TenantId,
    id: &str,
    fresh: ObjectClaim,
) -> Result<Claimed, ServiceError> {
    let now = clock.now();
    match get_typed::<ObjectClaim>(store, tenant, IMPORT_OBJECT, id).await? {
        None => match put_typed(store, tenant, IMPORT_OBJECT, id, &fresh, Expect::Absent).await {
            Ok(v) => Ok(Claimed::Mine(fresh, v)),
            Err(StoreError::Conflict { .. }) => Ok(Claimed::Not(ObjectImport::InProgress)),
            Err(e) => Err(e.into()),
        },
        Some(found) => {
            let mut claim = found.value;
            match claim.state {
                ClaimState::Done | ClaimState::Failed => {
                    return Ok(Claimed::Not(ObjectImport::AlreadyHandled));
                }
                ClaimState::Running if claim.lease_until > now => {
                    return Ok(Claimed::Not(ObjectImport::InProgress));
                }
                ClaimState::Running => claim.attempts += 1,
                ClaimState::Paused => {}
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
                Ok(v) if claim.attempts > MAX_ATTEMPTS => Ok(Claimed::Poison(claim, v)),
                Ok(v) => Ok(Claimed::Mine(claim, v)),
                Err(StoreError::Conflict { .. }) => Ok(Claimed::Not(ObjectImport::InProgress)),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// What settling a stalled job's claim found.
pub(in crate::services) enum StalledClaim {
    /// It was still running or paused past its lease; now it is failed (here it is).
    Failed(Box<ObjectClaim>),
    /// A run holds it again.
    Held,
    /// There is no claim to fail.
    Missing,
    /// It had ended already (the job record was not updated after it, e.g. the store failed).
    Ended(ClaimState),
}

/// Marks a claim failed if it is still running or paused with a lease that ran out (used when
/// a read settles a stalled job).
pub(in crate::services) async fn fail_stalled_claim(
    store: &dyn LeadStore,
    tenant: &TenantId,
    id: &str,
    now: DateTime<Utc>,
) -> Result<StalledClaim, ServiceError> {
    let Some(found) = get_typed::<ObjectClaim>(store, tenant, IMPORT_OBJECT, id).await? else {
        return Ok(StalledClaim::Missing);
    };
    let mut claim = found.value;
    match claim.state {
        ClaimState::Done | ClaimState::Failed => return Ok(StalledClaim::Ended(claim.state)),
        // A paused run waits for its continuation, a running one for a takeover; past the
        // lease neither came.
        _ if claim.lease_until > now => return Ok(StalledClaim::Held),
        _ => {}
    }
    claim.state = ClaimState::Failed;
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
        Ok(_) => Ok(StalledClaim::Failed(Box::new(claim))),
        Err(StoreError::Conflict { .. }) => Ok(StalledClaim::Held),
        Err(e) => Err(e.into()),
    }
}
