//! The capture gateway: website forms and the Meta, Google Ads and LinkedIn lead webhooks under
//! `/capture/{tenant}/…` (no API key: each channel has its own proof), plus the admin routes
//! for failed captures and channel settings under `/v1`. Runs as its own Lambda (`main.rs`)
//! and inside the local gateway.

pub mod admin;
pub mod forms;
pub mod limiter;
pub mod platforms;
// The signature schemes live in the core: outbound webhooks sign with the forms' scheme.
pub use leadgate_core::domain::signature;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use leadgate_core::domain::{Tenant, TenantId};
use leadgate_core::ports::Ports;
use leadgate_core::ports::clock::Clock;
use leadgate_core::ports::fetch::LeadFetcher;
use leadgate_core::ports::store::LeadStore;
use leadgate_core::services::ServiceError;
use leadgate_core::services::tenants::active_tenant;
use leadgate_http::error::ApiError;
use leadgate_http::{ApiPart, not_found};
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(Clone)]
pub struct CaptureState {
    pub store: Arc<dyn LeadStore>,
    pub clock: Arc<dyn Clock>,
    pub fetcher: Arc<dyn LeadFetcher>,
    pub limiter: Arc<limiter::RateLimiter>,
}

impl CaptureState {
    /// The webhooks' state from the deployment's ports, with a fresh rate limiter.
    pub fn new(ports: &Ports) -> Self {
        Self {
            store: ports.store.clone(),
            clock: ports.clock.clone(),
            fetcher: ports.fetcher.clone(),
            limiter: Arc::new(limiter::RateLimiter::default()),
        }
    }
}

/// Every capture URL that leads nowhere (no such tenant, form or channel) gets this same
/// 404, so the answers do not tell which tenants or forms exist.
pub(crate) fn no_endpoint() -> ApiError {
    ApiError::NotFound("capture endpoint")
}

/// The tenant named in a capture URL; unknown or malformed is a 404.
pub(crate) async fn load_tenant(st: &CaptureState, raw: &str) -> Result<Tenant, ApiError> {
    let id = TenantId::parse(raw).map_err(|_| no_endpoint())?;
    match active_tenant(&*st.store, &id).await {
        Ok(t) => Ok(t),
        Err(ServiceError::NotFound { .. }) => Err(no_endpoint()),
        // Suspended: 403, as on every other route; nothing is stored.
        Err(e) => Err(e.into()),
    }
}

/// The webhook routes, with the 64 KiB body limit of form posts (platform deliveries are
/// small JSON too).
pub fn webhooks(state: CaptureState) -> Router {
    Router::new()
        .route(
            "/capture/{tenant}/forms/{form_key}",
            post(forms::submit).options(forms::preflight),
        )
        .route(
            "/capture/{tenant}/meta",
            get(platforms::meta_verify).post(platforms::meta_deliver),
        )
        .route("/capture/{tenant}/google", post(platforms::google_deliver))
        .route(
            "/capture/{tenant}/linkedin",
            get(platforms::linkedin_challenge).post(platforms::linkedin_deliver),
        )
        .layer(DefaultBodyLimit::max(forms::MAX_FORM_BODY))
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(info(title = "Leadgate capture administration"))]
struct CaptureDoc;

/// The `/v1` admin routes of capture and their OpenAPI document.
pub fn api() -> ApiPart {
    OpenApiRouter::with_openapi(CaptureDoc::openapi())
        .routes(routes!(admin::list_captures))
        .routes(routes!(admin::get_capture))
        .routes(routes!(admin::replay_capture))
        .routes(routes!(admin::get_channel_settings, admin::put_channel_settings))
        .split_for_parts()
}

/// What the capture Lambda serves: the webhooks, the admin routes, the problem+json 404.
pub fn lambda_router(ports: Ports) -> Router {
    let capture = CaptureState::new(&ports);
    leadgate_http::hardening::hardened(
        webhooks(capture)
            .merge(leadgate_http::compose(ports, vec![api()], None))
            .fallback(not_found),
    )
}
