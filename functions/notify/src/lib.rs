//! The notify function: outbound webhooks on AWS. The table's stream, filtered to new outbox
//! entries, names the tenants with something to send; a schedule every minute sends the
//! retries that have come due for every tenant. Both run `services::webhook_delivery`, the
//! code the gateway's worker runs on one machine.

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use leadgate_core::adapters::dynamo_keys::record_pk_tenant;
use leadgate_core::domain::TenantId;
use leadgate_core::ports::store::kinds;
use leadgate_core::services::webhook_delivery::{Dispatcher, PassReport};
use std::collections::BTreeSet;

/// What invokes the function.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
pub enum NotifyEvent {
    /// New outbox entries (the event source mapping's filter lets only those through).
    Stream(StreamEvent),
    /// The minute schedule: every tenant's due retries.
    Schedule(EventBridgeEvent),
    /// Anything else (an invocation by hand, a schedule with another payload): a pass over
    /// every tenant, as the schedule's.
    Other(serde_json::Value),
}

/// The tenants a stream batch names, once each.
pub fn tenants_of(event: &StreamEvent) -> BTreeSet<TenantId> {
    event
        .records
        .iter()
        .filter_map(|r| match r.change.keys.get("pk") {
            Some(serde_dynamo::AttributeValue::S(pk)) => record_pk_tenant(pk, kinds::OUTBOX),
            _ => None,
        })
        .collect()
}

/// Runs one invocation. An error fails the batch, so Lambda retries it (and, on the stream,
/// bisects it, then sends it to the dead-letter queue): the outbox entries stay in the
/// table either way, so the next pass sends them.
pub async fn handle(d: &Dispatcher, event: LambdaEvent<NotifyEvent>) -> Result<PassReport, String> {
    match event.payload {
        NotifyEvent::Stream(s) => {
            let mut total = PassReport::default();
            for t in tenants_of(&s) {
                let r = d.tenant_pass(&t).await.map_err(|e| format!("{t}: {e}"))?;
                total.fanned_out += r.fanned_out;
                total.attempted += r.attempted;
                total.delivered += r.delivered;
                total.failed += r.failed;
                total.cut_short |= r.cut_short;
            }
            Ok(total)
        }
        NotifyEvent::Schedule(_) | NotifyEvent::Other(_) => d.pass().await.map_err(|e| e.to_string()),
    }
}
