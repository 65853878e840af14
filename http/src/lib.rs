//! What every HTTP part of Leadgate shares: the API, capture and convert functions and the
//! gateway. Errors as problem+json mapped once (`error`), the extractors (`extract`: JSON
//! bodies read strictly, the caller), authentication (`auth`: API keys, JWT claims, the
//! platform operator), the version headers (`versions`), hardening (`hardening`), and
//! `compose`, which serves parts behind authentication with one OpenAPI document.
//!
//! Every part is served with one state, the deployment's `Ports`.

pub mod auth;
pub mod doc_links;
pub mod error;
pub mod extract;
pub mod hardening;
pub mod problem_docs;
pub mod strict_json;
pub mod versions;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
pub use leadgate_core::ports::Ports;
use std::sync::Arc;
use utoipa::OpenApi;

/// The state every HTTP part is served with: the deployment's ports.
pub type ApiState = Ports;

/// Routes and the OpenAPI document that describes exactly them.
pub type ApiPart = (Router<ApiState>, utoipa::openapi::OpenApi);

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

/// The document every part starts from: the API's title, problem+json, bearer authentication.
pub fn base_doc() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Serves HTTP parts together: each route behind authentication (`operator`'s behind the
/// platform operator's credential), one OpenAPI document of all of them at
/// `/openapi.json`, a docs page at `/docs`, a 1 MiB body limit. No fallback, so a gateway
/// can merge it.
pub fn compose(state: ApiState, parts: Vec<ApiPart>, operator: Option<ApiPart>) -> Router {
    let mut routes = Router::new();
    let mut doc = ApiDoc::openapi();
    // The operator's document first, then the parts', as the document has always merged.
    let operator_routes = operator.map(|(r, d)| {
        doc.merge(d);
        r
    });
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
    let mut app = Router::new().merge(routes);
    // Layered only when given: axum refuses a route layer on a router without routes.
    if let Some(operator_routes) = operator_routes {
        app = app.merge(operator_routes.route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_operator,
        )));
    }
    app.route(
        "/openapi.json",
        get(move || async move { axum::Json(doc.as_ref().clone()) }),
    )
    .route("/docs", get(docs_page))
    .layer(DefaultBodyLimit::max(extract::MAX_BODY))
    .with_state(state)
}

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

/// The 404 for paths no route serves, as problem+json.
pub async fn not_found() -> Response {
    error::ApiError::NotFound("route").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use leadgate_core::adapters::local_blob::LocalBlobStore;
    use leadgate_core::adapters::sqlite::SqliteStore;
    use leadgate_core::config::LocalBlobConfig;
    use tower::ServiceExt;

    fn ports(dir: &std::path::Path) -> Ports {
        Ports {
            store: Arc::new(SqliteStore::in_memory().unwrap()),
            blobs: Arc::new(
                LocalBlobStore::open(LocalBlobConfig {
                    root: dir.join("bucket"),
                    public_url: "http://127.0.0.1:9".into(),
                    signing_key: leadgate_core::secret::Secret::new("test-signing-key-0123456789abcdef"),
                })
                .unwrap(),
            ),
            clock: Arc::new(leadgate_core::ports::clock::SystemClock),
            fetcher: Arc::new(leadgate_core::adapters::platform_http::PlatformClient::new()),
        }
    }

    /// The capture and convert functions compose their parts without the operator's routes.
    #[tokio::test]
    async fn when_parts_are_composed_without_operator_routes_should_serve_them_behind_auth() {
        let dir = tempfile::tempdir().unwrap();
        let part: ApiPart = (
            Router::new().route("/v1/ping", get(|| async { "pong" })),
            utoipa::openapi::OpenApi::default(),
        );
        let app = compose(ports(dir.path()), vec![part], None);
        let call = |path: &'static str| {
            app.clone()
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
        };
        assert_eq!(call("/v1/ping").await.unwrap().status(), StatusCode::UNAUTHORIZED);
        assert_eq!(call("/openapi.json").await.unwrap().status(), StatusCode::OK);
        assert_eq!(call("/v1/tenants").await.unwrap().status(), StatusCode::NOT_FOUND);
    }
}
