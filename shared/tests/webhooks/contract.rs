//! Outbound webhooks on every store: a lead's change writes its events in the same write (a
//! refused or stale write leaves none), fan-out makes one delivery per subscription, a
//! receiver that fails three times gets each event on the fourth try, a lead's events arrive
//! in version order, signatures verify with the secret shown once, and failed deliveries can
//! be replayed. Included in the store contract's binary (`store_contract.rs`).

use crate::common;
use leadgate_core::domain::LeadId;
use leadgate_core::domain::activity::Actor;
use leadgate_core::domain::signature::verify_form;
use leadgate_core::domain::tenant::{Principal, Role, Tenant};
use leadgate_core::domain::webhook::{DeliveryStatus, EventType, OutboxEntry, RetryPolicy};
use leadgate_core::domain::webhook_target::TargetPolicy;
use leadgate_core::ports::blob::BlobStore;
use leadgate_core::ports::clock::SystemClock;
use leadgate_core::ports::store::{Expect, LeadStore, RecordWrite, kinds};
use leadgate_core::ports::webhook::{Answer, Outbound, WebhookSender};
use leadgate_core::services::lead_patch::{LeadPatch, patch_lead};
use leadgate_core::services::leads::{CreateLead, CreateResult, DuplicatePolicy, create_lead};
use leadgate_core::services::webhook_delivery::{Dispatcher, fan_out};
use leadgate_core::services::webhooks::{self as subs, SubscriptionInput};
use leadgate_core::services::{ServiceError, tenants};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

type Taken = (String, String, Option<String>, u64);

/// A receiver in-process: refuses each event's first `fail_first` attempts with a 503, then
/// takes it; checks every signature against the secret it was given.
#[derive(Default)]
struct Receiver {
    secret: Mutex<String>,
    fail_first: u32,
    tries: Mutex<HashMap<String, u32>>,
    /// (event id, type, lead id, lead version) in the order taken.
    taken: Mutex<Vec<Taken>>,
    bad_signatures: Mutex<u32>,
}

#[async_trait::async_trait]
impl WebhookSender for Receiver {
    fn policy(&self) -> TargetPolicy {
        TargetPolicy::PublicHttps
    }

    async fn send(&self, req: Outbound<'_>) -> Answer {
        let secret = self.secret.lock().unwrap().clone();
        let now = chrono::Utc::now().timestamp();
        if verify_form(&secret, Some(req.signature), &req.body, now).is_err() {
            *self.bad_signatures.lock().unwrap() += 1;
        }
        let n = {
            let mut tries = self.tries.lock().unwrap();
            let n = tries.entry(req.event_id.to_owned()).or_default();
            *n += 1;
            *n
        };
        if n <= self.fail_first {
            return Answer {
                status: Some(503),
                latency_ms: 1,
                error: None,
                excerpt: Some("busy".into()),
            };
        }
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["id"], req.event_id);
        assert_eq!(body["type"], req.event_type);
        let lead = &body["data"]["lead"];
        self.taken.lock().unwrap().push((
            req.event_id.to_owned(),
            req.event_type.to_owned(),
            lead["id"].as_str().map(str::to_owned),
            lead["version"].as_u64().unwrap_or(0),
        ));
        Answer {
            status: Some(204),
            latency_ms: 1,
            error: None,
            excerpt: None,
        }
    }
}

async fn tenant(store: &dyn LeadStore) -> (Tenant, Principal) {
    let id = common::tenant("hooks");
    let (t, _) = tenants::ensure_tenant(store, &id, "Hooks", chrono::Utc::now())
        .await
        .unwrap();
    let admin = Principal {
        tenant: id,
        user: "admin".into(),
        role: Role::Admin,
    };
    (t, admin)
}

async fn create(
    store: &dyn LeadStore,
    t: &Tenant,
    name: &str,
    email: &str,
) -> Result<CreateResult, ServiceError> {
    create_input(
        store,
        &SystemClock,
        t,
        json!({"name": name, "email": email, "source": "Referral"}),
    )
    .await
}

/// A lead from API-shaped input, at the clock's time.
async fn create_input(
    store: &dyn LeadStore,
    clock: &dyn leadgate_core::ports::clock::Clock,
    t: &Tenant,
    input: serde_json::Value,
) -> Result<CreateResult, ServiceError> {
    create_lead(
        store,
        clock,
        t,
        CreateLead {
            quality: Default::default(),
            ..CreateLead::new(
                serde_json::from_value(input).unwrap(),
                Actor::System,
                DuplicatePolicy::Reject,
            )
        },
    )
    .await
}

/// A subscription of the tenant to these event types, and its secret as shown once.
async fn subscribe(
    store: &dyn LeadStore,
    t: &Tenant,
    url: &str,
    events: &[&str],
) -> (
    leadgate_core::services::webhooks::SubscriptionView,
    leadgate_core::secret::Secret,
) {
    subs::create(
        store,
        &t.id,
        SubscriptionInput {
            url: Some(url.into()),
            events: Some(events.iter().map(|e| e.to_string()).collect()),
            ..Default::default()
        },
        TargetPolicy::PublicHttps,
        chrono::Utc::now(),
    )
    .await
    .unwrap()
}

async fn outbox(store: &dyn LeadStore, t: &Tenant) -> Vec<OutboxEntry> {
    store
        .list_records(&t.id, kinds::OUTBOX, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| serde_json::from_value(r.body).unwrap())
        .collect()
}

fn patch(v: serde_json::Value) -> LeadPatch {
    serde_json::from_value(v).unwrap()
}

pub async fn a_change_writes_its_events_in_the_same_write(
    store: Arc<dyn LeadStore>,
    blobs: Arc<dyn BlobStore>,
) {
    let (t, admin) = tenant(&*store).await;
    let CreateResult::Created(lead) = create(&*store, &t, "Ada", "ada@example.com").await.unwrap() else {
        panic!("created")
    };
    // A refused create (duplicate) writes no event.
    let dup = create(&*store, &t, "Ada again", "ada@example.com").await.unwrap();
    assert!(matches!(dup, CreateResult::Duplicate(_)));
    let moved = patch_lead(
        &*store,
        &SystemClock,
        &t,
        &admin,
        &lead.id,
        patch(json!({"status": "contacted"})),
        Some(1),
    )
    .await
    .unwrap();
    // A stale change (version 1 again) is refused and writes no event either.
    let stale = patch_lead(
        &*store,
        &SystemClock,
        &t,
        &admin,
        &lead.id,
        patch(json!({"company": "X"})),
        Some(1),
    )
    .await;
    assert!(matches!(stale, Err(ServiceError::VersionConflict)), "{stale:?}");
    leadgate_core::services::leads::delete_lead(&*store, &*blobs, &t, &admin, &lead.id, Some(moved.version))
        .await
        .unwrap();
    let seen: Vec<(Vec<EventType>, u64)> = outbox(&*store, &t)
        .await
        .into_iter()
        .map(|e| (e.types, e.version))
        .collect();
    assert_eq!(
        seen,
        vec![
            (vec![EventType::LeadCreated], 1),
            (vec![EventType::LeadUpdated, EventType::LeadStatusChanged], 2),
            (vec![EventType::LeadDeleted], 3),
        ]
    );
}

pub async fn a_failing_receiver_gets_every_event_in_lead_order(
    store: Arc<dyn LeadStore>,
    _blobs: Arc<dyn BlobStore>,
) {
    let (t, admin) = tenant(&*store).await;
    let receiver = Arc::new(Receiver {
        fail_first: 3,
        ..Default::default()
    });
    let (sub, secret) = subscribe(
        &*store,
        &t,
        "https://hooks.example.com/leadgate",
        &["lead.created", "lead.updated", "lead.status_changed"],
    )
    .await;
    *receiver.secret.lock().unwrap() = secret.expose().to_owned();
    // A second subscription that wants nothing these leads do gets nothing.
    subscribe(&*store, &t, "https://other.example.com/", &["import.completed"]).await;
    let mut ids: Vec<LeadId> = Vec::new();
    for i in 0..12 {
        let CreateResult::Created(l) =
            create(&*store, &t, &format!("Lead {i}"), &format!("l{i}@example.com"))
                .await
                .unwrap()
        else {
            panic!("created")
        };
        ids.push(l.id);
    }
    for id in &ids {
        patch_lead(
            &*store,
            &SystemClock,
            &t,
            &admin,
            id,
            patch(json!({"company": "Acme"})),
            None,
        )
        .await
        .unwrap();
        patch_lead(
            &*store,
            &SystemClock,
            &t,
            &admin,
            id,
            patch(json!({"status": "contacted"})),
            None,
        )
        .await
        .unwrap();
    }
    let dispatcher = Dispatcher {
        store: store.clone(),
        sender: receiver.clone(),
        clock: Arc::new(SystemClock),
        retry: RetryPolicy {
            first_delay: std::time::Duration::from_millis(2),
            max_delay: std::time::Duration::from_millis(10),
            give_up_after: std::time::Duration::from_secs(3600),
        },
    };
    // 12 leads: created, updated, updated + status_changed = 48 events, 4 tries each.
    let expected = 12 * 4;
    let started = std::time::Instant::now();
    while receiver.taken.lock().unwrap().len() < expected {
        assert!(started.elapsed().as_secs() < 120, "deliveries stalled");
        dispatcher.tenant_pass(&t.id).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let taken = receiver.taken.lock().unwrap().clone();
    assert_eq!(taken.len(), expected, "each event taken once");
    assert_eq!(*receiver.bad_signatures.lock().unwrap(), 0);
    assert!(receiver.tries.lock().unwrap().values().all(|&n| n == 4));
    // Per lead, versions never go back.
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    for (_, ty, lead, version) in &taken {
        let lead = lead.clone().unwrap();
        let prev = last.insert(lead.clone(), *version).unwrap_or(0);
        assert!(*version >= prev, "{lead}: {ty} at v{version} after v{prev}");
    }
    // The log says what happened: delivered on the fourth attempt, the 503s before it.
    let page = subs::list_deliveries(
        &*store,
        &t.id,
        &sub.id,
        Some(DeliveryStatus::Delivered),
        None,
        200,
    )
    .await
    .unwrap();
    assert_eq!(page.items.len(), expected);
    assert!(
        page.items
            .iter()
            .all(|d| d.attempts == 4 && d.last_attempt.as_ref().unwrap().status_code == Some(204))
    );
    assert!(
        store
            .list_records(&t.id, kinds::WEBHOOK_QUEUE, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_records(&t.id, kinds::OUTBOX, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn failed_deliveries_are_replayed_with_their_event_ids(
    store: Arc<dyn LeadStore>,
    _blobs: Arc<dyn BlobStore>,
) {
    let (t, _) = tenant(&*store).await;
    // Fails every try until the policy gives up (immediately here), then takes the replays.
    let receiver = Arc::new(Receiver {
        fail_first: 1,
        ..Default::default()
    });
    let (sub, secret) = subscribe(&*store, &t, "https://hooks.example.com/x", &["lead.created"]).await;
    *receiver.secret.lock().unwrap() = secret.expose().to_owned();
    for i in 0..3 {
        create(&*store, &t, &format!("R {i}"), &format!("r{i}@example.com"))
            .await
            .unwrap();
    }
    let dispatcher = Dispatcher {
        store: store.clone(),
        sender: receiver.clone(),
        clock: Arc::new(SystemClock),
        retry: RetryPolicy {
            first_delay: std::time::Duration::from_millis(2),
            max_delay: std::time::Duration::from_millis(2),
            give_up_after: std::time::Duration::ZERO,
        },
    };
    let r = dispatcher.tenant_pass(&t.id).await.unwrap();
    assert_eq!((r.fanned_out, r.attempted, r.delivered, r.failed), (3, 3, 0, 3));
    let failed = subs::list_deliveries(&*store, &t.id, &sub.id, Some(DeliveryStatus::Failed), None, 50)
        .await
        .unwrap();
    assert_eq!(failed.items.len(), 3);
    let view = subs::get(&*store, &t.id, &sub.id).await.unwrap();
    assert!(view.failing_since.is_some());
    // One by hand, then everything failed since an hour ago.
    subs::replay(&*store, &t.id, &sub.id, &failed.items[0].id, chrono::Utc::now())
        .await
        .unwrap();
    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    assert_eq!(
        subs::replay_failed(&*store, &t.id, &sub.id, since, chrono::Utc::now())
            .await
            .unwrap(),
        2
    );
    let r = dispatcher.tenant_pass(&t.id).await.unwrap();
    assert_eq!((r.attempted, r.delivered), (3, 3));
    let taken: Vec<String> = receiver
        .taken
        .lock()
        .unwrap()
        .iter()
        .map(|x| x.0.clone())
        .collect();
    let first_ids: Vec<String> = failed.items.iter().map(|d| d.event_id.clone()).collect();
    let mut a = taken.clone();
    a.sort();
    let mut b = first_ids;
    b.sort();
    assert_eq!(a, b, "a replay keeps the event id");
    let view = subs::get(&*store, &t.id, &sub.id).await.unwrap();
    assert!(view.failing_since.is_none() && view.last_success_at.is_some());
    // Another tenant's admin cannot see or replay this subscription.
    let (other, _) = tenant(&*store).await;
    assert!(matches!(
        subs::get(&*store, &other.id, &sub.id).await,
        Err(ServiceError::NotFound { .. })
    ));
    assert!(matches!(
        subs::replay(
            &*store,
            &other.id,
            &sub.id,
            &failed.items[0].id,
            chrono::Utc::now()
        )
        .await,
        Err(ServiceError::NotFound { .. })
    ));
}

pub async fn imports_and_failed_captures_raise_their_events(
    store: Arc<dyn LeadStore>,
    blobs: Arc<dyn BlobStore>,
) {
    let (t, _) = tenant(&*store).await;
    leadgate_core::services::settings::put_form(&*store, &t.id, crate::store_contract::contact_form())
        .await
        .unwrap();
    // A post with no name, email or phone is no lead: the capture fails, with its event.
    let mut bad = crate::store_contract::form_post(&common::unique("s"), "x@example.com");
    bad.payload = json!({"fields": {"comment": "call me"}});
    let failed = crate::store_contract::capture(&*store, &t, bad).await.unwrap();
    assert_eq!(
        failed.status,
        leadgate_core::domain::capture::SubmissionStatus::Failed
    );
    // A good one raises `lead.created` only.
    let ok = crate::store_contract::capture(
        &*store,
        &t,
        crate::store_contract::form_post(&common::unique("s"), "ok@example.com"),
    )
    .await
    .unwrap();
    assert_eq!(
        ok.status,
        leadgate_core::domain::capture::SubmissionStatus::Processed
    );
    let scratch = tempfile::tempdir().unwrap();
    let report = common::import_at_once(
        &*store,
        &*blobs,
        &t,
        scratch.path(),
        "two.csv",
        b"Name,Email,Lead Source\nAna,ana@example.com,Referral\nBen,ben@example.com,Referral\n".to_vec(),
        Default::default(),
    )
    .await;
    assert_eq!(report.created, 2, "{report:?}");
    let mut types: Vec<EventType> = outbox(&*store, &t)
        .await
        .into_iter()
        .flat_map(|e| e.types)
        .collect();
    types.sort();
    assert_eq!(
        types,
        vec![
            EventType::LeadCreated,
            EventType::ImportCompleted,
            EventType::CaptureFailed
        ],
        "imported rows raise no lead.created each"
    );
    let entries = outbox(&*store, &t).await;
    let import = entries
        .iter()
        .find(|e| e.types == [EventType::ImportCompleted])
        .unwrap();
    assert_eq!(import.data["import"]["status"], "completed");
    let capture = entries
        .iter()
        .find(|e| e.types == [EventType::CaptureFailed])
        .unwrap();
    assert_eq!(capture.data["submission"]["id"], failed.id.as_str());
}

/// Refuses everything until `open_at`, then takes everything.
struct ClosedUntil {
    open_at: std::time::Instant,
    taken: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl WebhookSender for ClosedUntil {
    fn policy(&self) -> TargetPolicy {
        TargetPolicy::PublicHttps
    }

    async fn send(&self, req: Outbound<'_>) -> Answer {
        let open = std::time::Instant::now() >= self.open_at;
        if open {
            self.taken.lock().unwrap().push(req.event_type.to_owned());
        }
        Answer {
            status: Some(if open { 200 } else { 502 }),
            latency_ms: 1,
            error: None,
            excerpt: None,
        }
    }
}

pub async fn a_waiting_event_gets_its_own_day_and_a_paused_subscription_keeps_its_queue(
    store: Arc<dyn LeadStore>,
    _blobs: Arc<dyn BlobStore>,
) {
    let (t, admin) = tenant(&*store).await;
    let receiver = Arc::new(ClosedUntil {
        open_at: std::time::Instant::now() + std::time::Duration::from_millis(1500),
        taken: Mutex::new(vec![]),
    });
    let (sub, _) = subscribe(
        &*store,
        &t,
        "https://hooks.example.com/x",
        &["lead.created", "lead.updated"],
    )
    .await;
    let CreateResult::Created(lead) = create(&*store, &t, "Wait", "wait@example.com").await.unwrap() else {
        panic!("created")
    };
    patch_lead(
        &*store,
        &SystemClock,
        &t,
        &admin,
        &lead.id,
        patch(json!({"company": "Acme"})),
        Some(1),
    )
    .await
    .unwrap();
    // The retry window is a second: lead.created gives up before the receiver opens;
    // lead.updated, held behind it, starts its own second then and gets through.
    let dispatcher = Dispatcher {
        store: store.clone(),
        sender: receiver.clone(),
        clock: Arc::new(SystemClock),
        retry: RetryPolicy {
            first_delay: std::time::Duration::from_millis(40),
            max_delay: std::time::Duration::from_millis(80),
            give_up_after: std::time::Duration::from_millis(1000),
        },
    };
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(4) && receiver.taken.lock().unwrap().is_empty() {
        dispatcher.tenant_pass(&t.id).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(*receiver.taken.lock().unwrap(), vec!["lead.updated".to_owned()]);
    let failed = subs::list_deliveries(&*store, &t.id, &sub.id, Some(DeliveryStatus::Failed), None, 10)
        .await
        .unwrap();
    assert_eq!(failed.items.len(), 1);
    assert_eq!(failed.items[0].event_type, EventType::LeadCreated);
    // Switched off, a subscription's new deliveries wait in its queue instead of failing;
    // switched back on, they go.
    subs::update(
        &*store,
        &t.id,
        &sub.id,
        SubscriptionInput {
            active: Some(false),
            ..Default::default()
        },
        TargetPolicy::PublicHttps,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    subs::replay(&*store, &t.id, &sub.id, &failed.items[0].id, chrono::Utc::now())
        .await
        .unwrap();
    let r = dispatcher.tenant_pass(&t.id).await.unwrap();
    assert_eq!(
        (r.attempted, r.failed),
        (0, 0),
        "nothing is sent to a switched-off subscription"
    );
    subs::update(
        &*store,
        &t.id,
        &sub.id,
        SubscriptionInput {
            active: Some(true),
            ..Default::default()
        },
        TargetPolicy::PublicHttps,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let r = dispatcher.tenant_pass(&t.id).await.unwrap();
    assert_eq!((r.attempted, r.delivered), (1, 1));
    // Deleting a subscription leaves nothing queued.
    create(&*store, &t, "Later", "later@example.com").await.unwrap();
    leadgate_core::services::webhook_delivery::fan_out(&*store, &t.id, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(
        store
            .list_records(&t.id, kinds::WEBHOOK_QUEUE, None, 5)
            .await
            .unwrap()
            .len(),
        1
    );
    subs::delete(&*store, &t.id, &sub.id).await.unwrap();
    assert!(
        store
            .list_records(&t.id, kinds::WEBHOOK_QUEUE, None, 5)
            .await
            .unwrap()
            .is_empty()
    );
}

/// 120 leads' events fanned out in a handful of writes (one per entry and delivery before),
/// each entry consumed with its deliveries; the fan-out repeated after a crash (entries back,
/// one delivery lost) makes only the lost one and leaves no entry behind.
pub async fn a_page_of_events_fans_out_in_few_writes_and_a_repeat_adds_nothing(
    store: Arc<dyn LeadStore>,
    _blobs: Arc<dyn BlobStore>,
) {
    let (t, _) = tenant(&*store).await;
    let faults = Arc::new(common::faults::Faults::default());
    let counted = common::faults::FaultyStore {
        inner: store.clone(),
        faults: faults.clone(),
    };
    let (sub, _) = subscribe(
        &*store,
        &t,
        "https://hooks.example.com/leadgate",
        &["lead.created"],
    )
    .await;
    for i in 0..120 {
        create(&*store, &t, &format!("Lead {i}"), &format!("f{i}@example.com"))
            .await
            .unwrap();
    }
    let entries = store
        .list_records(&t.id, kinds::OUTBOX, None, 1000)
        .await
        .unwrap();
    assert_eq!(entries.len(), 120);
    faults.take_calls();
    let made = fan_out(&counted, &t.id, chrono::Utc::now()).await.unwrap();
    assert_eq!(made, 120);
    let writes: Vec<_> = faults
        .take_calls()
        .into_iter()
        .filter(|c| common::faults::WRITES.contains(c))
        .collect();
    // 120 entries × (log row, queue row, removal) = 360 rows, at most 100 in one write.
    assert!(
        writes.len() <= 4 && writes.iter().all(|w| *w == "put_records"),
        "{writes:?}"
    );
    assert!(outbox(&*store, &t).await.is_empty(), "every entry consumed");
    let queued = store
        .list_records(&t.id, kinds::WEBHOOK_QUEUE, None, 1000)
        .await
        .unwrap();
    let logged = store
        .list_records(&t.id, kinds::WEBHOOK_DELIVERY, None, 1000)
        .await
        .unwrap();
    assert_eq!((queued.len(), logged.len()), (120, 120));
    assert!(queued.iter().all(|r| r.id.starts_with(&format!("{}:", sub.id))));

    // A crash after the deliveries were written but (say) before the entries went: the
    // entries are back, and one delivery was never made.
    for e in &entries {
        store
            .put_record(&t.id, kinds::OUTBOX, &e.id, &e.body, Expect::Any)
            .await
            .unwrap();
    }
    let lost = &queued[17].id;
    store
        .put_records(
            &t.id,
            &[
                RecordWrite::remove(kinds::WEBHOOK_QUEUE, lost.clone()),
                RecordWrite::remove(kinds::WEBHOOK_DELIVERY, lost.clone()),
            ],
        )
        .await
        .unwrap();
    let made = fan_out(&*store, &t.id, chrono::Utc::now()).await.unwrap();
    assert_eq!(made, 1, "only the lost delivery is made again");
    assert!(outbox(&*store, &t).await.is_empty());
    let again = store
        .list_records(&t.id, kinds::WEBHOOK_QUEUE, None, 1000)
        .await
        .unwrap();
    assert_eq!(
        again.iter().map(|r| (&r.id, r.version)).collect::<Vec<_>>(),
        queued.iter().map(|r| (&r.id, r.version)).collect::<Vec<_>>(),
        "the same rows, none written twice"
    );
}

/// Two leads as large as input allows (100 unmapped fields of 2,000 characters, about 200 KB
/// each) and every subscription a tenant may have: their deliveries weigh more than DynamoDB
/// takes in one transaction (4 MB), so they are written in smaller writes, and every one is
/// made.
pub async fn a_heavy_event_to_every_subscription_fans_out_in_writes_the_store_takes(
    store: Arc<dyn LeadStore>,
    _blobs: Arc<dyn BlobStore>,
) {
    let (t, _) = tenant(&*store).await;
    for i in 0..subs::MAX_SUBSCRIPTIONS {
        let url = format!("https://hooks{i}.example.com/leadgate");
        subscribe(&*store, &t, &url, &["lead.created"]).await;
    }
    let unmapped: serde_json::Map<String, serde_json::Value> = (0..100)
        .map(|i| (format!("field_{i}"), json!("x".repeat(2_000))))
        .collect();
    // Two of them: 82 rows, within the record limit, and about 8 MB.
    for who in ["heavy", "heavier"] {
        let input = json!({
            "name": who, "email": format!("{who}@example.com"), "source": "Referral",
            "provenance": {"unmapped": unmapped}
        });
        create_input(&*store, &SystemClock, &t, input).await.unwrap();
    }
    let made = fan_out(&*store, &t.id, chrono::Utc::now()).await.unwrap();
    assert_eq!(made, 2 * subs::MAX_SUBSCRIPTIONS as u64);
    assert!(outbox(&*store, &t).await.is_empty());
    let queued = store
        .list_records(&t.id, kinds::WEBHOOK_QUEUE, None, 100)
        .await
        .unwrap();
    assert_eq!(queued.len(), 2 * subs::MAX_SUBSCRIPTIONS);
}

/// A delivered event's log row goes after `LOG_RETENTION_DAYS`, when its subscription next
/// sees attempts; a recent one stays, and so does an old one still pending.
pub async fn old_finished_log_rows_are_removed_and_pending_ones_kept(
    store: Arc<dyn LeadStore>,
    _blobs: Arc<dyn BlobStore>,
) {
    use leadgate_core::services::webhook_queue::{LOG_RETENTION_DAYS, prune_log};
    let (t, _) = tenant(&*store).await;
    let receiver = Arc::new(Receiver::default());
    let (sub, secret) = subscribe(
        &*store,
        &t,
        "https://hooks.example.com/leadgate",
        &["lead.created"],
    )
    .await;
    *receiver.secret.lock().unwrap() = secret.expose().to_owned();
    let long_ago = chrono::Utc::now() - chrono::Duration::days(LOG_RETENTION_DAYS + 10);
    let old_clock = leadgate_core::ports::clock::FixedClock::new(long_ago);
    let lead =
        |name: &str| json!({"name": name, "email": format!("{name}@example.com"), "source": "Referral"});
    create_input(&*store, &old_clock, &t, lead("old")).await.unwrap();
    create_input(&*store, &SystemClock, &t, lead("recent"))
        .await
        .unwrap();
    let dispatcher = Dispatcher {
        store: store.clone(),
        sender: receiver.clone(),
        clock: Arc::new(SystemClock),
        retry: RetryPolicy::default(),
    };
    let r = dispatcher.tenant_pass(&t.id).await.unwrap();
    assert_eq!((r.attempted, r.delivered), (2, 2));
    let log = store
        .list_records(&t.id, kinds::WEBHOOK_DELIVERY, None, 10)
        .await
        .unwrap();
    assert_eq!(
        log.len(),
        1,
        "the old delivered row is gone, the recent one stays"
    );
    assert_eq!(log[0].body["body"]["data"]["lead"]["name"], "recent");
    // An old event still pending (not yet sent) stays, however old.
    create_input(&*store, &old_clock, &t, lead("waiting"))
        .await
        .unwrap();
    fan_out(&*store, &t.id, chrono::Utc::now()).await.unwrap();
    assert_eq!(
        prune_log(&*store, &t.id, &sub.id, chrono::Utc::now())
            .await
            .unwrap(),
        0
    );
    let log = store
        .list_records(&t.id, kinds::WEBHOOK_DELIVERY, None, 10)
        .await
        .unwrap();
    assert_eq!(log.len(), 2);
}

crate::store_and_bucket_cases!(
    when_a_delivery_log_row_is_old_should_be_removed_unless_pending => old_finished_log_rows_are_removed_and_pending_ones_kept,
    when_a_heavy_event_goes_to_every_subscription_should_fan_out_in_writes_the_store_takes => a_heavy_event_to_every_subscription_fans_out_in_writes_the_store_takes,
    when_a_page_of_events_fans_out_should_take_few_writes_and_a_repeat_should_add_nothing => a_page_of_events_fans_out_in_few_writes_and_a_repeat_adds_nothing,
    when_an_event_waits_behind_another_or_its_subscription_is_paused_should_still_get_delivered => a_waiting_event_gets_its_own_day_and_a_paused_subscription_keeps_its_queue,
    when_an_import_ends_or_a_capture_fails_should_raise_its_one_event => imports_and_failed_captures_raise_their_events,
    when_a_lead_changes_should_write_its_events_with_the_change_and_none_for_a_refused_one => a_change_writes_its_events_in_the_same_write,
    when_a_receiver_fails_three_times_should_get_every_event_once_in_lead_order => a_failing_receiver_gets_every_event_in_lead_order,
    when_deliveries_fail_should_be_replayed_with_their_event_ids => failed_deliveries_are_replayed_with_their_event_ids,
);
