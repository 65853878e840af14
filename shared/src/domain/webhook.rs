//! Outbound webhooks, the pure part: the event types, the outbox entry a lead's write carries
//! (what changed, derived here once from the lead and its new timeline entries), a tenant's
//! subscriptions, deliveries and their retry schedule. The store writes outbox entries with
//! the change (`ports::store::outbox_record`); `services::webhook_delivery` sends them.

use crate::domain::activity::{Activity, ActivityKind};
use crate::domain::ids::{LeadId, TenantId};
use crate::domain::lead::Lead;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What a subscriber can hear about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
pub enum EventType {
    #[serde(rename = "lead.created")]
    LeadCreated,
    #[serde(rename = "lead.updated")]
    LeadUpdated,
    #[serde(rename = "lead.status_changed")]
    LeadStatusChanged,
    #[serde(rename = "lead.assigned")]
    LeadAssigned,
    #[serde(rename = "lead.converted")]
    LeadConverted,
    #[serde(rename = "lead.deleted")]
    LeadDeleted,
    #[serde(rename = "import.completed")]
    ImportCompleted,
    #[serde(rename = "capture.failed")]
    CaptureFailed,
}

impl EventType {
    pub const ALL: [EventType; 8] = [
        EventType::LeadCreated,
        EventType::LeadUpdated,
        EventType::LeadStatusChanged,
        EventType::LeadAssigned,
        EventType::LeadConverted,
        EventType::LeadDeleted,
        EventType::ImportCompleted,
        EventType::CaptureFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::LeadCreated => "lead.created",
            EventType::LeadUpdated => "lead.updated",
            EventType::LeadStatusChanged => "lead.status_changed",
            EventType::LeadAssigned => "lead.assigned",
            EventType::LeadConverted => "lead.converted",
            EventType::LeadDeleted => "lead.deleted",
            EventType::ImportCompleted => "import.completed",
            EventType::CaptureFailed => "capture.failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// What a lead's write did, as the store commits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadChange {
    Created,
    Updated,
    Deleted,
}

/// The events of one write, stored in the outbox by that same write: no event without its
/// change, no change without its event. Each of its `types` is one event to subscribers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub tenant: TenantId,
    /// The lead the events are about (none for an import's or a capture's own events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<LeadId>,
    /// The lead's version after the write: a lead's events go out in this order.
    #[serde(default)]
    pub version: u64,
    /// What an event not about one lead is about (the job, the submission): writing the
    /// same one twice is one entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub at: DateTime<Utc>,
    pub types: Vec<EventType>,
    /// The event's `data`: `{"lead": …}` as the API shows the lead.
    pub data: serde_json::Value,
}

impl OutboxEntry {
    /// The events of a lead's write. Every new version of a lead is a `lead.updated`; a
    /// status move, a new owner and a conversion are also their own types, so a subscriber
    /// can listen for just those. A new lead is `lead.created` (and `lead.assigned` when it
    /// is born with an owner).
    pub fn for_lead(lead: &Lead, entries: &[Activity], change: LeadChange, at: DateTime<Utc>) -> Self {
        let mut types = BTreeSet::new();
        match change {
            LeadChange::Created => {
                types.insert(EventType::LeadCreated);
            }
            LeadChange::Updated => {
                types.insert(EventType::LeadUpdated);
            }
            LeadChange::Deleted => {
                types.insert(EventType::LeadDeleted);
            }
        }
        if change != LeadChange::Deleted {
            for e in entries {
                match &e.kind {
                    ActivityKind::StatusChanged { .. } if change == LeadChange::Updated => {
                        types.insert(EventType::LeadStatusChanged);
                    }
                    ActivityKind::Assigned { to: Some(_), .. } => {
                        types.insert(EventType::LeadAssigned);
                    }
                    ActivityKind::Converted { .. } => {
                        types.insert(EventType::LeadConverted);
                    }
                    _ => {}
                }
            }
        }
        let at = entries.iter().map(|e| e.at).fold(at, DateTime::max);
        Self {
            tenant: lead.tenant.clone(),
            lead_id: Some(lead.id),
            version: lead.version,
            subject: None,
            at,
            types: types.into_iter().collect(),
            data: serde_json::json!({ "lead": lead }),
        }
    }

    /// An event that is not about one lead (an import finished, a capture failed); `key`
    /// names what it is about (the job, the submission), so writing it twice is one entry.
    pub fn other(
        tenant: TenantId,
        kind: EventType,
        key: &str,
        at: DateTime<Utc>,
        data: serde_json::Value,
    ) -> Self {
        Self {
            tenant,
            lead_id: None,
            version: 0,
            subject: Some(key.to_owned()),
            at,
            types: vec![kind],
            data,
        }
    }

    /// Its id in the outbox: for a lead's write, time first (the outbox lists oldest first)
    /// then the lead and its version, which make it unique (a write is one version of one
    /// lead). For an event about something else, its subject alone: the same event written
    /// again (a run finished twice after a crash) is the same entry and the same event id.
    pub fn record_id(&self) -> String {
        let micros = self.at.timestamp_micros().max(0);
        match (self.lead_id, &self.subject) {
            (Some(l), _) => format!("{micros:016}-{}-{:010}", l.as_uuid().simple(), self.version),
            (None, Some(k)) => format!("s-{k}"),
            (None, None) => format!("{micros:016}-{}", uuid::Uuid::new_v4().simple()),
        }
    }
}

/// The id a subscriber sees for one event: stable across retries and replays, so a receiver
/// can drop a duplicate by it.
pub fn event_id(record_id: &str, t: EventType) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::new()
        .chain_update(record_id.as_bytes())
        .chain_update(b"/")
        .chain_update(t.as_str().as_bytes())
        .finalize();
    format!("evt_{}", &hex::encode(d)[..32])
}

/// The body a subscriber receives: `{id, type, created_at, tenant, data}`.
pub fn event_body(entry: &OutboxEntry, record_id: &str, t: EventType) -> serde_json::Value {
    serde_json::json!({
        "id": event_id(record_id, t),
        "type": t.as_str(),
        "created_at": entry.at,
        "tenant": entry.tenant,
        "data": entry.data,
    })
}

/// A secret deliveries are signed with. Stored as it is (not hashed like an API key): the
/// sender must compute an HMAC with it, as Stripe and GitHub keep theirs. It is shown once.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SigningSecret {
    pub value: String,
    pub created_at: DateTime<Utc>,
    /// Set when a rotation replaced it: deliveries carry its signature too until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningSecret")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A new secret: `whsec_` and 32 random bytes in hex.
pub fn new_secret(now: DateTime<Utc>) -> SigningSecret {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    SigningSecret {
        value: format!("whsec_{}", hex::encode(bytes)),
        created_at: now,
        expires_at: None,
    }
}

/// How long a rotated-out secret keeps signing: receivers have a day to switch.
pub const ROTATION_OVERLAP: Duration = Duration::hours(24);
/// A subscription whose deliveries have all failed this long is switched off, with why.
pub const DISABLE_AFTER: Duration = Duration::days(3);

/// A tenant's subscription: where its events go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub url: String,
    pub events: BTreeSet<EventType>,
    pub active: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The current secret first; a rotated-out one stays until its `expires_at`.
    pub secrets: Vec<SigningSecret>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Since when every delivery has failed (cleared by a success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<DateTime<Utc>>,
    /// Why it was switched off, when the gateway did it (not the admin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
}

impl Subscription {
    pub fn wants(&self, t: EventType) -> bool {
        self.active && self.events.contains(&t)
    }

    /// The secrets that sign a delivery at `now`: the current one and any still overlapping.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        self.secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|e| e > now))
            .map(|s| s.value.as_str())
            .collect()
    }

    /// Replaces the current secret; the old one signs too until `now + ROTATION_OVERLAP`, and
    /// one already rotated out is dropped (two valid at most).
    pub fn rotate(&mut self, now: DateTime<Utc>) -> SigningSecret {
        let fresh = new_secret(now);
        let mut old: Vec<SigningSecret> = self
            .secrets
            .drain(..)
            .filter(|s| s.expires_at.is_none())
            .take(1)
            .collect();
        for s in &mut old {
            s.expires_at = Some(now + ROTATION_OVERLAP);
        }
        self.secrets = std::iter::once(fresh.clone()).chain(old).collect();
        self.updated_at = now;
        fresh
    }

    /// Records a delivery's outcome; a subscription failing for `DISABLE_AFTER` with no
    /// success is switched off, and says why. Returns whether anything changed.
    pub fn note_outcome(&mut self, ok: bool, now: DateTime<Utc>, why: &str) -> bool {
        if ok {
            let changed = self.failing_since.is_some()
                || self
                    .last_success_at
                    .is_none_or(|t| now - t > Duration::minutes(1));
            self.failing_since = None;
            self.last_success_at = Some(now);
            return changed;
        }
        match self.failing_since {
            None => {
                self.failing_since = Some(now);
                true
            }
            Some(since) if self.active && now - since >= DISABLE_AFTER => {
                self.active = false;
                self.disabled_reason = Some(format!(
                    "switched off at {}: every delivery failed since {} (last: {why})",
                    now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ));
                true
            }
            Some(_) => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its first attempt or its next retry.
    Pending,
    Delivered,
    /// Retried for `RetryPolicy::give_up_after` without a 2xx (or the subscription was
    /// removed); a replay sends it again.
    Failed,
}

/// One attempt, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status; none when it could not be reached.
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    /// Why it failed, in our words (never a transport's error text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The start of the receiver's answer (at most `RESPONSE_EXCERPT` bytes are kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_excerpt: Option<String>,
}

/// How much of a receiver's answer is read, and kept in the log.
pub const RESPONSE_EXCERPT: usize = 512;

/// One event on its way to one subscription: the delivery log's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: String,
    pub subscription_id: String,
    pub event_id: String,
    pub event_type: EventType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_id: Option<LeadId>,
    /// The lead's version the event is about (order per lead).
    #[serde(default)]
    pub lead_version: u64,
    /// When the event happened.
    pub created_at: DateTime<Utc>,
    /// When it was queued (first, or by a replay): retries stop a day after this.
    pub scheduled_at: DateTime<Utc>,
    pub status: DeliveryStatus,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<Attempt>,
    /// The event as it is sent (each attempt signs it afresh).
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

impl Delivery {
    /// The id of a subscription's delivery of one event: the subscription first, so a
    /// subscription's log is one range, then the outbox id, so it lists oldest first.
    pub fn id_for(subscription: &str, record_id: &str, t: EventType) -> String {
        format!("{subscription}:{record_id}:{}", t.as_str())
    }
}

/// When to try again: exponential back-off with full jitter, given up after a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first_delay: std::time::Duration,
    pub max_delay: std::time::Duration,
    pub give_up_after: std::time::Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_delay: std::time::Duration::from_secs(10),
            max_delay: std::time::Duration::from_secs(3600),
            give_up_after: std::time::Duration::from_secs(24 * 3600),
        }
    }
}

impl RetryPolicy {
    /// The next attempt after `failures` failed ones (1 after the first), or none when the
    /// delivery made at `created` is past giving up. `jitter` in [0, 1) picks the delay in
    /// [d/2, d], so receivers coming back up are not hit by every sender at once.
    pub fn next_attempt(
        &self,
        failures: u32,
        created: DateTime<Utc>,
        now: DateTime<Utc>,
        jitter: f64,
    ) -> Option<DateTime<Utc>> {
        let base = self
            .first_delay
            .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(20)))
            .min(self.max_delay);
        let delay = base.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0));
        let next = now + Duration::from_std(delay).ok()?;
        let deadline = created + Duration::from_std(self.give_up_after).ok()?;
        (next <= deadline).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::activity::Actor;
    use crate::domain::status::LeadStatus;

    fn lead() -> Lead {
        let at = Utc::now();
        serde_json::from_value(serde_json::json!({
            "id": LeadId::new(), "tenant": "acme", "name": "Ada", "source": "web",
            "status": "contacted", "created_at": at, "updated_at": at, "last_activity_at": at,
            "version": 4
        }))
        .unwrap()
    }

    fn entry(l: &Lead, kind: ActivityKind) -> Activity {
        Activity::new(l.tenant.clone(), l.id, l.updated_at, Actor::System, kind)
    }

    #[test]
    fn when_a_lead_moves_should_name_each_kind_of_change_once() {
        let l = lead();
        let status = entry(
            &l,
            ActivityKind::StatusChanged {
                from: LeadStatus::New,
                to: LeadStatus::Contacted,
                reason: None,
            },
        );
        let assigned = entry(
            &l,
            ActivityKind::Assigned {
                from: None,
                to: Some(serde_json::from_value(serde_json::json!("rep-1")).unwrap()),
                reason: "manual".into(),
            },
        );
        let e = OutboxEntry::for_lead(&l, &[status, assigned.clone()], LeadChange::Updated, l.updated_at);
        assert_eq!(
            e.types,
            vec![
                EventType::LeadUpdated,
                EventType::LeadStatusChanged,
                EventType::LeadAssigned
            ]
        );
        assert_eq!(e.version, 4);
        let born = OutboxEntry::for_lead(&l, &[assigned], LeadChange::Created, l.updated_at);
        assert_eq!(born.types, vec![EventType::LeadCreated, EventType::LeadAssigned]);
        let gone = OutboxEntry::for_lead(&l, &[], LeadChange::Deleted, l.updated_at);
        assert_eq!(gone.types, vec![EventType::LeadDeleted]);
    }

    #[test]
    fn when_outbox_ids_are_made_should_sort_by_time_and_name_the_version() {
        let l = lead();
        let a = OutboxEntry::for_lead(&l, &[], LeadChange::Updated, l.updated_at);
        let mut later = a.clone();
        later.at += Duration::seconds(1);
        assert!(a.record_id() < later.record_id());
        assert!(a.record_id().ends_with("-0000000004"));
        assert_ne!(
            event_id(&a.record_id(), EventType::LeadUpdated),
            event_id(&a.record_id(), EventType::LeadCreated)
        );
    }

    #[test]
    fn when_a_secret_is_rotated_twice_should_sign_with_at_most_two() {
        let now = Utc::now();
        let mut s = Subscription {
            id: "wh_1".into(),
            url: "https://example.com/hook".into(),
            events: BTreeSet::from([EventType::LeadCreated]),
            active: true,
            description: None,
            secrets: vec![new_secret(now)],
            created_at: now,
            updated_at: now,
            failing_since: None,
            last_success_at: None,
            disabled_reason: None,
        };
        let first = s.secrets[0].value.clone();
        let second = s.rotate(now);
        assert_eq!(
            s.signing_secrets(now),
            vec![second.value.as_str(), first.as_str()]
        );
        let third = s.rotate(now);
        assert_eq!(
            s.signing_secrets(now),
            vec![third.value.as_str(), second.value.as_str()]
        );
        // After the overlap only the current one signs.
        assert_eq!(
            s.signing_secrets(now + ROTATION_OVERLAP),
            vec![third.value.as_str()]
        );
        assert!(!format!("{:?}", s).contains("whsec_"));
    }

    #[test]
    fn when_deliveries_keep_failing_should_switch_off_after_three_days_and_say_why() {
        let now = Utc::now();
        let mut s = Subscription {
            id: "wh_1".into(),
            url: "https://example.com/hook".into(),
            events: BTreeSet::from([EventType::LeadCreated]),
            active: true,
            description: None,
            secrets: vec![new_secret(now)],
            created_at: now,
            updated_at: now,
            failing_since: None,
            last_success_at: None,
            disabled_reason: None,
        };
        assert!(s.note_outcome(false, now, "answered 500"));
        assert!(!s.note_outcome(false, now + Duration::days(2), "answered 500"));
        assert!(s.active);
        assert!(s.note_outcome(false, now + DISABLE_AFTER, "answered 503"));
        assert!(!s.active);
        assert!(s.disabled_reason.as_deref().unwrap().contains("answered 503"));
    }

    #[test]
    fn when_retries_back_off_should_double_with_jitter_and_stop_after_a_day() {
        let p = RetryPolicy::default();
        let t0 = Utc::now();
        let d = |n, j| (p.next_attempt(n, t0, t0, j).unwrap() - t0).num_seconds();
        assert_eq!((d(1, 0.0), d(1, 0.999_999)), (5, 9));
        assert_eq!(d(3, 0.999_999), 39);
        assert_eq!(d(30, 0.999_999), 3599);
        assert_eq!(p.next_attempt(5, t0, t0 + Duration::hours(24), 0.0), None);
    }
}
