//! Lead conversion over HTTP: convert one lead or up to 100, and read the prospects and deals
//! conversions create. Runs as its own Lambda (`main.rs`) and inside the local gateway, behind
//! the authentication and problem+json errors every HTTP part shares (`leadgate-http`).

pub mod routes;

use axum::Router;
use leadgate_http::{ApiPart, ApiState, compose, not_found};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(info(title = "Leadgate conversion API"))]
struct ConvertDoc;

/// The conversion routes and their OpenAPI document.
pub fn api() -> ApiPart {
    OpenApiRouter::with_openapi(ConvertDoc::openapi())
        .routes(routes!(routes::convert_one))
        .routes(routes!(routes::convert_many))
        .routes(routes!(routes::list_prospects))
        .routes(routes!(routes::get_prospect))
        .routes(routes!(routes::list_deals))
        .routes(routes!(routes::get_deal, routes::patch_deal))
        .split_for_parts()
}

/// What the convert Lambda serves: these routes, authenticated, with the problem+json 404.
pub fn lambda_router(state: ApiState) -> Router {
    leadgate_http::hardening::hardened(compose(state, vec![api()], None).fallback(not_found))
}
