//! How many leads carry each tag in each status (`lead_tag_counts`, migration 9), what a count
//! of one tag reads (`lead_list::tag_count`). Like the rollups, every lead write moves the rows
//! by what it changed, inside its own transaction, computed from the lead before and after:
//! a batch adds its leads' moves up first and writes a few rows, where triggers on
//! `lead_tags` wrote two statements for every tag of every lead (an import of 100,000 leads
//! took 8-10% longer with them, BENCHMARKS.md). `lead_tags` itself stays with its triggers.

use super::db;
use crate::domain::ids::TenantId;
use crate::domain::lead::Lead;
use crate::ports::store::StoreError;
use rusqlite::{Connection, params};
use std::collections::BTreeMap;

/// The change of each (tag, status) count a write makes.
#[derive(Debug, Default)]
pub struct Moves(BTreeMap<(String, &'static str), i64>);

impl Moves {
    /// The moves of one lead write: the lead as it was leaves its counts, as it is enters them.
    pub fn of(before: Option<&Lead>, after: Option<&Lead>) -> Self {
        let mut m = Self::default();
        if let Some(b) = before {
            m.add(b, -1);
        }
        if let Some(a) = after {
            m.add(a, 1);
        }
        m
    }

    pub fn add(&mut self, lead: &Lead, sign: i64) {
        for tag in &lead.tags {
            *self
                .0
                .entry((tag.as_str().to_owned(), lead.status.as_str()))
                .or_default() += sign;
        }
    }

    /// Writes the moves of one tenant's leads; a count that does not move is not written.
    pub fn apply(&self, tx: &Connection, tenant: &TenantId) -> Result<(), StoreError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let mut st = tx
            .prepare_cached(
                "INSERT INTO lead_tag_counts (tenant, tag, status, n) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant, tag, status) DO UPDATE SET n = n + ?4",
            )
            .map_err(db)?;
        for ((tag, status), n) in &self.0 {
            if *n != 0 {
                st.execute(params![tenant.as_str(), tag, status, n]).map_err(db)?;
            }
        }
        Ok(())
    }
}

/// Counts the tenant's rows of `lead_tags` again (which triggers keep for every statement),
/// replacing its counts: what `analytics rebuild` does for them beside the rollups.
pub fn recount(tx: &Connection, tenant: &TenantId) -> Result<(), StoreError> {
    tx.execute("DELETE FROM lead_tag_counts WHERE tenant = ?1", [tenant.as_str()])
        .map_err(db)?;
    tx.execute(
        "INSERT INTO lead_tag_counts (tenant, tag, status, n)
         SELECT tenant, tag, status, COUNT(*) FROM lead_tags WHERE tenant = ?1
         GROUP BY tenant, tag, status",
        [tenant.as_str()],
    )
    .map_err(db)?;
    Ok(())
}

/// Every stored count as (tenant, tag, status, n), in key order: what tests compare.
#[cfg(test)]
pub(super) fn stored(conn: &Connection) -> Vec<(String, String, String, i64)> {
    conn.prepare("SELECT tenant, tag, status, n FROM lead_tag_counts ORDER BY tenant, tag, status")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_counts_are_wrong_should_be_put_right_by_a_recount_of_that_tenant_only() {
        let conn = super::super::test_connection();
        conn.execute_batch(
            "INSERT INTO lead_tags VALUES ('t', 'vip', 'new', 'a'), ('t', 'vip', 'new', 'b'),
                 ('t', 'q4', 'contacted', 'a'), ('u', 'vip', 'new', 'c');
             INSERT INTO lead_tag_counts VALUES ('t', 'vip', 'new', 7), ('t', 'gone', 'new', 3),
                 ('u', 'vip', 'new', 9);",
        )
        .unwrap();
        recount(&conn, &TenantId::parse("t").unwrap()).unwrap();
        let rows = stored(&conn);
        let row = |t: &str, tag: &str, s: &str, n: i64| (t.to_owned(), tag.to_owned(), s.to_owned(), n);
        assert_eq!(
            rows,
            [
                row("t", "q4", "contacted", 1),
                row("t", "vip", "new", 2),
                row("u", "vip", "new", 9)
            ]
        );
    }
}
