//! Lambda entry point of the API: config and adapters are built once per cold start.

use leadgate_api::{ApiState, lambda_router};
use leadgate_core::adapters::platform_http::PlatformClient;
use leadgate_core::lambda::AwsAdapters;
use leadgate_core::ports::clock::SystemClock;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    // Honours AWS_LAMBDA_LOG_LEVEL (then RUST_LOG) and AWS_LAMBDA_LOG_FORMAT=JSON.
    lambda_http::tracing::init_default_subscriber();
    let aws = AwsAdapters::from_env().await?;
    let state = ApiState {
        store: aws.store,
        blobs: aws.blobs,
        clock: Arc::new(SystemClock),
        fetcher: Arc::new(PlatformClient::new()),
    };
    lambda_http::run(lambda_router(state)).await
}
