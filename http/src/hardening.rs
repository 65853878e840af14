//! What every response of every router gets, whoever produced it: errors as problem+json
//! (axum's own rejections, such as a bad query string, a `%ff` in a path, a 405 or a body over
//! a route's limit, answer text/plain or nothing), `X-Content-Type-Options: nosniff`, and
//! `Cache-Control: no-store` (leads and keys must not sit in shared caches).

use crate::error::{PROBLEM_JSON, Problem};
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_http::set_header::SetResponseHeaderLayer;

/// The largest plain-text error body kept as the problem's detail.
const MAX_DETAIL: usize = 4 * 1024;

/// Wraps a router so that every response is hardened as this module says.
pub fn hardened(router: Router) -> Router {
    router
        .layer(axum::middleware::map_response(ensure_problem))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

fn is_problem(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(PROBLEM_JSON))
}

/// Rewrites an error response that is not problem+json into one, keeping its status and
/// headers (Allow on a 405, Retry-After) and its text as the detail.
pub async fn ensure_problem(res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || is_problem(&res) {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let text = match axum::body::to_bytes(body, MAX_DETAIL).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_owned(),
        Err(_) => String::new(),
    };
    let reason = status.canonical_reason().unwrap_or("Error");
    let detail = if text.is_empty() || status.is_server_error() {
        // A 5xx body from a layer is not ours to show; its cause is logged where it happened.
        reason.to_owned()
    } else {
        text
    };
    // The layer's own headers (Allow on a 405, Retry-After) stay; the body and its type are
    // the problem's.
    let body = axum::Json(Problem::new(status, slug(status), detail))
        .into_response()
        .into_body();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    Response::from_parts(parts, body)
}

/// The problem type of a status that did not come from `ApiError`.
fn slug(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad-request",
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        StatusCode::UNPROCESSABLE_ENTITY => "validation",
        StatusCode::REQUEST_TIMEOUT => "request-timeout",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn when_a_layer_answers_text_should_become_problem_json() {
        let app = hardened(
            Router::new()
                .route("/t", get(|| async { (StatusCode::BAD_REQUEST, "bad query") }))
                .route("/ok", get(|| async { "fine" })),
        );
        let res = app
            .clone()
            .oneshot(axum::http::Request::get("/t").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(res.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let body = axum::body::to_bytes(res.into_body(), 10_000).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["detail"], "bad query");
        assert_eq!(v["status"], 400);
        let res = app
            .clone()
            .oneshot(axum::http::Request::post("/ok").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/problem+json");
        assert!(res.headers().contains_key(header::ALLOW), "keeps Allow");
        let res = app
            .oneshot(axum::http::Request::get("/ok").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.headers()[header::CONTENT_TYPE], "text/plain; charset=utf-8");
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
    }
}
