//! Lambda entry point of notify: the table's stream (outbox entries) and a minute schedule.

use lambda_runtime::{LambdaEvent, service_fn};
use leadgate_core::adapters::webhook_http::WebhookClient;
use leadgate_core::domain::webhook::RetryPolicy;
use leadgate_core::domain::webhook_target::TargetPolicy;
use leadgate_core::lambda::AwsAdapters;
use leadgate_core::ports::clock::SystemClock;
use leadgate_core::services::webhook_delivery::Dispatcher;
use leadgate_notify::{NotifyEvent, handle};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let aws = AwsAdapters::from_env().await?;
    let dispatcher = Dispatcher {
        store: aws.store,
        // A deployed stack delivers to public HTTPS addresses only.
        sender: Arc::new(WebhookClient::new(TargetPolicy::PublicHttps)),
        clock: Arc::new(SystemClock),
        retry: RetryPolicy::default(),
    };
    let d = &dispatcher;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<NotifyEvent>| async move {
        let r = handle(d, event).await?;
        tracing::info!(
            fanned_out = r.fanned_out,
            attempted = r.attempted,
            delivered = r.delivered,
            failed = r.failed,
            "webhook pass"
        );
        Ok::<_, String>(r.delivered)
    }))
    .await
}
