//! Export jobs. `POST /v1/exports` records a job (filters, format, columns, who asked) and
//! drops a request object at `exports/requests/{tenant}/{job}.json`; its ObjectCreated event
//! (or the local gateway's folder scan) runs `run_export`, which streams the caller's visible
//! leads into `exports/{tenant}/{job}.{csv,xlsx}`.
//!
//! Once per job: the run claims the job with a conditional write and holds a lease it renews
//! as it goes, so a repeated or concurrent trigger writes the export once, and a run that died
//! is taken over when its lease runs out. A failed run puts the job back for the trigger's
//! retry; after `MAX_ATTEMPTS` the job is failed for good.

pub mod writer;

use crate::domain::ids::TenantId;
use crate::domain::query::LeadQuery;
use crate::domain::tenant::{Principal, Role, Tenant};
use crate::export::ExportFormat;
use crate::export::columns::ExportColumns;
use crate::ports::blob::{BlobKey, BlobStore};
use crate::ports::clock::Clock;
use crate::ports::store::{Expect, LeadStore, get_typed, list_typed, put_typed};
use crate::services::ServiceError;
use crate::services::job_claim::{self, JobClaim, LeasedJob, Opened, open_job, visible_to};
use crate::services::leads::{list_visible_leads, load_context};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::path::Path;
use writer::ExportWriter;

pub const EXPORT_JOB: &str = "export_job";
pub const REQUEST_PREFIX: &str = crate::bucket_keys::EXPORT_REQUESTS;
/// How long a run's claim stays its own without a renewal.
pub const LEASE: chrono::Duration = chrono::Duration::seconds(120);
pub const MAX_ATTEMPTS: u32 = 3;
const PAGE: u32 = 200;
/// The lease is renewed every this many pages (5,000 rows).
const RENEW_EVERY: u32 = 25;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    Pending,
    Running,
    Completed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ExportJob {
    pub id: String,
    pub format: ExportFormat,
    /// The list API's query parameters, e.g. `{"status": "qualified", "tag": "vip"}`.
    pub filters: BTreeMap<String, String>,
    /// The columns, in order; absent means every template column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    pub status: ExportStatus,
    pub requested_by: String,
    pub role: Role,
    /// Where the file goes in the bucket.
    pub key: String,
    /// The rows written: so far while `running` (every 5,000), all of them once `completed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub lease_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewExport {
    pub format: ExportFormat,
    #[serde(default)]
    pub filters: BTreeMap<String, String>,
    /// The template's column names, in order; all of them when left out.
    #[serde(default)]
    #[schema(min_items = 1)]
    pub columns: Option<Vec<String>>,
}

/// The filters as the list query, page-sized; `limit` and `cursor` are the export's business.
fn export_query(
    ctx: &crate::domain::lead::LeadContext,
    filters: &BTreeMap<String, String>,
) -> Result<LeadQuery, ServiceError> {
    let mut q = LeadQuery::from_filters(filters, ctx, "filters")?;
    q.limit = PAGE;
    Ok(q)
}

/// The request object that starts an export job: `exports/requests/{tenant}/{job}.json`.
pub fn request_key(tenant: &TenantId, id: &str) -> Result<BlobKey, ServiceError> {
    job_claim::request_key(REQUEST_PREFIX, tenant, id)
}

/// Records the job and drops its request object, which starts the export.
pub async fn create_export_job(
    store: &dyn LeadStore,
    blobs: &dyn BlobStore,
    tenant: &Tenant,
    principal: &Principal,
    new: NewExport,
    now: DateTime<Utc>,
) -> Result<ExportJob, ServiceError> {
    let ctx = load_context(store, tenant).await?;
    export_query(&ctx, &new.filters)?;
    ExportColumns::resolve(&ctx, new.columns.as_deref())?;
    let id = uuid::Uuid::now_v7().to_string();
    let key = crate::bucket_keys::export_file(&tenant.id, &id, new.format.extension());
    BlobKey::parse(&key)?;
    let mut job = ExportJob {
        id: id.clone(),
        format: new.format,
        filters: new.filters,
        columns: new.columns,
        status: ExportStatus::Pending,
        requested_by: principal.user.clone(),
        role: principal.role,
        key,
        rows: None,
        size: None,
        error: None,
        attempts: 0,
        created_at: now,
        finished_at: None,
        lease_until: None,
    };
    let version = put_typed(store, &tenant.id, EXPORT_JOB, &id, &job, Expect::Absent).await?;
    let body = serde_json::json!({ "job_id": id }).to_string();
    if let Err(e) = blobs
        .put(&request_key(&tenant.id, &id)?, body.into(), "application/json")
        .await
    {
        job.status = ExportStatus::Failed;
        job.error = Some("the export could not be started; create it again".into());
        let _ = put_typed(store, &tenant.id, EXPORT_JOB, &id, &job, Expect::Version(version)).await;
        return Err(e.into());
    }
    Ok(job)
}

/// A job the caller may see: admins see every job of the tenant, reps their own.
pub async fn get_export_job(
    store: &dyn LeadStore,
    principal: &Principal,
    id: &str,
) -> Result<ExportJob, ServiceError> {
    get_typed::<ExportJob>(store, &principal.tenant, EXPORT_JOB, id)
        .await?
        .map(|v| v.value)
        .filter(|j| visible_to(principal, &j.requested_by))
        .ok_or(ServiceError::NotFound { what: "export job" })
}

/// The caller's jobs, newest first.
pub async fn list_export_jobs(
    store: &dyn LeadStore,
    principal: &Principal,
) -> Result<Vec<ExportJob>, ServiceError> {
    let mut jobs: Vec<ExportJob> = list_typed::<ExportJob>(store, &principal.tenant, EXPORT_JOB)
        .await?
        .into_iter()
        .map(|v| v.value)
        .filter(|j| visible_to(principal, &j.requested_by))
        .collect();
    jobs.reverse();
    Ok(jobs)
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExportRun {
    Done(Box<ExportJob>),
    /// Completed or failed for good already.
    AlreadyHandled,
    /// Another run holds the job's lease.
    InProgress,
    /// The key names no job (a stray object, or a job of another tenant's key).
    NotAJob,
    /// The tenant is suspended: the job waits, untouched (no attempt spent), until it is
    /// resumed and the request is seen again.
    Suspended,
}

type Claim<'a> = JobClaim<'a, ExportJob>;

/// Extends the lease, and says how many rows are written so far (the job's progress).
async fn renew(claim: &mut Claim<'_>, rows_so_far: u64) -> Result<bool, ServiceError> {
    let until = claim.clock.now() + LEASE;
    claim
        .write(|j| {
            j.lease_until = Some(until);
            j.rows = Some(rows_so_far);
        })
        .await
}

/// Runs the export a request object stands for, once.
pub async fn run_export(
    store: &dyn LeadStore,
    blobs: &dyn BlobStore,
    clock: &dyn Clock,
    request: &BlobKey,
    scratch: &Path,
) -> Result<ExportRun, ServiceError> {
    let mut claim: Claim = match open_job(store, blobs, clock, REQUEST_PREFIX, EXPORT_JOB, request).await? {
        Opened::Ready(claim) => claim,
        Opened::NotAJob => return Ok(ExportRun::NotAJob),
        Opened::AlreadyHandled => return Ok(ExportRun::AlreadyHandled),
        Opened::InProgress => return Ok(ExportRun::InProgress),
        Opened::Suspended => return Ok(ExportRun::Suspended),
    };
    let now = clock.now();
    if !claim
        .write(|j| {
            j.status = ExportStatus::Running;
            j.attempts += 1;
            j.lease_until = Some(now + LEASE);
        })
        .await?
    {
        return Ok(ExportRun::InProgress);
    }
    match write_export(store, blobs, &mut claim, scratch).await {
        Ok(Some((rows, size))) => {
            let finished = clock.now();
            if !claim
                .write(|j| {
                    j.status = ExportStatus::Completed;
                    j.rows = Some(rows);
                    j.size = Some(size);
                    j.error = None;
                    j.finished_at = Some(finished);
                    j.lease_until = None;
                })
                .await?
            {
                return Ok(ExportRun::InProgress);
            }
            let _ = blobs.delete(request).await;
            tracing::info!(job = %claim.job.id, rows, "export written");
            Ok(ExportRun::Done(Box::new(claim.job)))
        }
        // The lease was taken over: the other run writes the export.
        Ok(None) => Ok(ExportRun::InProgress),
        Err(e) => {
            tracing::error!(job = %claim.job.id, error = ?e, "export failed");
            let last = claim.job.attempts >= MAX_ATTEMPTS;
            let _ = claim
                .write(|j| {
                    j.lease_until = None;
                    if last {
                        j.status = ExportStatus::Failed;
                        j.error = Some(format!("the export failed {MAX_ATTEMPTS} times; create it again"));
                    } else {
                        j.status = ExportStatus::Pending;
                        j.error = Some("the export failed and will be retried".into());
                    }
                })
                .await;
            Err(e)
        }
    }
}

/// Streams the leads into the object. `None` when the lease was lost on the way.
async fn write_export(
    store: &dyn LeadStore,
    blobs: &dyn BlobStore,
    claim: &mut Claim<'_>,
    scratch: &Path,
) -> Result<Option<(u64, u64)>, ServiceError> {
    let tenant = crate::services::tenants::active_tenant(store, &claim.tenant).await?;
    let ctx = load_context(store, &tenant).await?;
    let job = claim.job.clone();
    let columns = ExportColumns::resolve(&ctx, job.columns.as_deref())?;
    let mut query = export_query(&ctx, &job.filters)?;
    // Whoever asked: a rep limited to their own leads exports only those.
    let principal = Principal {
        tenant: tenant.id.clone(),
        user: job.requested_by.clone(),
        role: job.role,
    };
    let key = BlobKey::parse(&job.key)?;
    let mut writer = ExportWriter::start(blobs, &key, job.format, columns.headers(), scratch)
        .await
        .map_err(ServiceError::from)?;
    let streamed = async {
        let mut pages = 0u32;
        loop {
            let page = list_visible_leads(store, &tenant, &principal, query.clone()).await?;
            let rows = page.items.iter().map(|l| columns.cells(l, &ctx)).collect();
            writer.write_rows(rows).await?;
            pages += 1;
            if pages.is_multiple_of(RENEW_EVERY) && !renew(claim, writer.rows()).await? {
                return Ok(false);
            }
            match page.next_cursor {
                Some(c) => query.cursor = Some(c),
                None => return Ok::<bool, ServiceError>(true),
            }
        }
    }
    .await;
    match streamed {
        Ok(true) => {
            let rows = writer.rows();
            let meta = writer.finish(blobs).await?;
            Ok(Some((rows, meta.size)))
        }
        Ok(false) => {
            writer.abort().await;
            Ok(None)
        }
        Err(e) => {
            writer.abort().await;
            Err(e)
        }
    }
}

impl LeasedJob for ExportJob {
    fn finished(&self) -> bool {
        matches!(self.status, ExportStatus::Completed | ExportStatus::Failed)
    }

    fn held(&self, now: DateTime<Utc>) -> bool {
        self.status == ExportStatus::Running && self.lease_until.is_some_and(|t| t > now)
    }
}
