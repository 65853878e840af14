//! Conversion handlers.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use leadgate_core::domain::RepId;
use leadgate_core::domain::conversion::{Deal, Prospect};
use leadgate_core::services::conversion::{
    self as svc, BulkItem, ConversionResult, ConvertOutcome, ConvertRequest,
};
use leadgate_core::services::deals::{self, DealPatch};
use leadgate_http::ApiState;
use leadgate_http::error::{ApiError, ApiResult, Problem};
use leadgate_http::extract::{ApiJson, Caller};
use leadgate_http::versions::{etag, if_match, lead_id};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DryRun {
    /// Check every precondition and show the result without writing anything.
    #[serde(default)]
    pub dry_run: bool,
}

/// Converts a qualified, owned lead into a prospect and (unless `no_deal`) a deal, atomically.
/// Converting it again returns the first result with 200.
#[utoipa::path(post, path = "/v1/leads/{id}/convert", tag = "conversion", request_body = ConvertRequest,
    params(("id" = String, Path), DryRun),
    responses((status = 201, body = ConversionResult), (status = 200, description = "already converted, or dry run", body = ConversionResult),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn convert_one(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<DryRun>,
    ApiJson(req): ApiJson<ConvertRequest>,
) -> ApiResult<Response> {
    let outcome = svc::convert_lead(
        &*st.store,
        &*st.clock,
        &caller.tenant,
        &caller.principal,
        &lead_id(&id)?,
        &req,
        q.dry_run,
    )
    .await?;
    Ok(match outcome {
        ConvertOutcome::Converted(r) => (StatusCode::CREATED, Json(r)).into_response(),
        ConvertOutcome::AlreadyConverted(r) | ConvertOutcome::WouldConvert(r) => {
            (StatusCode::OK, Json(r)).into_response()
        }
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkConvertRequest {
    /// 1-100 lead ids; repeats are converted once.
    #[schema(min_items = 1, max_items = 100, inline, value_type = Vec<uuid::Uuid>)]
    pub lead_ids: Vec<String>,
    /// Deal settings shared by every lead.
    #[serde(default)]
    pub deal: Option<leadgate_core::services::conversion::DealInput>,
    #[serde(default)]
    pub no_deal: bool,
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkConvertResponse {
    pub results: Vec<BulkItem>,
}

/// Converts up to 100 leads, each atomically on its own, with one result per lead:
/// converted, already_converted, would_convert (dry run), skipped (with the reason), failed.
#[utoipa::path(post, path = "/v1/leads/convert", tag = "conversion", request_body = BulkConvertRequest,
    responses((status = 200, body = BulkConvertResponse), (status = 422, body = Problem)))]
pub async fn convert_many(
    State(st): State<ApiState>,
    caller: Caller,
    ApiJson(req): ApiJson<BulkConvertRequest>,
) -> ApiResult<Json<BulkConvertResponse>> {
    let defaults = ConvertRequest {
        deal: req.deal,
        no_deal: req.no_deal,
    };
    let results = svc::convert_many(
        &*st.store,
        &*st.clock,
        &caller.tenant,
        &caller.principal,
        &req.lead_ids,
        &defaults,
        req.dry_run,
    )
    .await?;
    Ok(Json(BulkConvertResponse { results }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Prospects: a rep id. Deals: one or more reps by id or name, comma-separated.
    pub owner: Option<String>,
    /// Deals only: one or more pipeline stages by id or name, comma-separated.
    pub stage: Option<String>,
    /// The `next_cursor` of the previous page, as given.
    pub cursor: Option<String>,
    /// 1-200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// The prospect list's parameters (the deal list's, less the stage), for the document only:
/// both lists read `ListParams`, and the prospect list refuses a stage.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProspectListParams {
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    pub owner: Option<String>,
    /// The `next_cursor` of the previous page, as given.
    pub cursor: Option<String>,
    /// 1-200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T: utoipa::ToSchema> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn owner(p: &ListParams) -> Result<Option<RepId>, ApiError> {
    p.owner
        .as_deref()
        .map(|o| {
            RepId::parse(o).map_err(|mut e| {
                e.field = "owner".into();
                ApiError::from(e)
            })
        })
        .transpose()
}

#[utoipa::path(get, path = "/v1/prospects", tag = "conversion", params(ProspectListParams),
    responses((status = 200, body = Page<Prospect>), (status = 422, body = Problem)))]
pub async fn list_prospects(
    State(st): State<ApiState>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<Page<Prospect>>> {
    if p.stage.is_some() {
        return Err(ApiError::BadRequest(
            "prospects have no stage; filter deals by stage".into(),
        ));
    }
    let page = svc::list_prospects(
        &*st.store,
        &caller.tenant,
        &caller.principal,
        owner(&p)?.as_ref(),
        p.cursor.as_deref(),
        leadgate_core::domain::query::page_limit(p.limit)?,
    )
    .await?;
    Ok(Json(Page {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/v1/prospects/{id}", tag = "conversion", params(("id" = String, Path)),
    responses((status = 200, body = Prospect), (status = 404, body = Problem)))]
pub async fn get_prospect(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Prospect>> {
    Ok(Json(
        svc::get_prospect(&*st.store, &caller.tenant, &caller.principal, &id).await?,
    ))
}

#[utoipa::path(get, path = "/v1/deals", tag = "conversion", params(ListParams),
    responses((status = 200, body = Page<Deal>), (status = 422, body = Problem)))]
pub async fn list_deals(
    State(st): State<ApiState>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<Page<Deal>>> {
    let filter =
        svc::DealFilter::parse(&*st.store, &caller.tenant, p.owner.as_deref(), p.stage.as_deref()).await?;
    let page = svc::list_deals(
        &*st.store,
        &caller.tenant,
        &caller.principal,
        &filter,
        p.cursor.as_deref(),
        leadgate_core::domain::query::page_limit(p.limit)?,
    )
    .await?;
    Ok(Json(Page {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(get, path = "/v1/deals/{id}", tag = "conversion", params(("id" = String, Path)),
    responses((status = 200, body = Deal), (status = 404, body = Problem)))]
pub async fn get_deal(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let deal = svc::get_deal(&*st.store, &caller.tenant, &caller.principal, &id).await?;
    let mut res = Json(&deal).into_response();
    res.headers_mut().insert(header::ETAG, etag(deal.version));
    Ok(res)
}

/// Changes a deal: name, stage, value, expected close date, owner. Needs the version it is
/// based on, as `If-Match` (the deal's ETag) or `version`; a stale one is a 409. A stage move
/// goes on the lead's timeline in the same write.
#[utoipa::path(patch, path = "/v1/deals/{id}", tag = "conversion", request_body = DealPatch,
    params(("id" = String, Path),
           ("If-Match" = Option<String>, Header, nullable = false, pattern = "^(W/)?\"?[0-9]{1,19}\"?$",
            description = "the deal's version, as its ETag gives it (or send `version` in the body instead)")),
    responses((status = 200, body = Deal), (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 428, body = Problem)))]
pub async fn patch_deal(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<DealPatch>,
) -> ApiResult<Response> {
    let expected = if_match(&headers)?;
    if expected.is_none() && patch.version.is_none() {
        return Err(ApiError::PreconditionRequired);
    }
    let deal = deals::patch_deal(
        &*st.store,
        &*st.clock,
        &caller.tenant,
        &caller.principal,
        &id,
        patch,
        expected,
    )
    .await?;
    let mut res = Json(&deal).into_response();
    res.headers_mut().insert(header::ETAG, etag(deal.version));
    Ok(res)
}
