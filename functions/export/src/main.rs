//! Lambda entry point of export, triggered by S3 ObjectCreated on `exports/requests/`.

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{LambdaEvent, service_fn};
use leadgate_core::adapters::dynamo::DynamoStore;
use leadgate_core::adapters::s3_blob::S3BlobStore;
use leadgate_core::config::{DynamoConfig, S3Config};
use leadgate_core::ports::clock::SystemClock;
use leadgate_export::{ExportDeps, handle_s3_event};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_target(false)
        .without_time()
        .init();
    let dynamo = DynamoConfig::from_env().map_err(|e| format!("configuration: {e}"))?;
    let s3 = S3Config::from_env().map_err(|e| format!("configuration: {e}"))?;
    let deps = ExportDeps {
        store: Arc::new(DynamoStore::connect(&dynamo).await?),
        blobs: Arc::new(S3BlobStore::connect(&s3).await),
        clock: Arc::new(SystemClock),
        scratch: std::env::temp_dir().join("leadgate-export"),
    };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<S3Event>| async move {
        handle_s3_event(deps, event.payload).await.map(|r| r.len())
    }))
    .await
}
