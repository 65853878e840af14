//! Listing leads: a query plan (which index, which key range, which filter) from the list
//! query, run as one Query per write shard, concurrently, each with the same key range and
//! filter, merged by sort key. The cursor is the position of the last lead returned; because
//! positions are unique and every shard query starts strictly after it, no lead is skipped or
//! repeated across pages however the shards interleave.

use super::lead_reads::parse_lead;
use super::leads::{POS_MAX, POS_MIN};
use super::table::{self, IndexDef};
use super::{DynamoStore, Item, get_s, keys, s, sdk};
use crate::adapters::lead_index::is_safe_custom_key;
use crate::domain::custom_field::CustomValue;
use crate::domain::ids::TenantId;
use crate::domain::lead::Lead;
use crate::domain::query::{LeadCount, LeadQuery, OwnerFilter, Page, SortField, SortOrder, TagMode};
use crate::domain::time::time_prefix;
use crate::ports::store::StoreError;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

fn custom_av(v: &CustomValue) -> AttributeValue {
    match v {
        CustomValue::Bool(b) => AttributeValue::Bool(*b),
        CustomValue::Number(x) => AttributeValue::N(x.to_string()),
        CustomValue::Text(t) => AttributeValue::S(t.clone()),
    }
}

/// A Query plan: which index, key range and filter serve a LeadQuery.
struct Plan {
    index: IndexDef,
    /// Partition key for a shard.
    pk: Box<dyn Fn(u16) -> String + Send + Sync>,
    lo: String,
    hi: String,
    filter: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    forward: bool,
    after: Option<String>,
}

impl Plan {
    fn new(tenant: &TenantId, q: &LeadQuery) -> Result<Self, StoreError> {
        let after = q.after().map_err(|e| StoreError::Invalid(e.message))?;
        let t = tenant.clone();
        let (index, pk): (IndexDef, Box<dyn Fn(u16) -> String + Send + Sync>) =
            // An index serves a filter with one value; several values are a filter expression
            // (`IN`) on whichever index the rest of the query picks.
            match (q.sort, one(&q.status), one(&q.owner), one(&q.source)) {
                // A value sort reads its own index in order; every filter is an expression.
                (f, ..) if !f.is_time() => (table::sort_index(f), Box::new(move |sh| keys::all_pk(&t, sh))),
                (SortField::LastActivity, ..) => {
                    (table::BY_ACTIVITY, Box::new(move |sh| keys::all_pk(&t, sh)))
                }
                (_, Some(st), ..) => {
                    let st = st.as_str();
                    (table::BY_STATUS, Box::new(move |sh| keys::status_pk(&t, st, sh)))
                }
                (_, None, Some(o), _) => {
                    let o = match o {
                        OwnerFilter::Unassigned => None,
                        OwnerFilter::Rep(r) => Some(r.as_str().to_owned()),
                    };
                    (
                        table::BY_OWNER,
                        Box::new(move |sh| keys::owner_pk(&t, o.as_deref(), sh)),
                    )
                }
                (_, None, None, Some(src)) => {
                    let src = src.as_str().to_owned();
                    (
                        table::BY_SOURCE,
                        Box::new(move |sh| keys::source_pk(&t, &src, sh)),
                    )
                }
                (_, None, None, None) => {
                    (table::BY_CREATED, Box::new(move |sh| keys::all_pk(&t, sh)))
                }
            };
        let mut plan = Plan {
            index,
            pk,
            lo: POS_MIN.into(),
            hi: POS_MAX.into(),
            filter: vec![],
            names: HashMap::from([("#lead".to_owned(), "lead".to_owned())]),
            values: HashMap::new(),
            forward: q.order == SortOrder::Asc,
            after: after.clone(),
        };
        // A time sort's own date range bounds its index's keys; any other range is a filter.
        let (key_range, filter_ranges) = match q.sort {
            SortField::Created => (Some(q.created), vec![(q.last_activity, "activity_sk")]),
            SortField::LastActivity => (Some(q.last_activity), vec![(q.created, "created_sk")]),
            _ => (
                None,
                vec![(q.created, "created_sk"), (q.last_activity, "activity_sk")],
            ),
        };
        if let Some(f) = key_range.and_then(|r| r.from) {
            plan.lo = time_prefix(f);
        }
        if let Some(t) = key_range.and_then(|r| r.to) {
            plan.hi = time_prefix(t);
        }
        if let Some(a) = &after {
            if plan.forward {
                plan.lo = plan.lo.max(a.clone());
            } else {
                plan.hi = plan.hi.min(a.clone());
            }
        }
        for (i, (range, attr)) in filter_ranges.into_iter().enumerate() {
            if let Some(f) = range.from {
                let mark = format!(":rf{i}");
                plan.cond(
                    &format!("{attr} >= {mark}"),
                    &mark,
                    AttributeValue::S(time_prefix(f)),
                );
            }
            if let Some(t) = range.to {
                let mark = format!(":rt{i}");
                plan.cond(
                    &format!("{attr} < {mark}"),
                    &mark,
                    AttributeValue::S(time_prefix(t)),
                );
            }
        }
        if index != table::BY_STATUS && !q.status.is_empty() {
            plan.names.insert("#status".into(), "status".into());
            let vals = q.status.iter().map(|st| st.as_str().to_owned());
            let list = plan.values_list("st", vals);
            plan.filter.push(format!("#lead.#status IN ({list})"));
        }
        if index != table::BY_OWNER && !q.owner.is_empty() {
            plan.names.insert("#owner".into(), "owner".into());
            let (reps, unassigned) = q.owner_split();
            let mut any = Vec::new();
            if unassigned {
                any.push("attribute_not_exists(#lead.#owner)".to_owned());
            }
            if !reps.is_empty() {
                let list = plan.values_list("ow", reps.into_iter());
                any.push(format!("#lead.#owner IN ({list})"));
            }
            plan.filter.push(format!("({})", any.join(" OR ")));
        }
        if index != table::BY_SOURCE && !q.source.is_empty() {
            plan.names.insert("#source".into(), "source".into());
            let vals = q.source.iter().map(|src| src.as_str().to_owned());
            let list = plan.values_list("src", vals);
            plan.filter.push(format!("#lead.#source IN ({list})"));
        }
        if !q.unqualified_reason.is_empty() {
            plan.names.insert("#ur".into(), "unqualified_reason".into());
            let list = plan.values_list("ur", q.unqualified_reason.iter().cloned());
            plan.filter.push(format!("#lead.#ur IN ({list})"));
        }
        if !q.tags.is_empty() {
            plan.names.insert("#tags".into(), "tags".into());
            let vals = q.tags.iter().map(|t| t.as_str().to_owned());
            let list = plan.values_list("tag", vals);
            let tests: Vec<String> = list
                .split(", ")
                .map(|v| format!("contains(#lead.#tags, {v})"))
                .collect();
            let join = match q.tag_mode {
                TagMode::All => " AND ",
                TagMode::Any => " OR ",
            };
            plan.filter.push(format!("({})", tests.join(join)));
        }
        if !q.custom.is_empty() {
            plan.names.insert("#custom".into(), "custom".into());
        }
        for (i, (k, val)) in q.custom.iter().enumerate() {
            if !is_safe_custom_key(k) {
                return Err(StoreError::Invalid(format!("custom field key {k:?}")));
            }
            let (name, v) = (format!("#cf{i}"), format!(":cf{i}"));
            plan.names.insert(name.clone(), k.clone());
            plan.cond(&format!("#lead.#custom.{name} = {v}"), &v, custom_av(val));
        }
        if let Some(job) = &q.import_job {
            plan.names.insert("#prov".into(), "provenance".into());
            plan.names.insert("#form".into(), "form".into());
            plan.names.insert("#channel".into(), "channel".into());
            plan.values
                .insert(":importch".into(), AttributeValue::S("import".into()));
            plan.cond(
                "#lead.#prov.#form = :job AND #lead.#prov.#channel = :importch",
                ":job",
                AttributeValue::S(job.clone()),
            );
        }
        // The lead map leaves an empty list out, so a lead has warnings when the key is there.
        if let Some(has) = q.has_warnings {
            plan.names.insert("#dw".into(), "data_warnings".into());
            plan.filter.push(match has {
                true => "attribute_exists(#lead.#dw)".into(),
                false => "attribute_not_exists(#lead.#dw)".into(),
            });
        }
        if q.awaiting_response {
            plan.names.insert("#fr".into(), "first_response_at".into());
            plan.filter.push("attribute_not_exists(#lead.#fr)".into());
        }
        if let Some(p) = &q.text_prefix {
            plan.values.insert(":q".into(), AttributeValue::S(p.clone()));
            plan.filter.push(
                "(begins_with(s_name, :q) OR begins_with(s_email, :q) OR begins_with(s_company, :q))".into(),
            );
        }
        Ok(plan)
    }

    fn cond(&mut self, expr: &str, placeholder: &str, v: AttributeValue) {
        self.filter.push(expr.to_owned());
        self.values.insert(placeholder.to_owned(), v);
    }

    /// The Query of one shard: the index, its key range and the filter, with every name and
    /// value they use (the page and the count add their own direction, limit and start).
    fn query(
        &self,
        store: &DynamoStore,
        shard: u16,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        let mut names = self.names.clone();
        names.insert("#ipk".into(), self.index.pk.into());
        names.insert("#isk".into(), self.index.sk.into());
        let mut values = self.values.clone();
        values.insert(":ipk".into(), s((self.pk)(shard)));
        values.insert(":lo".into(), s(self.lo.clone()));
        values.insert(":hi".into(), s(self.hi.clone()));
        let filter = (!self.filter.is_empty()).then(|| self.filter.join(" AND "));
        // Only the #lead alias may go unused (when nothing filters on it).
        if filter.as_deref().is_none_or(|f| !f.contains("#lead")) {
            names.remove("#lead");
        }
        store
            .client
            .query()
            .table_name(&store.table)
            .index_name(self.index.name)
            .key_condition_expression("#ipk = :ipk AND #isk BETWEEN :lo AND :hi")
            .set_filter_expression(filter)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
    }

    /// Binds each value to `:{prefix}{i}` and returns the placeholders, comma-separated.
    fn values_list(&mut self, prefix: &str, vals: impl Iterator<Item = String>) -> String {
        let mut marks = Vec::new();
        for (i, v) in vals.enumerate() {
            let mark = format!(":{prefix}{i}");
            self.values.insert(mark.clone(), AttributeValue::S(v));
            marks.push(mark);
        }
        marks.join(", ")
    }
}

/// The single value of a filter, when it has exactly one (an index can serve it).
fn one<T>(values: &[T]) -> Option<&T> {
    match values {
        [v] => Some(v),
        _ => None,
    }
}

impl DynamoStore {
    /// Queries one shard until it has `want` leads past the cursor, or runs out.
    async fn query_shard(
        &self,
        plan: &Plan,
        shard: u16,
        want: usize,
    ) -> Result<Vec<(String, Lead)>, StoreError> {
        let mut out_items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = plan
                .query(self, shard)
                .scan_index_forward(plan.forward)
                .limit((want as i32 + 1).max(25))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk)?;
            for item in out.items() {
                let pos = get_s(item, plan.index.sk).unwrap_or_default().to_owned();
                if plan.after.as_deref() == Some(pos.as_str()) {
                    continue;
                }
                out_items.push((pos, parse_lead(item)?));
            }
            match out.last_evaluated_key() {
                Some(k) if out_items.len() < want => start = Some(k.clone()),
                _ => return Ok(out_items),
            }
        }
    }

    pub(super) async fn list(&self, t: &TenantId, q: &LeadQuery) -> Result<Page<Lead>, StoreError> {
        let plan = Plan::new(t, q)?;
        let size = q.page_size();
        let shard_results =
            futures::future::try_join_all((0..self.shards).map(|sh| self.query_shard(&plan, sh, size + 1)))
                .await?;
        let mut merged: Vec<(String, Lead)> = shard_results.into_iter().flatten().collect();
        merged.sort_by(|a, b| a.0.cmp(&b.0));
        if !plan.forward {
            merged.reverse();
        }
        let more = merged.len() > size;
        merged.truncate(size);
        let next_cursor = if more {
            merged.last().map(|(p, _)| q.cursor_for(p.clone()))
        } else {
            None
        };
        Ok(Page {
            items: merged.into_iter().map(|(_, l)| l).collect(),
            next_cursor,
        })
    }
}

/// Microseconds since the epoch from a position's time prefix.
fn micros_of(position: &str) -> Option<i64> {
    position.get(..16)?.parse().ok()
}

impl DynamoStore {
    /// Counts one shard, newest first, until it has read `up_to` leads (then it answers where
    /// it stopped) or runs out. Count queries return no items, only how many were read and
    /// how many matched; the bound is on what is read, which is what a count costs.
    async fn count_shard(&self, plan: &Plan, shard: u16, up_to: u64) -> Result<ShardCount, StoreError> {
        let (mut matched, mut read, mut start) = (0u64, 0u64, None);
        loop {
            let out = plan
                .query(self, shard)
                .select(aws_sdk_dynamodb::types::Select::Count)
                .scan_index_forward(false)
                .limit((up_to - read).clamp(1, 5_000) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(sdk)?;
            matched += out.count().max(0) as u64;
            read += out.scanned_count().max(0) as u64;
            match out.last_evaluated_key() {
                None => {
                    return Ok(ShardCount {
                        matched,
                        stopped_at: None,
                    });
                }
                Some(k) if read >= up_to => {
                    let stopped_at = get_s(k, plan.index.sk).map(str::to_owned);
                    return Ok(ShardCount { matched, stopped_at });
                }
                Some(k) => start = Some(k.clone()),
            }
        }
    }

    /// The oldest (`forward`) or newest position in a shard's key range, matching or not.
    async fn edge_position(&self, plan: &Plan, shard: u16, forward: bool) -> Result<Option<i64>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(plan.index.name)
            .key_condition_expression("#ipk = :ipk AND #isk BETWEEN :lo AND :hi")
            .expression_attribute_names("#ipk", plan.index.pk)
            .expression_attribute_names("#isk", plan.index.sk)
            .expression_attribute_values(":ipk", s((plan.pk)(shard)))
            .expression_attribute_values(":lo", s(plan.lo.clone()))
            .expression_attribute_values(":hi", s(plan.hi.clone()))
            .scan_index_forward(forward)
            .limit(1)
            .send()
            .await
            .map_err(sdk)?;
        Ok(out
            .items()
            .first()
            .and_then(|i| get_s(i, plan.index.sk))
            .and_then(micros_of))
    }

    /// Counts what a list would return: exactly while the shards' key ranges hold up to
    /// `exact_up_to` leads in all. A shard with more is estimated from how far back in time
    /// its count got: if reading from its newest lead (at T1) back to time T found n matches,
    /// and its oldest lead is at T0, it holds about n × (T1 − T0) / (T1 − T). Leads arrive
    /// unevenly, so this is an estimate, and the answer says so.
    pub(super) async fn count(
        &self,
        t: &TenantId,
        q: &LeadQuery,
        exact_up_to: u64,
    ) -> Result<LeadCount, StoreError> {
        // Counted in created order whatever the list's sort: the estimate reads time from
        // the positions.
        let unpaged = LeadQuery {
            cursor: None,
            sort: SortField::Created,
            order: SortOrder::Desc,
            ..q.clone()
        };
        let plan = Plan::new(t, &unpaged)?;
        let per_shard = exact_up_to.div_ceil(u64::from(self.shards.max(1))).max(1);
        let shards =
            futures::future::try_join_all((0..self.shards).map(|sh| self.count_shard(&plan, sh, per_shard)))
                .await?;
        let mut total = 0f64;
        let mut exact = true;
        for (sh, c) in shards.into_iter().enumerate() {
            let Some(at) = c.stopped_at.as_deref().and_then(micros_of) else {
                total += c.matched as f64;
                continue;
            };
            exact = false;
            let newest = self.edge_position(&plan, sh as u16, false).await?.unwrap_or(at);
            let oldest = self.edge_position(&plan, sh as u16, true).await?.unwrap_or(at);
            let (covered, span) = ((newest - at) as f64, (newest - oldest) as f64);
            // Leads that share a time (a migration's dates) leave nothing to scale by, and a
            // sliver of time scales wildly: past 100×, the count stands as read.
            total += if covered > 0.0 && span > covered && span / covered <= 100.0 {
                c.matched as f64 * span / covered
            } else {
                c.matched as f64
            };
        }
        Ok(LeadCount {
            count: total.round() as u64,
            exact,
        })
    }
}

struct ShardCount {
    matched: u64,
    /// Where counting stopped with more to read: the position of the last lead read.
    stopped_at: Option<String>,
}
