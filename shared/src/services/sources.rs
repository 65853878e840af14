//! Per-tenant lead sources: add, rename, retire, delete (refused while any lead uses it).

use crate::domain::ids::{SourceId, TenantId};
use crate::domain::query::LeadQuery;
use crate::domain::source::{Source, parse_source_name};
use crate::ports::store::{Expect, LeadStore, StoreError, get_typed, kinds, list_typed, put_typed};
use crate::services::ServiceError;

pub async fn list_sources(store: &dyn LeadStore, tenant: &TenantId) -> Result<Vec<Source>, ServiceError> {
    Ok(list_typed::<Source>(store, tenant, kinds::SOURCE)
        .await?
        .into_iter()
        .map(|v| v.value)
        .collect())
}

pub async fn add_source(
    store: &dyn LeadStore,
    tenant: &TenantId,
    id: SourceId,
    name: &str,
) -> Result<Source, ServiceError> {
    let name = parse_source_name(name)?;
    let existing = list_sources(store, tenant).await?;
    if existing.iter().any(|s| s.name.eq_ignore_ascii_case(&name)) {
        return Err(ServiceError::AlreadyExists(format!(
            "a source named '{name}' already exists"
        )));
    }
    let s = Source {
        id,
        name,
        retired: false,
    };
    match put_typed(store, tenant, kinds::SOURCE, s.id.as_str(), &s, Expect::Absent).await {
        Ok(_) => Ok(s),
        Err(StoreError::Conflict { .. }) => Err(ServiceError::AlreadyExists(format!(
            "a source with id '{}' already exists",
            s.id
        ))),
        Err(e) => Err(e.into()),
    }
}

async fn update_source(
    store: &dyn LeadStore,
    tenant: &TenantId,
    id: &SourceId,
    change: impl FnOnce(&mut Source),
) -> Result<Source, ServiceError> {
    let current = get_typed::<Source>(store, tenant, kinds::SOURCE, id.as_str())
        .await?
        .ok_or(ServiceError::NotFound { what: "source" })?;
    let mut s = current.value;
    change(&mut s);
    put_typed(
        store,
        tenant,
        kinds::SOURCE,
        id.as_str(),
        &s,
        Expect::Version(current.version),
    )
    .await?;
    Ok(s)
}

/// Renames a source. Leads keep the id, so every lead shows the new name at once.
pub async fn rename_source(
    store: &dyn LeadStore,
    tenant: &TenantId,
    id: &SourceId,
    name: &str,
) -> Result<Source, ServiceError> {
    let name = parse_source_name(name)?;
    let clash = list_sources(store, tenant)
        .await?
        .into_iter()
        .any(|s| &s.id != id && s.name.eq_ignore_ascii_case(&name));
    if clash {
        return Err(ServiceError::AlreadyExists(format!(
            "a source named '{name}' already exists"
        )));
    }
    update_source(store, tenant, id, |s| s.name = name).await
}

pub async fn set_source_retired(
    store: &dyn LeadStore,
    tenant: &TenantId,
    id: &SourceId,
    retired: bool,
) -> Result<Source, ServiceError> {
    update_source(store, tenant, id, |s| s.retired = retired).await
}

/// Deletes a source no lead uses. A used one can only be retired.
///
/// The check and the delete are two calls, so a lead created with this source in between
/// would keep a dangling id; it then still reads (the source shows as unknown) and the
/// admin can re-add it. Retiring first, as the API suggests, closes that window.
pub async fn delete_source(
    store: &dyn LeadStore,
    tenant: &TenantId,
    id: &SourceId,
) -> Result<(), ServiceError> {
    let probe = LeadQuery {
        source: vec![id.clone()],
        limit: 1,
        ..LeadQuery::default()
    };
    if !store.list_leads(tenant, &probe).await?.items.is_empty() {
        return Err(ServiceError::InUse(format!(
            "source '{id}' is used by leads; retire it instead of deleting it"
        )));
    }
    match store
        .delete_record(tenant, kinds::SOURCE, id.as_str(), Expect::Any)
        .await
    {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound) => Err(ServiceError::NotFound { what: "source" }),
        Err(e) => Err(e.into()),
    }
}
