//! The lead list query (filters, sort, cursor) that the API, export and both stores share,
//! and the opaque cursor format.
//!
//! A cursor holds the position (`domain::sort`) of the last lead returned, plus the
//! sort it was made for, base64url-encoded. Positions are unique, so "strictly after the
//! cursor" pages through every lead exactly once however the shards interleave.

use crate::domain::custom_field::CustomValue;
use crate::domain::error::{FieldError, FieldErrors};
use crate::domain::ids::{RepId, SourceId};
use crate::domain::lead::{Lead, LeadContext, Tag};
use crate::domain::rep::find_rep;
use crate::domain::source::find_source;
use crate::domain::status::LeadStatus;
use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

pub use crate::domain::sort::{SortField, SortOrder};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerFilter {
    Unassigned,
    Rep(RepId),
}

impl OwnerFilter {
    pub fn matches(&self, owner: Option<&RepId>) -> bool {
        match self {
            OwnerFilter::Unassigned => owner.is_none(),
            OwnerFilter::Rep(r) => owner == Some(r),
        }
    }
}

/// Whether a lead needs every listed tag or any one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TagMode {
    #[default]
    All,
    Any,
}

/// Values one multi-value filter takes (`status=new,contacted`): enough for any real list,
/// and bounded so a DynamoDB filter expression stays far under its size limits.
pub const MAX_FILTER_VALUES: usize = 20;

/// A half-open time range: `from <= t < to`. Either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DateRange {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl DateRange {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|e| t < e)
    }

    pub fn is_open(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }
}

pub const MAX_PAGE: u32 = 500;

/// The page size a client may ask for on any list, and the default.
pub const MAX_CLIENT_PAGE: u32 = 200;
pub const DEFAULT_CLIENT_PAGE: u32 = 50;

/// Every list's `limit` parameter: 1-200, 50 when left out. Out of range is an error, not a
/// silent clamp, as the OpenAPI document says.
pub fn page_limit(raw: Option<u32>) -> Result<u32, FieldError> {
    match raw {
        None => Ok(DEFAULT_CLIENT_PAGE),
        Some(n) if (1..=MAX_CLIENT_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(limit_out_of_range()),
    }
}

fn limit_out_of_range() -> FieldError {
    FieldError::new("limit", "out_of_range", format!("limit is 1-{MAX_CLIENT_PAGE}"))
}

#[derive(Debug, Clone, PartialEq)]
pub struct LeadQuery {
    /// Any of these statuses (none: every status).
    pub status: Vec<LeadStatus>,
    /// Any of these owners.
    pub owner: Vec<OwnerFilter>,
    /// Any of these sources.
    pub source: Vec<SourceId>,
    /// Unqualified for any of these reasons.
    pub unqualified_reason: Vec<String>,
    pub created: DateRange,
    pub last_activity: DateRange,
    /// Every tag must be present, or any one of them under `TagMode::Any`.
    pub tags: Vec<Tag>,
    pub tag_mode: TagMode,
    /// Every custom value must be equal (values already typed by the field definitions).
    pub custom: Vec<(String, CustomValue)>,
    /// Lower-case prefix of the name, email or company.
    pub text_prefix: Option<String>,
    /// Leads created by this import job.
    pub import_job: Option<String>,
    /// Leads with (`true`) or without (`false`) data warnings.
    pub has_warnings: Option<bool>,
    /// Only leads never answered (no `first_response_at`); with `overdue=true`, the status is
    /// new and the created range ends at the tenant's overdue cutoff.
    pub awaiting_response: bool,
    pub sort: SortField,
    pub order: SortOrder,
    pub limit: u32,
    pub cursor: Option<String>,
}

impl Default for LeadQuery {
    fn default() -> Self {
        Self {
            status: vec![],
            owner: vec![],
            source: vec![],
            unqualified_reason: vec![],
            created: DateRange::default(),
            last_activity: DateRange::default(),
            tags: vec![],
            tag_mode: TagMode::All,
            custom: vec![],
            text_prefix: None,
            import_job: None,
            has_warnings: None,
            awaiting_response: false,
            sort: SortField::Created,
            order: SortOrder::Desc,
            limit: 50,
            cursor: None,
        }
    }
}

/// The longest position a cursor may carry: a text position is 64 characters of up to 4
/// bytes, its separators and a created position.
const MAX_POSITION_BYTES: usize = 400;

#[derive(Debug, Serialize, Deserialize)]
struct CursorBody {
    s: SortField,
    o: SortOrder,
    p: String,
}

impl LeadQuery {
    /// The sort position of a lead under this query's sort.
    pub fn position_of(&self, lead: &Lead) -> String {
        self.sort.position(lead)
    }

    /// The owner filter as the stores take it: the reps' ids, and whether unassigned leads
    /// are wanted too.
    pub fn owner_split(&self) -> (Vec<String>, bool) {
        let reps = self
            .owner
            .iter()
            .filter_map(|o| match o {
                OwnerFilter::Rep(r) => Some(r.as_str().to_owned()),
                OwnerFilter::Unassigned => None,
            })
            .collect();
        (reps, self.owner.contains(&OwnerFilter::Unassigned))
    }

    /// The position after which this page starts, checked against the query's sort.
    pub fn after(&self) -> Result<Option<String>, FieldError> {
        let Some(c) = &self.cursor else {
            return Ok(None);
        };
        let bad = || {
            FieldError::new(
                "cursor",
                "invalid_cursor",
                "the cursor is malformed or was made for another sort",
            )
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(c)
            .map_err(|_| bad())?;
        let body: CursorBody = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        if body.s != self.sort || body.o != self.order || body.p.len() > MAX_POSITION_BYTES {
            return Err(bad());
        }
        Ok(Some(body.p))
    }

    pub fn cursor_for(&self, position: String) -> String {
        let body = CursorBody {
            s: self.sort,
            o: self.order,
            p: position,
        };
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&body).expect("cursor serializes"))
    }

    pub fn page_size(&self) -> usize {
        self.limit.clamp(1, MAX_PAGE) as usize
    }

    /// Whether a lead passes every filter. The stores push what they can into their indexes;
    /// this is the reference the contract suite checks them against.
    pub fn matches(&self, l: &Lead) -> bool {
        (self.status.is_empty() || self.status.contains(&l.status))
            && (self.owner.is_empty() || self.owner.iter().any(|o| o.matches(l.owner.as_ref())))
            && (self.source.is_empty() || self.source.contains(&l.source))
            && (self.unqualified_reason.is_empty()
                || l.unqualified_reason
                    .as_ref()
                    .is_some_and(|r| self.unqualified_reason.contains(r)))
            && self.created.contains(l.created_at)
            && self.last_activity.contains(l.last_activity_at)
            && match self.tag_mode {
                TagMode::All => self.tags.iter().all(|t| l.tags.contains(t)),
                TagMode::Any => self.tags.is_empty() || self.tags.iter().any(|t| l.tags.contains(t)),
            }
            && self.custom.iter().all(|(k, v)| l.custom.get(k) == Some(v))
            && self
                .import_job
                .as_ref()
                .is_none_or(|j| l.provenance.channel == "import" && l.provenance.form.as_ref() == Some(j))
            && self.has_warnings.is_none_or(|w| w != l.data_warnings.is_empty())
            && (!self.awaiting_response || l.first_response_at.is_none())
            && self.text_prefix.as_ref().is_none_or(|p| {
                l.search_terms()
                    .iter()
                    .flatten()
                    .any(|t| t.starts_with(p.as_str()))
            })
    }
}

/// How many leads match a list's filters. `exact: false` is an estimate: DynamoDB counts up
/// to `EXACT_COUNT_UP_TO` and extrapolates past it (see `adapters/dynamo/lead_list.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LeadCount {
    pub count: u64,
    /// Whether every matching lead was counted; `false`: an estimate.
    pub exact: bool,
}

/// Leads a count reads one by one before it may estimate instead (DynamoDB bills and waits
/// for every item a count reads; SQLite counts from its indexes and is always exact).
pub const EXACT_COUNT_UP_TO: u64 = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Cursors for simple position-ordered lists (activities, blob listings): the position,
/// base64url-encoded so callers treat it as opaque.
pub fn encode_position_cursor(position: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(position)
}

pub fn decode_position_cursor(cursor: &str) -> Result<String, FieldError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|s| s.len() <= 80)
        .ok_or_else(|| FieldError::new("cursor", "invalid_cursor", "the cursor is malformed"))
}

/// `2026-01-31` or an RFC 3339 instant. A bare date as an upper bound includes that whole day.
fn parse_time(field: &str, v: &str, upper: bool) -> Result<DateTime<Utc>, FieldError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .map(|d| if upper { d.succ_opt().unwrap_or(d) } else { d })
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| {
            FieldError::new(
                field,
                "invalid_date",
                format!("{field} must be YYYY-MM-DD or RFC 3339"),
            )
        })
}

pub const LIST_PARAMS: &str = "status, owner, source, created_from, created_to, last_activity_from, \
    last_activity_to, tag, tag_mode, unqualified_reason, q, import_job, has_warnings, overdue, cf.<key>, sort, order, limit, cursor";

/// The values of a multi-value parameter: comma-separated, and the parameter may repeat.
fn values(v: &str) -> impl Iterator<Item = &str> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, v: T) {
    if !list.contains(&v) {
        list.push(v);
    }
}

/// An owner as a person writes it: `unassigned`, a rep's id or a rep's name.
fn owner_filter(ctx: &LeadContext, raw: &str) -> Result<OwnerFilter, FieldError> {
    if raw.eq_ignore_ascii_case("unassigned") {
        return Ok(OwnerFilter::Unassigned);
    }
    find_rep(&ctx.reps, raw)
        .map(|r| OwnerFilter::Rep(r.id.clone()))
        .ok_or_else(|| {
            let names: Vec<&str> = ctx.reps.iter().map(|r| r.name.as_str()).collect();
            FieldError::new(
                "owner",
                "unknown_owner",
                format!(
                    "no rep has this id or name, or several share it (use the id); reps: {}, or `unassigned`",
                    names.join(", ")
                ),
            )
        })
}

/// A source as a person writes it: its id or its name (retired ones too: old leads keep them).
fn source_filter(ctx: &LeadContext, raw: &str) -> Result<SourceId, FieldError> {
    find_source(&ctx.sources, raw)
        .map(|s| s.id.clone())
        .ok_or_else(|| {
            let names: Vec<&str> = ctx.sources.iter().map(|s| s.name.as_str()).collect();
            FieldError::new(
                "source",
                "invalid_source",
                format!("no source has this id or name; sources: {}", names.join(", ")),
            )
        })
}

impl LeadQuery {
    /// The list filters from query parameters (the API's `GET /v1/leads`, an export's and a
    /// bulk edit's filters), every bad one named in the error. Owners and sources are named by
    /// id or by name, and `ctx` holds the tenant's reps, sources and custom fields to resolve
    /// them; `needs_context` says whether a query string needs it at all.
    pub fn from_params(pairs: &[(String, String)], ctx: &LeadContext) -> Result<LeadQuery, FieldErrors> {
        let mut q = LeadQuery::default();
        let mut errs = FieldErrors::default();
        for (k, v) in pairs {
            let v = v.trim();
            let before = errs.0.len();
            // A filter named with no value is a mistake, not "any": in a bulk edit it would
            // reach every lead.
            if matches!(k.as_str(), "status" | "owner" | "source" | "unqualified_reason")
                && values(v).next().is_none()
            {
                errs.push(FieldError::new(k.clone(), "empty", format!("{k} needs a value")));
                continue;
            }
            match k.as_str() {
                "status" => {
                    for s in values(v) {
                        if let Some(s) = errs.take(LeadStatus::parse(s)) {
                            push_unique(&mut q.status, s);
                        }
                    }
                }
                "owner" => {
                    for o in values(v) {
                        if let Some(o) = errs.take(owner_filter(ctx, o)) {
                            push_unique(&mut q.owner, o);
                        }
                    }
                }
                "source" => {
                    for s in values(v) {
                        if let Some(s) = errs.take(source_filter(ctx, s)) {
                            push_unique(&mut q.source, s);
                        }
                    }
                }
                "unqualified_reason" => {
                    for r in values(v) {
                        if let Some(r) = errs.take(ctx.unqualified.find(r)) {
                            push_unique(&mut q.unqualified_reason, r);
                        }
                    }
                }
                "tag_mode" => match v {
                    "all" => q.tag_mode = TagMode::All,
                    "any" => q.tag_mode = TagMode::Any,
                    _ => errs.push(FieldError::new(
                        "tag_mode",
                        "invalid_tag_mode",
                        "tag_mode is `all` or `any`",
                    )),
                },
                "created_from" => q.created.from = errs.take(parse_time(k, v, false)),
                "created_to" => q.created.to = errs.take(parse_time(k, v, true)),
                "last_activity_from" => q.last_activity.from = errs.take(parse_time(k, v, false)),
                "last_activity_to" => q.last_activity.to = errs.take(parse_time(k, v, true)),
                "tag" | "tags" => {
                    for t in values(v) {
                        if let Some(tag) = errs.take(Tag::parse(t)) {
                            push_unique(&mut q.tags, tag);
                        }
                    }
                }
                "q" => {
                    let p = v.to_lowercase();
                    if p.is_empty() || p.chars().count() > 100 {
                        errs.push(FieldError::new("q", "invalid_length", "q is 1-100 characters"));
                    } else {
                        q.text_prefix = Some(p);
                    }
                }
                "import_job" => match uuid::Uuid::try_parse(v) {
                    Ok(id) => q.import_job = Some(id.to_string()),
                    Err(_) => errs.push(FieldError::new(
                        "import_job",
                        "invalid_id",
                        "import_job is an import job's id (a UUID)",
                    )),
                },
                "has_warnings" => match v {
                    "true" => q.has_warnings = Some(true),
                    "false" => q.has_warnings = Some(false),
                    _ => errs.push(FieldError::new(
                        "has_warnings",
                        "invalid_bool",
                        "has_warnings is `true` or `false`",
                    )),
                },
                "overdue" => match v {
                    "true" => q.awaiting_response = true,
                    _ => errs.push(FieldError::new(
                        "overdue",
                        "invalid_overdue",
                        "overdue takes `true`: new leads past the response SLA without a first response",
                    )),
                },
                "sort" => match SortField::parse(v) {
                    Some(f) => q.sort = f,
                    None => errs.push(FieldError::new(
                        "sort",
                        "invalid_sort",
                        format!(
                            "sort is one of {}",
                            SortField::ALL.map(|f| format!("`{}`", f.as_str())).join(", ")
                        ),
                    )),
                },
                "order" => match v {
                    "asc" => q.order = SortOrder::Asc,
                    "desc" => q.order = SortOrder::Desc,
                    _ => errs.push(FieldError::new(
                        "order",
                        "invalid_order",
                        "order is `asc` or `desc`",
                    )),
                },
                "limit" => match v
                    .parse::<u32>()
                    .map_err(|_| limit_out_of_range())
                    .and_then(|n| page_limit(Some(n)))
                {
                    Ok(n) => q.limit = n,
                    Err(e) => errs.push(e),
                },
                "cursor" => q.cursor = Some(v.to_owned()),
                other => match other.strip_prefix("cf.") {
                    Some(key) => match ctx.custom_fields.iter().find(|d| d.key == key) {
                        Some(def) => {
                            if let Some(val) =
                                errs.take(def.parse_value(&serde_json::Value::String(v.to_owned())))
                            {
                                q.custom.push((def.key.clone(), val));
                            }
                        }
                        None => errs.push(FieldError::new(
                            other,
                            "unknown_field",
                            format!("there is no custom field '{key}'"),
                        )),
                    },
                    None => errs.push(FieldError::new(
                        other,
                        "unknown_parameter",
                        format!("unknown query parameter; valid ones: {LIST_PARAMS}"),
                    )),
                },
            }
            // Name the parameter the caller sent, not the type that rejected it.
            for e in &mut errs.0[before..] {
                e.field = k.clone();
            }
        }
        // Overdue: new, never answered, created before the tenant's cutoff. The status and
        // the range are the ones the stores already filter (and index) by.
        if q.awaiting_response {
            if q.status.is_empty() || q.status.contains(&LeadStatus::New) {
                q.status = vec![LeadStatus::New];
            } else {
                errs.push(FieldError::new(
                    "overdue",
                    "conflict",
                    "overdue leads are new leads: leave status out or include new",
                ));
            }
            q.created.to = Some(
                q.created
                    .to
                    .map_or(ctx.overdue_cutoff, |t| t.min(ctx.overdue_cutoff)),
            );
            if q.created.from.is_some_and(|f| f > ctx.overdue_cutoff) {
                // Nothing created after the cutoff is overdue yet: an empty, valid range.
                q.created.from = Some(ctx.overdue_cutoff);
            }
        }
        // An empty range is a mistake, not "nothing": say so (DynamoDB refuses it outright).
        for (name, range) in [("created", q.created), ("last_activity", q.last_activity)] {
            if let (Some(from), Some(to)) = (range.from, range.to)
                && from > to
            {
                errs.push(FieldError::new(
                    format!("{name}_to"),
                    "invalid_range",
                    format!("{name}_to is before {name}_from"),
                ));
            }
        }
        for (name, n) in [
            ("status", q.status.len()),
            ("owner", q.owner.len()),
            ("source", q.source.len()),
            ("unqualified_reason", q.unqualified_reason.len()),
            ("tag", q.tags.len()),
        ] {
            if n > MAX_FILTER_VALUES {
                errs.push(FieldError::new(
                    name,
                    "too_many_values",
                    format!("{name} takes at most {MAX_FILTER_VALUES} values"),
                ));
            }
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        q.after()?;
        Ok(q)
    }

    /// The filters of work that takes every matching lead (an export, a bulk edit), given as
    /// a map: the list's parameters less `limit` and `cursor`, every error named under
    /// `{field}.`.
    pub fn from_filters(
        filters: &std::collections::BTreeMap<String, String>,
        ctx: &LeadContext,
        field: &str,
    ) -> Result<LeadQuery, FieldErrors> {
        if let Some(k) = filters.keys().find(|k| *k == "limit" || *k == "cursor") {
            return Err(FieldError::new(
                format!("{field}.{k}"),
                "unknown_parameter",
                "every matching lead is taken: limit and cursor do not apply",
            )
            .into());
        }
        let pairs: Vec<(String, String)> = filters.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        LeadQuery::from_params(&pairs, ctx).map_err(|mut e| {
            for f in &mut e.0 {
                f.field = format!("{field}.{}", f.field);
            }
            e
        })
    }

    /// Whether these parameters name owners, sources or custom fields, which `from_params`
    /// resolves against the tenant: a list without them skips reading the tenant's settings.
    pub fn needs_context(pairs: &[(String, String)]) -> bool {
        pairs
            .iter()
            .any(|(k, _)| k == "owner" || k == "source" || k == "unqualified_reason" || k.starts_with("cf."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rep::Rep;
    use crate::domain::source::seeded_sources;

    fn ctx() -> LeadContext {
        let rep = |id: &str, name: &str, active| Rep {
            id: RepId::parse(id).unwrap(),
            name: name.into(),
            weight: 1,
            active,
            available: true,
        };
        LeadContext {
            sources: seeded_sources(),
            reps: vec![rep("ana", "Ana Lima", true), rep("ben", "Ben Okafor", false)],
            ..Default::default()
        }
    }

    #[test]
    fn when_overdue_is_asked_should_read_new_unanswered_leads_before_the_cutoff() {
        let cutoff = DateTime::parse_from_rfc3339("2026-05-01T10:00:00Z")
            .unwrap()
            .to_utc();
        let ctx = LeadContext {
            overdue_cutoff: cutoff,
            ..ctx()
        };
        let q = LeadQuery::from_params(&params("overdue=true"), &ctx).unwrap();
        assert_eq!(
            (q.status.as_slice(), q.awaiting_response, q.created.to),
            (&[LeadStatus::New][..], true, Some(cutoff))
        );
        let q = LeadQuery::from_params(
            &params("overdue=true&status=new,contacted&created_to=2026-06-01"),
            &ctx,
        )
        .unwrap();
        assert_eq!(
            (q.status.as_slice(), q.created.to),
            (&[LeadStatus::New][..], Some(cutoff))
        );
        // Created after the cutoff: nothing is overdue yet, and that is no error.
        let q = LeadQuery::from_params(&params("overdue=true&created_from=2026-05-02"), &ctx).unwrap();
        assert_eq!(q.created.from, q.created.to);
        for bad in ["overdue=true&status=contacted", "overdue=false", "overdue=yes"] {
            let e = LeadQuery::from_params(&params(bad), &ctx).unwrap_err();
            assert_eq!(e.0[0].field, "overdue", "{bad}");
        }
    }

    fn params(q: &str) -> Vec<(String, String)> {
        q.split('&')
            .map(|kv| kv.split_once('=').unwrap())
            .map(|(k, v)| (k.to_owned(), v.replace("%20", " ")))
            .collect()
    }

    #[test]
    fn when_filters_name_several_values_by_name_or_id_should_take_any_of_them() {
        let q = LeadQuery::from_params(
            &params("status=new,contacted&status=new&owner=Ana%20Lima,ben,unassigned&source=Referral&source=website-form&tag=vip,expo&tag_mode=any"),
            &ctx(),
        )
        .unwrap();
        assert_eq!(q.status, [LeadStatus::New, LeadStatus::Contacted]);
        assert_eq!(
            q.owner,
            [
                OwnerFilter::Rep(RepId::parse("ana").unwrap()),
                OwnerFilter::Rep(RepId::parse("ben").unwrap()),
                OwnerFilter::Unassigned
            ]
        );
        let sources: Vec<&str> = q.source.iter().map(|s| s.as_str()).collect();
        assert_eq!(sources, ["referral", "website-form"]);
        assert_eq!(q.tag_mode, TagMode::Any);
        assert_eq!(q.tags.len(), 2);
    }

    #[test]
    fn when_a_filter_names_what_does_not_exist_should_say_which_and_list_the_choices() {
        let e =
            LeadQuery::from_params(&params("owner=carl&source=Billboard&tag_mode=some"), &ctx()).unwrap_err();
        let got: Vec<(&str, &str)> = e.0.iter().map(|f| (f.field.as_str(), f.code)).collect();
        assert_eq!(
            got,
            [
                ("owner", "unknown_owner"),
                ("source", "invalid_source"),
                ("tag_mode", "invalid_tag_mode")
            ]
        );
        assert!(e.0[0].message.contains("Ana Lima"), "{}", e.0[0].message);
        assert!(e.0[1].message.contains("Referral"), "{}", e.0[1].message);
        let many = (0..=MAX_FILTER_VALUES)
            .map(|i| format!("t{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let e = LeadQuery::from_params(&params(&format!("tag={many}")), &ctx()).unwrap_err();
        assert_eq!(e.0[0].code, "too_many_values");
        let e = LeadQuery::from_params(&params("created_from=2026-02-01&created_to=2026-01-01"), &ctx())
            .unwrap_err();
        assert_eq!(
            (e.0[0].field.as_str(), e.0[0].code),
            ("created_to", "invalid_range")
        );
        assert!(LeadQuery::needs_context(&params("owner=ana")));
        assert!(!LeadQuery::needs_context(&params("status=new&tag=vip")));
    }

    #[test]
    fn when_cursor_is_reused_with_other_sort_should_reject() {
        let q = LeadQuery::default();
        let c = q.cursor_for("0000000000000001#x".into());
        let same = LeadQuery {
            cursor: Some(c.clone()),
            ..LeadQuery::default()
        };
        assert_eq!(same.after().unwrap().as_deref(), Some("0000000000000001#x"));
        let other = LeadQuery {
            cursor: Some(c),
            order: SortOrder::Asc,
            ..LeadQuery::default()
        };
        assert_eq!(other.after().unwrap_err().code, "invalid_cursor");
        let junk = LeadQuery {
            cursor: Some("!!".into()),
            ..LeadQuery::default()
        };
        assert!(junk.after().is_err());
    }
}
