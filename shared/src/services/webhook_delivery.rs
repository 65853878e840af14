//! Sending webhook events, the same code on one machine (a worker inside the gateway) and on
//! AWS (the `notify` function, fed by the table's stream and a schedule).
//!
//! 1. **Fan-out** (`webhook_queue::fan_out`): each outbox entry (written with its change by
//!    the store) becomes one delivery per event type and subscription that wants it, a log
//!    row and a queue row in one write (both only if absent), then the entry is removed. A
//!    crash in between fans it out again onto the same ids, which are found and skipped.
//! 2. **Delivery**: each active subscription's due queue rows are sent, signed; a lead's
//!    deliveries to one subscription go one at a time in version order (then event type),
//!    and a failure holds the later ones back. Failures retry with back-off and jitter for a
//!    day from the first attempt, then the delivery is `failed`. A row leaves the queue only
//!    after its outcome is written, and only at the version it was read at (a replay
//!    meanwhile keeps it), so a crash sends it again: at least once, with the same event id.
//! 3. A pass has a time budget, and tenants are served from where the last pass stopped, so
//!    one tenant's slow receivers delay the others by at most a budget.

use crate::domain::ids::TenantId;
use crate::domain::signature::timestamped_header;
use crate::domain::webhook::{
    Attempt, Delivery, DeliveryStatus, RESPONSE_EXCERPT, RetryPolicy, Subscription,
};
use crate::ports::clock::Clock;
use crate::ports::store::{Expect, LeadStore, StoreError, get_typed, kinds, list_typed, put_typed};
use crate::ports::webhook::{Outbound, WebhookSender};
use crate::services::ServiceError;
use crate::services::webhook_queue::{self as rows, QueueRow};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;

pub use crate::services::webhook_queue::{Queued, fan_out, requeue};

/// Deliveries in flight at once (each to its own lead's chain).
const IN_FLIGHT: usize = 32;
/// No new attempt starts after this much of a pass: a Lambda run stays under the schedule's
/// minute (an attempt takes at most 5 s more), and the gateway's worker comes back at once.
pub const PASS_BUDGET: std::time::Duration = std::time::Duration::from_secs(45);

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
    /// Whether the budget ran out with work left.
    pub cut_short: bool,
}

impl PassReport {
    fn add(&mut self, o: PassReport) {
        self.fanned_out += o.fanned_out;
        self.attempted += o.attempted;
        self.delivered += o.delivered;
        self.failed += o.failed;
        self.cut_short |= o.cut_short;
    }

    pub fn did_work(&self) -> bool {
        self.fanned_out + self.attempted > 0 || self.cut_short
    }
}

/// When a pass started, to hold it to `PASS_BUDGET`.
#[derive(Clone, Copy)]
struct Budget(std::time::Instant);

impl Budget {
    fn now() -> Self {
        Self(std::time::Instant::now())
    }

    fn spent(self) -> bool {
        self.0.elapsed() >= PASS_BUDGET
    }
}

/// Where the next pass starts in the tenant list (kept in the process: the gateway, or a
/// warm Lambda).
static NEXT_TENANT: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

struct Outcome {
    subscription_id: String,
    attempted: bool,
    delivered: bool,
    gave_up: bool,
    why: String,
}

impl Outcome {
    fn skipped(sub: &str) -> Self {
        Self {
            subscription_id: sub.to_owned(),
            attempted: false,
            delivered: false,
            gave_up: false,
            why: String::new(),
        }
    }
}

impl Dispatcher {
    /// One pass over every tenant: fan out, then send what is due. Suspended tenants wait. A
    /// tenant that fails (its store calls, a row that cannot be read) is logged and passed
    /// over, never holding up the others; past the budget the pass stops, and the next one
    /// starts at the tenant this one did not reach.
    pub async fn pass(&self) -> Result<PassReport, ServiceError> {
        let budget = Budget::now();
        let platform = crate::services::tenants::platform();
        let mut tenants = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let entries = self
                .store
                .list_records(&platform, kinds::TENANT_ENTRY, after.as_deref(), 200)
                .await?;
            let done = entries.len() < 200;
            after = entries.last().map(|e| e.id.clone());
            tenants.extend(entries.into_iter().filter_map(|e| TenantId::parse(&e.id).ok()));
            if done {
                break;
            }
        }
        let start = NEXT_TENANT.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(s) = start {
            let at = tenants.iter().position(|t| t.as_str() >= s.as_str()).unwrap_or(0);
            tenants.rotate_left(at);
        }
        let mut total = PassReport::default();
        for t in &tenants {
            if budget.spent() {
                *NEXT_TENANT.lock().unwrap_or_else(|p| p.into_inner()) = Some(t.as_str().to_owned());
                total.cut_short = true;
                break;
            }
            match self.tenant_pass_within(t, budget).await {
                Ok(r) => total.add(r),
                Err(e) => {
                    tracing::warn!(tenant = %t, error = %e, "webhook pass failed for a tenant; the others go on")
                }
            }
        }
        Ok(total)
    }

    /// Fan-out and delivery for one tenant (what the stream-fed function runs).
    pub async fn tenant_pass(&self, tenant: &TenantId) -> Result<PassReport, ServiceError> {
        self.tenant_pass_within(tenant, Budget::now()).await
    }

    async fn tenant_pass_within(
        &self,
        tenant: &TenantId,
        budget: Budget,
    ) -> Result<PassReport, ServiceError> {
        match crate::services::tenants::get_tenant(&*self.store, tenant).await? {
            Some(t) if !t.is_suspended() => {}
            _ => return Ok(PassReport::default()),
        }
        let mut report = PassReport {
            fanned_out: fan_out(&*self.store, tenant, self.clock.now()).await?,
            ..Default::default()
        };
        report.add(self.deliver_due(tenant, budget).await?);
        Ok(report)
    }

    /// Sends the tenant's due deliveries. Each active subscription's queue is read on its own
    /// (`webhook_queue::chains`), so one piling up behind a dead receiver cannot hide
    /// another's; a switched-off subscription's rows wait for it to be switched back on.
    async fn deliver_due(&self, tenant: &TenantId, budget: Budget) -> Result<PassReport, ServiceError> {
        let subs: HashMap<String, (Subscription, u64)> =
            list_typed::<Subscription>(&*self.store, tenant, kinds::WEBHOOK)
                .await?
                .into_iter()
                .filter(|s| s.value.active)
                .map(|s| (s.value.id.clone(), (s.value, s.version)))
                .collect();
        // Owned, so the futures below borrow nothing but `self` and `tenant`.
        let mut work: Vec<(Arc<Subscription>, Vec<QueueRow>)> = Vec::new();
        for (id, (s, _)) in &subs {
            let s = Arc::new(s.clone());
            for chain in rows::chains(&*self.store, tenant, id).await? {
                work.push((s.clone(), chain));
            }
        }
        if work.is_empty() {
            return Ok(PassReport::default());
        }
        let now = self.clock.now();
        let outcomes: Vec<Result<Vec<Outcome>, ServiceError>> = futures::stream::iter(
            work.into_iter()
                .map(|(s, chain)| self.send_chain(tenant, s, chain, now, budget)),
        )
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
        let mut report = PassReport {
            cut_short: budget.spent(),
            ..Default::default()
        };
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
        // One write per subscription and pass for its health (failing since, switched off),
        // and its log's old rows removed: a log only grows by attempts, so a subscription
        // attempted in this pass is the one to look at.
        for (id, (ok, why)) in by_sub {
            rows::prune_log(&*self.store, tenant, &id, self.clock.now()).await?;
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

    /// Sends a chain in order until one is not due yet or fails, or the budget is spent.
    async fn send_chain(
        &self,
        tenant: &TenantId,
        sub: Arc<Subscription>,
        chain: Vec<QueueRow>,
        now: DateTime<Utc>,
        budget: Budget,
    ) -> Result<Vec<Outcome>, ServiceError> {
        let mut out = Vec::new();
        for row in chain {
            if row.q.due > now || budget.spent() {
                break;
            }
            let o = self.attempt(tenant, &sub, &row).await?;
            // A row that was not sent (already done, or its log row gone) does not hold the
            // chain back; one that was sent and refused does.
            let go_on = o.delivered || !o.attempted;
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
        sub: &Subscription,
        row: &QueueRow,
    ) -> Result<Outcome, ServiceError> {
        let store = &*self.store;
        let Some(found) = get_typed::<Delivery>(store, tenant, kinds::WEBHOOK_DELIVERY, &row.id).await?
        else {
            rows::unqueue(store, tenant, &row.id, Expect::Version(row.version)).await?;
            return Ok(Outcome::skipped(&sub.id));
        };
        let (mut d, version) = (found.value, found.version);
        // A stale row (its delivery already done: a fan-out repeated, or two passes at once)
        // is dropped, not sent again.
        if d.status != DeliveryStatus::Pending {
            rows::unqueue(store, tenant, &row.id, Expect::Version(row.version)).await?;
            return Ok(Outcome::skipped(&sub.id));
        }
        let now = self.clock.now();
        // The day of retries starts at the first attempt since it was queued: a lead's later
        // events may wait long behind an earlier one.
        if d.last_attempt.as_ref().is_none_or(|a| a.at < d.scheduled_at) {
            d.scheduled_at = now;
        }
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
        rows::finish(store, tenant, &d, version, row.version, delivered || gave_up).await?;
        Ok(Outcome {
            subscription_id: sub.id.clone(),
            attempted: true,
            delivered,
            gave_up,
            why: answer.why(),
        })
    }
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
