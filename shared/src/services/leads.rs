//! Creating leads: parse against the tenant, match duplicates, assign by round robin, store
//! with the external-id and idempotency guards, and write the timeline.

use crate::domain::activity::{Activity, ActivityKind, Actor};
use crate::domain::data_quality::DataQuality;
use crate::domain::duplicate::DuplicateMatch;
use crate::domain::ids::{LeadId, TenantId};
use crate::domain::lead::{ExternalRef, Lead, LeadContext, LeadInput, NewLead};
use crate::domain::rep::RoundRobin;
use crate::domain::tenant::Tenant;
use crate::ports::clock::Clock;
use crate::ports::store::{
    CreateGuards, CreateOutcome, IdempotencyKey, LeadStore, RecordWrite, StoreError, decode_all, kinds,
};
use crate::services::ServiceError;
use crate::services::duplicates::find_duplicate;

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
    pub idempotency_key: Option<IdempotencyKey>,
    pub duplicates: DuplicatePolicy,
    /// Timeline entries the new lead is born with, besides its assignment (capture's
    /// `captured`), written in the same write as the lead.
    pub entries: Vec<ActivityKind>,
    /// The new lead's id, when the caller names it in `records` (capture's submission
    /// outcome); a fresh one otherwise.
    pub id: Option<LeadId>,
    /// Records written in the same write as the lead; nothing of them is written when a
    /// guard or duplicate answers instead.
    pub records: Vec<RecordWrite>,
    /// Whether a malformed contact value beside a usable identity refuses the lead (the API)
    /// or is kept aside in `data_warnings` (capture, by the tenant's setting).
    pub quality: DataQuality,
}

impl CreateLead {
    /// A create of `input` by `actor` with nothing beside it: a fresh id, no idempotency key,
    /// no entries or records besides the assignment, a malformed contact value refused (as the
    /// API does). The API and the tests start from it; capture sets every field itself (its
    /// id, guard, entries and records all come from the submission).
    pub fn new(input: LeadInput, actor: Actor, duplicates: DuplicatePolicy) -> Self {
        Self {
            input,
            actor,
            external: None,
            idempotency_key: None,
            duplicates,
            entries: vec![],
            id: None,
            records: vec![],
            quality: DataQuality::Reject,
        }
    }
}

/// A client's `Idempotency-Key` for this create: the key with a digest of what was asked
/// (the input and the duplicate policy), so the same key with another request is refused.
/// Keys are the caller's own (`api:{user}:{key}`): another user's key, or capture's internal
/// `capture:{submission}` keys, can be neither replayed nor probed.
pub fn client_idempotency_key(
    user: &str,
    key: String,
    input: &LeadInput,
    duplicates: DuplicatePolicy,
) -> IdempotencyKey {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    // serde_json writes struct fields in declaration order and maps sorted (BTreeMap), so
    // the same request always gives the same bytes.
    h.update(serde_json::to_vec(input).unwrap_or_default());
    h.update([duplicates as u8]);
    IdempotencyKey {
        key: format!("api:{user}:{key}"),
        fingerprint: Some(hex::encode(h.finalize())),
    }
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
    // One read for the three lists (the store reads them side by side where it cannot at once).
    let read = store
        .list_records_of(&tenant.id, &[kinds::SOURCE, kinds::CUSTOM_FIELD, kinds::REP])
        .await?;
    let [sources, fields, reps] = read.as_slice() else {
        return Err(
            StoreError::Corrupt("the store answered another number of kinds than asked".into()).into(),
        );
    };
    Ok(LeadContext {
        // "Overdue" is read against the time the request is read at.
        overdue_cutoff: tenant.settings.overdue_cutoff(chrono::Utc::now()),
        region: tenant.settings.default_region,
        sources: decode_all(kinds::SOURCE, sources)?,
        custom_fields: decode_all(kinds::CUSTOM_FIELD, fields)?,
        reps: decode_all(kinds::REP, reps)?,
        unqualified: tenant.settings.unqualified(),
    })
}

pub async fn create_lead(
    store: &dyn LeadStore,
    clock: &dyn Clock,
    tenant: &Tenant,
    req: CreateLead,
) -> Result<CreateResult, ServiceError> {
    let ctx = load_context(store, tenant).await?;
    let mut new = NewLead::parse_with(&req.input, &ctx, req.quality)?;
    if let Some(ext) = &req.external {
        new.provenance.external = Some(ext.clone());
    }
    // With a guard, the store checks it first and then duplicates, in that order: a replayed
    // delivery must answer "already processed", not "duplicate of itself".
    let guarded = req.external.is_some() || req.idempotency_key.is_some();
    if req.duplicates == DuplicatePolicy::Reject
        && !guarded
        && let Some(m) = find_duplicate(
            store,
            &tenant.id,
            new.email.as_ref(),
            new.phone.as_ref().or(new.mobile.as_ref()),
            None,
        )
        .await?
    {
        return Ok(CreateResult::Duplicate(m));
    }
    let now = clock.now();
    let chosen_id = req.id.or(req.input.id);
    let lead = Lead::from_new(tenant.id.clone(), chosen_id.unwrap_or_default(), new, now);
    // Without an owner given, the store takes the rotation's slot in the lead's own write
    // (`RoundRobin`): no separate counter write, and a replay or duplicate takes no slot.
    let round_robin = match lead.owner {
        Some(_) => None,
        None => RoundRobin::for_lead(&ctx.reps, tenant.id.clone(), lead.id, now, req.actor.clone()),
    };
    let guards = CreateGuards {
        external: req.external.clone(),
        idempotency_key: req.idempotency_key.clone(),
        reject_duplicates: req.duplicates == DuplicatePolicy::Reject,
        round_robin,
    };
    // The lead is born with its timeline: the assignment (a given owner's here, the
    // rotation's by the store), then what the caller adds. One write, so no crash leaves a
    // lead without them, and a new lead is at version 1.
    let manual = lead.owner.is_some().then(|| ActivityKind::Assigned {
        from: None,
        to: lead.owner.clone(),
        reason: "manual".to_owned(),
    });
    let entries: Vec<Activity> = manual
        .into_iter()
        .chain(req.entries.iter().cloned())
        .map(|kind| Activity::new(tenant.id.clone(), lead.id, now, req.actor.clone(), kind))
        .collect();
    // A chosen id is claimed with the lead (absent only): one a lead has or had (deleted
    // leads leave their claim) is refused, so an id never names two leads over time.
    let mut records = req.records;
    if req.input.id.is_some() {
        records.push(RecordWrite::new(
            kinds::LEAD_ID,
            lead.id.to_string(),
            serde_json::json!({"chosen_at": now}),
        ));
    }
    let outcome = match store.create_lead(&lead, &guards, &entries, &records).await {
        // The lead's own item or its id's claim exists (the caller's records hold only
        // fresh ids, and the timeline entries are new): the chosen id is taken.
        Err(StoreError::Conflict { .. }) if req.input.id.is_some() => {
            return Err(ServiceError::AlreadyExists(format!(
                "the id {} is taken: a lead has it or had it",
                lead.id
            )));
        }
        other => other?,
    };
    let lead = match outcome {
        CreateOutcome::Created(l) => *l,
        CreateOutcome::IdempotencyKeyTaken(id, stored) => {
            let asked = req.idempotency_key.as_ref().and_then(|k| k.fingerprint.as_ref());
            if let (Some(stored), Some(asked)) = (stored.as_ref(), asked)
                && stored != asked
            {
                return Err(crate::domain::error::FieldError::new(
                    "Idempotency-Key",
                    "key_reused",
                    "this Idempotency-Key was used with a different request; use a new key",
                )
                .into());
            }
            return Ok(CreateResult::AlreadyProcessed(id));
        }
        CreateOutcome::ExternalIdTaken(id) => {
            return Ok(CreateResult::AlreadyProcessed(id));
        }
        CreateOutcome::Duplicate(m) => return Ok(CreateResult::Duplicate(m)),
    };
    Ok(CreateResult::Created(Box::new(lead)))
}

/// The lead ids a bulk request names: 1-`max` UUIDs (each bad one named as `lead_ids[i]`),
/// distinct by the id rather than its spelling, in the order given, each with its spelling.
pub fn distinct_lead_ids(ids: &[String], max: usize) -> Result<Vec<(String, LeadId)>, ServiceError> {
    use crate::domain::error::{FieldError, FieldErrors};
    if ids.is_empty() || ids.len() > max {
        return Err(FieldError::new("lead_ids", "out_of_range", format!("send 1-{max} lead ids")).into());
    }
    let mut errs = FieldErrors::default();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(ids.len());
    for (i, raw) in ids.iter().enumerate() {
        match LeadId::parse(raw) {
            Ok(id) if seen.insert(id) => out.push((raw.clone(), id)),
            Ok(_) => {}
            Err(_) => errs.push(FieldError::new(
                format!("lead_ids[{i}]"),
                "invalid_id",
                "a lead id is a UUID",
            )),
        }
    }
    Ok(errs.into_result(|| out)?)
}

/// Reads a lead, as `NotFound` when it is missing or belongs to another tenant.
pub async fn get_lead(store: &dyn LeadStore, tenant: &TenantId, id: &LeadId) -> Result<Lead, ServiceError> {
    store
        .get_lead(tenant, id)
        .await?
        .ok_or(ServiceError::NotFound { what: "lead" })
}

/// Reads a lead the principal may see: another tenant's lead, or another rep's lead when the
/// tenant limits reps to their own, is `NotFound` (its existence is not revealed).
pub async fn get_visible_lead(
    store: &dyn LeadStore,
    tenant: &Tenant,
    principal: &crate::domain::tenant::Principal,
    id: &LeadId,
) -> Result<Lead, ServiceError> {
    let lead = get_lead(store, &tenant.id, id).await?;
    match principal.owner_scope(&tenant.settings) {
        Some(me) if lead.owner.as_ref() != Some(&me) => Err(ServiceError::NotFound { what: "lead" }),
        _ => Ok(lead),
    }
}

/// A lead as this principal may read it. A rep limited to their own leads does not see the
/// converted deal's value on the lead: the deal may since have gone to another rep, whose
/// deals they cannot open (`conversion::get_deal`); they read values on the deals they own.
pub fn as_seen_by(tenant: &Tenant, principal: &crate::domain::tenant::Principal, mut lead: Lead) -> Lead {
    if principal.owner_scope(&tenant.settings).is_some()
        && let Some(c) = lead.conversion.as_mut()
    {
        c.value = None;
    }
    lead
}

/// The duplicate as this caller may hear of it: a rep limited to their own leads must not
/// learn the id of a lead they cannot open, so for them a hidden match is `None` (the caller
/// still refuses the create, without naming the lead).
pub async fn visible_duplicate(
    store: &dyn LeadStore,
    tenant: &Tenant,
    principal: &crate::domain::tenant::Principal,
    m: DuplicateMatch,
) -> Result<Option<DuplicateMatch>, ServiceError> {
    match get_visible_lead(store, tenant, principal, &m.lead_id).await {
        Ok(_) => Ok(Some(m)),
        Err(ServiceError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The query as this principal may run it: limited to their own leads when the tenant says
/// so (`None`: an owner filter that excludes them, which matches nothing they may see).
fn visible_query(
    tenant: &Tenant,
    principal: &crate::domain::tenant::Principal,
    mut query: crate::domain::query::LeadQuery,
) -> Result<Option<crate::domain::query::LeadQuery>, ServiceError> {
    use crate::domain::query::OwnerFilter;
    if let Some(me) = principal.owner_scope(&tenant.settings) {
        let mine = OwnerFilter::Rep(me);
        if !query.owner.is_empty() && !query.owner.contains(&mine) {
            return Ok(None);
        }
        query.owner = vec![mine];
    }
    query.after()?;
    Ok(Some(query))
}

/// Lists leads, limited to the principal's own when the tenant says so.
pub async fn list_visible_leads(
    store: &dyn LeadStore,
    tenant: &Tenant,
    principal: &crate::domain::tenant::Principal,
    query: crate::domain::query::LeadQuery,
) -> Result<crate::domain::query::Page<Lead>, ServiceError> {
    match visible_query(tenant, principal, query)? {
        Some(q) => Ok(store.list_leads(&tenant.id, &q).await?),
        None => Ok(crate::domain::query::Page {
            items: vec![],
            next_cursor: None,
        }),
    }
}

/// Counts the leads a list with these filters would return to this principal.
pub async fn count_visible_leads(
    store: &dyn LeadStore,
    tenant: &Tenant,
    principal: &crate::domain::tenant::Principal,
    query: crate::domain::query::LeadQuery,
) -> Result<crate::domain::query::LeadCount, ServiceError> {
    use crate::domain::query::{EXACT_COUNT_UP_TO, LeadCount};
    match visible_query(tenant, principal, query)? {
        Some(q) => Ok(store.count_leads(&tenant.id, &q, EXACT_COUNT_UP_TO).await?),
        None => Ok(LeadCount {
            count: 0,
            exact: true,
        }),
    }
}

pub use crate::services::attachments::attachments_prefix;

/// Deletes a lead, its timeline and its attachments. Deleting is for admins (a rep's mistake
/// must not erase a lead for everyone). The files go after the lead: a failure there leaves
/// files of a deleted lead, logged, never a lead without its files.
pub async fn delete_lead(
    store: &dyn LeadStore,
    blobs: &dyn crate::ports::blob::BlobStore,
    tenant: &Tenant,
    principal: &crate::domain::tenant::Principal,
    id: &LeadId,
    expected_version: Option<u64>,
) -> Result<(), ServiceError> {
    if principal.role != crate::domain::tenant::Role::Admin {
        return Err(ServiceError::Forbidden("deleting a lead is for admins"));
    }
    get_visible_lead(store, tenant, principal, id).await?;
    match store.delete_lead(&tenant.id, id, expected_version).await {
        Err(crate::ports::store::StoreError::NotFound) => {
            return Err(ServiceError::NotFound { what: "lead" });
        }
        other => other?,
    }
    let prefix = attachments_prefix(&tenant.id, id);
    let mut after: Option<String> = None;
    loop {
        let page = match blobs.list(&prefix, after.as_deref(), 1000).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(lead = %id, error = %e, "attachments of a deleted lead could not be listed");
                return Ok(());
            }
        };
        for meta in &page.items {
            if let Err(e) = blobs.delete(&meta.key).await {
                tracing::warn!(lead = %id, error = %e, "an attachment of a deleted lead could not be removed");
                continue;
            }
            // Its announcement (file name, type) goes with it. One whose file never came has
            // no object to find it by and stays: a name and a type, no content.
            if let Some((_, _, att)) = crate::services::attachments::parse_attachment_key(&meta.key)
                && let Err(e) = store
                    .delete_record(
                        &tenant.id,
                        crate::ports::store::kinds::ATTACHMENT,
                        &att,
                        crate::ports::store::Expect::Any,
                    )
                    .await
                && !matches!(e, crate::ports::store::StoreError::NotFound)
            {
                tracing::warn!(lead = %id, error = %e, "an attachment record of a deleted lead could not be removed");
            }
        }
        match page.next_after {
            Some(a) => after = Some(a),
            None => return Ok(()),
        }
    }
}
