//! Tenant creation and lookup. A new tenant is seeded with the standard lead sources.

use crate::domain::ids::TenantId;
use crate::domain::source::seeded_sources;
use crate::domain::tenant::{Tenant, TenantSettings};
use crate::ports::store::{Expect, LeadStore, StoreError, get_typed, kinds, put_typed};
use crate::services::ServiceError;
use chrono::{DateTime, Utc};

/// The tenant record lives in its own partition under a fixed id.
const TENANT_RECORD_ID: &str = "self";

pub async fn get_tenant(store: &dyn LeadStore, id: &TenantId) -> Result<Option<Tenant>, ServiceError> {
    Ok(get_typed::<Tenant>(store, id, kinds::TENANT, TENANT_RECORD_ID)
        .await?
        .map(|v| v.value))
}

/// Creates the tenant and its seeded sources if it does not exist; returns it and whether it
/// was created now. Safe to call from several processes at once.
pub async fn ensure_tenant(
    store: &dyn LeadStore,
    id: &TenantId,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(Tenant, bool), ServiceError> {
    if let Some(t) = get_tenant(store, id).await? {
        return Ok((t, false));
    }
    // Sources first: if we crash between the two writes, the next call finishes the job.
    for s in seeded_sources() {
        match put_typed(store, id, kinds::SOURCE, s.id.as_str(), &s, Expect::Absent).await {
            Ok(_) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let tenant = Tenant {
        id: id.clone(),
        name: name.to_owned(),
        created_at: now,
        settings: TenantSettings::default(),
    };
    match put_typed(
        store,
        id,
        kinds::TENANT,
        TENANT_RECORD_ID,
        &tenant,
        Expect::Absent,
    )
    .await
    {
        Ok(_) => Ok((tenant, true)),
        Err(StoreError::Conflict { .. }) => {
            let t = get_tenant(store, id)
                .await?
                .ok_or(ServiceError::NotFound { what: "tenant" })?;
            Ok((t, false))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn update_settings(
    store: &dyn LeadStore,
    id: &TenantId,
    settings: TenantSettings,
) -> Result<Tenant, ServiceError> {
    let current = get_typed::<Tenant>(store, id, kinds::TENANT, TENANT_RECORD_ID)
        .await?
        .ok_or(ServiceError::NotFound { what: "tenant" })?;
    let tenant = Tenant {
        settings,
        ..current.value
    };
    put_typed(
        store,
        id,
        kinds::TENANT,
        TENANT_RECORD_ID,
        &tenant,
        Expect::Version(current.version),
    )
    .await?;
    Ok(tenant)
}
