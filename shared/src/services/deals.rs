//! Working a deal after conversion: its name, stage, value, close date and owner change at
//! the version read (a stale one is a 409, as for leads). A stage move goes on the lead's
//! timeline in the same write as the deal (`commit_lead_change` with the deal as a record),
//! so the timeline never shows a move the deal did not make, or misses one it did. A new
//! value is copied onto the lead's conversion links in that same write, which is where the
//! analytics rollups count converted value from.

use crate::domain::activity::{Activity, ActivityKind, Actor};
use crate::domain::conversion::{Deal, Money};
use crate::domain::error::{FieldError, FieldErrors};
use crate::domain::patch::double_option;
use crate::domain::rep::find_rep;
use crate::domain::tenant::{Principal, Tenant};
use crate::ports::clock::Clock;
use crate::ports::store::{Expect, LeadStore, RecordWrite, StoreError, get_typed, kinds, put_typed};
use crate::services::ServiceError;
use crate::services::conversion::{MoneyInput, get_deal, stage_id};
use crate::services::reps::list_reps;
use crate::services::settings::get_stages;
use chrono::NaiveDate;
use serde::Deserialize;

/// Times a stage move is tried again when the lead changed between its read and the write
/// (the deal's own version is checked every time: a deal changed meanwhile is a 409).
const ATTEMPTS: usize = 3;

/// A partial change to a deal. Absent fields stay; `null` clears an optional one.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealPatch {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// A pipeline stage, by id or name.
    pub stage: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<MoneyInput>)]
    pub value: Option<Option<MoneyInput>>,
    /// YYYY-MM-DD.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub expected_close_date: Option<Option<String>>,
    /// A rep by id or name; `null` leaves the deal without an owner.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub owner: Option<Option<String>>,
    /// The version the change is based on (alternative to If-Match).
    pub version: Option<u64>,
}

/// Applies a change to the deal the principal may see, at `expected` (or the patch's
/// `version`), and returns it at its next version.
pub async fn patch_deal(
    store: &dyn LeadStore,
    clock: &dyn Clock,
    tenant: &Tenant,
    principal: &Principal,
    id: &str,
    patch: DealPatch,
    expected: Option<u64>,
) -> Result<Deal, ServiceError> {
    let deal = get_deal(store, tenant, principal, id).await?;
    if expected.or(patch.version).is_some_and(|v| v != deal.version) {
        return Err(ServiceError::VersionConflict);
    }
    let now = clock.now();
    let mut next = apply(store, tenant, &deal, &patch).await?;
    next.updated_at = Some(now);
    let stored = Deal {
        version: 0,
        ..next.clone()
    };
    let record = RecordWrite::typed(kinds::DEAL, &deal.id, &stored, Expect::Version(deal.version))?;
    let saved = Deal {
        version: deal.version + 1,
        ..next.clone()
    };
    // The deal on its own: neither its stage nor its value moved, or no lead is left to tell.
    let alone = || {
        let expect = Expect::Version(deal.version);
        put_typed(store, &tenant.id, kinds::DEAL, &deal.id, &stored, expect)
    };
    let stage_moved = next.stage != deal.stage;
    if !stage_moved && next.value == deal.value {
        alone().await?;
        return Ok(saved);
    }
    let moved = ActivityKind::DealStageChanged {
        deal_id: deal.id.clone(),
        from: deal.stage.clone(),
        to: next.stage.clone(),
    };
    let actor = Actor::User {
        id: principal.user.clone(),
    };
    for _ in 0..ATTEMPTS {
        let Some(mut lead) = store.get_lead(&tenant.id, &deal.lead_id).await? else {
            // The lead was deleted: the deal stands alone, with no timeline to write to.
            alone().await?;
            return Ok(saved);
        };
        let links = lead
            .conversion
            .as_mut()
            .filter(|c| c.deal_id.as_deref() == Some(deal.id.as_str()));
        let value_moved = match links {
            Some(c) if c.value != next.value => {
                c.value = next.value.clone();
                true
            }
            _ => false,
        };
        if !stage_moved && !value_moved {
            alone().await?;
            return Ok(saved);
        }
        let entries: Vec<Activity> = stage_moved
            .then(|| Activity::new(tenant.id.clone(), lead.id, now, actor.clone(), moved.clone()))
            .into_iter()
            .collect();
        if value_moved {
            lead.updated_at = now;
        }
        match store
            .commit_lead_change(&lead, std::slice::from_ref(&record), &entries)
            .await
        {
            Ok(_) => return Ok(saved),
            // Either the deal or the lead moved. The deal moving is the caller's 409; the
            // lead moving (a note, a capture) is ours to retry.
            Err(StoreError::Conflict { .. }) => {
                let now_at = get_typed::<Deal>(store, &tenant.id, kinds::DEAL, &deal.id).await?;
                if now_at.is_none_or(|d| d.version != deal.version) {
                    return Err(ServiceError::VersionConflict);
                }
            }
            // The lead went between its read and the write: the next round writes the deal
            // alone (or finds the deal gone).
            Err(StoreError::NotFound) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::VersionConflict)
}

/// The deal after the change, each field checked as at conversion; every bad field named.
async fn apply(
    store: &dyn LeadStore,
    tenant: &Tenant,
    deal: &Deal,
    patch: &DealPatch,
) -> Result<Deal, ServiceError> {
    let mut next = deal.clone();
    let mut errs = FieldErrors::default();
    if let Some(name) = &patch.name {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            errs.push(FieldError::new(
                "name",
                "invalid_length",
                "a deal name is 1-200 characters",
            ));
        }
        next.name = name.to_owned();
    }
    if let Some(stage) = &patch.stage {
        let stages = get_stages(store, &tenant.id).await?;
        if let Some(id) = errs.take(stage_id(&stages, stage, "stage")) {
            next.stage = id;
        }
    }
    match &patch.value {
        None => {}
        Some(None) => next.value = None,
        Some(Some(m)) => match Money::parse(&m.amount, &m.currency) {
            Ok(v) => next.value = Some(v),
            Err(e) => errs.0.extend(e.0),
        },
    }
    match &patch.expected_close_date {
        None => {}
        Some(None) => next.expected_close_date = None,
        Some(Some(d)) => match NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d") {
            Ok(d) => next.expected_close_date = Some(d),
            Err(_) => errs.push(FieldError::new(
                "expected_close_date",
                "invalid_date",
                "expected_close_date is YYYY-MM-DD",
            )),
        },
    }
    match &patch.owner {
        None => {}
        Some(None) => next.owner = None,
        Some(Some(o)) => {
            let reps = list_reps(store, &tenant.id).await?;
            match find_rep(&reps, o) {
                Some(r) if r.active => next.owner = Some(r.id.clone()),
                _ => errs.push(FieldError::new(
                    "owner",
                    "unknown_owner",
                    "not an active rep of this tenant, or a name several reps share (use the id)",
                )),
            }
        }
    }
    Ok(errs.into_result(|| next)?)
}
