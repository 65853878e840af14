//! The single-machine gateway: its router in-process, first-start bootstrap, and the real
//! binary started, probed and stopped (on SQLite, and pointed at DynamoDB Local and moto).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use leadgate::bootstrap::{AdminKey, bootstrap};
use leadgate::config::{GatewayConfig, Settings};
use leadgate::http::{AppState, router};
use leadgate_core::adapters::sqlite::SqliteStore;
use leadgate_core::domain::TenantId;
use leadgate_core::ports::clock::SystemClock;
use leadgate_core::ports::store::LeadStore;
use leadgate_core::secret::Secret;
use leadgate_core::services::{api_keys, sources};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

fn settings(dir: &std::path::Path, admin_key: Option<&str>) -> Settings {
    let mut cfg =
        <GatewayConfig as clap::Parser>::parse_from(["leadgate", "--data-dir", dir.to_str().unwrap()]);
    cfg.admin_key = admin_key.map(Secret::new);
    cfg.resolve("127.0.0.1:3000".parse().unwrap()).unwrap()
}

async fn app(dir: &std::path::Path) -> (axum::Router, Arc<dyn LeadStore>) {
    let store: Arc<dyn LeadStore> = Arc::new(SqliteStore::in_memory().unwrap());
    let s = settings(dir, None);
    let (blobs, local) = leadgate_core::adapters::build_blobs(&s.blobs).await.unwrap();
    let state = AppState {
        ports: leadgate_core::ports::Ports {
            store: store.clone(),
            blobs,
            clock: Arc::new(leadgate_core::ports::clock::SystemClock),
            fetcher: Arc::new(leadgate_core::adapters::platform_http::PlatformClient::new()),
        },
        local_blobs: local,
        request_timeout: Duration::from_secs(120),
    };
    (router(state), store)
}

#[tokio::test]
async fn when_health_is_probed_should_report_store_ok_with_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path()).await;
    let res = app
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("x-request-id").is_some());
    let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["store"], "ok");
}

#[tokio::test]
async fn when_route_is_unknown_should_answer_problem_json_404() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = app(dir.path()).await;
    let res = app
        .oneshot(Request::get("/nope").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn when_first_started_should_create_tenant_and_one_private_admin_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::in_memory().unwrap();
    let s = settings(dir.path(), None);
    let first = bootstrap(&store, &SystemClock, &s).await.unwrap();
    assert!(first.tenant_created);
    let AdminKey::Written(file) = &first.admin_key else {
        panic!("expected a written key, got {first:?}");
    };
    assert!(
        !first.admin_key_hint().contains("lg_"),
        "the hint never shows the key"
    );
    let key = std::fs::read_to_string(file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let who = api_keys::authenticate(&store, &Secret::new(key.trim()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(who.tenant.as_str(), "default");
    assert!(who.is_admin());
    let tenant = TenantId::parse("default").unwrap();
    assert_eq!(sources::list_sources(&store, &tenant).await.unwrap().len(), 7);

    let again = bootstrap(&store, &SystemClock, &s).await.unwrap();
    assert!(!again.tenant_created);
    assert!(matches!(
        again.admin_key,
        AdminKey::Existing {
            file: Some(_),
            env_key_valid: None
        }
    ));
    assert_eq!(store.list_api_keys(&tenant).await.unwrap().len(), 1);
}

#[tokio::test]
async fn when_admin_key_is_supplied_should_register_it_and_write_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::in_memory().unwrap();
    let supplied = "lg_test_supplied_key_0123456789abcdefghijkl";
    let s = settings(dir.path(), Some(supplied));
    let first = bootstrap(&store, &SystemClock, &s).await.unwrap();
    assert_eq!(first.admin_key, AdminKey::FromEnv);
    assert!(!s.admin_key_file().exists());
    assert!(
        api_keys::authenticate(&store, &Secret::new(supplied))
            .await
            .unwrap()
            .is_some()
    );
    let other = settings(dir.path(), Some("lg_some_other_key_0123456789abcdefghijkl"));
    let again = bootstrap(&store, &SystemClock, &other).await.unwrap();
    assert!(again.admin_key_hint().starts_with("warning"));
}

#[test]
fn when_supplied_admin_key_is_weak_should_refuse_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg =
        <GatewayConfig as clap::Parser>::parse_from(["leadgate", "--data-dir", dir.path().to_str().unwrap()]);
    cfg.admin_key = Some(Secret::new("short"));
    let err = cfg.resolve("127.0.0.1:3000".parse().unwrap()).unwrap_err();
    assert!(err.to_string().contains("LEADGATE_ADMIN_KEY"));
    assert!(!err.to_string().contains("short"));
}

/// The real binary, with its stdout lines read as they come.
struct Running {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    base: String,
    printed: Vec<String>,
}

fn start_binary(args: &[&str], envs: &[(&str, &str)]) -> Running {
    start_binary_with(args, envs, |_| {})
}

/// As `start_binary`, with a last say over the command (resource limits, umask).
fn start_binary_with(args: &[&str], envs: &[(&str, &str)], prepare: impl FnOnce(&mut Command)) -> Running {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leadgate"));
    cmd.args(["--listen", "127.0.0.1:0"])
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("LEADGATE_ADMIN_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    prepare(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut printed = Vec::new();
    loop {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            let status = child.wait();
            panic!("the gateway printed no address within 60 s (exit: {status:?}); printed {printed:?}");
        };
        printed.push(line.clone());
        if let Some(rest) = line.strip_prefix("Leadgate listening on ") {
            let base = rest.trim().to_owned();
            // The two lines after the address: adapters and the admin key hint.
            for _ in 0..2 {
                printed.push(rx.recv_timeout(Duration::from_secs(10)).unwrap());
            }
            return Running {
                child,
                lines: rx,
                base,
                printed,
            };
        }
    }
}

impl Running {
    /// Sends Ctrl-C (SIGINT) and checks the process exits cleanly.
    fn interrupt_and_wait(mut self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(code) = self.child.try_wait().unwrap() {
                assert!(code.success(), "clean exit after Ctrl-C, got {code}");
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the gateway did not stop after Ctrl-C"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let rest: Vec<String> = self.lines.try_iter().collect();
        assert!(rest.iter().any(|l| l == "Leadgate stopped"), "printed {rest:?}");
    }
}

async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let res = reqwest::get(url).await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn when_binary_runs_on_defaults_should_serve_health_print_key_path_and_stop_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = start_binary(&["--data-dir", data.to_str().unwrap()], &[]);
    let hint = run.printed.last().unwrap().clone();
    assert!(hint.contains("admin-key.txt"), "printed {:?}", run.printed);
    let (status, body) = get_json(&format!("{}/healthz", run.base)).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let key = std::fs::read_to_string(data.join("admin-key.txt")).unwrap();
    assert!(key.starts_with("lg_"));
    assert!(data.join("leadgate.sqlite3").exists());
    run.interrupt_and_wait();

    // A second start keeps the same tenant and key.
    let run = start_binary(&["--data-dir", data.to_str().unwrap()], &[]);
    assert!(run.printed.last().unwrap().contains("admin API key"));
    assert_eq!(std::fs::read_to_string(data.join("admin-key.txt")).unwrap(), key);
    run.interrupt_and_wait();
}

#[tokio::test]
async fn when_pointed_at_dynamodb_and_s3_endpoints_should_serve_health() {
    let dynamo = std::env::var("LEADGATE_TEST_DYNAMODB_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty());
    let s3 = std::env::var("LEADGATE_TEST_S3_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty());
    let (Some(dynamo), Some(s3)) = (dynamo, s3) else {
        if std::env::var("LEADGATE_SKIP_SERVICE_TESTS").as_deref() == Ok("1") {
            eprintln!("SKIPPED: service endpoints not set and LEADGATE_SKIP_SERVICE_TESTS=1");
            return;
        }
        panic!(
            "LEADGATE_TEST_DYNAMODB_ENDPOINT and LEADGATE_TEST_S3_ENDPOINT must be set (scripts/test does this)"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let table = format!("gw-{}", uuid_like());
    let bucket = format!("gw-{}", uuid_like());
    let run = start_binary(
        &[
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--store",
            "dynamodb",
            "--dynamodb-endpoint",
            &dynamo,
            "--table",
            &table,
            "--blobs",
            "s3",
            "--s3-endpoint",
            &s3,
            "--bucket",
            &bucket,
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    assert!(
        run.printed
            .iter()
            .any(|l| l.contains(&format!("dynamodb table {table}"))),
        "{:?}",
        run.printed
    );
    let (status, body) = get_json(&format!("{}/healthz", run.base)).await;
    assert_eq!((status, body["store"].as_str()), (200, Some("ok")));
    let key = std::fs::read_to_string(dir.path().join("admin-key.txt")).unwrap();
    run.interrupt_and_wait();

    // The key lives in DynamoDB: read it back through the adapter.
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .endpoint_url(dynamo)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "t",
        ))
        .build();
    let store = leadgate_core::adapters::dynamo::DynamoStore::from_client(
        aws_sdk_dynamodb::Client::from_conf(conf),
        table,
        8,
    );
    let who = api_keys::authenticate(&store, &Secret::new(key.trim()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(who.tenant.as_str(), "default");
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    key: &str,
    body: Option<serde_json::Value>,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let mut req = http.request(method, url).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn when_a_rep_uses_the_running_gateway_should_work_a_lead_and_upload_a_file_over_http() {
    use reqwest::Method;
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = start_binary(&["--data-dir", data.to_str().unwrap()], &[]);
    let key = std::fs::read_to_string(data.join("admin-key.txt"))
        .unwrap()
        .trim()
        .to_owned();
    let http = reqwest::Client::new();
    let base = run.base.clone();
    let (status, _, rep) = send(
        &http,
        Method::PUT,
        &format!("{base}/v1/settings/reps/ana"),
        &key,
        Some(json!({"name": "Ana", "weight": 1, "active": true})),
    )
    .await;
    assert_eq!(status, 200, "{rep}");
    let (status, headers, lead) = send(
        &http,
        Method::POST,
        &format!("{base}/v1/leads"),
        &key,
        Some(json!({"name": "Jane Doe", "email": "jane@example.com", "source": "Website form"})),
    )
    .await;
    assert_eq!(status, 201, "{lead}");
    assert_eq!(lead["owner"], "ana");
    let id = lead["id"].as_str().unwrap().to_owned();
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let lead_url = format!("{base}/v1/leads/{id}");
    let res = http
        .patch(&lead_url)
        .bearer_auth(&key)
        .header("if-match", &etag)
        .json(&json!({"status": "qualified"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let (status, _, _) = send(
        &http,
        Method::POST,
        &format!("{lead_url}/activities"),
        &key,
        Some(json!({"type": "call", "direction": "outbound", "duration_seconds": 300})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _, page) = send(
        &http,
        Method::GET,
        &format!("{base}/v1/leads?status=qualified&owner=ana"),
        &key,
        None,
    )
    .await;
    assert_eq!(
        (status, page["items"][0]["id"].as_str()),
        (200, Some(id.as_str()))
    );

    // An attachment: presigned PUT to the gateway's bucket folder, then presigned GET.
    let (status, _, up) = send(
        &http,
        Method::POST,
        &format!("{lead_url}/attachments"),
        &key,
        Some(json!({"filename": "brief.txt", "content_type": "text/plain", "size": 11})),
    )
    .await;
    assert_eq!(status, 201, "{up}");
    // Exactly the headers the API says to send.
    let mut req = http.put(up["upload_url"].as_str().unwrap()).body("hello world");
    for (k, v) in up["upload_headers"].as_object().unwrap() {
        if k != "Content-Length" {
            req = req.header(k.as_str(), v.as_str().unwrap());
        }
    }
    let put = req.send().await.unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    assert_eq!(up["upload_headers"]["Content-Length"], "11");
    // The slot was announced as 11 bytes: 100 MiB does not go in, nor a second upload.
    let mut again = http
        .put(up["upload_url"].as_str().unwrap())
        .body(vec![b'x'; 100 * 1024 * 1024]);
    for (k, v) in up["upload_headers"].as_object().unwrap() {
        if k != "Content-Length" {
            again = again.header(k.as_str(), v.as_str().unwrap());
        }
    }
    let refused = again.send().await;
    assert!(
        refused.map(|r| r.status().is_client_error()).unwrap_or(true),
        "an oversized second upload was taken"
    );
    // The file arrived: it is on the timeline now, with its real size and type, once.
    let mut entries = Vec::new();
    for _ in 0..100 {
        let (_, _, timeline) = send(&http, Method::GET, &format!("{lead_url}/activities"), &key, None).await;
        entries = timeline["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "attachment")
            .cloned()
            .collect::<Vec<_>>();
        if !entries.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        (
            &entries[0]["filename"],
            &entries[0]["size"],
            &entries[0]["content_type"]
        ),
        (&json!("brief.txt"), &json!(11), &json!("text/plain"))
    );
    let (_, _, files) = send(&http, Method::GET, &format!("{lead_url}/attachments"), &key, None).await;
    assert_eq!(files[0]["filename"], "brief.txt");
    let att = files[0]["id"].as_str().unwrap();
    let (_, _, dl) = send(
        &http,
        Method::GET,
        &format!("{lead_url}/attachments/{att}"),
        &key,
        None,
    )
    .await;
    let body = http
        .get(dl["download_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "hello world");
    let doc: serde_json::Value = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in ["/v1/leads", "/v1/leads/{id}/convert", "/v1/captures"] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    // The document is checked in (`openapi.json`) for integrators, and must be what the
    // gateway serves: `LEADGATE_UPDATE_OPENAPI=1 cargo test --test gateway` writes it anew.
    let checked_in = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    if std::env::var("LEADGATE_UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(&checked_in, serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
    }
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&checked_in).expect("openapi.json is checked in")).unwrap();
    assert!(
        on_disk == doc,
        "openapi.json differs from the served document; run LEADGATE_UPDATE_OPENAPI=1 cargo test --test gateway and commit it"
    );

    // A website form posts to the capture route of the same gateway.
    let form = json!({"key": "contact", "name": "Contact", "source": "website-form", "thank_you_url": "https://example.com/thanks"});
    let (status, _, _) = send(
        &http,
        Method::PUT,
        &format!("{base}/v1/settings/capture-forms/contact"),
        &key,
        Some(form),
    )
    .await;
    assert_eq!(status, 200);
    let res = http
        .post(format!("{base}/capture/default/forms/contact"))
        .json(&json!({"Full Name": "Web Visitor", "Email Address": "visitor@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let (_, _, page) = send(&http, Method::GET, &format!("{base}/v1/leads?q=web"), &key, None).await;
    assert_eq!(page["items"][0]["provenance"]["channel"], "form");
    run.interrupt_and_wait();
}

/// Polls `url` until `done` holds for its JSON body, for up to 30 s.
async fn poll_json(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, body) = send(http, reqwest::Method::GET, url, key, None).await;
        if status == 200 && done(&body) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{url} never got there: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn when_a_file_is_moved_into_the_folder_should_import_it_without_waiting_for_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Scans an hour apart: only the filesystem notification can start this import.
    let run = start_binary(
        &["--data-dir", data.to_str().unwrap(), "--folder-poll-secs", "3600"],
        &[],
    );
    let key = std::fs::read_to_string(data.join("admin-key.txt"))
        .unwrap()
        .trim()
        .to_owned();
    let folder = data.join("bucket/imports/default");
    std::fs::create_dir_all(&folder).unwrap();
    // The watch on a new folder is added when its creation is seen; give it that moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let staged = dir.path().join("staged.csv");
    std::fs::write(
        &staged,
        "Name,Email,Lead Source\nMoved Mia,mia@moved.example,Referral\n",
    )
    .unwrap();
    std::fs::rename(&staged, folder.join("moved.csv")).unwrap();
    let http = reqwest::Client::new();
    let page = poll_json(&http, &format!("{}/v1/leads?q=mia", run.base), &key, |b| {
        b["items"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    assert_eq!(page["items"][0]["email"], "mia@moved.example");
    run.interrupt_and_wait();
}

#[tokio::test]
async fn when_a_file_lands_in_the_running_gateways_folder_should_import_it_and_jobs_and_exports_work_over_http()
 {
    use reqwest::Method;
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = start_binary(&["--data-dir", data.to_str().unwrap()], &[]);
    let key = std::fs::read_to_string(data.join("admin-key.txt"))
        .unwrap()
        .trim()
        .to_owned();
    let http = reqwest::Client::new();
    let base = run.base.clone();

    // The README's way: copy a file into the folder.
    let folder = data.join("bucket/imports/default");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("fair.csv"),
        "Name,Email,Lead Source\nDropped Dora,dora@drop.example,Referral\n",
    )
    .unwrap();
    let page = poll_json(&http, &format!("{base}/v1/leads?q=dora"), &key, |b| {
        b["items"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    assert_eq!(page["items"][0]["email"], "dora@drop.example");

    // An import job: options, the presigned PUT, then the status with its report.
    let (status, _, created) = send(
        &http,
        Method::POST,
        &format!("{base}/v1/imports"),
        &key,
        Some(json!({"filename": "more.csv", "options": {"mode": "valid_rows"}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let put = http
        .put(created["upload_url"].as_str().unwrap())
        .body("Name,Email,Lead Source\nJob Joe,joe@job.example,Referral\nBad Bob,not-an-email,Referral\n")
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    let id = created["job"]["id"].as_str().unwrap();
    let job = poll_json(&http, &format!("{base}/v1/imports/{id}"), &key, |b| {
        b["status"] == "completed"
    })
    .await;
    assert_eq!(job["report"]["created"], 1, "{job}");
    assert_eq!(job["report"]["error_rows"], 1, "{job}");
    let res = http
        .get(format!("{base}/v1/imports/template?format=csv"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let template = res.text().await.unwrap();
    assert!(
        template.lines().nth(1).unwrap().starts_with("Name,Email"),
        "{template}"
    );

    // Preview, then run: a validate job's report, then the same upload imported on request.
    let (status, _, created) = send(
        &http,
        Method::POST,
        &format!("{base}/v1/imports"),
        &key,
        Some(json!({"filename": "check.csv", "options": {"mode": "validate"}})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let put = http
        .put(created["upload_url"].as_str().unwrap())
        .body("Name,Email,Lead Source\nPia Preview,pia@preview.example,Referral\n")
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "{}", put.status());
    let id = created["job"]["id"].as_str().unwrap();
    let job = poll_json(&http, &format!("{base}/v1/imports/{id}"), &key, |b| {
        b["status"] == "validated"
    })
    .await;
    assert_eq!(
        job["report"]["preview"]["rows"][0]["name"], "Pia Preview",
        "{job}"
    );
    let (status, _, queued) = send(
        &http,
        Method::POST,
        &format!("{base}/v1/imports/{id}/run"),
        &key,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 202, "{queued}");
    let job = poll_json(&http, &format!("{base}/v1/imports/{id}"), &key, |b| {
        b["status"] == "completed"
    })
    .await;
    assert_eq!(job["report"]["created"], 1, "{job}");

    // An export: the gateway's folder watcher runs it, the link downloads it.
    let (status, _, job) = send(
        &http,
        Method::POST,
        &format!("{base}/v1/exports"),
        &key,
        Some(json!({"format": "csv", "filters": {"q": "dropped"}, "columns": ["Name", "Email"]})),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap();
    let done = poll_json(&http, &format!("{base}/v1/exports/{id}"), &key, |b| {
        b["status"] == "completed"
    })
    .await;
    let file = http
        .get(done["download_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(file, "\u{feff}Name,Email\nDropped Dora,dora@drop.example\n");

    // A bulk edit whose filter matches more than 1,000 leads: a job the folder watcher runs.
    let mut rows = String::from("Name,Email,Lead Source\n");
    for i in 0..1100 {
        rows.push_str(&format!("Bulk {i},bulk{i}@wave.example,Referral\n"));
    }
    std::fs::write(folder.join("wave.csv"), rows).unwrap();
    poll_json(&http, &format!("{base}/v1/leads/count?q=bulk"), &key, |b| {
        b["count"] == 1100
    })
    .await;
    let (status, headers, job) = send(
        &http,
        Method::POST,
        &format!("{base}/v1/leads/bulk"),
        &key,
        Some(json!({"filter": {"q": "bulk"}, "action": {"type": "add_tags", "tags": ["wave"]}})),
    )
    .await;
    assert_eq!(status, 202, "{job}");
    let location = headers["location"].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        format!("/v1/bulk-edits/{}", job["id"].as_str().unwrap())
    );
    let done = poll_json(&http, &format!("{base}{location}"), &key, |b| {
        b["status"] == "completed"
    })
    .await;
    assert_eq!(
        (&done["processed"], &done["changed"]),
        (&json!(1100), &json!(1100)),
        "{done}"
    );
    let (_, _, tagged) = send(
        &http,
        Method::GET,
        &format!("{base}/v1/leads/count?tag=wave"),
        &key,
        None,
    )
    .await;
    assert_eq!(tagged["count"], 1100, "{tagged}");
    run.interrupt_and_wait();
}

/// One raw HTTP/1.1 exchange on a fresh connection; the response's head and body as text.
fn raw_http(addr: &str, request: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn header_of<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Waits until the server closes `s` (EOF or reset); false if it is still open after `within`.
fn closed_by_server(s: &mut std::net::TcpStream, within: Duration) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

/// The probe's findings against the running binary: started with 256 descriptors and umask
/// 000, it holds more idle sockets than it has descriptors and still answers /healthz; it
/// closes slowloris and stalled-body connections; its data files are private; every error
/// (a path's %ff, a capture body over the limit, an unknown capture URL) is problem+json and
/// unknown capture URLs all look alike; odd request ids are replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_probed_like_the_attacker_did_should_hold_its_limits() {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = start_binary_with(
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "--header-timeout-secs",
            "2",
            "--body-timeout-secs",
            "1",
            "--request-timeout-secs",
            "3",
        ],
        &[],
        |cmd| {
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    libc::umask(0);
                    let lim = libc::rlimit {
                        rlim_cur: 256,
                        rlim_max: 256,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        },
    );
    let addr = run.base.trim_start_matches("http://").to_owned();

    // More idle sockets than the process has descriptors, and some slowloris ones.
    let idle: Vec<std::net::TcpStream> = (0..300)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    let mut slow: Vec<std::net::TcpStream> = (0..10)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHo").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let a = addr.clone();
        let res = tokio::task::spawn_blocking(move || {
            raw_http(
                &a,
                "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
        })
        .await
        .unwrap();
        times.push(started.elapsed());
        assert!(res.starts_with("HTTP/1.1 200"), "healthz answered {res:?}");
    }
    eprintln!("healthz with 310 sockets held: {times:?}");
    assert!(times.iter().all(|t| *t < Duration::from_secs(1)), "{times:?}");
    assert!(times.iter().any(|t| *t < Duration::from_millis(100)), "{times:?}");

    // Slowloris sockets are closed by the header timeout (2 s here).
    for s in &mut slow {
        assert!(
            closed_by_server(s, Duration::from_secs(6)),
            "a slowloris socket stayed open"
        );
    }
    drop(idle);

    // A body that stops arriving ends its request (body timeout 1 s here).
    let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
    stalled
        .write_all(
            b"POST /capture/default/forms/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\"",
        )
        .unwrap();
    assert!(
        closed_by_server(&mut stalled, Duration::from_secs(6)),
        "a stalled body kept its connection"
    );

    // A body trickled a byte every 400 ms never trips the body timeout; the request deadline
    // (3 s here) ends it with a 408.
    let a = addr.clone();
    let trickled = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut s = std::net::TcpStream::connect(&a).unwrap();
        s.write_all(
            b"POST /capture/default/forms/x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        )
        .unwrap();
        let started = std::time::Instant::now();
        for _ in 0..25 {
            if s.write_all(b" ").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(400));
        }
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        (started.elapsed(), String::from_utf8_lossy(&out).into_owned())
    })
    .await
    .unwrap();
    assert!(trickled.1.starts_with("HTTP/1.1 408"), "{trickled:?}");

    // Private data files, whatever the umask.
    let mode = |p: std::path::PathBuf| std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(data.clone()), 0o700);
    assert_eq!(mode(data.join("leadgate.sqlite3")), 0o600);
    assert_eq!(mode(data.join("bucket")) & 0o077, 0);

    // Every error is problem+json.
    let key = std::fs::read_to_string(data.join("admin-key.txt"))
        .unwrap()
        .trim()
        .to_owned();
    let a = addr.clone();
    let bad_path = tokio::task::spawn_blocking(move || {
        raw_http(
            &a,
            &format!("GET /v1/leads/%ff HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"),
        )
    })
    .await
    .unwrap();
    assert!(bad_path.starts_with("HTTP/1.1 4"), "{bad_path}");
    assert_eq!(
        header_of(&bad_path, "content-type"),
        Some("application/problem+json")
    );
    let http = reqwest::Client::new();
    let big = http
        .post(format!("{}/capture/default/forms/x", run.base))
        .header("content-type", "application/json")
        .body(vec![b' '; 70 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status().as_u16(), 413);
    assert_eq!(big.headers()["content-type"], "application/problem+json");
    assert_eq!(big.headers()["x-content-type-options"], "nosniff");

    // Unknown tenant, unknown form and an unconfigured channel answer alike.
    let mut answers = Vec::new();
    for path in [
        "/capture/nobody/forms/contact",
        "/capture/default/forms/nosuchform",
        "/capture/default/google",
    ] {
        let r = http
            .post(format!("{}{path}", run.base))
            .header("content-type", "application/json")
            .body(r#"{"email":"a@b.co"}"#)
            .send()
            .await
            .unwrap();
        answers.push((r.status().as_u16(), r.text().await.unwrap()));
    }
    assert_eq!(answers[0].0, 404);
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");

    // Request ids: a plain one is kept, anything else replaced.
    let kept = http
        .get(format!("{}/healthz", run.base))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "abc-123");
    let odd = http
        .get(format!("{}/healthz", run.base))
        .header("x-request-id", "<script>alert(1)</script>")
        .send()
        .await
        .unwrap();
    let echoed = odd.headers()["x-request-id"].to_str().unwrap();
    assert!(!echoed.contains('<') && echoed.len() == 36, "{echoed}");

    // 415s over one keep-alive connection: the probe saw connections reset after some.
    let a = addr.clone();
    let key = std::fs::read_to_string(data.join("admin-key.txt")).unwrap();
    let statuses = tokio::task::spawn_blocking(move || keep_alive_415s(&a, key.trim(), 40))
        .await
        .unwrap();
    assert_eq!(statuses, vec![415; 40], "one connection, 40 answers");
    run.interrupt_and_wait();
}

/// Sends `n` text/plain posts with 600 KB bodies on one connection (large enough that hyper
/// cannot drain an unread one); the statuses it got back
/// before the connection ended.
fn keep_alive_415s(addr: &str, key: &str, n: usize) -> Vec<u16> {
    use std::io::{BufRead, Read, Write};
    let s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut writer = s.try_clone().unwrap();
    let mut reader = BufReader::new(s);
    let body = "x".repeat(600_000);
    let mut out = Vec::new();
    for _ in 0..n {
        let req = format!(
            "POST /v1/leads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(req.as_bytes()).is_err() {
            break;
        }
        let mut status_line = String::new();
        if reader.read_line(&mut status_line).unwrap_or(0) == 0 {
            break;
        }
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut rest = vec![0u8; length];
        if reader.read_exact(&mut rest).is_err() {
            break;
        }
        out.push(
            status_line
                .split(' ')
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0),
        );
    }
    out
}

/// What a finished `leadgate` subcommand left: exit code, stdout, stderr.
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

fn leadgate(args: &[&str], envs: &[(&str, &str)]) -> Ran {
    let out = Command::new(env!("CARGO_BIN_EXE_leadgate"))
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("LEADGATE_ADMIN_KEY")
        .output()
        .unwrap();
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn get_with_key(url: &str, key: &str) -> u16 {
    reqwest::Client::new()
        .get(url)
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The admin subcommands as a user runs them, on the store flags of one backend: a tenant
/// made with its first key, listed, its keys made, listed and revoked, suspended under the
/// running gateway (its key gets 403 at once) and resumed; every wrong input exits 2 and
/// changes nothing.
async fn cli_drives_tenants_and_keys(store_args: &[&str], envs: &[(&str, &str)]) {
    let id = format!("cli-{}", uuid_like());
    let with =
        |rest: &[&str]| -> Vec<String> { store_args.iter().chain(rest).map(|s| s.to_string()).collect() };
    let run = |rest: &[&str]| {
        let args = with(rest);
        leadgate(&args.iter().map(String::as_str).collect::<Vec<_>>(), envs)
    };
    let made = run(&["tenant", "create", &id, "--name", "Cli Co"]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    let made: serde_json::Value = serde_json::from_str(&made.stdout).unwrap();
    assert_eq!(made["tenant"]["id"], id.as_str());
    let admin = made["admin_key"]["key"].as_str().unwrap().to_owned();
    assert!(admin.starts_with("lg_"));
    for (bad, says) in [
        (vec!["tenant", "create", id.as_str(), "--name", "Again"], "exists"),
        (vec!["tenant", "create", "platform", "--name", "P"], "reserved"),
        (vec!["tenant", "create", "Not A Slug", "--name", "P"], "tenant id"),
        (vec!["tenant", "suspend", "no-such-tenant"], "not found"),
        (
            vec!["key", "create", "--tenant", "no-such-tenant", "--name", "k"],
            "not found",
        ),
        (
            vec![
                "key",
                "create",
                "--tenant",
                id.as_str(),
                "--name",
                "k",
                "--role",
                "rep",
            ],
            "--user",
        ),
        (
            vec!["key", "revoke", "not-a-key-id", "--tenant", id.as_str()],
            "api_key",
        ),
    ] {
        let r = run(&bad);
        assert_eq!(r.code, 2, "{bad:?}: {} {}", r.stdout, r.stderr);
        assert!(r.stderr.contains(says), "{bad:?}: {}", r.stderr);
    }
    let listed = run(&["tenant", "list"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l.starts_with(&format!("{id}\tactive\t")) && l.ends_with("\tCli Co")),
        "{}",
        listed.stdout
    );
    let rep = run(&[
        "key",
        "create",
        "--tenant",
        &id,
        "--role",
        "rep",
        "--user",
        "ana",
        "--name",
        "ana's phone",
    ]);
    assert_eq!(rep.code, 0, "{}", rep.stderr);
    let rep: serde_json::Value = serde_json::from_str(&rep.stdout).unwrap();
    let keys = run(&["key", "list", "--tenant", &id]);
    assert_eq!(
        keys.stdout.lines().count(),
        3,
        "header, admin, rep: {}",
        keys.stdout
    );
    assert!(
        !keys.stdout.contains(rep["key"].as_str().unwrap()),
        "a list never shows a key"
    );
    let revoked = run(&["key", "revoke", rep["id"].as_str().unwrap(), "--tenant", &id]);
    assert_eq!(revoked.code, 0, "{}", revoked.stderr);
    let op = run(&["key", "create", "--operator", "--name", "ops"]);
    assert_eq!(op.code, 0, "{}", op.stderr);
    let op_key = serde_json::from_str::<serde_json::Value>(&op.stdout).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();

    // Under the running gateway: suspension shows at once, for the tenant's key only.
    let data = tempfile::tempdir().unwrap();
    let mut gateway_args: Vec<&str> = store_args.to_vec();
    if !store_args.contains(&"--data-dir") {
        gateway_args.extend(["--data-dir", data.path().to_str().unwrap()]);
    }
    let gw = start_binary(&gateway_args, envs);
    let leads = format!("{}/v1/leads", gw.base);
    assert_eq!(get_with_key(&leads, &admin).await, 200);
    assert_eq!(
        get_with_key(&leads, rep["key"].as_str().unwrap()).await,
        401,
        "revoked"
    );
    assert_eq!(
        get_with_key(&format!("{}/v1/tenants/{id}", gw.base), &op_key).await,
        200
    );
    // A capture that fails (a form post with neither email nor phone) is replayed from the
    // CLI: still failing, it is listed and the exit code says so; an unknown id is refused.
    let http = reqwest::Client::new();
    let form = serde_json::json!({"key": "contact", "name": "Contact", "source": "website-form"});
    let put = http
        .put(format!("{}/v1/settings/capture-forms/contact", gw.base))
        .bearer_auth(&admin)
        .json(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 200);
    let posted = http
        .post(format!("{}/capture/{id}/forms/contact", gw.base))
        .json(&serde_json::json!({"Full Name": "No Contact"}))
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_client_error(), "{}", posted.status());
    let replayed = run(&["captures", "replay", "--failed", "--tenant", &id]);
    assert_eq!(replayed.code, 1, "{} {}", replayed.stdout, replayed.stderr);
    assert_eq!(replayed.stdout.lines().count(), 1, "{}", replayed.stdout);
    assert!(replayed.stdout.contains("\tfailed\t"), "{}", replayed.stdout);
    let unknown = run(&["captures", "replay", "no-such-capture", "--tenant", &id]);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    let s = run(&["tenant", "suspend", &id]);
    assert_eq!(
        (s.code, s.stdout.trim()),
        (0, format!("{id}\tsuspended").as_str()),
        "{}",
        s.stderr
    );
    assert_eq!(get_with_key(&leads, &admin).await, 403);
    let r = run(&["tenant", "resume", &id]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(get_with_key(&leads, &admin).await, 200);
    gw.interrupt_and_wait();
}

#[tokio::test]
async fn when_the_cli_manages_tenants_and_keys_on_sqlite_should_act_on_the_gateways_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli_drives_tenants_and_keys(&["--data-dir", data.to_str().unwrap()], &[]).await;
}

#[tokio::test]
async fn when_the_cli_manages_tenants_and_keys_on_dynamodb_should_act_on_the_gateways_store() {
    let Ok(dynamo) = std::env::var("LEADGATE_TEST_DYNAMODB_ENDPOINT") else {
        panic!("LEADGATE_TEST_DYNAMODB_ENDPOINT must be set (scripts/test does this)");
    };
    let table = format!("cli-{}", uuid_like());
    let envs = [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    cli_drives_tenants_and_keys(
        &[
            "--store",
            "dynamodb",
            "--dynamodb-endpoint",
            &dynamo,
            "--table",
            &table,
        ],
        &envs,
    )
    .await;
    // A store that cannot be reached is a failure (1), not a refusal (2).
    let r = leadgate(
        &[
            "--store",
            "dynamodb",
            "--dynamodb-endpoint",
            "http://127.0.0.1:9",
            "tenant",
            "list",
        ],
        &envs,
    );
    assert_eq!(r.code, 1, "{} {}", r.stdout, r.stderr);
}

/// `leadgate import` and `leadgate export` as a user runs them, on one backend's store and
/// bucket flags: a spreadsheet another program wrote (title rows, ragged cells) is refused
/// whole by default (exit 2, nothing saved), imported under `--mode valid-rows` with plain
/// progress lines on a non-terminal, then exported to CSV and XLSX files.
async fn cli_imports_and_exports(args: &[&str], envs: &[(&str, &str)]) {
    let id = format!("io-{}", uuid_like());
    let run = |rest: &[&str]| {
        let all: Vec<&str> = args.iter().chain(rest).copied().collect();
        leadgate(&all, envs)
    };
    assert_eq!(run(&["tenant", "create", &id, "--name", "Io"]).code, 0);
    let sheet = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/shared/tests/fixtures/title_ragged.xlsx"
    );
    let refused = run(&["import", sheet, "--tenant", &id]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let job: serde_json::Value = serde_json::from_str(&refused.stdout).unwrap();
    assert_eq!(
        (job["status"].as_str(), job["report"]["created"].as_u64()),
        (Some("rejected"), Some(0))
    );
    let done = run(&["import", sheet, "--tenant", &id, "--mode", "valid-rows"]);
    assert_eq!(done.code, 0, "{}", done.stderr);
    let job: serde_json::Value = serde_json::from_str(&done.stdout).unwrap();
    assert_eq!(
        (job["status"].as_str(), job["report"]["created"].as_u64()),
        (Some("completed"), Some(2))
    );
    assert!(
        done.stderr
            .lines()
            .any(|l| l.starts_with("import ") && l.ends_with(" completed")),
        "plain progress lines: {}",
        done.stderr
    );
    let rebuilt = run(&["analytics", "rebuild", "--tenant", &id]);
    assert_eq!(rebuilt.code, 0, "{}", rebuilt.stderr);
    assert_eq!(
        rebuilt.stdout.trim(),
        "2 leads read, 3 rollup rows written",
        "one source row, one owner row and one campaign row for the day"
    );
    let r = run(&["analytics", "rebuild", "--tenant", "no-such-tenant"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    for (bad, says) in [
        (
            vec!["import", sheet, "--tenant", id.as_str(), "--profile", "nope"],
            "no import profile",
        ),
        (
            vec!["import", "/no/such/file.csv", "--tenant", id.as_str()],
            "cannot read",
        ),
        (vec!["import", sheet, "--tenant", "no-such-tenant"], "not found"),
    ] {
        let r = run(&bad);
        assert_eq!(r.code, 2, "{bad:?}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{bad:?}: {}", r.stderr);
    }

    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("new.csv");
    let out = run(&[
        "export",
        "status=new",
        "--tenant",
        &id,
        "-o",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 3, "header and two leads: {text}");
    assert!(text.contains("ana@acme.example"), "{text}");
    let xlsx = dir.path().join("all.xlsx");
    let out = run(&["export", "--tenant", &id, "-o", xlsx.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        std::fs::read(&xlsx).unwrap().starts_with(b"PK"),
        "an XLSX is a zip"
    );
    let bad = run(&["export", "bogus=1", "--tenant", &id, "-o", csv.to_str().unwrap()]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("bogus"), "{}", bad.stderr);
    // Suspended: neither imports nor exports run.
    assert_eq!(run(&["tenant", "suspend", &id]).code, 0);
    let r = run(&["export", "--tenant", &id, "-o", csv.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("suspended"), "{}", r.stderr);
    let r = run(&["import", sheet, "--tenant", &id, "--mode", "valid-rows"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("suspended"), "{}", r.stderr);
}

#[tokio::test]
async fn when_the_cli_imports_and_exports_on_sqlite_and_a_folder_should_report_and_write_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli_imports_and_exports(&["--data-dir", data.to_str().unwrap()], &[]).await;
}

#[tokio::test]
async fn when_the_cli_imports_and_exports_on_dynamodb_and_s3_should_report_and_write_files() {
    let (Ok(dynamo), Ok(s3)) = (
        std::env::var("LEADGATE_TEST_DYNAMODB_ENDPOINT"),
        std::env::var("LEADGATE_TEST_S3_ENDPOINT"),
    ) else {
        panic!(
            "LEADGATE_TEST_DYNAMODB_ENDPOINT and LEADGATE_TEST_S3_ENDPOINT must be set (scripts/test does this)"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let table = format!("cli-io-{}", uuid_like());
    let bucket = format!("cli-io-{}", uuid_like());
    let data = dir.path().to_str().unwrap();
    cli_imports_and_exports(
        &[
            "--data-dir",
            data,
            "--store",
            "dynamodb",
            "--dynamodb-endpoint",
            &dynamo,
            "--table",
            &table,
            "--blobs",
            "s3",
            "--s3-endpoint",
            &s3,
            "--bucket",
            &bucket,
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ],
    )
    .await;
}

/// The SDK's standard endpoint variables alone (`AWS_ENDPOINT_URL_DYNAMODB`,
/// `AWS_ENDPOINT_URL_S3`, no flags) point the gateway at DynamoDB Local and moto as the flags
/// do: the table and the bucket are made, and S3 is addressed path-style.
#[tokio::test]
async fn when_the_sdk_endpoint_variables_name_the_services_should_use_them_as_the_flags_do() {
    let (Ok(dynamo), Ok(s3)) = (
        std::env::var("LEADGATE_TEST_DYNAMODB_ENDPOINT"),
        std::env::var("LEADGATE_TEST_S3_ENDPOINT"),
    ) else {
        panic!(
            "LEADGATE_TEST_DYNAMODB_ENDPOINT and LEADGATE_TEST_S3_ENDPOINT must be set (scripts/test does this)"
        );
    };
    let dir = tempfile::tempdir().unwrap();
    let table = format!("env-{}", uuid_like());
    let bucket = format!("env-{}", uuid_like());
    let run = start_binary(
        &[
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--store",
            "dynamodb",
            "--table",
            &table,
            "--blobs",
            "s3",
            "--bucket",
            &bucket,
        ],
        &[
            ("AWS_ENDPOINT_URL_DYNAMODB", &dynamo),
            ("AWS_ENDPOINT_URL_S3", &s3),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", "us-east-1"),
        ],
    );
    assert!(
        run.printed
            .iter()
            .any(|l| l.contains(&format!("dynamodb table {table} at {dynamo}"))),
        "{:?}",
        run.printed
    );
    assert!(
        run.printed
            .iter()
            .any(|l| l.contains(&format!("s3 bucket {bucket} at {s3}"))),
        "{:?}",
        run.printed
    );
    let (status, body) = get_json(&format!("{}/healthz", run.base)).await;
    assert_eq!((status, body["store"].as_str()), (200, Some("ok")), "{body}");
    // An export written through the bucket proves S3 is reachable path-style.
    let key = std::fs::read_to_string(dir.path().join("admin-key.txt")).unwrap();
    let http = reqwest::Client::new();
    let made = http
        .post(format!("{}/v1/exports", run.base))
        .bearer_auth(key.trim())
        .json(&serde_json::json!({"format": "csv"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status().as_u16(), 202, "{}", made.text().await.unwrap());
    run.interrupt_and_wait();
}

type Taken = (String, String, String, u64);

/// A webhook receiver on loopback, as a subscriber would write one: it checks each
/// signature with its own HMAC-SHA256 over "{t}.{body}", refuses each event's first three
/// attempts with a 503, then takes it.
#[derive(Clone, Default)]
struct Receiver {
    secret: Arc<std::sync::Mutex<String>>,
    tries: Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>,
    /// (event id, type, lead id, lead version), in the order taken.
    taken: Arc<std::sync::Mutex<Vec<Taken>>>,
    forged: Arc<std::sync::atomic::AtomicU32>,
}

impl Receiver {
    fn signed(&self, header: &str, body: &[u8]) -> bool {
        use hmac::{KeyInit, Mac};
        let secret = self.secret.lock().unwrap().clone();
        let t = header
            .split(',')
            .find_map(|p| p.strip_prefix("t="))
            .unwrap_or_default();
        header.split(',').filter_map(|p| p.strip_prefix("v1=")).any(|v1| {
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
            mac.update(format!("{t}.").as_bytes());
            mac.update(body);
            hex::decode(v1).is_ok_and(|sig| mac.verify_slice(&sig).is_ok())
        })
    }

    async fn serve(self) -> String {
        use axum::http::HeaderMap;
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let me = self.clone();
                async move {
                    let sig = headers
                        .get("leadgate-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    if !me.signed(sig, &body) {
                        me.forged.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        return StatusCode::UNAUTHORIZED;
                    }
                    let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let id = event["id"].as_str().unwrap().to_owned();
                    let n = {
                        let mut tries = me.tries.lock().unwrap();
                        let n = tries.entry(id.clone()).or_default();
                        *n += 1;
                        *n
                    };
                    if n <= 3 {
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    me.taken.lock().unwrap().push((
                        id,
                        event["type"].as_str().unwrap().to_owned(),
                        event["data"]["lead"]["id"].as_str().unwrap().to_owned(),
                        event["data"]["lead"]["version"].as_u64().unwrap(),
                    ));
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/hook")
    }

    fn distinct(&self) -> usize {
        let taken = self.taken.lock().unwrap();
        taken
            .iter()
            .map(|t| &t.0)
            .collect::<std::collections::HashSet<_>>()
            .len()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_a_receiver_fails_and_the_gateway_is_killed_should_deliver_1000_events_in_lead_order() {
    use reqwest::Method;
    use serde_json::json;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let receiver = Receiver::default();
    let url = receiver.clone().serve().await;
    let args = [
        "--data-dir",
        data.to_str().unwrap(),
        "--allow-loopback-webhooks",
        "--webhook-poll-ms",
        "50",
        "--webhook-first-retry-secs",
        "0.05",
    ];
    let run = start_binary(&args, &[]);
    let key = std::fs::read_to_string(data.join("admin-key.txt"))
        .unwrap()
        .trim()
        .to_owned();
    let http = reqwest::Client::new();
    let base = run.base.clone();
    // Without the development switch a loopback URL is refused; this gateway has it.
    let (status, _, sub) = send(
        &http,
        Method::POST,
        &format!("{base}/v1/settings/webhooks"),
        &key,
        Some(json!({"url": url, "events": ["lead.created", "lead.updated", "lead.status_changed"]})),
    )
    .await;
    assert_eq!(status, 201, "{sub}");
    *receiver.secret.lock().unwrap() = sub["secret"].as_str().unwrap().to_owned();
    // 250 leads, each created, edited and moved: 1,000 events (the move is two types).
    let mut leads = Vec::new();
    for i in 0..250 {
        let (status, _, lead) = send(
            &http,
            Method::POST,
            &format!("{base}/v1/leads"),
            &key,
            Some(json!({"name": format!("Hook {i}"), "email": format!("hook{i}@example.com"), "source": "referral"})),
        )
        .await;
        assert_eq!(status, 201, "{lead}");
        leads.push(lead["id"].as_str().unwrap().to_owned());
    }
    for id in &leads {
        for body in [
            json!({"company": "Acme", "version": 1}),
            json!({"status": "contacted", "version": 2}),
        ] {
            let (status, _, l) = send(
                &http,
                Method::PATCH,
                &format!("{base}/v1/leads/{id}"),
                &key,
                Some(body),
            )
            .await;
            assert_eq!(status, 200, "{l}");
        }
    }
    // Killed mid-delivery, without a chance to finish anything, then started again.
    let started = std::time::Instant::now();
    while receiver.distinct() < 200 {
        assert!(started.elapsed() < Duration::from_secs(120), "no deliveries");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut child = run.child;
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = receiver.distinct();
    assert!(at_kill < 1000, "the kill came mid-delivery ({at_kill} of 1000)");
    let again = start_binary(&args, &[]);
    let started = std::time::Instant::now();
    while receiver.distinct() < 1000 {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "{} of 1000 events delivered",
            receiver.distinct()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let taken = receiver.taken.lock().unwrap().clone();
    assert_eq!(
        receiver.forged.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "every delivery was signed"
    );
    // A duplicate only ever repeats an event id, with the same content.
    let mut by_id: std::collections::HashMap<&str, (&str, &str, u64)> = Default::default();
    for (id, ty, lead, v) in &taken {
        let first = *by_id
            .entry(id.as_str())
            .or_insert((ty.as_str(), lead.as_str(), *v));
        assert_eq!(
            first,
            (ty.as_str(), lead.as_str(), *v),
            "{id} repeated with other content"
        );
    }
    assert_eq!(by_id.len(), 1000);
    // Per lead, the versions taken never go back.
    let mut last: std::collections::HashMap<&str, u64> = Default::default();
    for (_, ty, lead, v) in &taken {
        let prev = last.insert(lead.as_str(), *v).unwrap_or(0);
        assert!(*v >= prev, "{lead}: {ty} v{v} after v{prev}");
    }
    let refused_first = receiver.tries.lock().unwrap().values().all(|&n| n >= 4);
    assert!(refused_first, "each event was refused three times first");
    // The delivery log says the same.
    let sub_id = sub["id"].as_str().unwrap();
    let (_, _, page) = send(
        &http,
        Method::GET,
        &format!(
            "{}/v1/settings/webhooks/{sub_id}/deliveries?status=pending",
            again.base
        ),
        &key,
        None,
    )
    .await;
    assert_eq!(page["items"], json!([]), "nothing left pending: {page}");
    again.interrupt_and_wait();
}

/// The README's verification snippets (Python and Node.js), run as a subscriber runs them:
/// they accept what the gateway signs (one secret, or either of two during a rotation) and
/// refuse a changed body, another secret and a stale timestamp.
#[test]
fn when_the_readme_snippets_verify_deliveries_should_accept_ours_and_refuse_forgeries() {
    use leadgate_core::domain::signature::timestamped_header;
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = |lang: &str, marker: &str| -> String {
        readme
            .split(&format!("```{lang}\n"))
            .skip(1)
            .map(|rest| rest.split("```").next().unwrap())
            .find(|code| code.contains(marker))
            .unwrap_or_else(|| panic!("README has a {lang} block with {marker}"))
            .to_owned()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let body = r#"{"id":"evt_1","type":"lead.created","data":{"lead":{"name":"Zoë"}}}"#;
    let one = timestamped_header(&["whsec_one"], now, body.as_bytes());
    let two = timestamped_header(&["whsec_new", "whsec_old"], now, body.as_bytes());
    let stale = timestamped_header(&["whsec_one"], now - 600, body.as_bytes());
    let cases = [
        ("whsec_one", one.as_str(), body, true),
        ("whsec_old", two.as_str(), body, true),
        ("whsec_new", two.as_str(), body, true),
        (
            "whsec_one",
            one.as_str(),
            &body.replace("Zoë", "Zoe") as &str,
            false,
        ),
        ("whsec_two", one.as_str(), body, false),
        ("whsec_one", stale.as_str(), body, false),
    ];
    let dir = tempfile::tempdir().unwrap();
    let runners = [
        (
            "python3",
            "verify.py",
            block("python", "def verify(")
                + "\nimport sys\nsys.exit(0 if verify(sys.argv[1], sys.argv[2], sys.argv[3].encode()) else 1)\n",
        ),
        (
            "node",
            "verify.js",
            block("js", "function verify(")
                + "\nconst [s, h, b] = process.argv.slice(2);\nprocess.exit(verify(s, h, Buffer.from(b)) ? 0 : 1);\n",
        ),
    ];
    for (program, file, script) in runners {
        let path = dir.path().join(file);
        std::fs::write(&path, script).unwrap();
        for (secret, header, body, ok) in cases {
            let status = Command::new(program)
                .arg(&path)
                .args([secret, header, body])
                .status()
                .unwrap_or_else(|e| panic!("{program} runs: {e}"));
            assert_eq!(status.success(), ok, "{program}: {secret} {header} {body}");
        }
    }
}

/// `cargo tree` of the workspace's default members (what `cargo run --release` builds), normal
/// and build edges only, inverted on one crate: the lines that pull it in.
fn default_build_pulls_in(krate: &str, features: &[&str]) -> String {
    let out = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "--offline",
            "--locked",
            "-e",
            "normal,build",
            "--prefix=none",
            "-i",
        ])
        .arg(krate)
        .args(features.iter().flat_map(|f| ["--features", *f]))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo tree failed: {err}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn when_the_gateway_is_built_without_features_should_compile_no_aws_sdk() {
    // The SDK is most of a first `cargo run --release`, and the embedded default needs none
    // of it: only `--features aws` (and the Lambda binaries) bring it in.
    for sdk in ["aws-sdk-dynamodb", "aws-sdk-s3", "aws-config"] {
        let pulled = default_build_pulls_in(sdk, &[]);
        assert_eq!(pulled, "", "{sdk} is in the default build");
        assert!(
            default_build_pulls_in(sdk, &["aws"]).contains("leadgate-core"),
            "{sdk} should come with --features aws"
        );
    }
}
