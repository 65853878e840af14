//! A rep's queue, for speed to lead: their open leads (new, contacted, qualified), the
//! overdue ones first (new, never answered, older than the tenant's response SLA; oldest
//! first), then the others oldest first. Two indexed list queries; no scan.

use crate::domain::ids::RepId;
use crate::domain::lead::Lead;
use crate::domain::query::{DateRange, LeadQuery, OwnerFilter, SortField, SortOrder};
use crate::domain::status::LeadStatus;
use crate::domain::tenant::{Principal, Tenant};
use crate::ports::store::LeadStore;
use crate::services::ServiceError;
use chrono::{DateTime, Utc};

/// The statuses a rep still works.
pub const OPEN: [LeadStatus; 3] = [LeadStatus::New, LeadStatus::Contacted, LeadStatus::Qualified];

#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct QueueItem {
    #[serde(flatten)]
    pub lead: Lead,
    /// Past the response SLA without a first response.
    pub overdue: bool,
}

/// The first `limit` leads of the caller's queue. A caller who is no rep has an empty queue.
pub async fn my_queue(
    store: &dyn LeadStore,
    tenant: &Tenant,
    principal: &Principal,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<Vec<QueueItem>, ServiceError> {
    let Ok(me) = RepId::parse(&principal.user) else {
        return Ok(vec![]);
    };
    let mine = |status: Vec<LeadStatus>, limit: u32| LeadQuery {
        status,
        owner: vec![OwnerFilter::Rep(me.clone())],
        sort: SortField::Created,
        order: SortOrder::Asc,
        limit,
        ..LeadQuery::default()
    };
    let overdue_q = LeadQuery {
        awaiting_response: true,
        created: DateRange {
            from: None,
            to: Some(tenant.settings.overdue_cutoff(now)),
        },
        ..mine(vec![LeadStatus::New], limit)
    };
    let overdue = store.list_leads(&tenant.id, &overdue_q).await?.items;
    let mut out: Vec<QueueItem> = overdue
        .into_iter()
        .map(|lead| QueueItem { lead, overdue: true })
        .collect();
    let left = limit.saturating_sub(out.len() as u32);
    if left > 0 {
        // The overdue ones come again in this list: ask for as many more and skip them.
        let rest = store
            .list_leads(&tenant.id, &mine(OPEN.to_vec(), left + out.len() as u32))
            .await?
            .items;
        let shown: std::collections::HashSet<_> = out.iter().map(|i| i.lead.id).collect();
        out.extend(
            rest.into_iter()
                .filter(|l| !shown.contains(&l.id))
                .take(left as usize)
                .map(|lead| QueueItem { lead, overdue: false }),
        );
    }
    Ok(out)
}
