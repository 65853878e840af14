//! The `events/` API Gateway HTTP API v2 fixtures, each parsed by `lambda_http` exactly as the
//! Lambda runtime would, and sent through the router the Lambda function serves.

use crate::common;

use axum::http::StatusCode;
use common::harness;
use serde_json::Value;

/// The lead the fixtures name: `api-create-lead-jwt.json` creates it under this id.
const FIXTURE_LEAD: &str = "0193a5b0-7c4e-7d2a-8f3b-5c6d7e8f9a01";

fn fixture(name: &str) -> lambda_http::Request {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    lambda_http::request::from_str(&text)
        .unwrap_or_else(|e| panic!("{name} is not an API Gateway event: {e}"))
}

async fn run(h: &common::Harness, name: &str) -> (StatusCode, Value) {
    use tower::ServiceExt;
    let res = h.app.clone().oneshot(fixture(name)).await.unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 4 * 1024 * 1024)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn when_events_arrive_through_api_gateway_should_serve_each_route_family() {
    let h = harness().await;
    // Leads: a rep (JWT claims, no API key) creates; admins list; a bearer key reads.
    let (status, lead) = run(&h, "api-create-lead-jwt.json").await;
    assert_eq!(status, StatusCode::CREATED, "{lead}");
    assert_eq!(lead["tenant"], "acme");
    assert_eq!(lead["email"], "jane.doe@example.com");
    let id = lead["id"].as_str().unwrap().to_owned();
    assert_eq!(id, FIXTURE_LEAD, "the fixture names its lead's id");
    let (status, page) = run(&h, "api-list-leads-jwt.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"][0]["id"], id.as_str());
    let (status, got) = run(&h, "api-get-lead-bearer.json").await;
    assert_eq!((status, got["id"].as_str()), (StatusCode::OK, Some(id.as_str())));
    assert_eq!(
        got["version"], 1,
        "the patch fixture's If-Match is a new lead's version"
    );
    let (status, patched) = run(&h, "api-patch-lead-jwt.json").await;
    assert_eq!(
        (status, patched["status"].as_str()),
        (StatusCode::OK, Some("qualified")),
        "{patched}"
    );
    // Activities and attachments.
    let (status, note) = run(&h, "api-add-note-jwt.json").await;
    assert_eq!(
        (status, note["actor"]["id"].as_str()),
        (StatusCode::CREATED, Some("ana"))
    );
    let (status, up) = run(&h, "api-attachment-jwt.json").await;
    assert_eq!(status, StatusCode::CREATED, "{up}");
    // Settings: read with a key; a rep's JWT may not create keys.
    let (status, sources) = run(&h, "api-sources-bearer.json").await;
    assert_eq!(
        (status, sources.as_array().map(Vec::len)),
        (StatusCode::OK, Some(7))
    );
    let (status, denied) = run(&h, "api-create-key-rep-jwt.json").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{denied}");
    // No JWT and no key; and the public OpenAPI document.
    assert_eq!(run(&h, "api-no-auth.json").await.0, StatusCode::UNAUTHORIZED);
    let (status, doc) = run(&h, "api-openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
}

/// Behind API Gateway the operator is a JWT in the `platform-operator` group: it creates a
/// tenant, whose own tokens then work; a tenant admin's token is refused on the route.
#[tokio::test]
async fn when_an_operator_token_arrives_through_api_gateway_should_create_a_tenant() {
    let h = harness().await;
    // The same token in the tenant admins' group instead.
    let path = format!(
        "{}/../../events/api-create-tenant-operator-jwt.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let as_admin = std::fs::read_to_string(path)
        .unwrap()
        .replace("[platform-operator]", "[admin]");
    let req = lambda_http::request::from_str(&as_admin).unwrap();
    let res = tower::ServiceExt::oneshot(h.app.clone(), req).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A tenant claim naming the platform's own partition reaches no tenant route.
    let path = format!(
        "{}/../../events/api-list-leads-jwt.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let as_platform = std::fs::read_to_string(path)
        .unwrap()
        .replace("\"custom:tenant\": \"acme\"", "\"custom:tenant\": \"platform\"");
    assert!(as_platform.contains("\"platform\""));
    let req = lambda_http::request::from_str(&as_platform).unwrap();
    let res = tower::ServiceExt::oneshot(h.app.clone(), req).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let (status, body) = run(&h, "api-create-tenant-operator-jwt.json").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["tenant"]["id"], "initech");
    assert!(body["admin_key"]["key"].as_str().unwrap().starts_with("lg_"));
    let created = leadgate_core::services::tenants::get_tenant(
        &*h.store,
        &leadgate_core::domain::TenantId::parse("initech").unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(created.map(|t| t.name), Some("Initech".to_owned()));
}

/// Every fixture is invoked as it is, as the README shows (`cargo lambda invoke --data-file`):
/// nothing to fill in first.
#[test]
fn when_a_fixture_is_read_should_need_nothing_filled_in() {
    let dir = format!("{}/../../events", env!("CARGO_MANIFEST_DIR"));
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("{{"), "{} has a placeholder", path.display());
        seen += 1;
    }
    assert!(seen >= 18, "{seen} fixtures");
}
