//! Adding to and reading a lead's timeline. People add notes, calls, emails and tasks; status
//! changes, assignments, captures, attachments and conversions are written by the system.

use crate::domain::activity::{Activity, ActivityKind, Actor, Direction};
use crate::domain::error::{FieldError, FieldErrors};
use crate::domain::ids::{ActivityId, LeadId};
use crate::domain::query::Page;
use crate::domain::status::LeadStatus;
use crate::domain::tenant::{Principal, Tenant};
use crate::ports::clock::Clock;
use crate::ports::store::LeadStore;
use crate::services::ServiceError;
use crate::services::lead_patch::change_entries;
use crate::services::leads::get_visible_lead;
use chrono::{DateTime, Utc};
use serde::Deserialize;

/// A timeline entry a person adds.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum NewActivity {
    Note {
        #[schema(
            min_length = 1,
            max_length = 10000,
            pattern = "[^\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
        )]
        body: String,
    },
    Call {
        direction: Direction,
        #[serde(default, deserialize_with = "crate::domain::whole::option_int32")]
        #[schema(maximum = 86400)]
        duration_seconds: Option<u32>,
        #[schema(max_length = 200)]
        outcome: Option<String>,
        #[schema(max_length = 10000)]
        notes: Option<String>,
    },
    Email {
        direction: Direction,
        #[schema(
            min_length = 1,
            max_length = 300,
            pattern = "[^\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
        )]
        subject: String,
        #[schema(max_length = 50000)]
        body: Option<String>,
    },
    Task {
        #[schema(
            min_length = 1,
            max_length = 300,
            pattern = "[^\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
        )]
        title: String,
        due_at: Option<DateTime<Utc>>,
    },
    TaskDone {
        #[schema(value_type = String, format = Uuid)]
        task_id: ActivityId,
    },
}

fn text(errs: &mut FieldErrors, field: &str, v: &str, max: usize) -> String {
    let t = v.trim();
    if t.is_empty() || t.chars().count() > max {
        errs.push(FieldError::new(
            field,
            "invalid_length",
            format!("{field} is 1-{max} characters"),
        ));
    }
    t.to_owned()
}

fn opt_text(errs: &mut FieldErrors, field: &str, v: &Option<String>, max: usize) -> Option<String> {
    v.as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| text(errs, field, s, max))
}

/// Every task on the timeline and whether it is done.
async fn task_states(
    store: &dyn LeadStore,
    tenant: &Tenant,
    lead: &LeadId,
) -> Result<Vec<(ActivityId, bool)>, ServiceError> {
    let mut created = Vec::new();
    let mut done = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .list_activities(&tenant.id, lead, cursor.as_deref(), 500)
            .await?;
        for a in &page.items {
            match &a.kind {
                ActivityKind::TaskCreated { task_id, .. } => created.push(*task_id),
                ActivityKind::TaskCompleted { task_id } => done.push(*task_id),
                _ => {}
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(created.into_iter().map(|id| (id, done.contains(&id))).collect())
}

pub async fn add_activity(
    store: &dyn LeadStore,
    clock: &dyn Clock,
    tenant: &Tenant,
    principal: &Principal,
    lead_id: &LeadId,
    new: NewActivity,
) -> Result<Activity, ServiceError> {
    let lead = get_visible_lead(store, tenant, principal, lead_id).await?;
    let mut errs = FieldErrors::default();
    let kind = match new {
        NewActivity::Note { body } => ActivityKind::Note {
            body: text(&mut errs, "body", &body, 10_000),
        },
        NewActivity::Call {
            direction,
            duration_seconds,
            outcome,
            notes,
        } => {
            if duration_seconds.is_some_and(|d| d > 86_400) {
                errs.push(FieldError::new(
                    "duration_seconds",
                    "out_of_range",
                    "a call lasts at most 86400 seconds",
                ));
            }
            ActivityKind::Call {
                direction,
                duration_seconds,
                outcome: opt_text(&mut errs, "outcome", &outcome, 200),
                notes: opt_text(&mut errs, "notes", &notes, 10_000),
            }
        }
        NewActivity::Email {
            direction,
            subject,
            body,
        } => ActivityKind::Email {
            direction,
            subject: text(&mut errs, "subject", &subject, 300),
            body: opt_text(&mut errs, "body", &body, 50_000),
        },
        NewActivity::Task { title, due_at } => ActivityKind::TaskCreated {
            task_id: ActivityId::new(),
            title: text(&mut errs, "title", &title, 300),
            due_at,
        },
        NewActivity::TaskDone { task_id } => {
            match task_states(store, tenant, &lead.id)
                .await?
                .iter()
                .find(|(id, _)| *id == task_id)
            {
                None => errs.push(FieldError::new(
                    "task_id",
                    "unknown_task",
                    "there is no such task on this lead",
                )),
                Some((_, true)) => errs.push(FieldError::new(
                    "task_id",
                    "already_done",
                    "that task is already done",
                )),
                Some((_, false)) => {}
            }
            ActivityKind::TaskCompleted { task_id }
        }
    };
    if !errs.is_empty() {
        return Err(ServiceError::Validation(errs));
    }
    let mut activity = Activity::new(
        tenant.id.clone(),
        lead.id,
        clock.now(),
        Actor::User {
            id: principal.user.clone(),
        },
        kind,
    );
    if let ActivityKind::TaskCreated { task_id, .. } = &activity.kind {
        // The task is known by the id of the activity that created it.
        activity.id = *task_id;
    }
    // A call or email may move a new lead to contacted (tenant option), and an outbound one
    // may be its first response: either way the entry and the lead's change are one write,
    // so the timeline never shows one without the other. A lead that changed meanwhile (a
    // capture, a note) is read again: logging a call must not fail because someone else
    // touched the lead.
    let reached = matches!(
        activity.kind,
        ActivityKind::Call { .. } | ActivityKind::Email { .. }
    );
    let may_move = reached && tenant.settings.contact_moves_new_to_contacted;
    let answers = activity.kind.is_response();
    let mut lead = lead;
    for _ in 0..3 {
        let moving = may_move && lead.status == LeadStatus::New;
        let first_answer = answers && lead.awaits_response();
        if !moving && !first_answer {
            store.append_activity(&activity).await?;
            return Ok(activity);
        }
        let mut next = lead.clone();
        let mut entries = vec![activity.clone()];
        if moving {
            next.status = LeadStatus::Contacted;
            next.updated_at = activity.at;
            entries.extend(change_entries(
                &lead,
                &next,
                &activity.actor,
                activity.at,
                "contact",
            ));
        }
        // `commit_lead_change` records the first response from the entries (`Lead::changed_with`).
        match store.commit_lead_change(&next, &[], &entries).await {
            Ok(_) => return Ok(activity),
            Err(crate::ports::store::StoreError::Conflict { .. }) => {
                lead = get_visible_lead(store, tenant, principal, lead_id).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::VersionConflict)
}

pub async fn list_activities(
    store: &dyn LeadStore,
    tenant: &Tenant,
    principal: &Principal,
    lead_id: &LeadId,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<Activity>, ServiceError> {
    get_visible_lead(store, tenant, principal, lead_id).await?;
    if let Some(c) = cursor {
        crate::domain::query::decode_position_cursor(c)?;
    }
    Ok(store.list_activities(&tenant.id, lead_id, cursor, limit).await?)
}
