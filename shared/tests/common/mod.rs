//! Backends for the contract suites: SQLite and a local folder always; DynamoDB Local and the
//! S3 emulator when `scripts/test` has started them and exported their endpoints.
//!
//! A service test never passes silently: without its endpoint it fails, unless the run
//! explicitly opts out with `LEADGATE_SKIP_SERVICE_TESTS=1`, and then it prints that it skipped.

#![allow(dead_code)]

pub mod faults;

use leadgate_core::adapters::dynamo::DynamoStore;
use leadgate_core::adapters::local_blob::LocalBlobStore;
use leadgate_core::adapters::s3_blob::S3BlobStore;
use leadgate_core::adapters::sqlite::SqliteStore;
use leadgate_core::config::LocalBlobConfig;
use leadgate_core::domain::TenantId;
use leadgate_core::domain::tenant::Tenant;
use leadgate_core::import::ImportOptions;
use leadgate_core::ports::blob::{BlobKey, BlobStore};
use leadgate_core::ports::clock::SystemClock;
use leadgate_core::ports::store::LeadStore;
use leadgate_core::secret::Secret;
use leadgate_core::services::imports::pipeline::{Budget, ImportReport};
use leadgate_core::services::imports::{ObjectImport, import_object};
use std::sync::Arc;

pub const DYNAMO_ENV: &str = "LEADGATE_TEST_DYNAMODB_ENDPOINT";
pub const S3_ENV: &str = "LEADGATE_TEST_S3_ENDPOINT";

/// The service endpoint, or `None` when the run opted out of service tests.
pub fn service_endpoint(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var("LEADGATE_SKIP_SERVICE_TESTS").as_deref() == Ok("1") => {
            eprintln!("SKIPPED: {var} is not set and LEADGATE_SKIP_SERVICE_TESTS=1");
            None
        }
        _ => panic!(
            "{var} is not set: this test needs its service. Run scripts/test, which starts it, \
             or set LEADGATE_SKIP_SERVICE_TESTS=1 to skip service tests knowingly."
        ),
    }
}

/// Puts `body` at `imports/{tenant}/{name}` and imports it in one run.
pub async fn import_at_once(
    store: &dyn LeadStore,
    blobs: &dyn BlobStore,
    tenant: &Tenant,
    scratch: &std::path::Path,
    name: &str,
    body: Vec<u8>,
    options: ImportOptions,
) -> ImportReport {
    let key = BlobKey::parse(&format!("imports/{}/{name}", tenant.id)).unwrap();
    let meta = blobs
        .put(&key, bytes::Bytes::from(body), "application/octet-stream")
        .await
        .unwrap();
    match import_object(
        store,
        blobs,
        &SystemClock,
        &key,
        &meta.etag,
        options,
        scratch,
        Budget::UNLIMITED,
    )
    .await
    .unwrap()
    {
        ObjectImport::Done(r) => *r,
        other => panic!("a new object is imported at once, got {other:?}"),
    }
}

pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

pub fn tenant(prefix: &str) -> TenantId {
    TenantId::parse(&unique(prefix)).unwrap()
}

/// A SQLite store in a file, as the gateway runs it: writes through the writer thread, reads
/// through the reader connections. The files stay under cargo's scratch dir for this target.
pub fn sqlite_store() -> Option<Arc<dyn LeadStore>> {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sqlite-contract");
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| remove_older_than_an_hour(&dir));
    let path = dir.join(format!("{}.db", unique("store")));
    Some(Arc::new(SqliteStore::open(&path).unwrap()))
}

/// Earlier runs' databases; an hour leaves any run still going alone.
fn remove_older_than_an_hour(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let hour = std::time::Duration::from_secs(3600);
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > hour));
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn test_credentials() -> aws_sdk_dynamodb::config::Credentials {
    aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "leadgate-tests")
}

/// A fresh table on DynamoDB Local, created from the code's table definition.
pub async fn dynamo_store() -> Option<Arc<dyn LeadStore>> {
    let endpoint = service_endpoint(DYNAMO_ENV)?;
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(test_credentials())
        .build();
    let store = DynamoStore::from_client(aws_sdk_dynamodb::Client::from_conf(conf), unique("leads"), 4);
    store
        .ensure_table()
        .await
        .expect("create table on DynamoDB Local");
    Some(Arc::new(store))
}

/// A local blob folder with its presigned-URL routes served on an ephemeral loopback port.
pub async fn local_blobs() -> Option<(Arc<dyn BlobStore>, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store = Arc::new(
        LocalBlobStore::open(LocalBlobConfig {
            root: dir.path().join("bucket"),
            public_url: format!("http://{addr}"),
            signing_key: Secret::new("test-signing-key-0123456789abcdef"),
        })
        .unwrap(),
    );
    let router = store.clone().router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    Some((store, dir))
}

/// A fresh bucket on the S3 emulator.
pub async fn s3_blobs() -> Option<(Arc<dyn BlobStore>, ())> {
    let endpoint = service_endpoint(S3_ENV)?;
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test",
            "test",
            None,
            None,
            "leadgate-tests",
        ))
        .force_path_style(true)
        .build();
    let client = aws_sdk_s3::Client::from_conf(conf);
    let bucket = unique("bucket");
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create bucket on the S3 emulator");
    Some((Arc::new(S3BlobStore::from_client(client, bucket)), ()))
}

/// Runs each `case(store, blobs)` of a test file as a test on SQLite + a local folder and on
/// DynamoDB Local + moto's S3 (modules `sqlite_folder` and `dynamodb_s3`): one contract, both
/// backends.
#[macro_export]
macro_rules! store_and_bucket_cases {
    ($($name:ident => $case:ident),* $(,)?) => {
        $crate::store_and_bucket_cases!(@on sqlite_folder, async { common::sqlite_store() },
            common::local_blobs(), $($name => $case),*);
        $crate::store_and_bucket_cases!(@on dynamodb_s3, common::dynamo_store(),
            common::s3_blobs(), $($name => $case),*);
    };
    (@on $backend:ident, $store:expr, $blobs:expr, $($name:ident => $case:ident),*) => {
        mod $backend {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let (Some(store), Some((blobs, _guard))) = ($store.await, $blobs.await) else {
                        return;
                    };
                    $case(store, blobs).await;
                }
            )*
        }
    };
}
