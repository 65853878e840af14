//! A tenant's webhook subscriptions (`/v1/settings/webhooks`, admins): create with a signing
//! secret shown once, change, remove, rotate the secret with a day of overlap, and read or
//! replay the delivery log. Sending is `services::webhook_delivery`.

use crate::domain::error::{FieldError, FieldErrors};
use crate::domain::ids::TenantId;
use crate::domain::query::{Page, decode_position_cursor, encode_position_cursor};
use crate::domain::webhook::{Delivery, DeliveryStatus, EventType, Subscription, new_secret};
use crate::domain::webhook_target::{TargetPolicy, parse_target};
use crate::ports::store::{Expect, LeadStore, StoreError, get_typed, kinds, list_typed, put_typed};
use crate::secret::Secret;
use crate::services::ServiceError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A tenant's subscriptions are few; each is checked on every event.
pub const MAX_SUBSCRIPTIONS: usize = 20;
const MAX_DESCRIPTION: usize = 200;

/// A subscription as the API shows it: the secret never, only its last four characters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubscriptionView {
    pub id: String,
    pub url: String,
    pub events: Vec<EventType>,
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `whsec_…` and the current secret's last four characters.
    pub secret_hint: String,
    /// While a rotated-out secret still signs deliveries: until when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<DateTime<Utc>>,
    /// Why the gateway switched it off (deliveries failing for days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub version: u64,
}

impl SubscriptionView {
    fn of(s: &Subscription, version: u64) -> Self {
        let current = s.secrets.first().map(|x| x.value.as_str()).unwrap_or("");
        let tail = &current[current.len().saturating_sub(4)..];
        Self {
            id: s.id.clone(),
            url: s.url.clone(),
            events: s.events.iter().copied().collect(),
            active: s.active,
            description: s.description.clone(),
            secret_hint: format!("whsec_…{tail}"),
            previous_secret_expires_at: s.secrets.iter().skip(1).find_map(|x| x.expires_at),
            created_at: s.created_at,
            updated_at: s.updated_at,
            failing_since: s.failing_since,
            last_success_at: s.last_success_at,
            disabled_reason: s.disabled_reason.clone(),
            version,
        }
    }
}

/// What an admin sends to create or change a subscription; on a change, what is left out
/// stays as it was.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionInput {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
    pub description: Option<String>,
}

fn parse_events(raw: &[String], errs: &mut FieldErrors) -> BTreeSet<EventType> {
    let mut out = BTreeSet::new();
    if raw.is_empty() || raw.len() > EventType::ALL.len() {
        errs.push(FieldError::new("events", "out_of_range", "name 1-8 event types"));
    }
    for (i, r) in raw.iter().enumerate() {
        match EventType::parse(r.trim()) {
            Some(t) => {
                out.insert(t);
            }
            None => errs.push(FieldError::new(
                format!("events[{i}]"),
                "unknown_event",
                format!(
                    "unknown event type; one of: {}",
                    EventType::ALL.map(EventType::as_str).join(", ")
                ),
            )),
        }
    }
    out
}

fn check_description(d: &Option<String>, errs: &mut FieldErrors) {
    if d.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        errs.push(FieldError::new(
            "description",
            "too_long",
            "at most 200 characters",
        ));
    }
}

fn check_url(raw: &str, policy: TargetPolicy, errs: &mut FieldErrors) -> Option<String> {
    match parse_target(raw, policy) {
        Ok(u) => Some(u.to_string()),
        Err(e) => {
            errs.push(e);
            None
        }
    }
}

/// Creates a subscription; returns it and its signing secret, which is never shown again.
pub async fn create(
    store: &dyn LeadStore,
    tenant: &TenantId,
    input: SubscriptionInput,
    policy: TargetPolicy,
    now: DateTime<Utc>,
) -> Result<(SubscriptionView, Secret), ServiceError> {
    let mut errs = FieldErrors::default();
    let url = match input.url.as_deref() {
        Some(u) => check_url(u, policy, &mut errs),
        None => {
            errs.push(FieldError::new("url", "required", "url is required"));
            None
        }
    };
    let events = match &input.events {
        Some(e) => parse_events(e, &mut errs),
        None => {
            errs.push(FieldError::new("events", "required", "events is required"));
            BTreeSet::new()
        }
    };
    check_description(&input.description, &mut errs);
    let url = errs.into_result(|| url.unwrap_or_default())?;
    if list_typed::<Subscription>(store, tenant, kinds::WEBHOOK)
        .await?
        .len()
        >= MAX_SUBSCRIPTIONS
    {
        return Err(ServiceError::InUse(format!(
            "a tenant has at most {MAX_SUBSCRIPTIONS} webhook subscriptions"
        )));
    }
    let secret = new_secret(now);
    let sub = Subscription {
        id: format!("wh_{}", &uuid::Uuid::now_v7().simple().to_string()[..24]),
        url,
        events,
        active: input.active.unwrap_or(true),
        description: input.description,
        secrets: vec![secret.clone()],
        created_at: now,
        updated_at: now,
        failing_since: None,
        last_success_at: None,
        disabled_reason: None,
    };
    let v = put_typed(store, tenant, kinds::WEBHOOK, &sub.id, &sub, Expect::Absent).await?;
    Ok((SubscriptionView::of(&sub, v), Secret::new(secret.value)))
}

async fn load(
    store: &dyn LeadStore,
    tenant: &TenantId,
    id: &str,
) -> Result<(Subscription, u64), ServiceError> {
    let found = get_typed::<Subscription>(store, tenant, kinds::WEBHOOK, id)
        .await?
        .ok_or(ServiceError::NotFound {
            what: "webhook subscription",
        })?;
    Ok((found.value, found.version))
}

pub async fn list(store: &dyn LeadStore, tenant: &TenantId) -> Result<Vec<SubscriptionView>, ServiceError> {
    Ok(list_typed::<Subscription>(store, tenant, kinds::WEBHOOK)
        .await?
        .iter()
        .map(|s| SubscriptionView::of(&s.value, s.version))
        .collect())
}

pub async fn get(
    store: &dyn LeadStore,
    tenant: &TenantId,
    id: &str,
) -> Result<SubscriptionView, ServiceError> {
    let (s, v) = load(store, tenant, id).await?;
    Ok(SubscriptionView::of(&s, v))
}

/// Changes what is given. Switching a subscription back on clears why it was switched off.
pub async fn update(
    store: &dyn LeadStore,
    tenant: &TenantId,
    id: &str,
    input: SubscriptionInput,
    policy: TargetPolicy,
    now: DateTime<Utc>,
) -> Result<SubscriptionView, ServiceError> {
    let (mut s, v) = load(store, tenant, id).await?;
    let mut errs = FieldErrors::default();
    if let Some(u) = input.url.as_deref()
        && let Some(u) = check_url(u, policy, &mut errs)
    {
        s.url = u;
    }
    if let Some(e) = &input.events {
        s.events = parse_events(e, &mut errs);
    }
    check_description(&input.description, &mut errs);
    errs.into_result(|| ())?;
    if input.description.is_some() {
        s.description = input.description;
    }
    if let Some(a) = input.active {
        if a && !s.active {
            s.disabled_reason = None;
            s.failing_since = None;
        }
        s.active = a;
    }
    s.updated_at = now;
    let v = put_typed(store, tenant, kinds::WEBHOOK, id, &s, Expect::Version(v)).await?;
    Ok(SubscriptionView::of(&s, v))
}

/// Removes it and what it still had queued (its log is no longer reachable either).
pub async fn delete(store: &dyn LeadStore, tenant: &TenantId, id: &str) -> Result<(), ServiceError> {
    match store.delete_record(tenant, kinds::WEBHOOK, id, Expect::Any).await {
        Err(StoreError::NotFound) => {
            return Err(ServiceError::NotFound {
                what: "webhook subscription",
            });
        }
        other => other?,
    }
    crate::services::webhook_queue::unqueue_subscription(store, tenant, id).await
}

/// A new signing secret, shown once; the old one keeps signing for a day.
pub async fn rotate_secret(
    store: &dyn LeadStore,
    tenant: &TenantId,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(SubscriptionView, Secret), ServiceError> {
    let (mut s, v) = load(store, tenant, id).await?;
    let fresh = s.rotate(now);
    let v = put_typed(store, tenant, kinds::WEBHOOK, id, &s, Expect::Version(v)).await?;
    Ok((SubscriptionView::of(&s, v), Secret::new(fresh.value)))
}

/// The subscription's deliveries, oldest event first, optionally one status only.
pub async fn list_deliveries(
    store: &dyn LeadStore,
    tenant: &TenantId,
    id: &str,
    status: Option<DeliveryStatus>,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<Delivery>, ServiceError> {
    load(store, tenant, id).await?;
    let prefix = format!("{id}:");
    let mut after = match cursor {
        Some(c) => decode_position_cursor(c)?,
        None => prefix.clone(),
    };
    if !after.starts_with(&prefix) {
        return Err(FieldError::new("cursor", "invalid_cursor", "a cursor from another list").into());
    }
    let limit = limit.clamp(1, 200) as usize;
    let mut items = Vec::new();
    // Filtering by status reads past the rows it skips, at most 10 pages a call.
    for _ in 0..10 {
        let batch = store
            .list_records(tenant, kinds::WEBHOOK_DELIVERY, Some(&after), 200)
            .await?;
        let done = batch.len() < 200;
        for r in batch {
            if !r.id.starts_with(&prefix) {
                return Ok(Page {
                    items,
                    next_cursor: None,
                });
            }
            after = r.id.clone();
            let d: Delivery = serde_json::from_value(r.body)
                .map_err(|e| StoreError::Corrupt(format!("delivery {}: {e}", r.id)))?;
            if status.is_none_or(|s| s == d.status) {
                items.push(d);
                if items.len() == limit {
                    return Ok(Page {
                        items,
                        next_cursor: Some(encode_position_cursor(&after)),
                    });
                }
            }
        }
        if done {
            return Ok(Page {
                items,
                next_cursor: None,
            });
        }
    }
    Ok(Page {
        items,
        next_cursor: Some(encode_position_cursor(&after)),
    })
}

/// Sends one delivery again (whatever its status): it is queued now, with a fresh day of
/// retries, and keeps its event id so a receiver can tell it is the same event.
pub async fn replay(
    store: &dyn LeadStore,
    tenant: &TenantId,
    id: &str,
    delivery_id: &str,
    now: DateTime<Utc>,
) -> Result<Delivery, ServiceError> {
    load(store, tenant, id).await?;
    if !delivery_id.starts_with(&format!("{id}:")) {
        return Err(ServiceError::NotFound { what: "delivery" });
    }
    let found = get_typed::<Delivery>(store, tenant, kinds::WEBHOOK_DELIVERY, delivery_id)
        .await?
        .ok_or(ServiceError::NotFound { what: "delivery" })?;
    crate::services::webhook_queue::requeue(store, tenant, found.value, found.version, now).await
}

/// Sends again every failed delivery of the subscription whose event came at or after
/// `since`; returns how many were queued.
pub async fn replay_failed(
    store: &dyn LeadStore,
    tenant: &TenantId,
    id: &str,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64, ServiceError> {
    load(store, tenant, id).await?;
    let mut cursor: Option<String> = None;
    let mut queued = 0;
    loop {
        let page = list_deliveries(
            store,
            tenant,
            id,
            Some(DeliveryStatus::Failed),
            cursor.as_deref(),
            200,
        )
        .await?;
        for d in page.items {
            if d.created_at < since {
                continue;
            }
            let Some(found) = get_typed::<Delivery>(store, tenant, kinds::WEBHOOK_DELIVERY, &d.id).await?
            else {
                continue;
            };
            crate::services::webhook_queue::requeue(store, tenant, found.value, found.version, now).await?;
            queued += 1;
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(queued),
        }
    }
}
