//! How many leads carry each tag in each status (`lead_tag_counts`, migration 9), what a count
//! of one tag reads (`leads::tag_count`). Like the rollups, every lead write moves the rows
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
