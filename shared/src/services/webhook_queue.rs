//! The rows behind webhook delivery, and every write to them: fan-out (outbox entry → a log
//! row and a queue row per subscription and event type), reading a subscription's queue into
//! per-lead chains, an attempt's outcome, a replay, and removing a deleted subscription's
//! queue. `webhook_delivery` decides what to send and when.

use crate::domain::ids::{LeadId, TenantId};
use crate::domain::webhook::{
    Delivery, DeliveryStatus, EventType, OutboxEntry, Subscription, event_body, event_id,
};
use crate::ports::store::{
    Expect, LeadStore, MAX_BYTES_PER_WRITE, MAX_RECORDS_PER_WRITE, RecordWrite, StoreError, kinds,
    list_typed, put_typed,
};
use crate::services::ServiceError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Outbox entries fanned out per read, and queue rows read per subscription and pass.
const OUTBOX_PAGE: u32 = 500;
pub const QUEUE_PER_SUBSCRIPTION: usize = 2_000;

/// A queued delivery: enough to order and schedule it without reading its log row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Queued {
    pub subscription_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<LeadId>,
    #[serde(default)]
    pub lead_version: u64,
    /// Orders the events of one version (`lead.created` before `lead.assigned`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<EventType>,
    pub due: DateTime<Utc>,
}

/// A queue row as read, with the version it is removed or moved at.
#[derive(Debug, Clone)]
pub struct QueueRow {
    pub id: String,
    pub version: u64,
    pub q: Queued,
}

pub fn queued(d: &Delivery) -> Queued {
    Queued {
        subscription_id: d.subscription_id.clone(),
        lead_id: d.lead_id,
        lead_version: d.lead_version,
        event_type: Some(d.event_type),
        due: d.next_attempt_at.unwrap_or(d.scheduled_at),
    }
}

/// Turns the tenant's outbox entries into deliveries; returns how many deliveries it made.
///
/// A page of entries becomes as few writes as the store allows (`MAX_RECORDS_PER_WRITE`
/// records, about `MAX_BYTES_PER_WRITE` bytes): each write carries whole entries, their log
/// and queue rows (absent only) with the removal of the entries themselves, so an entry is
/// consumed exactly when its deliveries exist. A write refused
/// because a row exists already (a fan-out repeated after a crash, or two running at once) is
/// made again one delivery at a time, keeping what exists.
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
        let mut write: Vec<Consumed> = Vec::new();
        let (mut rows, mut bytes) = (0, 0);
        for r in batch {
            let consumed = consume(&r.id, r.body, &subs, now)?;
            let full = rows + consumed.rows() > MAX_RECORDS_PER_WRITE
                || bytes + consumed.bytes > MAX_BYTES_PER_WRITE;
            if full && !write.is_empty() {
                made += write_consumed(store, tenant, std::mem::take(&mut write)).await?;
                (rows, bytes) = (0, 0);
            }
            rows += consumed.rows();
            bytes += consumed.bytes;
            write.push(consumed);
        }
        if !write.is_empty() {
            made += write_consumed(store, tenant, write).await?;
        }
        if !full {
            return Ok(made);
        }
    }
}

/// One outbox entry as writes: each delivery's log and queue rows, then the entry's removal.
struct Consumed {
    deliveries: Vec<[RecordWrite; 2]>,
    remove: RecordWrite,
    /// About what its rows weigh: each log row carries the entry's lead.
    bytes: usize,
}

impl Consumed {
    fn rows(&self) -> usize {
        self.deliveries.len() * 2 + 1
    }
}

fn consume(
    id: &str,
    body: serde_json::Value,
    subs: &[Subscription],
    now: DateTime<Utc>,
) -> Result<Consumed, ServiceError> {
    let mut deliveries = Vec::new();
    let entry_bytes = body.to_string().len();
    match serde_json::from_value::<OutboxEntry>(body) {
        Ok(entry) => {
            for t in &entry.types {
                for s in subs.iter().filter(|s| s.wants(*t)) {
                    let d = Delivery {
                        id: Delivery::id_for(&s.id, id, *t),
                        subscription_id: s.id.clone(),
                        event_id: event_id(id, *t),
                        event_type: *t,
                        lead_id: entry.lead_id,
                        lead_version: entry.version,
                        created_at: entry.at,
                        scheduled_at: now,
                        status: DeliveryStatus::Pending,
                        attempts: 0,
                        next_attempt_at: Some(now),
                        last_attempt: None,
                        body: event_body(&entry, id, *t),
                    };
                    deliveries.push([
                        RecordWrite::typed(kinds::WEBHOOK_DELIVERY, d.id.clone(), &d, Expect::Absent)?,
                        RecordWrite::typed(kinds::WEBHOOK_QUEUE, d.id.clone(), &queued(&d), Expect::Absent)?,
                    ]);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, record = %id, "unreadable outbox entry dropped"),
    }
    Ok(Consumed {
        bytes: deliveries.len() * (entry_bytes + 1024) + 256,
        deliveries,
        remove: RecordWrite::remove(kinds::OUTBOX, id),
    })
}

/// Writes whole consumed entries at once; refused (a row exists), entry by entry and delivery
/// by delivery. Returns the deliveries made.
async fn write_consumed(
    store: &dyn LeadStore,
    tenant: &TenantId,
    entries: Vec<Consumed>,
) -> Result<u64, ServiceError> {
    let made: usize = entries.iter().map(|e| e.deliveries.len()).sum();
    let rows: usize = entries.iter().map(Consumed::rows).sum();
    let bytes: usize = entries.iter().map(|e| e.bytes).sum();
    if rows <= MAX_RECORDS_PER_WRITE && bytes <= MAX_BYTES_PER_WRITE {
        let all: Vec<RecordWrite> = entries
            .iter()
            .flat_map(|e| e.deliveries.iter().flatten().chain([&e.remove]))
            .cloned()
            .collect();
        match store.put_records(tenant, &all).await {
            Ok(()) => return Ok(made as u64),
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // One delivery at a time; an entry is removed once each of its deliveries exists.
    let mut made = 0;
    for e in entries {
        for pair in &e.deliveries {
            match store.put_records(tenant, pair).await {
                Ok(()) => made += 1,
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        store.put_records(tenant, std::slice::from_ref(&e.remove)).await?;
    }
    Ok(made)
}

/// The subscription's first `QUEUE_PER_SUBSCRIPTION` queue rows as chains: a lead's rows in
/// the order they must go (version, then event type), an event about no lead alone. A row
/// that cannot be read is removed (its log row shows it pending; a replay sends it).
pub async fn chains(
    store: &dyn LeadStore,
    tenant: &TenantId,
    sub: &str,
) -> Result<Vec<Vec<QueueRow>>, ServiceError> {
    let prefix = format!("{sub}:");
    let mut after = prefix.clone();
    let mut read = 0;
    let mut chains: BTreeMap<String, Vec<QueueRow>> = BTreeMap::new();
    'rows: while read < QUEUE_PER_SUBSCRIPTION {
        let batch = store
            .list_records(tenant, kinds::WEBHOOK_QUEUE, Some(&after), 500)
            .await?;
        let done = batch.len() < 500;
        for r in batch {
            if !r.id.starts_with(&prefix) {
                break 'rows;
            }
            after = r.id.clone();
            read += 1;
            match serde_json::from_value::<Queued>(r.body) {
                Ok(q) => {
                    let key = q.lead_id.map(|l| l.to_string()).unwrap_or_else(|| r.id.clone());
                    chains.entry(key).or_default().push(QueueRow {
                        id: r.id,
                        version: r.version,
                        q,
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable webhook queue row removed");
                    unqueue(store, tenant, &r.id, Expect::Version(r.version)).await?;
                }
            }
        }
        if done {
            break;
        }
    }
    Ok(chains
        .into_values()
        .map(|mut c| {
            c.sort_by(|a, b| {
                (a.q.lead_version, a.q.event_type, &a.id).cmp(&(b.q.lead_version, b.q.event_type, &b.id))
            });
            c
        })
        .collect())
}

/// Writes an attempt's outcome to the log, then takes the row off the queue (done) or moves
/// its due time (retry), both at the queue row's version as it was read. A log row changed
/// meanwhile (a replay) wins: this outcome is dropped; a queue row changed meanwhile (the
/// replay's) stays for the replay.
pub async fn finish(
    store: &dyn LeadStore,
    tenant: &TenantId,
    d: &Delivery,
    version: u64,
    queue_version: u64,
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
        return unqueue(store, tenant, &d.id, Expect::Version(queue_version)).await;
    }
    match put_typed(
        store,
        tenant,
        kinds::WEBHOOK_QUEUE,
        &d.id,
        &queued(d),
        Expect::Version(queue_version),
    )
    .await
    {
        Ok(_) | Err(StoreError::Conflict { .. }) | Err(StoreError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Removes a queue row if it is still as read (`Expect::Version`), or whatever it is.
pub async fn unqueue(
    store: &dyn LeadStore,
    tenant: &TenantId,
    id: &str,
    expect: Expect,
) -> Result<(), ServiceError> {
    match store
        .delete_record(tenant, kinds::WEBHOOK_QUEUE, id, expect)
        .await
    {
        Ok(()) | Err(StoreError::NotFound) | Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Removes every queued delivery of a subscription being deleted: nothing is left for a
/// pass to read (its log is no longer reachable through the API either).
pub async fn unqueue_subscription(
    store: &dyn LeadStore,
    tenant: &TenantId,
    sub: &str,
) -> Result<(), ServiceError> {
    let prefix = format!("{sub}:");
    loop {
        let batch = store
            .list_records(tenant, kinds::WEBHOOK_QUEUE, Some(&prefix), 500)
            .await?;
        let mine: Vec<_> = batch.iter().filter(|r| r.id.starts_with(&prefix)).collect();
        if mine.is_empty() {
            return Ok(());
        }
        for r in mine {
            unqueue(store, tenant, &r.id, Expect::Any).await?;
        }
    }
}

/// Queues a delivery again now, with a fresh day of retries (a replay): the log row (at its
/// version) and its queue row in one write, so a replay is never half made.
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
    let rows = [
        RecordWrite::typed(
            kinds::WEBHOOK_DELIVERY,
            d.id.clone(),
            &d,
            Expect::Version(version),
        )?,
        RecordWrite::typed(kinds::WEBHOOK_QUEUE, d.id.clone(), &queued(&d), Expect::Any)?,
    ];
    store.put_records(tenant, &rows).await?;
    Ok(d)
}

/// How long a finished delivery's log row is kept after its event (what a log read or a
/// replay can reach): about what other CRMs keep of a webhook log.
pub const LOG_RETENTION_DAYS: i64 = 30;

/// Removes the subscription's finished log rows (delivered or failed) whose event is older
/// than `LOG_RETENTION_DAYS`, among its first 100 log rows: log ids begin with the event's
/// time, so those are its oldest, and each pass with attempts takes the next ones. A pending
/// row stays however old (a paused subscription's events wait for it). Returns how many went.
pub async fn prune_log(
    store: &dyn LeadStore,
    tenant: &TenantId,
    sub: &str,
    now: DateTime<Utc>,
) -> Result<u64, ServiceError> {
    let prefix = format!("{sub}:");
    let cutoff = now - chrono::Duration::days(LOG_RETENTION_DAYS);
    let oldest = store
        .list_records(tenant, kinds::WEBHOOK_DELIVERY, Some(&prefix), 100)
        .await?;
    let gone: Vec<RecordWrite> = oldest
        .into_iter()
        .take_while(|r| r.id.starts_with(&prefix))
        .filter(|r| {
            // Only the age and the status, read in place: not a copy of each row's event body.
            #[derive(Deserialize)]
            struct Age {
                created_at: DateTime<Utc>,
                status: DeliveryStatus,
            }
            Age::deserialize(&r.body)
                .is_ok_and(|d| d.created_at < cutoff && d.status != DeliveryStatus::Pending)
        })
        .map(|r| RecordWrite::remove(kinds::WEBHOOK_DELIVERY, r.id))
        .collect();
    if !gone.is_empty() {
        store.put_records(tenant, &gone).await?;
    }
    Ok(gone.len() as u64)
}
