//! Creating leads: parse against the tenant, match duplicates, assign by round robin, store
//! with the external-id and idempotency guards, and write the timeline.

use crate::domain::activity::{Activity, ActivityKind, Actor};
use crate::domain::duplicate::{DuplicateMatch, find_duplicate};
use crate::domain::ids::{LeadId, TenantId};
use crate::domain::lead::{ExternalRef, Lead, LeadContext, LeadInput, NewLead};
use crate::domain::tenant::Tenant;
use crate::ports::clock::Clock;
use crate::ports::store::{CreateGuards, CreateOutcome, LeadStore};
use crate::services::ServiceError;
use crate::services::custom_fields::list_custom_fields;
use crate::services::reps::{list_reps, next_round_robin_owner};
use crate::services::sources::list_sources;

/// What to do when the new lead's email or phone matches an existing lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DuplicatePolicy {
    /// Refuse, reporting the match.
    #[default]
    Reject,
    /// Create anyway.
    Create,
}

#[derive(Debug, Clone)]
pub struct CreateLead {
    pub input: LeadInput,
    pub actor: Actor,
    pub external: Option<ExternalRef>,
    pub idempotency_key: Option<String>,
    pub duplicates: DuplicatePolicy,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CreateResult {
    Created(Box<Lead>),
    /// The same delivery or request was already processed: this is its lead.
    AlreadyProcessed(LeadId),
    Duplicate(DuplicateMatch),
}

/// Everything parsing a lead needs to know about the tenant.
pub async fn load_context(store: &dyn LeadStore, tenant: &Tenant) -> Result<LeadContext, ServiceError> {
    Ok(LeadContext {
        region: tenant.settings.default_region,
        sources: list_sources(store, &tenant.id).await?,
        custom_fields: list_custom_fields(store, &tenant.id).await?,
        reps: list_reps(store, &tenant.id).await?,
    })
}

pub async fn create_lead(
    store: &dyn LeadStore,
    clock: &dyn Clock,
    tenant: &Tenant,
    req: CreateLead,
) -> Result<CreateResult, ServiceError> {
    let ctx = load_context(store, tenant).await?;
    let mut new = NewLead::parse(&req.input, &ctx)?;
    if let Some(ext) = &req.external {
        new.provenance.external = Some(ext.clone());
    }
    if req.duplicates == DuplicatePolicy::Reject
        && let Some(m) = find_duplicate(
            store,
            &tenant.id,
            new.email.as_ref(),
            new.phone.as_ref().or(new.mobile.as_ref()),
        )
        .await?
    {
        return Ok(CreateResult::Duplicate(m));
    }
    let (owner, reason) = match new.owner.take() {
        Some(o) => (Some(o), "manual"),
        None => (next_round_robin_owner(store, &tenant.id).await?, "round_robin"),
    };
    new.owner = owner;
    let now = clock.now();
    let lead = Lead::from_new(tenant.id.clone(), LeadId::new(), new, now);
    let guards = CreateGuards {
        external: req.external.clone(),
        idempotency_key: req.idempotency_key.clone(),
        reject_duplicates: req.duplicates == DuplicatePolicy::Reject,
    };
    let lead = match store.create_lead(&lead, &guards).await? {
        CreateOutcome::Created(l) => *l,
        CreateOutcome::ExternalIdTaken(id) | CreateOutcome::IdempotencyKeyTaken(id) => {
            return Ok(CreateResult::AlreadyProcessed(id));
        }
        CreateOutcome::Duplicate(m) => return Ok(CreateResult::Duplicate(m)),
    };
    if lead.owner.is_some() {
        let assigned = Activity::new(
            tenant.id.clone(),
            lead.id,
            now,
            req.actor.clone(),
            ActivityKind::Assigned {
                from: None,
                to: lead.owner.clone(),
                reason: reason.to_owned(),
            },
        );
        store.append_activity(&assigned).await?;
    }
    let stored = store.get_lead(&tenant.id, &lead.id).await?.unwrap_or(lead);
    Ok(CreateResult::Created(Box::new(stored)))
}

/// Reads a lead, as `NotFound` when it is missing or belongs to another tenant.
pub async fn get_lead(store: &dyn LeadStore, tenant: &TenantId, id: &LeadId) -> Result<Lead, ServiceError> {
    store
        .get_lead(tenant, id)
        .await?
        .ok_or(ServiceError::NotFound { what: "lead" })
}
