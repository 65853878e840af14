//! Rollup rows (`domain::rollup`) in the single table: items under `pk = T#t#RU#dim`,
//! `sk = day#key#shard`, one number attribute per metric and one per currency of converted
//! value (`value_EUR`, in hundredths). A lead's transaction carries `ADD`
//! updates of its rows (`rollup_updates`), so they move in the same `TransactWriteItems` as
//! the lead; a 90-day read is one Query of days × keys × shards items, summed per row.
//!
//! Why shards: every lead created on a day from one source moves the same row, and
//! DynamoDB refuses a transaction that meets another on the same item
//! (`TransactionConflict`), so a burst of captures from one form would queue on one item. A
//! lead writes to the shard its id picks (the same for its before and after, as for its list
//! index entries), and since a read sums the shards, any delta may go to any shard.

use super::table::SK;
use super::{DynamoStore, Item, MAX_ATTEMPTS, backoff, get_s, key, s, sdk};
use crate::domain::ids::{LeadId, TenantId};
use crate::domain::rollup::{self, Cell, Counts, Delta, Dim, metric_name};
use crate::ports::store::StoreError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use chrono::NaiveDate;
use std::collections::BTreeMap;

fn rollup_pk(t: &TenantId, dim: Dim) -> String {
    format!("T#{t}#RU#{}", dim.as_str())
}

fn rollup_key(t: &TenantId, cell: &Cell, shard: u16) -> Item {
    key(
        rollup_pk(t, cell.dim),
        format!("{}#{}#{shard}", rollup::day_key(cell.day), cell.key),
    )
}

fn signed(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

type Names = std::collections::HashMap<String, String>;

/// The attribute a currency's converted value is kept in. Top-level, because `ADD` takes
/// no nested path.
const VALUE_PREFIX: &str = "value_";

/// `ADD #m1 :m1, …` over the non-zero metrics and values of a delta row: the expression, its
/// names and its values.
fn add_expression(add: &Counts) -> (String, Names, Item) {
    let (mut expr, mut names, mut values) = (Vec::new(), Names::new(), Item::new());
    for (i, v) in add.0.iter().enumerate().filter(|(_, v)| **v != 0) {
        expr.push(format!("#m{i} :m{i}"));
        names.insert(format!("#m{i}"), metric_name(i));
        values.insert(format!(":m{i}"), signed(*v));
    }
    for (j, (currency, v)) in add.1.iter().filter(|(_, v)| **v != 0).enumerate() {
        expr.push(format!("#v{j} :v{j}"));
        names.insert(format!("#v{j}"), format!("{VALUE_PREFIX}{currency}"));
        values.insert(format!(":v{j}"), signed(*v));
    }
    (format!("ADD {}", expr.join(", ")), names, values)
}

/// The row an item belongs to (its shard dropped) and its counts.
fn parse_row(dim: Dim, item: &Item) -> Result<(Cell, Counts), StoreError> {
    let sk = get_s(item, SK).unwrap_or_default();
    let bad = || StoreError::Corrupt(format!("rollup key {sk:?}"));
    let (day, rest) = sk.split_once('#').ok_or_else(bad)?;
    let (key, _shard) = rest.rsplit_once('#').ok_or_else(bad)?;
    let day = rollup::parse_day_key(day).ok_or_else(bad)?;
    let number = |v: &str| {
        v.parse::<i64>()
            .map_err(|_| StoreError::Corrupt(format!("rollup count {v:?}")))
    };
    let mut counts = Counts::default();
    for (i, slot) in counts.0.iter_mut().enumerate() {
        if let Some(AttributeValue::N(v)) = item.get(&metric_name(i)) {
            *slot = number(v)?;
        }
    }
    for (name, v) in item {
        if let (Some(currency), AttributeValue::N(v)) = (name.strip_prefix(VALUE_PREFIX), v) {
            // DynamoDB adds exactly to 38 digits; a sum past i64 reads as its bound, as the
            // domain's saturating sums do, rather than failing every read of the tenant.
            let v = v
                .parse::<i128>()
                .map(|n| n.clamp(i64::MIN.into(), i64::MAX.into()) as i64)
                .map_err(|_| StoreError::Corrupt(format!("rollup value {v:?}")))?;
            if v != 0 {
                counts.1.insert(currency.to_owned(), v);
            }
        }
    }
    let cell = Cell {
        dim,
        day,
        key: key.to_owned(),
    };
    Ok((cell, counts))
}

impl DynamoStore {
    fn rollup_shard(&self, lead: &LeadId) -> u16 {
        super::keys::shard_of(lead, self.shards)
    }

    /// The delta's rows as updates for a lead's own transaction, on the lead's shard.
    pub(super) fn rollup_updates(
        &self,
        t: &TenantId,
        lead: &LeadId,
        delta: &Delta,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let shard = self.rollup_shard(lead);
        delta
            .rows()
            .map(|(cell, add)| {
                let (expr, names, values) = add_expression(add);
                let u = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(rollup_key(t, cell, shard)))
                    .update_expression(expr)
                    .set_expression_attribute_names(Some(names))
                    .set_expression_attribute_values(Some(values))
                    .build()
                    .map_err(sdk)?;
                Ok(TransactWriteItem::builder().update(u).build())
            })
            .collect()
    }

    /// The delta's rows as single updates, outside any transaction (all that a batch of
    /// BatchWriteItem puts allows, see `put_batch`), on a shard picked at random, each tried
    /// again with back-off (up to `MAX_ATTEMPTS`) when it fails: a lead transaction on the
    /// same item refuses it (`TransactionConflict`, which the SDK does not retry itself).
    pub(super) async fn apply_rollups(&self, t: &TenantId, delta: &Delta) -> Result<(), StoreError> {
        let shard = rand::random::<u16>() % self.shards.max(1);
        for (cell, add) in delta.rows() {
            let (expr, names, values) = add_expression(add);
            let mut attempt = 0;
            loop {
                let sent = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(rollup_key(t, cell, shard)))
                    .update_expression(&expr)
                    .set_expression_attribute_names(Some(names.clone()))
                    .set_expression_attribute_values(Some(values.clone()))
                    .send()
                    .await;
                match sent {
                    Ok(_) => break,
                    Err(_) if attempt < MAX_ATTEMPTS => {
                        attempt += 1;
                        backoff(attempt).await;
                    }
                    Err(e) => return Err(sdk(e)),
                }
            }
        }
        Ok(())
    }

    pub(super) async fn read_rollups(
        &self,
        t: &TenantId,
        dim: Dim,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(Cell, Counts)>, StoreError> {
        self.query_rollups(t, dim, Some((from, to))).await
    }

    /// The rows of one dimension, of the days `range` (every day without), shards summed.
    async fn query_rollups(
        &self,
        t: &TenantId,
        dim: Dim,
        range: Option<(NaiveDate, NaiveDate)>,
    ) -> Result<Vec<(Cell, Counts)>, StoreError> {
        let q = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":pk", s(rollup_pk(t, dim)));
        let q = match range {
            None => q.key_condition_expression("pk = :pk"),
            Some((from, to)) => q
                .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":lo", s(rollup::day_key(from)))
                // Up to the next day's bare date, which no item has: every key of the last
                // day sorts before it, whatever its characters (a UTM campaign's `é`).
                .expression_attribute_values(":hi", s(rollup::day_key(to.succ_opt().unwrap_or(to)))),
        };
        let mut items = q.into_paginator().items().send();
        let mut rows: BTreeMap<Cell, Counts> = BTreeMap::new();
        while let Some(item) = items.try_next().await.map_err(sdk)? {
            let (cell, counts) = parse_row(dim, &item)?;
            rows.entry(cell).or_default().add(&counts, 1);
        }
        Ok(rows.into_iter().filter(|(_, c)| !c.is_zero()).collect())
    }

    /// Moves the tenant's rows to `rows` by adding to each the difference from what it holds
    /// (rows not in `rows` go to zero). Additions commute with the lead writes' own, so a
    /// write that lands meanwhile is not lost, analytics never read an empty table, and a
    /// run that stops part-way leaves a mix that the next run puts right.
    pub(super) async fn replace_rollups(
        &self,
        t: &TenantId,
        rows: &[(Cell, Counts)],
    ) -> Result<(), StoreError> {
        let mut moves = Delta::default();
        for dim in Dim::ALL {
            for (cell, kept) in self.query_rollups(t, dim, None).await? {
                moves.add_row(cell, &kept, -1);
            }
        }
        for (cell, target) in rows {
            moves.add_row(cell.clone(), target, 1);
        }
        self.apply_rollups(t, &moves).await
    }
}
