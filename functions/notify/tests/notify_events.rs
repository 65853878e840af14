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
        .replace("T#acme#", &format!("T#{tenant}#"));
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
        leads::CreateLead::new(
            serde_json::from_value(
                serde_json::json!({"name": "Ada", "email": "ada@example.com", "source": "Referral"}),
            )
            .unwrap(),
            leadgate_core::domain::Actor::System,
            leads::DuplicatePolicy::Reject,
        ),
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

/// A Lambda runtime API on loopback that hands out one event and keeps the function's answer
/// (the interface AWS and cargo-lambda's emulator provide).
async fn runtime_api(event: String) -> (String, tokio::sync::mpsc::Receiver<String>) {
    use axum::routing::{get, post};
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(1);
    let served = Arc::new(tokio::sync::Mutex::new(false));
    let next = {
        let served = served.clone();
        move || {
            let served = served.clone();
            let event = event.clone();
            async move {
                // One invocation only; later polls wait until the process is killed.
                if std::mem::replace(&mut *served.lock().await, true) {
                    std::future::pending::<()>().await;
                }
                let deadline = (chrono::Utc::now().timestamp_millis() + 60_000).to_string();
                (
                    [
                        ("lambda-runtime-aws-request-id", "notify-1".to_owned()),
                        ("lambda-runtime-deadline-ms", deadline),
                        (
                            "lambda-runtime-invoked-function-arn",
                            "arn:aws:lambda:us-east-1:123456789012:function:notify".to_owned(),
                        ),
                        (
                            "lambda-runtime-trace-id",
                            "Root=1-00000000-000000000000000000000000".to_owned(),
                        ),
                    ],
                    event,
                )
            }
        }
    };
    let answer = move |body: String| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(body).await;
            axum::http::StatusCode::ACCEPTED
        }
    };
    let app = axum::Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(answer.clone()),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(move |b: String| answer(format!("error: {b}"))),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, rx)
}

/// The built `leadgate-notify` binary, invoked through the runtime API with the stream
/// fixture against DynamoDB Local: it fans the tenant's outbox out, and a deployed function
/// (public HTTPS only) refuses to deliver to a loopback URL that a development gateway had
/// let a tenant save, in its own words, without a connection.
#[tokio::test]
async fn when_the_function_binary_is_invoked_should_fan_out_and_refuse_a_loopback_url() {
    let endpoint = std::env::var("LEADGATE_TEST_DYNAMODB_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
        .expect("LEADGATE_TEST_DYNAMODB_ENDPOINT must be set (scripts/test does this)");
    let table = format!("notify-bin-{}", LeadId::new().as_uuid().simple());
    let store = leadgate_core::adapters::build_store(&leadgate_core::config::StoreConfig::Dynamo(
        leadgate_core::config::DynamoConfig {
            table: table.clone(),
            endpoint: Some(endpoint.clone()),
            region: Some("us-east-1".into()),
            shards: 8,
        },
    ))
    .await
    .unwrap();
    let tenant = leadgate_core::domain::TenantId::parse("notify-bin").unwrap();
    let (t, _) = tenants::ensure_tenant(&*store, &tenant, "Acme", chrono::Utc::now())
        .await
        .unwrap();
    // Saved under a development gateway's switch: loopback over http.
    let (sub, _) = webhooks::create(
        &*store,
        &tenant,
        SubscriptionInput {
            url: Some("http://127.0.0.1:9/hook".into()),
            events: Some(vec!["lead.created".into()]),
            ..Default::default()
        },
        TargetPolicy::AllowLoopback,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    leads::create_lead(
        &*store,
        &SystemClock,
        &t,
        leads::CreateLead::new(
            serde_json::from_value(
                serde_json::json!({"name": "Bo", "email": "bo@example.com", "source": "Referral"}),
            )
            .unwrap(),
            leadgate_core::domain::Actor::System,
            leads::DuplicatePolicy::Reject,
        ),
    )
    .await
    .unwrap();
    let path = format!(
        "{}/../../events/dynamodb-outbox-insert.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let event = std::fs::read_to_string(path)
        .unwrap()
        .replace("T#acme#", &format!("T#{}#", tenant.as_str()));
    let (api, mut answers) = runtime_api(event).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_leadgate-notify"))
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "notify")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("LEADGATE_TABLE", &table)
        .env("LEADGATE_BUCKET", "unused")
        .env("LEADGATE_DYNAMODB_ENDPOINT", &endpoint)
        .env("LEADGATE_SHARDS", "8")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let answer = tokio::time::timeout(std::time::Duration::from_secs(60), answers.recv())
        .await
        .expect("an answer within 60 s")
        .unwrap();
    let _ = child.kill().await;
    assert_eq!(answer.trim(), "0", "nothing delivered: {answer}");
    assert!(
        store
            .list_records(&tenant, kinds::OUTBOX, None, 5)
            .await
            .unwrap()
            .is_empty()
    );
    let log = webhooks::list_deliveries(&*store, &tenant, &sub.id, None, None, 10)
        .await
        .unwrap();
    assert_eq!(log.items.len(), 1);
    let attempt = log.items[0].last_attempt.clone().unwrap();
    assert_eq!(attempt.status_code, None);
    assert_eq!(attempt.error.as_deref(), Some("a webhook URL must be https"));
}
