//! Rollup rows (`domain::rollup`) in the single table: one item per (tenant, dimension) and
//! (day, key), `pk = T#t#RU#dim`, `sk = day#key`, one number attribute per metric. A lead's
//! transaction carries `ADD` updates of its rows (`rollup_updates`), so they move in the same
//! `TransactWriteItems` as the lead; a 90-day read is one Query of days × keys items.

use super::table::SK;
use super::{DynamoStore, Item, get_s, key, s, sdk};
use crate::domain::ids::TenantId;
use crate::domain::rollup::{self, Cell, Counts, Delta, Dim, METRICS, metric_name};
use crate::ports::store::StoreError;
use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, PutRequest, TransactWriteItem, Update, WriteRequest,
};
use chrono::NaiveDate;

fn rollup_pk(t: &TenantId, dim: Dim) -> String {
    format!("T#{t}#RU#{}", dim.as_str())
}

fn rollup_key(t: &TenantId, cell: &Cell) -> Item {
    key(
        rollup_pk(t, cell.dim),
        format!("{}#{}", rollup::day_key(cell.day), cell.key),
    )
}

fn signed(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

type Names = std::collections::HashMap<String, String>;

/// `ADD #m1 :m1, …` over the non-zero metrics of a delta row: the expression, its names and
/// its values.
fn add_expression(add: &Counts) -> (String, Names, Item) {
    let (mut expr, mut names, mut values) = (Vec::new(), Names::new(), Item::new());
    for (i, v) in add.0.iter().enumerate().filter(|(_, v)| **v != 0) {
        expr.push(format!("#m{i} :m{i}"));
        names.insert(format!("#m{i}"), metric_name(i));
        values.insert(format!(":m{i}"), signed(*v));
    }
    (format!("ADD {}", expr.join(", ")), names, values)
}

fn parse_row(t_dim: Dim, item: &Item) -> Result<(Cell, Counts), StoreError> {
    let sk = get_s(item, SK).unwrap_or_default();
    let (day, key) = sk
        .split_once('#')
        .ok_or_else(|| StoreError::Corrupt(format!("rollup key {sk:?}")))?;
    let day = rollup::parse_day_key(day).ok_or_else(|| StoreError::Corrupt(format!("rollup key {sk:?}")))?;
    let mut counts = Counts::default();
    for (i, slot) in counts.0.iter_mut().enumerate() {
        if let Some(AttributeValue::N(v)) = item.get(&metric_name(i)) {
            *slot = v
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("rollup count {v:?}")))?;
        }
    }
    Ok((
        Cell {
            dim: t_dim,
            day,
            key: key.to_owned(),
        },
        counts,
    ))
}

impl DynamoStore {
    /// The delta's rows as updates for the lead's own transaction.
    pub(super) fn rollup_updates(
        &self,
        t: &TenantId,
        delta: &Delta,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        delta
            .rows()
            .map(|(cell, add)| {
                let (expr, names, values) = add_expression(add);
                let u = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(rollup_key(t, cell)))
                    .update_expression(expr)
                    .set_expression_attribute_names(Some(names))
                    .set_expression_attribute_values(Some(values))
                    .build()
                    .map_err(sdk)?;
                Ok(TransactWriteItem::builder().update(u).build())
            })
            .collect()
    }

    /// The delta's rows as single updates, outside any transaction: all that a batch of
    /// BatchWriteItem puts allows (see `put_batch`).
    pub(super) async fn apply_rollups(&self, t: &TenantId, delta: &Delta) -> Result<(), StoreError> {
        for (cell, add) in delta.rows() {
            let (expr, names, values) = add_expression(add);
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(rollup_key(t, cell)))
                .update_expression(expr)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .send()
                .await
                .map_err(sdk)?;
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
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", s(rollup_pk(t, dim)))
                .expression_attribute_values(":lo", s(rollup::day_key(from)))
                // `~` sorts after every key character, so the last day's rows are in.
                .expression_attribute_values(":hi", s(format!("{}#~", rollup::day_key(to))))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk)?;
            for item in page.items() {
                let row = parse_row(dim, item)?;
                if !row.1.is_zero() {
                    out.push(row);
                }
            }
            match page.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok(out),
            }
        }
    }

    /// Removes the tenant's rows and writes `rows` in their place (BatchWriteItem: not one
    /// write; a rebuild is run again if it stops part-way).
    pub(super) async fn replace_rollups(
        &self,
        t: &TenantId,
        rows: &[(Cell, Counts)],
    ) -> Result<(), StoreError> {
        let mut deletes = Vec::new();
        for dim in Dim::ALL {
            let mut start: Option<Item> = None;
            loop {
                let page = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", s(rollup_pk(t, dim)))
                    .projection_expression("pk, sk")
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(sdk)?;
                for k in page.items() {
                    let d = DeleteRequest::builder()
                        .set_key(Some(k.clone()))
                        .build()
                        .map_err(sdk)?;
                    deletes.push(WriteRequest::builder().delete_request(d).build());
                }
                match page.last_evaluated_key() {
                    Some(k) => start = Some(k.clone()),
                    None => break,
                }
            }
        }
        self.batch_write(deletes).await?;
        let mut puts = Vec::with_capacity(rows.len());
        for (cell, counts) in rows.iter().filter(|(_, c)| !c.is_zero()) {
            let mut item = rollup_key(t, cell);
            for i in (0..METRICS).filter(|i| counts.0[*i] != 0) {
                item.insert(metric_name(i), signed(counts.0[i]));
            }
            let p = PutRequest::builder().set_item(Some(item)).build().map_err(sdk)?;
            puts.push(WriteRequest::builder().put_request(p).build());
        }
        self.batch_write(puts).await
    }
}
