//! The SQLite store for the single-machine gateway (rusqlite, bundled SQLite).
//!
//! One connection, owned by one thread (`worker`) that runs store calls in groups, one commit
//! a group: SQLite serializes writers anyway, and a single connection makes every
//! multi-statement operation a real transaction without busy retries. WAL mode keeps readers
//! of the file (backups, sqlite3 shell) unblocked.
//!
//! A call is atomic because the worker makes it so: a call that returns an error has all its
//! writes rolled back (`worker::run_optimistic`, `worker::run_careful`). The functions in
//! `leads`, `records` and `rollups` therefore open no savepoint of their own, and must not go
//! on after a failed statement: inside a savepoint SQLite copies every page a write changes
//! to a journal first. A call may run twice (when another call of its group fails), so the
//! closures handed to `run` and `read` are `FnMut` and do nothing but their SQL.

mod lead_list;
mod leads;
mod readers;
mod records;
mod rollups;
mod schema;
mod tag_counts;
mod worker;

use crate::ports::store::StoreError;
use readers::Readers;
use rusqlite::Connection;
use std::path::Path;
use worker::Worker;

#[derive(Clone)]
pub struct SqliteStore {
    worker: Worker,
    /// None for an in-memory database, whose reads go to the worker.
    readers: Option<Readers>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::unavailable(e)
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

/// The writer connection's page cache, in KiB: bounded, as the gateway's memory is.
const WRITER_CACHE_KIB: u32 = 8 * 1024;

/// Prepared statements kept per connection (see `init`).
const STATEMENT_CACHE: usize = 128;

/// Makes a connection's prepared statements last, writer and readers alike.
pub(super) fn keep_statements(conn: &Connection) -> Result<(), StoreError> {
    // The hot statements go through rusqlite's statement cache, which keeps 16 by default:
    // fewer than the writer's distinct statements, so they were parsed again and again.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // SQLite (3.47 on) plans `LIMIT ?` by the value bound and marks the statement to be
    // prepared again whenever that parameter is bound, which is every call: `records::list`
    // (a capture's context, every record list) was parsed anew each time, 12% of the
    // gateway's samples under form captures (BENCHMARKS.md). The query planner stability
    // guarantee makes plans ignore bound values; no statement here wants a plan per value.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(db)?;
    Ok(())
}

/// For unit tests of the SQL: an in-memory database at the current schema whose statements
/// are kept and planned as the store's own connections keep and plan them.
#[cfg(test)]
pub(super) fn test_connection() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    schema::migrate(&mut conn).unwrap();
    keep_statements(&conn).unwrap();
    conn
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(StoreError::unavailable)?;
        }
        let mut store = Self::init(Connection::open(path).map_err(db)?)?;
        store.readers = Some(Readers::open(path)?);
        Ok(store)
    }

    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(db)?)
    }

    fn init(mut conn: Connection) -> Result<Self, StoreError> {
        schema::migrate(&mut conn)?;
        // The writer's page cache (SQLite's default is 2 MiB). A batch of 500 imported leads
        // touches the leaf pages of the lead's indexes, most of them again in the next batch; with
        // 2 MiB they were read back and rewritten for every batch (BENCHMARKS.md, target 3).
        conn.pragma_update(None, "cache_size", -(WRITER_CACHE_KIB as i64))
            .map_err(db)?;
        keep_statements(&conn)?;
        Ok(Self {
            worker: Worker::start(conn)?,
            readers: None,
        })
    }

    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.worker.run(f).await
    }

    /// For calls that only read: a reader connection when there is one.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnMut(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.readers {
            Some(readers) => readers.run(f).await,
            None => self.worker.run(f).await,
        }
    }
}

use crate::domain::activity::Activity;
use crate::domain::api_key::{ApiKeyRecord, KeyHash};
use crate::domain::duplicate::MatchKey;
use crate::domain::ids::{ApiKeyId, LeadId, TenantId};
use crate::domain::lead::Lead;
use crate::domain::query::{LeadCount, LeadQuery, Page};
use crate::domain::rollup::{Cell, Counts, Dim};
use crate::ports::store::{
    CreateGuards, CreateOutcome, Expect, LeadStore, MAX_RECORDS_PER_WRITE, RawRecord, RecordWrite,
    too_many_records,
};
use chrono::{DateTime, NaiveDate, Utc};

#[async_trait::async_trait]
impl LeadStore for SqliteStore {
    async fn create_lead(
        &self,
        lead: &Lead,
        guards: &CreateGuards,
        entries: &[Activity],
        records: &[RecordWrite],
    ) -> Result<CreateOutcome, StoreError> {
        let (lead, guards) = (lead.clone(), guards.clone());
        let (entries, records) = (entries.to_vec(), records.to_vec());
        self.run(move |c| leads::create(c, &lead, &guards, &entries, &records))
            .await
    }

    async fn put_leads_batch(&self, batch: &[Lead], entries: &[Activity]) -> Result<(), StoreError> {
        let (batch, entries) = (batch.to_vec(), entries.to_vec());
        self.run(move |c| leads::put_batch(c, &batch, &entries)).await
    }

    async fn get_lead(&self, tenant: &TenantId, id: &LeadId) -> Result<Option<Lead>, StoreError> {
        let (t, id) = (tenant.clone(), *id);
        self.read(move |c| leads::get(c, &t, &id)).await
    }

    async fn get_leads(&self, tenant: &TenantId, ids: &[LeadId]) -> Result<Vec<Lead>, StoreError> {
        let (t, ids) = (tenant.clone(), ids.to_vec());
        self.read(move |c| leads::get_many(c, &t, &ids)).await
    }

    async fn update_lead(&self, lead: &Lead) -> Result<Lead, StoreError> {
        let lead = lead.clone();
        self.run(move |c| leads::update(c, &lead)).await
    }

    async fn delete_lead(
        &self,
        tenant: &TenantId,
        id: &LeadId,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        let (t, id) = (tenant.clone(), *id);
        self.run(move |c| leads::delete(c, &t, &id, expected_version))
            .await
    }

    async fn list_leads(&self, tenant: &TenantId, query: &LeadQuery) -> Result<Page<Lead>, StoreError> {
        let (t, q) = (tenant.clone(), query.clone());
        self.read(move |c| lead_list::list(c, &t, &q)).await
    }

    async fn count_leads(
        &self,
        tenant: &TenantId,
        query: &LeadQuery,
        _exact_up_to: u64,
    ) -> Result<LeadCount, StoreError> {
        let (t, q) = (tenant.clone(), query.clone());
        let count = self.read(move |c| lead_list::count(c, &t, &q)).await?;
        Ok(LeadCount { count, exact: true })
    }

    async fn find_leads_by_contact(
        &self,
        tenant: &TenantId,
        key: &MatchKey,
    ) -> Result<Vec<LeadId>, StoreError> {
        let (t, k) = (tenant.clone(), key.clone());
        self.read(move |c| leads::find_by_contact(c, &t, &k)).await
    }

    async fn find_leads_by_contacts(
        &self,
        tenant: &TenantId,
        keys: &[MatchKey],
    ) -> Result<Vec<(MatchKey, LeadId)>, StoreError> {
        let (t, k) = (tenant.clone(), keys.to_vec());
        self.read(move |c| leads::find_by_contacts(c, &t, &k)).await
    }

    async fn commit_lead_change(
        &self,
        lead: &Lead,
        records: &[RecordWrite],
        activities: &[Activity],
    ) -> Result<Lead, StoreError> {
        let (l, r, a) = (lead.clone(), records.to_vec(), activities.to_vec());
        self.run(move |c| leads::commit_change(c, &l, &r, &a)).await
    }

    async fn append_activity(&self, activity: &Activity) -> Result<(), StoreError> {
        let a = activity.clone();
        self.run(move |c| leads::append_activity(c, &a)).await
    }

    async fn list_activities(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Activity>, StoreError> {
        let (t, l, cur) = (tenant.clone(), *lead, cursor.map(str::to_owned));
        self.read(move |c| leads::list_activities(c, &t, &l, cur.as_deref(), limit))
            .await
    }

    async fn get_record(
        &self,
        tenant: &TenantId,
        kind: &str,
        id: &str,
    ) -> Result<Option<RawRecord>, StoreError> {
        let (t, k, i) = (tenant.clone(), kind.to_owned(), id.to_owned());
        self.read(move |c| records::get(c, &t, &k, &i)).await
    }

    async fn put_record(
        &self,
        tenant: &TenantId,
        kind: &str,
        id: &str,
        body: &serde_json::Value,
        expect: Expect,
    ) -> Result<u64, StoreError> {
        let (t, k, i, b) = (tenant.clone(), kind.to_owned(), id.to_owned(), body.clone());
        self.run(move |c| records::put(c, &t, &k, &i, &b, expect)).await
    }

    async fn put_records(&self, tenant: &TenantId, records: &[RecordWrite]) -> Result<(), StoreError> {
        if records.len() > MAX_RECORDS_PER_WRITE {
            return Err(too_many_records());
        }
        let (t, r) = (tenant.clone(), records.to_vec());
        self.run(move |c| {
            for w in &r {
                records::write_in(c, &t, w)?;
            }
            Ok(())
        })
        .await
    }

    async fn list_records(
        &self,
        tenant: &TenantId,
        kind: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RawRecord>, StoreError> {
        let (t, k, a) = (tenant.clone(), kind.to_owned(), after.map(str::to_owned));
        self.read(move |c| records::list(c, &t, &k, a.as_deref(), limit))
            .await
    }

    async fn list_records_of(
        &self,
        tenant: &TenantId,
        kinds: &[&str],
    ) -> Result<Vec<Vec<RawRecord>>, StoreError> {
        let (t, kinds) = (
            tenant.clone(),
            kinds.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
        );
        self.read(move |c| kinds.iter().map(|k| records::list_all(c, &t, k)).collect())
            .await
    }

    async fn delete_record(
        &self,
        tenant: &TenantId,
        kind: &str,
        id: &str,
        expect: Expect,
    ) -> Result<(), StoreError> {
        let (t, k, i) = (tenant.clone(), kind.to_owned(), id.to_owned());
        self.run(move |c| records::delete(c, t.as_str(), &k, &i, expect))
            .await
    }

    async fn read_rollups(
        &self,
        tenant: &TenantId,
        dim: Dim,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(Cell, Counts)>, StoreError> {
        let t = tenant.clone();
        self.read(move |c| rollups::read(c, &t, dim, from, to)).await
    }

    /// A rebuild: the tag counts are counted again too, in the same transaction (they are
    /// SQLite's own, so the port does not name them).
    async fn replace_rollups(&self, tenant: &TenantId, rows: &[(Cell, Counts)]) -> Result<(), StoreError> {
        let (t, rows) = (tenant.clone(), rows.to_vec());
        self.run(move |c| {
            rollups::replace(c, &t, &rows)?;
            tag_counts::recount(c, &t)
        })
        .await
    }

    async fn increment_counter(&self, tenant: &TenantId, name: &str, by: u64) -> Result<u64, StoreError> {
        let (t, n) = (tenant.clone(), name.to_owned());
        self.run(move |c| records::increment(c, &t, &n, by)).await
    }

    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let k = key.clone();
        self.run(move |c| records::put_api_key(c, &k)).await
    }

    async fn find_api_key(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        let h = hash.clone();
        self.read(move |c| records::find_api_key(c, &h)).await
    }

    async fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let t = tenant.clone();
        self.read(move |c| records::list_api_keys(c, &t)).await
    }

    async fn revoke_api_key(
        &self,
        tenant: &TenantId,
        id: &ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (t, i) = (tenant.clone(), *id);
        self.run(move |c| records::revoke_api_key(c, &t, &i, at)).await
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.run(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(db))
            .await
    }
}
