//! A test harness for the API: SQLite in memory, a temp bucket folder, two tenants with admin
//! and rep keys, and the router served on a loopback port so requests go over real HTTP.
//! `app` is the same router for in-process (`oneshot`) use by the Lambda-event tests.

#![allow(dead_code)]

use axum::Router;
use axum::http::{HeaderMap, Method, StatusCode};
use leadgate_api::{ApiState, lambda_router};
use leadgate_core::adapters::local_blob::LocalBlobStore;
use leadgate_core::adapters::sqlite::SqliteStore;
use leadgate_core::config::LocalBlobConfig;
use leadgate_core::domain::TenantId;
use leadgate_core::domain::rep::Rep;
use leadgate_core::domain::tenant::Role;
use leadgate_core::ports::clock::SystemClock;
use leadgate_core::ports::store::LeadStore;
use leadgate_core::secret::Secret;
use leadgate_core::services::api_keys::{NewKey, create_api_key};
use leadgate_core::services::{reps, tenants};
use serde_json::Value;
use std::sync::Arc;

pub struct Harness {
    pub app: Router,
    pub base: String,
    http: reqwest::Client,
    pub store: Arc<dyn LeadStore>,
    pub blobs: Arc<dyn leadgate_core::ports::blob::BlobStore>,
    pub acme_admin: String,
    pub acme_rep: String,
    pub globex_admin: String,
    _dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn problem_detail(&self) -> &str {
        self.body["detail"].as_str().unwrap_or("")
    }
}

pub async fn key(
    store: &dyn LeadStore,
    tenant: &TenantId,
    user: &str,
    role: Role,
    fixed: Option<&str>,
) -> String {
    let (_, k) = create_api_key(
        store,
        NewKey {
            tenant,
            user,
            role,
            name: "test",
        },
        fixed.map(Secret::new),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    k.expose().to_owned()
}

/// The key the `events/` fixtures that use a bearer token carry.
pub const FIXTURE_KEY: &str = "lg_fixture_admin_key_for_lambda_events_0001";

pub async fn harness() -> Harness {
    harness_on(Arc::new(SqliteStore::in_memory().unwrap())).await
}

/// A fresh table on DynamoDB Local (scripts/test starts it and sets the endpoint).
pub async fn dynamo_store() -> Arc<dyn LeadStore> {
    let endpoint = std::env::var("LEADGATE_TEST_DYNAMODB_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
        .expect("LEADGATE_TEST_DYNAMODB_ENDPOINT must be set (scripts/test does this)");
    let config = leadgate_core::config::StoreConfig::Dynamo(leadgate_core::config::DynamoConfig {
        table: format!("api-{}", uuid::Uuid::now_v7().simple()),
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
        shards: 4,
    });
    leadgate_core::adapters::build_store(&config)
        .await
        .expect("a table on DynamoDB Local")
}

/// The harness on a given store: the probes run on both.
pub async fn harness_on(store: Arc<dyn LeadStore>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let blobs: Arc<dyn leadgate_core::ports::blob::BlobStore> = Arc::new(
        LocalBlobStore::open(LocalBlobConfig {
            root: dir.path().join("bucket"),
            public_url: "http://127.0.0.1:9".into(),
            signing_key: Secret::new("test-signing-key-0123456789abcdef"),
        })
        .unwrap(),
    );
    let now = chrono::Utc::now();
    let acme = TenantId::parse("acme").unwrap();
    let globex = TenantId::parse("globex").unwrap();
    for t in [&acme, &globex] {
        tenants::ensure_tenant(&*store, t, t.as_str(), now).await.unwrap();
        reps::put_rep(
            &*store,
            t,
            Rep {
                id: leadgate_core::domain::RepId::parse("ana").unwrap(),
                name: "Ana".into(),
                weight: 1,
                active: true,
                available: true,
            },
        )
        .await
        .unwrap();
    }
    let acme_admin = key(&*store, &acme, "admin", Role::Admin, Some(FIXTURE_KEY)).await;
    let acme_rep = key(&*store, &acme, "ana", Role::Rep, None).await;
    let globex_admin = key(&*store, &globex, "admin", Role::Admin, None).await;
    let app = lambda_router(ApiState {
        store: store.clone(),
        blobs: blobs.clone(),
        clock: Arc::new(SystemClock),
        fetcher: Arc::new(leadgate_core::adapters::platform_http::PlatformClient::new()),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = app.clone();
    tokio::spawn(async move { axum::serve(listener, served).await });
    Harness {
        app,
        base,
        http: reqwest::Client::new(),
        store,
        blobs,
        acme_admin,
        acme_rep,
        globex_admin,
        _dir: dir,
    }
}

/// Every failure must be problem+json whose `status` matches the response's.
fn check_problem(status: StatusCode, headers: &HeaderMap, body: &Value) {
    if status.is_client_error() || status.is_server_error() {
        assert_eq!(
            headers.get("content-type").map(|v| v.to_str().unwrap()),
            Some("application/problem+json"),
            "every failure is problem+json ({status}: {body})"
        );
        assert_eq!(body["status"].as_u64(), Some(status.as_u16() as u64), "{body}");
    }
}

impl Harness {
    /// Sends raw bytes with a content type, over HTTP.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        key: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let mut req = self
            .http
            .request(
                reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap(),
                format!("{}{path}", self.base),
            )
            .header("content-type", content_type)
            .body(body);
        if !key.is_empty() {
            req = req.bearer_auth(key);
        }
        self.finish(req).await
    }

    async fn finish(&self, req: reqwest::RequestBuilder) -> Reply {
        let res = req.send().await.unwrap();
        let status = StatusCode::from_u16(res.status().as_u16()).unwrap();
        let mut headers = HeaderMap::new();
        for (k, v) in res.headers() {
            headers.insert(
                axum::http::HeaderName::from_bytes(k.as_str().as_bytes()).unwrap(),
                axum::http::HeaderValue::from_bytes(v.as_bytes()).unwrap(),
            );
        }
        let bytes = res.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        check_problem(status, &headers, &body);
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn call(&self, method: Method, path: &str, key: &str, body: Option<Value>) -> Reply {
        self.call_with(method, path, key, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self.http.request(
            reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap(),
            format!("{}{path}", self.base),
        );
        if !key.is_empty() {
            req = req.bearer_auth(key);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(v) = body {
            req = req.header("content-type", "application/json").body(v.to_string());
        }
        self.finish(req).await
    }
}
