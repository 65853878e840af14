//! Leads: create, list, get, patch, delete, assign.

use super::{etag, if_match, lead_id};
use crate::ApiState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, Caller};
use axum::Json;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use leadgate_core::domain::activity::Actor;
use leadgate_core::domain::lead::{Lead, LeadInput};
use leadgate_core::domain::query::{LeadCount, LeadQuery};
use leadgate_core::domain::rep::rep_name;
use leadgate_core::domain::source::source_name;
use leadgate_core::services::bulk_edit::{
    BulkEditAnswer, BulkEditReport, BulkEditRequest, EditPorts, bulk_edit,
};
use leadgate_core::services::bulk_jobs::{self, BulkEditJob};
use leadgate_core::services::lead_patch::{self as patch_svc, LeadPatch};
use leadgate_core::services::leads::{self as svc, CreateLead, CreateResult, DuplicatePolicy};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeadPage {
    pub items: Vec<LeadListItem>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A lead as a list shows it: with its source's and owner's display names beside their ids.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeadListItem {
    #[serde(flatten)]
    pub lead: Lead,
    /// The source's name now (a renamed source shows its new name).
    pub source_name: String,
    /// The owner's name, when the lead has an owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_name: Option<String>,
}

/// Names the page's sources and owners: two settings reads, only when the page has leads.
/// Each lead as the caller may read it (`leads::as_seen_by`).
async fn with_names(st: &ApiState, caller: &Caller, leads: Vec<Lead>) -> ApiResult<Vec<LeadListItem>> {
    let tenant = &caller.tenant.id;
    if leads.is_empty() {
        return Ok(vec![]);
    }
    let sources = leadgate_core::services::sources::list_sources(&*st.store, tenant).await?;
    let reps = leadgate_core::services::reps::list_reps(&*st.store, tenant).await?;
    Ok(leads
        .into_iter()
        .map(|lead| {
            let source_name = source_name(&sources, &lead.source);
            let owner_name = lead.owner.as_ref().map(|o| rep_name(&reps, o));
            LeadListItem {
                lead: svc::as_seen_by(&caller.tenant, &caller.principal, lead),
                source_name,
                owner_name,
            }
        })
        .collect())
}

/// A lead as the caller may read it (`leads::as_seen_by`), with its version as the ETag.
fn lead_response(status: StatusCode, lead: Lead, caller: &Caller) -> Response {
    let lead = svc::as_seen_by(&caller.tenant, &caller.principal, lead);
    let mut res = (status, Json(&lead)).into_response();
    res.headers_mut().insert(header::ETAG, etag(lead.version));
    if status == StatusCode::CREATED
        && let Ok(loc) = HeaderValue::from_str(&format!("/v1/leads/{}", lead.id))
    {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    res
}

/// `?on_duplicate=`, for the document (the handler reads the raw query).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum OnDuplicate {
    Reject,
    Create,
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match v.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_graphic()) => {
            Ok(Some(k.to_owned()))
        }
        _ => Err(ApiError::BadRequest(
            "Idempotency-Key must be 1-255 visible ASCII characters".into(),
        )),
    }
}

/// Creates a lead. With no owner it is assigned by weighted round robin. A matching email or
/// phone is a 409 naming the existing lead, unless `?on_duplicate=create`.
#[utoipa::path(post, path = "/v1/leads", tag = "leads", request_body = LeadInput,
    params(("on_duplicate" = inline(Option<OnDuplicate>), Query, description = "`reject` (default) or `create`"),
           ("Idempotency-Key" = Option<String>, Header, nullable = false, description = "replays return the first lead",
            pattern = "^[!-~]{1,255}$")),
    responses((status = 201, body = Lead), (status = 200, description = "idempotent replay", body = Lead),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_lead(
    State(st): State<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    ApiJson(input): ApiJson<LeadInput>,
) -> ApiResult<Response> {
    let duplicates = match query_pairs(query.as_deref())?
        .iter()
        .find(|(k, _)| k == "on_duplicate")
    {
        None => DuplicatePolicy::Reject,
        Some((_, v)) if v == "reject" => DuplicatePolicy::Reject,
        Some((_, v)) if v == "create" => DuplicatePolicy::Create,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "on_duplicate is `reject` or `create`".into(),
            ));
        }
    };
    let idempotency_key = idempotency_key(&headers)?
        .map(|k| svc::client_idempotency_key(&caller.principal.user, k, &input, duplicates));
    let actor = Actor::User {
        id: caller.principal.user.clone(),
    };
    let req = CreateLead {
        idempotency_key,
        ..CreateLead::new(input, actor, duplicates)
    };
    match svc::create_lead(&*st.store, &*st.clock, &caller.tenant, req).await? {
        CreateResult::Created(lead) => Ok(lead_response(StatusCode::CREATED, *lead, &caller)),
        CreateResult::AlreadyProcessed(id) => {
            let lead = svc::get_visible_lead(&*st.store, &caller.tenant, &caller.principal, &id).await?;
            let mut res = lead_response(StatusCode::OK, lead, &caller);
            res.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(res)
        }
        CreateResult::Duplicate(m) => {
            match svc::visible_duplicate(&*st.store, &caller.tenant, &caller.principal, m).await? {
                Some(m) => Err(ApiError::Duplicate(m)),
                None => Err(ApiError::Conflict(
                    "a lead you cannot see already has this email or phone; ask an admin".into(),
                )),
            }
        }
    }
}

fn query_pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw.unwrap_or(""))
        .map_err(|_| ApiError::BadRequest("the query string is malformed".into()))
}

/// The list query from its parameters. Reading the tenant's reps, sources and fields costs
/// three reads, so only parameters that name them do.
async fn list_query(st: &ApiState, caller: &Caller, pairs: &[(String, String)]) -> ApiResult<LeadQuery> {
    let mut ctx = if LeadQuery::needs_context(pairs) {
        svc::load_context(&*st.store, &caller.tenant).await?
    } else {
        Default::default()
    };
    // `overdue` needs only the tenant's SLA, read against the request's clock.
    ctx.overdue_cutoff = caller.tenant.settings.overdue_cutoff(st.clock.now());
    Ok(LeadQuery::from_params(pairs, &ctx)?)
}

/// Lists leads with filters, a sort and an opaque cursor.
#[utoipa::path(get, path = "/v1/leads", tag = "leads",
    params(("status" = Option<String>, Query, description = "one or more statuses, comma-separated or repeated: any of them (`new,contacted`)"),
           ("owner" = Option<String>, Query, description = "one or more reps by id or name, or `unassigned`, comma-separated or repeated: any of them"),
           ("source" = Option<String>, Query, description = "one or more sources by id or name (`Referral`), comma-separated or repeated: any of them"),
           ("created_from" = Option<String>, Query), ("created_to" = Option<String>, Query),
           ("last_activity_from" = Option<String>, Query), ("last_activity_to" = Option<String>, Query),
           ("tag" = Option<String>, Query, description = "repeat or comma-separate; all must match, or any under `tag_mode=any`"),
           ("tag_mode" = Option<String>, Query, description = "`all` (default) or `any`"),
           ("unqualified_reason" = Option<String>, Query, description = "one or more of the tenant's unqualified reasons, comma-separated or repeated: any of them"),
           ("q" = Option<String>, Query, description = "prefix of name, email or company"),
           ("import_job" = Option<String>, Query, format = Uuid, description = "leads created by this import job"),
           ("has_warnings" = Option<bool>, Query, description = "leads with (true) or without (false) data warnings: values kept aside because they did not parse"),
           ("overdue" = Option<String>, Query, pattern = "^true$", description = "`true`: new leads past the tenant's response SLA (`response_sla_minutes`) without a first response, unassigned ones included"),
           ("cf.<key>" = Option<String>, Query, description = "custom field equals"),
           ("sort" = Option<String>, Query, pattern = "^(created|last_activity|name|company|status|owner|source)$",
            description = "`created` (default), `last_activity`, `name`, `company`, `status` (pipeline order), `owner` or `source` (by id); ties by age. Case and accents are ignored; leads without the value come last ascending"),
           ("order" = Option<String>, Query, pattern = "^(asc|desc)$", description = "`desc` (default) or `asc`"),
           ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page, with the same sort and order")),
    responses((status = 200, body = LeadPage), (status = 422, body = Problem)))]
pub async fn list_leads(
    State(st): State<ApiState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<LeadPage>> {
    let pairs = query_pairs(raw.as_deref())?;
    let q = list_query(&st, &caller, &pairs).await?;
    let page = svc::list_visible_leads(&*st.store, &caller.tenant, &caller.principal, q).await?;
    Ok(Json(LeadPage {
        items: with_names(&st, &caller, page.items).await?,
        next_cursor: page.next_cursor,
    }))
}

/// Counts the leads `GET /v1/leads` would list with the same filters (`limit`, `cursor`,
/// `sort` and `order` do not apply). Exact on SQLite; on DynamoDB exact up to 10,000 leads,
/// and past that an estimate, with `exact: false`.
#[utoipa::path(get, path = "/v1/leads/count", tag = "leads",
    params(("status" = Option<String>, Query, description = "as for `GET /v1/leads`, as are the other filters: owner, source, created_from, created_to, last_activity_from, last_activity_to, tag, tag_mode, q, import_job, has_warnings, overdue, cf.<key>"),
           ("owner" = Option<String>, Query), ("source" = Option<String>, Query),
           ("tag" = Option<String>, Query), ("tag_mode" = Option<String>, Query), ("q" = Option<String>, Query), ("unqualified_reason" = Option<String>, Query),
           ("overdue" = Option<String>, Query, pattern = "^true$")),
    responses((status = 200, body = LeadCount), (status = 422, body = Problem)))]
pub async fn count_leads(
    State(st): State<ApiState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<LeadCount>> {
    let pairs = query_pairs(raw.as_deref())?;
    if let Some((k, _)) = pairs.iter().find(|(k, _)| k == "limit" || k == "cursor") {
        return Err(leadgate_core::domain::error::FieldError::new(
            k.clone(),
            "unknown_parameter",
            "a count takes every matching lead: limit and cursor do not apply",
        )
        .into());
    }
    let q = list_query(&st, &caller, &pairs).await?;
    Ok(Json(
        svc::count_visible_leads(&*st.store, &caller.tenant, &caller.principal, q).await?,
    ))
}

#[utoipa::path(get, path = "/v1/leads/{id}", tag = "leads", params(("id" = String, Path)),
    responses((status = 200, body = Lead), (status = 404, body = Problem)))]
pub async fn get_lead(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let lead = svc::get_visible_lead(&*st.store, &caller.tenant, &caller.principal, &lead_id(&id)?).await?;
    Ok(lead_response(StatusCode::OK, lead, &caller))
}

/// Changes a lead. Needs the version it is based on, as `If-Match` or `version`; a stale one
/// is a 409. Status changes follow the transition table (409 names the allowed next ones).
#[utoipa::path(patch, path = "/v1/leads/{id}", tag = "leads", request_body = LeadPatch,
    params(("id" = String, Path),
           ("If-Match" = Option<String>, Header, nullable = false, pattern = "^(W/)?\"?[0-9]{1,19}\"?$",
            description = "the lead's version, as its ETag gives it (or send `version` in the body instead)")),
    responses((status = 200, body = Lead), (status = 409, body = Problem), (status = 422, body = Problem),
              (status = 428, body = Problem)))]
pub async fn patch_lead(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<LeadPatch>,
) -> ApiResult<Response> {
    let expected = if_match(&headers)?;
    if expected.is_none() && patch.version.is_none() {
        return Err(ApiError::PreconditionRequired);
    }
    let lead = patch_svc::patch_lead(
        &*st.store,
        &*st.clock,
        &caller.tenant,
        &caller.principal,
        &lead_id(&id)?,
        patch,
        expected,
    )
    .await?;
    Ok(lead_response(StatusCode::OK, lead, &caller))
}

#[utoipa::path(delete, path = "/v1/leads/{id}", tag = "leads",
    params(("id" = String, Path), ("If-Match" = Option<String>, Header, nullable = false, pattern = "^(W/)?\"?[0-9]{1,19}\"?$")),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_lead(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    svc::delete_lead(
        &*st.store,
        &*st.blobs,
        &caller.tenant,
        &caller.principal,
        &lead_id(&id)?,
        if_match(&headers)?,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The rep to own the lead; `null` unassigns it.
    pub owner: Option<String>,
}

/// Reassigns a lead; the change goes on its timeline.
#[utoipa::path(post, path = "/v1/leads/{id}/assign", tag = "leads", request_body = AssignRequest,
    params(("id" = String, Path)), responses((status = 200, body = Lead), (status = 422, body = Problem)))]
pub async fn assign_lead(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AssignRequest>,
) -> ApiResult<Response> {
    let patch = LeadPatch {
        owner: Some(req.owner),
        ..Default::default()
    };
    let lead = patch_svc::patch_lead(
        &*st.store,
        &*st.clock,
        &caller.tenant,
        &caller.principal,
        &lead_id(&id)?,
        patch,
        None,
    )
    .await?;
    Ok(lead_response(StatusCode::OK, lead, &caller))
}

/// Does one action to many leads: assign (to a rep by id or name, or by round robin), change
/// status, add or remove tags, set the source or a custom field, or delete (admins). The leads
/// are named by `lead_ids` (up to 1,000) or by `filter`, the parameters of `GET /v1/leads`.
/// Each lead changes on its own, with its timeline entry in the same write; a rep reaches only
/// the leads they may see. `dry_run` reports and changes nothing. A filter matching more than
/// 1,000 leads starts a job instead (202, `Location: /v1/bulk-edits/{id}`), which goes on from
/// where it got to if it is interrupted.
#[utoipa::path(post, path = "/v1/leads/bulk", tag = "leads", request_body = BulkEditRequest,
    responses((status = 200, description = "one result per lead", body = BulkEditReport),
              (status = 202, description = "more than 1,000 leads matched: the job that edits them", body = BulkEditJob),
              (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn bulk_edit_leads(
    State(st): State<ApiState>,
    caller: Caller,
    ApiJson(req): ApiJson<BulkEditRequest>,
) -> ApiResult<Response> {
    let ports = EditPorts {
        store: &*st.store,
        blobs: &*st.blobs,
        clock: &*st.clock,
    };
    Ok(
        match bulk_edit(&ports, &caller.tenant, &caller.principal, req).await? {
            BulkEditAnswer::Report(r) => Json(r).into_response(),
            BulkEditAnswer::Job(job) => {
                let location = HeaderValue::from_str(&format!("/v1/bulk-edits/{}", job.id))
                    .map_err(ApiError::internal)?;
                (StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(job)).into_response()
            }
        },
    )
}

/// The caller's bulk-edit jobs (admins: every job of the tenant), newest first.
#[utoipa::path(get, path = "/v1/bulk-edits", tag = "leads", responses((status = 200, body = Vec<BulkEditJob>)))]
pub async fn list_bulk_edits(
    State(st): State<ApiState>,
    caller: Caller,
) -> ApiResult<Json<Vec<BulkEditJob>>> {
    Ok(Json(
        bulk_jobs::list_bulk_jobs(&*st.store, &caller.principal).await?,
    ))
}

/// A bulk-edit job: its status, the leads handled so far and how each came out, and the first
/// 100 skipped or failed leads with why.
#[utoipa::path(get, path = "/v1/bulk-edits/{id}", tag = "leads", params(("id" = String, Path)),
    responses((status = 200, body = BulkEditJob), (status = 404, body = Problem)))]
pub async fn get_bulk_edit(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<BulkEditJob>> {
    Ok(Json(
        bulk_jobs::get_bulk_job(&*st.store, &caller.principal, &id).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct QueueParams {
    /// 1-200, default 50: the queue's first leads (it has no further pages).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Queue {
    pub items: Vec<leadgate_core::services::queue::QueueItem>,
}

/// The caller's queue (speed to lead): their open leads, the overdue ones first (new, never
/// answered, past the tenant's response SLA; oldest first), then the others oldest first.
#[utoipa::path(get, path = "/v1/me/queue", tag = "leads", params(QueueParams),
    responses((status = 200, body = Queue), (status = 422, body = Problem)))]
pub async fn my_queue(
    State(st): State<ApiState>,
    caller: Caller,
    Query(p): Query<QueueParams>,
) -> ApiResult<Json<Queue>> {
    let limit = leadgate_core::domain::query::page_limit(p.limit)?;
    let items = leadgate_core::services::queue::my_queue(
        &*st.store,
        &caller.tenant,
        &caller.principal,
        limit,
        st.clock.now(),
    )
    .await?;
    Ok(Json(Queue { items }))
}
