//! Lambda entry point of export, triggered by S3 ObjectCreated on `exports/requests/` and
//! `bulk-edits/requests/`.

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::{LambdaEvent, service_fn};
use leadgate_core::lambda::AwsAdapters;
use leadgate_core::ports::clock::SystemClock;
use leadgate_export::{ExportDeps, handle_s3_event};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // Honours AWS_LAMBDA_LOG_LEVEL (then RUST_LOG) and AWS_LAMBDA_LOG_FORMAT=JSON.
    lambda_runtime::tracing::init_default_subscriber();
    let aws = AwsAdapters::from_env().await?;
    let deps = ExportDeps {
        store: aws.store,
        blobs: aws.blobs,
        clock: Arc::new(SystemClock),
        scratch: std::env::temp_dir().join("leadgate-export"),
    };
    let deps = &deps;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<S3Event>| async move {
        // So a long bulk edit pauses in time.
        let deadline = leadgate_core::lambda::deadline_instant(event.context.deadline());
        handle_s3_event(deps, event.payload, Some(deadline))
            .await
            .map(|r| r.len())
    }))
    .await
}
