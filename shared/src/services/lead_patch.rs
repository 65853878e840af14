//! Changing a lead: a PATCH, a bulk edit's change and an import's update all go through
//! `apply_patch` (every changed field validated as on create, the status machine, the
//! unqualified reason), the duplicate check on a new email or phone (`contact_taken`), and
//! the timeline entries a change writes with it (`change_entries`, `edit_entries`).

use super::duplicates::find_duplicate;
use super::leads::{get_visible_lead, load_context, visible_duplicate};
use crate::domain::activity::{Activity, ActivityKind, Actor};
use crate::domain::duplicate::DuplicateMatch;
use crate::domain::ids::{LeadId, TenantId};
use crate::domain::lead::{Lead, LeadContext, LeadInput, NewLead};
use crate::domain::patch::{double_option, patched};
use crate::domain::tenant::Tenant;
use crate::ports::clock::Clock;
use crate::ports::store::LeadStore;
use crate::services::ServiceError;

/// A partial update. Absent fields stay; `null` clears an optional field. Custom values merge
/// by key (`null` removes one).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub mobile: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub company: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub position: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub website: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub company_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub tax_id: Option<Option<String>>,
    pub address: Option<crate::domain::lead::Address>,
    pub source: Option<String>,
    pub status: Option<String>,
    /// With `status: unqualified` (or on an unqualified lead): one of the tenant's reasons.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub unqualified_reason: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub owner: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub custom: Option<std::collections::BTreeMap<String, serde_json::Value>>,
    /// The version the change is based on (alternative to If-Match).
    pub version: Option<u64>,
}

/// Applies a patch: every changed field is validated as on create, a status change must be
/// allowed by the transition table, and the change and its timeline entries (status and owner
/// changes) are one write.
pub async fn patch_lead(
    store: &dyn LeadStore,
    clock: &dyn Clock,
    tenant: &Tenant,
    principal: &crate::domain::tenant::Principal,
    id: &LeadId,
    patch: LeadPatch,
    expected_version: Option<u64>,
) -> Result<Lead, ServiceError> {
    let lead = get_visible_lead(store, tenant, principal, id).await?;
    if let Some(v) = expected_version.or(patch.version)
        && v != lead.version
    {
        return Err(ServiceError::VersionConflict);
    }
    let ctx = load_context(store, tenant).await?;
    let now = clock.now();
    let next = apply_patch(&lead, &patch, &ctx, now)?;
    // A change may not give the lead another lead's email or phone (as a create may not).
    if let Some(m) = contact_taken(store, &tenant.id, &lead, &next).await? {
        return Err(match visible_duplicate(store, tenant, principal, m).await? {
            Some(m) => ServiceError::Duplicate(m),
            None => ServiceError::InUse(
                "a lead you cannot see already has this email or phone; ask an admin".into(),
            ),
        });
    }
    let actor = Actor::User {
        id: principal.user.clone(),
    };
    let entries = edit_entries(&lead, &next, &actor, now, "manual");
    Ok(store.commit_lead_change(&next, &[], &entries).await?)
}

/// The lead after `patch`, validated against the tenant as on create (unchanged references
/// stay valid even if the source was retired or the rep deactivated since). Pure: the caller
/// writes it. The one place a change to an existing lead is checked, for the API and imports.
pub fn apply_patch(
    lead: &Lead,
    patch: &LeadPatch,
    ctx: &LeadContext,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Lead, ServiceError> {
    let mut ctx = ctx.clone();
    for s in ctx.sources.iter_mut().filter(|s| s.id == lead.source) {
        s.retired = false;
    }
    for r in ctx.reps.iter_mut().filter(|r| Some(&r.id) == lead.owner.as_ref()) {
        r.active = true;
    }
    let custom_patched = patch.custom.is_some();
    let mut custom_raw = std::collections::BTreeMap::new();
    if let Some(changes) = &patch.custom {
        for (k, v) in &lead.custom {
            custom_raw.insert(
                k.clone(),
                serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
            );
        }
        for (k, v) in changes {
            if v.is_null() {
                custom_raw.remove(k);
            } else {
                custom_raw.insert(k.clone(), v.clone());
            }
        }
    } else {
        ctx.custom_fields.clear();
    }
    let input = LeadInput {
        id: None,
        name: Some(patch.name.clone().unwrap_or_else(|| lead.name.clone())),
        first_name: None,
        last_name: None,
        email: patched(lead.email.as_ref().map(|e| e.to_string()), &patch.email),
        phone: patched(lead.phone.as_ref().map(|p| p.to_string()), &patch.phone),
        mobile: patched(lead.mobile.as_ref().map(|p| p.to_string()), &patch.mobile),
        company: patched(lead.company.clone(), &patch.company),
        position: patched(lead.position.clone(), &patch.position),
        website: patched(lead.website.clone(), &patch.website),
        company_number: patched(lead.company_number.clone(), &patch.company_number),
        tax_id: patched(lead.tax_id.clone(), &patch.tax_id),
        address: patch.address.clone().unwrap_or_else(|| lead.address.clone()),
        source: Some(patch.source.clone().unwrap_or_else(|| lead.source.to_string())),
        status: None,
        unqualified_reason: None,
        owner: patched(lead.owner.as_ref().map(|o| o.to_string()), &patch.owner),
        tags: patch
            .tags
            .clone()
            .unwrap_or_else(|| lead.tags.iter().map(|t| t.to_string()).collect()),
        custom: custom_raw,
        provenance: lead.provenance.clone(),
    };
    let mut errs = crate::domain::error::FieldErrors::default();
    let parsed = NewLead::parse(&input, &ctx).map_err(|e| errs.0.extend(e.0)).ok();
    let status = match &patch.status {
        None => Some(lead.status),
        Some(raw) => match crate::domain::status::LeadStatus::parse(raw) {
            Ok(to) => Some(lead.status.transition(to)?),
            Err(e) => {
                errs.push(e);
                None
            }
        },
    };
    let reason = status.and_then(|st| {
        let kept = lead.unqualified_reason.clone();
        match unqualified_reason(lead.status, st, kept, &patch.unqualified_reason, &ctx.unqualified) {
            Ok(r) => Some(r),
            Err(e) => {
                errs.push(e);
                None
            }
        }
    });
    let (Some(n), Some(status), Some(reason)) = (parsed, status, reason) else {
        return Err(ServiceError::Validation(errs));
    };
    let mut next = lead.clone();
    next.name = n.name;
    next.email = n.email;
    next.phone = n.phone;
    next.mobile = n.mobile;
    next.company = n.company;
    next.position = n.position;
    next.website = n.website;
    next.company_number = n.company_number;
    next.tax_id = n.tax_id;
    next.address = n.address;
    next.source = n.source;
    next.status = status;
    next.unqualified_reason = reason;
    next.owner = n.owner;
    next.tags = n.tags;
    if custom_patched {
        next.custom = n.custom;
    }
    // A value set by the change replaces the one kept aside for that field.
    let set = [
        ("email", patch.email.is_some()),
        ("phone", patch.phone.is_some()),
        ("mobile", patch.mobile.is_some()),
        ("website", patch.website.is_some()),
        ("owner", patch.owner.is_some()),
    ];
    next.data_warnings
        .retain(|w| !set.iter().any(|(f, changed)| *changed && w.field == *f));
    next.updated_at = now;
    Ok(next)
}

/// The reason a lead carries after a change from `from` to `to`: a move to unqualified takes
/// the given reason (required if the tenant says so); staying unqualified keeps the reason
/// unless one is given; any other status has none, and a reason given to it is an error.
fn unqualified_reason(
    from: crate::domain::status::LeadStatus,
    to: crate::domain::status::LeadStatus,
    kept: Option<String>,
    given: &Option<Option<String>>,
    policy: &crate::domain::unqualified::UnqualifiedPolicy,
) -> Result<Option<String>, crate::domain::error::FieldError> {
    use crate::domain::status::LeadStatus::Unqualified;
    match (to == Unqualified, from == Unqualified, given) {
        (true, _, Some(g)) => policy.reason_for(g.as_deref()),
        (true, false, None) => policy.reason_for(None),
        (true, true, None) => Ok(kept),
        (false, _, Some(Some(g))) if !g.trim().is_empty() => Err(crate::domain::error::FieldError::new(
            "unqualified_reason",
            "not_unqualified",
            "a reason goes with status unqualified",
        )),
        (false, ..) => Ok(None),
    }
}

/// Whether a change gives the lead an email or phone another lead has, by the matcher every
/// write path uses. Only the keys that change are checked, so duplicates that exist already
/// do not block unrelated edits.
pub async fn contact_taken(
    store: &dyn LeadStore,
    tenant: &TenantId,
    before: &Lead,
    after: &Lead,
) -> Result<Option<DuplicateMatch>, ServiceError> {
    let email = after.email.as_ref().filter(|_| after.email != before.email);
    let phone = after
        .match_phone()
        .filter(|_| after.match_phone() != before.match_phone());
    Ok(find_duplicate(store, tenant, email, phone, Some(&before.id)).await?)
}

/// The timeline entries a change from `before` to `after` calls for: a status change and an
/// owner change (with `reason`), at `now` by `actor`.
pub fn change_entries(
    before: &Lead,
    after: &Lead,
    actor: &Actor,
    now: chrono::DateTime<chrono::Utc>,
    reason: &str,
) -> Vec<Activity> {
    let mut entries = Vec::new();
    if after.status != before.status {
        let a = ActivityKind::StatusChanged {
            from: before.status,
            to: after.status,
            reason: after.unqualified_reason.clone(),
        };
        entries.push(Activity::new(
            before.tenant.clone(),
            before.id,
            now,
            actor.clone(),
            a,
        ));
    }
    if after.owner != before.owner {
        let a = ActivityKind::Assigned {
            from: before.owner.clone(),
            to: after.owner.clone(),
            reason: reason.into(),
        };
        entries.push(Activity::new(
            before.tenant.clone(),
            before.id,
            now,
            actor.clone(),
            a,
        ));
    }
    entries
}

/// The timeline entries a person's edit calls for: `change_entries`, and one naming the other
/// fields it changed. PATCH and bulk edits write these; imports write their own `imported`.
pub fn edit_entries(
    before: &Lead,
    after: &Lead,
    actor: &Actor,
    now: chrono::DateTime<chrono::Utc>,
    reason: &str,
) -> Vec<Activity> {
    let mut entries = change_entries(before, after, actor, now, reason);
    let fields: Vec<String> = crate::import::update::changed_fields(before, after)
        .into_iter()
        // Status and owner have their own entries; a status change carries its reason.
        .filter(|f| f != "status" && f != "owner")
        .filter(|f| f != "unqualified_reason" || after.status == before.status)
        .collect();
    if !fields.is_empty() {
        let kind = ActivityKind::FieldsChanged { fields };
        entries.push(Activity::new(
            before.tenant.clone(),
            before.id,
            now,
            actor.clone(),
            kind,
        ));
    }
    entries
}
