//! The gateway's HTTP surface: health, the REST API and conversion (`/v1`, `/openapi.json`),
//! the capture webhooks (`/capture`), the local bucket's presigned-URL routes, all on one port
//! behind request ids and tracing, every response hardened (`leadgate_http::hardening`).

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use leadgate_core::adapters::local_blob::LocalBlobStore;
use leadgate_core::ports::Ports;
use serde_json::json;
use std::sync::Arc;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone)]
pub struct AppState {
    /// What every HTTP part is served with.
    pub ports: Ports,
    /// Present when the bucket is a local folder: its presigned URLs are served here.
    pub local_blobs: Option<Arc<LocalBlobStore>>,
    /// The longest a request may take, body included (408 after it).
    pub request_timeout: std::time::Duration,
}

pub fn router(state: AppState) -> Router {
    let capture = leadgate_capture::CaptureState::new(&state.ports);
    let api = leadgate_api::compose(
        state.ports.clone(),
        vec![
            leadgate_api::api(),
            leadgate_convert::api(),
            leadgate_capture::api(),
        ],
    );
    let mut app = Router::new()
        .route("/healthz", get(healthz))
        .with_state(state.clone())
        .merge(api)
        .merge(leadgate_capture::webhooks(capture))
        .fallback(leadgate_http::not_found);
    if let Some(local) = state.local_blobs {
        app = app.merge(local.router());
    }
    // Inside the hardening, so the 408 and the 500 of a panic are problem+json too.
    let app = app.layer(tower_http::catch_panic::CatchPanicLayer::new()).layer(
        tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.request_timeout,
        ),
    );
    let app = leadgate_http::hardening::hardened(app);
    app.layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
        // The path only: query strings can carry personal data.
        let id = req
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
    })
    .on_response(DefaultOnResponse::new().level(Level::INFO)))
    .layer(PropagateRequestIdLayer::new(REQUEST_ID))
    .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
    .layer(axum::middleware::map_request(drop_odd_request_id))
}

/// A client's `x-request-id` is kept (echoed and logged) only when it looks like an id:
/// 1-64 of `A-Z a-z 0-9 - _ . :`. Anything else is replaced by a fresh UUID, so logs and
/// responses never carry text a client chose freely.
pub fn is_plain_request_id(v: &[u8]) -> bool {
    (1..=64).contains(&v.len())
        && v.iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

async fn drop_odd_request_id<B>(mut req: Request<B>) -> Request<B> {
    let odd = req
        .headers()
        .get_all(&REQUEST_ID)
        .iter()
        .enumerate()
        .any(|(i, v)| i > 0 || !is_plain_request_id(v.as_bytes()));
    if odd {
        req.headers_mut().remove(&REQUEST_ID);
    }
    req
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.ports.store.health().await {
        Ok(()) => Json(json!({"status": "ok", "store": "ok"})).into_response(),
        Err(e) => {
            tracing::error!(error = ?e, "store health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "degraded", "store": "unavailable"})),
            )
                .into_response()
        }
    }
}
