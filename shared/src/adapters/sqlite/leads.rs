//! Leads and activities in SQLite: synchronous functions run on the store's connection.
//! Writes (create with its guards, batches, changes, appends, deletes), reads by id and
//! contact, the timeline; lists and counts are in `lead_list`.

use super::tag_counts::Moves;
use super::{corrupt, db, is_unique_violation};
use crate::adapters::lead_index::{activity_pos, created_pos};
use crate::domain::activity::Activity;
use crate::domain::duplicate::{KnownContacts, MatchKey};
use crate::domain::ids::{LeadId, TenantId};
use crate::domain::lead::Lead;
use crate::domain::query::{Page, SortField, decode_position_cursor, encode_position_cursor};
use crate::domain::time::position;
use crate::domain::webhook::LeadChange;
use crate::domain::{rep, rollup};
use crate::ports::store::{
    CreateGuards, CreateOutcome, RecordWrite, StoreError, entries_of, with_lead_events,
};
use rusqlite::{Connection, OptionalExtension, params};

fn to_doc<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(e.to_string()))
}

pub(super) fn parse_lead(doc: &str) -> Result<Lead, StoreError> {
    serde_json::from_str(doc).map_err(|e| corrupt("lead", e))
}

fn lead_ids(tx: &Connection, sql: &str, p: &[&dyn rusqlite::ToSql]) -> Result<Vec<LeadId>, StoreError> {
    let mut st = tx.prepare_cached(sql).map_err(db)?;
    let rows = st
        .query_map(p, |r| r.get::<_, String>(0))
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)?;
    rows.iter()
        .map(|s| LeadId::parse(s).map_err(|e| corrupt("lead id", e.message)))
        .collect()
}

pub fn find_by_contact(c: &Connection, tenant: &TenantId, key: &MatchKey) -> Result<Vec<LeadId>, StoreError> {
    match key {
        MatchKey::Email(e) => lead_ids(
            c,
            "SELECT id FROM leads WHERE tenant = ?1 AND email = ?2",
            &[&tenant.as_str(), &e.as_str()],
        ),
        MatchKey::Phone(p) => lead_ids(
            c,
            "SELECT id FROM leads WHERE tenant = ?1 AND phone = ?2",
            &[&tenant.as_str(), &p.as_str()],
        ),
    }
}

/// Keys a query names at most: well under SQLite's 32,766 bound parameters.
const KEYS_PER_QUERY: usize = 500;

/// Every (key, lead) pair for these keys: one `IN (…)` query per column and 500 keys, on
/// the same partial indexes `find_by_contact` uses.
pub fn find_by_contacts(
    c: &Connection,
    tenant: &TenantId,
    keys: &[MatchKey],
) -> Result<Vec<(MatchKey, LeadId)>, StoreError> {
    let mut by_value: std::collections::HashMap<(&str, &str), &MatchKey> = Default::default();
    for k in keys {
        match k {
            MatchKey::Email(e) => by_value.insert(("email", e.as_str()), k),
            MatchKey::Phone(p) => by_value.insert(("phone", p.as_str()), k),
        };
    }
    let mut found = Vec::new();
    for column in ["email", "phone"] {
        let values: Vec<&str> = by_value
            .keys()
            .filter(|(col, _)| *col == column)
            .map(|(_, v)| *v)
            .collect();
        for chunk in values.chunks(KEYS_PER_QUERY) {
            let marks = vec!["?"; chunk.len()].join(",");
            // The column name is one of two constants, never input.
            let sql = format!("SELECT {column}, id FROM leads WHERE tenant = ? AND {column} IN ({marks})");
            let mut st = c.prepare_cached(&sql).map_err(db)?;
            let params = std::iter::once(tenant.as_str()).chain(chunk.iter().copied());
            let mut rows = st.query(rusqlite::params_from_iter(params)).map_err(db)?;
            while let Some(r) = rows.next().map_err(db)? {
                let value: String = r.get(0).map_err(db)?;
                let id: String = r.get(1).map_err(db)?;
                let id = LeadId::parse(&id).map_err(|e| corrupt("lead id", e.message))?;
                if let Some(k) = by_value.get(&(column, value.as_str())) {
                    found.push(((*k).clone(), id));
                }
            }
        }
    }
    Ok(found)
}

/// `OR FAIL` on every statement that writes `leads`: with the default `ABORT`, a statement
/// that fires triggers (the `lead_tags` ones) runs in a statement journal of its own, and
/// SQLite copies every existing page it changes there first, a temp file written for every
/// lead (ten times the pwrites of the same inserts without the journal, measured). `FAIL`
/// needs no journal because it leaves the statement's earlier changes in place on a
/// violation; no call goes on after a failed statement, and the worker rolls the call back.
/// The triggers' own inserts then fail rather than ignore a clash too; a lead's tags are a set,
/// so their rows never collide.
const INSERT_LEAD: &str = "INSERT OR FAIL INTO leads (tenant, id, status, owner, source, email, phone,
        created_pos, activity_pos, s_name, s_email, s_company, version, doc, tags,
        name_pos, company_pos, status_pos, owner_pos, source_pos)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
        ?16, ?17, ?18, ?19, ?20)";

/// A batch put replaces a lead with the same id, as a DynamoDB PutRequest does (a resumed
/// import rewrites the rows a killed run had written after its last checkpoint). Not an
/// upsert (`ON CONFLICT DO UPDATE`): its update half needs a statement journal even under
/// `OR FAIL` (see `INSERT_LEAD`), and `put_batch` reads the stored lead first anyway.
const REWRITE_LEAD: &str = "UPDATE OR FAIL leads SET status = ?3, owner = ?4, source = ?5,
        email = ?6, phone = ?7, created_pos = ?8, activity_pos = ?9, s_name = ?10,
        s_email = ?11, s_company = ?12, version = ?13, doc = ?14, tags = ?15, name_pos = ?16,
        company_pos = ?17, status_pos = ?18, owner_pos = ?19, source_pos = ?20
     WHERE tenant = ?1 AND id = ?2";

/// The positions of the value sorts, in `SortField::BY_VALUE` order (parameters ?16-?20).
fn value_positions(l: &Lead) -> [String; 5] {
    SortField::BY_VALUE.map(|f| f.position(l))
}

/// The `tags` column: ",vip,q4,", or empty.
fn tags_column(l: &Lead) -> String {
    l.tags.iter().fold(String::new(), |mut col, t| {
        if col.is_empty() {
            col.push(',');
        }
        col.push_str(t.as_str());
        col.push(',');
        col
    })
}

fn insert_lead(tx: &Connection, l: &Lead) -> Result<(), StoreError> {
    write_lead(tx, l, INSERT_LEAD)
}

fn write_lead(tx: &Connection, l: &Lead, sql: &str) -> Result<(), StoreError> {
    let [s_name, s_email, s_company] = l.search_terms();
    let [name_pos, company_pos, status_pos, owner_pos, source_pos] = value_positions(l);
    tx.prepare_cached(sql)
        .map_err(db)?
        .execute(params![
            l.tenant.as_str(),
            l.id.to_string(),
            l.status.as_str(),
            l.owner.as_ref().map(|o| o.as_str()),
            l.source.as_str(),
            l.email.as_ref().map(|e| e.as_str()),
            l.match_phone().map(|p| p.as_str()),
            created_pos(l),
            activity_pos(l),
            s_name,
            s_email,
            s_company,
            l.version as i64,
            to_doc(l)?,
            tags_column(l),
            name_pos,
            company_pos,
            status_pos,
            owner_pos,
            source_pos,
        ])
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict {
                    expected: None,
                    found: Some(l.version),
                }
            } else {
                db(e)
            }
        })?;
    Ok(())
}

pub fn create(
    tx: &Connection,
    lead: &Lead,
    g: &CreateGuards,
    entries: &[Activity],
    records: &[RecordWrite],
) -> Result<CreateOutcome, StoreError> {
    entries_of([lead], entries)?;
    let t_id = &lead.tenant;
    let t = t_id.as_str();
    if let Some(x) = &g.external {
        let found = lead_ids(
            tx,
            "SELECT lead_id FROM external_ids WHERE tenant = ?1 AND provider = ?2 AND ext_id = ?3",
            &[&t, &x.provider, &x.id],
        )?;
        if let Some(id) = found.into_iter().next() {
            return Ok(CreateOutcome::ExternalIdTaken(id));
        }
    }
    if let Some(k) = &g.idempotency_key {
        let found: Option<(String, Option<String>)> = tx
            .query_row(
                "SELECT lead_id, fingerprint FROM idempotency_keys WHERE tenant = ?1 AND key = ?2",
                params![t, k.key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db)?;
        if let Some((id, fingerprint)) = found {
            let id = LeadId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            return Ok(CreateOutcome::IdempotencyKeyTaken(id, fingerprint));
        }
    }
    // The duplicate rule over this transaction's answer: exact, as the one writer runs it.
    if g.reject_duplicates {
        let keys = lead.match_keys();
        let known: KnownContacts = find_by_contacts(tx, t_id, &keys)?.into_iter().collect();
        if let Some(m) = known.duplicate(&keys, None) {
            return Ok(CreateOutcome::Duplicate(m));
        }
    }
    // The id is taken (a caller's chosen id): what DynamoDB's condition on the lead item says.
    if let Some(found) = get(tx, t_id, &lead.id)? {
        return Err(StoreError::Conflict {
            expected: None,
            found: Some(found.version),
        });
    }
    // The rotation's slot, taken in this transaction: the one writer runs it alone, so the
    // slot needs no condition, and a rollback gives it back.
    let assigned;
    let (lead, entries) = match &g.round_robin {
        None => (lead, entries),
        Some(rr) => {
            let slot = super::records::increment(tx, t_id, rep::ASSIGNMENT_COUNTER, 1)?;
            assigned = rr.assigned(slot, lead, entries);
            (&assigned.0, assigned.1.as_slice())
        }
    };
    insert_lead(tx, lead)?;
    super::rollups::apply(tx, t_id, &rollup::delta(None, Some(lead)))?;
    Moves::of(None, Some(lead)).apply(tx, t_id)?;
    let id = lead.id.to_string();
    if let Some(x) = &g.external {
        tx.prepare_cached(
            "INSERT INTO external_ids (tenant, provider, ext_id, lead_id) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(db)?
        .execute(params![t, x.provider, x.id, id])
        .map_err(db)?;
    }
    if let Some(k) = &g.idempotency_key {
        tx.prepare_cached(
            "INSERT INTO idempotency_keys (tenant, key, lead_id, fingerprint) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(db)?
        .execute(params![t, k.key, id, k.fingerprint])
        .map_err(db)?;
    }
    for a in entries {
        insert_activity(tx, a)?;
    }
    let records = with_lead_events(records, lead, entries, LeadChange::Created, lead.updated_at)?;
    for r in &records {
        super::records::write_in(tx, t_id, r)?;
    }
    Ok(CreateOutcome::Created(Box::new(lead.clone())))
}

/// The leads and their timeline entries in one transaction. Entries are replaced like the
/// leads (same id and time, same row), so a resumed import rewrites rather than repeats them.
pub fn put_batch(tx: &Connection, leads: &[Lead], entries: &[Activity]) -> Result<(), StoreError> {
    entries_of(leads, entries)?;
    // A lead the batch replaces (an import's update, a resumed import's rewrite) leaves the
    // rollups as it enters them, so they move by what changed.
    let mut moved: std::collections::BTreeMap<&TenantId, (rollup::Delta, Moves)> = Default::default();
    for l in leads {
        let (delta, tagged) = moved.entry(&l.tenant).or_default();
        let sql = match get(tx, &l.tenant, &l.id)? {
            Some(before) => {
                delta.add_lead(&before, -1);
                tagged.add(&before, -1);
                REWRITE_LEAD
            }
            None => INSERT_LEAD,
        };
        delta.add_lead(l, 1);
        tagged.add(l, 1);
        write_lead(tx, l, sql)?;
    }
    for (tenant, (delta, tagged)) in &moved {
        super::rollups::apply(tx, tenant, delta)?;
        tagged.apply(tx, tenant)?;
    }
    for a in entries {
        write_activity(tx, a, "INSERT OR REPLACE")?;
    }
    Ok(())
}

pub fn get(c: &Connection, tenant: &TenantId, id: &LeadId) -> Result<Option<Lead>, StoreError> {
    let doc: Option<String> = c
        .prepare_cached("SELECT doc FROM leads WHERE tenant = ?1 AND id = ?2")
        .map_err(db)?
        .query_row(params![tenant.as_str(), id.to_string()], |r| r.get(0))
        .optional()
        .map_err(db)?;
    doc.as_deref().map(parse_lead).transpose()
}

/// The stored leads among `ids`: one `IN (…)` query per 500 ids.
pub fn get_many(c: &Connection, tenant: &TenantId, ids: &[LeadId]) -> Result<Vec<Lead>, StoreError> {
    // Each lead once, as the port says, though an id is asked twice in different chunks.
    let ids: std::collections::BTreeSet<String> = ids.iter().map(LeadId::to_string).collect();
    let ids: Vec<String> = ids.into_iter().collect();
    let mut found = Vec::new();
    for chunk in ids.chunks(KEYS_PER_QUERY) {
        let marks = vec!["?"; chunk.len()].join(",");
        let sql = format!("SELECT doc FROM leads WHERE tenant = ? AND id IN ({marks})");
        let mut st = c.prepare_cached(&sql).map_err(db)?;
        let params = std::iter::once(tenant.as_str()).chain(chunk.iter().map(String::as_str));
        let mut rows = st.query(rusqlite::params_from_iter(params)).map_err(db)?;
        while let Some(r) = rows.next().map_err(db)? {
            found.push(parse_lead(&r.get::<_, String>(0).map_err(db)?)?);
        }
    }
    Ok(found)
}

fn current_version(c: &Connection, tenant: &str, id: &str) -> Result<Option<u64>, StoreError> {
    c.prepare_cached("SELECT version FROM leads WHERE tenant = ?1 AND id = ?2")
        .map_err(db)?
        .query_row(params![tenant, id], |r| r.get::<_, i64>(0))
        .optional()
        .map_err(db)
        .map(|v| v.map(|v| v as u64))
}

/// Writes `next` (already at the new version) over the row still at `expected`.
fn replace(tx: &Connection, next: &Lead, expected: u64) -> Result<(), StoreError> {
    // The lead as stored, for the rollups' move; the version check below decides.
    let before = get(tx, &next.tenant, &next.id)?.filter(|b| b.version == expected);
    let [s_name, s_email, s_company] = next.search_terms();
    let [name_pos, company_pos, status_pos, owner_pos, source_pos] = value_positions(next);
    let n = tx
        .prepare_cached(
            "UPDATE OR FAIL leads SET status = ?3, owner = ?4, source = ?5, email = ?6, phone = ?7,
                    activity_pos = ?8, s_name = ?9, s_email = ?10, s_company = ?11, version = ?12, doc = ?13,
                    tags = ?15, name_pos = ?16, company_pos = ?17, status_pos = ?18,
                    owner_pos = ?19, source_pos = ?20
             WHERE tenant = ?1 AND id = ?2 AND version = ?14",
        )
        .map_err(db)?
        .execute(params![
            next.tenant.as_str(),
            next.id.to_string(),
            next.status.as_str(),
            next.owner.as_ref().map(|o| o.as_str()),
            next.source.as_str(),
            next.email.as_ref().map(|e| e.as_str()),
            next.match_phone().map(|p| p.as_str()),
            activity_pos(next),
            s_name,
            s_email,
            s_company,
            next.version as i64,
            to_doc(next)?,
            expected as i64,
            tags_column(next),
            name_pos,
            company_pos,
            status_pos,
            owner_pos,
            source_pos,
        ])
        .map_err(db)?;
    if n == 1 {
        super::rollups::apply(tx, &next.tenant, &rollup::delta(before.as_ref(), Some(next)))?;
        return Moves::of(before.as_ref(), Some(next)).apply(tx, &next.tenant);
    }
    match current_version(tx, next.tenant.as_str(), &next.id.to_string())? {
        None => Err(StoreError::NotFound),
        found => Err(StoreError::Conflict {
            expected: Some(expected),
            found,
        }),
    }
}

pub fn update(tx: &Connection, lead: &Lead) -> Result<Lead, StoreError> {
    let mut next = lead.clone();
    next.version = lead.version + 1;
    replace(tx, &next, lead.version)?;
    Ok(next)
}

pub fn delete(
    tx: &Connection,
    tenant: &TenantId,
    id: &LeadId,
    expected: Option<u64>,
) -> Result<(), StoreError> {
    let (t, i) = (tenant.as_str(), id.to_string());
    match (current_version(tx, t, &i)?, expected) {
        (None, _) => return Err(StoreError::NotFound),
        (Some(found), Some(e)) if found != e => {
            return Err(StoreError::Conflict {
                expected: Some(e),
                found: Some(found),
            });
        }
        _ => {}
    }
    // Its `lead.deleted` event carries the lead as it was, one version on.
    if let Some(mut gone) = get(tx, tenant, id)? {
        super::rollups::apply(tx, tenant, &rollup::delta(Some(&gone), None))?;
        Moves::of(Some(&gone), None).apply(tx, tenant)?;
        gone.version += 1;
        for r in with_lead_events(&[], &gone, &[], LeadChange::Deleted, chrono::Utc::now())? {
            super::records::write_in(tx, tenant, &r)?;
        }
    }
    tx.execute("DELETE FROM leads WHERE tenant = ?1 AND id = ?2", params![t, i])
        .map_err(db)?;
    tx.prepare_cached("DELETE FROM activities WHERE tenant = ?1 AND lead_id = ?2")
        .map_err(db)?
        .execute(params![t, i])
        .map_err(db)?;
    Ok(())
}

fn insert_activity(tx: &Connection, a: &Activity) -> Result<(), StoreError> {
    write_activity(tx, a, "INSERT")
}

fn write_activity(tx: &Connection, a: &Activity, verb: &str) -> Result<(), StoreError> {
    tx.prepare_cached(&format!(
        "{verb} INTO activities (tenant, lead_id, pos, doc) VALUES (?1, ?2, ?3, ?4)"
    ))
    .map_err(db)?
    .execute(params![
        a.tenant.as_str(),
        a.lead_id.to_string(),
        position(a.at, &a.id.to_string()),
        to_doc(a)?
    ])
    .map_err(db)?;
    Ok(())
}

/// Bumps the lead's version and moves its last activity forward inside the stored document
/// with `json_set`, without decoding the lead: this runs on the writer thread for every
/// timeline entry (two per captured form), and decoding plus re-encoding a lead cost more
/// than the rest of the write.
pub fn append_activity(tx: &Connection, a: &Activity) -> Result<(), StoreError> {
    let id = a.lead_id.to_string();
    // The document's own encoding of the time, so that it reads back as written.
    let at = serde_json::to_value(a.at).map_err(|e| corrupt("activity time", e))?;
    let n = tx
        .prepare_cached(
            "UPDATE OR FAIL leads SET version = version + 1,
                doc = json_set(doc, '$.version', version + 1, '$.last_activity_at',
                    CASE WHEN ?3 > activity_pos THEN ?4 ELSE json_extract(doc, '$.last_activity_at') END),
                activity_pos = max(activity_pos, ?3)
             WHERE tenant = ?1 AND id = ?2",
        )
        .map_err(db)?
        .execute(params![a.tenant.as_str(), id, position(a.at, &id), at.as_str()])
        .map_err(db)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    insert_activity(tx, a)?;
    Ok(())
}

pub fn commit_change(
    tx: &Connection,
    lead: &Lead,
    records: &[RecordWrite],
    activities: &[Activity],
) -> Result<Lead, StoreError> {
    entries_of([lead], activities)?;
    let next = lead.changed_with(activities);
    replace(tx, &next, lead.version)?;
    let records = with_lead_events(records, &next, activities, LeadChange::Updated, next.updated_at)?;
    for r in &records {
        super::records::write_in(tx, &lead.tenant, r)?;
    }
    for a in activities {
        insert_activity(tx, a)?;
    }
    // Returning an error above is enough: the worker rolls the call's writes back.
    Ok(next)
}

pub fn list_activities(
    c: &Connection,
    tenant: &TenantId,
    lead: &LeadId,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<Activity>, StoreError> {
    let before = match cursor {
        Some(cur) => decode_position_cursor(cur).map_err(|e| StoreError::Invalid(e.message))?,
        None => "~".to_owned(),
    };
    let size = limit.clamp(1, 500) as usize;
    let mut st = c
        .prepare_cached(
            "SELECT pos, doc FROM activities WHERE tenant = ?1 AND lead_id = ?2 AND pos < ?3
             ORDER BY pos DESC LIMIT ?4",
        )
        .map_err(db)?;
    let rows = st
        .query_map(
            params![tenant.as_str(), lead.to_string(), before, (size + 1) as i64],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        )
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)?;
    let more = rows.len() > size;
    let rows = &rows[..rows.len().min(size)];
    let items = rows
        .iter()
        .map(|(_, d)| serde_json::from_str(d).map_err(|e| corrupt("activity", e)))
        .collect::<Result<Vec<Activity>, _>>()?;
    let next_cursor = more.then(|| encode_position_cursor(&rows[rows.len() - 1].0));
    Ok(Page { items, next_cursor })
}
