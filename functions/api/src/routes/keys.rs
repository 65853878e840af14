//! API keys (admins only): create (the key is in the response once), list, revoke.

use crate::ApiState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, Caller};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use leadgate_core::domain::api_key::ApiKeyRecord;
use leadgate_core::domain::ids::ApiKeyId;
use leadgate_core::domain::tenant::Role;
use leadgate_core::services::api_keys::{self as svc, NewKey};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// What the key is for, e.g. "zapier".
    #[schema(
        min_length = 1,
        max_length = 80,
        pattern = "[^\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    )]
    pub name: String,
    /// The user it acts as; for a rep key, the rep id.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = "[^\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    )]
    pub user: String,
    pub role: Role,
}

/// A key as listed: never the key itself, only its first characters.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    pub user: String,
    pub role: Role,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key_info: ApiKeyView,
    /// The key. It is shown only in this response.
    pub key: String,
}

pub fn view(r: ApiKeyRecord) -> ApiKeyView {
    ApiKeyView {
        id: r.id.to_string(),
        name: r.name,
        user: r.user,
        role: r.role,
        prefix: r.prefix,
        created_at: r.created_at,
        revoked_at: r.revoked_at,
    }
}

#[utoipa::path(get, path = "/v1/settings/api-keys", tag = "api-keys", responses((status = 200, body = Vec<ApiKeyView>)))]
pub async fn list_keys(State(st): State<ApiState>, caller: Caller) -> ApiResult<Json<Vec<ApiKeyView>>> {
    caller.require_admin()?;
    let keys = st
        .store
        .list_api_keys(&caller.tenant.id)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(keys.into_iter().map(view).collect()))
}

#[utoipa::path(post, path = "/v1/settings/api-keys", tag = "api-keys", request_body = NewApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 422, body = Problem)))]
pub async fn create_key(
    State(st): State<ApiState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    caller.require_admin()?;
    let (rec, key) = svc::create_api_key(
        &*st.store,
        NewKey {
            tenant: &caller.tenant.id,
            user: &new.user,
            role: new.role,
            name: &new.name,
        },
        None,
        st.clock.now(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedApiKey {
            key_info: view(rec),
            key: key.expose().to_owned(),
        }),
    ))
}

#[utoipa::path(delete, path = "/v1/settings/api-keys/{id}", tag = "api-keys", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn revoke_key(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    let id = ApiKeyId::parse(&id).map_err(|_| ApiError::NotFound("API key"))?;
    // Revoking the key in hand would lock its holder out mid-request; another admin key
    // (or the admin group) must do it.
    if caller.key_id == Some(id) {
        return Err(ApiError::Conflict(
            "this is the key making the request; revoke it with another admin key".into(),
        ));
    }
    svc::revoke_api_key(&*st.store, &caller.tenant.id, &id, st.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
