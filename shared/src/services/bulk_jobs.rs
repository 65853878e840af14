//! Bulk edits over more than 1,000 leads: a filter that matches more becomes a job, run the
//! way exports are. `POST /v1/leads/bulk` records the job (the action already checked) and
//! drops a request object at `bulk-edits/requests/{tenant}/{job}.json`; its ObjectCreated event
//! (the export function on AWS) or the local gateway's folder scan runs `run_bulk_job`.
//!
//! - **Once:** the run claims the job with a conditional write and holds a lease it renews
//!   page by page (`job_claim`); a repeated or concurrent trigger finds it held.
//! - **Resumable:** the leads are read in created order, a page at a time, and each page ends
//!   with one write of the job: the cursor after the page, the counts, the renewed lease. A run
//!   that died is taken over when its lease runs out and goes on from that cursor. Cursors are
//!   positions, so leads the action moves out of the filter do not shift the pages.
//! - **Idempotent:** each lead goes through the same `Edit::one` as a bulk edit of 1,000, and
//!   the actions set values, so a lead of the page a dead run was on comes out `unchanged` the
//!   second time. Round robin would hand it out again, so on a resumed page a lead this job
//!   already handed out (an `assigned` entry by round robin, by the job's requester, since the
//!   job started) is left as it is.

use crate::domain::activity::{ActivityKind, Actor};
use crate::domain::ids::TenantId;
use crate::domain::lead::Lead;
use crate::domain::query::{LeadQuery, SortField, SortOrder};
use crate::domain::tenant::{Principal, Role, Tenant};
use crate::ports::blob::{BlobKey, BlobStore};
use crate::ports::clock::Clock;
use crate::ports::store::{Expect, LeadStore, get_typed, list_typed, put_typed};
use crate::services::ServiceError;
use crate::services::bulk_edit::{
    BulkAction, Checked, EDITS_IN_FLIGHT, Edit, EditOutcome, EditPorts, EditResult, check_action,
};
use crate::services::job_claim::{self, JobClaim, LeasedJob, Opened, open_job, visible_to};
use crate::services::leads::{list_visible_leads, load_context};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use std::collections::BTreeMap;

pub const BULK_EDIT_JOB: &str = "bulk_edit_job";
pub const REQUEST_PREFIX: &str = crate::bucket_keys::BULK_EDIT_REQUESTS;
/// How long a run's claim stays its own without a renewal (a page takes well under this).
pub const LEASE: chrono::Duration = chrono::Duration::seconds(120);
pub const MAX_FAILURES: u32 = 3;
/// Time kept back from a Lambda's deadline: a page and its checkpoint fit in it.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(60);
/// Leads per page, and so per checkpoint.
const PAGE: u32 = 200;
/// The skipped and failed results a job keeps, with their reasons (the counts cover all).
pub const MAX_PROBLEMS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BulkJobStatus {
    Pending,
    Running,
    Completed,
    Failed,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct BulkEditJob {
    pub id: String,
    pub status: BulkJobStatus,
    /// The list parameters that chose the leads.
    pub filter: BTreeMap<String, String>,
    pub action: BulkAction,
    pub dry_run: bool,
    pub requested_by: String,
    pub role: Role,
    /// Leads handled so far (all of them once `completed`), and how each came out.
    pub processed: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub failed: u64,
    /// The first skipped or failed leads, with why (up to 100).
    #[serde(default)]
    pub problems: Vec<JobProblem>,
    /// Runs started (a long job pauses near a Lambda's deadline and goes on in another).
    #[serde(default)]
    pub attempts: u32,
    /// Runs that failed; the `MAX_FAILURES`th fails the job.
    #[serde(default)]
    pub failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Where the next page starts: the position after the last page written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub lease_until: Option<DateTime<Utc>>,
}

/// A lead the job skipped or failed, and why.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct JobProblem {
    pub lead_id: String,
    pub outcome: EditOutcome,
    pub reason: String,
}

impl JobProblem {
    fn of(r: &EditResult) -> Self {
        let mut reason = r.reason.clone().unwrap_or_default();
        for e in &r.errors {
            reason.push_str(&format!("; {}: {}", e.field, e.message));
        }
        JobProblem {
            lead_id: r.lead_id.clone(),
            outcome: r.outcome,
            reason,
        }
    }
}

pub fn request_key(tenant: &TenantId, id: &str) -> Result<BlobKey, ServiceError> {
    job_claim::request_key(REQUEST_PREFIX, tenant, id)
}

/// The query a job pages through: the filter, oldest first, a page at a time.
fn job_query(filter: &LeadQuery, cursor: Option<String>) -> LeadQuery {
    LeadQuery {
        sort: SortField::Created,
        order: SortOrder::Asc,
        limit: PAGE,
        cursor,
        ..filter.clone()
    }
}

/// Records the job and drops its request object, which starts it. The action and filter are
/// checked by the caller (`bulk_edit`), which found more leads than one request edits.
pub(crate) async fn create_bulk_job(
    ports: &EditPorts<'_>,
    tenant: &Tenant,
    principal: &Principal,
    filter: BTreeMap<String, String>,
    action: BulkAction,
    dry_run: bool,
) -> Result<BulkEditJob, ServiceError> {
    let id = uuid::Uuid::now_v7().to_string();
    let mut job = BulkEditJob {
        id: id.clone(),
        status: BulkJobStatus::Pending,
        filter,
        action,
        dry_run,
        requested_by: principal.user.clone(),
        role: principal.role,
        processed: 0,
        changed: 0,
        unchanged: 0,
        skipped: 0,
        failed: 0,
        problems: vec![],
        attempts: 0,
        failures: 0,
        error: None,
        created_at: ports.clock.now(),
        started_at: None,
        finished_at: None,
        cursor: None,
        lease_until: None,
    };
    let store = ports.store;
    let version = put_typed(store, &tenant.id, BULK_EDIT_JOB, &id, &job, Expect::Absent).await?;
    let body = serde_json::json!({ "job_id": id }).to_string();
    let request = request_key(&tenant.id, &id)?;
    if let Err(e) = ports.blobs.put(&request, body.into(), "application/json").await {
        job.status = BulkJobStatus::Failed;
        job.error = Some("the job could not be started; send the request again".into());
        let _ = put_typed(
            store,
            &tenant.id,
            BULK_EDIT_JOB,
            &id,
            &job,
            Expect::Version(version),
        )
        .await;
        return Err(e.into());
    }
    Ok(job)
}

/// A job the caller may see: admins see every job of the tenant, reps their own.
pub async fn get_bulk_job(
    store: &dyn LeadStore,
    principal: &Principal,
    id: &str,
) -> Result<BulkEditJob, ServiceError> {
    get_typed::<BulkEditJob>(store, &principal.tenant, BULK_EDIT_JOB, id)
        .await?
        .map(|v| v.value)
        .filter(|j| visible_to(principal, &j.requested_by))
        .ok_or(ServiceError::NotFound {
            what: "bulk edit job",
        })
}

/// The caller's jobs, newest first.
pub async fn list_bulk_jobs(
    store: &dyn LeadStore,
    principal: &Principal,
) -> Result<Vec<BulkEditJob>, ServiceError> {
    let mut jobs: Vec<BulkEditJob> = list_typed::<BulkEditJob>(store, &principal.tenant, BULK_EDIT_JOB)
        .await?
        .into_iter()
        .map(|v| v.value)
        .filter(|j| visible_to(principal, &j.requested_by))
        .collect();
    jobs.reverse();
    Ok(jobs)
}

#[derive(Debug, Clone)]
pub enum BulkRun {
    Done(Box<BulkEditJob>),
    /// Completed or failed for good already.
    AlreadyHandled,
    /// Another run holds the job's lease.
    InProgress,
    /// The key names no job.
    NotAJob,
    /// The tenant is suspended: the job waits, no attempt spent.
    Suspended,
    /// The run stopped near its deadline at a checkpoint and dropped the request again, so
    /// another run goes on from there.
    Paused,
}

type Claim<'a> = JobClaim<'a, BulkEditJob>;

/// Runs the job a request object stands for, once, from where the last run got to. With a
/// `deadline` (a Lambda's), the run pauses at the first checkpoint within `DEADLINE_MARGIN` of
/// it and puts the request object again, whose event starts the next run.
pub async fn run_bulk_job(
    store: &dyn LeadStore,
    blobs: &dyn BlobStore,
    clock: &dyn Clock,
    request: &BlobKey,
    deadline: Option<std::time::Instant>,
) -> Result<BulkRun, ServiceError> {
    let mut claim: Claim = match open_job(store, blobs, clock, REQUEST_PREFIX, BULK_EDIT_JOB, request).await?
    {
        Opened::Ready(claim) => claim,
        Opened::NotAJob => return Ok(BulkRun::NotAJob),
        Opened::AlreadyHandled => return Ok(BulkRun::AlreadyHandled),
        Opened::InProgress => return Ok(BulkRun::InProgress),
        Opened::Suspended => return Ok(BulkRun::Suspended),
    };
    let (now, id) = (clock.now(), claim.id.clone());
    // A job someone already ran part of resumes: its first page may hold leads already done.
    let resumed = claim.job.started_at.is_some();
    let taken = claim
        .write(|j| {
            j.status = BulkJobStatus::Running;
            j.attempts += 1;
            j.started_at.get_or_insert(now);
            j.lease_until = Some(now + LEASE);
        })
        .await?;
    if !taken {
        return Ok(BulkRun::InProgress);
    }
    let ports = EditPorts { store, blobs, clock };
    let stop_by = deadline.map(|d| d.checked_sub(DEADLINE_MARGIN).unwrap_or(d));
    match edit_pages(&ports, &mut claim, resumed, stop_by).await {
        Ok(Pages::Done) => {
            let _ = blobs.delete(request).await;
            tracing::info!(job = %id, processed = claim.job.processed, "bulk edit job done");
            Ok(BulkRun::Done(Box::new(claim.job)))
        }
        Ok(Pages::Paused) => {
            let body = serde_json::json!({ "job_id": id }).to_string();
            blobs.put(request, body.into(), "application/json").await?;
            tracing::info!(job = %id, processed = claim.job.processed, "bulk edit job paused");
            Ok(BulkRun::Paused)
        }
        Ok(Pages::LeaseLost) => Ok(BulkRun::InProgress),
        Err(e) => {
            tracing::error!(job = %id, error = ?e, "bulk edit job failed");
            let last = claim.job.failures + 1 >= MAX_FAILURES;
            // The cause as a caller may read it; any other cause stays in the log.
            let cause = match &e {
                ServiceError::Validation(errs) => {
                    let msgs: Vec<&str> = errs.0.iter().map(|f| f.message.as_str()).collect();
                    msgs.join("; ")
                }
                ServiceError::Forbidden(why) => (*why).to_owned(),
                _ => "storage failed".to_owned(),
            };
            let _ = claim
                .write(|j| {
                    j.lease_until = None;
                    j.failures += 1;
                    if last {
                        j.status = BulkJobStatus::Failed;
                        j.error = Some(format!(
                            "the job failed {MAX_FAILURES} times ({cause}); what it changed stays changed"
                        ));
                    } else {
                        j.status = BulkJobStatus::Pending;
                        j.error = Some(format!(
                            "the job failed ({cause}) and will go on from where it got to"
                        ));
                    }
                })
                .await;
            Err(e)
        }
    }
}

/// How a run's pages ended.
enum Pages {
    /// Every page is done, and the job is recorded completed in the last page's write.
    Done,
    /// Stopped at a checkpoint near the deadline; the job is pending again.
    Paused,
    /// Someone else holds the job now.
    LeaseLost,
}

/// Edits page after page, writing the job after each: the cursor after the page, its counts
/// and the renewed lease, and, with the last page, the job completed in the same write (so a
/// finished job can never be read as one not started). The action is checked against the
/// tenant again for every page: a rep deactivated meanwhile fails the job instead of taking
/// more leads.
async fn edit_pages(
    ports: &EditPorts<'_>,
    claim: &mut Claim<'_>,
    mut resumed: bool,
    stop_by: Option<std::time::Instant>,
) -> Result<Pages, ServiceError> {
    let store = ports.store;
    let job = claim.job.clone();
    let tenant = crate::services::tenants::active_tenant(store, &claim.tenant).await?;
    // As whoever asked: a rep limited to their own leads edits only those.
    let principal = Principal {
        tenant: tenant.id.clone(),
        user: job.requested_by.clone(),
        role: job.role,
    };
    let started = job.started_at.unwrap_or(job.created_at);
    let mut cursor = job.cursor.clone();
    loop {
        let ctx = load_context(store, &tenant).await?;
        let action = check_action(&job.action, &ctx, &principal)?;
        let filter = LeadQuery::from_filters(&job.filter, &ctx, "filter")?;
        let edit = Edit {
            ports,
            tenant: &tenant,
            principal: &principal,
            ctx: &ctx,
            action: &action,
            filter: Some(&filter),
            dry_run: job.dry_run,
        };
        let page = list_visible_leads(store, &tenant, &principal, job_query(&filter, cursor.clone())).await?;
        let mut results = Vec::with_capacity(page.items.len());
        let mut todo = Vec::new();
        for lead in &page.items {
            if resumed && handed_out_by_job(store, &action, lead, &job.requested_by, started).await? {
                results.push(EditResult::unchanged(lead));
            } else {
                todo.push(lead.id);
            }
        }
        let raw: Vec<String> = todo.iter().map(|id| id.to_string()).collect();
        let edits: Vec<_> = raw.iter().zip(&todo).map(|(r, id)| edit.one(r, *id)).collect();
        results.extend(
            futures::stream::iter(edits)
                .buffered(EDITS_IN_FLIGHT)
                .collect::<Vec<_>>()
                .await,
        );
        resumed = false;
        cursor = page.next_cursor;
        let now = ports.clock.now();
        let finished = cursor.is_none();
        let pause = !finished && stop_by.is_some_and(|t| std::time::Instant::now() >= t);
        let next = cursor.clone();
        let kept = claim
            .write(|j| {
                j.cursor = next;
                for r in results {
                    j.processed += 1;
                    match r.outcome {
                        EditOutcome::Changed | EditOutcome::WouldChange => j.changed += 1,
                        EditOutcome::Unchanged => j.unchanged += 1,
                        EditOutcome::Skipped => j.skipped += 1,
                        EditOutcome::Failed => j.failed += 1,
                    }
                    let problem = matches!(r.outcome, EditOutcome::Skipped | EditOutcome::Failed);
                    if problem && j.problems.len() < MAX_PROBLEMS {
                        j.problems.push(JobProblem::of(&r));
                    }
                }
                if finished {
                    j.status = BulkJobStatus::Completed;
                    j.error = None;
                    j.finished_at = Some(now);
                    j.lease_until = None;
                } else if pause {
                    j.status = BulkJobStatus::Pending;
                    j.lease_until = None;
                } else {
                    j.lease_until = Some(now + LEASE);
                }
            })
            .await?;
        match (kept, finished, pause) {
            (false, ..) => return Ok(Pages::LeaseLost),
            (true, true, _) => return Ok(Pages::Done),
            (true, false, true) => return Ok(Pages::Paused),
            (true, false, false) => {}
        }
    }
}

/// Whether this job's round robin already handed the lead out (a run died after its write
/// and before the page's checkpoint).
async fn handed_out_by_job(
    store: &dyn LeadStore,
    action: &Checked,
    lead: &Lead,
    requester: &str,
    since: DateTime<Utc>,
) -> Result<bool, ServiceError> {
    if !matches!(action, Checked::RoundRobin) {
        return Ok(false);
    }
    let recent = store.list_activities(&lead.tenant, &lead.id, None, 20).await?;
    Ok(recent.items.iter().any(|a| {
        a.at >= since
            && matches!(&a.actor, Actor::User { id } if id == requester)
            && matches!(&a.kind, ActivityKind::Assigned { reason, .. } if reason == "round_robin")
    }))
}

impl LeasedJob for BulkEditJob {
    fn finished(&self) -> bool {
        matches!(self.status, BulkJobStatus::Completed | BulkJobStatus::Failed)
    }

    fn held(&self, now: DateTime<Utc>) -> bool {
        self.status == BulkJobStatus::Running && self.lease_until.is_some_and(|t| t > now)
    }
}
