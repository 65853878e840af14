//! Admin routes for capture: failed (and all) captures with replay, and the ad-platform
//! channel settings (secrets are write-only).

use axum::Json;
use axum::extract::{Path, Query, State};
use leadgate_core::domain::capture::{
    Channel, GoogleConfig, LinkedinConfig, MetaConfig, Submission, SubmissionStatus,
};
use leadgate_core::domain::source::resolve_source;
use leadgate_core::services::capture::{self as svc, get_channel, put_channel};
use leadgate_core::services::sources::list_sources;
use leadgate_http::ApiState;
use leadgate_http::error::{ApiError, ApiResult, Problem};
use leadgate_http::extract::{ApiJson, Caller};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CaptureParams {
    /// received, processed, resubmitted, spam or failed.
    pub status: Option<SubmissionStatus>,
    /// The `next_cursor` of the previous page, as given.
    pub cursor: Option<String>,
    /// 1-200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CapturePage {
    pub items: Vec<Submission>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/captures", tag = "capture", params(CaptureParams),
    responses((status = 200, body = CapturePage), (status = 403, body = Problem)))]
pub async fn list_captures(
    State(st): State<ApiState>,
    caller: Caller,
    Query(p): Query<CaptureParams>,
) -> ApiResult<Json<CapturePage>> {
    caller.require_admin()?;
    let page = svc::list_submissions(
        &*st.store,
        &caller.tenant,
        p.status,
        p.cursor.as_deref(),
        leadgate_core::domain::query::page_limit(p.limit)?,
    )
    .await?;
    Ok(Json(CapturePage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/v1/captures/{id}", tag = "capture", params(("id" = String, Path)),
    responses((status = 200, body = Submission), (status = 404, body = Problem)))]
pub async fn get_capture(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Submission>> {
    caller.require_admin()?;
    Ok(Json(svc::get_submission(&*st.store, &caller.tenant, &id).await?))
}

/// Processes a failed capture again (after fixing the form, the channel settings or the
/// platform token). A processed capture is returned unchanged.
#[utoipa::path(post, path = "/v1/captures/{id}/replay", tag = "capture", params(("id" = String, Path)),
    responses((status = 200, body = Submission), (status = 404, body = Problem)))]
pub async fn replay_capture(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Submission>> {
    caller.require_admin()?;
    Ok(Json(
        svc::replay_submission(&*st.store, &*st.clock, &*st.fetcher, &caller.tenant, &id).await?,
    ))
}

fn channel(raw: &str) -> Result<Channel, ApiError> {
    match raw {
        "meta" => Ok(Channel::Meta),
        "google" => Ok(Channel::Google),
        "linkedin" => Ok(Channel::Linkedin),
        _ => Err(ApiError::NotFound("channel")),
    }
}

fn mask(v: &str) -> String {
    if v.is_empty() {
        String::new()
    } else {
        "********".into()
    }
}

/// A channel's settings with every secret masked.
#[utoipa::path(get, path = "/v1/settings/channels/{channel}", tag = "capture", params(("channel" = String, Path, description = "meta, google or linkedin")),
    responses((status = 200, body = Object), (status = 404, body = Problem)))]
pub async fn get_channel_settings(
    State(st): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    let t = &caller.tenant;
    let out = match channel(&name)? {
        Channel::Meta => get_channel::<MetaConfig>(&*st.store, t, Channel::Meta).await?.map(|c| {
            json!({"verify_token": mask(&c.verify_token), "app_secret": mask(&c.app_secret), "page_access_token": mask(&c.page_access_token),
                   "graph_base_url": c.graph_base_url, "source": c.source})
        }),
        Channel::Google => get_channel::<GoogleConfig>(&*st.store, t, Channel::Google).await?.map(|c| json!({"google_key": mask(&c.google_key), "source": c.source})),
        Channel::Linkedin => get_channel::<LinkedinConfig>(&*st.store, t, Channel::Linkedin).await?.map(|c| {
            json!({"client_secret": mask(&c.client_secret), "access_token": mask(&c.access_token), "api_base_url": c.api_base_url, "source": c.source})
        }),
        Channel::Form => None,
    };
    out.map(Json).ok_or(ApiError::NotFound("channel settings"))
}

/// A platform base URL must be one the fetcher will call (its allow-list, one place).
fn check_url(st: &ApiState, platform: &'static str, field: &str, url: &str) -> Result<(), ApiError> {
    st.fetcher.check_base_url(platform, url).map_err(|e| {
        leadgate_core::domain::error::FieldError::new(field, "invalid_url", e.to_string()).into()
    })
}

fn check_secret(field: &str, v: &str) -> Result<(), ApiError> {
    if v.trim().len() < 8 || v.len() > 1024 {
        return Err(leadgate_core::domain::error::FieldError::new(
            field,
            "invalid_length",
            format!("{field} is 8-1024 characters"),
        )
        .into());
    }
    Ok(())
}

/// Sets a channel's settings (meta: verify_token, app_secret, page_access_token,
/// graph_base_url, source; google: google_key, source; linkedin: client_secret,
/// access_token, api_base_url, source).
#[utoipa::path(put, path = "/v1/settings/channels/{channel}", tag = "capture", request_body = Object,
    params(("channel" = String, Path)), responses((status = 200, body = Object), (status = 422, body = Problem)))]
pub async fn put_channel_settings(
    State(st): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    let t = &caller.tenant;
    let invalid = |e: serde_json::Error| {
        ApiError::from(leadgate_core::domain::error::FieldError::new(
            "body",
            "invalid_body",
            e.to_string(),
        ))
    };
    let sources = list_sources(&*st.store, &t.id).await?;
    match channel(&name)? {
        Channel::Meta => {
            let c: MetaConfig = serde_json::from_value(body).map_err(invalid)?;
            check_secret("verify_token", &c.verify_token)?;
            check_secret("app_secret", &c.app_secret)?;
            check_secret("page_access_token", &c.page_access_token)?;
            check_url(&st, "meta", "graph_base_url", &c.graph_base_url)?;
            resolve_source(&sources, c.source.as_str())?;
            put_channel(&*st.store, t, Channel::Meta, &c).await?;
        }
        Channel::Google => {
            let c: GoogleConfig = serde_json::from_value(body).map_err(invalid)?;
            check_secret("google_key", &c.google_key)?;
            resolve_source(&sources, c.source.as_str())?;
            put_channel(&*st.store, t, Channel::Google, &c).await?;
        }
        Channel::Linkedin => {
            let c: LinkedinConfig = serde_json::from_value(body).map_err(invalid)?;
            check_secret("client_secret", &c.client_secret)?;
            check_secret("access_token", &c.access_token)?;
            check_url(&st, "linkedin", "api_base_url", &c.api_base_url)?;
            resolve_source(&sources, c.source.as_str())?;
            put_channel(&*st.store, t, Channel::Linkedin, &c).await?;
        }
        Channel::Form => return Err(ApiError::NotFound("channel")),
    }
    get_channel_settings(State(st), caller, Path(name)).await
}
