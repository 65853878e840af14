//! The OpenAPI document matches the router: every documented operation is routed (it answers
//! 401, not 404, without credentials), and the document lists exactly the API's operations.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::collections::BTreeSet;
use tower::ServiceExt;

const EXPECTED: &[&str] = &[
    "GET /v1/settings/webhooks",
    "POST /v1/settings/webhooks",
    "GET /v1/settings/webhooks/{id}",
    "PATCH /v1/settings/webhooks/{id}",
    "DELETE /v1/settings/webhooks/{id}",
    "POST /v1/settings/webhooks/{id}/rotate-secret",
    "GET /v1/settings/webhooks/{id}/deliveries",
    "POST /v1/settings/webhooks/{id}/deliveries/{delivery_id}/replay",
    "POST /v1/settings/webhooks/{id}/replay",
    "DELETE /v1/imports/{id}",
    "DELETE /v1/leads/{id}",
    "DELETE /v1/settings/api-keys/{id}",
    "DELETE /v1/settings/capture-forms/{key}",
    "DELETE /v1/settings/custom-fields/{key}",
    "DELETE /v1/settings/import-profiles/{name}",
    "DELETE /v1/settings/sources/{id}",
    "GET /v1/exports",
    "GET /v1/exports/{id}",
    "GET /v1/imports",
    "GET /v1/imports/template",
    "GET /v1/imports/{id}",
    "GET /v1/leads",
    "GET /v1/bulk-edits",
    "GET /v1/bulk-edits/{id}",
    "GET /v1/leads/count",
    "GET /v1/me/queue",
    "GET /v1/analytics/sources",
    "GET /v1/analytics/reps",
    "GET /v1/analytics/campaigns",
    "GET /v1/analytics/funnel",
    "POST /v1/analytics/rebuild",
    "GET /v1/leads/{id}",
    "GET /v1/leads/{id}/activities",
    "GET /v1/leads/{id}/attachments",
    "GET /v1/leads/{id}/attachments/{attachment_id}",
    "GET /v1/settings/api-keys",
    "GET /v1/settings/capture-forms",
    "GET /v1/settings/capture-forms/{key}",
    "GET /v1/settings/custom-fields",
    "GET /v1/settings/import-profiles",
    "GET /v1/settings/import-profiles/{name}",
    "GET /v1/settings/pipeline-stages",
    "GET /v1/settings/reps",
    "GET /v1/settings/sources",
    "GET /v1/settings/tenant",
    "PATCH /v1/leads/{id}",
    "PATCH /v1/settings/sources/{id}",
    "PATCH /v1/settings/tenant",
    "POST /v1/exports",
    "POST /v1/imports",
    "POST /v1/imports/{id}/run",
    "POST /v1/leads",
    "POST /v1/leads/bulk",
    "POST /v1/leads/{id}/activities",
    "POST /v1/leads/{id}/assign",
    "POST /v1/leads/{id}/attachments",
    "POST /v1/settings/api-keys",
    "POST /v1/settings/sources",
    "PUT /v1/settings/capture-forms/{key}",
    "PUT /v1/settings/custom-fields/{key}",
    "PUT /v1/settings/import-profiles/{name}",
    "PUT /v1/settings/pipeline-stages",
    "PUT /v1/settings/reps/{id}",
    "GET /v1/tenants",
    "GET /v1/tenants/{id}",
    "POST /v1/tenants",
    "POST /v1/tenants/{id}/resume",
    "POST /v1/tenants/{id}/suspend",
];

#[tokio::test]
async fn when_openapi_is_served_should_list_every_routed_operation() {
    let h = common::harness().await;
    let res = h
        .app
        .clone()
        .oneshot(Request::get("/openapi.json").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(res.into_body(), 4 * 1024 * 1024)
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item
            .as_object()
            .unwrap()
            .keys()
            .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
        {
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let expected: BTreeSet<String> = EXPECTED.iter().map(|s| s.to_string()).collect();
    assert_eq!(documented, expected);
    for op in &documented {
        let (method, path) = op.split_once(' ').unwrap();
        let concrete = path
            .replace("{id}", &uuid::Uuid::now_v7().to_string())
            .replace("{key}", "k")
            .replace("{attachment_id}", "abc")
            .replace("{delivery_id}", "d");
        let req = Request::builder()
            .method(method)
            .uri(&concrete)
            .body(Body::empty())
            .unwrap();
        let res = h.app.clone().oneshot(req).await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "{op} is documented but not routed behind auth"
        );
    }
    assert!(doc["components"]["schemas"]["Lead"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

/// `/docs` shows the API from `/openapi.json` alone: served without a key, and it loads
/// nothing from anywhere else (no external script, style, font or image), which its CSP
/// also holds it to.
#[tokio::test]
async fn when_the_docs_page_is_opened_should_need_nothing_from_the_internet() {
    let h = common::harness().await;
    let res = h
        .app
        .clone()
        .oneshot(Request::get("/docs").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    let bytes = axum::body::to_bytes(res.into_body(), 1024 * 1024).await.unwrap();
    let page = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(page.contains("fetch(\"/openapi.json\")"));
    for external in ["http://", "https://", "//cdn", "src=\"", "<link"] {
        assert!(
            !page.contains(external),
            "the page refers outside itself: {external}"
        );
    }
}
