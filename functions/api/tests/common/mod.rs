//! A test harness for the API router: SQLite in memory, a temp bucket folder, two tenants
//! with admin and rep keys, and a helper that sends JSON requests through `oneshot`.

#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
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
use tower::ServiceExt;

pub struct Harness {
    pub app: Router,
    pub store: Arc<dyn LeadStore>,
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
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn LeadStore> = Arc::new(SqliteStore::in_memory().unwrap());
    let blobs = Arc::new(
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
        blobs,
        clock: Arc::new(SystemClock),
    });
    Harness {
        app,
        store,
        acme_admin,
        acme_rep,
        globex_admin,
        _dir: dir,
    }
}

impl Harness {
    pub async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), 16 * 1024 * 1024)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if status.is_client_error() || status.is_server_error() {
            assert_eq!(
                headers.get("content-type").map(|v| v.to_str().unwrap()),
                Some("application/problem+json"),
                "every failure is problem+json ({status}: {body})"
            );
            assert_eq!(body["status"].as_u64(), Some(status.as_u16() as u64), "{body}");
        }
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
        let mut b = Request::builder().method(method).uri(path);
        if !key.is_empty() {
            b = b.header("authorization", format!("Bearer {key}"));
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(v.to_string()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        self.send(req).await
    }
}
