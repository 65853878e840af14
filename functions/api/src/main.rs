//! Lambda entry point of the API: config and adapters are built once per cold start.

use leadgate_api::lambda_router;
use leadgate_core::lambda::AwsAdapters;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    // Honours AWS_LAMBDA_LOG_LEVEL (then RUST_LOG) and AWS_LAMBDA_LOG_FORMAT=JSON.
    lambda_http::tracing::init_default_subscriber();
    let ports = AwsAdapters::from_env().await?.into_ports();
    lambda_http::run(lambda_router(ports)).await
}
