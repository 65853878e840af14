//! The conversion routes over real HTTP (served with the API, as in the gateway) and through
//! the convert Lambda's router with the `events/` fixtures.

use leadgate_api::{ApiState, compose};
use leadgate_core::adapters::local_blob::LocalBlobStore;
use leadgate_core::adapters::sqlite::SqliteStore;
use leadgate_core::config::LocalBlobConfig;
use leadgate_core::domain::rep::Rep;
use leadgate_core::domain::tenant::Role;
use leadgate_core::domain::{RepId, TenantId};
use leadgate_core::ports::clock::SystemClock;
use leadgate_core::ports::store::LeadStore;
use leadgate_core::secret::Secret;
use leadgate_core::services::api_keys::{NewKey, create_api_key};
use leadgate_core::services::{reps, tenants};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

struct Env {
    state: ApiState,
    base: String,
    http: reqwest::Client,
    acme: String,
    globex: String,
    _dir: tempfile::TempDir,
}

async fn env() -> Env {
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
    let mut keys = vec![];
    for t in ["acme", "globex"] {
        let id = TenantId::parse(t).unwrap();
        tenants::ensure_tenant(&*store, &id, t, chrono::Utc::now())
            .await
            .unwrap();
        reps::put_rep(
            &*store,
            &id,
            Rep {
                id: RepId::parse("ana").unwrap(),
                name: "Ana".into(),
                weight: 1,
                active: true,
                available: true,
            },
        )
        .await
        .unwrap();
        let fixed = (t == "acme").then(|| Secret::new("lg_fixture_admin_key_for_lambda_events_0001"));
        let (_, k) = create_api_key(
            &*store,
            NewKey {
                tenant: &id,
                user: "admin",
                role: Role::Admin,
                name: "t",
            },
            fixed,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
        keys.push(k.expose().to_owned());
    }
    let state = ApiState {
        store,
        blobs,
        clock: Arc::new(SystemClock),
        fetcher: Arc::new(leadgate_core::adapters::platform_http::PlatformClient::new()),
    };
    let app = compose(state.clone(), vec![leadgate_api::api(), leadgate_convert::api()]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Env {
        state,
        base,
        http: reqwest::Client::new(),
        acme: keys[0].clone(),
        globex: keys[1].clone(),
        _dir: dir,
    }
}

impl Env {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        if status >= 400 {
            assert_eq!(res.headers()["content-type"], "application/problem+json");
        }
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// A lead moved to qualified through the API.
    async fn qualified_lead(&self, name: &str) -> String {
        self.qualified_lead_with_id(name, None).await
    }

    /// A qualified lead, under the id given (as the `events/` fixtures name theirs).
    async fn qualified_lead_with_id(&self, name: &str, id: Option<&str>) -> String {
        use reqwest::Method;
        let mut body =
            json!({"name": name, "email": format!("{}@x.com", name.to_lowercase()), "source": "referral"});
        if let Some(id) = id {
            body["id"] = json!(id);
        }
        let (_, lead) = self.call(Method::POST, "/v1/leads", &self.acme, Some(body)).await;
        let id = lead["id"].as_str().unwrap().to_owned();
        let (status, q) = self
            .call(
                Method::PATCH,
                &format!("/v1/leads/{id}"),
                &self.acme,
                Some(json!({"status": "qualified", "version": lead["version"]})),
            )
            .await;
        assert_eq!(status, 200, "{q}");
        id
    }
}

#[tokio::test]
async fn when_converting_over_http_should_create_then_replay_and_refuse_the_unready() {
    use reqwest::Method;
    let e = env().await;
    let id = e.qualified_lead("Jane").await;
    let body = json!({"deal": {"value": {"amount": 24000, "currency": "usd"}, "stage": "proposal"}});
    let (status, first) = e
        .call(
            Method::POST,
            &format!("/v1/leads/{id}/convert"),
            &e.acme,
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(
        first["deal"]["value"],
        json!({"amount": "24000.00", "currency": "USD"})
    );
    let (status, again) = e
        .call(
            Method::POST,
            &format!("/v1/leads/{id}/convert"),
            &e.acme,
            Some(body),
        )
        .await;
    assert_eq!((status, &again), (200, &first));
    let deal_id = first["deal"]["id"].as_str().unwrap();
    let prospect_id = first["prospect"]["id"].as_str().unwrap();
    assert_eq!(
        e.call(Method::GET, &format!("/v1/deals/{deal_id}"), &e.acme, None)
            .await
            .1["stage"],
        "proposal"
    );
    assert_eq!(
        e.call(
            Method::GET,
            &format!("/v1/prospects/{prospect_id}"),
            &e.acme,
            None
        )
        .await
        .1["name"],
        "Jane"
    );
    let (_, deals) = e
        .call(Method::GET, "/v1/deals?owner=ana&stage=proposal", &e.acme, None)
        .await;
    assert_eq!(deals["items"].as_array().unwrap().len(), 1);
    let (_, prospects) = e
        .call(Method::GET, "/v1/prospects?owner=ana", &e.acme, None)
        .await;
    assert_eq!(prospects["items"].as_array().unwrap().len(), 1);
    let (_, lead) = e
        .call(Method::GET, &format!("/v1/leads/{id}"), &e.acme, None)
        .await;
    assert_eq!(
        (lead["status"].as_str(), lead["conversion"]["deal_id"].as_str()),
        (Some("converted"), Some(deal_id))
    );

    // Preconditions: a new lead is a 409 naming its status; changing a converted lead's status is refused.
    let (_, fresh) = e
        .call(
            Method::POST,
            "/v1/leads",
            &e.acme,
            Some(json!({"name": "Early", "email": "early@x.com", "source": "referral"})),
        )
        .await;
    let (status, p) = e
        .call(
            Method::POST,
            &format!("/v1/leads/{}/convert", fresh["id"].as_str().unwrap()),
            &e.acme,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 409);
    assert!(p["detail"].as_str().unwrap().contains("this lead is new"));
    let (status, p) = e
        .call(
            Method::PATCH,
            &format!("/v1/leads/{id}"),
            &e.acme,
            Some(json!({"status": "qualified", "version": lead["version"]})),
        )
        .await;
    assert_eq!(status, 409, "{p}");
    let (status, p) = e
        .call(
            Method::POST,
            &format!("/v1/leads/{}/convert", e.qualified_lead("Bob").await),
            &e.acme,
            Some(json!({"deal": {"stage": "nope"}})),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(p["errors"][0]["field"], "deal.stage");

    // The deal is worked over HTTP: a change needs its version (428 without), a stale one
    // is a 409, and the answer carries the next version as its ETag.
    let path = format!("/v1/deals/{deal_id}");
    let (status, _) = e
        .call(Method::PATCH, &path, &e.acme, Some(json!({"stage": "won"})))
        .await;
    assert_eq!(status, 428);
    let (status, deal) = e
        .call(
            Method::PATCH,
            &path,
            &e.acme,
            Some(json!({"stage": "won", "version": 1})),
        )
        .await;
    assert_eq!(
        (status, deal["stage"].as_str(), deal["version"].as_u64()),
        (200, Some("won"), Some(2)),
        "{deal}"
    );
    let (status, _) = e
        .call(
            Method::PATCH,
            &path,
            &e.acme,
            Some(json!({"name": "Late", "version": 1})),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = e
        .call(
            Method::PATCH,
            &path,
            &e.globex,
            Some(json!({"name": "Theirs", "version": 2})),
        )
        .await;
    assert_eq!(status, 404, "another tenant's deal is not found");

    // Another tenant sees none of it.
    for path in [
        format!("/v1/deals/{deal_id}"),
        format!("/v1/prospects/{prospect_id}"),
    ] {
        assert_eq!(e.call(Method::GET, &path, &e.globex, None).await.0, 404);
    }
    assert_eq!(
        e.call(
            Method::POST,
            &format!("/v1/leads/{id}/convert"),
            &e.globex,
            Some(json!({}))
        )
        .await
        .0,
        404
    );
    assert!(
        e.call(Method::GET, "/v1/deals", &e.globex, None).await.1["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // Bulk over HTTP. An id that is not an id refuses the whole request, naming it.
    let ready = e.qualified_lead("Carol").await;
    let (status, refused) = e
        .call(
            Method::POST,
            "/v1/leads/convert",
            &e.acme,
            Some(json!({"lead_ids": [ready, id, "junk"], "no_deal": true})),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["errors"][0]["field"], "lead_ids[2]");
    let unknown = uuid::Uuid::now_v7().to_string();
    let (status, bulk) = e
        .call(
            Method::POST,
            "/v1/leads/convert",
            &e.acme,
            Some(json!({"lead_ids": [ready, id, unknown], "no_deal": true})),
        )
        .await;
    assert_eq!(status, 200, "{bulk}");
    let outcomes: Vec<&str> = bulk["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["converted", "already_converted", "skipped"]);
    let (status, _) = e
        .call(
            Method::POST,
            "/v1/leads/convert",
            &e.acme,
            Some(json!({"lead_ids": []})),
        )
        .await;
    assert_eq!(status, 422);
}

fn fixture(name: &str) -> lambda_http::Request {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    lambda_http::request::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[tokio::test]
async fn when_conversion_events_reach_the_convert_lambda_should_convert() {
    let e = env().await;
    // The leads the fixtures name, by their ids.
    e.qualified_lead_with_id("Dana", Some("0193a5b0-7c4e-7d2a-8f3b-5c6d7e8f9a01"))
        .await;
    e.qualified_lead_with_id("Eve", Some("0193a5b0-7c4e-7d2a-8f3b-5c6d7e8f9a02"))
        .await;
    // The fixtures carry a rep's JWT (sub "ana"); the leads are hers by round robin.
    let app = leadgate_convert::lambda_router(e.state.clone());
    let res = app
        .clone()
        .oneshot(fixture("convert-lead-jwt.json"))
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value =
        serde_json::from_slice(&axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap()).unwrap();
    assert_eq!(body["deal"]["name"], "Initech pilot");
    let res = app
        .clone()
        .oneshot(fixture("convert-bulk-jwt.json"))
        .await
        .unwrap();
    let body: Value =
        serde_json::from_slice(&axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap()).unwrap();
    let outcomes: Vec<&str> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["already_converted", "converted"]);
    // The convert Lambda serves only its own routes, with the problem+json 404 elsewhere.
    let res = app.oneshot(fixture("api-list-leads-jwt.json")).await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn when_the_gateway_documents_its_api_should_include_conversion() {
    let e = env().await;
    let doc: Value = e
        .http
        .get(format!("{}/openapi.json", e.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/v1/leads/{id}/convert",
        "/v1/leads/convert",
        "/v1/prospects",
        "/v1/prospects/{id}",
        "/v1/deals",
        "/v1/deals/{id}",
        "/v1/leads",
    ] {
        assert!(paths.contains_key(p), "{p} missing from the document");
    }
}
