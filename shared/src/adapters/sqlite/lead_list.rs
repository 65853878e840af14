//! Lists and counts of leads in SQLite: the filters as one SQL statement over the leads
//! table and its index columns, keyset pages by a sort's positions, and a one-tag count
//! read from its counts. Writes and reads by id are in `leads`.

use super::db;
use super::leads::parse_lead;
use crate::adapters::lead_index::is_safe_custom_key;
use crate::domain::custom_field::CustomValue;
use crate::domain::ids::TenantId;
use crate::domain::lead::Lead;
use crate::domain::query::{LeadQuery, Page, SortField, SortOrder, TagMode};
use crate::domain::time::time_prefix;
use crate::ports::store::StoreError;
use rusqlite::Connection;
use rusqlite::types::Value;

/// The column that holds a sort's positions (`SortField::position`), one per sort.
fn sort_column(f: SortField) -> &'static str {
    match f {
        SortField::Created => "created_pos",
        SortField::LastActivity => "activity_pos",
        SortField::Name => "name_pos",
        SortField::Company => "company_pos",
        SortField::Status => "status_pos",
        SortField::Owner => "owner_pos",
        SortField::Source => "source_pos",
    }
}

fn custom_value(v: &CustomValue) -> Value {
    match v {
        CustomValue::Bool(b) => Value::Integer(i64::from(*b)),
        CustomValue::Number(n) => Value::Real(*n),
        CustomValue::Text(s) => Value::Text(s.clone()),
    }
}

/// Counts the leads matching the query's filters (its sort, cursor and limit aside): exact.
pub fn count(c: &Connection, tenant: &TenantId, q: &LeadQuery) -> Result<u64, StoreError> {
    let (sql, args) = match tag_count(tenant, q) {
        Some(short) => short,
        None => filtered(tenant, q, "COUNT(*)")?,
    };
    c.prepare_cached(&sql)
        .map_err(db)?
        .query_row(rusqlite::params_from_iter(args.iter()), |r| r.get::<_, i64>(0))
        .map(|n| n.max(0) as u64)
        .map_err(db)
}

/// The count of one tag's leads, with or without a status filter and nothing else, as the
/// sum of a few rows of `lead_tag_counts` (one per status; every lead write moves them, see
/// `tag_counts`):
/// "how many new leads are tagged vip" without reading every new lead's row or every entry
/// of the tag. `None` for any other query.
fn tag_count(tenant: &TenantId, q: &LeadQuery) -> Option<(String, Vec<Value>)> {
    // Every field named, so a filter added to the query is a compile error here until this
    // says whether it keeps the short way.
    let LeadQuery {
        status,
        owner,
        source,
        unqualified_reason,
        created,
        last_activity,
        tags,
        tag_mode: _,
        custom,
        text_prefix,
        import_job,
        has_warnings,
        awaiting_response,
        sort: _,
        order: _,
        limit: _,
        cursor: _,
    } = q;
    let [tag] = tags.as_slice() else {
        return None;
    };
    let only_status = owner.is_empty()
        && source.is_empty()
        && unqualified_reason.is_empty()
        && *created == Default::default()
        && *last_activity == Default::default()
        && custom.is_empty()
        && text_prefix.is_none()
        && import_job.is_none()
        && has_warnings.is_none()
        && !awaiting_response;
    if !only_status {
        return None;
    }
    let mut sql = "SELECT COALESCE(SUM(n), 0) FROM lead_tag_counts WHERE tenant = ? AND tag = ?".to_owned();
    let mut args = vec![
        Value::Text(tenant.as_str().to_owned()),
        Value::Text(tag.as_str().to_owned()),
    ];
    if !status.is_empty() {
        sql.push_str(&format!(" AND status IN ({})", vec!["?"; status.len()].join(",")));
        args.extend(status.iter().map(|s| Value::Text(s.as_str().to_owned())));
    }
    Some((sql, args))
}

/// `SELECT {what} FROM leads WHERE` the tenant and every filter of the query, with its
/// arguments: the one translation of a list query, shared by the page and the count.
fn filtered(tenant: &TenantId, q: &LeadQuery, what: &str) -> Result<(String, Vec<Value>), StoreError> {
    let mut sql = format!("SELECT {what} FROM leads WHERE tenant = ?");
    let mut args: Vec<Value> = vec![Value::Text(tenant.as_str().to_owned())];
    fn push(sql: &mut String, args: &mut Vec<Value>, clause: &str, v: Value) {
        sql.push_str(clause);
        args.push(v);
    }
    // Each multi-value filter is one `IN` (any of its values); filters AND together.
    fn one_of(sql: &mut String, args: &mut Vec<Value>, col: &str, vals: Vec<String>) {
        let marks = vec!["?"; vals.len()].join(",");
        sql.push_str(&format!("{col} IN ({marks})"));
        args.extend(vals.into_iter().map(Value::Text));
    }
    if !q.status.is_empty() {
        sql.push_str(" AND ");
        let vals = q.status.iter().map(|s| s.as_str().to_owned()).collect();
        one_of(&mut sql, &mut args, "status", vals);
    }
    if !q.owner.is_empty() {
        let (reps, unassigned) = q.owner_split();
        sql.push_str(" AND (");
        if unassigned {
            sql.push_str("owner IS NULL");
        }
        if !reps.is_empty() {
            sql.push_str(if unassigned { " OR " } else { "" });
            one_of(&mut sql, &mut args, "owner", reps);
        }
        sql.push(')');
    }
    if !q.source.is_empty() {
        sql.push_str(" AND ");
        let vals = q.source.iter().map(|s| s.as_str().to_owned()).collect();
        one_of(&mut sql, &mut args, "source", vals);
    }
    if !q.unqualified_reason.is_empty() {
        sql.push_str(" AND ");
        let col = "json_extract(doc, '$.unqualified_reason')";
        one_of(&mut sql, &mut args, col, q.unqualified_reason.clone());
    }
    for (col, range) in [("created_pos", q.created), ("activity_pos", q.last_activity)] {
        if let Some(f) = range.from {
            push(
                &mut sql,
                &mut args,
                &format!(" AND {col} >= ?"),
                Value::Text(time_prefix(f)),
            );
        }
        if let Some(t) = range.to {
            push(
                &mut sql,
                &mut args,
                &format!(" AND {col} < ?"),
                Value::Text(time_prefix(t)),
            );
        }
    }
    if let Some(job) = &q.import_job {
        push(
            &mut sql,
            &mut args,
            " AND json_extract(doc, '$.provenance.channel') = 'import' AND json_extract(doc, '$.provenance.form') = ?",
            Value::Text(job.clone()),
        );
    }
    // The document leaves an empty list out, so a lead has warnings when the key is there.
    match q.has_warnings {
        Some(true) => sql.push_str(" AND json_type(doc, '$.data_warnings') IS NOT NULL"),
        Some(false) => sql.push_str(" AND json_type(doc, '$.data_warnings') IS NULL"),
        None => {}
    }
    // Never answered: the document leaves a missing first response out.
    if q.awaiting_response {
        sql.push_str(" AND json_type(doc, '$.first_response_at') IS NULL");
    }
    if !q.tags.is_empty() {
        let join = match q.tag_mode {
            TagMode::All => " AND ",
            TagMode::Any => " OR ",
        };
        let tests = vec!["instr(tags, ?) > 0"; q.tags.len()].join(join);
        sql.push_str(&format!(" AND ({tests})"));
        args.extend(q.tags.iter().map(|t| Value::Text(format!(",{},", t.as_str()))));
    }
    for (k, v) in &q.custom {
        if !is_safe_custom_key(k) {
            return Err(StoreError::Invalid(format!("custom field key {k:?}")));
        }
        sql.push_str(&format!(" AND json_extract(doc, '$.custom.{k}') = ?"));
        args.push(custom_value(v));
    }
    if let Some(p) = &q.text_prefix {
        sql.push_str(
            " AND (substr(s_name, 1, length(?)) = ? OR substr(s_email, 1, length(?)) = ?
                   OR substr(s_company, 1, length(?)) = ?)",
        );
        args.extend(std::iter::repeat_n(Value::Text(p.clone()), 6));
    }
    Ok((sql, args))
}

/// A page's query: the page's row keys and positions first (`p`, from the sort's index, which
/// carries the common filters' columns, see `schema`), then only those leads' rows. As one
/// query with the rows selected directly, SQLite read the row of every lead the index
/// walked past to test the filter, not only of those it returned. The row key is the rowid,
/// which every index of `leads` ends with (the lead's id is in none of them).
fn list_sql(tenant: &TenantId, q: &LeadQuery) -> Result<(String, Vec<Value>), StoreError> {
    let after = q.after().map_err(|e| StoreError::Invalid(e.message))?;
    let col = sort_column(q.sort);
    let (mut sql, mut args) = filtered(tenant, q, &format!("rowid AS row, {col} AS pos"))?;
    let (cmp, dir) = match q.order {
        SortOrder::Asc => (">", "ASC"),
        SortOrder::Desc => ("<", "DESC"),
    };
    if let Some(a) = after {
        sql.push_str(&format!(" AND {col} {cmp} ?"));
        args.push(Value::Text(a));
    }
    let size = q.page_size();
    sql.push_str(&format!(" ORDER BY {col} {dir} LIMIT {}", size + 1));
    // CROSS JOIN keeps the page as the outer loop: each of its rows is one key lookup.
    let sql = format!(
        "SELECT l.doc FROM ({sql}) AS p CROSS JOIN leads AS l ON l.rowid = p.row AND l.tenant = ?
         ORDER BY p.pos {dir}"
    );
    args.push(Value::Text(tenant.as_str().to_owned()));
    Ok((sql, args))
}

pub fn list(c: &Connection, tenant: &TenantId, q: &LeadQuery) -> Result<Page<Lead>, StoreError> {
    let size = q.page_size();
    let (sql, args) = list_sql(tenant, q)?;
    let mut st = c.prepare(&sql).map_err(db)?;
    let docs = st
        .query_map(rusqlite::params_from_iter(args.iter()), |r| r.get::<_, String>(0))
        .map_err(db)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db)?;
    let mut items = docs
        .iter()
        .map(|d| parse_lead(d))
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if items.len() > size {
        items.truncate(size);
        items.last().map(|l| q.cursor_for(q.position_of(l)))
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lead::Tag;
    use crate::domain::status::LeadStatus;

    /// How SQLite runs the list's query, one line per step.
    fn plan(q: &LeadQuery) -> String {
        let tenant = TenantId::parse("t").unwrap();
        let (sql, args) = list_sql(&tenant, q).unwrap();
        plan_of(&sql, &args)
    }

    fn plan_of(sql: &str, args: &[Value]) -> String {
        let conn = super::super::test_connection();
        let mut st = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = st
            .query_map(rusqlite::params_from_iter(args.iter()), |r| r.get::<_, String>(3))
            .unwrap();
        rows.collect::<Result<Vec<_>, _>>().unwrap().join("\n")
    }

    #[test]
    fn when_a_filtered_page_is_sorted_by_value_should_find_its_leads_in_the_index_alone() {
        for (sort, index) in [
            (SortField::Name, "leads_name_pos"),
            (SortField::Company, "leads_company_pos"),
            (SortField::Owner, "leads_owner_pos"),
        ] {
            let q = LeadQuery {
                status: vec![LeadStatus::New, LeadStatus::Contacted],
                tags: vec![Tag::parse("vip").unwrap()],
                sort,
                ..LeadQuery::default()
            };
            let plan = plan(&q);
            assert!(
                plan.contains(&format!("COVERING INDEX {index}")),
                "{sort:?}: {plan}"
            );
            // The rows: one key lookup per lead of the page.
            assert!(
                plan.contains("SEARCH l USING INTEGER PRIMARY KEY (rowid=?)"),
                "{sort:?}: {plan}"
            );
        }
    }

    #[test]
    fn when_one_tag_is_counted_should_read_its_counts_not_its_leads() {
        let tenant = TenantId::parse("t").unwrap();
        for status in [vec![], vec![LeadStatus::New, LeadStatus::Contacted]] {
            let q = LeadQuery {
                status,
                tags: vec![Tag::parse("vip").unwrap()],
                ..LeadQuery::default()
            };
            let (sql, args) = tag_count(&tenant, &q).unwrap();
            let plan = plan_of(&sql, &args);
            assert!(plan.contains("lead_tag_counts"), "{plan}");
            assert!(!plan.contains("lead_tags ") && !plan.contains("leads"), "{plan}");
        }
    }
}
