//! The SQLite schema and its migrations, tracked with `PRAGMA user_version`.
//!
//! Leads keep the whole lead as JSON (`doc`) plus the columns that filters and sorts use.
//! The sort columns hold the same positions (`domain::sort`) as the DynamoDB sort keys, so
//! cursors mean the same thing in both stores.

use super::db;
use crate::ports::store::StoreError;
use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    r#"
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
"#,
    r#"
-- Tags as ",vip,q4," (tags cannot contain commas): a tag filter reads this column instead of
-- parsing every candidate's JSON document.
ALTER TABLE leads ADD COLUMN tags TEXT NOT NULL DEFAULT '';
UPDATE leads SET tags = COALESCE(
    (SELECT ',' || group_concat(value, ',') || ',' FROM json_each(leads.doc, '$.tags')), '');
"#,
    r#"
-- What the request that first used an idempotency key looked like, so a different request
-- with the same key is refused instead of answered with the first lead.
ALTER TABLE idempotency_keys ADD COLUMN fingerprint TEXT;
"#,
    r#"
-- The value sorts' positions (`domain::sort`), computed in Rust and filled for stored leads by
-- `fill_value_positions`: one index each, so a sorted page reads its rows in order.
ALTER TABLE leads ADD COLUMN name_pos    TEXT NOT NULL DEFAULT '';
ALTER TABLE leads ADD COLUMN company_pos TEXT NOT NULL DEFAULT '';
ALTER TABLE leads ADD COLUMN status_pos  TEXT NOT NULL DEFAULT '';
ALTER TABLE leads ADD COLUMN owner_pos   TEXT NOT NULL DEFAULT '';
ALTER TABLE leads ADD COLUMN source_pos  TEXT NOT NULL DEFAULT '';
CREATE INDEX leads_name_pos    ON leads (tenant, name_pos);
CREATE INDEX leads_company_pos ON leads (tenant, company_pos);
CREATE INDEX leads_status_pos  ON leads (tenant, status_pos);
CREATE INDEX leads_owner_pos   ON leads (tenant, owner_pos);
CREATE INDEX leads_source_pos  ON leads (tenant, source_pos);
"#,
    r#"
-- Analytics rollups (`domain::rollup`): per tenant, dimension, day and key, the counts as a
-- JSON array. Kept by every lead write in its own transaction; filled for stored leads by
-- `rollups::fill`.
CREATE TABLE rollups (
    tenant TEXT NOT NULL,
    dim    TEXT NOT NULL,
    day    TEXT NOT NULL,
    key    TEXT NOT NULL,
    counts TEXT NOT NULL,
    PRIMARY KEY (tenant, dim, day, key)
) WITHOUT ROWID;
"#,
    r#"
-- Each tag of each lead with the lead's status, kept by triggers on every write of `leads`
-- (whatever statement makes it), so "how many new leads are tagged vip" counts one range of
-- this key instead of reading every new lead's row (1.9 s at 1M leads, BENCHMARKS.md). A
-- document that is not JSON has no tags here rather than failing the write or the migration.
CREATE TABLE lead_tags (
    tenant  TEXT NOT NULL,
    tag     TEXT NOT NULL,
    status  TEXT NOT NULL,
    lead_id TEXT NOT NULL,
    PRIMARY KEY (tenant, tag, status, lead_id)
) WITHOUT ROWID;
CREATE TRIGGER lead_tags_insert AFTER INSERT ON leads BEGIN
    INSERT OR IGNORE INTO lead_tags (tenant, tag, status, lead_id)
        SELECT NEW.tenant, value, NEW.status, NEW.id FROM json_each(iif(json_valid(NEW.doc), NEW.doc, '{}'), '$.tags');
END;
CREATE TRIGGER lead_tags_update AFTER UPDATE OF tags, status ON leads
    WHEN OLD.tags <> NEW.tags OR OLD.status <> NEW.status BEGIN
    DELETE FROM lead_tags WHERE tenant = OLD.tenant AND status = OLD.status
        AND lead_id = OLD.id AND tag IN (SELECT value FROM json_each(iif(json_valid(OLD.doc), OLD.doc, '{}'), '$.tags'));
    INSERT OR IGNORE INTO lead_tags (tenant, tag, status, lead_id)
        SELECT NEW.tenant, value, NEW.status, NEW.id FROM json_each(iif(json_valid(NEW.doc), NEW.doc, '{}'), '$.tags');
END;
CREATE TRIGGER lead_tags_delete AFTER DELETE ON leads BEGIN
    DELETE FROM lead_tags WHERE tenant = OLD.tenant AND status = OLD.status
        AND lead_id = OLD.id AND tag IN (SELECT value FROM json_each(iif(json_valid(OLD.doc), OLD.doc, '{}'), '$.tags'));
END;
INSERT OR IGNORE INTO lead_tags (tenant, tag, status, lead_id)
    SELECT leads.tenant, j.value, leads.status, leads.id FROM leads, json_each(iif(json_valid(leads.doc), leads.doc, '{}'), '$.tags') AS j;
"#,
    r#"
-- The tag triggers again, written so that a write of `leads` needs no statement journal
-- (with `OR FAIL` on the write, see `leads::INSERT_LEAD`): a function call in a trigger body
-- (the `json_valid` guard above) makes SQLite copy every page the write changes to a
-- journal first, which made an import ten times slower per lead. Removing a lead's rows now
-- goes by an index on the lead instead of by its old tags, so it does not read the old
-- document; a lead without tags parses nothing. A new document that is not JSON fails the
-- write (the store writes only documents it serialized).
DROP TRIGGER lead_tags_insert;
DROP TRIGGER lead_tags_update;
DROP TRIGGER lead_tags_delete;
CREATE INDEX lead_tags_lead ON lead_tags (tenant, lead_id);
CREATE TRIGGER lead_tags_insert AFTER INSERT ON leads WHEN NEW.tags <> '' BEGIN
    INSERT INTO lead_tags (tenant, tag, status, lead_id)
        SELECT NEW.tenant, value, NEW.status, NEW.id FROM json_each(NEW.doc, '$.tags');
END;
CREATE TRIGGER lead_tags_update AFTER UPDATE OF tags, status ON leads
    WHEN OLD.tags <> NEW.tags OR OLD.status <> NEW.status BEGIN
    DELETE FROM lead_tags WHERE tenant = OLD.tenant AND lead_id = OLD.id;
    INSERT INTO lead_tags (tenant, tag, status, lead_id)
        SELECT NEW.tenant, value, NEW.status, NEW.id FROM json_each(NEW.doc, '$.tags')
        WHERE NEW.tags <> '';
END;
CREATE TRIGGER lead_tags_delete AFTER DELETE ON leads WHEN OLD.tags <> '' BEGIN
    DELETE FROM lead_tags WHERE tenant = OLD.tenant AND lead_id = OLD.id;
END;
"#,
    r#"
-- The value sorts' indexes carry the columns the list filters on most (status, owner,
-- source, tags), so that a filtered page sorted by value finds its leads in the index alone
-- and reads only the rows it returns (`lead_list::list`). With the position alone, every lead
-- the index walked past was read to test the filter: in name order those are on different
-- pages, about 250 of 16 KiB for a page of 50 vip leads (BENCHMARKS.md, issue 24).
DROP INDEX leads_name_pos;
DROP INDEX leads_company_pos;
DROP INDEX leads_status_pos;
DROP INDEX leads_owner_pos;
DROP INDEX leads_source_pos;
CREATE INDEX leads_name_pos    ON leads (tenant, name_pos, status, owner, source, tags);
CREATE INDEX leads_company_pos ON leads (tenant, company_pos, status, owner, source, tags);
CREATE INDEX leads_status_pos  ON leads (tenant, status_pos, status, owner, source, tags);
CREATE INDEX leads_owner_pos   ON leads (tenant, owner_pos, status, owner, source, tags);
CREATE INDEX leads_source_pos  ON leads (tenant, source_pos, status, owner, source, tags);
"#,
    r#"
-- How many leads carry each tag in each status, so "how many new leads are tagged vip"
-- reads a few rows instead of counting a range of `lead_tags`: at 1M leads that range is a
-- few hundred thousand entries, 6.5 ms of CPU per count (BENCHMARKS.md, issue 24). Every
-- lead write moves it by what it changed (`tag_counts`), as it moves the rollups; a row at
-- zero stays.
CREATE TABLE lead_tag_counts (
    tenant TEXT NOT NULL,
    tag    TEXT NOT NULL,
    status TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (tenant, tag, status)
) WITHOUT ROWID;
INSERT INTO lead_tag_counts (tenant, tag, status, n)
    SELECT tenant, tag, status, COUNT(*) FROM lead_tags GROUP BY tenant, tag, status;
"#,
    r#"
-- `leads` as a rowid table. Every one of its twelve indexes ends with the row's key: in a
-- WITHOUT ROWID table that is (tenant, id), about 45 bytes, here an integer of a few, so
-- each index is a third to a half smaller and a write dirties that many fewer pages. The
-- key (tenant, id) becomes a thirteenth index, which a read by id goes through to the row.
-- A rowid row also fills up to nearly a page before it spills (a WITHOUT ROWID cell about a
-- quarter), which is what lets a new database take 8 KiB pages (`PAGE_SIZE`). A contact
-- lookup (`SELECT id … WHERE email = ?`) now reads the row of each lead it finds; adding
-- `id` to the email and phone indexes would spare that, but would widen two of the indexes
-- every write reaches at random for a read that only a duplicate makes. The table is rebuilt
-- in place: the rows, then the indexes and the tag triggers as migrations 1-8 left them
-- (dropping the old table dropped its own). `lead_tags` and its counts hold the same leads.
CREATE TABLE leads_rowid (
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
    tags         TEXT NOT NULL DEFAULT '',
    name_pos     TEXT NOT NULL DEFAULT '',
    company_pos  TEXT NOT NULL DEFAULT '',
    status_pos   TEXT NOT NULL DEFAULT '',
    owner_pos    TEXT NOT NULL DEFAULT '',
    source_pos   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (tenant, id)
);
INSERT INTO leads_rowid (tenant, id, status, owner, source, email, phone, created_pos,
        activity_pos, s_name, s_email, s_company, version, doc, tags, name_pos, company_pos,
        status_pos, owner_pos, source_pos)
    SELECT tenant, id, status, owner, source, email, phone, created_pos, activity_pos, s_name,
        s_email, s_company, version, doc, tags, name_pos, company_pos, status_pos, owner_pos,
        source_pos
    FROM leads ORDER BY tenant, created_pos;
DROP TABLE leads;
ALTER TABLE leads_rowid RENAME TO leads;
CREATE INDEX leads_created     ON leads (tenant, created_pos);
CREATE INDEX leads_activity    ON leads (tenant, activity_pos);
CREATE INDEX leads_status      ON leads (tenant, status, created_pos);
CREATE INDEX leads_owner       ON leads (tenant, owner, created_pos);
CREATE INDEX leads_source      ON leads (tenant, source, created_pos);
CREATE INDEX leads_email       ON leads (tenant, email) WHERE email IS NOT NULL;
CREATE INDEX leads_phone       ON leads (tenant, phone) WHERE phone IS NOT NULL;
CREATE INDEX leads_name_pos    ON leads (tenant, name_pos, status, owner, source, tags);
CREATE INDEX leads_company_pos ON leads (tenant, company_pos, status, owner, source, tags);
CREATE INDEX leads_status_pos  ON leads (tenant, status_pos, status, owner, source, tags);
CREATE INDEX leads_owner_pos   ON leads (tenant, owner_pos, status, owner, source, tags);
CREATE INDEX leads_source_pos  ON leads (tenant, source_pos, status, owner, source, tags);
CREATE TRIGGER lead_tags_insert AFTER INSERT ON leads WHEN NEW.tags <> '' BEGIN
    INSERT INTO lead_tags (tenant, tag, status, lead_id)
        SELECT NEW.tenant, value, NEW.status, NEW.id FROM json_each(NEW.doc, '$.tags');
END;
CREATE TRIGGER lead_tags_update AFTER UPDATE OF tags, status ON leads
    WHEN OLD.tags <> NEW.tags OR OLD.status <> NEW.status BEGIN
    DELETE FROM lead_tags WHERE tenant = OLD.tenant AND lead_id = OLD.id;
    INSERT INTO lead_tags (tenant, tag, status, lead_id)
        SELECT NEW.tenant, value, NEW.status, NEW.id FROM json_each(NEW.doc, '$.tags')
        WHERE NEW.tags <> '';
END;
CREATE TRIGGER lead_tags_delete AFTER DELETE ON leads WHEN OLD.tags <> '' BEGIN
    DELETE FROM lead_tags WHERE tenant = OLD.tenant AND lead_id = OLD.id;
END;
"#,
];

/// The migration (1-based) after which stored leads get their value-sort positions.
const VALUE_POSITIONS_VERSION: usize = 4;
/// The migration after which stored leads are counted into the rollups.
const ROLLUPS_VERSION: usize = 5;

/// Calls `each` with every stored lead that parses, read 1,000 at a time in key order, so a
/// migration's memory stays flat however many leads there are. A document that does not
/// parse is logged by id (with what it misses) and passed over: one bad row must not keep the
/// database from opening.
pub(super) fn each_stored_lead(
    tx: &rusqlite::Connection,
    misses: &str,
    mut each: impl FnMut(&str, &str, crate::domain::lead::Lead) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut read = tx
        .prepare(
            "SELECT tenant, id, doc FROM leads WHERE (tenant, id) > (?1, ?2)
             ORDER BY tenant, id LIMIT 1000",
        )
        .map_err(db)?;
    let mut after = (String::new(), String::new());
    loop {
        let rows: Vec<(String, String, String)> = read
            .query_map([&after.0, &after.1], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(db)?
            .collect::<Result<_, _>>()
            .map_err(db)?;
        let Some((tenant, id, _)) = rows.last() else {
            return Ok(());
        };
        after = (tenant.clone(), id.clone());
        for (tenant, id, doc) in rows {
            match serde_json::from_str(&doc) {
                Ok(lead) => each(&tenant, &id, lead)?,
                Err(_) => tracing::warn!(lead = %id, "a stored lead does not parse; {misses}"),
            }
        }
    }
}

/// Fills the value-sort columns of every stored lead from its document: the positions are the
/// domain's rule (`SortField::position`), which SQL cannot state. A lead whose document does
/// not parse keeps empty positions (it sorts first).
fn fill_value_positions(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    use crate::domain::sort::SortField;
    let mut update = tx
        .prepare(
            "UPDATE leads SET name_pos = ?3, company_pos = ?4, status_pos = ?5, owner_pos = ?6,
                source_pos = ?7 WHERE tenant = ?1 AND id = ?2",
        )
        .map_err(db)?;
    each_stored_lead(tx, "its sort positions stay empty", |tenant, id, lead| {
        let [a, b, c, d, e] = SortField::BY_VALUE.map(|f| f.position(&lead));
        update
            .execute(rusqlite::params![tenant, id, a, b, c, d, e])
            .map(|_| ())
            .map_err(db)
    })
}

/// Page size of a new database, 8 KiB. A commit rewrites every page it touches whole, and a
/// lead write touches a leaf of each of the lead's thirteen indexes, most of them where no other
/// lead of the same commit writes (email, phone, name order): with 16 KiB pages a capture
/// committed several times the bytes it changed. Copying stored leads with the `sqlite3`
/// shell (`scripts/bench-peers/store_ceiling.sh`), 32 to a commit as captures group, went from
/// 3,077-3,153 leads/s (16 KiB, WITHOUT ROWID) to 4,863 (8 KiB, rowid), and 500 to a commit as
/// imports write from 9,428-10,404 to 13,227. At 4 KiB the gateway's own import made twice
/// the read and write calls of 16 KiB and ran 3-11% slower. A lead (its JSON document and sort
/// columns, 1-2 KB) fits in one page because `leads` is a rowid table (migration 10), whose
/// rows fill nearly a page before they spill (a WITHOUT ROWID cell about a quarter).
/// Databases made before it keep their page size: it changes only by a VACUUM out of WAL mode
/// (README.md).
const PAGE_SIZE: i64 = 8_192;

pub fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    // Only a database without tables takes a page size (before WAL mode is set); an existing
    // one keeps its own until a VACUUM.
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(db)?;
    if tables == 0 {
        conn.pragma_update(None, "page_size", PAGE_SIZE).map_err(db)?;
    }
    conn.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
    // FULL: a commit is on disk before the writer answers, so an acknowledged lead survives a
    // power loss, not only a crash of the process. Group commit pays the fsync once a group.
    conn.pragma_update(None, "synchronous", "FULL").map_err(db)?;
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
        if i + 1 == VALUE_POSITIONS_VERSION {
            fill_value_positions(&tx)?;
        }
        if i + 1 == ROLLUPS_VERSION {
            super::rollups::fill(&tx)?;
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(db)?;
        tx.commit().map_err(db)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored lead document as a version 1 database holds one.
    fn lead_doc() -> serde_json::Value {
        serde_json::json!({
            "id": crate::domain::ids::LeadId::new(), "tenant": "t", "name": "Émile Zola",
            "company": "Acme", "owner": "ana", "source": "web", "status": "contacted",
            "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z",
            "last_activity_at": "2026-01-02T03:04:05Z", "version": 1, "tags": []
        })
    }

    /// Every `lead_tags` row as (tag, status, lead id), in key order after the tenant.
    fn tagged_rows(conn: &Connection) -> Vec<(String, String, String)> {
        conn.prepare("SELECT tag, status, lead_id FROM lead_tags ORDER BY tag, status, lead_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// An in-memory database as the first `n` migrations left it.
    fn at_version(n: usize) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..n] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", n as i64).unwrap();
        conn
    }

    #[test]
    fn when_a_version_1_database_is_opened_should_fill_the_tags_column_from_each_document() {
        let mut conn = at_version(1);
        for (id, tags) in [
            ("a", serde_json::json!(["vip", "q4"])),
            ("b", serde_json::json!([])),
            ("c", serde_json::Value::Null),
        ] {
            let mut doc = lead_doc();
            match tags {
                serde_json::Value::Null => doc.as_object_mut().unwrap().remove("tags"),
                tags => doc.as_object_mut().unwrap().insert("tags".into(), tags),
            };
            let doc = doc.to_string();
            conn.execute(
                "INSERT INTO leads (tenant, id, status, source, created_pos, activity_pos, s_name,
                    version, doc) VALUES ('t', ?1, 'new', 's', ?1, ?1, '', 1, ?2)",
                [id, &doc],
            )
            .unwrap();
        }
        migrate(&mut conn).unwrap();
        let tags: Vec<(String, String)> = conn
            .prepare("SELECT id, tags FROM leads ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            tags,
            [
                ("a".into(), ",vip,q4,".into()),
                ("b".into(), String::new()),
                ("c".into(), String::new())
            ]
        );
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version as usize, MIGRATIONS.len());
    }

    #[test]
    fn when_a_database_is_new_should_take_pages_a_lead_fits_in() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.sqlite3");
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn).unwrap();
        drop(conn);
        let conn = Connection::open(&path).unwrap();
        let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        assert_eq!(size, PAGE_SIZE);
        // A lead of about 3 KB takes one page of `leads`, not a page and an overflow page.
        let mut doc = lead_doc();
        doc["notes"] = serde_json::json!("x".repeat(3_000));
        let pages =
            |conn: &Connection| -> i64 { conn.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap() };
        let empty = pages(&conn);
        conn.execute(
            "INSERT INTO leads (tenant, id, status, source, created_pos, activity_pos, s_name,
                version, doc) VALUES ('t', 'a', 'new', 's', 'p', 'p', '', 1, ?1)",
            [doc.to_string()],
        )
        .unwrap();
        // Every table and index has its root page from its CREATE, so a first lead that fits
        // adds no page; one that spills adds an overflow page (it did with these pages while
        // `leads` was WITHOUT ROWID).
        assert_eq!(pages(&conn) - empty, 0);
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn when_a_version_9_database_is_opened_should_keep_every_lead_in_a_rowid_table() {
        let mut conn = at_version(9);
        let insert = "INSERT INTO leads (tenant, id, status, owner, source, email, phone,
                created_pos, activity_pos, s_name, s_email, s_company, version, doc, tags,
                name_pos, company_pos, status_pos, owner_pos, source_pos)
            VALUES ('t', ?1, ?2, 'ana', 'web', ?3, '+4930123', ?1, ?1, 'n', 's@x', 'co', 3, ?4, ?5,
                'np', 'cp', 'sp', 'op', 'srcp')";
        for (id, status, tags) in [("a", "new", vec!["vip", "q4"]), ("b", "contacted", vec![])] {
            let mut doc = lead_doc();
            doc["tags"] = serde_json::json!(tags);
            let col = if tags.is_empty() {
                String::new()
            } else {
                format!(",{},", tags.join(","))
            };
            let email = format!("{id}@x.example");
            conn.execute(insert, [id, status, &email, &doc.to_string(), &col])
                .unwrap();
        }
        let rows = |conn: &Connection| -> Vec<Vec<rusqlite::types::Value>> {
            let mut st = conn.prepare("SELECT * FROM leads ORDER BY tenant, id").unwrap();
            let width = st.column_count();
            st.query_map([], |r| (0..width).map(|i| r.get(i)).collect())
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        // The indexes and triggers of `leads` as their SQL, spacing aside (the key's own
        // index has none).
        let objects = |conn: &Connection| -> Vec<(String, String)> {
            conn.prepare(
                "SELECT name, sql FROM sqlite_schema WHERE tbl_name = 'leads'
                    AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY name",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, String>(1)?)))
            .unwrap()
            .map(|o| o.map(|(name, sql)| (name, sql.split_whitespace().collect::<Vec<_>>().join(" "))))
            .collect::<Result<_, _>>()
            .unwrap()
        };
        let (before, indexes_and_triggers) = (rows(&conn), objects(&conn));
        assert_eq!(indexes_and_triggers.len(), 12 + 3);
        migrate(&mut conn).unwrap();
        assert_eq!(objects(&conn), indexes_and_triggers);
        assert_eq!(
            rows(&conn),
            before,
            "every column of every lead, in the same order"
        );
        // A rowid table: a WITHOUT ROWID one has no such column.
        let keys: i64 = conn
            .query_row("SELECT count(rowid) FROM leads", [], |r| r.get(0))
            .unwrap();
        assert_eq!(keys, 2);
        // The tag triggers work on the new table: a status change moves the lead's tag rows, a
        // delete removes them and an insert adds them.
        let row = |tag: &str, status: &str| (tag.to_owned(), status.to_owned(), "a".to_owned());
        assert_eq!(tagged_rows(&conn), [row("q4", "new"), row("vip", "new")]);
        conn.execute(
            "UPDATE leads SET status = 'won' WHERE tenant = 't' AND id = 'a'",
            [],
        )
        .unwrap();
        assert_eq!(tagged_rows(&conn), [row("q4", "won"), row("vip", "won")]);
        conn.execute("DELETE FROM leads WHERE tenant = 't' AND id = 'a'", [])
            .unwrap();
        assert_eq!(tagged_rows(&conn), []);
        let mut doc = lead_doc();
        doc["tags"] = serde_json::json!(["expo"]);
        conn.execute(insert, ["c", "new", "c@x.example", &doc.to_string(), ",expo,"])
            .unwrap();
        assert_eq!(tagged_rows(&conn), [("expo".into(), "new".into(), "c".into())]);
    }

    #[test]
    fn when_a_version_5_database_is_opened_should_fill_the_tag_table_and_keep_it() {
        let mut conn = at_version(5);
        let insert = "INSERT INTO leads (tenant, id, status, source, created_pos, activity_pos,
                s_name, version, doc, tags) VALUES ('t', ?1, ?2, 'web', 'x', 'x', '', 1, ?3, ?4)";
        for (id, status, tags) in [("a", "new", vec!["vip", "q4"]), ("b", "contacted", vec!["vip"])] {
            let mut doc = lead_doc();
            doc["tags"] = serde_json::json!(tags);
            let col = format!(",{},", tags.join(","));
            conn.execute(insert, [id, status, &doc.to_string(), &col])
                .unwrap();
        }
        // A document that is not JSON has no tags, and still opens and deletes.
        conn.execute(insert, ["broken", "new", "{broken", ",vip,"])
            .unwrap();
        migrate(&mut conn).unwrap();
        let row = |t: &str, s: &str, l: &str| (t.to_owned(), s.to_owned(), l.to_owned());
        assert_eq!(
            tagged_rows(&conn),
            [
                row("q4", "new", "a"),
                row("vip", "contacted", "b"),
                row("vip", "new", "a")
            ]
        );
        // The triggers keep it: a status change, new tags, a delete.
        conn.execute("UPDATE leads SET status = 'qualified' WHERE id = 'a'", [])
            .unwrap();
        let mut doc = lead_doc();
        doc["tags"] = serde_json::json!(["expo"]);
        conn.execute(
            "UPDATE leads SET doc = ?1, tags = ',expo,' WHERE id = 'b'",
            [doc.to_string()],
        )
        .unwrap();
        // A write that makes a document that is not JSON fails, and changes nothing.
        conn.execute(
            "UPDATE leads SET doc = '{broken', status = 'lost' WHERE id = 'a'",
            [],
        )
        .unwrap_err();
        let status: String = conn
            .query_row("SELECT status FROM leads WHERE id = 'a'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(status, "qualified");
        assert_eq!(
            tagged_rows(&conn),
            [
                row("expo", "contacted", "b"),
                row("q4", "qualified", "a"),
                row("vip", "qualified", "a")
            ]
        );
        conn.execute("DELETE FROM leads WHERE id IN ('a', 'broken')", [])
            .unwrap();
        assert_eq!(tagged_rows(&conn), [row("expo", "contacted", "b")]);
    }

    /// The counts as a lead write moves them are the store's (`tag_counts`), proved by the
    /// contract case `when_leads_are_written_in_any_order_should_count_a_tag_as_a_recount_does`.
    #[test]
    fn when_a_version_8_database_is_opened_should_count_its_tagged_leads() {
        let mut conn = at_version(8);
        let insert = "INSERT OR FAIL INTO leads (tenant, id, status, source, created_pos,
                activity_pos, s_name, version, doc, tags)
                VALUES (?1, ?2, ?3, 'web', 'x', 'x', '', 1, ?4, ?5)";
        for (tenant, id, status, tags) in [
            ("t", "a", "new", vec!["vip", "q4"]),
            ("t", "b", "new", vec!["vip"]),
            ("t", "c", "contacted", vec!["vip"]),
            ("t", "d", "new", vec![]),
            ("u", "e", "new", vec!["vip"]),
        ] {
            let mut doc = lead_doc();
            doc["tags"] = serde_json::json!(tags);
            let col = if tags.is_empty() {
                String::new()
            } else {
                format!(",{},", tags.join(","))
            };
            conn.execute(insert, [tenant, id, status, &doc.to_string(), &col])
                .unwrap();
        }
        migrate(&mut conn).unwrap();
        let counted = super::super::tag_counts::stored(&conn);
        let row = |t: &str, tag: &str, s: &str, n: i64| (t.to_owned(), tag.to_owned(), s.to_owned(), n);
        assert_eq!(
            counted,
            [
                row("t", "q4", "new", 1),
                row("t", "vip", "contacted", 1),
                row("t", "vip", "new", 2),
                row("u", "vip", "new", 1)
            ]
        );
    }

    #[test]
    fn when_a_version_4_database_is_opened_should_count_its_leads_into_the_rollups() {
        use crate::domain::ids::TenantId;
        use crate::domain::lead::Lead;
        use crate::domain::rollup::{self, Dim};
        let mut conn = at_version(4);
        let mut leads = Vec::new();
        for (status, owner, day) in [("new", "ana", 2), ("contacted", "bo", 2), ("new", "ana", 5)] {
            let mut doc = lead_doc();
            doc["status"] = status.into();
            doc["owner"] = owner.into();
            doc["created_at"] = format!("2026-01-0{day}T03:04:05Z").into();
            let lead: Lead = serde_json::from_value(doc.clone()).unwrap();
            conn.execute(
                "INSERT INTO leads (tenant, id, status, source, created_pos, activity_pos, s_name,
                    version, doc) VALUES ('t', ?1, ?2, 'web', 'x', 'x', '', 1, ?3)",
                [lead.id.to_string(), status.to_owned(), doc.to_string()],
            )
            .unwrap();
            leads.push(lead);
        }
        conn.execute(
            "INSERT INTO leads (tenant, id, status, source, created_pos, activity_pos, s_name,
                version, doc) VALUES ('t', 'broken', 'new', 'web', 'x', 'x', '', 1, '{broken')",
            [],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let t = TenantId::parse("t").unwrap();
        let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let (from, to) = (day(2026, 1, 1), day(2026, 12, 31));
        let mut kept = Vec::new();
        for dim in Dim::ALL {
            kept.extend(super::super::rollups::read(&conn, &t, dim, from, to).unwrap());
        }
        let expected: Vec<_> = rollup::recompute(&leads).into_iter().collect();
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            kept, expected,
            "the broken row is left out, the others counted once"
        );
        assert_eq!(
            expected.len(),
            7,
            "web on two days; ana on two, bo on one; no campaign on two"
        );
    }

    #[test]
    fn when_a_version_3_database_is_opened_should_give_every_lead_its_sort_positions() {
        use crate::domain::lead::Lead;
        use crate::domain::sort::SortField;
        let mut conn = at_version(3);
        let doc = lead_doc();
        let lead: Lead = serde_json::from_value(doc.clone()).unwrap();
        conn.execute(
            "INSERT INTO leads (tenant, id, status, source, created_pos, activity_pos, s_name,
                version, doc) VALUES ('t', ?1, 'contacted', 'web', 'x', 'x', '', 1, ?2)",
            [lead.id.to_string(), doc.to_string()],
        )
        .unwrap();
        // More leads than one batch of the fill, and one whose document no longer parses.
        for i in 0..2_500 {
            let mut other = lead_doc();
            other["name"] = format!("Other {i}").into();
            let id = other["id"].as_str().unwrap().to_owned();
            conn.execute(
                "INSERT INTO leads (tenant, id, status, source, created_pos, activity_pos, s_name,
                    version, doc) VALUES ('u', ?1, 'new', 'web', 'x', 'x', '', 1, ?2)",
                [id, other.to_string()],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO leads (tenant, id, status, source, created_pos, activity_pos, s_name,
                version, doc) VALUES ('u', 'broken', 'new', 'web', 'x', 'x', '', 1, '{broken')",
            [],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let stored: [String; 5] = conn
            .query_row(
                "SELECT name_pos, company_pos, status_pos, owner_pos, source_pos FROM leads
                 WHERE tenant = 't'",
                [],
                |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?]),
            )
            .unwrap();
        assert_eq!(stored, SortField::BY_VALUE.map(|f| f.position(&lead)));
        assert!(stored[0].starts_with("1emile zola\u{1}"), "{:?}", stored[0]);
        let empty: Vec<String> = conn
            .prepare("SELECT id FROM leads WHERE name_pos = ''")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(empty, ["broken"], "every other lead has its positions");
    }
}
