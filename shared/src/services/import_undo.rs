//! Undoing an import (`DELETE /v1/imports/{id}`): the leads the job created are deleted and
//! the leads it updated get their previous values back. A lead changed since the job touched
//! it (any later write moves its version: an edit, a note, a call) is left alone and named in
//! the result, so an undo never throws away a rep's work.
//!
//! What makes it possible: created leads carry the job in `provenance.form` (and are found
//! with the `import_job` filter) and are stored at version 1; every update writes, in the
//! same transaction, an `import_undo` record holding the lead as it was and the version the
//! update left it at (`UNDO_RECORD`, written by the pipeline).

use crate::domain::activity::{Activity, ActivityKind, Actor};
use crate::domain::ids::{LeadId, TenantId};
use crate::domain::lead::Lead;
use crate::domain::query::LeadQuery;
use crate::ports::clock::Clock;
use crate::ports::store::{Expect, LeadStore, RecordWrite, StoreError, put_typed};
use crate::services::ServiceError;
use crate::services::import_jobs::{IMPORT_JOB, ImportJob, ImportJobStatus};

/// Records of this kind hold what an import's update replaced, `{job}:{lead}`.
pub const UNDO_RECORD: &str = "import_undo";

/// What an update replaced.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct UndoEntry {
    pub before: Lead,
    /// The lead's version right after the import's update.
    pub version_after: u64,
}

/// The record written with an update (in the same write).
pub fn undo_record(job_id: &str, before: &Lead) -> Result<RecordWrite, ServiceError> {
    let entry = UndoEntry {
        before: before.clone(),
        version_after: before.version + 1,
    };
    Ok(RecordWrite::typed(
        UNDO_RECORD,
        format!("{job_id}:{}", before.id),
        &entry,
        Expect::Absent,
    )?)
}

/// What an undo did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct UndoSummary {
    /// Leads the job created, now deleted.
    pub deleted: u64,
    /// Leads the job updated, now back to their previous values.
    pub reverted: u64,
    /// Leads changed since the job wrote them: left as they are.
    pub kept_changed: Vec<LeadId>,
}

/// Undoes the job's writes as far as they are still the job's (see the module doc).
pub async fn undo_writes(
    store: &dyn LeadStore,
    now: chrono::DateTime<chrono::Utc>,
    tenant: &TenantId,
    job_id: &str,
    actor: &Actor,
) -> Result<UndoSummary, ServiceError> {
    let mut summary = UndoSummary::default();
    let mut q = LeadQuery {
        import_job: Some(job_id.to_owned()),
        limit: 500,
        ..Default::default()
    };
    loop {
        let page = store.list_leads(tenant, &q).await?;
        for lead in &page.items {
            match store.delete_lead(tenant, &lead.id, Some(1)).await {
                Ok(()) => summary.deleted += 1,
                Err(StoreError::Conflict { .. }) => summary.kept_changed.push(lead.id),
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    let prefix = format!("{job_id}:");
    let mut after: Option<String> = Some(prefix.clone());
    'pages: loop {
        let records = store
            .list_records(tenant, UNDO_RECORD, after.as_deref(), 500)
            .await?;
        if records.is_empty() {
            break;
        }
        for r in &records {
            if !r.id.starts_with(&prefix) {
                break 'pages;
            }
            let entry: UndoEntry =
                serde_json::from_value(r.body.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            match store.get_lead(tenant, &entry.before.id).await? {
                Some(current) if current.version == entry.version_after => {
                    let mut restored = entry.before.clone();
                    restored.version = current.version;
                    restored.updated_at = now;
                    let undone = ActivityKind::ImportUndone {
                        job_id: job_id.to_owned(),
                    };
                    let a = Activity::new(tenant.clone(), current.id, now, actor.clone(), undone);
                    match store.commit_lead_change(&restored, &[], &[a]).await {
                        Ok(_) => summary.reverted += 1,
                        Err(StoreError::Conflict { .. }) => summary.kept_changed.push(current.id),
                        Err(e) => return Err(e.into()),
                    }
                }
                Some(current) => summary.kept_changed.push(current.id),
                None => {}
            }
            store
                .delete_record(tenant, UNDO_RECORD, &r.id, Expect::Any)
                .await?;
        }
        after = records.last().map(|r| r.id.clone());
    }
    Ok(summary)
}

/// `DELETE /v1/imports/{id}`: undoes a finished job and marks it `undone`. A job still
/// running (or waiting for its file) cannot be undone yet; one undone already says so.
pub async fn undo_import(
    store: &dyn LeadStore,
    clock: &dyn Clock,
    tenant: &TenantId,
    job_id: &str,
    user: &str,
) -> Result<ImportJob, ServiceError> {
    let found = crate::ports::store::get_typed::<ImportJob>(store, tenant, IMPORT_JOB, job_id)
        .await?
        .ok_or(ServiceError::NotFound { what: "import job" })?;
    let job = found.value;
    match job.status {
        ImportJobStatus::Running | ImportJobStatus::AwaitingUpload | ImportJobStatus::Queued => {
            return Err(ServiceError::InUse(format!(
                "the import is {}; undo it once it has ended",
                match job.status {
                    ImportJobStatus::Running => "still running",
                    ImportJobStatus::Queued => "queued to run",
                    _ => "waiting for its file",
                }
            )));
        }
        // Undone with a summary is finished; without one, an earlier undo stopped part-way
        // (or is running): running it again is safe, each step checks before it writes.
        ImportJobStatus::Undone if job.undo.is_some() => {
            return Err(ServiceError::InUse("the import was undone already".into()));
        }
        _ => {}
    }
    // Claim the undo first, so two at once do not both run it.
    let undoing = ImportJob {
        status: ImportJobStatus::Undone,
        ..job.clone()
    };
    put_typed(
        store,
        tenant,
        IMPORT_JOB,
        job_id,
        &undoing,
        Expect::Version(found.version),
    )
    .await
    .map_err(|e| match e {
        StoreError::Conflict { .. } => ServiceError::InUse("the import is being undone".into()),
        other => other.into(),
    })?;
    let actor = Actor::User { id: user.to_owned() };
    let summary = undo_writes(store, clock.now(), tenant, job_id, &actor).await?;
    let done = ImportJob {
        undo: Some(summary),
        ..undoing
    };
    put_typed(store, tenant, IMPORT_JOB, job_id, &done, Expect::Any).await?;
    Ok(done)
}
