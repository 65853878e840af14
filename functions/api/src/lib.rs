//! The rep-facing REST API: one axum router under `/v1`, with its OpenAPI 3.1 document at
//! `/openapi.json` generated from the same route list. `main.rs` runs it on Lambda through
//! lambda_http; the local gateway mounts it next to its other routes.

pub mod auth;
pub mod doc_links;
pub mod error;
pub mod extract;
pub mod hardening;
pub mod problem_docs;
pub mod routes;
pub mod strict_json;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leadgate_core::ports::blob::BlobStore;
use leadgate_core::ports::clock::Clock;
use leadgate_core::ports::fetch::LeadFetcher;
use leadgate_core::ports::store::LeadStore;
use routes::{
    activities, analytics, attachments, exports, imports, keys, leads, settings, tenants, webhooks,
};
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<dyn LeadStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub clock: Arc<dyn Clock>,
    /// Fetches ad-platform leads, for replaying failed captures.
    pub fetcher: Arc<dyn LeadFetcher>,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Leadgate API", description = "Leads, activities, settings and keys for sales reps and admins."),
    components(schemas(error::Problem)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("an API key (lg_…)"))
                    .build(),
            ),
        );
    }
}

/// The `/v1` routes and the OpenAPI document describing exactly them.
pub fn api() -> (Router<ApiState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(leads::create_lead, leads::list_leads))
        .routes(routes!(leads::get_lead, leads::patch_lead, leads::delete_lead))
        .routes(routes!(leads::assign_lead))
        .routes(routes!(leads::bulk_edit_leads))
        .routes(routes!(leads::list_bulk_edits))
        .routes(routes!(leads::get_bulk_edit))
        .routes(routes!(leads::count_leads))
        .routes(routes!(leads::my_queue))
        .routes(routes!(analytics::by_source))
        .routes(routes!(analytics::by_rep))
        .routes(routes!(analytics::by_campaign))
        .routes(routes!(analytics::funnel))
        .routes(routes!(analytics::rebuild))
        .routes(routes!(activities::list_activities, activities::add_activity))
        .routes(routes!(
            attachments::create_attachment,
            attachments::list_attachments
        ))
        .routes(routes!(attachments::download_attachment))
        .routes(routes!(settings::list_sources, settings::add_source))
        .routes(routes!(settings::change_source, settings::delete_source))
        .routes(routes!(settings::list_custom_fields))
        .routes(routes!(settings::put_custom_field, settings::delete_custom_field))
        .routes(routes!(settings::list_reps))
        .routes(routes!(settings::put_rep))
        .routes(routes!(settings::get_stages, settings::put_stages))
        .routes(routes!(settings::list_forms))
        .routes(routes!(
            settings::get_form,
            settings::put_form,
            settings::delete_form
        ))
        .routes(routes!(settings::list_import_profiles))
        .routes(routes!(
            settings::get_import_profile,
            settings::put_import_profile,
            settings::delete_import_profile
        ))
        .routes(routes!(
            settings::get_tenant_settings,
            settings::change_tenant_settings
        ))
        .routes(routes!(webhooks::list_webhooks, webhooks::create_webhook))
        .routes(routes!(
            webhooks::get_webhook,
            webhooks::change_webhook,
            webhooks::delete_webhook
        ))
        .routes(routes!(webhooks::rotate_webhook_secret))
        .routes(routes!(webhooks::list_webhook_deliveries))
        .routes(routes!(webhooks::replay_webhook_delivery))
        .routes(routes!(webhooks::replay_failed_webhooks))
        .routes(routes!(keys::list_keys, keys::create_key))
        .routes(routes!(keys::revoke_key))
        .routes(routes!(imports::create_job, imports::list_jobs))
        .routes(routes!(imports::template))
        .routes(routes!(imports::get_job, imports::undo_job))
        .routes(routes!(imports::run_job))
        .routes(routes!(exports::create_export, exports::list_exports))
        .routes(routes!(exports::get_export))
        .split_for_parts()
}

/// Routes and the OpenAPI document that describes exactly them.
/// The platform operator's routes (tenants), authenticated by `auth::require_operator`.
fn operator_api() -> (Router<ApiState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::new()
        .routes(routes!(tenants::create_tenant, tenants::list_tenants))
        .routes(routes!(tenants::get_tenant))
        .routes(routes!(tenants::suspend_tenant))
        .routes(routes!(tenants::resume_tenant))
        .split_for_parts()
}

pub type ApiPart = (Router<ApiState>, utoipa::openapi::OpenApi);

/// Serves API parts together: each route behind authentication, one OpenAPI document of all
/// of them at `/openapi.json`, a 1 MiB body limit. No fallback, so a gateway can merge it.
pub fn compose(state: ApiState, parts: Vec<ApiPart>) -> Router {
    let mut routes = Router::new();
    let mut doc = ApiDoc::openapi();
    // The operator's routes are served wherever the API is, behind their own credential.
    let (operator_routes, operator_doc) = operator_api();
    doc.merge(operator_doc);
    for (r, d) in parts {
        routes = routes.merge(r);
        doc.merge(d);
    }
    problem_docs::document_errors(&mut doc);
    doc_links::add_links(&mut doc);
    let doc = Arc::new(doc);
    let routes = routes.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::require_caller,
    ));
    let operator_routes = operator_routes.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::require_operator,
    ));
    Router::new()
        .merge(routes)
        .merge(operator_routes)
        .route(
            "/openapi.json",
            get(move || async move { axum::Json(doc.as_ref().clone()) }),
        )
        .route("/docs", get(docs_page))
        .layer(DefaultBodyLimit::max(extract::MAX_BODY))
        .with_state(state)
}

/// The API router (this crate's routes only).
/// A page that reads `/openapi.json` and shows every operation, its parameters, body and
/// answers. Everything it needs is in it: it works offline and fetches nothing else, which
/// its Content-Security-Policy holds it to.
async fn docs_page() -> Response {
    use axum::http::{HeaderValue, header};
    let mut res = axum::response::Html(include_str!("docs_page.html")).into_response();
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'",
        ),
    );
    res
}

pub fn router(state: ApiState) -> Router {
    compose(state, vec![api()])
}

/// The 404 for paths no route serves, as problem+json.
pub async fn not_found() -> Response {
    error::ApiError::NotFound("route").into_response()
}

/// The router as the Lambda function serves it: the API plus the problem+json 404.
pub fn lambda_router(state: ApiState) -> Router {
    hardening::hardened(router(state).fallback(not_found))
}
