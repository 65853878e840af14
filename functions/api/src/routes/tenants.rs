//! Tenants, for the platform operator (an operator key, or the `platform-operator` group
//! behind API Gateway): create (with the first admin key, shown once), list, read, suspend
//! and resume. No tenant credential reaches these routes, and an operator key reaches nothing
//! else.

use super::activities::PageParams;
use super::keys::{CreatedApiKey, view as key_view};
use crate::ApiState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use leadgate_core::domain::{Tenant, TenantId};
use leadgate_core::services::tenants::{self as svc, NewTenant};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// The tenant's id, used in capture URLs and bucket keys: a slug (`acme`, `acme-eu`).
    #[schema(value_type = String, pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    pub id: String,
    /// The company's name, 1-120 characters, not blank, no control characters.
    #[schema(
        min_length = 1,
        max_length = 120,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub name: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    Active,
    Suspended,
}

/// A tenant as the operator sees it: who it is and whether it is served, not its settings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantView {
    pub id: TenantId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub status: TenantStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended_at: Option<DateTime<Utc>>,
}

impl From<Tenant> for TenantView {
    fn from(t: Tenant) -> Self {
        Self {
            status: if t.is_suspended() {
                TenantStatus::Suspended
            } else {
                TenantStatus::Active
            },
            id: t.id,
            name: t.name,
            created_at: t.created_at,
            suspended_at: t.suspended_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedTenant {
    pub tenant: TenantView,
    /// The tenant's first admin key. It is shown only in this response.
    pub admin_key: CreatedApiKey,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantPage {
    pub items: Vec<TenantView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A tenant id from the path; one that is not a slug names no tenant.
fn tenant_id(raw: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(raw).map_err(|_| ApiError::NotFound("tenant"))
}

#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = CreateTenant,
    responses((status = 201, body = CreatedTenant), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_tenant(
    State(st): State<ApiState>,
    ApiJson(new): ApiJson<CreateTenant>,
) -> ApiResult<(StatusCode, Json<CreatedTenant>)> {
    let new = NewTenant::parse(&new.id, &new.name)?;
    let (tenant, record, key) = svc::create_tenant(&*st.store, &new, st.clock.now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedTenant {
            tenant: tenant.into(),
            admin_key: CreatedApiKey {
                key_info: key_view(record),
                key: key.expose().to_owned(),
            },
        }),
    ))
}

#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", params(PageParams),
    responses((status = 200, body = TenantPage), (status = 422, body = Problem)))]
pub async fn list_tenants(
    State(st): State<ApiState>,
    Query(p): Query<PageParams>,
) -> ApiResult<Json<TenantPage>> {
    let limit = leadgate_core::domain::query::page_limit(p.limit)?;
    let page = svc::list_tenants(&*st.store, p.cursor.as_deref(), limit).await?;
    Ok(Json(TenantPage {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/v1/tenants/{id}", tag = "tenants", params(("id" = String, Path)),
    responses((status = 200, body = TenantView), (status = 404, body = Problem)))]
pub async fn get_tenant(State(st): State<ApiState>, Path(id): Path<String>) -> ApiResult<Json<TenantView>> {
    let tenant = svc::get_tenant(&*st.store, &tenant_id(&id)?)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    Ok(Json(tenant.into()))
}

/// Every route of the tenant answers 403 until it is resumed, capture included; its data,
/// keys and settings stay as they are.
#[utoipa::path(post, path = "/v1/tenants/{id}/suspend", tag = "tenants", params(("id" = String, Path)),
    responses((status = 200, body = TenantView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn suspend_tenant(
    State(st): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<TenantView>> {
    let t = svc::set_suspended(&*st.store, &tenant_id(&id)?, Some(st.clock.now())).await?;
    Ok(Json(t.into()))
}

#[utoipa::path(post, path = "/v1/tenants/{id}/resume", tag = "tenants", params(("id" = String, Path)),
    responses((status = 200, body = TenantView), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn resume_tenant(
    State(st): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Json<TenantView>> {
    let t = svc::set_suspended(&*st.store, &tenant_id(&id)?, None).await?;
    Ok(Json(t.into()))
}
