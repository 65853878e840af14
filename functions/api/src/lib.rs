//! The rep-facing REST API: one axum router under `/v1`, with its OpenAPI 3.1 document at
//! `/openapi.json` generated from the same route list. `main.rs` runs it on Lambda through
//! lambda_http; the local gateway mounts it next to its other routes. What every HTTP part
//! shares (problem+json, extractors, authentication, composition) is `leadgate-http`.

pub mod routes;

// The shared HTTP pieces under the names the routes use (`crate::error::ApiError`, …).
pub use leadgate_http::{ApiPart, ApiState, error, extract, hardening, not_found};

use axum::Router;
use routes::{
    activities, analytics, attachments, exports, imports, keys, leads, settings, tenants, webhooks,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The `/v1` routes and the OpenAPI document describing exactly them.
pub fn api() -> (Router<ApiState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(leadgate_http::base_doc())
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

/// The platform operator's routes (tenants), authenticated by `leadgate_http::auth::require_operator`.
fn operator_api() -> (Router<ApiState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::new()
        .routes(routes!(tenants::create_tenant, tenants::list_tenants))
        .routes(routes!(tenants::get_tenant))
        .routes(routes!(tenants::suspend_tenant))
        .routes(routes!(tenants::resume_tenant))
        .split_for_parts()
}

/// Serves API parts together with the platform operator's routes (`leadgate_http::compose`).
pub fn compose(state: ApiState, parts: Vec<ApiPart>) -> Router {
    leadgate_http::compose(state, parts, Some(operator_api()))
}

pub fn router(state: ApiState) -> Router {
    compose(state, vec![api()])
}

/// The API function's router: the routes, a problem+json 404 for the rest, hardened.
pub fn lambda_router(state: ApiState) -> Router {
    hardening::hardened(router(state).fallback(not_found))
}
