//! Lambda entry point of bulk import, triggered by S3 ObjectCreated on `imports/`.

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{LambdaEvent, service_fn};
use leadgate_core::adapters::dynamo::DynamoStore;
use leadgate_core::adapters::s3_blob::S3BlobStore;
use leadgate_core::config::{DynamoConfig, S3Config};
use leadgate_core::ports::clock::SystemClock;
use leadgate_import::{ImportDeps, handle_s3_event};
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
    let deps = ImportDeps {
        store: Arc::new(DynamoStore::connect(&dynamo).await?),
        blobs: Arc::new(S3BlobStore::connect(&s3).await),
        clock: Arc::new(SystemClock),
        scratch: std::env::temp_dir().join("leadgate-import"),
    };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<S3Event>| async move {
        // The invocation's deadline (epoch ms) as an Instant, so a long import pauses in time.
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let left = std::time::Duration::from_millis(event.context.deadline.saturating_sub(now_ms));
        let deadline = std::time::Instant::now() + left;
        handle_s3_event(deps, event.payload, Some(deadline))
            .await
            .map(|r| r.len())
    }))
    .await
}
