//! A lead's timeline: list (newest first) and add notes, calls, emails, tasks, task done.

use super::lead_id;
use crate::ApiState;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, Caller};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use leadgate_core::domain::activity::Activity;
use leadgate_core::services::activities::{self as svc, NewActivity};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// The `next_cursor` of the previous page, as given.
    pub cursor: Option<String>,
    /// 1-200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActivityPage {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Activity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/leads/{id}/activities", tag = "activities",
    params(("id" = String, Path), PageParams),
    responses((status = 200, body = ActivityPage), (status = 404, body = Problem)))]
pub async fn list_activities(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(p): Query<PageParams>,
) -> ApiResult<Json<ActivityPage>> {
    let limit = leadgate_core::domain::query::page_limit(p.limit)?;
    let page = svc::list_activities(
        &*st.store,
        &caller.tenant,
        &caller.principal,
        &lead_id(&id)?,
        p.cursor.as_deref(),
        limit,
    )
    .await?;
    Ok(Json(ActivityPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(post, path = "/v1/leads/{id}/activities", tag = "activities", request_body = NewActivity,
    params(("id" = String, Path)),
    responses((status = 201, body = Object), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn add_activity(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(new): ApiJson<NewActivity>,
) -> ApiResult<(StatusCode, Json<Activity>)> {
    let a = svc::add_activity(
        &*st.store,
        &*st.clock,
        &caller.tenant,
        &caller.principal,
        &lead_id(&id)?,
        new,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(a)))
}
