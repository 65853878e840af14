//! The claim a background job's run holds on its record: every write is conditional on the
//! version the run last wrote, so a run whose lease was taken over (it stalled, and another
//! trigger took the job) finds out at its next write and stops, instead of both runs working.
//! Exports and bulk-edit jobs use it; the lease itself is a field of each job's record.

use crate::domain::ids::TenantId;
use crate::ports::clock::Clock;
use crate::ports::store::{Expect, LeadStore, StoreError, put_typed};
use crate::services::ServiceError;
use serde::Serialize;

pub struct JobClaim<'a, T> {
    pub store: &'a dyn LeadStore,
    pub clock: &'a dyn Clock,
    pub tenant: &'a TenantId,
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
        match put_typed(self.store, self.tenant, self.kind, &self.id, &job, expect).await {
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
