//! Tenant-wide settings: pipeline stages, capture forms, and the tenant's own options.

use crate::domain::ids::TenantId;
use crate::domain::settings::{CaptureForm, PipelineStage, default_stages, validate_stages};
use crate::domain::source::resolve_source;
use crate::ports::store::{Expect, LeadStore, StoreError, get_typed, kinds, list_typed, put_typed};
use crate::services::ServiceError;
use crate::services::sources::list_sources;

/// The stage list is one record, replaced whole, so its order is always consistent.
const STAGES_ID: &str = "pipeline";

pub async fn get_stages(
    store: &dyn LeadStore,
    tenant: &TenantId,
) -> Result<Vec<PipelineStage>, ServiceError> {
    Ok(
        get_typed::<Vec<PipelineStage>>(store, tenant, kinds::STAGE, STAGES_ID)
            .await?
            .map(|v| v.value)
            .unwrap_or_else(default_stages),
    )
}

pub async fn put_stages(
    store: &dyn LeadStore,
    tenant: &TenantId,
    mut stages: Vec<PipelineStage>,
) -> Result<Vec<PipelineStage>, ServiceError> {
    validate_stages(&stages)?;
    stages.sort_by_key(|s| s.order);
    put_typed(store, tenant, kinds::STAGE, STAGES_ID, &stages, Expect::Any).await?;
    Ok(stages)
}

pub async fn list_forms(store: &dyn LeadStore, tenant: &TenantId) -> Result<Vec<CaptureForm>, ServiceError> {
    Ok(list_typed::<CaptureForm>(store, tenant, kinds::FORM)
        .await?
        .into_iter()
        .map(|v| v.value)
        .collect())
}

pub async fn get_form(
    store: &dyn LeadStore,
    tenant: &TenantId,
    key: &str,
) -> Result<CaptureForm, ServiceError> {
    get_typed::<CaptureForm>(store, tenant, kinds::FORM, key)
        .await?
        .map(|v| v.value)
        .ok_or(ServiceError::NotFound { what: "capture form" })
}

pub async fn put_form(
    store: &dyn LeadStore,
    tenant: &TenantId,
    form: CaptureForm,
) -> Result<CaptureForm, ServiceError> {
    put_form_with(store, tenant, form, SecretChange::AsGiven).await
}

/// What a form PUT does to the signing secret, which the API never shows: a PUT that leaves
/// it out must not drop it (an unsigned post would then be accepted); removal is explicit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretChange {
    /// The form's `signing_secret` is the new value (`None` removes it).
    AsGiven,
    /// Keep the stored secret, whatever the form says.
    Keep,
}

pub async fn put_form_with(
    store: &dyn LeadStore,
    tenant: &TenantId,
    mut form: CaptureForm,
    secret: SecretChange,
) -> Result<CaptureForm, ServiceError> {
    if secret == SecretChange::Keep {
        form.signing_secret = get_typed::<CaptureForm>(store, tenant, kinds::FORM, &form.key)
            .await?
            .and_then(|v| v.value.signing_secret);
    }
    form.validate()?;
    let sources = list_sources(store, tenant).await?;
    resolve_source(&sources, form.source.as_str())?;
    put_typed(store, tenant, kinds::FORM, &form.key.clone(), &form, Expect::Any).await?;
    Ok(form)
}

pub async fn delete_form(store: &dyn LeadStore, tenant: &TenantId, key: &str) -> Result<(), ServiceError> {
    match store.delete_record(tenant, kinds::FORM, key, Expect::Any).await {
        Err(StoreError::NotFound) => Err(ServiceError::NotFound { what: "capture form" }),
        other => Ok(other?),
    }
}
