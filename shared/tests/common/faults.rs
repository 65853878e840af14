//! A store and a bucket that fail (or hang) on purpose at a chosen stage, wrapped around a
//! real backend: what a flaky network, a throttled table or a killed process does to a run.

use super::*;
use chrono::{DateTime, Utc};
use leadgate_core::domain::activity::Activity;
use leadgate_core::domain::api_key::{ApiKeyRecord, KeyHash};
use leadgate_core::domain::duplicate::MatchKey;
use leadgate_core::domain::ids::{ApiKeyId, LeadId};
use leadgate_core::domain::lead::Lead;
use leadgate_core::domain::query::{LeadCount, LeadQuery, Page};
use leadgate_core::ports::blob::{BlobError, BlobMeta, BlobPage, BlobReader, MultipartUpload, UploadTerms};
use leadgate_core::ports::store::*;
use std::sync::Mutex;
use std::time::Duration;

/// Where a fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Fetching the uploaded file.
    Download,
    /// Pass 1's duplicate lookups.
    Lookup,
    /// Pass 2's batch writes.
    Write,
    /// Writing report parts and the summary.
    Report,
    /// Writing the job record (imports and bulk edits).
    Job,
    /// A lead's own write: `create_lead` or `commit_lead_change`.
    LeadWrite,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Fail this many times, then work.
    Fail(u32),
    /// The object is gone.
    Missing,
    /// Never answer (a process frozen mid-call).
    Hang,
    /// Work this many times, then fail every time.
    FailAfter(u32),
    /// Work this many times; the next call does its work and then never answers (a process
    /// killed between a write and its checkpoint).
    FreezeAfter(u32),
    /// Work this many times, fail the next call once, then work.
    FailOnceAfter(u32),
    /// The next call does its work and then answers an error, once (a write whose answer was
    /// lost on the way back).
    ErrAfterWork,
    /// Wait until no batch write is under way (30 s at most), then work, every time: a
    /// lookup as slow as the write beside it.
    WaitForWrites,
}

#[derive(Default)]
pub struct Faults {
    armed: Mutex<Option<(Stage, Fault)>>,
    pub struck: std::sync::atomic::AtomicU32,
    /// The store's methods as they were called, in order.
    calls: Mutex<Vec<&'static str>>,
    /// Contact lookups under way.
    lookups_running: std::sync::atomic::AtomicU32,
    /// Batch writes under way.
    writes_running: std::sync::atomic::AtomicU32,
    /// Batch writes that finished while a contact lookup was under way.
    pub writes_done_during_lookups: std::sync::atomic::AtomicU32,
}

/// Store methods that write; every other method of the port reads.
pub const WRITES: &[&str] = &[
    "create_lead",
    "put_leads_batch",
    "update_lead",
    "delete_lead",
    "commit_lead_change",
    "append_activity",
    "put_record",
    "put_records",
    "delete_record",
    "increment_counter",
    "put_api_key",
    "revoke_api_key",
];

impl Faults {
    fn log(&self, method: &'static str) {
        self.calls.lock().unwrap().push(method);
    }

    /// The store calls since the last time this was asked, emptying the log.
    pub fn take_calls(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    pub fn arm(&self, stage: Stage, fault: Fault) {
        *self.armed.lock().unwrap() = Some((stage, fault));
    }

    pub fn disarm(&self) {
        *self.armed.lock().unwrap() = None;
    }

    /// What happens to a call at `stage`.
    async fn at(&self, stage: Stage) -> Option<Fault> {
        let wait = matches!(*self.armed.lock().unwrap(), Some((s, Fault::WaitForWrites)) if s == stage);
        if wait {
            let until = std::time::Instant::now() + Duration::from_secs(30);
            while self.writes_running.load(std::sync::atomic::Ordering::SeqCst) > 0
                && std::time::Instant::now() < until
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            return None;
        }
        let fault = {
            let mut armed = self.armed.lock().unwrap();
            match *armed {
                Some((s, Fault::FreezeAfter(_) | Fault::ErrAfterWork)) if s == stage => None,
                Some((s, Fault::FailOnceAfter(n))) if s == stage => {
                    *armed = (n > 0).then(|| (s, Fault::FailOnceAfter(n - 1)));
                    (n == 0).then_some(Fault::Fail(1))
                }
                Some((s, Fault::FailAfter(n))) if s == stage && n > 0 => {
                    *armed = Some((s, Fault::FailAfter(n - 1)));
                    None
                }
                Some((s, f)) if s == stage => {
                    if let Fault::Fail(n) = f {
                        *armed = (n > 1).then(|| (s, Fault::Fail(n - 1)));
                    }
                    Some(f)
                }
                _ => None,
            }
        };
        if fault.is_some() {
            self.struck.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        if fault == Some(Fault::Hang) {
            std::future::pending::<()>().await;
        }
        fault
    }

    /// After a call at `stage` did its work: freezes it when its turn has come, or answers
    /// an error in place of its result.
    async fn after(&self, stage: Stage) -> Result<(), StoreError> {
        let (freeze, err) = {
            let mut armed = self.armed.lock().unwrap();
            match *armed {
                Some((s, Fault::FreezeAfter(n))) if s == stage => {
                    *armed = Some((s, Fault::FreezeAfter(n.saturating_sub(1))));
                    (n == 0, false)
                }
                Some((s, Fault::ErrAfterWork)) if s == stage => {
                    *armed = None;
                    (false, true)
                }
                _ => (false, false),
            }
        };
        if freeze || err {
            self.struck.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        if freeze {
            std::future::pending::<()>().await;
        }
        match err {
            true => Err(StoreError::unavailable(std::io::Error::other(format!(
                "injected lost answer at {stage:?}"
            )))),
            false => Ok(()),
        }
    }

    async fn store(&self, stage: Stage) -> Result<(), StoreError> {
        match self.at(stage).await {
            Some(_) => Err(StoreError::unavailable(std::io::Error::other(format!(
                "injected store fault at {stage:?}"
            )))),
            None => Ok(()),
        }
    }

    async fn blob(&self, stage: Stage) -> Result<(), BlobError> {
        match self.at(stage).await {
            Some(Fault::Missing) => Err(BlobError::NotFound),
            Some(_) => Err(BlobError::unavailable(std::io::Error::other(format!(
                "injected bucket fault at {stage:?}"
            )))),
            None => Ok(()),
        }
    }
}

pub struct FaultyStore {
    pub inner: Arc<dyn LeadStore>,
    pub faults: Arc<Faults>,
}

pub struct FaultyBlobs {
    pub inner: Arc<dyn BlobStore>,
    pub faults: Arc<Faults>,
}

#[async_trait::async_trait]
impl LeadStore for FaultyStore {
    async fn create_lead(
        &self,
        lead: &Lead,
        guards: &CreateGuards,
        entries: &[Activity],
        records: &[RecordWrite],
    ) -> Result<CreateOutcome, StoreError> {
        self.faults.log("create_lead");
        self.faults.store(Stage::LeadWrite).await?;
        let out = self.inner.create_lead(lead, guards, entries, records).await?;
        self.faults.after(Stage::LeadWrite).await?;
        Ok(out)
    }
    async fn put_leads_batch(&self, leads: &[Lead], entries: &[Activity]) -> Result<(), StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        self.faults.log("put_leads_batch");
        self.faults.store(Stage::Write).await?;
        self.faults.writes_running.fetch_add(1, SeqCst);
        let written = self.inner.put_leads_batch(leads, entries).await;
        self.faults.writes_running.fetch_sub(1, SeqCst);
        written?;
        if self.faults.lookups_running.load(SeqCst) > 0 {
            self.faults.writes_done_during_lookups.fetch_add(1, SeqCst);
        }
        self.faults.after(Stage::Write).await?;
        Ok(())
    }
    async fn get_lead(&self, tenant: &TenantId, id: &LeadId) -> Result<Option<Lead>, StoreError> {
        self.faults.log("get_lead");
        self.inner.get_lead(tenant, id).await
    }
    async fn get_leads(&self, tenant: &TenantId, ids: &[LeadId]) -> Result<Vec<Lead>, StoreError> {
        self.faults.log("get_leads");
        self.inner.get_leads(tenant, ids).await
    }
    async fn update_lead(&self, lead: &Lead) -> Result<Lead, StoreError> {
        self.faults.log("update_lead");
        self.inner.update_lead(lead).await
    }
    async fn delete_lead(&self, tenant: &TenantId, id: &LeadId, v: Option<u64>) -> Result<(), StoreError> {
        self.faults.log("delete_lead");
        self.inner.delete_lead(tenant, id, v).await
    }
    async fn list_leads(&self, tenant: &TenantId, query: &LeadQuery) -> Result<Page<Lead>, StoreError> {
        self.faults.log("list_leads");
        self.inner.list_leads(tenant, query).await
    }
    async fn count_leads(
        &self,
        tenant: &TenantId,
        query: &LeadQuery,
        exact_up_to: u64,
    ) -> Result<LeadCount, StoreError> {
        self.faults.log("count_leads");
        self.inner.count_leads(tenant, query, exact_up_to).await
    }
    async fn find_leads_by_contact(
        &self,
        tenant: &TenantId,
        key: &MatchKey,
    ) -> Result<Vec<LeadId>, StoreError> {
        self.faults.log("find_leads_by_contact");
        self.faults.store(Stage::Lookup).await?;
        self.inner.find_leads_by_contact(tenant, key).await
    }
    async fn find_leads_by_contacts(
        &self,
        tenant: &TenantId,
        keys: &[MatchKey],
    ) -> Result<Vec<(MatchKey, LeadId)>, StoreError> {
        use std::sync::atomic::Ordering::SeqCst;
        self.faults.log("find_leads_by_contacts");
        self.faults.lookups_running.fetch_add(1, SeqCst);
        let found = match self.faults.store(Stage::Lookup).await {
            Ok(()) => self.inner.find_leads_by_contacts(tenant, keys).await,
            Err(e) => Err(e),
        };
        self.faults.lookups_running.fetch_sub(1, SeqCst);
        found
    }
    async fn commit_lead_change(
        &self,
        lead: &Lead,
        new_records: &[RecordWrite],
        activities: &[Activity],
    ) -> Result<Lead, StoreError> {
        self.faults.log("commit_lead_change");
        self.faults.store(Stage::LeadWrite).await?;
        let out = self
            .inner
            .commit_lead_change(lead, new_records, activities)
            .await?;
        self.faults.after(Stage::LeadWrite).await?;
        Ok(out)
    }
    async fn append_activity(&self, activity: &Activity) -> Result<(), StoreError> {
        self.faults.log("append_activity");
        self.inner.append_activity(activity).await
    }
    async fn list_activities(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Activity>, StoreError> {
        self.faults.log("list_activities");
        self.inner.list_activities(tenant, lead, cursor, limit).await
    }
    async fn get_record(
        &self,
        tenant: &TenantId,
        kind: &str,
        id: &str,
    ) -> Result<Option<RawRecord>, StoreError> {
        self.faults.log("get_record");
        self.inner.get_record(tenant, kind, id).await
    }
    async fn put_records(
        &self,
        tenant: &TenantId,
        records: &[leadgate_core::ports::store::RecordWrite],
    ) -> Result<(), StoreError> {
        self.faults.log("put_records");
        if records.iter().any(|r| {
            r.kind == leadgate_core::services::imports::IMPORT_JOB
                || r.kind == leadgate_core::services::bulk_jobs::BULK_EDIT_JOB
        }) {
            self.faults.store(Stage::Job).await?;
        }
        self.inner.put_records(tenant, records).await
    }
    async fn put_record(
        &self,
        tenant: &TenantId,
        kind: &str,
        id: &str,
        body: &serde_json::Value,
        expect: Expect,
    ) -> Result<u64, StoreError> {
        self.faults.log("put_record");
        if kind == leadgate_core::services::imports::IMPORT_JOB
            || kind == leadgate_core::services::bulk_jobs::BULK_EDIT_JOB
        {
            self.faults.store(Stage::Job).await?;
        }
        self.inner.put_record(tenant, kind, id, body, expect).await
    }
    async fn list_records_of(
        &self,
        tenant: &TenantId,
        kinds: &[&str],
    ) -> Result<Vec<Vec<RawRecord>>, StoreError> {
        self.faults.log("list_records_of");
        self.inner.list_records_of(tenant, kinds).await
    }

    async fn list_records(
        &self,
        tenant: &TenantId,
        kind: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RawRecord>, StoreError> {
        self.faults.log("list_records");
        self.inner.list_records(tenant, kind, after, limit).await
    }
    async fn delete_record(
        &self,
        tenant: &TenantId,
        kind: &str,
        id: &str,
        expect: Expect,
    ) -> Result<(), StoreError> {
        self.faults.log("delete_record");
        self.inner.delete_record(tenant, kind, id, expect).await
    }
    async fn read_rollups(
        &self,
        tenant: &TenantId,
        dim: leadgate_core::domain::rollup::Dim,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<
        Vec<(
            leadgate_core::domain::rollup::Cell,
            leadgate_core::domain::rollup::Counts,
        )>,
        StoreError,
    > {
        self.faults.log("read_rollups");
        self.inner.read_rollups(tenant, dim, from, to).await
    }
    async fn replace_rollups(
        &self,
        tenant: &TenantId,
        rows: &[(
            leadgate_core::domain::rollup::Cell,
            leadgate_core::domain::rollup::Counts,
        )],
    ) -> Result<(), StoreError> {
        self.faults.log("replace_rollups");
        self.inner.replace_rollups(tenant, rows).await
    }
    async fn increment_counter(&self, tenant: &TenantId, name: &str, by: u64) -> Result<u64, StoreError> {
        self.faults.log("increment_counter");
        self.inner.increment_counter(tenant, name, by).await
    }
    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.faults.log("put_api_key");
        self.inner.put_api_key(key).await
    }
    async fn find_api_key(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.faults.log("find_api_key");
        self.inner.find_api_key(hash).await
    }
    async fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.faults.log("list_api_keys");
        self.inner.list_api_keys(tenant).await
    }
    async fn revoke_api_key(
        &self,
        tenant: &TenantId,
        id: &ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.faults.log("revoke_api_key");
        self.inner.revoke_api_key(tenant, id, at).await
    }
    async fn health(&self) -> Result<(), StoreError> {
        self.faults.log("health");
        self.inner.health().await
    }
}

#[async_trait::async_trait]
impl BlobStore for FaultyBlobs {
    async fn put(
        &self,
        key: &BlobKey,
        body: bytes::Bytes,
        content_type: &str,
    ) -> Result<BlobMeta, BlobError> {
        if key.as_str().starts_with("reports/") {
            self.faults.blob(Stage::Report).await?;
        }
        self.inner.put(key, body, content_type).await
    }
    async fn get(&self, key: &BlobKey) -> Result<BlobReader, BlobError> {
        if key.as_str().starts_with("imports/") {
            self.faults.blob(Stage::Download).await?;
        }
        self.inner.get(key).await
    }
    async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, BlobError> {
        self.inner.head(key).await
    }
    async fn start_multipart(
        &self,
        key: &BlobKey,
        content_type: &str,
    ) -> Result<Box<dyn MultipartUpload>, BlobError> {
        if key.as_str().starts_with("reports/") {
            self.faults.blob(Stage::Report).await?;
        }
        self.inner.start_multipart(key, content_type).await
    }
    async fn presign_get(
        &self,
        key: &BlobKey,
        ttl: Duration,
        serve: leadgate_core::ports::blob::ServeAs<'_>,
    ) -> Result<String, BlobError> {
        self.inner.presign_get(key, ttl, serve).await
    }
    async fn presign_put(
        &self,
        key: &BlobKey,
        ttl: Duration,
        terms: UploadTerms<'_>,
    ) -> Result<String, BlobError> {
        self.inner.presign_put(key, ttl, terms).await
    }
    async fn list(&self, prefix: &str, after: Option<&str>, limit: u32) -> Result<BlobPage, BlobError> {
        self.inner.list(prefix, after, limit).await
    }
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        self.inner.delete(key).await
    }
}
