//! Analytics: per source, per rep and the funnel over a date range, read from the rollups
//! (`services::analytics`); and the admin's rebuild of those rollups from the leads.

use crate::ApiState;
use crate::error::{ApiResult, Problem};
use crate::extract::Caller;
use axum::Json;
use axum::extract::{Query, State};
use leadgate_core::services::analytics::{self as svc, RawAnalyticsQuery, Rebuilt, Report};

/// The request's range and limits, as of the gateway's clock.
fn parse(st: &ApiState, raw: RawAnalyticsQuery) -> Result<svc::AnalyticsQuery, crate::error::ApiError> {
    Ok(raw.parse(st.clock.now().date_naive())?)
}

/// Per source: the leads created in the range, how many are contacted, qualified,
/// unqualified and converted now, with rates, and the median and 90th percentile time to
/// first response; in total, per day or week, and per source (most leads first).
#[utoipa::path(get, path = "/v1/analytics/sources", tag = "analytics", params(RawAnalyticsQuery),
    responses((status = 200, body = Report), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn by_source(
    State(st): State<ApiState>,
    caller: Caller,
    Query(p): Query<RawAnalyticsQuery>,
) -> ApiResult<Json<Report>> {
    let q = parse(&st, p)?;
    Ok(Json(
        svc::by_source(&*st.store, &caller.tenant, &caller.principal, &q).await?,
    ))
}

/// The same figures per rep (owner), unassigned leads under `unassigned`. A rep of a tenant
/// that shows reps their own leads only sees their own row.
#[utoipa::path(get, path = "/v1/analytics/reps", tag = "analytics", params(RawAnalyticsQuery),
    responses((status = 200, body = Report), (status = 422, body = Problem)))]
pub async fn by_rep(
    State(st): State<ApiState>,
    caller: Caller,
    Query(p): Query<RawAnalyticsQuery>,
) -> ApiResult<Json<Report>> {
    let q = parse(&st, p)?;
    Ok(Json(
        svc::by_rep(&*st.store, &caller.tenant, &caller.principal, &q).await?,
    ))
}

/// The same figures per campaign: an ad platform's campaign (`google:12345678901`), else its
/// ad set when the platform does not name the campaign (Meta: `meta:adset:…`), else the UTM
/// campaign a form was posted with (`utm:spring-sale`, named without the prefix); leads that
/// name none under `none`. Limited by `campaign`, not by source or owner.
#[utoipa::path(get, path = "/v1/analytics/campaigns", tag = "analytics", params(RawAnalyticsQuery),
    responses((status = 200, body = Report), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn by_campaign(
    State(st): State<ApiState>,
    caller: Caller,
    Query(p): Query<RawAnalyticsQuery>,
) -> ApiResult<Json<Report>> {
    let q = parse(&st, p)?;
    Ok(Json(
        svc::by_campaign(&*st.store, &caller.tenant, &caller.principal, &q).await?,
    ))
}

/// The funnel: every lead of the range (or of the sources, reps or campaigns named)
/// together, in total and per day or week; `groups` is empty. Campaigns span the team: a rep
/// who sees only their own leads may not name them (403).
#[utoipa::path(get, path = "/v1/analytics/funnel", tag = "analytics", params(RawAnalyticsQuery),
    responses((status = 200, body = Report), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn funnel(
    State(st): State<ApiState>,
    caller: Caller,
    Query(p): Query<RawAnalyticsQuery>,
) -> ApiResult<Json<Report>> {
    let q = parse(&st, p)?;
    Ok(Json(
        svc::funnel(&*st.store, &caller.tenant, &caller.principal, &q).await?,
    ))
}

/// Recomputes the tenant's analytics from its leads (admins). Lead writes keep them current
/// on their own; this mends rows that drifted, such as after a DynamoDB import that was
/// killed between a batch and its rollup update, and fills them on a table from before
/// analytics.
#[utoipa::path(post, path = "/v1/analytics/rebuild", tag = "analytics",
    responses((status = 200, body = Rebuilt), (status = 403, body = Problem)))]
pub async fn rebuild(State(st): State<ApiState>, caller: Caller) -> ApiResult<Json<Rebuilt>> {
    caller.require_admin()?;
    Ok(Json(svc::rebuild(&*st.store, &caller.tenant.id).await?))
}
