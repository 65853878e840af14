//! The `events/` fixtures of the notify function (a DynamoDB stream batch of outbox inserts,
//! the minute schedule), parsed as `lambda_runtime` parses them and handled against DynamoDB
//! Local: the stream sends the named tenant's new events, the schedule sends due retries.

use lambda_runtime::{Context, LambdaEvent};
use leadgate_core::domain::LeadId;
use leadgate_core::domain::webhook::RetryPolicy;
use leadgate_core::domain::webhook_target::TargetPolicy;
use leadgate_core::ports::clock::SystemClock;
use leadgate_core::ports::store::{LeadStore, kinds};
use leadgate_core::ports::webhook::{Answer, Outbound, WebhookSender};
use leadgate_core::services::webhook_delivery::Dispatcher;
use leadgate_core::services::webhooks::{self, SubscriptionInput};
use leadgate_core::services::{leads, tenants};
use leadgate_notify::{NotifyEvent, handle, tenants_of};
use std::sync::{Arc, Mutex};

/// Refuses the first delivery, takes the rest; keeps the event types taken.
#[derive(Default)]
struct Receiver {
    calls: Mutex<u32>,
    taken: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl WebhookSender for Receiver {
    fn policy(&self) -> TargetPolicy {
        TargetPolicy::PublicHttps
    }

    async fn send(&self, req: Outbound<'_>) -> Answer {
        let n = {
            let mut c = self.calls.lock().unwrap();
            *c += 1;
            *c
        };
        if n > 1 {
            self.taken.lock().unwrap().push(req.event_type.to_owned());
        }
        Answer {
            status: Some(if n == 1 { 500 } else { 200 }),
            latency_ms: 1,
            error: None,
            excerpt: None,
        }
    }
}

fn fixture(name: &str, tenant: &str) -> NotifyEvent {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .replace("{{tenant}}", tenant);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not a notify event: {e}"))
}

async fn dynamo_store() -> Arc<dyn LeadStore> {
    let endpoint = std::env::var("LEADGATE_TEST_DYNAMODB_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
        .expect("LEADGATE_TEST_DYNAMODB_ENDPOINT must be set (scripts/test does this)");
    let config = leadgate_core::config::StoreConfig::Dynamo(leadgate_core::config::DynamoConfig {
        table: format!("notify-{}", LeadId::new().as_uuid().simple()),
        endpoint: Some(endpoint),
        region: Some("us-east-1".into()),
        shards: 4,
    });
    leadgate_core::adapters::build_store(&config)
        .await
        .expect("a table on DynamoDB Local")
}

#[tokio::test]
async fn when_the_stream_names_a_tenant_should_send_its_events_and_the_schedule_its_retries() {
    let store = dynamo_store().await;
    let tenant = leadgate_core::domain::TenantId::parse("notify-acme").unwrap();
    let (t, _) = tenants::ensure_tenant(&*store, &tenant, "Acme", chrono::Utc::now())
        .await
        .unwrap();
    webhooks::create(
        &*store,
        &tenant,
        SubscriptionInput {
            url: Some("https://hooks.example.com/leadgate".into()),
            events: Some(vec!["lead.created".into()]),
            ..Default::default()
        },
        TargetPolicy::PublicHttps,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let created = leads::create_lead(
        &*store,
        &SystemClock,
        &t,
        leads::CreateLead {
            input: serde_json::from_value(
                serde_json::json!({"name": "Ada", "email": "ada@example.com", "source": "Referral"}),
            )
            .unwrap(),
            actor: leadgate_core::domain::Actor::System,
            external: None,
            idempotency_key: None,
            duplicates: Default::default(),
            entries: vec![],
            id: None,
            records: vec![],
            quality: Default::default(),
        },
    )
    .await
    .unwrap();
    assert!(matches!(created, leads::CreateResult::Created(_)));
    let receiver = Arc::new(Receiver::default());
    let d = Dispatcher {
        store: store.clone(),
        sender: receiver.clone(),
        clock: Arc::new(SystemClock),
        retry: RetryPolicy {
            first_delay: std::time::Duration::from_millis(1),
            ..Default::default()
        },
    };
    let stream = fixture("dynamodb-outbox-insert.json", tenant.as_str());
    let NotifyEvent::Stream(s) = &stream else {
        panic!("the stream fixture parses as a stream batch")
    };
    assert_eq!(
        tenants_of(s).into_iter().collect::<Vec<_>>(),
        vec![tenant.clone()]
    );
    let r = handle(&d, LambdaEvent::new(stream, Context::default()))
        .await
        .unwrap();
    assert_eq!(
        (r.fanned_out, r.attempted, r.delivered),
        (1, 1, 0),
        "the first try is refused"
    );
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let schedule = fixture("schedule-notify.json", tenant.as_str());
    assert!(matches!(schedule, NotifyEvent::Schedule(_)));
    let r = handle(&d, LambdaEvent::new(schedule, Context::default()))
        .await
        .unwrap();
    assert_eq!(
        (r.attempted, r.delivered),
        (1, 1),
        "the schedule sends the due retry"
    );
    assert_eq!(*receiver.taken.lock().unwrap(), vec!["lead.created".to_owned()]);
    assert!(
        store
            .list_records(&tenant, kinds::OUTBOX, None, 5)
            .await
            .unwrap()
            .is_empty()
    );
}
