//! The lead store port: leads, activities, settings records, counters, API keys, jobs and
//! idempotency. Implemented by SQLite (one machine) and DynamoDB (Lambda); the contract suite
//! in `shared/tests` runs the same checks against both.
//!
//! Every method takes the tenant (or a value that carries it); no call can reach across
//! tenants.

use crate::domain::activity::Activity;
use crate::domain::api_key::{ApiKeyRecord, KeyHash};
use crate::domain::duplicate::{DuplicateMatch, MatchKey};
use crate::domain::ids::{ApiKeyId, LeadId, TenantId};
use crate::domain::lead::{ExternalRef, Lead};
use crate::domain::query::{LeadCount, LeadQuery, Page};
use chrono::{DateTime, Utc};
use serde::{Serialize, de::DeserializeOwned};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// The record changed since it was read (optimistic concurrency), or already exists.
    #[error("version conflict: expected {expected:?}, found {found:?}")]
    Conflict {
        expected: Option<u64>,
        found: Option<u64>,
    },
    #[error("invalid request to the store: {0}")]
    Invalid(String),
    /// The backing service failed; the source says how (never shown to callers).
    #[error("store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unavailable(Box::new(e))
    }
}

/// Conditions written atomically with a new lead, and where its owner comes from when the
/// write picks it.
#[derive(Debug, Clone, Default)]
pub struct CreateGuards {
    /// The platform id; a second lead with the same one is refused.
    pub external: Option<ExternalRef>,
    /// The client's `Idempotency-Key`; a second create with it returns the first lead.
    pub idempotency_key: Option<IdempotencyKey>,
    /// Refuse when the email or phone matches an existing lead. The store looks up the lead's
    /// keys (`Lead::match_keys`) and answers by the one rule, `KnownContacts::duplicate`;
    /// after the guards above, so a replay answers "already processed", not "duplicate".
    pub reject_duplicates: bool,
    /// Take the tenant's next round-robin slot in this write and give the lead its rep
    /// (`RoundRobin::assigned`); the lead given has no owner then. Only a write that stores the
    /// lead takes a slot.
    pub round_robin: Option<crate::domain::rep::RoundRobin>,
}

/// An idempotency key, with what the request that first used it looked like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    /// A digest of the request; a later request with the same key and another digest is not
    /// a replay. `None` where any request may replay (capture's own keys).
    pub fingerprint: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    Created(Box<Lead>),
    ExternalIdTaken(LeadId),
    /// The key's first lead, and the fingerprint stored with the key (none for keys stored
    /// before fingerprints were).
    IdempotencyKeyTaken(LeadId, Option<String>),
    Duplicate(DuplicateMatch),
}

/// What a conditional record write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The record must not exist yet.
    Absent,
    /// The record must exist at this version.
    Version(u64),
    /// Unconditional.
    Any,
}

/// The most records one `put_records` writes: DynamoDB's limit on one `TransactWriteItems`
/// (SQLite has none; the port keeps one limit so a caller sized for one store fits the other).
pub const MAX_RECORDS_PER_WRITE: usize = 100;

/// The most bytes a caller packing many records into one `put_records` should estimate for
/// it: DynamoDB refuses a transaction over 4 MB (not as a conflict), so a margin below that.
pub const MAX_BYTES_PER_WRITE: usize = 3 * 1024 * 1024;

/// What both adapters answer to a `put_records` past `MAX_RECORDS_PER_WRITE`.
pub fn too_many_records() -> StoreError {
    StoreError::Invalid(format!("at most {MAX_RECORDS_PER_WRITE} records in one write"))
}

/// A record written inside a lead's write (`create_lead`, `commit_lead_change`) or with others
/// (`put_records`), on the same terms as `put_record`: if `expect` does not hold, nothing of
/// the write happens.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordWrite {
    pub kind: &'static str,
    pub id: String,
    /// The record's new body; `None` removes it (see `RecordWrite::remove`).
    pub body: Option<serde_json::Value>,
    pub expect: Expect,
}

impl RecordWrite {
    /// A record that must not exist yet (stored at version 1).
    pub fn new(kind: &'static str, id: impl Into<String>, body: serde_json::Value) -> Self {
        Self {
            kind,
            id: id.into(),
            body: Some(body),
            expect: Expect::Absent,
        }
    }

    /// Removes the record, whatever its version, and is no failure if it is gone already
    /// (the only removal the port takes: both adapters refuse one with another `expect`):
    /// what a consumed queue entry needs (the outbox entry a fan-out has turned into
    /// deliveries, written with them).
    pub fn remove(kind: &'static str, id: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.into(),
            body: None,
            expect: Expect::Any,
        }
    }

    /// A typed record, written if `expect` holds.
    pub fn typed<T: Serialize>(
        kind: &'static str,
        id: impl Into<String>,
        value: &T,
        expect: Expect,
    ) -> Result<Self, StoreError> {
        let body = serde_json::to_value(value).map_err(|e| StoreError::Invalid(e.to_string()))?;
        Ok(Self {
            kind,
            id: id.into(),
            body: Some(body),
            expect,
        })
    }
}

/// A settings record or job as stored: JSON plus its version.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    pub id: String,
    pub version: u64,
    pub body: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

/// Record kinds, one per settings collection.
pub mod kinds {
    pub const TENANT: &str = "tenant";
    /// The operator's index of tenants, in the platform partition.
    pub const TENANT_ENTRY: &str = "tenant_entry";
    pub const SOURCE: &str = "source";
    pub const CUSTOM_FIELD: &str = "custom_field";
    pub const REP: &str = "rep";
    pub const STAGE: &str = "stage";
    pub const FORM: &str = "form";
    pub const JOB: &str = "job";
    pub const IDEMPOTENCY: &str = "idempotency";
    pub const PROSPECT: &str = "prospect";
    pub const DEAL: &str = "deal";
    pub const SUBMISSION: &str = "submission";
    pub const CHANNEL: &str = "channel";
    /// What an attachment was announced as (its content type), read when it is downloaded.
    pub const ATTACHMENT: &str = "attachment";
    /// Events written with their change, waiting to be fanned out to subscriptions.
    pub const OUTBOX: &str = "outbox";
    /// A tenant's webhook subscriptions.
    pub const WEBHOOK: &str = "webhook";
    /// The delivery log: one record per event and subscription.
    pub const WEBHOOK_DELIVERY: &str = "webhook_delivery";
    /// Deliveries still to attempt (same ids as their log rows), so a pass reads only these.
    pub const WEBHOOK_QUEUE: &str = "webhook_queue";
    /// A lead id that may not be given to a new lead: every deleted lead's (written with its
    /// deletion) and every id a caller chose (written with its lead, absent only), so no id
    /// names two leads over time: a webhook receiver or an old deal never meets another lead
    /// under a known id.
    pub const LEAD_ID: &str = "lead_id";
}

/// A write's outbox entry as a record of that write. Written if absent: the same write sent
/// again (a retried transaction) stays one entry.
pub fn outbox_record(entry: &crate::domain::webhook::OutboxEntry) -> Result<RecordWrite, StoreError> {
    RecordWrite::typed(kinds::OUTBOX, entry.record_id(), entry, Expect::Any)
}

/// Refuses timeline entries of any lead but those written with them (same tenant, same id):
/// what every adapter's create, batch write and lead change checks before it writes anything.
pub fn entries_of<'a>(
    leads: impl IntoIterator<Item = &'a Lead>,
    entries: &[Activity],
) -> Result<(), StoreError> {
    let written: std::collections::HashSet<(&TenantId, &LeadId)> =
        leads.into_iter().map(|l| (&l.tenant, &l.id)).collect();
    match entries
        .iter()
        .any(|a| !written.contains(&(&a.tenant, &a.lead_id)))
    {
        true => Err(StoreError::Invalid(
            "a timeline entry of a lead that is not written with it".into(),
        )),
        false => Ok(()),
    }
}

/// `records` with the outbox entry of a lead's write added: what every adapter's lead write
/// calls, so no lead changes without its events.
pub fn with_lead_events(
    records: &[RecordWrite],
    lead: &Lead,
    entries: &[Activity],
    change: crate::domain::webhook::LeadChange,
    at: DateTime<Utc>,
) -> Result<Vec<RecordWrite>, StoreError> {
    let entry = crate::domain::webhook::OutboxEntry::for_lead(lead, entries, change, at);
    let mut out = records.to_vec();
    out.push(outbox_record(&entry)?);
    if change == crate::domain::webhook::LeadChange::Deleted {
        out.push(RecordWrite::typed(
            kinds::LEAD_ID,
            lead.id.to_string(),
            &serde_json::json!({"deleted_at": at, "version": lead.version}),
            Expect::Any,
        )?);
    }
    Ok(out)
}

#[async_trait::async_trait]
pub trait LeadStore: Send + Sync + 'static {
    // --- leads -------------------------------------------------------------------------
    /// Stores a new lead (version 1) with its guards, its first timeline `entries` (which
    /// belong to it) and the `records` its use case writes with it (capture's submission
    /// outcome) in one atomic write: a lead is never stored without them. When a guard or
    /// duplicate answers instead, nothing is written. With `guards.round_robin` the write
    /// also takes the rotation's slot and `Created` holds the lead with its owner.
    async fn create_lead(
        &self,
        lead: &Lead,
        guards: &CreateGuards,
        entries: &[Activity],
        records: &[RecordWrite],
    ) -> Result<CreateOutcome, StoreError>;
    /// Stores many new leads without guards (imports, after their own duplicate pass), each
    /// with its timeline `entries` (which must belong to leads of the batch). SQLite writes
    /// the batch in one transaction; DynamoDB in BatchWriteItem calls, several in flight,
    /// which is not atomic: a caller checkpoints only after the batch is written, so a batch
    /// cut short is written again whole. A lead or entry whose id exists is replaced, so a
    /// resumed import rewrites what a killed one wrote instead of adding to it.
    async fn put_leads_batch(&self, leads: &[Lead], entries: &[Activity]) -> Result<(), StoreError>;
    async fn get_lead(&self, tenant: &TenantId, id: &LeadId) -> Result<Option<Lead>, StoreError>;
    /// The stored leads among `ids`, each once, in no particular order: the batch form of
    /// `get_lead`, for imports under `update` (one call per 500 rows instead of one per
    /// matched row).
    async fn get_leads(&self, tenant: &TenantId, ids: &[LeadId]) -> Result<Vec<Lead>, StoreError>;
    /// Replaces the lead if it is still at `lead.version`; returns it at the next version.
    async fn update_lead(&self, lead: &Lead) -> Result<Lead, StoreError>;
    /// Deletes the lead and its timeline; with `expected_version`, only at that version.
    async fn delete_lead(
        &self,
        tenant: &TenantId,
        id: &LeadId,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError>;
    async fn list_leads(&self, tenant: &TenantId, query: &LeadQuery) -> Result<Page<Lead>, StoreError>;
    /// How many leads match the query's filters (its sort, cursor and limit aside): exact up
    /// to `exact_up_to` at least; past it a store may estimate, and says so.
    async fn count_leads(
        &self,
        tenant: &TenantId,
        query: &LeadQuery,
        exact_up_to: u64,
    ) -> Result<LeadCount, StoreError>;
    /// Leads with this normalized email or E.164 phone (or mobile, when no phone).
    async fn find_leads_by_contact(
        &self,
        tenant: &TenantId,
        key: &MatchKey,
    ) -> Result<Vec<LeadId>, StoreError>;
    /// The batch form of `find_leads_by_contact`, for imports: every (key, lead) pair for
    /// these keys, in no particular order. One query a batch instead of one a row, which
    /// was most of an import's time (BENCHMARKS.md, target 3).
    async fn find_leads_by_contacts(
        &self,
        tenant: &TenantId,
        keys: &[MatchKey],
    ) -> Result<Vec<(MatchKey, LeadId)>, StoreError>;

    /// One atomic write: the lead (stored if still at `lead.version`, saved at the next
    /// version with `last_activity_at` moved to the newest activity), records (each written
    /// if its `expect` holds), and timeline entries. Either all of it happens or none of it.
    async fn commit_lead_change(
        &self,
        lead: &Lead,
        records: &[RecordWrite],
        activities: &[Activity],
    ) -> Result<Lead, StoreError>;

    // --- rollups -------------------------------------------------------------------------
    /// The tenant's rollup rows of one dimension for the days `from..=to`, in (day, key)
    /// order. Every lead write above moves them in its own atomic write (`domain::rollup`),
    /// except DynamoDB's `put_leads_batch`, which moves them after its batch (see there).
    async fn read_rollups(
        &self,
        tenant: &TenantId,
        dim: crate::domain::rollup::Dim,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<(crate::domain::rollup::Cell, crate::domain::rollup::Counts)>, StoreError>;
    /// Replaces every rollup row of the tenant with `rows`: a rebuild from the leads.
    async fn replace_rollups(
        &self,
        tenant: &TenantId,
        rows: &[(crate::domain::rollup::Cell, crate::domain::rollup::Counts)],
    ) -> Result<(), StoreError>;

    // --- activities ----------------------------------------------------------------------
    /// Appends to the timeline and moves the lead's `last_activity_at` (and version).
    async fn append_activity(&self, activity: &Activity) -> Result<(), StoreError>;
    /// Newest first.
    async fn list_activities(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Activity>, StoreError>;

    // --- settings records and jobs ----------------------------------------------------------
    async fn get_record(
        &self,
        tenant: &TenantId,
        kind: &str,
        id: &str,
    ) -> Result<Option<RawRecord>, StoreError>;
    /// Writes a record if `expect` holds; returns the new version.
    async fn put_record(
        &self,
        tenant: &TenantId,
        kind: &str,
        id: &str,
        body: &serde_json::Value,
        expect: Expect,
    ) -> Result<u64, StoreError>;
    /// Writes several records of one tenant atomically, each if its `expect` holds: all or
    /// none (a change and the event that announces it, e.g. a failed capture and its
    /// `capture.failed`; a page of outbox entries and the deliveries made of them). At most
    /// `MAX_RECORDS_PER_WRITE`.
    async fn put_records(&self, tenant: &TenantId, records: &[RecordWrite]) -> Result<(), StoreError>;
    /// All records of a kind, in id order (settings lists are small; jobs page by id).
    async fn list_records(
        &self,
        tenant: &TenantId,
        kind: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RawRecord>, StoreError>;
    /// Every record of each of `kinds`, in the order asked, in one read where the store can
    /// (SQLite: one call on a reader; DynamoDB, where each kind is its own partition: one
    /// query each, side by side). For small kinds only: a lead's context reads its sources,
    /// custom fields and reps this way.
    async fn list_records_of(
        &self,
        tenant: &TenantId,
        kinds: &[&str],
    ) -> Result<Vec<Vec<RawRecord>>, StoreError>;
    async fn delete_record(
        &self,
        tenant: &TenantId,
        kind: &str,
        id: &str,
        expect: Expect,
    ) -> Result<(), StoreError>;

    // --- counters ------------------------------------------------------------------------
    /// Atomically adds `by` (at least 1) and returns the new value; the first call with 1
    /// returns 1. Adding n reserves the n values up to the returned one.
    async fn increment_counter(&self, tenant: &TenantId, name: &str, by: u64) -> Result<u64, StoreError>;

    // --- API keys ------------------------------------------------------------------------
    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    /// Looks a key up by hash across tenants: this is how a request finds its tenant.
    async fn find_api_key(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError>;
    async fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError>;
    async fn revoke_api_key(
        &self,
        tenant: &TenantId,
        id: &ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// A cheap round trip to the backing service.
    async fn health(&self) -> Result<(), StoreError>;
}

/// Typed access to records, shared by every adapter.
pub async fn get_typed<T: DeserializeOwned>(
    store: &dyn LeadStore,
    tenant: &TenantId,
    kind: &str,
    id: &str,
) -> Result<Option<Versioned<T>>, StoreError> {
    match store.get_record(tenant, kind, id).await? {
        None => Ok(None),
        Some(r) => Ok(Some(Versioned {
            value: decode(kind, &r)?,
            version: r.version,
        })),
    }
}

pub async fn put_typed<T: Serialize>(
    store: &dyn LeadStore,
    tenant: &TenantId,
    kind: &str,
    id: &str,
    value: &T,
    expect: Expect,
) -> Result<u64, StoreError> {
    let body = serde_json::to_value(value).map_err(|e| StoreError::Invalid(e.to_string()))?;
    store.put_record(tenant, kind, id, &body, expect).await
}

/// Every record of a kind (settings collections are small and bounded).
pub async fn list_typed<T: DeserializeOwned>(
    store: &dyn LeadStore,
    tenant: &TenantId,
    kind: &str,
) -> Result<Vec<Versioned<T>>, StoreError> {
    list_all_records(store, tenant, kind)
        .await?
        .iter()
        .map(|r| {
            Ok(Versioned {
                value: decode(kind, r)?,
                version: r.version,
            })
        })
        .collect()
}

/// Every record of a kind, page by page through `list_records`: for a store whose
/// `list_records_of` has nothing better than reading each kind (DynamoDB).
pub async fn list_all_records(
    store: &dyn LeadStore,
    tenant: &TenantId,
    kind: &str,
) -> Result<Vec<RawRecord>, StoreError> {
    const PAGE: u32 = 1000;
    let mut all: Vec<RawRecord> = Vec::new();
    loop {
        let page = store
            .list_records(tenant, kind, all.last().map(|r| r.id.as_str()), PAGE)
            .await?;
        let done = page.len() < PAGE as usize;
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

/// The records of a kind as `T`, versions dropped (what `list_records_of` read).
pub fn decode_all<T: DeserializeOwned>(kind: &str, records: &[RawRecord]) -> Result<Vec<T>, StoreError> {
    records.iter().map(|r| decode(kind, r)).collect()
}

fn decode<T: DeserializeOwned>(kind: &str, r: &RawRecord) -> Result<T, StoreError> {
    serde_json::from_value(r.body.clone())
        .map_err(|e| StoreError::Corrupt(format!("{kind} record {}: {e}", r.id)))
}
