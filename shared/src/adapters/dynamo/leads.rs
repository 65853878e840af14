//! Writing leads: the item a lead is stored as (with its index keys), import batches,
//! changes with their records and timeline entries, appends, deletes, and the timeline.
//! Creating one lead is in `lead_create`, reading in `lead_reads`, lists in `lead_list`.

use super::calls::put_item;
use super::keys::{self, ACTIVITY_PREFIX, LEAD_SK};
use super::table::{self, PK, SK};
use super::{DynamoStore, Item, MAX_ATTEMPTS, backoff, get_s, n, s, sdk};
use crate::adapters::lead_index::{activity_pos, created_pos};
use crate::domain::activity::Activity;
use crate::domain::ids::{LeadId, TenantId};
use crate::domain::lead::Lead;
use crate::domain::query::{Page, decode_position_cursor, encode_position_cursor};
use crate::domain::rollup;
use crate::domain::time::position;
use crate::domain::webhook::LeadChange;
use crate::ports::store::{RecordWrite, StoreError, entries_of, with_lead_events};
use aws_sdk_dynamodb::types::{Delete, DeleteRequest, PutRequest, TransactWriteItem, WriteRequest};
use serde_dynamo::aws_sdk_dynamodb_1 as sd;

/// Sort keys are `{micros:016}#{id}`; these bound every possible one.
pub(super) const POS_MIN: &str = "0";
pub(super) const POS_MAX: &str = "~";

impl DynamoStore {
    pub(super) fn lead_item(&self, l: &Lead) -> Result<Item, StoreError> {
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

    /// An import's batch: its leads and their timeline entries as unconditional puts by
    /// BatchWriteItem, several calls in flight (`batch_write`), half the write units of
    /// transactions and many times their speed; a resumed import rewrites the same items.
    /// Not atomic per lead: a run that dies part-way through a batch has not checkpointed it,
    /// so the run that takes over writes the whole batch again, with the same ids, and no
    /// checkpointed lead lacks its entries.
    pub(super) async fn put_batch(&self, leads: &[Lead], entries: &[Activity]) -> Result<(), StoreError> {
        entries_of(leads, entries)?;
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

    pub(super) fn activity_item(a: &Activity) -> Result<Item, StoreError> {
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
        entries_of([lead], activities)?;
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
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :a)")
            .expression_attribute_values(":pk", s(keys::lead_pk(t, id)))
            .expression_attribute_values(":a", s(ACTIVITY_PREFIX))
            .projection_expression("pk, sk")
            .into_paginator()
            .send();
        while let Some(out) = pages.try_next().await.map_err(sdk)? {
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
        }
        Ok(())
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
