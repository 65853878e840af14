//! Import jobs over HTTP (a real upload to the presigned URL, then the watched-folder scan),
//! the template in CSV and XLSX, and the S3 ObjectCreated event through the Lambda handler.

use aws_lambda_events::event::s3::S3Event;
use leadgate_api::ApiState;
use leadgate_core::adapters::local_blob::LocalBlobStore;
use leadgate_core::adapters::platform_http::PlatformClient;
use leadgate_core::adapters::sqlite::SqliteStore;
use leadgate_core::config::LocalBlobConfig;
use leadgate_core::domain::TenantId;
use leadgate_core::domain::tenant::Role;
use leadgate_core::ports::blob::{BlobKey, BlobStore};
use leadgate_core::ports::clock::SystemClock;
use leadgate_core::ports::store::LeadStore;
use leadgate_core::secret::Secret;
use leadgate_core::services::api_keys::{NewKey, create_api_key};
use leadgate_core::services::imports::ObjectImport;
use leadgate_core::services::tenants;
use leadgate_import::{ImportDeps, decode_s3_key, handle_s3_event, scan_once};
use serde_json::{Value, json};
use std::sync::Arc;

struct Env {
    base: String,
    http: reqwest::Client,
    key: String,
    deps: ImportDeps,
    _dir: tempfile::TempDir,
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
    let state = ApiState {
        store: store.clone(),
        blobs: blobs.clone(),
        clock: Arc::new(SystemClock),
        fetcher: Arc::new(PlatformClient::new()),
    };
    let app = leadgate_api::router(state).merge(local.router());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let deps = ImportDeps {
        store,
        blobs,
        clock: Arc::new(SystemClock),
        scratch: dir.path().join("tmp"),
    };
    Env {
        base,
        http: reqwest::Client::new(),
        key: key.expose().to_owned(),
        deps,
        _dir: dir,
    }
}

impl Env {
    /// One API call with the admin key: status and JSON body.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Creates an import job, uploads `file` to its URL, runs one folder scan (which must
    /// import it) and returns the job as the API then shows it.
    async fn import_through_job(&self, job: Value, file: impl Into<reqwest::Body>) -> Value {
        let created: Value = self
            .http
            .post(format!("{}/v1/imports", self.base))
            .bearer_auth(&self.key)
            .json(&job)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let put = self
            .http
            .put(created["upload_url"].as_str().unwrap())
            .body(file)
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success());
        assert_eq!(scan_once(&self.deps).await.unwrap(), 1);
        let id = created["job"]["id"].as_str().unwrap();
        self.get(&format!("/v1/imports/{id}")).await.json().await.unwrap()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn when_a_job_file_is_uploaded_should_import_with_the_job_options_and_report() {
    let e = env().await;
    let res = e
        .http
        .post(format!("{}/v1/imports", e.base))
        .bearer_auth(&e.key)
        .json(&json!({"filename": "q4 leads.csv", "options": {"mode": "valid_rows", "duplicates": "skip", "default_source": "Referral"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["job"]["status"], "awaiting_upload");
    // The response says how to upload: a plain PUT, no header required.
    assert_eq!(created["upload_method"], "PUT");
    assert_eq!(created["upload_headers"], json!({}));
    let id = created["job"]["id"].as_str().unwrap().to_owned();
    let csv = "Name,Email,Phone\nAmy Able,amy@able.example,+1 415 555 0111\nBad Row,nope,\n";
    let put = e
        .http
        .put(created["upload_url"].as_str().unwrap())
        .body(csv)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    assert_eq!(scan_once(&e.deps).await.unwrap(), 1);
    assert_eq!(
        scan_once(&e.deps).await.unwrap(),
        0,
        "a second scan imports nothing"
    );
    let job: Value = e.get(&format!("/v1/imports/{id}")).await.json().await.unwrap();
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(
        (
            job["report"]["created"].as_u64(),
            job["report"]["error_rows"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let jobs: Value = e.get("/v1/imports").await.json().await.unwrap();
    assert_eq!(jobs[0]["id"], id.as_str());
    let bad = e
        .http
        .post(format!("{}/v1/imports", e.base))
        .bearer_auth(&e.key)
        .json(&json!({"filename": "../x.csv"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 422);
}

#[tokio::test]
async fn when_the_template_is_downloaded_should_list_columns_and_valid_values_and_reimport() {
    let e = env().await;
    let csv = e
        .get("/v1/imports/template?format=csv")
        .await
        .text()
        .await
        .unwrap();
    // The valid values come first, as a title row the import skips; then the header and an
    // example row.
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("Valid values") && lines[0].contains("one of: new | contacted"),
        "{csv}"
    );
    assert!(lines[1].starts_with("Name,Email,Phone,Mobile,Company"), "{csv}");
    assert!(lines[2].starts_with("Jane Example,jane@example.com"), "{csv}");
    assert!(csv.contains("Lead Source") && csv.contains("Lead Status") && csv.contains("Owner"));
    let xlsx = e
        .get("/v1/imports/template?format=xlsx")
        .await
        .bytes()
        .await
        .unwrap();
    use calamine::Reader;
    let mut wb = calamine::Xlsx::new(std::io::Cursor::new(xlsx.to_vec())).unwrap();
    let values = wb.worksheet_range("Valid values").unwrap();
    let cells: Vec<String> = values.cells().map(|(_, _, c)| c.to_string()).collect();
    assert!(cells.contains(&"Lead Source".to_string()) && cells.contains(&"Website form".to_string()));
    assert!(cells.contains(&"qualified".to_string()) && !cells.contains(&"converted".to_string()));
    // The template, filled in, imports with every column recognized.
    // The example row replaced by a real one.
    let filled = format!(
        "{}\n{}\nZoe Zed,zoe@zed.example,,,,,,,,,,,,,Referral,new,,vip;expo\n",
        lines[0], lines[1]
    );
    let key = BlobKey::parse("imports/acme/filled.csv").unwrap();
    e.deps
        .blobs
        .put(&key, bytes::Bytes::from(filled), "text/csv")
        .await
        .unwrap();
    assert_eq!(scan_once(&e.deps).await.unwrap(), 1);
    let leads = e
        .deps
        .store
        .list_leads(&TenantId::parse("acme").unwrap(), &Default::default())
        .await
        .unwrap()
        .items;
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].tags.len(), 2);
    assert_eq!(
        e.get("/v1/imports/template?format=pdf").await.status().as_u16(),
        400
    );
}

#[tokio::test]
async fn when_s3_reports_a_new_object_should_import_it_once() {
    let e = env().await;
    // The fixture describes the sample beside it as S3 reports it: its size, and its MD5 as
    // the ETag of a single-part upload.
    let sample = std::fs::read(format!(
        "{}/../../events/s3-import-created.csv",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let key = BlobKey::parse("imports/acme/weekly leads (Q4).csv").unwrap();
    e.deps
        .blobs
        .put(&key, bytes::Bytes::from(sample.clone()), "text/csv")
        .await
        .unwrap();
    let path = format!(
        "{}/../../events/s3-import-created.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    let event: S3Event = serde_json::from_str(&text).unwrap();
    let object = &event.records[0].s3.object;
    assert_eq!(object.size, Some(sample.len() as i64));
    assert_eq!(object.e_tag.as_deref(), Some(md5_hex(&sample).as_str()));
    assert_eq!(
        decode_s3_key(event.records[0].s3.object.key.as_deref().unwrap()),
        "imports/acme/weekly leads (Q4).csv"
    );
    let first = handle_s3_event(&e.deps, event.clone(), None).await.unwrap();
    assert!(matches!(first.as_slice(), [ObjectImport::Done(r)] if r.created == 1));
    let again = handle_s3_event(&e.deps, event, None).await.unwrap();
    assert!(matches!(again.as_slice(), [ObjectImport::AlreadyHandled]));
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn s3_event_for(key: &str, etag: &str) -> S3Event {
    let path = format!(
        "{}/../../events/s3-import-created.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    let mut event: S3Event = serde_json::from_str(&text).unwrap();
    event.records[0].s3.object.key = Some(key.to_owned());
    event.records[0].s3.object.e_tag = Some(etag.to_owned());
    event
}

#[tokio::test]
async fn when_an_import_nears_the_lambda_deadline_should_pause_and_continue_from_a_marker() {
    let e = env().await;
    let mut file = String::from("Name,Email,Lead Source\n");
    for i in 0..6_000 {
        file.push_str(&format!("Row {i},row{i}@deadline.example,Partner\n"));
    }
    let key = BlobKey::parse("imports/acme/big.csv").unwrap();
    let meta = e
        .deps
        .blobs
        .put(&key, bytes::Bytes::from(file), "text/csv")
        .await
        .unwrap();
    // An invocation with no time left past the margin stops at its first checkpoint.
    let deadline = std::time::Instant::now() + leadgate_import::DEADLINE_MARGIN;
    let first = handle_s3_event(
        &e.deps,
        s3_event_for("imports/acme/big.csv", &meta.etag),
        Some(deadline),
    )
    .await
    .unwrap();
    assert!(
        matches!(first.as_slice(), [ObjectImport::Paused { rows_done }] if *rows_done > 0),
        "{first:?}"
    );
    let markers = e
        .deps
        .blobs
        .list(leadgate_import::CONTINUE_PREFIX, None, 10)
        .await
        .unwrap()
        .items;
    assert_eq!(markers.len(), 1, "{markers:?}");
    assert!(markers[0].key.as_str().starts_with("imports-continue/acme/"));
    // The marker's own ObjectCreated event goes on to the end.
    let next = handle_s3_event(&e.deps, s3_event_for(markers[0].key.as_str(), "m"), None)
        .await
        .unwrap();
    assert!(
        matches!(next.as_slice(), [ObjectImport::Done(r)] if r.created == 6_000 && r.rows == 6_000),
        "{next:?}"
    );
    let again = handle_s3_event(&e.deps, s3_event_for("imports/acme/big.csv", &meta.etag), None)
        .await
        .unwrap();
    assert!(matches!(again.as_slice(), [ObjectImport::AlreadyHandled]));
}

#[tokio::test]
async fn when_a_marker_points_into_another_tenant_should_refuse_it() {
    let e = env().await;
    let marker = BlobKey::parse("imports-continue/acme/forged.json").unwrap();
    e.deps
        .blobs
        .put(
            &marker,
            bytes::Bytes::from_static(br#"{"key":"imports/globex/theirs.csv","etag":"x"}"#),
            "application/json",
        )
        .await
        .unwrap();
    let err = handle_s3_event(&e.deps, s3_event_for(marker.as_str(), "m"), None)
        .await
        .unwrap_err();
    assert!(err.contains("outside its tenant"), "{err}");
}

/// An unreadable file that had to be transcoded (UTF-16 with a header and no rows, as Excel's
/// "Unicode text" export of an empty sheet is) used to leave `tmp/{job}.utf8.csv` behind.
#[tokio::test]
async fn when_a_transcoded_file_is_unreadable_should_leave_no_scratch_file() {
    let e = env().await;
    let mut utf16 = vec![0xFF, 0xFE];
    for u in "Name\tEmail\tLead Source\r\n".encode_utf16() {
        utf16.extend(u.to_le_bytes());
    }
    let job = e
        .import_through_job(json!({"filename": "empty.txt"}), utf16)
        .await;
    assert_eq!(job["report"]["outcome"], "unreadable", "{job}");
    let left: Vec<String> = std::fs::read_dir(&e.deps.scratch)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|f| f.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".utf8.csv"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "scratch files left: {left:?}");
}

/// Ragged rows, as real exports have them: short rows, cells past the header (some empty, as
/// XLSX rows carry), next to an invalid row. The errors report used to be written with a
/// strict CSV writer, so such a file ended "storage failed" with the job stuck `running`.
#[tokio::test]
async fn when_rows_are_ragged_should_read_each_against_the_header_and_report() {
    let e = env().await;
    let csv = "Name,Email,Phone\n\
               Short Sam,sam@ragged.example\n\
               Trailing Tia,tia@ragged.example,,,,\n\
               Extra Ed,ed@ragged.example,+1 415 555 0199,surprise,more\n\
               Bad Bo,not-an-email\n";
    let job = e
        .import_through_job(
            json!({"filename": "ragged.csv", "options": {"mode": "valid_rows", "default_source": "Referral"}}),
            csv,
        )
        .await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(
        (
            job["report"]["created"].as_u64(),
            job["report"]["error_rows"].as_u64()
        ),
        (Some(2), Some(2)),
        "{job}"
    );
    let key = BlobKey::parse(job["report"]["errors_csv"].as_str().unwrap()).unwrap();
    let mut reader = e.deps.blobs.get(&key).await.unwrap();
    let mut text = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut reader, &mut text)
        .await
        .unwrap();
    let mut r = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header = r.headers().unwrap().clone();
    assert_eq!(
        header.iter().collect::<Vec<_>>(),
        ["Name", "Email", "Phone", "line", "column", "reason"]
    );
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    assert!(rows.iter().all(|row| row.len() == 6), "{text}");
    let reasons: Vec<(&str, &str)> = rows.iter().map(|row| (&row[3], &row[4])).collect();
    assert!(reasons.contains(&("4", "extra_cells")), "{text}");
    assert!(reasons.contains(&("5", "email")), "{text}");
}

/// One badly named file (macOS's `Icon\r`, a `.lg-` name, a backslash) used to make every
/// scan of the folder fail, so nothing else was imported until it was removed.
#[tokio::test]
async fn when_a_file_in_the_folder_has_an_odd_name_the_others_should_still_import() {
    let e = env().await;
    let folder = e._dir.path().join("bucket/imports/acme");
    std::fs::create_dir_all(&folder).unwrap();
    for odd in ["Icon\r", ".lg-notes", "back\\slash.csv"] {
        std::fs::write(folder.join(odd), "Name,Email\nOdd,odd@x.example\n").unwrap();
    }
    std::fs::write(
        folder.join("good.csv"),
        "Name,Email,Lead Source\nGood Gail,gail@good.example,Referral\n",
    )
    .unwrap();
    assert_eq!(scan_once(&e.deps).await.unwrap(), 1, "the good file is imported");
    let leads: Value = e.get("/v1/leads").await.json().await.unwrap();
    let names: Vec<&str> = leads["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Good Gail"]);
}

/// A file dropped into the folder is a job like one created through the API: listed, with
/// who made it (`bucket`), its state and its report.
#[tokio::test]
async fn when_a_file_is_dropped_into_the_folder_should_list_it_as_a_job() {
    let e = env().await;
    let folder = e._dir.path().join("bucket/imports/acme");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("dropped.csv"),
        "Name,Email,Lead Source\nDrop Dana,dana@drop.example,Referral\nNo Email,,Referral\n",
    )
    .unwrap();
    assert_eq!(scan_once(&e.deps).await.unwrap(), 1);
    let jobs: Value = e.get("/v1/imports").await.json().await.unwrap();
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = &jobs[0];
    assert_eq!(job["created_by"], "bucket");
    assert_eq!(job["filename"], "dropped.csv");
    assert_eq!(job["key"], "imports/acme/dropped.csv");
    // all_or_nothing by default, and one row has no contact: rejected, with the counts.
    assert_eq!(job["status"], "rejected", "{job}");
    assert_eq!(job["report"]["error_rows"], 1);
    let one: Value = e
        .get(&format!("/v1/imports/{}", job["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(&one, job);
    // Undo over HTTP: the job ends undone (nothing was saved, so nothing to remove); a
    // second undo is a conflict.
    let undo = |path: String| {
        e.http
            .delete(format!("{}{path}", e.base))
            .bearer_auth(&e.key)
            .send()
    };
    let path = format!("/v1/imports/{}", job["id"].as_str().unwrap());
    let first = undo(path.clone()).await.unwrap();
    assert_eq!(first.status(), 200);
    let undone: Value = first.json().await.unwrap();
    assert_eq!(undone["status"], "undone");
    assert_eq!(undone["undo"]["deleted"], 0);
    assert_eq!(undo(path).await.unwrap().status(), 409);
}

/// On AWS an uploaded attachment reaches the lead's timeline through the bucket's
/// ObjectCreated event: the handler records it with the event's size, once per delivery.
#[tokio::test]
async fn when_the_bucket_reports_an_attachment_should_put_it_on_the_timeline_once() {
    let e = env().await;
    let (status, lead) = e
        .call(
            reqwest::Method::POST,
            "/v1/leads",
            Some(json!({"name": "Ada Attach", "email": "ada@attach.example", "source": "referral"})),
        )
        .await;
    assert_eq!(status, 201, "{lead}");
    let id = lead["id"].as_str().unwrap();
    let (status, up) = e
        .call(
            reqwest::Method::POST,
            &format!("/v1/leads/{id}/attachments"),
            Some(json!({"filename": "spec.pdf", "content_type": "application/pdf", "size": 2048})),
        )
        .await;
    assert_eq!(status, 201, "{up}");
    let key = format!("attachments/acme/{id}/{}/spec.pdf", up["id"].as_str().unwrap());
    let mut event = s3_event_for(&key, "etag-1");
    event.records[0].s3.object.size = Some(2048);
    handle_s3_event(&e.deps, event.clone(), None).await.unwrap();
    handle_s3_event(&e.deps, event, None).await.unwrap();
    let (_, timeline) = e
        .call(reqwest::Method::GET, &format!("/v1/leads/{id}/activities"), None)
        .await;
    let files: Vec<&Value> = timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "attachment")
        .collect();
    assert_eq!(files.len(), 1, "{timeline}");
    assert_eq!(
        (&files[0]["size"], &files[0]["content_type"]),
        (&json!(2048), &json!("application/pdf"))
    );
}
