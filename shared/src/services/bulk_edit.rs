//! Bulk edit: one action over up to 1,000 leads, named by id or by the list's filters (a
//! filter that matches more becomes a job: `bulk_jobs`).
//!
//! The action is checked against the tenant once, before any lead is touched, so a wrong rep
//! or status is one 422 and not a thousand failures. Then each lead is changed on its own,
//! through the same `apply_patch` as a PATCH, its change and timeline entries in one write
//! (`commit_lead_change`): a lead is never half-edited, and a lead that moved under us is read
//! again and retried. The answer has one result per lead, as bulk conversion's does.

use crate::domain::activity::Actor;
use crate::domain::error::{FieldError, FieldErrors};
use crate::domain::ids::{LeadId, RepId, SourceId};
use crate::domain::lead::{Lead, LeadContext, Tag};
use crate::domain::query::{LeadQuery, MAX_PAGE};
use crate::domain::rep::{Rep, find_rep};
use crate::domain::source::resolve_source;
use crate::domain::status::LeadStatus;
use crate::domain::tenant::{Principal, Role, Tenant};
use crate::ports::blob::BlobStore;
use crate::ports::clock::Clock;
use crate::ports::store::LeadStore;
use crate::services::ServiceError;
use crate::services::bulk_jobs::{BulkEditJob, create_bulk_job};
use crate::services::lead_patch::{LeadPatch, apply_patch, edit_entries};
use crate::services::leads::{
    delete_lead, distinct_lead_ids, get_visible_lead, list_visible_leads, load_context,
};
use crate::services::reps::reserve_round_robin;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most leads one bulk edit takes, by ids or by filter.
pub const MAX_BULK_EDIT: usize = 1_000;
/// Leads edited at once: each is a read and a write, so this hides DynamoDB's round trips;
/// SQLite's writer commits them in groups.
pub(crate) const EDITS_IN_FLIGHT: usize = 16;
/// Times a lead changed by someone else during the edit is read again and the action applied
/// to its new version (the actions set values, so applying one again is safe).
const ATTEMPTS: usize = 3;
const MAX_TAGS: usize = 20;

/// What to do to every lead.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BulkAction {
    /// Give the leads to a rep (id or name); `null` leaves them unassigned.
    Assign {
        owner: Option<String>,
    },
    /// Hand the leads out by the weighted round robin, one rep each.
    RoundRobin,
    /// Move each lead to this status, where its status allows it; to `unqualified` with one
    /// of the tenant's reasons (required if the tenant says so).
    SetStatus {
        status: String,
        #[serde(default)]
        reason: Option<String>,
    },
    AddTags {
        tags: Vec<String>,
    },
    RemoveTags {
        tags: Vec<String>,
    },
    /// Source by id or name.
    SetSource {
        source: String,
    },
    /// One custom field's value; `null` removes it.
    SetCustom {
        key: String,
        value: serde_json::Value,
    },
    /// Delete the leads, their timelines and attachments (admins only).
    Delete,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkEditRequest {
    /// The leads by id, 1-1,000. Send this or `filter`.
    #[serde(default)]
    #[schema(max_items = 1000, min_items = 1)]
    pub lead_ids: Option<Vec<String>>,
    /// The leads `GET /v1/leads` lists with these parameters (`{"status": "new", "tag":
    /// "expo"}`); `limit` and `cursor` do not apply. More than 1,000 leads make a job
    /// (202, `/v1/bulk-edits/{id}`).
    #[serde(default)]
    pub filter: Option<BTreeMap<String, String>>,
    pub action: BulkAction,
    /// Report what would change and change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EditOutcome {
    Changed,
    /// `dry_run`: this lead would change.
    WouldChange,
    /// The lead already is as the action asks.
    Unchanged,
    /// Not applied to this lead, for the `reason` given (not found, a status it cannot move
    /// to, a value its other fields refuse).
    Skipped,
    /// The store failed or the lead kept changing; nothing was changed for this lead.
    Failed,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EditResult {
    pub lead_id: String,
    pub outcome: EditOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<FieldError>,
    /// The lead's version after the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BulkEditReport {
    pub dry_run: bool,
    /// Leads the request named (distinct ids) or the filter matched.
    pub matched: usize,
    pub changed: usize,
    pub unchanged: usize,
    pub skipped: usize,
    pub failed: usize,
    /// One result per lead, in the order of `lead_ids` or of the list.
    pub items: Vec<EditResult>,
}

impl EditResult {
    pub(crate) fn unchanged(lead: &Lead) -> Self {
        EditResult {
            lead_id: lead.id.to_string(),
            outcome: EditOutcome::Unchanged,
            reason: None,
            errors: vec![],
            version: Some(lead.version),
        }
    }
}

/// The action, checked against the tenant: ids instead of names, parsed values.
#[derive(Debug, Clone)]
pub(crate) enum Checked {
    Owner(Option<RepId>),
    RoundRobin,
    Status(LeadStatus, Option<String>),
    AddTags(Vec<Tag>),
    RemoveTags(Vec<Tag>),
    Source(SourceId),
    Custom(String, serde_json::Value),
    Delete,
}

fn field(name: &str, code: &'static str, message: impl Into<String>) -> ServiceError {
    FieldError::new(format!("action.{name}"), code, message).into()
}

pub(crate) fn check_action(
    action: &BulkAction,
    ctx: &LeadContext,
    principal: &Principal,
) -> Result<Checked, ServiceError> {
    let tags = |raw: &[String]| -> Result<Vec<Tag>, ServiceError> {
        if raw.is_empty() || raw.len() > MAX_TAGS {
            return Err(field("tags", "out_of_range", format!("send 1-{MAX_TAGS} tags")));
        }
        let mut errs = FieldErrors::default();
        let parsed: Vec<Tag> = raw.iter().filter_map(|t| errs.take(Tag::parse(t))).collect();
        if errs.is_empty() {
            Ok(parsed)
        } else {
            Err(errs.into())
        }
    };
    Ok(match action {
        BulkAction::Assign { owner: None } => Checked::Owner(None),
        BulkAction::Assign { owner: Some(o) } => match find_rep(&ctx.reps, o) {
            Some(r) if r.active => Checked::Owner(Some(r.id.clone())),
            _ => {
                return Err(field(
                    "owner",
                    "unknown_owner",
                    "not an active rep of this tenant, or a name several reps share (use the id)",
                ));
            }
        },
        BulkAction::RoundRobin => {
            if !ctx.reps.iter().any(Rep::in_rotation) {
                return Err(field(
                    "type",
                    "no_active_reps",
                    "no active rep has a weight above 0",
                ));
            }
            Checked::RoundRobin
        }
        BulkAction::SetStatus { status, reason } => match LeadStatus::parse(status) {
            Ok(LeadStatus::Converted) => {
                return Err(field(
                    "status",
                    "invalid_status",
                    "leads are converted by POST /v1/leads/convert, which makes their prospects",
                ));
            }
            Ok(LeadStatus::Unqualified) => {
                let reason = ctx
                    .unqualified
                    .reason_for(reason.as_deref())
                    .map_err(|e| field("reason", e.code, e.message))?;
                Checked::Status(LeadStatus::Unqualified, reason)
            }
            Ok(_) if reason.is_some() => {
                return Err(field(
                    "reason",
                    "not_unqualified",
                    "a reason goes with status unqualified",
                ));
            }
            Ok(s) => Checked::Status(s, None),
            Err(e) => return Err(field("status", e.code, e.message)),
        },
        BulkAction::AddTags { tags: t } => Checked::AddTags(tags(t)?),
        BulkAction::RemoveTags { tags: t } => Checked::RemoveTags(tags(t)?),
        BulkAction::SetSource { source } => match resolve_source(&ctx.sources, source) {
            Ok(s) => Checked::Source(s.id.clone()),
            Err(e) => return Err(field("source", e.code, e.message)),
        },
        BulkAction::SetCustom { key, value } => match ctx.custom_fields.iter().find(|d| &d.key == key) {
            None => {
                return Err(field(
                    "key",
                    "unknown_field",
                    format!("there is no custom field '{key}'"),
                ));
            }
            Some(def) => {
                let removes = value.is_null() || value.as_str().is_some_and(|v| v.trim().is_empty());
                if removes && def.required {
                    let message = format!("'{key}' is required: it can be changed, not removed");
                    return Err(field("value", "required", message));
                }
                if !removes && let Err(e) = def.parse_value(value) {
                    return Err(field("value", e.code, e.message));
                }
                Checked::Custom(key.clone(), value.clone())
            }
        },
        BulkAction::Delete if principal.role != Role::Admin => {
            return Err(ServiceError::Forbidden("deleting leads is for admins"));
        }
        BulkAction::Delete => Checked::Delete,
    })
}

/// The patch that does `action` to `lead` (`rr` is its round-robin rep).
fn patch_for(action: &Checked, lead: &Lead, rr: Option<&RepId>) -> LeadPatch {
    let tags = |keep: &dyn Fn(&Tag) -> bool, add: &[Tag]| {
        let mut t: Vec<String> = lead
            .tags
            .iter()
            .filter(|t| keep(t))
            .map(|t| t.to_string())
            .collect();
        t.extend(add.iter().map(|t| t.to_string()));
        Some(t)
    };
    let mut p = LeadPatch::default();
    match action {
        Checked::Owner(o) => p.owner = Some(o.as_ref().map(|r| r.to_string())),
        Checked::RoundRobin => p.owner = Some(rr.map(|r| r.to_string())),
        Checked::Status(s, reason) => {
            p.status = Some(s.as_str().to_owned());
            if reason.is_some() {
                p.unqualified_reason = Some(reason.clone());
            }
        }
        Checked::AddTags(add) => p.tags = tags(&|_| true, add),
        Checked::RemoveTags(rm) => p.tags = tags(&|t| !rm.contains(t), &[]),
        Checked::Source(s) => p.source = Some(s.to_string()),
        Checked::Custom(k, v) => p.custom = Some(BTreeMap::from([(k.clone(), v.clone())])),
        Checked::Delete => {}
    }
    p
}

/// The leads the request names: its distinct ids, or what its filter lists for this caller;
/// `None` when the filter matches more than `MAX_BULK_EDIT`.
async fn target_ids(
    store: &dyn LeadStore,
    tenant: &Tenant,
    principal: &Principal,
    ctx: &LeadContext,
    req: &BulkEditRequest,
) -> Result<Option<(Vec<(String, LeadId)>, Option<LeadQuery>)>, ServiceError> {
    match (&req.lead_ids, &req.filter) {
        (Some(ids), None) => Ok(Some((distinct_lead_ids(ids, MAX_BULK_EDIT)?, None))),
        (None, Some(filter)) => {
            if filter.is_empty() {
                return Err(FieldError::new(
                    "filter",
                    "empty",
                    "a filter names at least one condition (every lead is not a bulk edit's reach)",
                )
                .into());
            }
            let mut q = LeadQuery::from_filters(filter, ctx, "filter")?;
            q.limit = MAX_PAGE;
            let mut ids = Vec::new();
            loop {
                let page = list_visible_leads(store, tenant, principal, q.clone()).await?;
                ids.extend(page.items.iter().map(|l| (l.id.to_string(), l.id)));
                // More than one request edits: the caller makes it a job.
                if ids.len() > MAX_BULK_EDIT {
                    return Ok(None);
                }
                match page.next_cursor {
                    Some(c) => q.cursor = Some(c),
                    None => {
                        q.cursor = None;
                        return Ok(Some((ids, Some(q))));
                    }
                }
            }
        }
        _ => Err(FieldError::new("lead_ids", "required", "send `lead_ids` or `filter`, not both").into()),
    }
}

/// The ports one bulk edit uses.
pub struct EditPorts<'a> {
    pub store: &'a dyn LeadStore,
    pub blobs: &'a dyn BlobStore,
    pub clock: &'a dyn Clock,
}

/// What a bulk edit answers: the report, or the job that edits more than one request does.
#[derive(Debug)]
pub enum BulkEditAnswer {
    Report(BulkEditReport),
    Job(Box<BulkEditJob>),
}

/// Checks the action, finds the leads and edits each on its own, reporting one result per
/// lead; a filter that matches more than `MAX_BULK_EDIT` leads becomes a job (`bulk_jobs`).
pub async fn bulk_edit(
    ports: &EditPorts<'_>,
    tenant: &Tenant,
    principal: &Principal,
    req: BulkEditRequest,
) -> Result<BulkEditAnswer, ServiceError> {
    let ctx = load_context(ports.store, tenant).await?;
    let action = check_action(&req.action, &ctx, principal)?;
    let Some((ids, filter)) = target_ids(ports.store, tenant, principal, &ctx, &req).await? else {
        let filter = req.filter.unwrap_or_default();
        let job = create_bulk_job(ports, tenant, principal, filter, req.action, req.dry_run).await?;
        return Ok(BulkEditAnswer::Job(Box::new(job)));
    };
    let edit = Edit {
        ports,
        tenant,
        principal,
        ctx: &ctx,
        action: &action,
        filter: filter.as_ref(),
        dry_run: req.dry_run,
    };
    // The futures are made before they are streamed (lazily: each starts when polled), which
    // keeps the stream's item types free of the borrowed ids' lifetimes for axum's `Send`.
    let edits: Vec<_> = ids.iter().map(|(raw, id)| edit.one(raw, *id)).collect();
    let items: Vec<EditResult> = futures::stream::iter(edits)
        .buffered(EDITS_IN_FLIGHT)
        .collect()
        .await;
    let count = |o: EditOutcome| items.iter().filter(|r| r.outcome == o).count();
    Ok(BulkEditAnswer::Report(BulkEditReport {
        dry_run: req.dry_run,
        matched: items.len(),
        changed: count(EditOutcome::Changed) + count(EditOutcome::WouldChange),
        unchanged: count(EditOutcome::Unchanged),
        skipped: count(EditOutcome::Skipped),
        failed: count(EditOutcome::Failed),
        items,
    }))
}

pub(crate) struct Edit<'a> {
    pub ports: &'a EditPorts<'a>,
    pub tenant: &'a Tenant,
    pub principal: &'a Principal,
    pub ctx: &'a LeadContext,
    pub action: &'a Checked,
    /// The filter that chose the leads: a lead read again after a conflict must still match.
    pub filter: Option<&'a LeadQuery>,
    pub dry_run: bool,
}

/// Why a lead was not edited, beyond the service's errors.
enum Skip {
    NoLongerMatches,
}

impl Edit<'_> {
    pub(crate) async fn one(&self, raw: &str, id: LeadId) -> EditResult {
        let result = |outcome, reason: Option<String>, errors: Vec<FieldError>, version| EditResult {
            lead_id: raw.to_owned(),
            outcome,
            reason,
            errors,
            version,
        };
        // A round-robin slot is taken once the lead is known to be edited, and kept across
        // retries: slots are shared with capture and imports, so none is spent on a lead
        // that is skipped (or that a caller cannot see).
        let mut slot: Option<Option<RepId>> = None;
        for _ in 0..ATTEMPTS {
            match self.attempt(&id, &mut slot).await {
                Err(Ok(ServiceError::VersionConflict)) => continue,
                Ok((outcome, version)) => return result(outcome, None, vec![], version),
                Err(Err(Skip::NoLongerMatches)) => {
                    let reason = "the lead changed and no longer matches the filter".to_owned();
                    return result(EditOutcome::Skipped, Some(reason), vec![], None);
                }
                Err(Ok(ServiceError::NotFound { .. })) => {
                    return result(EditOutcome::Skipped, Some("lead not found".into()), vec![], None);
                }
                Err(Ok(ServiceError::Transition(t))) => {
                    return result(EditOutcome::Skipped, Some(t.to_string()), vec![], None);
                }
                Err(Ok(ServiceError::Validation(e))) => {
                    let reason = "the change does not fit this lead's other fields".to_owned();
                    return result(EditOutcome::Skipped, Some(reason), e.0, None);
                }
                Err(Ok(e)) => {
                    tracing::error!(lead = %id, error = ?e, "bulk edit of one lead failed");
                    let reason = "storage failed; nothing was changed for this lead".to_owned();
                    return result(EditOutcome::Failed, Some(reason), vec![], None);
                }
            }
        }
        let reason = "the lead kept changing during the edit; retry".to_owned();
        result(EditOutcome::Failed, Some(reason), vec![], None)
    }

    /// One read and at most one write of one lead.
    async fn attempt(
        &self,
        id: &LeadId,
        slot: &mut Option<Option<RepId>>,
    ) -> Result<(EditOutcome, Option<u64>), Result<ServiceError, Skip>> {
        let store = self.ports.store;
        let lead = get_visible_lead(store, self.tenant, self.principal, id)
            .await
            .map_err(Ok)?;
        if self.filter.is_some_and(|q| !q.matches(&lead)) {
            return Err(Err(Skip::NoLongerMatches));
        }
        let would = Ok((EditOutcome::WouldChange, Some(lead.version)));
        match (self.action, self.dry_run) {
            // A preview takes no slot, so it cannot say which rep; every lead it reaches is
            // handed out again.
            (Checked::RoundRobin | Checked::Delete, true) => return would,
            (Checked::Delete, false) => {
                let (blobs, v) = (self.ports.blobs, Some(lead.version));
                delete_lead(store, blobs, self.tenant, self.principal, id, v)
                    .await
                    .map_err(Ok)?;
                return Ok((EditOutcome::Changed, None));
            }
            (Checked::RoundRobin, false) if slot.is_none() => {
                let reps = &self.ctx.reps;
                let picked = reserve_round_robin(store, &self.tenant.id, reps, 1)
                    .await
                    .map_err(Ok)?;
                *slot = Some(picked.into_iter().next());
            }
            _ => {}
        }
        let rr = slot.as_ref().and_then(|s| s.as_ref());
        let now = self.ports.clock.now();
        let next = apply_patch(&lead, &patch_for(self.action, &lead, rr), self.ctx, now).map_err(Ok)?;
        let actor = Actor::User {
            id: self.principal.user.clone(),
        };
        let reason = match self.action {
            Checked::RoundRobin => "round_robin",
            _ => "bulk",
        };
        let entries = edit_entries(&lead, &next, &actor, now, reason);
        if entries.is_empty() {
            return Ok((EditOutcome::Unchanged, Some(lead.version)));
        }
        if self.dry_run {
            return would;
        }
        let saved = store
            .commit_lead_change(&next, &[], &entries)
            .await
            .map_err(|e| Ok(e.into()))?;
        Ok((EditOutcome::Changed, Some(saved.version)))
    }
}
