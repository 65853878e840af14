//! Sending webhook events, the same code on one machine (a worker inside the gateway) and on
//! AWS (the `notify` function, fed by the table's stream and a schedule).
//!
//! 1. **Fan-out**: each outbox entry (written with its change by the store) becomes one
//!    delivery per event type and subscription that wants it (a log row and a queue row),
//!    then the entry is removed. A crash in between fans it out again onto the same ids.
//! 2. **Delivery**: due queue rows are sent, signed; a lead's deliveries to one subscription
//!    go one at a time in version order, and a failure holds the later ones back. Failures
//!    retry with back-off and jitter for a day, then the delivery is `failed`. A row leaves
//!    the queue only after its outcome is written, so a crash sends it again: at least once,
//!    with the same event id.

use crate::domain::ids::{LeadId, TenantId};
use crate::domain::signature::timestamped_header;
use crate::domain::webhook::{
    Attempt, Delivery, DeliveryStatus, OutboxEntry, RESPONSE_EXCERPT, RetryPolicy, Subscription, event_body,
    event_id,
};
use crate::ports::clock::Clock;
use crate::ports::store::{Expect, LeadStore, StoreError, get_typed, kinds, list_typed, put_typed};
use crate::ports::webhook::{Outbound, WebhookSender};
use crate::services::ServiceError;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Outbox entries fanned out per call, queue rows read per tenant and pass, and deliveries
/// in flight at once.
const OUTBOX_PAGE: u32 = 500;
const QUEUE_PER_PASS: usize = 5_000;
const IN_FLIGHT: usize = 32;

/// A queued delivery: enough to order and schedule it without reading its log row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Queued {
    pub subscription_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<LeadId>,
    #[serde(default)]
    pub lead_version: u64,
    pub due: DateTime<Utc>,
}

/// Everything delivery needs.
#[derive(Clone)]
pub struct Dispatcher {
    pub store: Arc<dyn LeadStore>,
    pub sender: Arc<dyn WebhookSender>,
    pub clock: Arc<dyn Clock>,
    pub retry: RetryPolicy,
}

/// What a pass did, for logs, tests and the bench.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    pub fanned_out: u64,
    pub attempted: u64,
    pub delivered: u64,
    pub failed: u64,
}

impl PassReport {
    fn add(&mut self, o: PassReport) {
        self.fanned_out += o.fanned_out;
        self.attempted += o.attempted;
        self.delivered += o.delivered;
        self.failed += o.failed;
    }

    pub fn did_work(&self) -> bool {
        self.fanned_out + self.attempted > 0
    }
}

impl Dispatcher {
    /// One pass over every tenant: fan out, then send what is due. Suspended tenants wait.
    pub async fn pass(&self) -> Result<PassReport, ServiceError> {
        let mut total = PassReport::default();
        let platform = crate::services::tenants::platform();
        let mut after: Option<String> = None;
        loop {
            let entries = self
                .store
                .list_records(&platform, kinds::TENANT_ENTRY, after.as_deref(), 200)
                .await?;
            let done = entries.len() < 200;
            after = entries.last().map(|e| e.id.clone());
            for e in entries {
                let Ok(t) = TenantId::parse(&e.id) else { continue };
                total.add(self.tenant_pass(&t).await?);
            }
            if done {
                return Ok(total);
            }
        }
    }

    /// Fan-out and delivery for one tenant (what the stream-fed function runs).
    pub async fn tenant_pass(&self, tenant: &TenantId) -> Result<PassReport, ServiceError> {
        match crate::services::tenants::get_tenant(&*self.store, tenant).await? {
            Some(t) if !t.is_suspended() => {}
            _ => return Ok(PassReport::default()),
        }
        let mut report = PassReport {
            fanned_out: fan_out(&*self.store, tenant, self.clock.now()).await?,
            ..Default::default()
        };
        report.add(self.deliver_due(tenant).await?);
        Ok(report)
    }

    /// Sends the tenant's due deliveries, a lead's in order.
    pub async fn deliver_due(&self, tenant: &TenantId) -> Result<PassReport, ServiceError> {
        let mut queue = Vec::new();
        let mut after: Option<String> = None;
        while queue.len() < QUEUE_PER_PASS {
            let batch = self
                .store
                .list_records(tenant, kinds::WEBHOOK_QUEUE, after.as_deref(), 500)
                .await?;
            let done = batch.len() < 500;
            after = batch.last().map(|r| r.id.clone());
            for r in batch {
                match serde_json::from_value::<Queued>(r.body) {
                    Ok(q) => queue.push((r.id, q)),
                    Err(e) => tracing::warn!(error = %e, "unreadable webhook queue row skipped"),
                }
            }
            if done {
                break;
            }
        }
        if queue.is_empty() {
            return Ok(PassReport::default());
        }
        let subs: HashMap<String, (Subscription, u64)> =
            list_typed::<Subscription>(&*self.store, tenant, kinds::WEBHOOK)
                .await?
                .into_iter()
                .map(|s| (s.value.id.clone(), (s.value, s.version)))
                .collect();
        // A lead's deliveries to one subscription form a chain, sent in version order; an
        // event about no lead is a chain of its own.
        let mut chains: BTreeMap<(String, String), Vec<(String, Queued)>> = BTreeMap::new();
        for (id, q) in queue {
            let key = q.lead_id.map(|l| l.to_string()).unwrap_or_else(|| id.clone());
            chains
                .entry((q.subscription_id.clone(), key))
                .or_default()
                .push((id, q));
        }
        let now = self.clock.now();
        let outcomes: Vec<Result<Vec<ChainOutcome>, ServiceError>> =
            futures::stream::iter(chains.into_values().map(|mut chain| {
                chain.sort_by(|a, b| (a.1.lead_version, &a.0).cmp(&(b.1.lead_version, &b.0)));
                let sub = subs.get(&chain[0].1.subscription_id).map(|(s, _)| s.clone());
                self.send_chain(tenant, sub, chain, now)
            }))
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        let mut report = PassReport::default();
        let mut by_sub: HashMap<String, (bool, String)> = HashMap::new();
        for o in outcomes {
            for c in o? {
                report.attempted += u64::from(c.attempted);
                report.delivered += u64::from(c.delivered);
                report.failed += u64::from(c.gave_up);
                if c.attempted {
                    let e = by_sub.entry(c.subscription_id).or_insert((false, String::new()));
                    e.0 |= c.delivered;
                    if !c.delivered {
                        e.1 = c.why;
                    }
                }
            }
        }
        // One write per subscription and pass for its health (failing since, switched off).
        for (id, (ok, why)) in by_sub {
            if let Some((mut s, v)) = subs.get(&id).cloned()
                && s.note_outcome(ok, self.clock.now(), &why)
            {
                if !s.active {
                    tracing::warn!(tenant = %tenant, subscription = %id, "webhook subscription switched off after days of failures");
                }
                match put_typed(&*self.store, tenant, kinds::WEBHOOK, &id, &s, Expect::Version(v)).await {
                    Ok(_) | Err(StoreError::Conflict { .. }) | Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(report)
    }

    /// Sends a chain in order until one is not due yet or fails.
    async fn send_chain(
        &self,
        tenant: &TenantId,
        sub: Option<Subscription>,
        chain: Vec<(String, Queued)>,
        now: DateTime<Utc>,
    ) -> Result<Vec<ChainOutcome>, ServiceError> {
        let mut out = Vec::new();
        for (id, q) in chain {
            if q.due > now {
                break;
            }
            let o = self.attempt(tenant, sub.as_ref(), &id).await?;
            let go_on = o.delivered || (!o.attempted && o.gave_up);
            out.push(o);
            if !go_on {
                break;
            }
        }
        Ok(out)
    }

    /// One attempt of one queued delivery, its outcome written before it leaves the queue.
    async fn attempt(
        &self,
        tenant: &TenantId,
        sub: Option<&Subscription>,
        id: &str,
    ) -> Result<ChainOutcome, ServiceError> {
        let store = &*self.store;
        let Some(found) = get_typed::<Delivery>(store, tenant, kinds::WEBHOOK_DELIVERY, id).await? else {
            unqueue(store, tenant, id).await?;
            return Ok(ChainOutcome::skipped(id));
        };
        let (mut d, version) = (found.value, found.version);
        let now = self.clock.now();
        let Some(sub) = sub.filter(|s| s.active) else {
            // Removed or switched off: the delivery ends as failed, and a replay can send it
            // once the subscription is back.
            d.status = DeliveryStatus::Failed;
            d.next_attempt_at = None;
            d.last_attempt = Some(Attempt {
                at: now,
                status_code: None,
                latency_ms: 0,
                error: Some("the subscription was removed or switched off".into()),
                response_excerpt: None,
            });
            finish(store, tenant, &d, version, true).await?;
            return Ok(ChainOutcome {
                gave_up: true,
                ..ChainOutcome::skipped(id)
            });
        };
        let body =
            bytes::Bytes::from(serde_json::to_vec(&d.body).map_err(|e| StoreError::Corrupt(e.to_string()))?);
        let signature = timestamped_header(&sub.signing_secrets(now), now.timestamp(), &body);
        let answer = self
            .sender
            .send(Outbound {
                url: &sub.url,
                event_id: &d.event_id,
                event_type: d.event_type.as_str(),
                signature: &signature,
                body,
            })
            .await;
        let delivered = answer.ok();
        d.attempts += 1;
        d.last_attempt = Some(Attempt {
            at: now,
            status_code: answer.status,
            latency_ms: answer.latency_ms,
            error: answer.error.clone(),
            response_excerpt: answer
                .excerpt
                .as_ref()
                .map(|e| e.chars().take(RESPONSE_EXCERPT).collect()),
        });
        let mut gave_up = false;
        if delivered {
            d.status = DeliveryStatus::Delivered;
            d.next_attempt_at = None;
        } else {
            match self
                .retry
                .next_attempt(d.attempts, d.scheduled_at, now, rand::random::<f64>())
            {
                Some(next) => d.next_attempt_at = Some(next),
                None => {
                    d.status = DeliveryStatus::Failed;
                    d.next_attempt_at = None;
                    gave_up = true;
                }
            }
        }
        finish(store, tenant, &d, version, delivered || gave_up).await?;
        Ok(ChainOutcome {
            subscription_id: sub.id.clone(),
            attempted: true,
            delivered,
            gave_up,
            why: answer.why(),
        })
    }
}

struct ChainOutcome {
    subscription_id: String,
    attempted: bool,
    delivered: bool,
    gave_up: bool,
    why: String,
}

impl ChainOutcome {
    fn skipped(id: &str) -> Self {
        Self {
            subscription_id: id.split(':').next().unwrap_or_default().to_owned(),
            attempted: false,
            delivered: false,
            gave_up: false,
            why: String::new(),
        }
    }
}

/// Writes the outcome to the log, then takes the row off the queue (done) or moves its due
/// time (retry). A log row changed meanwhile (a replay) wins; this attempt's outcome is
/// dropped and the queue row stays for the replay.
async fn finish(
    store: &dyn LeadStore,
    tenant: &TenantId,
    d: &Delivery,
    version: u64,
    done: bool,
) -> Result<(), ServiceError> {
    match put_typed(
        store,
        tenant,
        kinds::WEBHOOK_DELIVERY,
        &d.id,
        d,
        Expect::Version(version),
    )
    .await
    {
        Ok(_) => {}
        Err(StoreError::Conflict { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    if done {
        unqueue(store, tenant, &d.id).await
    } else {
        let q = queued(d);
        put_typed(store, tenant, kinds::WEBHOOK_QUEUE, &d.id, &q, Expect::Any).await?;
        Ok(())
    }
}

async fn unqueue(store: &dyn LeadStore, tenant: &TenantId, id: &str) -> Result<(), ServiceError> {
    match store
        .delete_record(tenant, kinds::WEBHOOK_QUEUE, id, Expect::Any)
        .await
    {
        Ok(()) | Err(StoreError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn queued(d: &Delivery) -> Queued {
    Queued {
        subscription_id: d.subscription_id.clone(),
        lead_id: d.lead_id,
        lead_version: d.lead_version,
        due: d.next_attempt_at.unwrap_or(d.scheduled_at),
    }
}

/// Turns the tenant's outbox entries into deliveries; returns how many deliveries it made.
pub async fn fan_out(
    store: &dyn LeadStore,
    tenant: &TenantId,
    now: DateTime<Utc>,
) -> Result<u64, ServiceError> {
    let mut made = 0;
    loop {
        let batch = store
            .list_records(tenant, kinds::OUTBOX, None, OUTBOX_PAGE)
            .await?;
        if batch.is_empty() {
            return Ok(made);
        }
        let subs: Vec<Subscription> = list_typed::<Subscription>(store, tenant, kinds::WEBHOOK)
            .await?
            .into_iter()
            .map(|s| s.value)
            .collect();
        let full = batch.len() == OUTBOX_PAGE as usize;
        for r in batch {
            match serde_json::from_value::<OutboxEntry>(r.body) {
                Ok(entry) => {
                    for t in &entry.types {
                        for s in subs.iter().filter(|s| s.wants(*t)) {
                            let d = Delivery {
                                id: Delivery::id_for(&s.id, &r.id, *t),
                                subscription_id: s.id.clone(),
                                event_id: event_id(&r.id, *t),
                                event_type: *t,
                                lead_id: entry.lead_id,
                                lead_version: entry.version,
                                created_at: entry.at,
                                scheduled_at: now,
                                status: DeliveryStatus::Pending,
                                attempts: 0,
                                next_attempt_at: Some(now),
                                last_attempt: None,
                                body: event_body(&entry, &r.id, *t),
                            };
                            // Absent only: a fan-out repeated after a crash finds its rows.
                            for (kind, body) in [
                                (kinds::WEBHOOK_DELIVERY, serde_json::to_value(&d)),
                                (kinds::WEBHOOK_QUEUE, serde_json::to_value(queued(&d))),
                            ] {
                                let body = body.map_err(|e| StoreError::Invalid(e.to_string()))?;
                                match store.put_record(tenant, kind, &d.id, &body, Expect::Absent).await {
                                    Ok(_) | Err(StoreError::Conflict { .. }) => {}
                                    Err(e) => return Err(e.into()),
                                }
                            }
                            made += 1;
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, record = %r.id, "unreadable outbox entry dropped"),
            }
            match store
                .delete_record(tenant, kinds::OUTBOX, &r.id, Expect::Any)
                .await
            {
                Ok(()) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if !full {
            return Ok(made);
        }
    }
}

/// Queues a delivery again now, with a fresh day of retries (a replay).
pub async fn requeue(
    store: &dyn LeadStore,
    tenant: &TenantId,
    mut d: Delivery,
    version: u64,
    now: DateTime<Utc>,
) -> Result<Delivery, ServiceError> {
    d.status = DeliveryStatus::Pending;
    d.scheduled_at = now;
    d.next_attempt_at = Some(now);
    put_typed(
        store,
        tenant,
        kinds::WEBHOOK_DELIVERY,
        &d.id,
        &d,
        Expect::Version(version),
    )
    .await?;
    put_typed(
        store,
        tenant,
        kinds::WEBHOOK_QUEUE,
        &d.id,
        &queued(&d),
        Expect::Any,
    )
    .await?;
    Ok(d)
}

/// The gateway's worker: a pass every `interval`, or at once again while there is work.
pub async fn run_worker(dispatcher: Dispatcher, interval: std::time::Duration) {
    loop {
        match dispatcher.pass().await {
            Ok(r) if r.did_work() => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "webhook pass failed; retrying"),
        }
        tokio::time::sleep(interval).await;
    }
}
