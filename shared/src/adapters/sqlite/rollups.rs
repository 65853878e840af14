//! Rollup rows (`domain::rollup`) in SQLite: one row per (tenant, dimension, day, key), its
//! counts as a JSON array in the domain's metric order, closed by an object of the converted
//! value per currency when there is any (`[3, 1, …, {"EUR": 1250000}]`). Lead writes call `apply` inside their
//! own transaction, so a row moves exactly when its lead does.

use super::{corrupt, db};
use crate::domain::ids::TenantId;
use crate::domain::rollup::{self, Cell, Counts, Delta, Dim};
use crate::ports::store::StoreError;
use chrono::NaiveDate;
use rusqlite::{Connection, OptionalExtension, params};

fn decode(text: &str) -> Result<Counts, StoreError> {
    let items: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|e| corrupt("rollup row", e))?;
    // A row written before a metric existed reads it as zero; the numbers fill the metrics
    // in order, wherever the value object sits.
    let mut c = Counts::default();
    let mut slots = c.0.iter_mut();
    for item in items {
        match item {
            serde_json::Value::Object(values) => {
                for (currency, v) in values {
                    let v = v.as_i64().ok_or_else(|| corrupt("rollup value", &v))?;
                    c.1.insert(currency, v);
                }
            }
            n => {
                let v = n.as_i64().ok_or_else(|| corrupt("rollup count", &n))?;
                if let Some(slot) = slots.next() {
                    *slot = v;
                }
            }
        }
    }
    Ok(c)
}

fn encode(c: &Counts) -> String {
    let mut items: Vec<serde_json::Value> = c.0.iter().map(|&n| n.into()).collect();
    if !c.1.is_empty() {
        items.push(serde_json::json!(c.1));
    }
    serde_json::Value::from(items).to_string()
}

/// Adds the delta to the tenant's rows inside the caller's transaction; a row that comes to
/// zero everywhere is removed, so rows exist only for days and keys that have leads.
pub fn apply(tx: &Connection, tenant: &TenantId, delta: &Delta) -> Result<(), StoreError> {
    for (cell, add) in delta.rows() {
        let (dim, day) = (cell.dim.as_str(), rollup::day_key(cell.day));
        let stored: Option<String> = tx
            .prepare_cached(
                "SELECT counts FROM rollups WHERE tenant = ?1 AND dim = ?2 AND day = ?3 AND key = ?4",
            )
            .map_err(db)?
            .query_row(params![tenant.as_str(), dim, day, cell.key], |r| r.get(0))
            .optional()
            .map_err(db)?;
        let mut counts = stored.as_deref().map(decode).transpose()?.unwrap_or_default();
        counts.add(add, 1);
        if counts.is_zero() {
            tx.prepare_cached("DELETE FROM rollups WHERE tenant = ?1 AND dim = ?2 AND day = ?3 AND key = ?4")
                .map_err(db)?
                .execute(params![tenant.as_str(), dim, day, cell.key])
                .map_err(db)?;
        } else {
            tx.prepare_cached(
                "INSERT INTO rollups (tenant, dim, day, key, counts) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tenant, dim, day, key) DO UPDATE SET counts = excluded.counts",
            )
            .map_err(db)?
            .execute(params![tenant.as_str(), dim, day, cell.key, encode(&counts)])
            .map_err(db)?;
        }
    }
    Ok(())
}

/// The tenant's rows of one dimension for days `from..=to`, in (day, key) order.
pub fn read(
    c: &Connection,
    tenant: &TenantId,
    dim: Dim,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(Cell, Counts)>, StoreError> {
    let mut st = c
        .prepare_cached(
            "SELECT day, key, counts FROM rollups
             WHERE tenant = ?1 AND dim = ?2 AND day >= ?3 AND day <= ?4 ORDER BY day, key",
        )
        .map_err(db)?;
    let rows = st
        .query_map(
            params![
                tenant.as_str(),
                dim.as_str(),
                rollup::day_key(from),
                rollup::day_key(to)
            ],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .map_err(db)?;
    let mut out = Vec::new();
    for row in rows {
        let (day, key, counts) = row.map_err(db)?;
        let day = rollup::parse_day_key(&day).ok_or_else(|| corrupt("rollup day", &day))?;
        out.push((Cell { dim, day, key }, decode(&counts)?));
    }
    Ok(out)
}

/// Replaces every row of the tenant with `rows` in one transaction (a rebuild).
pub fn replace(tx: &Connection, tenant: &TenantId, rows: &[(Cell, Counts)]) -> Result<(), StoreError> {
    tx.execute("DELETE FROM rollups WHERE tenant = ?1", [tenant.as_str()])
        .map_err(db)?;
    for (cell, counts) in rows.iter().filter(|(_, c)| !c.is_zero()) {
        tx.prepare_cached("INSERT INTO rollups (tenant, dim, day, key, counts) VALUES (?1, ?2, ?3, ?4, ?5)")
            .map_err(db)?
            .execute(params![
                tenant.as_str(),
                cell.dim.as_str(),
                rollup::day_key(cell.day),
                cell.key,
                encode(counts)
            ])
            .map_err(db)?;
    }
    Ok(())
}

/// Fills the table from the stored leads when it is created (schema migration), summed in
/// memory per tenant: days × keys rows, not leads.
pub fn fill(tx: &Connection) -> Result<(), StoreError> {
    let mut per_tenant: std::collections::BTreeMap<String, Delta> = Default::default();
    super::schema::each_stored_lead(tx, "it is left out of the rollups", |tenant, _, lead| {
        per_tenant
            .entry(tenant.to_owned())
            .or_default()
            .add_lead(&lead, 1);
        Ok(())
    })?;
    for (tenant, delta) in per_tenant {
        let tenant = TenantId::parse(&tenant).map_err(|e| corrupt("tenant id", e))?;
        apply(tx, &tenant, &delta)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rollup::METRICS;

    #[test]
    fn when_a_row_is_shorter_than_the_metrics_should_read_the_rest_as_zero() {
        let c = decode("[3, 1]").unwrap();
        assert_eq!(c.leads(), 3);
        assert_eq!(c.0[1], 1);
        assert!(c.0[2..].iter().all(|&n| n == 0));
        assert_eq!(decode(&encode(&c)).unwrap(), c);
        assert_eq!(METRICS, c.0.len());
    }

    #[test]
    fn when_a_row_holds_converted_value_should_read_it_back_per_currency() {
        let mut c = decode("[2, 0, 0, 0, 0, 2]").unwrap();
        c.1.insert("EUR".into(), 1_250_050);
        c.1.insert("USD".into(), 99);
        let text = encode(&c);
        assert!(text.ends_with(r#"{"EUR":1250050,"USD":99}]"#), "{text}");
        assert_eq!(decode(&text).unwrap(), c);
        assert!(decode(r#"[1, {"EUR": "x"}]"#).is_err());
    }
}
