//! Reps, their weights, and round-robin assignment of new leads.

use crate::domain::ids::{RepId, TenantId};
use crate::domain::rep::{ASSIGNMENT_COUNTER, Rep, pick_weighted};
use crate::ports::store::{Expect, LeadStore, kinds, list_typed, put_typed};
use crate::services::ServiceError;

pub async fn list_reps(store: &dyn LeadStore, tenant: &TenantId) -> Result<Vec<Rep>, ServiceError> {
    Ok(list_typed::<Rep>(store, tenant, kinds::REP)
        .await?
        .into_iter()
        .map(|v| v.value)
        .collect())
}

pub async fn put_rep(store: &dyn LeadStore, tenant: &TenantId, rep: Rep) -> Result<Rep, ServiceError> {
    rep.validate()?;
    put_typed(store, tenant, kinds::REP, rep.id.as_str(), &rep, Expect::Any).await?;
    Ok(rep)
}

/// Takes the next slot of the tenant's weighted rotation. `None` when no rep is eligible
/// (the lead then stays unassigned).
pub async fn next_round_robin_owner(
    store: &dyn LeadStore,
    tenant: &TenantId,
) -> Result<Option<RepId>, ServiceError> {
    let reps = list_reps(store, tenant).await?;
    if !reps.iter().any(|r| r.active && r.weight > 0) {
        return Ok(None);
    }
    let n = store.increment_counter(tenant, ASSIGNMENT_COUNTER, 1).await?;
    Ok(pick_weighted(&reps, n).map(|r| r.id.clone()))
}

/// Reserves `count` consecutive slots of the rotation with one atomic increment (imports) and
/// returns their owners in order; empty when no rep is eligible.
pub async fn reserve_round_robin(
    store: &dyn LeadStore,
    tenant: &TenantId,
    reps: &[Rep],
    count: usize,
) -> Result<Vec<RepId>, ServiceError> {
    if count == 0 || !reps.iter().any(|r| r.active && r.weight > 0) {
        return Ok(vec![]);
    }
    let last = store
        .increment_counter(tenant, ASSIGNMENT_COUNTER, count as u64)
        .await?;
    let first = last + 1 - count as u64;
    Ok((first..=last)
        .filter_map(|n| pick_weighted(reps, n).map(|r| r.id.clone()))
        .collect())
}
