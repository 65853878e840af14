//! Custom field definitions: define, list, remove.

use crate::domain::custom_field::CustomFieldDef;
use crate::domain::ids::TenantId;
use crate::ports::store::{Expect, LeadStore, StoreError, kinds, list_typed, put_typed};
use crate::services::ServiceError;

pub async fn list_custom_fields(
    store: &dyn LeadStore,
    tenant: &TenantId,
) -> Result<Vec<CustomFieldDef>, ServiceError> {
    Ok(list_typed::<CustomFieldDef>(store, tenant, kinds::CUSTOM_FIELD)
        .await?
        .into_iter()
        .map(|v| v.value)
        .collect())
}

/// Creates or replaces a definition after checking it.
pub async fn put_custom_field(
    store: &dyn LeadStore,
    tenant: &TenantId,
    def: CustomFieldDef,
) -> Result<CustomFieldDef, ServiceError> {
    def.validate()?;
    put_typed(store, tenant, kinds::CUSTOM_FIELD, &def.key, &def, Expect::Any).await?;
    Ok(def)
}

pub async fn delete_custom_field(
    store: &dyn LeadStore,
    tenant: &TenantId,
    key: &str,
) -> Result<(), ServiceError> {
    match store
        .delete_record(tenant, kinds::CUSTOM_FIELD, key, Expect::Any)
        .await
    {
        Err(StoreError::NotFound) => Err(ServiceError::NotFound { what: "custom field" }),
        other => Ok(other?),
    }
}
