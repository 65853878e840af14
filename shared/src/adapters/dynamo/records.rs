//! Settings records, jobs, counters and API keys in the single table.
//!
//! Records of one kind share a partition (`T#t#R#kind`) with the id as sort key, so a list is
//! one Query. API keys are two items written together: a lookup item keyed by the hash (how a
//! request finds its tenant) and a listing item under the tenant.

use super::keys;
use super::table::{PK, SK};
use super::{DynamoStore, Item, MAX_ATTEMPTS, backoff, get_n, get_s, key, n, s, sdk};
use crate::domain::api_key::{ApiKeyRecord, KeyHash};
use crate::domain::ids::{ApiKeyId, TenantId};
use crate::ports::store::{
    Expect, MAX_RECORDS_PER_WRITE, RawRecord, RecordWrite, StoreError, too_many_records,
};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{Delete, Put, ReturnValue, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

fn parse_record(item: &Item) -> Result<RawRecord, StoreError> {
    let body = get_s(item, "body").ok_or_else(|| StoreError::Corrupt("record without body".into()))?;
    Ok(RawRecord {
        id: get_s(item, SK).unwrap_or_default().to_owned(),
        version: get_n(item, "version").unwrap_or(0),
        body: serde_json::from_str(body).map_err(|e| StoreError::Corrupt(format!("record: {e}")))?,
    })
}

fn is_condition_failure<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|se| se.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

fn parse_key(item: &Item) -> Result<ApiKeyRecord, StoreError> {
    let doc = get_s(item, "doc").ok_or_else(|| StoreError::Corrupt("api key without doc".into()))?;
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(format!("api key: {e}")))
}

impl DynamoStore {
    fn record_key(t: &TenantId, kind: &str, id: &str) -> Item {
        key(keys::record_pk(t, kind), id)
    }

    /// The item of a record at `version`.
    pub(super) fn record_item(
        t: &TenantId,
        kind: &str,
        id: &str,
        version: u64,
        body: &serde_json::Value,
    ) -> Item {
        let mut item = Self::record_key(t, kind, id);
        item.insert("version".into(), n(version));
        item.insert("body".into(), s(body.to_string()));
        // The kind as an attribute, so the table's stream can be filtered to outbox entries
        // (the notify function's trigger) without parsing keys.
        item.insert(keys::RECORD_KIND.into(), s(kind));
        item
    }

    /// A record write as an item of a lead's transaction, on `record_put`'s terms (a failed
    /// expectation cancels the transaction).
    pub(super) fn record_write_item(
        &self,
        t: &TenantId,
        r: &RecordWrite,
    ) -> Result<TransactWriteItem, StoreError> {
        let Some(body) = &r.body else {
            // A removal: unconditional, so a record already gone is no failure.
            if r.expect != Expect::Any {
                return Err(StoreError::Invalid("a removal is unconditional".into()));
            }
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(Self::record_key(t, r.kind, &r.id)))
                .build()
                .map_err(sdk)?;
            return Ok(TransactWriteItem::builder().delete(delete).build());
        };
        let (next, cond, expected) = match r.expect {
            Expect::Any => {
                let update = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(Self::record_key(t, r.kind, &r.id)))
                    .update_expression(
                        "SET body = :b, rk = :k, version = if_not_exists(version, :zero) + :one",
                    )
                    .expression_attribute_values(":b", s(body.to_string()))
                    .expression_attribute_values(":k", s(r.kind))
                    .expression_attribute_values(":zero", n(0))
                    .expression_attribute_values(":one", n(1))
                    .build()
                    .map_err(sdk)?;
                return Ok(TransactWriteItem::builder().update(update).build());
            }
            Expect::Absent => (1, "attribute_not_exists(pk)", None),
            Expect::Version(v) => (v + 1, "version = :expected", Some(v)),
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(Self::record_item(t, r.kind, &r.id, next, body)))
            .condition_expression(cond)
            .set_expression_attribute_values(expected.map(|v| Item::from([(":expected".to_owned(), n(v))])))
            .build()
            .map_err(sdk)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub(super) async fn record_get(
        &self,
        t: &TenantId,
        kind: &str,
        id: &str,
    ) -> Result<Option<RawRecord>, StoreError> {
        let item = self.get_consistent(Self::record_key(t, kind, id)).await?;
        item.as_ref().map(parse_record).transpose()
    }

    async fn record_version(&self, t: &TenantId, kind: &str, id: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.record_get(t, kind, id).await?.map(|r| r.version))
    }

    /// `put_records`: one TransactWriteItems; a failed expectation cancels it all. Cancelled
    /// by a concurrent transaction or throttling, it is tried again (`transact`), as lead
    /// writes are.
    pub(super) async fn records_put(&self, t: &TenantId, records: &[RecordWrite]) -> Result<(), StoreError> {
        if records.len() > MAX_RECORDS_PER_WRITE {
            return Err(too_many_records());
        }
        let items = records
            .iter()
            .map(|r| self.record_write_item(t, r))
            .collect::<Result<Vec<_>, _>>()?;
        match self.transact(items).await {
            Ok(()) => Ok(()),
            // A conflict only where an expectation failed: cancelled by concurrent
            // transactions or throttling past `transact`'s retries, nothing was found
            // different, and a caller must not read it as "already there".
            Err((_, Some(codes))) if codes.iter().any(|c| c == "ConditionalCheckFailed") => {
                Err(StoreError::Conflict {
                    expected: None,
                    found: None,
                })
            }
            Err((err, _)) => Err(sdk(err)),
        }
    }

    pub(super) async fn record_put(
        &self,
        t: &TenantId,
        kind: &str,
        id: &str,
        body: &serde_json::Value,
        expect: Expect,
    ) -> Result<u64, StoreError> {
        if expect == Expect::Any {
            let out = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(Self::record_key(t, kind, id)))
                .update_expression("SET body = :b, rk = :k, version = if_not_exists(version, :zero) + :one")
                .expression_attribute_values(":b", s(body.to_string()))
                .expression_attribute_values(":k", s(kind))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1))
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await
                .map_err(sdk)?;
            return out
                .attributes()
                .and_then(|a| get_n(a, "version"))
                .ok_or_else(|| StoreError::Corrupt("update returned no version".into()));
        }
        let (next, cond, expected) = match expect {
            Expect::Absent => (1, "attribute_not_exists(pk)", None),
            Expect::Version(v) => (v + 1, "version = :expected", Some(v)),
            Expect::Any => unreachable!("handled above"),
        };
        let item = Self::record_item(t, kind, id, next, body);
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(cond)
            .set_expression_attribute_values(expected.map(|v| Item::from([(":expected".to_owned(), n(v))])))
            .send()
            .await;
        match res {
            Ok(_) => Ok(next),
            Err(e) if is_condition_failure(&e) => match (self.record_version(t, kind, id).await?, expected) {
                (None, Some(_)) => Err(StoreError::NotFound),
                (found, expected) => Err(StoreError::Conflict { expected, found }),
            },
            Err(e) => Err(sdk(e)),
        }
    }

    pub(super) async fn record_list(
        &self,
        t: &TenantId,
        kind: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RawRecord>, StoreError> {
        let limit = limit.clamp(1, 1000) as usize;
        let mut rows = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", s(keys::record_pk(t, kind)))
                .consistent_read(true)
                .limit((limit - rows.len()) as i32)
                .set_exclusive_start_key(start.take());
            q = match after {
                Some(a) => q
                    .key_condition_expression("pk = :pk AND sk > :after")
                    .expression_attribute_values(":after", s(a)),
                None => q.key_condition_expression("pk = :pk"),
            };
            let out = q.send().await.map_err(sdk)?;
            for item in out.items() {
                rows.push(parse_record(item)?);
            }
            match out.last_evaluated_key() {
                Some(k) if rows.len() < limit => start = Some(k.clone()),
                _ => return Ok(rows),
            }
        }
    }

    pub(super) async fn record_delete(
        &self,
        t: &TenantId,
        kind: &str,
        id: &str,
        expect: Expect,
    ) -> Result<(), StoreError> {
        let (cond, expected) = match expect {
            Expect::Version(v) => ("attribute_exists(pk) AND version = :expected", Some(v)),
            Expect::Any => ("attribute_exists(pk)", None),
            Expect::Absent => {
                return match self.record_version(t, kind, id).await? {
                    None => Err(StoreError::NotFound),
                    found => Err(StoreError::Conflict {
                        expected: None,
                        found,
                    }),
                };
            }
        };
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::record_key(t, kind, id)))
            .condition_expression(cond)
            .set_expression_attribute_values(expected.map(|v| Item::from([(":expected".to_owned(), n(v))])))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => match self.record_version(t, kind, id).await? {
                None => Err(StoreError::NotFound),
                found => Err(StoreError::Conflict { expected, found }),
            },
            Err(e) => Err(sdk(e)),
        }
    }

    pub(super) async fn counter_increment(
        &self,
        t: &TenantId,
        name: &str,
        by: u64,
    ) -> Result<u64, StoreError> {
        let mut attempt = 0;
        let out = loop {
            let sent = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(PK, s(keys::counter_pk(t, name)))
                .key(SK, s("#COUNTER"))
                .update_expression("ADD #v :by")
                .expression_attribute_names("#v", "value")
                .expression_attribute_values(":by", n(by.max(1)))
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await;
            match sent {
                Ok(out) => break out,
                // A create taking its slot holds the counter in its transaction, which refuses
                // this update (not applied; the SDK does not retry it itself).
                Err(e)
                    if attempt < MAX_ATTEMPTS
                        && matches!(
                            e.as_service_error(),
                            Some(UpdateItemError::TransactionConflictException(_))
                        ) =>
                {
                    attempt += 1;
                    backoff(attempt).await;
                }
                Err(e) => return Err(sdk(e)),
            }
        };
        out.attributes()
            .and_then(|a| get_n(a, "value"))
            .ok_or_else(|| StoreError::Corrupt("counter update returned no value".into()))
    }

    /// A counter's value (0 before its first increment), read strongly consistent: what a
    /// transaction that takes the next slot conditions on (`counter_take`).
    pub(super) async fn counter_value(&self, t: &TenantId, name: &str) -> Result<u64, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::counter_pk(t, name), "#COUNTER")))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk)?;
        Ok(out.item().and_then(|i| get_n(i, "value")).unwrap_or(0))
    }

    /// A transaction's item that moves a counter from `seen` to the next slot, `seen + 1`:
    /// its condition fails when another write moved the counter first.
    pub(super) fn counter_take(
        &self,
        t: &TenantId,
        name: &str,
        seen: u64,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::counter_pk(t, name), "#COUNTER")))
            .update_expression("SET #v = :next")
            .condition_expression("attribute_not_exists(#v) OR #v = :seen")
            .expression_attribute_names("#v", "value")
            .expression_attribute_values(":next", n(seen + 1))
            .expression_attribute_values(":seen", n(seen))
            .build()
            .map_err(sdk)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn key_items(k: &ApiKeyRecord) -> Result<(Item, Item), StoreError> {
        let doc = serde_json::to_string(k).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let lookup = Item::from([
            (PK.to_owned(), s(keys::key_lookup_pk(k.hash.as_str()))),
            (SK.to_owned(), s("#KEY")),
            ("doc".to_owned(), s(doc.clone())),
        ]);
        let listing = Item::from([
            (PK.to_owned(), s(keys::tenant_keys_pk(&k.tenant))),
            (SK.to_owned(), s(k.id.to_string())),
            ("doc".to_owned(), s(doc)),
        ]);
        Ok((lookup, listing))
    }

    async fn write_key(&self, k: &ApiKeyRecord, new: bool) -> Result<(), StoreError> {
        let (lookup, listing) = Self::key_items(k)?;
        let cond = if new {
            Some("attribute_not_exists(pk)".to_owned())
        } else {
            Some("attribute_exists(pk)".to_owned())
        };
        let mut tx = self.client.transact_write_items();
        for item in [lookup, listing] {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .set_condition_expression(cond.clone())
                .build()
                .map_err(sdk)?;
            tx = tx.transact_items(TransactWriteItem::builder().put(put).build());
        }
        match tx.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_transaction_canceled_exception()) =>
            {
                Err(StoreError::Conflict {
                    expected: None,
                    found: None,
                })
            }
            Err(e) => Err(sdk(e)),
        }
    }

    pub(super) async fn key_put(&self, k: &ApiKeyRecord) -> Result<(), StoreError> {
        self.write_key(k, true).await
    }

    pub(super) async fn key_find(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        let item = self
            .get_consistent(key(keys::key_lookup_pk(hash.as_str()), "#KEY"))
            .await?;
        item.as_ref().map(parse_key).transpose()
    }

    pub(super) async fn key_list(&self, t: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut items = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(keys::tenant_keys_pk(t)))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut keys_out = Vec::new();
        while let Some(item) = items.try_next().await.map_err(sdk)? {
            keys_out.push(parse_key(&item)?);
        }
        Ok(keys_out)
    }

    pub(super) async fn key_revoke(
        &self,
        t: &TenantId,
        id: &ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let item = self
            .get_consistent(key(keys::tenant_keys_pk(t), id.to_string()))
            .await?;
        let mut rec = item
            .as_ref()
            .map(parse_key)
            .transpose()?
            .ok_or(StoreError::NotFound)?;
        if rec.revoked_at.is_some() {
            return Ok(());
        }
        rec.revoked_at = Some(at);
        self.write_key(&rec, false).await
    }
}
