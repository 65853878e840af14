//! The SQLite schema and its migrations, tracked with `PRAGMA user_version`.
//!
//! Leads keep the whole lead as JSON (`doc`) plus the columns that filters and sorts use.
//! The sort columns hold the same `{micros:016}#{id}` positions as the DynamoDB sort keys, so
//! cursors mean the same thing in both stores.

use super::db;
use crate::ports::store::StoreError;
use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE leads (
    tenant       TEXT NOT NULL,
    id           TEXT NOT NULL,
    status       TEXT NOT NULL,
    owner        TEXT,
    source       TEXT NOT NULL,
    email        TEXT,
    phone        TEXT,
    created_pos  TEXT NOT NULL,
    activity_pos TEXT NOT NULL,
    s_name       TEXT NOT NULL,
    s_email      TEXT,
    s_company    TEXT,
    version      INTEGER NOT NULL,
    doc          TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX leads_created  ON leads (tenant, created_pos);
CREATE INDEX leads_activity ON leads (tenant, activity_pos);
CREATE INDEX leads_status   ON leads (tenant, status, created_pos);
CREATE INDEX leads_owner    ON leads (tenant, owner, created_pos);
CREATE INDEX leads_source   ON leads (tenant, source, created_pos);
CREATE INDEX leads_email    ON leads (tenant, email) WHERE email IS NOT NULL;
CREATE INDEX leads_phone    ON leads (tenant, phone) WHERE phone IS NOT NULL;

CREATE TABLE activities (
    tenant  TEXT NOT NULL,
    lead_id TEXT NOT NULL,
    pos     TEXT NOT NULL,
    doc     TEXT NOT NULL,
    PRIMARY KEY (tenant, lead_id, pos)
) WITHOUT ROWID;

CREATE TABLE external_ids (
    tenant   TEXT NOT NULL,
    provider TEXT NOT NULL,
    ext_id   TEXT NOT NULL,
    lead_id  TEXT NOT NULL,
    PRIMARY KEY (tenant, provider, ext_id)
) WITHOUT ROWID;

CREATE TABLE idempotency_keys (
    tenant  TEXT NOT NULL,
    key     TEXT NOT NULL,
    lead_id TEXT NOT NULL,
    PRIMARY KEY (tenant, key)
) WITHOUT ROWID;

CREATE TABLE records (
    tenant  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    id      TEXT NOT NULL,
    version INTEGER NOT NULL,
    body    TEXT NOT NULL,
    PRIMARY KEY (tenant, kind, id)
) WITHOUT ROWID;

CREATE TABLE counters (
    tenant TEXT NOT NULL,
    name   TEXT NOT NULL,
    value  INTEGER NOT NULL,
    PRIMARY KEY (tenant, name)
) WITHOUT ROWID;

CREATE TABLE api_keys (
    hash   TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    id     TEXT NOT NULL,
    doc    TEXT NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX api_keys_tenant ON api_keys (tenant, id);
"#];

pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(db)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(db)?;
    let current: usize = conn
        .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
        .map_err(db)? as usize;
    if current > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "database schema version {current} is newer than this build knows ({})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction().map_err(db)?;
        tx.execute_batch(sql).map_err(db)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(db)?;
        tx.commit().map_err(db)?;
    }
    Ok(())
}
