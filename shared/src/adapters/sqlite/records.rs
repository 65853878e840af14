//! Settings records, jobs, counters and API keys in SQLite.

use super::{corrupt, db, is_unique_violation};
use crate::domain::api_key::{ApiKeyRecord, KeyHash};
use crate::domain::ids::{ApiKeyId, TenantId};
use crate::ports::store::{Expect, RawRecord, RecordWrite, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

fn version_of(c: &Connection, t: &str, kind: &str, id: &str) -> Result<Option<u64>, StoreError> {
    c.prepare_cached("SELECT version FROM records WHERE tenant = ?1 AND kind = ?2 AND id = ?3")
        .map_err(db)?
        .query_row(params![t, kind, id], |r| r.get::<_, i64>(0))
        .optional()
        .map_err(db)
        .map(|v| v.map(|v| v as u64))
}

fn parse_body(id: String, version: i64, body: &str) -> Result<RawRecord, StoreError> {
    Ok(RawRecord {
        body: serde_json::from_str(body).map_err(|e| corrupt("record", e))?,
        id,
        version: version as u64,
    })
}

pub fn get(c: &Connection, tenant: &TenantId, kind: &str, id: &str) -> Result<Option<RawRecord>, StoreError> {
    let row: Option<(i64, String)> = c
        .prepare_cached("SELECT version, body FROM records WHERE tenant = ?1 AND kind = ?2 AND id = ?3")
        .map_err(db)?
        .query_row(params![tenant.as_str(), kind, id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(db)?;
    row.map(|(v, b)| parse_body(id.to_owned(), v, &b)).transpose()
}

/// Writes the record inside the call's transaction (a lead's write carries records with it).
pub fn put(
    tx: &Connection,
    tenant: &TenantId,
    kind: &str,
    id: &str,
    body: &serde_json::Value,
    expect: Expect,
) -> Result<u64, StoreError> {
    let t = tenant.as_str();
    let body = body.to_string();
    let found = version_of(tx, t, kind, id)?;
    let next = match (expect, found) {
        (Expect::Absent, Some(f)) => {
            return Err(StoreError::Conflict {
                expected: None,
                found: Some(f),
            });
        }
        (Expect::Version(_), None) => return Err(StoreError::NotFound),
        (Expect::Version(e), Some(f)) if e != f => {
            return Err(StoreError::Conflict {
                expected: Some(e),
                found: Some(f),
            });
        }
        (_, f) => f.unwrap_or(0) + 1,
    };
    tx.prepare_cached(
        "INSERT INTO records (tenant, kind, id, version, body) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (tenant, kind, id) DO UPDATE SET version = excluded.version, body = excluded.body",
    )
    .map_err(db)?
    .execute(params![t, kind, id, next as i64, body])
    .map_err(db)?;
    Ok(next)
}

const LIST: &str = "SELECT id, version, body FROM records WHERE tenant = ?1 AND kind = ?2 AND id > ?3
    ORDER BY id LIMIT ?4";

pub fn list(
    c: &Connection,
    tenant: &TenantId,
    kind: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<RawRecord>, StoreError> {
    let mut st = c.prepare_cached(LIST).map_err(db)?;
    let rows = st
        .query_map(
            params![
                tenant.as_str(),
                kind,
                after.unwrap_or(""),
                limit.clamp(1, 1000) as i64
            ],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                ))
            },
        )
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)?;
    rows.into_iter().map(|(id, v, b)| parse_body(id, v, &b)).collect()
}

/// Every record of a kind, a page at a time on the one connection (the port's
/// `list_all_records` pages the same way, but awaits each page of a store across a network).
pub fn list_all(c: &Connection, tenant: &TenantId, kind: &str) -> Result<Vec<RawRecord>, StoreError> {
    let mut all: Vec<RawRecord> = Vec::new();
    loop {
        let page = list(c, tenant, kind, all.last().map(|r| r.id.as_str()), 1000)?;
        let done = page.len() < 1000;
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

/// Deletes the record inside the call's transaction: a record that is gone already is
/// `NotFound`.
pub fn delete(tx: &Connection, t: &str, kind: &str, id: &str, expect: Expect) -> Result<(), StoreError> {
    match (version_of(tx, t, kind, id)?, expect) {
        (None, _) => return Err(StoreError::NotFound),
        (Some(f), Expect::Version(e)) if f != e => {
            return Err(StoreError::Conflict {
                expected: Some(e),
                found: Some(f),
            });
        }
        (Some(f), Expect::Absent) => {
            return Err(StoreError::Conflict {
                expected: None,
                found: Some(f),
            });
        }
        _ => {}
    }
    tx.prepare_cached("DELETE FROM records WHERE tenant = ?1 AND kind = ?2 AND id = ?3")
        .map_err(db)?
        .execute(params![t, kind, id])
        .map_err(db)?;
    Ok(())
}

/// One `RecordWrite` inside the caller's transaction: a put, or a removal (unconditional;
/// a record already gone is no failure).
pub fn write_in(tx: &Connection, tenant: &TenantId, w: &RecordWrite) -> Result<(), StoreError> {
    match &w.body {
        Some(body) => put(tx, tenant, w.kind, &w.id, body, w.expect).map(|_| ()),
        None if w.expect != Expect::Any => Err(StoreError::Invalid("a removal is unconditional".into())),
        None => match delete(tx, tenant.as_str(), w.kind, &w.id, Expect::Any) {
            Err(StoreError::NotFound) => Ok(()),
            done => done,
        },
    }
}

pub fn increment(c: &Connection, tenant: &TenantId, name: &str, by: u64) -> Result<u64, StoreError> {
    c.prepare_cached(
        "INSERT INTO counters (tenant, name, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant, name) DO UPDATE SET value = value + ?3 RETURNING value",
    )
    .map_err(db)?
    .query_row(params![tenant.as_str(), name, by.max(1) as i64], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(db)
    .map(|v| v as u64)
}

fn key_doc(k: &ApiKeyRecord) -> Result<String, StoreError> {
    serde_json::to_string(k).map_err(|e| StoreError::Invalid(e.to_string()))
}

fn parse_key(doc: &str) -> Result<ApiKeyRecord, StoreError> {
    serde_json::from_str(doc).map_err(|e| corrupt("api key", e))
}

pub fn put_api_key(c: &Connection, k: &ApiKeyRecord) -> Result<(), StoreError> {
    c.prepare_cached("INSERT INTO api_keys (hash, tenant, id, doc) VALUES (?1, ?2, ?3, ?4)")
        .map_err(db)?
        .execute(params![
            k.hash.as_str(),
            k.tenant.as_str(),
            k.id.to_string(),
            key_doc(k)?
        ])
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict {
                    expected: None,
                    found: None,
                }
            } else {
                db(e)
            }
        })?;
    Ok(())
}

pub fn find_api_key(c: &Connection, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError> {
    let doc: Option<String> = c
        .prepare_cached("SELECT doc FROM api_keys WHERE hash = ?1")
        .map_err(db)?
        .query_row(params![hash.as_str()], |r| r.get(0))
        .optional()
        .map_err(db)?;
    doc.as_deref().map(parse_key).transpose()
}

pub fn list_api_keys(c: &Connection, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
    let mut st = c
        .prepare_cached("SELECT doc FROM api_keys WHERE tenant = ?1 ORDER BY id")
        .map_err(db)?;
    let docs = st
        .query_map(params![tenant.as_str()], |r| r.get::<_, String>(0))
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)?;
    docs.iter().map(|d| parse_key(d)).collect()
}

pub fn revoke_api_key(
    tx: &Connection,
    tenant: &TenantId,
    id: &ApiKeyId,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let doc: Option<String> = tx
        .query_row(
            "SELECT doc FROM api_keys WHERE tenant = ?1 AND id = ?2",
            params![tenant.as_str(), id.to_string()],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    let mut rec = parse_key(&doc.ok_or(StoreError::NotFound)?)?;
    if rec.revoked_at.is_none() {
        rec.revoked_at = Some(at);
        tx.prepare_cached("UPDATE api_keys SET doc = ?3 WHERE tenant = ?1 AND id = ?2")
            .map_err(db)?
            .execute(params![tenant.as_str(), id.to_string(), key_doc(&rec)?])
            .map_err(db)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::StatementStatus;

    #[test]
    fn when_a_list_runs_again_with_another_limit_should_reuse_its_prepared_statement() {
        let conn = super::super::test_connection();
        let tenant = TenantId::parse("t").unwrap();
        for limit in [1000, 10, 1000, 3] {
            list(&conn, &tenant, "source", None, limit).unwrap();
        }
        // Each re-prepare parses and plans the SQL again (12% of the gateway's samples when
        // SQLite planned by the bound `LIMIT ?4`).
        let st = conn.prepare_cached(LIST).unwrap();
        // The statement the four lists ran, not a fresh one.
        assert_eq!(st.get_status(StatementStatus::Run), 4);
        assert_eq!(st.get_status(StatementStatus::RePrepare), 0);
    }
}
