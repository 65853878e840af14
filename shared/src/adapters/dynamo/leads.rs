//! Leads and activities in the single table: the writes (create with its guards, batches,
//! changes with their records and entries, delete), reads by id and contact, the timeline.
//! Lists are in `lead_list`.

use super::keys::{self, ACTIVITY_PREFIX, LEAD_SK};
use super::table::{self, PK, SK};
use super::{DynamoStore, Item, MAX_ATTEMPTS, backoff, get_n, get_s, key, n, s, sdk};
use crate::adapters::lead_index::{activity_pos, created_pos};
use crate::domain::activity::Activity;
use crate::domain::duplicate::{KnownContacts, MatchKey};
use crate::domain::ids::{LeadId, TenantId};
use crate::domain::lead::Lead;
use crate::domain::query::{Page, decode_position_cursor, encode_position_cursor};
use crate::domain::rep::ASSIGNMENT_COUNTER;
use crate::domain::rollup;
use crate::domain::time::position;
use crate::domain::webhook::LeadChange;
use crate::ports::store::{CreateGuards, CreateOutcome, RecordWrite, StoreError, with_lead_events};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    Delete, DeleteRequest, KeysAndAttributes, Put, PutRequest, TransactWriteItem, WriteRequest,
};
use serde_dynamo::aws_sdk_dynamodb_1 as sd;

/// Reads one bulk lookup keeps in flight (index queries, GetItems).
const LOOKUPS_IN_FLIGHT: usize = 16;

/// Keys one BatchGetItem may name (DynamoDB's limit).
const KEYS_PER_GET: usize = 100;

/// Sort keys are `{micros:016}#{id}`; these bound every possible one.
pub(super) const POS_MIN: &str = "0";
pub(super) const POS_MAX: &str = "~";

/// Lost races for a rotation slot before a create takes it with an increment of its own.
const SLOT_RACES: u32 = 3;

/// Where a create's round-robin slot stands.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// No rotation: the lead has its owner, or none.
    None,
    /// The counter read this value: the slot is the next, taken in the lead's transaction.
    Next(u64),
    /// This slot is taken already (by an increment of its own).
    Taken(u64),
}

impl Slot {
    /// The slot the lead gets, when it gets one.
    fn number(self) -> Option<u64> {
        match self {
            Slot::None => None,
            Slot::Next(seen) => Some(seen + 1),
            Slot::Taken(n) => Some(n),
        }
    }
}

type TxError = SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>;

/// Why a transaction was cancelled, per item, when it was.
fn cancel_codes(e: &TxError) -> Option<Vec<String>> {
    match e.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => Some(
            c.cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect(),
        ),
        _ => None,
    }
}

fn is_retryable_tx(codes: &[String]) -> bool {
    codes
        .iter()
        .any(|c| c == "TransactionConflict" || c == "ThrottlingError")
}

impl DynamoStore {
    /// Sends a transaction, and again with back-off (up to `MAX_ATTEMPTS`) while it is
    /// cancelled only by a concurrent transaction or throttling. On failure: the error, and
    /// the cancellation reason of each item when it was a cancellation, for the caller to
    /// read which condition failed.
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), (TxError, Option<Vec<String>>)> {
        let mut attempt = 0;
        loop {
            let err = match self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            match cancel_codes(&err) {
                Some(codes) if is_retryable_tx(&codes) && attempt < MAX_ATTEMPTS => {
                    attempt += 1;
                    backoff(attempt).await;
                }
                codes => return Err((err, codes)),
            }
        }
    }
}

fn put_item(
    table: &str,
    item: Item,
    condition: Option<&str>,
    values: Option<Item>,
) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned))
        .set_expression_attribute_values(values)
        .build()
        .map_err(sdk)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

pub(super) fn parse_lead(item: &Item) -> Result<Lead, StoreError> {
    let av = item
        .get("lead")
        .ok_or_else(|| StoreError::Corrupt("lead item without lead attribute".into()))?;
    sd::from_attribute_value(av.clone()).map_err(|e| StoreError::Corrupt(format!("lead: {e}")))
}

impl DynamoStore {
    fn lead_item(&self, l: &Lead) -> Result<Item, StoreError> {
        let t = &l.tenant;
        let shard = keys::lead_shard(l, self.shards);
        let [s_name, s_email, s_company] = l.search_terms();
        let mut item = Item::from([
            (PK.to_owned(), s(keys::lead_pk(t, &l.id))),
            (SK.to_owned(), s(LEAD_SK)),
            ("lead_id".to_owned(), s(l.id.to_string())),
            ("version".to_owned(), n(l.version)),
            (table::BY_CREATED.pk.to_owned(), s(keys::all_pk(t, shard))),
            (table::BY_CREATED.sk.to_owned(), s(created_pos(l))),
            (table::BY_ACTIVITY.sk.to_owned(), s(activity_pos(l))),
            (
                table::BY_STATUS.pk.to_owned(),
                s(keys::status_pk(t, l.status.as_str(), shard)),
            ),
            (
                table::BY_OWNER.pk.to_owned(),
                s(keys::owner_pk(t, l.owner.as_ref().map(|o| o.as_str()), shard)),
            ),
            (
                table::BY_SOURCE.pk.to_owned(),
                s(keys::source_pk(t, l.source.as_str(), shard)),
            ),
            (
                "lead".to_owned(),
                sd::to_attribute_value(l).map_err(|e| StoreError::Invalid(e.to_string()))?,
            ),
        ]);
        if let Some(e) = &l.email {
            item.insert(table::BY_EMAIL.pk.into(), s(keys::email_pk(t, e.as_str())));
        }
        if let Some(p) = l.match_phone() {
            item.insert(table::BY_PHONE.pk.into(), s(keys::phone_pk(t, p.as_str())));
        }
        for f in crate::domain::sort::SortField::BY_VALUE {
            item.insert(table::sort_index(f).sk.into(), s(f.position(l)));
        }
        for (k, v) in [("s_name", s_name), ("s_email", s_email), ("s_company", s_company)] {
            if let Some(v) = v {
                item.insert(k.into(), s(v));
            }
        }
        Ok(item)
    }

    fn lead_key(t: &TenantId, id: &LeadId) -> Item {
        key(keys::lead_pk(t, id), LEAD_SK)
    }

    /// A consistent read of the lead and its stored version.
    pub(super) async fn get_lead_item(
        &self,
        t: &TenantId,
        id: &LeadId,
    ) -> Result<Option<(Lead, u64)>, StoreError> {
        match self.get_consistent(Self::lead_key(t, id)).await?.as_ref() {
            None => Ok(None),
            Some(item) => {
                let lead = parse_lead(item)?;
                let v = get_n(item, "version").unwrap_or(lead.version);
                Ok(Some((lead, v)))
            }
        }
    }

    async fn guard_owner(&self, pk: String, sk: &str) -> Result<Option<LeadId>, StoreError> {
        Ok(self.guard_item(pk, sk).await?.map(|(id, _)| id))
    }

    /// A guard item's lead, and the fingerprint stored with it.
    async fn guard_item(&self, pk: String, sk: &str) -> Result<Option<(LeadId, Option<String>)>, StoreError> {
        let item = self.get_consistent(key(pk, sk)).await?;
        Ok(item.as_ref().and_then(|i| {
            let id = get_s(i, "lead_id").and_then(|id| LeadId::parse(id).ok())?;
            Some((id, get_s(i, "fingerprint").map(str::to_owned)))
        }))
    }

    pub(super) async fn find_by_contact(
        &self,
        t: &TenantId,
        key: &MatchKey,
    ) -> Result<Vec<LeadId>, StoreError> {
        let (index, pk) = match key {
            MatchKey::Email(e) => (table::BY_EMAIL, keys::email_pk(t, e.as_str())),
            MatchKey::Phone(p) => (table::BY_PHONE, keys::phone_pk(t, p.as_str())),
        };
        let mut ids = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index.name)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", index.pk)
                .expression_attribute_values(":pk", s(pk.clone()))
                .projection_expression("lead_id")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk)?;
            for item in out.items() {
                if let Some(id) = get_s(item, "lead_id").and_then(|v| LeadId::parse(v).ok()) {
                    ids.push(id);
                }
            }
            match out.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok(ids),
            }
        }
    }

    /// Strongly consistent BatchGetItems of up to `KEYS_PER_GET` leads, `LOOKUPS_IN_FLIGHT`
    /// at a time, in no particular order. An import's batch of 500 leads (each looked up to
    /// move the rollups by what it replaces) is 5 calls instead of 500 GetItems.
    pub(super) async fn get_many(&self, t: &TenantId, ids: &[LeadId]) -> Result<Vec<Lead>, StoreError> {
        use futures::{StreamExt, TryStreamExt};
        // BatchGetItem refuses a request that names one key twice.
        let mut ids = ids.to_vec();
        ids.sort();
        ids.dedup();
        let found: Vec<Vec<Lead>> = futures::stream::iter(ids.chunks(KEYS_PER_GET).map(<[_]>::to_vec))
            .map(|chunk| self.get_chunk(t, chunk))
            .buffer_unordered(LOOKUPS_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// One BatchGetItem, asked again for the keys it leaves unprocessed (a response over
    /// 16 MB, or throttling) with back-off.
    async fn get_chunk(&self, t: &TenantId, ids: Vec<LeadId>) -> Result<Vec<Lead>, StoreError> {
        let keys = ids.iter().map(|id| Self::lead_key(t, id)).collect();
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(sdk)?,
        );
        let (mut leads, mut attempt) = (Vec::with_capacity(ids.len()), 0);
        while let Some(asked) = pending.take() {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, asked)
                .send()
                .await
                .map_err(sdk)?;
            for item in out
                .responses()
                .and_then(|r| r.get(&self.table))
                .into_iter()
                .flatten()
            {
                leads.push(parse_lead(item)?);
            }
            pending = out
                .unprocessed_keys()
                .and_then(|m| m.get(&self.table))
                .filter(|k| !k.keys().is_empty())
                .cloned();
            if pending.is_some() {
                attempt += 1;
                if attempt > MAX_ATTEMPTS * 2 {
                    return Err(StoreError::Unavailable(
                        format!("keys stayed unprocessed after {attempt} calls").into(),
                    ));
                }
                backoff(attempt).await;
            }
        }
        Ok(leads)
    }

    /// Each key is its own GSI query (an index has no batch get): `LOOKUPS_IN_FLIGHT` of them
    /// at a time, so a batch costs a few round trips, not one per key.
    pub(super) async fn find_by_contacts(
        &self,
        t: &TenantId,
        keys: &[MatchKey],
    ) -> Result<Vec<(MatchKey, LeadId)>, StoreError> {
        use futures::{StreamExt, TryStreamExt};
        let found: Vec<Vec<(MatchKey, LeadId)>> = futures::stream::iter(keys.iter().cloned())
            .map(|k| async move {
                let ids = self.find_by_contact(t, &k).await?;
                Ok::<_, StoreError>(ids.into_iter().map(|id| (k.clone(), id)).collect())
            })
            .buffer_unordered(LOOKUPS_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    pub(super) async fn create(
        &self,
        lead: &Lead,
        g: &CreateGuards,
        entries: &[Activity],
        records: &[RecordWrite],
    ) -> Result<CreateOutcome, StoreError> {
        if entries
            .iter()
            .any(|a| a.lead_id != lead.id || a.tenant != lead.tenant)
        {
            return Err(StoreError::Invalid("a timeline entry of another lead".into()));
        }
        let t = &lead.tenant;
        let ext_pk = g
            .external
            .as_ref()
            .map(|x| keys::external_pk(t, &x.provider, &x.id));
        let idem_pk = g
            .idempotency_key
            .as_ref()
            .map(|k| keys::idempotency_pk(t, &k.key));
        // Guards before duplicates: a replay must answer "already processed", not "duplicate".
        // The transaction below re-checks both guards atomically.
        if let Some(pk) = &ext_pk
            && let Some(id) = self.guard_owner(pk.clone(), "#EXT").await?
        {
            return Ok(CreateOutcome::ExternalIdTaken(id));
        }
        if let Some(pk) = &idem_pk
            && let Some((id, fingerprint)) = self.guard_item(pk.clone(), "#IDEM").await?
        {
            return Ok(CreateOutcome::IdempotencyKeyTaken(id, fingerprint));
        }
        if g.reject_duplicates {
            // Read from the eventually consistent matcher indexes: two simultaneous creates of
            // the same new contact can both pass. Platform deliveries are deduplicated exactly
            // by the external-id item below, which is transactional.
            let keys = lead.match_keys();
            let known: KnownContacts = self.find_by_contacts(t, &keys).await?.into_iter().collect();
            if let Some(m) = known.duplicate(&keys, None) {
                return Ok(CreateOutcome::Duplicate(m));
            }
        }
        // The rotation's slot goes in the transaction: the counter moves from the value read
        // to the next, on the condition that no other write moved it first; a create that
        // loses that race reads it again. After `SLOT_RACES` lost races (a burst on one
        // tenant) the slot is taken the old way, with an atomic increment of its own, and the
        // lead's write carries no condition on the counter: one more write, but bounded. That
        // slot is taken before the write, so if a guard then answers (a replay racing this
        // create) it goes unused: the rotation skips one turn, in bursts only.
        let mut slot = match &g.round_robin {
            None => Slot::None,
            Some(_) => Slot::Next(self.counter_value(t, ASSIGNMENT_COUNTER).await?),
        };
        let mut races = 0;
        let new_only = Some("attribute_not_exists(pk)");
        loop {
            let assigned;
            let (lead, entries) = match (&g.round_robin, slot.number()) {
                (Some(rr), Some(n)) => {
                    assigned = rr.assigned(n, lead, entries);
                    (&assigned.0, assigned.1.as_slice())
                }
                _ => (lead, entries),
            };
            let mut items = vec![put_item(&self.table, self.lead_item(lead)?, new_only, None)?];
            let idem_fingerprint = g.idempotency_key.as_ref().and_then(|k| k.fingerprint.clone());
            for (pk, sk, fingerprint) in [(&ext_pk, "#EXT", None), (&idem_pk, "#IDEM", idem_fingerprint)] {
                if let Some(pk) = pk {
                    let mut item = Item::from([
                        (PK.to_owned(), s(pk.clone())),
                        (SK.to_owned(), s(sk)),
                        ("lead_id".to_owned(), s(lead.id.to_string())),
                    ]);
                    if let Some(f) = fingerprint {
                        item.insert("fingerprint".to_owned(), s(f));
                    }
                    items.push(put_item(&self.table, item, new_only, None)?);
                }
            }
            // The entries and records go last, so the guards keep their places in the
            // cancellation reasons; the counter goes after everything.
            for a in entries {
                items.push(put_item(&self.table, Self::activity_item(a)?, new_only, None)?);
            }
            for r in &with_lead_events(records, lead, entries, LeadChange::Created, lead.updated_at)? {
                items.push(self.record_write_item(t, r)?);
            }
            items.extend(self.rollup_updates(t, &lead.id, &rollup::delta(None, Some(lead)))?);
            if let Slot::Next(seen) = slot {
                items.push(self.counter_take(t, ASSIGNMENT_COUNTER, seen)?);
            }
            let (err, codes) = match self.transact(items).await {
                Ok(()) => return Ok(CreateOutcome::Created(Box::new(lead.clone()))),
                Err(failed) => failed,
            };
            let Some(codes) = codes else {
                return Err(sdk(err));
            };
            // Items are [lead, ext?, idem?, …]; find which guard failed.
            let mut guard_idx = 1;
            if let Some(pk) = &ext_pk {
                if codes
                    .get(guard_idx)
                    .is_some_and(|c| c == "ConditionalCheckFailed")
                    && let Some(id) = self.guard_owner(pk.clone(), "#EXT").await?
                {
                    return Ok(CreateOutcome::ExternalIdTaken(id));
                }
                guard_idx += 1;
            }
            if let Some(pk) = &idem_pk {
                if codes
                    .get(guard_idx)
                    .is_some_and(|c| c == "ConditionalCheckFailed")
                    && let Some((id, fingerprint)) = self.guard_item(pk.clone(), "#IDEM").await?
                {
                    return Ok(CreateOutcome::IdempotencyKeyTaken(id, fingerprint));
                }
                guard_idx += 1;
            }
            let failed = |c: &String| c == "ConditionalCheckFailed";
            // Lost the counter to another create: its condition failed, or a transaction
            // held it through every retry of `transact`.
            if let (Slot::Next(_), Some((counter, rest))) = (slot, codes.split_last())
                && (failed(counter) || counter == "TransactionConflict")
                && !rest.iter().any(failed)
            {
                races += 1;
                slot = if races < SLOT_RACES {
                    Slot::Next(self.counter_value(t, ASSIGNMENT_COUNTER).await?)
                } else {
                    Slot::Taken(self.counter_increment(t, ASSIGNMENT_COUNTER, 1).await?)
                };
                continue;
            }
            if codes.first().is_some_and(failed) || codes.iter().skip(guard_idx).any(failed) {
                return Err(StoreError::Conflict {
                    expected: None,
                    found: Some(lead.version),
                });
            }
            return Err(sdk(err));
        }
    }

    /// Each lead goes in one transaction with its timeline entries, so no lead is ever stored
    /// without them; transactions hold up to 100 items, so groups are packed until the next
    /// would not fit. The puts are unconditional: a resumed import rewrites the same items.
    /// BatchWriteItem, several calls in flight (`batch_write`): half the write units of
    /// transactions and many times their speed. Not atomic per lead: a run that dies part-way
    /// through a batch has not checkpointed it, so the run that takes over writes the whole
    /// batch again, with the same ids, and no checkpointed lead lacks its entries.
    pub(super) async fn put_batch(&self, leads: &[Lead], entries: &[Activity]) -> Result<(), StoreError> {
        let in_batch: std::collections::HashSet<&LeadId> = leads.iter().map(|l| &l.id).collect();
        if entries.iter().any(|a| !in_batch.contains(&a.lead_id)) {
            return Err(StoreError::Invalid(
                "a timeline entry for a lead that is not in the batch".into(),
            ));
        }
        let put = |item: Item| -> Result<WriteRequest, StoreError> {
            let p = PutRequest::builder().set_item(Some(item)).build().map_err(sdk)?;
            Ok(WriteRequest::builder().put_request(p).build())
        };
        let mut requests = Vec::with_capacity(leads.len() + entries.len());
        for l in leads {
            requests.push(put(self.lead_item(l)?)?);
        }
        for a in entries {
            requests.push(put(Self::activity_item(a)?)?);
        }
        // The rollups move by what the batch changes: each lead it replaces (an import's
        // update, a resumed import's rewrite) goes out as it was stored. BatchWriteItem takes
        // no updates, so the rows move after the batch, not with it: a run killed between the
        // two leaves them short of this batch, and the run that takes over finds the leads
        // stored and moves nothing. ARCHITECTURE.md says so; `analytics rebuild` mends it.
        let mut moved: std::collections::BTreeMap<&TenantId, rollup::Delta> = Default::default();
        let mut by_tenant: std::collections::BTreeMap<&TenantId, Vec<LeadId>> = Default::default();
        for l in leads {
            by_tenant.entry(&l.tenant).or_default().push(l.id);
            moved.entry(&l.tenant).or_default().add_lead(l, 1);
        }
        for (t, ids) in &by_tenant {
            for before in self.get_many(t, ids).await? {
                moved.entry(*t).or_default().add_lead(&before, -1);
            }
        }
        self.batch_write(requests).await?;
        for (t, delta) in &moved {
            self.apply_rollups(t, delta).await?;
        }
        Ok(())
    }

    /// Puts `next` over the stored lead if it is still at `expected`.
    async fn replace(
        &self,
        next: &Lead,
        expected: u64,
        extra: Vec<TransactWriteItem>,
    ) -> Result<(), StoreError> {
        // The lead as stored at `expected`, for the rollups' move: the transaction's condition
        // on that version makes it the state this write replaces.
        let before = match self.get_lead_item(&next.tenant, &next.id).await? {
            None => return Err(StoreError::NotFound),
            Some((_, found)) if found != expected => {
                return Err(StoreError::Conflict {
                    expected: Some(expected),
                    found: Some(found),
                });
            }
            Some((before, _)) => before,
        };
        self.replace_from(&before, next, expected, extra).await
    }

    /// `replace` with the stored lead already read (at `expected`).
    async fn replace_from(
        &self,
        before: &Lead,
        next: &Lead,
        expected: u64,
        mut extra: Vec<TransactWriteItem>,
    ) -> Result<(), StoreError> {
        extra.extend(self.rollup_updates(
            &next.tenant,
            &next.id,
            &rollup::delta(Some(before), Some(next)),
        )?);
        let cond = put_item(
            &self.table,
            self.lead_item(next)?,
            Some("version = :expected"),
            Some(Item::from([(":expected".to_owned(), n(expected))])),
        )?;
        let mut items = vec![cond];
        items.extend(extra);
        let (err, codes) = match self.transact(items).await {
            Ok(()) => return Ok(()),
            Err(failed) => failed,
        };
        let Some(codes) = codes else {
            return Err(sdk(err));
        };
        if codes.iter().skip(1).any(|c| c == "ConditionalCheckFailed") {
            // An item written with the lead already exists: nothing was written.
            return Err(StoreError::Conflict {
                expected: None,
                found: None,
            });
        }
        if codes.first().is_some_and(|c| c == "ConditionalCheckFailed") {
            return match self.get_lead_item(&next.tenant, &next.id).await? {
                None => Err(StoreError::NotFound),
                Some((_, found)) => Err(StoreError::Conflict {
                    expected: Some(expected),
                    found: Some(found),
                }),
            };
        }
        Err(sdk(err))
    }

    pub(super) async fn update(&self, lead: &Lead) -> Result<Lead, StoreError> {
        let mut next = lead.clone();
        next.version = lead.version + 1;
        self.replace(&next, lead.version, vec![]).await?;
        Ok(next)
    }

    fn activity_item(a: &Activity) -> Result<Item, StoreError> {
        let doc = serde_json::to_string(a).map_err(|e| StoreError::Invalid(e.to_string()))?;
        Ok(Item::from([
            (PK.to_owned(), s(keys::lead_pk(&a.tenant, &a.lead_id))),
            (
                SK.to_owned(),
                s(format!("{ACTIVITY_PREFIX}{}", position(a.at, &a.id.to_string()))),
            ),
            ("doc".to_owned(), s(doc)),
        ]))
    }

    pub(super) async fn commit_change(
        &self,
        lead: &Lead,
        records: &[RecordWrite],
        activities: &[Activity],
    ) -> Result<Lead, StoreError> {
        let next = lead.changed_with(activities);
        let new_only = Some("attribute_not_exists(pk)");
        let mut extra = Vec::with_capacity(records.len() + activities.len() + 1);
        for r in &with_lead_events(records, &next, activities, LeadChange::Updated, next.updated_at)? {
            extra.push(self.record_write_item(&lead.tenant, r)?);
        }
        for a in activities {
            extra.push(put_item(&self.table, Self::activity_item(a)?, new_only, None)?);
        }
        self.replace(&next, lead.version, extra).await?;
        Ok(next)
    }

    pub(super) async fn append(&self, a: &Activity) -> Result<(), StoreError> {
        let activity_item = Self::activity_item(a)?;
        // Read-modify-write of last_activity_at, retried when a concurrent write moved the version.
        for attempt in 0..MAX_ATTEMPTS {
            let Some((before, version)) = self.get_lead_item(&a.tenant, &a.lead_id).await? else {
                return Err(StoreError::NotFound);
            };
            let mut lead = before.clone();
            lead.last_activity_at = lead.last_activity_at.max(a.at);
            lead.version = version + 1;
            let put = put_item(
                &self.table,
                activity_item.clone(),
                Some("attribute_not_exists(pk)"),
                None,
            )?;
            match self.replace_from(&before, &lead, version, vec![put]).await {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict { .. }) => backoff(attempt).await,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Conflict {
            expected: None,
            found: None,
        })
    }

    pub(super) async fn delete(
        &self,
        t: &TenantId,
        id: &LeadId,
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        let Some((mut gone, found)) = self.get_lead_item(t, id).await? else {
            return Err(StoreError::NotFound);
        };
        if let Some(e) = expected
            && e != found
        {
            return Err(StoreError::Conflict {
                expected: Some(e),
                found: Some(found),
            });
        }
        let del = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(Self::lead_key(t, id)))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(found))
            .build()
            .map_err(sdk)?;
        // Its `lead.deleted` event carries the lead as it was, one version on.
        gone.version = found + 1;
        let mut items = vec![TransactWriteItem::builder().delete(del).build()];
        for r in &with_lead_events(&[], &gone, &[], LeadChange::Deleted, chrono::Utc::now())? {
            items.push(self.record_write_item(t, r)?);
        }
        items.extend(self.rollup_updates(t, id, &rollup::delta(Some(&gone), None))?);
        // Through `transact`, so a cancellation by a concurrent transaction on a shared item
        // (a rollup row) is tried again; only the lead's own condition failing is a conflict
        // (the records carried here have none).
        match self.transact(items).await {
            Ok(()) => {}
            Err((_, Some(codes))) if codes.first().is_some_and(|c| c == "ConditionalCheckFailed") => {
                return Err(StoreError::Conflict {
                    expected: Some(found),
                    found: None,
                });
            }
            Err((e, _)) => return Err(sdk(e)),
        }
        // The timeline goes with its lead. The lead is already gone, so a crash here leaves
        // only unreachable activity items, never a half-deleted lead.
        let pk = keys::lead_pk(t, id);
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :a)")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":a", s(ACTIVITY_PREFIX))
                .projection_expression("pk, sk")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk)?;
            let requests = out
                .items()
                .iter()
                .map(|k| {
                    let d = DeleteRequest::builder()
                        .set_key(Some(k.clone()))
                        .build()
                        .map_err(sdk)?;
                    Ok(WriteRequest::builder().delete_request(d).build())
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            self.batch_write(requests).await?;
            match out.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok(()),
            }
        }
    }

    pub(super) async fn timeline(
        &self,
        t: &TenantId,
        lead: &LeadId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Activity>, StoreError> {
        let size = limit.clamp(1, 500) as usize;
        let hi = match cursor {
            Some(c) => format!(
                "{ACTIVITY_PREFIX}{}",
                decode_position_cursor(c).map_err(|e| StoreError::Invalid(e.message))?
            ),
            None => format!("{ACTIVITY_PREFIX}{POS_MAX}"),
        };
        let mut rows: Vec<(String, Activity)> = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", s(keys::lead_pk(t, lead)))
                .expression_attribute_values(":lo", s(ACTIVITY_PREFIX))
                .expression_attribute_values(":hi", s(hi.clone()))
                .scan_index_forward(false)
                .limit(size as i32 + 2)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk)?;
            for item in out.items() {
                let sk = get_s(item, SK).unwrap_or_default();
                if sk == hi {
                    continue;
                }
                let doc = get_s(item, "doc").unwrap_or_default();
                let a: Activity =
                    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(format!("activity: {e}")))?;
                rows.push((sk.trim_start_matches(ACTIVITY_PREFIX).to_owned(), a));
            }
            match out.last_evaluated_key() {
                Some(k) if rows.len() <= size => start = Some(k.clone()),
                _ => break,
            }
        }
        let more = rows.len() > size;
        rows.truncate(size);
        let next_cursor = if more {
            rows.last().map(|(p, _)| encode_position_cursor(p))
        } else {
            None
        };
        Ok(Page {
            items: rows.into_iter().map(|(_, a)| a).collect(),
            next_cursor,
        })
    }
}
