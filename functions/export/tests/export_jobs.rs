//! Export jobs over HTTP (create, status, the presigned download served by the local bucket),
//! validation errors as problem+json, rep scoping of jobs, and the S3 ObjectCreated event
//! fixture through the Lambda handler.

use aws_lambda_events::event::s3::S3Event;
use leadgate_api::ApiState;
use leadgate_core::adapters::local_blob::LocalBlobStore;
use leadgate_core::adapters::platform_http::PlatformClient;
use leadgate_core::adapters::sqlite::SqliteStore;
use leadgate_core::config::LocalBlobConfig;
use leadgate_core::domain::TenantId;
use leadgate_core::domain::tenant::Role;
use leadgate_core::ports::blob::BlobStore;
use leadgate_core::ports::clock::SystemClock;
use leadgate_core::ports::store::LeadStore;
use leadgate_core::secret::Secret;
use leadgate_core::services::api_keys::{NewKey, create_api_key};
use leadgate_core::services::exports::ExportRun;
use leadgate_core::services::tenants;
use leadgate_export::{ExportDeps, handle_s3_event, scan_once};
use serde_json::{Value, json};
use std::sync::Arc;

struct Env {
    base: String,
    http: reqwest::Client,
    admin: String,
    rep: String,
    deps: ExportDeps,
    _dir: tempfile::TempDir,
}

async fn key(store: &dyn LeadStore, tenant: &TenantId, user: &str, role: Role) -> String {
    let (_, key) = create_api_key(
        store,
        NewKey {
            tenant,
            user,
            role,
            name: "t",
        },
        None,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    key.expose().to_owned()
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let store: Arc<dyn LeadStore> = Arc::new(SqliteStore::in_memory().unwrap());
    let local = Arc::new(
        LocalBlobStore::open(LocalBlobConfig {
            root: dir.path().join("bucket"),
            public_url: base.clone(),
            signing_key: Secret::new("test-signing-key-0123456789abcdef"),
        })
        .unwrap(),
    );
    let blobs: Arc<dyn BlobStore> = local.clone();
    let id = TenantId::parse("acme").unwrap();
    tenants::ensure_tenant(&*store, &id, "Acme", chrono::Utc::now())
        .await
        .unwrap();
    let admin = key(&*store, &id, "admin", Role::Admin).await;
    let rep = key(&*store, &id, "ana", Role::Rep).await;
    let state = ApiState {
        store: store.clone(),
        blobs: blobs.clone(),
        clock: Arc::new(SystemClock),
        fetcher: Arc::new(PlatformClient::new()),
    };
    let app = leadgate_api::router(state).merge(local.router());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Env {
        base,
        http: reqwest::Client::new(),
        admin,
        rep,
        deps: ExportDeps {
            store,
            blobs,
            clock: Arc::new(SystemClock),
            scratch: dir.path().join("tmp"),
        },
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
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn lead(&self, name: &str, email: &str, status: Option<&str>) {
        let (code, body) = self
            .call(
                reqwest::Method::POST,
                "/v1/leads",
                &self.admin,
                Some(json!({"name": name, "email": email, "source": "Referral", "tags": ["fair"]})),
            )
            .await;
        assert_eq!(code, 201, "{body}");
        if let Some(s) = status {
            let id = body["id"].as_str().unwrap();
            let res = self
                .http
                .patch(format!("{}/v1/leads/{id}", self.base))
                .bearer_auth(&self.admin)
                .header("if-match", "\"1\"")
                .json(&json!({"status": s}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), 200);
        }
    }
}

#[tokio::test]
async fn when_an_export_is_requested_over_http_should_run_and_offer_a_download() {
    use reqwest::Method;
    let e = env().await;
    e.lead("=Evil Eve", "eve@x.example", Some("contacted")).await;
    e.lead("Calm Carl", "carl@x.example", None).await;
    let (code, job) = e
        .call(
            Method::POST,
            "/v1/exports",
            &e.admin,
            Some(json!({"format": "csv", "filters": {"status": "contacted"}, "columns": ["Name", "Email", "Lead Status"]})),
        )
        .await;
    assert_eq!(code, 202, "{job}");
    assert_eq!(job["status"], "pending");
    let id = job["id"].as_str().unwrap().to_owned();
    let (_, pending) = e
        .call(Method::GET, &format!("/v1/exports/{id}"), &e.admin, None)
        .await;
    assert!(pending.get("download_url").is_none());

    assert_eq!(scan_once(&e.deps).await.unwrap(), 1);
    assert_eq!(
        scan_once(&e.deps).await.unwrap(),
        0,
        "a written export is not written again"
    );
    let (code, done) = e
        .call(Method::GET, &format!("/v1/exports/{id}"), &e.admin, None)
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        (done["status"].as_str(), done["rows"].as_u64()),
        (Some("completed"), Some(1)),
        "{done}"
    );
    let file = e
        .http
        .get(done["download_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        file,
        "\u{feff}Name,Email,Lead Status\n'=Evil Eve,eve@x.example,contacted\n"
    );

    // Reps see their own jobs only; an admin sees all.
    let (_, mine) = e.call(Method::GET, "/v1/exports", &e.rep, None).await;
    assert_eq!(mine.as_array().unwrap().len(), 0);
    let (code, _) = e
        .call(Method::GET, &format!("/v1/exports/{id}"), &e.rep, None)
        .await;
    assert_eq!(code, 404);
    let (_, all) = e.call(Method::GET, "/v1/exports", &e.admin, None).await;
    assert_eq!(all.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn when_an_export_request_is_invalid_should_answer_problem_json_naming_the_field() {
    use reqwest::Method;
    let e = env().await;
    for (body, field, says) in [
        (json!({"format": "pdf"}), None, "format"),
        (
            json!({"format": "csv", "filters": {"limit": "10"}}),
            Some("filters.limit"),
            "do not apply",
        ),
        (
            json!({"format": "csv", "filters": {"owner": "not a rep!"}}),
            Some("filters.owner"),
            "",
        ),
        (
            json!({"format": "xlsx", "columns": ["Email", "Favourite Colour"]}),
            Some("columns"),
            "valid columns",
        ),
    ] {
        let (code, problem) = e
            .call(Method::POST, "/v1/exports", &e.admin, Some(body.clone()))
            .await;
        assert!(code == 422 || code == 400, "{body}: {code} {problem}");
        let text = problem.to_string();
        assert!(text.contains(says), "{body}: {problem}");
        if let Some(f) = field {
            assert!(text.contains(f), "{body}: {problem}");
        }
    }
}

#[tokio::test]
async fn when_s3_reports_an_export_request_should_write_it_once() {
    use reqwest::Method;
    let e = env().await;
    e.lead("Sam S3", "sam@s3.example", None).await;
    let (_, job) = e
        .call(
            Method::POST,
            "/v1/exports",
            &e.admin,
            Some(json!({"format": "xlsx"})),
        )
        .await;
    let id = job["id"].as_str().unwrap();
    let path = format!(
        "{}/../../events/s3-export-request.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut event: S3Event = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let record = &mut event.records[0];
    assert!(
        record
            .event_name
            .as_deref()
            .unwrap()
            .starts_with("ObjectCreated:")
    );
    assert!(
        record
            .s3
            .object
            .key
            .as_deref()
            .unwrap()
            .starts_with("exports/requests/")
    );
    record.s3.object.key = Some(format!("exports/requests/acme/{id}.json"));
    let first = handle_s3_event(&e.deps, event.clone(), None).await.unwrap();
    assert!(
        matches!(first.as_slice(), [ExportRun::Done(j)] if j.rows == Some(1) && j.key.ends_with(".xlsx")),
        "{first:?}"
    );
    let again = handle_s3_event(&e.deps, event, None).await.unwrap();
    assert_eq!(again, vec![ExportRun::AlreadyHandled]);
}

/// A suspended tenant's export waits: the scan leaves its request and spends no attempt, and
/// runs it once the tenant is resumed.
#[tokio::test]
async fn when_the_tenant_is_suspended_should_leave_the_export_waiting() {
    use reqwest::Method;
    let e = env().await;
    e.lead("Sue Spend", "sue@x.example", None).await;
    let (code, job) = e
        .call(
            Method::POST,
            "/v1/exports",
            &e.admin,
            Some(json!({"format": "csv"})),
        )
        .await;
    assert_eq!(code, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let tenant = leadgate_core::domain::TenantId::parse("acme").unwrap();
    tenants::set_suspended(&*e.deps.store, &tenant, Some(chrono::Utc::now()))
        .await
        .unwrap();
    for _ in 0..4 {
        assert_eq!(scan_once(&e.deps).await.unwrap(), 0);
    }
    tenants::set_suspended(&*e.deps.store, &tenant, None)
        .await
        .unwrap();
    let (_, waiting) = e
        .call(Method::GET, &format!("/v1/exports/{id}"), &e.admin, None)
        .await;
    assert_eq!(
        (waiting["status"].as_str(), waiting["attempts"].as_u64()),
        (Some("pending"), Some(0)),
        "{waiting}"
    );
    assert_eq!(scan_once(&e.deps).await.unwrap(), 1);
    let (_, done) = e
        .call(Method::GET, &format!("/v1/exports/{id}"), &e.admin, None)
        .await;
    assert_eq!(
        (done["status"].as_str(), done["rows"].as_u64()),
        (Some("completed"), Some(1)),
        "{done}"
    );
}

/// A bulk edit past 1,000 leads is a job; the S3 event on its request runs it through the
/// Lambda handler, once.
#[tokio::test]
async fn when_s3_reports_a_bulk_edit_request_should_edit_every_lead_once() {
    use reqwest::Method;
    let e = env().await;
    for i in 0..1001 {
        e.lead(&format!("Bulk {i}"), &format!("bulk{i}@s3.example"), None)
            .await;
    }
    let (code, job) = e
        .call(
            Method::POST,
            "/v1/leads/bulk",
            &e.admin,
            Some(json!({"filter": {"tag": "fair"}, "action": {"type": "set_status", "status": "contacted"}})),
        )
        .await;
    assert_eq!(code, 202, "{job}");
    let id = job["id"].as_str().unwrap();
    let path = format!(
        "{}/../../events/s3-bulk-edit-request.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut event: S3Event = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let key = event.records[0].s3.object.key.clone().unwrap();
    assert!(key.starts_with("bulk-edits/requests/acme/"), "{key}");
    event.records[0].s3.object.key = Some(format!("bulk-edits/requests/acme/{id}.json"));
    // An invocation at its deadline pauses after one page and drops the request again.
    let at_deadline = Some(std::time::Instant::now());
    handle_s3_event(&e.deps, event.clone(), at_deadline)
        .await
        .unwrap();
    let (_, paused) = e
        .call(Method::GET, &format!("/v1/bulk-edits/{id}"), &e.admin, None)
        .await;
    assert_eq!(
        (&paused["status"], &paused["processed"]),
        (&json!("pending"), &json!(200)),
        "{paused}"
    );
    let request =
        leadgate_core::services::bulk_jobs::request_key(&TenantId::parse("acme").unwrap(), id).unwrap();
    assert!(
        e.deps.blobs.head(&request).await.unwrap().is_some(),
        "the request is there again"
    );
    handle_s3_event(&e.deps, event.clone(), None).await.unwrap();
    let (_, done) = e
        .call(Method::GET, &format!("/v1/bulk-edits/{id}"), &e.admin, None)
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        (&done["processed"], &done["changed"]),
        (&json!(1001), &json!(1001))
    );
    assert_eq!(
        done["attempts"], 2,
        "a paused job goes on in a second run: {done}"
    );
    let (_, count) = e
        .call(Method::GET, "/v1/leads/count?status=contacted", &e.admin, None)
        .await;
    assert_eq!(count["count"], 1001);
    // The event again: the job is done, nothing runs twice.
    handle_s3_event(&e.deps, event, None).await.unwrap();
    let (_, again) = e
        .call(Method::GET, &format!("/v1/bulk-edits/{id}"), &e.admin, None)
        .await;
    assert_eq!(again["changed"], 1001);
    // A rep sees only their own jobs.
    let (code, _) = e
        .call(Method::GET, &format!("/v1/bulk-edits/{id}"), &e.rep, None)
        .await;
    assert_eq!(code, 404);
}
