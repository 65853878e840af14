//! Lambda entry point of the API: config and adapters are built once per cold start.

use leadgate_api::{ApiState, lambda_router};
use leadgate_core::adapters::dynamo::DynamoStore;
use leadgate_core::adapters::platform_http::PlatformClient;
use leadgate_core::adapters::s3_blob::S3BlobStore;
use leadgate_core::config::{DynamoConfig, S3Config};
use leadgate_core::ports::clock::SystemClock;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_target(false)
        .without_time()
        .init();
    let dynamo = DynamoConfig::from_env().map_err(|e| format!("configuration: {e}"))?;
    let s3 = S3Config::from_env().map_err(|e| format!("configuration: {e}"))?;
    let state = ApiState {
        store: Arc::new(DynamoStore::connect(&dynamo).await?),
        blobs: Arc::new(S3BlobStore::connect(&s3).await),
        clock: Arc::new(SystemClock),
        fetcher: Arc::new(PlatformClient::new()),
    };
    lambda_http::run(lambda_router(state)).await
}
