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

/// Reserves `count` consecutive slots of the rotation with one atomic increment (one for a
/// created lead, a batch's worth for imports) and returns their owners in order; empty when
/// no rep is eligible (the lead then stays unassigned). The caller has the reps already (the
/// lead's context lists them), so they are not listed twice.
pub async fn reserve_round_robin(
    store: &dyn LeadStore,
    tenant: &TenantId,
    reps: &[Rep],
    count: usize,
) -> Result<Vec<RepId>, ServiceError> {
    if count == 0 || !reps.iter().any(Rep::in_rotation) {
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
