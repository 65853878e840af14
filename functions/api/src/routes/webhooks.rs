//! Webhook subscriptions (admins): create (the signing secret is in the response once),
//! list, read, change, remove, rotate the secret, and the delivery log with replays.

use crate::ApiState;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, Caller};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use leadgate_core::domain::webhook::{Delivery, DeliveryStatus};
use leadgate_core::services::webhooks::{self as svc, SubscriptionInput, SubscriptionView};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedSubscription {
    #[serde(flatten)]
    pub subscription: SubscriptionView,
    /// The signing secret (`whsec_…`). It is shown only in this response.
    pub secret: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryPage {
    pub items: Vec<Delivery>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// Only deliveries in this state.
    pub status: Option<DeliveryStatus>,
    pub cursor: Option<String>,
    /// 1-200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayFailed {
    /// Every failed delivery of an event at or after this time is sent again.
    pub since: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReplayQueued {
    pub queued: u64,
}

#[utoipa::path(get, path = "/v1/settings/webhooks", tag = "webhooks",
    responses((status = 200, body = Vec<SubscriptionView>)))]
pub async fn list_webhooks(
    State(st): State<ApiState>,
    caller: Caller,
) -> ApiResult<Json<Vec<SubscriptionView>>> {
    caller.require_admin()?;
    Ok(Json(svc::list(&*st.store, &caller.tenant.id).await?))
}

#[utoipa::path(post, path = "/v1/settings/webhooks", tag = "webhooks", request_body = SubscriptionInput,
    responses((status = 201, body = CreatedSubscription), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_webhook(
    State(st): State<ApiState>,
    caller: Caller,
    ApiJson(input): ApiJson<SubscriptionInput>,
) -> ApiResult<(StatusCode, Json<CreatedSubscription>)> {
    caller.require_admin()?;
    let (view, secret) = svc::create(
        &*st.store,
        &caller.tenant.id,
        input,
        st.fetcher.webhook_policy(),
        st.clock.now(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedSubscription {
            subscription: view,
            secret: secret.expose().to_owned(),
        }),
    ))
}

#[utoipa::path(get, path = "/v1/settings/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 200, body = SubscriptionView), (status = 404, body = Problem)))]
pub async fn get_webhook(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SubscriptionView>> {
    caller.require_admin()?;
    Ok(Json(svc::get(&*st.store, &caller.tenant.id, &id).await?))
}

#[utoipa::path(patch, path = "/v1/settings/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    request_body = SubscriptionInput,
    responses((status = 200, body = SubscriptionView), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn change_webhook(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<SubscriptionInput>,
) -> ApiResult<Json<SubscriptionView>> {
    caller.require_admin()?;
    Ok(Json(
        svc::update(
            &*st.store,
            &caller.tenant.id,
            &id,
            input,
            st.fetcher.webhook_policy(),
            st.clock.now(),
        )
        .await?,
    ))
}

#[utoipa::path(delete, path = "/v1/settings/webhooks/{id}", tag = "webhooks", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_webhook(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    svc::delete(&*st.store, &caller.tenant.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/settings/webhooks/{id}/rotate-secret", tag = "webhooks",
    params(("id" = String, Path)),
    responses((status = 200, body = CreatedSubscription), (status = 404, body = Problem)))]
pub async fn rotate_webhook_secret(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<CreatedSubscription>> {
    caller.require_admin()?;
    let (view, secret) = svc::rotate_secret(&*st.store, &caller.tenant.id, &id, st.clock.now()).await?;
    Ok(Json(CreatedSubscription {
        subscription: view,
        secret: secret.expose().to_owned(),
    }))
}

#[utoipa::path(get, path = "/v1/settings/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path), DeliveryQuery),
    responses((status = 200, body = DeliveryPage), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_webhook_deliveries(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<DeliveryQuery>,
) -> ApiResult<Json<DeliveryPage>> {
    caller.require_admin()?;
    let page = svc::list_deliveries(
        &*st.store,
        &caller.tenant.id,
        &id,
        q.status,
        q.cursor.as_deref(),
        q.limit.unwrap_or(50),
    )
    .await?;
    Ok(Json(DeliveryPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(post, path = "/v1/settings/webhooks/{id}/deliveries/{delivery_id}/replay", tag = "webhooks",
    params(("id" = String, Path), ("delivery_id" = String, Path)),
    responses((status = 202, body = Delivery), (status = 404, body = Problem)))]
pub async fn replay_webhook_delivery(
    State(st): State<ApiState>,
    caller: Caller,
    Path((id, delivery)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<Delivery>)> {
    caller.require_admin()?;
    let d = svc::replay(&*st.store, &caller.tenant.id, &id, &delivery, st.clock.now()).await?;
    Ok((StatusCode::ACCEPTED, Json(d)))
}

#[utoipa::path(post, path = "/v1/settings/webhooks/{id}/replay", tag = "webhooks",
    params(("id" = String, Path)), request_body = ReplayFailed,
    responses((status = 202, body = ReplayQueued), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn replay_failed_webhooks(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReplayFailed>,
) -> ApiResult<(StatusCode, Json<ReplayQueued>)> {
    caller.require_admin()?;
    let queued = svc::replay_failed(&*st.store, &caller.tenant.id, &id, body.since, st.clock.now()).await?;
    Ok((StatusCode::ACCEPTED, Json(ReplayQueued { queued })))
}
