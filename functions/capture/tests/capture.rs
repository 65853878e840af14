//! The capture gateway over real HTTP: forms (JSON, urlencoded with redirect, multipart,
//! honeypot, origins, signatures, size, rate limit, resubmission) and Meta, Google and LinkedIn
//! deliveries shaped as those platforms document them, against a fake Graph / LinkedIn API.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use leadgate_api::{ApiState, compose};
use leadgate_capture::signature::hmac_hex;
use leadgate_capture::{CaptureState, webhooks};
use leadgate_core::adapters::local_blob::LocalBlobStore;
use leadgate_core::adapters::platform_http::PlatformClient;
use leadgate_core::adapters::sqlite::SqliteStore;
use leadgate_core::config::LocalBlobConfig;
use leadgate_core::domain::capture::{Channel, GoogleConfig, LinkedinConfig, MetaConfig};
use leadgate_core::domain::settings::CaptureForm;
use leadgate_core::domain::tenant::Role;
use leadgate_core::domain::{SourceId, Tenant, TenantId};
use leadgate_core::ports::clock::SystemClock;
use leadgate_core::ports::store::LeadStore;
use leadgate_core::secret::Secret;
use leadgate_core::services::api_keys::{NewKey, create_api_key};
use leadgate_core::services::capture::put_channel;
use leadgate_core::services::{settings, tenants};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const APP_SECRET: &str = "meta-app-secret-0123456789";
const LI_SECRET: &str = "linkedin-client-secret-0123";
const GOOGLE_KEY: &str = "google-shared-key-0123456789";
const FORM_SECRET: &str = "form-signing-secret-0123456789abcdef";

#[derive(Default)]
struct Platform {
    fail: AtomicBool,
    hits: AtomicUsize,
}

async fn graph_lead(
    State(p): State<Arc<Platform>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    p.hits.fetch_add(1, Ordering::SeqCst);
    if p.fail.load(Ordering::SeqCst) {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    if q.get("access_token").map(String::as_str) != Some("page-access-token") {
        return (axum::http::StatusCode::UNAUTHORIZED, "bad token").into_response();
    }
    // The Graph lead as Meta documents it; the campaign and ad set only when asked for.
    let asked = q.get("fields").map(String::as_str).unwrap_or("");
    let asked_for = |f: &str| asked.split(',').any(|a| a == f);
    let mut lead = json!({
        "created_time": "2026-11-23T09:15:02+0000",
        "id": id,
        "ad_id": "238471923",
        "form_id": "887766",
        "field_data": [
            {"name": "full_name", "values": ["Joe Example"]},
            {"name": "email", "values": [format!("joe.{id}@example.com")]},
            {"name": "phone_number", "values": [format!("+1415555{}", &id[id.len().saturating_sub(4)..])]},
            {"name": "company_name", "values": ["Example Inc"]},
            {"name": "job_title", "values": ["Head of Sales"]},
            {"name": "how_soon", "values": ["this_quarter"]}
        ]
    });
    if asked_for("campaign_id") {
        lead["campaign_id"] = json!("23851234567890123");
    }
    if asked_for("adset_id") {
        lead["adset_id"] = json!("23851234567890456");
    }
    Json(lead).into_response()
}

async fn li_response(State(p): State<Arc<Platform>>, Path(id): Path<String>) -> axum::response::Response {
    use axum::response::IntoResponse;
    p.hits.fetch_add(1, Ordering::SeqCst);
    if p.fail.load(Ordering::SeqCst) {
        return (axum::http::StatusCode::BAD_GATEWAY, "down").into_response();
    }
    assert!(
        !id.starts_with("urn:"),
        "the REST id is the part after the URN prefix"
    );
    let tail: String = id.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    Json(json!({
        "owner": {"sponsoredAccount": "urn:li:sponsoredAccount:507404993"},
        "submitter": "urn:li:person:abc123",
        "versionedLeadGenFormUrn": "urn:li:versionedLeadGenForm:(urn:li:leadGenForm:555,1)",
        "id": id,
        "submittedAt": 1795425302000u64,
        "testLead": false,
        "leadType": "SPONSORED",
        "leadMetadata": {"sponsoredLeadMetadata": {"campaign": "urn:li:sponsoredCampaign:612345678"}},
        "associatedEntity": {"associatedCreative": "urn:li:sponsoredCreative:998877"},
        "formResponse": {"answers": [
            {"answerDetails": {"textQuestionAnswer": {"answer": "Lina"}}, "questionId": 1},
            {"answerDetails": {"textQuestionAnswer": {"answer": "Park"}}, "questionId": 2},
            {"answerDetails": {"textQuestionAnswer": {"answer": format!("lina.{tail}@example.com")}}, "questionId": 3},
            {"answerDetails": {"textQuestionAnswer": {"answer": "Globex"}}, "questionId": 4}
        ]}
    }))
    .into_response()
}

async fn li_form(Path(id): Path<String>) -> Json<Value> {
    Json(json!({"id": id, "content": {"questions": [
        {"questionId": 1, "name": "firstName", "predefinedField": "FIRST_NAME"},
        {"questionId": 2, "name": "lastName", "predefinedField": "LAST_NAME"},
        {"questionId": 3, "name": "email", "predefinedField": "EMAIL"},
        {"questionId": 4, "name": "company", "predefinedField": "COMPANY_NAME"}
    ]}}))
}

struct Env {
    base: String,
    http: reqwest::Client,
    admin: String,
    platform: Arc<Platform>,
    store: Arc<dyn LeadStore>,
    tenant: Tenant,
    _dir: tempfile::TempDir,
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

fn form(key: &str) -> CaptureForm {
    CaptureForm {
        key: key.into(),
        name: key.into(),
        source: SourceId::parse("website-form").unwrap(),
        allowed_origins: vec!["https://www.acme.test".into()],
        thank_you_url: Some("https://www.acme.test/thanks".into()),
        honeypot_field: Some("website_url".into()),
        mapping: Default::default(),
        on_resubmission: Default::default(),
        rate_limit_per_minute: 1000,
        signing_secret: None,
    }
}

async fn env() -> Env {
    let platform = Arc::new(Platform::default());
    let fake = Router::new()
        .route("/graph/{id}", get(graph_lead))
        .route("/li/leadFormResponses/{urn}", get(li_response))
        .route("/li/leadForms/{id}", get(li_form))
        .with_state(platform.clone());
    let fake_base = serve(fake).await;

    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn LeadStore> = Arc::new(SqliteStore::in_memory().unwrap());
    let id = TenantId::parse("acme").unwrap();
    let (tenant, _) = tenants::ensure_tenant(&*store, &id, "Acme", chrono::Utc::now())
        .await
        .unwrap();
    settings::put_form(&*store, &id, form("contact")).await.unwrap();
    settings::put_form(
        &*store,
        &id,
        CaptureForm {
            signing_secret: Some(FORM_SECRET.into()),
            ..form("signed")
        },
    )
    .await
    .unwrap();
    settings::put_form(
        &*store,
        &id,
        CaptureForm {
            signing_secret: Some(FORM_SECRET.into()),
            rate_limit_per_minute: 2,
            ..form("signed-limited")
        },
    )
    .await
    .unwrap();
    settings::put_form(
        &*store,
        &id,
        CaptureForm {
            rate_limit_per_minute: 3,
            ..form("limited")
        },
    )
    .await
    .unwrap();
    put_channel(
        &*store,
        &tenant,
        Channel::Meta,
        &MetaConfig {
            verify_token: "meta-verify-token".into(),
            app_secret: APP_SECRET.into(),
            page_access_token: "page-access-token".into(),
            graph_base_url: format!("{fake_base}/graph"),
            source: SourceId::parse("social-media").unwrap(),
        },
    )
    .await
    .unwrap();
    put_channel(
        &*store,
        &tenant,
        Channel::Google,
        &GoogleConfig {
            google_key: GOOGLE_KEY.into(),
            source: SourceId::parse("website-form").unwrap(),
        },
    )
    .await
    .unwrap();
    put_channel(
        &*store,
        &tenant,
        Channel::Linkedin,
        &LinkedinConfig {
            client_secret: LI_SECRET.into(),
            access_token: "li-token".into(),
            api_base_url: format!("{fake_base}/li"),
            source: SourceId::parse("social-media").unwrap(),
        },
    )
    .await
    .unwrap();
    let (_, key) = create_api_key(
        &*store,
        NewKey {
            tenant: &id,
            user: "admin",
            role: Role::Admin,
            name: "t",
        },
        None,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let blobs = Arc::new(
        LocalBlobStore::open(LocalBlobConfig {
            root: dir.path().join("bucket"),
            public_url: "http://127.0.0.1:9".into(),
            signing_key: Secret::new("test-signing-key-0123456789abcdef"),
        })
        .unwrap(),
    );
    // The fake platform is on loopback: only a development client may call it.
    let fetcher = Arc::new(PlatformClient::allowing_any_host());
    let api_state = ApiState {
        store: store.clone(),
        blobs,
        clock: Arc::new(SystemClock),
        fetcher,
    };
    let app = webhooks(CaptureState::new(&api_state)).merge(compose(
        api_state,
        vec![leadgate_api::api(), leadgate_capture::api()],
    ));
    let base = serve(app).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Env {
        base,
        http,
        admin: key.expose().to_owned(),
        platform,
        store,
        tenant,
        _dir: dir,
    }
}

impl Env {
    async fn leads(&self) -> Vec<Value> {
        let res = self
            .http
            .get(format!("{}/v1/leads?limit=200", self.base))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap();
        res.json::<Value>().await.unwrap()["items"]
            .as_array()
            .unwrap()
            .clone()
    }

    async fn json(&self, res: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        (status, headers, res.json().await.unwrap_or(Value::Null))
    }

    /// A lead's timeline, newest first, as the admin reads it.
    async fn timeline(&self, lead_id: &str) -> Value {
        self.http
            .get(format!("{}/v1/leads/{lead_id}/activities", self.base))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    fn form_url(&self, key: &str) -> String {
        format!("{}/capture/acme/forms/{key}", self.base)
    }
}

#[tokio::test]
async fn when_a_website_posts_forms_should_capture_map_redirect_and_guard() {
    let e = env().await;
    // JSON from an allowed origin: a lead, mapped by synonyms, with provenance, and CORS.
    let res = e
        .http
        .post(e.form_url("contact"))
        .header("origin", "https://www.acme.test")
        .json(&json!({"First Name": "Jane", "Last Name": "Doe", "E-mail": "jane@example.com", "Phone": "+1 415 555 0132",
                      "utm_source": "newsletter", "gclid": "Cj0KCQiA", "page_url": "https://www.acme.test/pricing",
                      "consent": "I agree to be contacted", "Budget range": "10-50k", "website_url": ""}))
        .send()
        .await
        .unwrap();
    let (status, headers, body) = e.json(res).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(headers["access-control-allow-origin"], "https://www.acme.test");
    let lead_id = body["lead_id"].as_str().unwrap().to_owned();
    let lead: Value = e
        .http
        .get(format!("{}/v1/leads/{lead_id}", e.base))
        .bearer_auth(&e.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (lead["name"].as_str(), lead["email"].as_str()),
        (Some("Jane Doe"), Some("jane@example.com"))
    );
    assert_eq!(lead["provenance"]["channel"], "form");
    assert_eq!(lead["provenance"]["utm"]["source"], "newsletter");
    assert_eq!(lead["provenance"]["gclid"], "Cj0KCQiA");
    assert_eq!(lead["provenance"]["consent_text"], "I agree to be contacted");
    assert_eq!(lead["provenance"]["unmapped"]["Budget range"], "10-50k");
    assert_eq!(lead["source"], "website-form");
    // Born in one write with its capture entry: version 1, the entry on its timeline.
    assert_eq!(lead["version"], 1, "{lead}");
    let born = e.timeline(&lead_id).await;
    let kinds: Vec<&str> = born["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["type"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"captured"), "{born}");

    // The same person again: a "resubmitted" activity on the open lead, not a second lead.
    let res = e
        .http
        .post(e.form_url("contact"))
        .json(&json!({"name": "Jane D.", "email": "JANE@example.com"}))
        .send()
        .await
        .unwrap();
    let (status, _, body) = e.json(res).await;
    assert_eq!(
        (status, body["status"].as_str(), body["lead_id"].as_str()),
        (200, Some("resubmitted"), Some(lead_id.as_str()))
    );
    let timeline = e.timeline(&lead_id).await;
    assert_eq!(timeline["items"][0]["type"], "captured");
    assert_eq!(timeline["items"][0]["resubmitted"], true);

    // A plain HTML post: urlencoded, no JSON accept → 303 to the thank-you page.
    let res = e
        .http
        .post(e.form_url("contact"))
        .header("accept", "text/html")
        .form(&[
            ("name", "Hugo Html"),
            ("email", "hugo@example.com"),
            ("utm_campaign", "autumn"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers()["location"], "https://www.acme.test/thanks");
    // Multipart text fields (a file part is ignored).
    let mp = reqwest::multipart::Form::new()
        .text("full_name", "Mia Multipart")
        .text("email", "mia@example.com")
        .part(
            "cv",
            reqwest::multipart::Part::bytes(b"%PDF".to_vec()).file_name("cv.pdf"),
        );
    let res = e
        .http
        .post(e.form_url("contact"))
        .header("accept", "application/json")
        .multipart(mp)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);

    // Honeypot: 200 like success, kept as spam, never a lead.
    let before = e.leads().await.len();
    let res = e
        .http
        .post(e.form_url("contact"))
        .json(&json!({"name": "Bot", "email": "bot@spam.test", "website_url": "http://spam"}))
        .send()
        .await
        .unwrap();
    let (status, _, body) = e.json(res).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("spam")));
    assert_eq!(e.leads().await.len(), before);
    let spam: Value = e
        .http
        .get(format!("{}/v1/captures?status=spam", e.base))
        .bearer_auth(&e.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(spam["items"].as_array().unwrap().len(), 1);

    // A disallowed origin, with and without preflight.
    let res = e
        .http
        .post(e.form_url("contact"))
        .header("origin", "https://evil.test")
        .json(&json!({"email": "x@y.co"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 403);
    let pre = e
        .http
        .request(reqwest::Method::OPTIONS, e.form_url("contact"))
        .header("origin", "https://evil.test")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status().as_u16(), 403);
    let pre = e
        .http
        .request(reqwest::Method::OPTIONS, e.form_url("contact"))
        .header("origin", "https://www.acme.test")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status().as_u16(), 204);
    assert_eq!(pre.headers()["access-control-allow-methods"], "POST");

    // An oversized body, an unknown form, an unsupported type, and an invalid lead.
    let res = e
        .http
        .post(e.form_url("contact"))
        .json(&json!({"email": "big@x.co", "notes": "x".repeat(70 * 1024)}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 413);
    assert_eq!(
        e.http
            .post(e.form_url("nope"))
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        e.http
            .post(e.form_url("contact"))
            .header("content-type", "text/plain")
            .body("hi")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        415
    );
    let res = e
        .http
        .post(e.form_url("contact"))
        .json(&json!({"name": "No Contact"}))
        .send()
        .await
        .unwrap();
    let (status, headers, body) = e.json(res).await;
    assert_eq!(status, 422, "{body}");
    let sub_id = headers["x-leadgate-submission"].to_str().unwrap();
    let failed: Value = e
        .http
        .get(format!("{}/v1/captures/{sub_id}", e.base))
        .bearer_auth(&e.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        failed["payload"]["fields"]["name"], "No Contact",
        "the raw submission is kept"
    );
}

#[tokio::test]
async fn when_forms_are_signed_or_rate_limited_should_check_both() {
    let e = env().await;
    let body = json!({"name": "Sig", "email": "sig@example.com"}).to_string();
    let now = chrono::Utc::now().timestamp();
    let sign = |t: i64, b: &str| {
        format!(
            "t={t},v1={}",
            hmac_hex(FORM_SECRET, &[t.to_string().as_bytes(), b".", b.as_bytes()])
        )
    };
    let post = |sig: Option<String>, b: String| {
        let mut r = e
            .http
            .post(e.form_url("signed"))
            .header("content-type", "application/json")
            .body(b);
        if let Some(s) = sig {
            r = r.header("x-leadgate-signature", s);
        }
        r.send()
    };
    let mut off_by_one = body.clone().into_bytes();
    off_by_one[10] ^= 1;
    let off_by_one = String::from_utf8(off_by_one).unwrap();
    assert_eq!(
        post(Some(sign(now, &body)), off_by_one)
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    assert_eq!(
        post(Some(sign(now - 301, &body)), body.clone())
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    assert_eq!(post(None, body.clone()).await.unwrap().status().as_u16(), 401);
    assert_eq!(
        post(Some(sign(now, &body)), body.clone())
            .await
            .unwrap()
            .status()
            .as_u16(),
        201
    );
    assert_eq!(e.leads().await.len(), 1);

    let mut statuses = vec![];
    for i in 0..4 {
        let r = e
            .http
            .post(e.form_url("limited"))
            .json(&json!({"name": "R", "email": format!("r{i}@example.com")}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status().as_u16() == 429 {
            let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=60).contains(&retry));
        }
    }
    assert_eq!(statuses, [201, 201, 201, 429]);
}

/// Shaped as Meta's "Retrieving Leads" guide shows it (ids as numbers).
fn meta_delivery(leadgen_id: u64) -> String {
    json!({"object": "page", "entry": [{"id": 153125381133u64, "time": 1795425302, "changes": [{"field": "leadgen", "value": {
        "leadgen_id": leadgen_id, "page_id": 153125381133u64, "form_id": 887766, "adgroup_id": 238471923,
        "ad_id": 238471923, "created_time": 1795425302}}]}]})
    .to_string()
}

#[tokio::test]
async fn when_meta_delivers_leads_should_verify_fetch_once_and_replay_failures() {
    let e = env().await;
    let url = format!("{}/capture/acme/meta", e.base);
    let ok = e
        .http
        .get(format!(
            "{url}?hub.mode=subscribe&hub.verify_token=meta-verify-token&hub.challenge=1158201444"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (ok.status().as_u16(), ok.text().await.unwrap()),
        (200, "1158201444".to_string())
    );
    let bad = e
        .http
        .get(format!(
            "{url}?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 403);

    let body = meta_delivery(444555666);
    let sig = format!("sha256={}", hmac_hex(APP_SECRET, &[body.as_bytes()]));
    let mut wrong = sig.clone().into_bytes();
    let last = wrong.len() - 1;
    wrong[last] = if wrong[last] == b'0' { b'1' } else { b'0' };
    let r = e
        .http
        .post(&url)
        .header("x-hub-signature-256", String::from_utf8(wrong).unwrap())
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(e.leads().await.is_empty());

    // Ten copies of one delivery at once: one lead.
    let sends = (0..10).map(|_| {
        e.http
            .post(&url)
            .header("x-hub-signature-256", sig.clone())
            .body(body.clone())
            .send()
    });
    for r in futures::future::join_all(sends).await {
        assert_eq!(r.unwrap().status().as_u16(), 200);
    }
    let leads = e.leads().await;
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0]["name"], "Joe Example");
    assert_eq!(leads[0]["position"], "Head of Sales");
    assert_eq!(
        leads[0]["provenance"]["external"],
        json!({"provider": "meta", "id": "444555666"})
    );
    assert_eq!(leads[0]["provenance"]["unmapped"]["how_soon"], "this_quarter");
    assert_eq!(
        leads[0]["provenance"]["ad"],
        json!({"campaign_id": "23851234567890123", "ad_set_id": "23851234567890456",
               "ad_id": "238471923", "form_id": "887766"}),
        "the campaign from the Graph lead (the webhook names none)"
    );

    // The Graph API is down: Meta still gets its 200, the capture waits as failed, replay makes the lead.
    e.platform.fail.store(true, Ordering::SeqCst);
    let body = meta_delivery(777888999);
    let sig = format!("sha256={}", hmac_hex(APP_SECRET, &[body.as_bytes()]));
    assert_eq!(
        e.http
            .post(&url)
            .header("x-hub-signature-256", &sig)
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(e.leads().await.len(), 1);
    let failed: Value = e
        .http
        .get(format!("{}/v1/captures?status=failed", e.base))
        .bearer_auth(&e.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let item = &failed["items"][0];
    assert_eq!(item["id"], "meta-777888999");
    assert!(item["error"].as_str().unwrap().contains("503"), "{item}");
    e.platform.fail.store(false, Ordering::SeqCst);
    let replayed: Value = e
        .http
        .post(format!("{}/v1/captures/meta-777888999/replay", e.base))
        .bearer_auth(&e.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(replayed["status"], "processed", "{replayed}");
    assert_eq!(e.leads().await.len(), 2);
    // Meta's own retry after the replay changes nothing.
    e.http
        .post(&url)
        .header("x-hub-signature-256", &sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(e.leads().await.len(), 2);
}

#[tokio::test]
async fn when_google_delivers_leads_should_check_the_key_and_process_each_once() {
    let e = env().await;
    let url = format!("{}/capture/acme/google", e.base);
    let lead = |key: &str, id: &str, test: bool| {
        json!({
            "lead_id": id,
            "user_column_data": [
                {"column_name": "Full Name", "string_value": "Gia Google", "column_id": "FULL_NAME"},
                {"column_name": "User Email", "string_value": format!("gia.{id}@example.com"), "column_id": "EMAIL"},
                {"column_name": "User Phone", "string_value": "+16505550123", "column_id": "PHONE_NUMBER"},
                {"column_name": "Company Name", "string_value": "Gadgets Ltd", "column_id": "COMPANY_NAME"},
                {"column_name": "Postal Code", "string_value": "94043", "column_id": "POSTAL_CODE"},
                {"column_name": "What is your budget?", "string_value": "$10k", "column_id": "budget_q"}
            ],
            "api_version": "1.0", "form_id": 40000000000u64, "campaign_id": 12345678901u64, "google_key": key,
            "is_test": test, "gcl_id": "EAIaIQobChMI", "adgroup_id": 20000000000u64, "creative_id": 30000000000u64
        })
    };
    let r = e
        .http
        .post(&url)
        .json(&lead("wrong-key-wrong-key", "TeSter-123", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let sends = (0..10).map(|_| {
        e.http
            .post(&url)
            .json(&lead(GOOGLE_KEY, "TeSter-123", true))
            .send()
    });
    for r in futures::future::join_all(sends).await {
        let r = r.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.json::<Value>().await.unwrap(), json!({}));
    }
    let leads = e.leads().await;
    assert_eq!(leads.len(), 1);
    assert_eq!(
        (leads[0]["name"].as_str(), leads[0]["company"].as_str()),
        (Some("Gia Google"), Some("Gadgets Ltd"))
    );
    assert_eq!(leads[0]["provenance"]["is_test"], true);
    assert_eq!(
        leads[0]["provenance"]["ad"],
        json!({"campaign_id": "12345678901", "ad_set_id": "20000000000", "ad_id": "30000000000", "form_id": "40000000000"}),
        "the ad the lead answered, for analytics by campaign"
    );
    assert_eq!(leads[0]["address"]["postal_code"], "94043");
    assert_eq!(leads[0]["provenance"]["unmapped"]["What is your budget?"], "$10k");
    let sub: Value = e
        .http
        .get(format!("{}/v1/captures/google-TeSter-123", e.base))
        .bearer_auth(&e.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        sub["payload"].get("google_key").is_none(),
        "the shared key is not stored"
    );
}

#[tokio::test]
async fn when_linkedin_delivers_leads_should_answer_the_challenge_verify_fetch_and_replay() {
    let e = env().await;
    let url = format!("{}/capture/acme/linkedin", e.base);
    let ch: Value = e
        .http
        .get(format!(
            "{url}?challengeCode=890e4665-4dfe-4ab1-b689-ed553bceeed1"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ch["challengeCode"], "890e4665-4dfe-4ab1-b689-ed553bceeed1");
    assert_eq!(
        ch["challengeResponse"],
        hmac_hex(LI_SECRET, &[b"890e4665-4dfe-4ab1-b689-ed553bceeed1"])
    );
    let note = |urn: &str| {
        json!({
            "type": "LEAD_ACTION",
            "leadGenFormResponse": urn,
            "leadGenForm": "urn:li:versionedLeadGenForm:(urn:li:leadGenForm:555, 1)",
            "owner": {"sponsoredAccount": "urn:li:sponsoredAccount:507404993"},
            "associatedEntity": {"sponsoredCreative": "urn:li:sponsoredCreative:12345"},
            "leadType": "SPONSORED",
            "leadAction": "CREATED",
            "occurredAt": 1795425302000u64
        })
        .to_string()
    };
    let li_sig = |body: &str| hmac_hex(LI_SECRET, &[b"hmacsha256=", body.as_bytes()]);
    let urn = "urn:li:leadGenFormResponse:1a2b3c-4";
    let body = note(urn);
    let sig = li_sig(&body);
    let r = e
        .http
        .post(&url)
        .header("x-li-signature", format!("{}0", &sig[..sig.len() - 1]))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = e
        .http
        .post(&url)
        .header("x-li-signature", &sig)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let leads = e.leads().await;
    assert_eq!(leads.len(), 1);
    assert_eq!(
        (leads[0]["name"].as_str(), leads[0]["company"].as_str()),
        (Some("Lina Park"), Some("Globex"))
    );
    assert_eq!(leads[0]["source"], "social-media");
    assert_eq!(
        leads[0]["provenance"]["ad"],
        json!({"campaign_id": "612345678", "ad_id": "998877", "form_id": "555"}),
        "the campaign, creative and form the fetched response names, for analytics by campaign"
    );

    e.platform.fail.store(true, Ordering::SeqCst);
    let urn2 = "urn:li:leadGenFormResponse:9f8e7d-2";
    let body = note(urn2);
    let sig = li_sig(&body);
    assert_eq!(
        e.http
            .post(&url)
            .header("x-li-signature", &sig)
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(e.leads().await.len(), 1);
    e.platform.fail.store(false, Ordering::SeqCst);
    let id = format!("linkedin-{urn2}");
    let enc: String = url_encode(&id);
    let replayed: Value = e
        .http
        .post(format!("{}/v1/captures/{enc}/replay", e.base))
        .bearer_auth(&e.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(replayed["status"], "processed", "{replayed}");
    assert_eq!(e.leads().await.len(), 2);
    let _ = (&e.store, &e.tenant);
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn form_signature(body: &str) -> String {
    let t = chrono::Utc::now().timestamp();
    format!(
        "t={t},v1={}",
        hmac_hex(FORM_SECRET, &[t.to_string().as_bytes(), b".", body.as_bytes()])
    )
}

/// The probe forged LinkedIn deliveries by asking the challenge endpoint to sign
/// `hmacsha256={body}`. Only UUID-shaped challenges are answered now.
#[tokio::test]
async fn when_the_linkedin_challenge_is_asked_to_sign_a_payload_should_refuse() {
    let e = env().await;
    let url = format!("{}/capture/acme/linkedin", e.base);
    let body = json!({"leadGenFormResponse": "urn:li:leadGenFormResponse:forged-1", "leadAction": "CREATED"})
        .to_string();
    let code = format!("hmacsha256={body}");
    let res = e
        .http
        .get(format!("{url}?challengeCode={}", url_encode(&code)))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let answer: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 400, "the oracle answered: {answer}");
    // Had it answered, its answer would have signed the forged delivery; it signs nothing.
    let forged_sig = answer["challengeResponse"].as_str().unwrap_or("00").to_owned();
    let r = e
        .http
        .post(&url)
        .header("x-li-signature", forged_sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(e.leads().await.is_empty());
    for odd in [
        "",
        "not-a-uuid",
        "890e4665-4dfe-4ab1-b689-ed553bceeed1x",
        "890e4665x4dfe-4ab1-b689-ed553bceeed1",
    ] {
        let r = e
            .http
            .get(format!("{url}?challengeCode={}", url_encode(odd)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{odd:?}");
    }
}

/// Unsigned junk used to count against a signed form's per-minute limit, so it starved the
/// real posts. The signature is checked first now.
#[tokio::test]
async fn when_unsigned_posts_flood_a_signed_form_should_not_spend_its_quota() {
    let e = env().await;
    for i in 0..5 {
        let r = e
            .http
            .post(e.form_url("signed-limited"))
            .json(&json!({"name": "Junk", "email": format!("junk{i}@example.com")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
    }
    let body = json!({"name": "Real", "email": "real@example.com"}).to_string();
    let r = e
        .http
        .post(e.form_url("signed-limited"))
        .header("content-type", "application/json")
        .header("x-leadgate-signature", form_signature(&body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
}

/// GET showed the signing secret in clear, and a PUT without it removed it silently.
#[tokio::test]
async fn when_a_form_is_read_and_put_back_should_keep_its_secret_hidden_and_set() {
    let e = env().await;
    let url = format!("{}/v1/settings/capture-forms/signed", e.base);
    let got: Value = e
        .http
        .get(&url)
        .bearer_auth(&e.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        got["signing_secret"],
        leadgate_core::domain::settings::CaptureForm::SECRET_MASK
    );
    assert!(!got.to_string().contains(FORM_SECRET));
    let unsigned = || {
        e.http
            .post(e.form_url("signed"))
            .json(&json!({"name": "U", "email": "u@example.com"}))
            .send()
    };
    // Put back as read (masked), then with the secret left out: still signed.
    let mut without = got.clone();
    without.as_object_mut().unwrap().remove("signing_secret");
    for body in [got.clone(), without.clone()] {
        let r = e
            .http
            .put(&url)
            .bearer_auth(&e.admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let shown: Value = r.json().await.unwrap();
        assert_eq!(
            shown["signing_secret"],
            leadgate_core::domain::settings::CaptureForm::SECRET_MASK
        );
        assert_eq!(unsigned().await.unwrap().status().as_u16(), 401);
    }
    // Removal is explicit.
    let mut removed = without;
    removed["signing_secret"] = Value::Null;
    let r = e
        .http
        .put(&url)
        .bearer_auth(&e.admin)
        .json(&removed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(unsigned().await.unwrap().status().as_u16(), 201);
}

/// Platform webhooks have a per-tenant rate limit too, counted after the signature check.
#[tokio::test]
async fn when_a_platform_delivers_past_its_rate_should_answer_429_but_not_for_forgeries() {
    let e = env().await;
    // The limit counts per clock minute: start early in one so the loop stays inside it.
    let second = chrono::Utc::now().timestamp().rem_euclid(60);
    if second >= 40 {
        tokio::time::sleep(std::time::Duration::from_secs((61 - second) as u64)).await;
    }
    let url = format!("{}/capture/acme/meta", e.base);
    let body = r#"{"object":"page","entry":[]}"#;
    let sig = format!("sha256={}", hmac_hex(APP_SECRET, &[body.as_bytes()]));
    // Forged posts first: they spend nothing.
    for _ in 0..50 {
        let r = e
            .http
            .post(&url)
            .header("x-hub-signature-256", "sha256=00")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401);
    }
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..(leadgate_capture::platforms::PLATFORM_DELIVERIES_PER_MINUTE + 5) {
        let r = e
            .http
            .post(&url)
            .header("x-hub-signature-256", &sig)
            .body(body)
            .send()
            .await
            .unwrap();
        *statuses.entry(r.status().as_u16()).or_insert(0u32) += 1;
    }
    let limit = leadgate_capture::platforms::PLATFORM_DELIVERIES_PER_MINUTE;
    assert_eq!(statuses.get(&200).copied(), Some(limit), "{statuses:?}");
    assert_eq!(statuses.get(&429).copied(), Some(5), "{statuses:?}");
}

/// A suspended tenant captures nothing: forms and platform deliveries answer 403 (the
/// platforms retry later) and no lead or submission is stored; resumed, it captures again.
#[tokio::test]
async fn when_the_tenant_is_suspended_should_answer_403_and_store_nothing() {
    let e = env().await;
    tenants::set_suspended(&*e.store, &e.tenant.id, Some(chrono::Utc::now()))
        .await
        .unwrap();
    let form = e
        .http
        .post(e.form_url("contact"))
        .json(&json!({"name": "Sus Pended", "email": "sus@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status().as_u16(), 403);
    let google = e
        .http
        .post(format!("{}/capture/acme/google", e.base))
        .json(
            &json!({"lead_id": "susp-1", "google_key": GOOGLE_KEY, "user_column_data": [
            {"column_name": "User Email", "string_value": "g@example.com", "column_id": "EMAIL"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(google.status().as_u16(), 403);
    let verify = e
        .http
        .get(format!(
            "{}/capture/acme/meta?hub.mode=subscribe&hub.verify_token=meta-verify-token&hub.challenge=42",
            e.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(verify.status().as_u16(), 403);
    // An unknown tenant is still the same 404 as ever.
    let unknown = e
        .http
        .post(format!("{}/capture/nobody/forms/contact", e.base))
        .json(&json!({"email": "x@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status().as_u16(), 404);
    let submissions = e
        .store
        .list_records(&e.tenant.id, "submission", None, 100)
        .await
        .unwrap();
    assert!(submissions.is_empty(), "{submissions:?}");
    tenants::set_suspended(&*e.store, &e.tenant.id, None)
        .await
        .unwrap();
    assert!(e.leads().await.is_empty(), "nothing was captured while suspended");
    let form = e
        .http
        .post(e.form_url("contact"))
        .json(&json!({"name": "Back Again", "email": "back@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status().as_u16(), 201);
    assert_eq!(e.leads().await.len(), 1);
}

/// The form as a browser submits it: the `action` and every named field of the page's form
/// with what a person leaves in it. Hidden inputs keep their value; `typed` gives what is
/// typed into a visible field or textarea (nothing: sent empty, as browsers do) and whether
/// a checkbox is ticked. A small scanner over the example's plain markup, not an HTML parser.
fn browser_form(
    html: &str,
    typed: &dyn Fn(&str) -> Option<String>,
) -> (Option<String>, Vec<(String, String)>) {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        Some(tag[at..].split('"').next()?.to_owned())
    };
    let form_at = html.find("<form").expect("the page has a form");
    let form = &html[form_at..html[form_at..].find("</form>").unwrap() + form_at];
    let action = attr(&form[..form.find('>').unwrap()], "action");
    let mut fields = Vec::new();
    for (i, _) in form.match_indices('<') {
        let tag = &form[i..i + form[i..].find('>').unwrap()];
        let Some(name) = attr(tag, "name") else { continue };
        if tag.starts_with("<textarea") {
            fields.push((name.clone(), typed(&name).unwrap_or_default()));
        } else if tag.starts_with("<input") {
            match attr(tag, "type").as_deref() {
                Some("hidden") => fields.push((name, attr(tag, "value").unwrap_or_default())),
                Some("checkbox") => {
                    if typed(&name).is_some() {
                        fields.push((name, attr(tag, "value").unwrap_or_else(|| "on".into())));
                    }
                }
                _ => fields.push((name.clone(), typed(&name).unwrap_or_default())),
            }
        }
    }
    (action, fields)
}

/// `examples/`: the capture-form settings, the plain HTML form (posted urlencoded as a
/// browser does: a 303 to the thank-you page) and its fetch() version (the same fields as
/// JSON: 201), and the honeypot keeping a bot's post out of the leads.
#[tokio::test]
async fn when_the_example_forms_are_posted_as_a_browser_would_should_capture_the_lead() {
    let e = env().await;
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let settings: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{examples}/capture-form.json")).unwrap())
            .unwrap();
    let put = e
        .http
        .put(format!("{}/v1/settings/capture-forms/contact", e.base))
        .bearer_auth(&e.admin)
        .json(&settings)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 200, "{}", put.text().await.unwrap());
    let person = |field: &str| -> Option<String> {
        Some(
            match field {
                "first_name" => "Jana",
                "last_name" => "Nováková",
                "email" => "jana.novakova@example.cz",
                "phone" => "+420 601 123 456",
                "company" => "Kavárna s.r.o.",
                "your_message" => "Do you deliver to Brno?",
                "consent" => "ticked",
                _ => return None,
            }
            .to_owned(),
        )
    };
    let html = std::fs::read_to_string(format!("{examples}/contact-form.html")).unwrap();
    let (action, fields) = browser_form(&html, &person);
    let action = action.expect("the HTML form has an action");
    let path = action
        .strip_prefix("http://127.0.0.1:3000")
        .expect("the example posts to the default gateway");
    assert_eq!(path, "/capture/default/forms/contact");
    let url = format!("{}{}", e.base, path.replace("/default/", "/acme/"));
    let res = e
        .http
        .post(&url)
        .header("origin", "https://www.example.com")
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(res.headers()["location"], "https://www.example.com/thanks");
    let leads = e.leads().await;
    assert_eq!(leads.len(), 1, "{leads:?}");
    let lead = &leads[0];
    assert_eq!(
        (lead["name"].as_str(), lead["email"].as_str()),
        (Some("Jana Nováková"), Some("jana.novakova@example.cz"))
    );
    assert_eq!(
        (lead["company"].as_str(), lead["phone"].as_str()),
        (Some("Kavárna s.r.o."), Some("+420601123456"))
    );
    assert_eq!(lead["provenance"]["utm"]["campaign"], "spring-launch");
    assert_eq!(
        lead["provenance"]["consent_text"],
        "I agree to be contacted about my request"
    );
    assert_eq!(
        lead["provenance"]["unmapped"]["your_message"],
        "Do you deliver to Brno?"
    );

    // A bot fills every field it sees, the hidden honeypot too: kept as spam, no lead.
    let bot = |field: &str| Some(format!("bot-{field}@spam.example"));
    let (_, fields) = browser_form(&html, &bot);
    let res = e.http.post(&url).form(&fields).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303, "answered like success");
    assert_eq!(e.leads().await.len(), 1);

    // The fetch() page sends its form's fields as JSON.
    let page = std::fs::read_to_string(format!("{examples}/contact-form-fetch.html")).unwrap();
    assert!(page.contains("Object.fromEntries(new FormData(event.target))"));
    assert!(page.contains(&format!("\"{action}\"")), "the same endpoint");
    let other = |field: &str| match field {
        "email" => Some("ola@example.no".to_owned()),
        "first_name" => Some("Ola".to_owned()),
        "last_name" => Some("Nordmann".to_owned()),
        "phone" => Some("+47 912 34 567".to_owned()),
        _ => person(field),
    };
    let (_, fields) = browser_form(&page, &other);
    let body: serde_json::Map<String, Value> =
        fields.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    let res = e
        .http
        .post(&url)
        .header("origin", "https://www.example.com")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://www.example.com"
    );
    let made: Value = res.json().await.unwrap();
    assert!(made["lead_id"].is_string(), "{made}");
}
