//! What exports and bulk-edit jobs share: a record, a request object that starts a run, and a
//! claim a run holds on the record.
//!
//! - The request's key is `{prefix}{tenant}/{job}.json` (`request_key`, `request_of`).
//! - A run opens the job (`open_job`): a key that names no job, a job done or held by a live
//!   lease, or a suspended tenant's job (checked before the claim, so it spends no attempt)
//!   is not run.
//! - Every write of the run is conditional on the version it last wrote (`JobClaim`), so a run
//!   whose lease was taken over (it stalled, and another trigger took the job) finds out at its
//!   next write and stops, instead of both runs working.

use crate::domain::ids::TenantId;
use crate::domain::tenant::Principal;
use crate::ports::blob::{BlobKey, BlobStore};
use crate::ports::clock::Clock;
use crate::ports::store::{Expect, LeadStore, StoreError, get_typed, put_typed};
use crate::services::ServiceError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The bucket key of a job's request object.
pub fn request_key(prefix: &str, tenant: &TenantId, id: &str) -> Result<BlobKey, ServiceError> {
    Ok(BlobKey::parse(&crate::bucket_keys::request(prefix, tenant, id))?)
}

pub use crate::bucket_keys::request_of;

/// Who sees a job: the tenant's admins, and whoever asked for it.
pub fn visible_to(principal: &Principal, requested_by: &str) -> bool {
    principal.is_admin() || requested_by == principal.user
}

/// What a run needs to know of its job's record.
pub trait LeasedJob {
    /// Completed or failed for good.
    fn finished(&self) -> bool;
    /// Running under a lease that has not ended at `now`.
    fn held(&self, now: DateTime<Utc>) -> bool;
}

/// Why a request is not run, or the job as read, ready to claim.
pub enum Opened<'a, T> {
    NotAJob,
    /// Done already: its request object is removed.
    AlreadyHandled,
    InProgress,
    Suspended,
    Ready(JobClaim<'a, T>),
}

/// Reads the job a request object stands for and says whether a run may claim it.
pub async fn open_job<'a, T: DeserializeOwned + LeasedJob>(
    store: &'a dyn LeadStore,
    blobs: &dyn BlobStore,
    clock: &'a dyn Clock,
    prefix: &str,
    kind: &'static str,
    request: &BlobKey,
) -> Result<Opened<'a, T>, ServiceError> {
    let Some((tenant, id)) = request_of(prefix, request) else {
        return Ok(Opened::NotAJob);
    };
    let Some(found) = get_typed::<T>(store, &tenant, kind, &id).await? else {
        return Ok(Opened::NotAJob);
    };
    if found.value.finished() {
        let _ = blobs.delete(request).await;
        return Ok(Opened::AlreadyHandled);
    }
    if found.value.held(clock.now()) {
        return Ok(Opened::InProgress);
    }
    // Checked before the claim: a suspended tenant's job must not spend its attempts.
    if let Err(ServiceError::Forbidden(_)) = crate::services::tenants::active_tenant(store, &tenant).await {
        return Ok(Opened::Suspended);
    }
    Ok(Opened::Ready(JobClaim {
        store,
        clock,
        tenant,
        kind,
        id,
        job: found.value,
        version: found.version,
    }))
}

pub struct JobClaim<'a, T> {
    pub store: &'a dyn LeadStore,
    pub clock: &'a dyn Clock,
    pub tenant: TenantId,
    /// The record kind and id of the job.
    pub kind: &'static str,
    pub id: String,
    /// The job as last written by this run.
    pub job: T,
    pub version: u64,
}

impl<T: Serialize + Clone> JobClaim<'_, T> {
    /// Writes `change` if nobody took the job over; false when someone did.
    pub async fn write(&mut self, change: impl FnOnce(&mut T)) -> Result<bool, ServiceError> {
        let mut job = self.job.clone();
        change(&mut job);
        let expect = Expect::Version(self.version);
        match put_typed(self.store, &self.tenant, self.kind, &self.id, &job, expect).await {
            Ok(v) => {
                self.job = job;
                self.version = v;
                Ok(true)
            }
            Err(StoreError::Conflict { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}
