//! Source, rep and funnel analytics (seed 000: which sources produce the best leads, and how
//! fast they are answered), read from the rollups (`domain::rollup`) and never from the
//! leads: one range read of days × keys rows, whatever the number of leads. And the rebuild
//! that recomputes the rollups from the leads.
//!
//! Figures are by cohort: the leads created in the range, and what has become of them since.

use crate::domain::conversion::Money;
use crate::domain::error::FieldError;
use crate::domain::ids::{RepId, TenantId};
use crate::domain::query::{LeadQuery, SortField, SortOrder};
use crate::domain::rep::{find_rep, rep_name};
use crate::domain::rollup::{self, CONVERT_BOUNDS, Cell, Counts, Dim, RESPONSE_BOUNDS, UNASSIGNED};
use crate::domain::source::{find_source, source_name};
use crate::domain::status::LeadStatus;
use crate::domain::tenant::{Principal, Tenant};
use crate::ports::store::LeadStore;
use crate::services::ServiceError;
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeMap;

/// The longest range one request reads: a year of days.
pub const MAX_DAYS: i64 = 366;
/// The range when none is given: the last 30 days, today included.
pub const DEFAULT_DAYS: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Day,
    Week,
}

/// A parsed analytics request: days `from..=to`, bucketed, limited to some keys of the
/// dimension it reads (none: all).
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyticsQuery {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub bucket: Bucket,
    pub sources: Vec<String>,
    pub owners: Vec<String>,
    pub campaigns: Vec<String>,
}

/// The request as given (query string values, the routes' parameters), parsed at the edge of
/// the use case.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RawAnalyticsQuery {
    /// First day of the range (`2026-03-01`), by the leads' creation date (UTC); default
    /// 29 days before `to`. A range is at most 366 days.
    #[param(format = Date)]
    pub from: Option<String>,
    /// Last day of the range, included; default today (UTC).
    #[param(format = Date)]
    pub to: Option<String>,
    /// `day` (default) or `week` (weeks start on Monday).
    #[param(pattern = "^(day|week)$")]
    pub bucket: Option<String>,
    /// Only these sources, by id or name, comma-separated (not with `owner`).
    pub source: Option<String>,
    /// Only these reps, by id or name, comma-separated, or `unassigned` (not with `source`).
    pub owner: Option<String>,
    /// Only these campaigns, as `/v1/analytics/campaigns` names them (`google:123`,
    /// `meta:adset:456`, `utm:spring-sale`, `none`), comma-separated: on `/campaigns` and
    /// `/funnel` only, and not with `source` or `owner`.
    pub campaign: Option<String>,
}

/// The years a range may name: chrono reads any signed year, and a range must neither
/// overflow when the default start is counted back from it nor leave the stores' key order
/// (four-digit years, the day after the last included).
const YEARS: std::ops::RangeInclusive<i32> = 1970..=9998;

fn day(field: &'static str, raw: &str) -> Result<NaiveDate, FieldError> {
    use chrono::Datelike;
    rollup::parse_day_key(raw.trim())
        .filter(|d| YEARS.contains(&d.year()))
        .ok_or_else(|| {
            FieldError::new(
                field,
                "invalid_date",
                format!("{field} must be a date from 1970 to 9998, e.g. 2026-03-01"),
            )
        })
}

fn list(raw: &Option<String>) -> Vec<String> {
    raw.iter()
        .flat_map(|s| s.split(','))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

impl RawAnalyticsQuery {
    /// Checks the range (`from` ≤ `to`, at most a year; by default the 30 days up to
    /// `today`) and the bucket.
    pub fn parse(&self, today: NaiveDate) -> Result<AnalyticsQuery, FieldError> {
        let to = self
            .to
            .as_deref()
            .map(|t| day("to", t))
            .transpose()?
            .unwrap_or(today);
        let from = match self.from.as_deref() {
            Some(f) => day("from", f)?,
            None => to - chrono::Days::new(DEFAULT_DAYS as u64 - 1),
        };
        if from > to {
            return Err(FieldError::new(
                "from",
                "out_of_range",
                "from must not be after to",
            ));
        }
        if (to - from).num_days() + 1 > MAX_DAYS {
            return Err(FieldError::new(
                "from",
                "out_of_range",
                format!("a range is at most {MAX_DAYS} days"),
            ));
        }
        let bucket = match self.bucket.as_deref().map(str::trim) {
            None | Some("day") => Bucket::Day,
            Some("week") => Bucket::Week,
            Some(_) => {
                return Err(FieldError::new(
                    "bucket",
                    "invalid_choice",
                    "bucket must be one of: day, week",
                ));
            }
        };
        Ok(AnalyticsQuery {
            from,
            to,
            bucket,
            sources: list(&self.source),
            owners: list(&self.owner),
            campaigns: list(&self.campaign),
        })
    }
}

/// What a group of leads (a source, a rep, a bucket, the whole range) became.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Figures {
    /// Leads created in the range.
    pub leads: i64,
    /// How many are in each status now.
    pub new: i64,
    pub contacted: i64,
    pub qualified: i64,
    pub unqualified: i64,
    pub converted: i64,
    /// Leads that had a first response (a logged call or email, or a move past new).
    pub responded: i64,
    /// `responded / leads`.
    pub response_rate: Option<f64>,
    /// `(qualified + converted) / leads`: qualified at some point and still so.
    pub qualification_rate: Option<f64>,
    /// `unqualified / leads`.
    pub unqualified_rate: Option<f64>,
    /// `converted / leads`.
    pub conversion_rate: Option<f64>,
    /// Median and 90th percentile of the time to first response, in seconds, estimated
    /// within the histogram bucket that holds them (5 min, 15 min, 30 min, 1 h, 2 h, 4 h,
    /// 8 h, 1 d, 2 d, 7 d, more).
    pub response_median_seconds: Option<i64>,
    pub response_p90_seconds: Option<i64>,
    /// Median time from creation to conversion, in seconds, estimated the same way (1, 3,
    /// 7, 14, 30, 60, 90 days, more).
    pub convert_median_seconds: Option<i64>,
    /// The value of the converted leads' deals as they stand now, one sum per currency
    /// (never converted into each other), in currency order; empty when none has a value.
    pub converted_value: Vec<Money>,
}

fn rate(n: i64, of: i64) -> Option<f64> {
    (of > 0).then(|| (n as f64 / of as f64 * 10_000.0).round() / 10_000.0)
}

impl Figures {
    pub fn of(c: &Counts) -> Figures {
        let leads = c.leads();
        let status = |s| c.status(s);
        Figures {
            leads,
            new: status(LeadStatus::New),
            contacted: status(LeadStatus::Contacted),
            qualified: status(LeadStatus::Qualified),
            unqualified: status(LeadStatus::Unqualified),
            converted: status(LeadStatus::Converted),
            responded: c.responded(),
            response_rate: rate(c.responded(), leads),
            qualification_rate: rate(
                status(LeadStatus::Qualified) + status(LeadStatus::Converted),
                leads,
            ),
            unqualified_rate: rate(status(LeadStatus::Unqualified), leads),
            conversion_rate: rate(status(LeadStatus::Converted), leads),
            response_median_seconds: rollup::quantile(c.response_histogram(), &RESPONSE_BOUNDS, 0.5),
            response_p90_seconds: rollup::quantile(c.response_histogram(), &RESPONSE_BOUNDS, 0.9),
            convert_median_seconds: rollup::quantile(c.convert_histogram(), &CONVERT_BOUNDS, 0.5),
            converted_value: c
                .converted_value()
                .iter()
                .map(|(currency, &cents)| Money::from_cents(cents, currency))
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BucketFigures {
    /// The bucket's first day (a Monday for weeks).
    #[schema(value_type = String, format = Date)]
    pub start: NaiveDate,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Group {
    /// The source's or rep's id (`unassigned` for leads without an owner).
    pub id: String,
    /// Its display name now.
    pub name: String,
    #[serde(flatten)]
    pub figures: Figures,
    /// Per bucket with leads, in order.
    pub series: Vec<BucketFigures>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Report {
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    pub bucket: Bucket,
    /// The whole range, every group together.
    pub totals: Figures,
    /// Per bucket, every group together.
    pub series: Vec<BucketFigures>,
    /// Per source, rep or campaign, most leads first (empty for the funnel).
    pub groups: Vec<Group>,
}

/// The id an owner row is reported under.
const UNASSIGNED_ID: &str = "unassigned";
/// The id of the row of leads that name no campaign.
const NO_CAMPAIGN_ID: &str = "none";

/// Sums rows into totals, a series, and groups (when `grouped`); the `-` row is reported as
/// `none_id`.
fn report(
    q: &AnalyticsQuery,
    rows: &[(Cell, Counts)],
    grouped: bool,
    none_id: &str,
    name: impl Fn(&str) -> String,
) -> Report {
    let weekly = q.bucket == Bucket::Week;
    let mut totals = Counts::default();
    let mut series: BTreeMap<NaiveDate, Counts> = BTreeMap::new();
    let mut groups: BTreeMap<&str, (Counts, BTreeMap<NaiveDate, Counts>)> = BTreeMap::new();
    for (cell, c) in rows {
        let start = rollup::bucket_start(cell.day, weekly);
        totals.add(c, 1);
        series.entry(start).or_default().add(c, 1);
        if grouped {
            let g = groups.entry(cell.key.as_str()).or_default();
            g.0.add(c, 1);
            g.1.entry(start).or_default().add(c, 1);
        }
    }
    let to_series = |s: BTreeMap<NaiveDate, Counts>| {
        s.into_iter()
            .map(|(start, c)| BucketFigures {
                start,
                figures: Figures::of(&c),
            })
            .collect()
    };
    let mut groups: Vec<Group> = groups
        .into_iter()
        .map(|(key, (c, s))| {
            let id = if key == UNASSIGNED { none_id } else { key };
            Group {
                id: id.to_owned(),
                name: name(key),
                figures: Figures::of(&c),
                series: to_series(s),
            }
        })
        .collect();
    groups.sort_by(|a, b| b.figures.leads.cmp(&a.figures.leads).then(a.id.cmp(&b.id)));
    Report {
        from: q.from,
        to: q.to,
        bucket: q.bucket,
        totals: Figures::of(&totals),
        series: to_series(series),
        groups,
    }
}

/// The rollup keys the request names, resolved by id or name; an unknown source or rep is a
/// 422 (campaigns are taken as named: one without leads answers nothing).
async fn keys_of(
    store: &dyn LeadStore,
    tenant: &TenantId,
    dim: Dim,
    raw: &[String],
) -> Result<Vec<String>, ServiceError> {
    if raw.is_empty() {
        return Ok(vec![]);
    }
    match dim {
        Dim::Source => {
            let sources = crate::services::sources::list_sources(store, tenant).await?;
            raw.iter()
                .map(|r| {
                    find_source(&sources, r)
                        .map(|s| s.id.as_str().to_owned())
                        .ok_or_else(|| {
                            FieldError::new("source", "invalid_source", format!("no source {r:?}")).into()
                        })
                })
                .collect()
        }
        Dim::Owner => {
            let reps = crate::services::reps::list_reps(store, tenant).await?;
            raw.iter()
                .map(|r| {
                    if r.eq_ignore_ascii_case(UNASSIGNED_ID) {
                        return Ok(UNASSIGNED.to_owned());
                    }
                    find_rep(&reps, r)
                        .map(|rep| rep.id.as_str().to_owned())
                        .ok_or_else(|| {
                            FieldError::new("owner", "invalid_owner", format!("no rep {r:?}")).into()
                        })
                })
                .collect()
        }
        Dim::Campaign => Ok(raw
            .iter()
            .map(|c| {
                if c.eq_ignore_ascii_case(NO_CAMPAIGN_ID) {
                    UNASSIGNED.to_owned()
                } else {
                    c.clone()
                }
            })
            .collect()),
    }
}

/// Which dimension answers the request, and the keys it is limited to. Rollups are kept per
/// source, per owner and per campaign, not per pair, so a request may limit one of the
/// three; a rep who sees only their own leads reads only their own owner row.
async fn scope(
    store: &dyn LeadStore,
    tenant: &Tenant,
    principal: &Principal,
    q: &AnalyticsQuery,
    wanted: Option<Dim>,
) -> Result<(Dim, Vec<String>), ServiceError> {
    let mine = principal.owner_scope(&tenant.settings);
    // The campaigns answer, and the funnel of some campaigns, read the campaign rows.
    let campaign_rows = wanted == Some(Dim::Campaign) || (wanted.is_none() && !q.campaigns.is_empty());
    if !campaign_rows && !q.campaigns.is_empty() {
        return Err(FieldError::new(
            "campaign",
            "unsupported_combination",
            "source and rep analytics cannot be limited by campaign: ask /v1/analytics/campaigns",
        )
        .into());
    }
    if campaign_rows {
        if !q.sources.is_empty() || !q.owners.is_empty() {
            let field = match (q.campaigns.is_empty(), q.sources.is_empty()) {
                (false, _) => "campaign",
                (true, true) => "owner",
                (true, false) => "source",
            };
            return Err(FieldError::new(
                field,
                "unsupported_combination",
                "analytics are kept per campaign, per source and per owner, not per pair: limit one of the three",
            )
            .into());
        }
        if mine.is_some() {
            return Err(ServiceError::Forbidden(
                "campaign analytics span the team; this tenant shows reps their own leads only",
            ));
        }
        return Ok((
            Dim::Campaign,
            keys_of(store, &tenant.id, Dim::Campaign, &q.campaigns).await?,
        ));
    }
    if !q.sources.is_empty() && (!q.owners.is_empty() || wanted == Some(Dim::Owner) || mine.is_some()) {
        return Err(FieldError::new(
            "source",
            "unsupported_combination",
            "analytics are kept per source and per owner, not per pair: limit one of the two",
        )
        .into());
    }
    if !q.owners.is_empty() && wanted == Some(Dim::Source) {
        return Err(FieldError::new(
            "owner",
            "unsupported_combination",
            "source analytics cannot be limited by owner: ask /v1/analytics/reps",
        )
        .into());
    }
    if let Some(me) = mine {
        if wanted == Some(Dim::Source) {
            return Err(ServiceError::Forbidden(
                "source analytics span the team; this tenant shows reps their own leads only",
            ));
        }
        return Ok((Dim::Owner, vec![me.as_str().to_owned()]));
    }
    let dim = match wanted {
        Some(d) => d,
        None if !q.owners.is_empty() => Dim::Owner,
        None => Dim::Source,
    };
    let raw = if dim == Dim::Source { &q.sources } else { &q.owners };
    Ok((dim, keys_of(store, &tenant.id, dim, raw).await?))
}

async fn rows(
    store: &dyn LeadStore,
    tenant: &TenantId,
    dim: Dim,
    keys: &[String],
    q: &AnalyticsQuery,
) -> Result<Vec<(Cell, Counts)>, ServiceError> {
    let mut rows = store.read_rollups(tenant, dim, q.from, q.to).await?;
    if !keys.is_empty() {
        rows.retain(|(c, _)| keys.contains(&c.key));
    }
    Ok(rows)
}

/// Per source: leads, what became of them and how fast they were answered.
pub async fn by_source(
    store: &dyn LeadStore,
    tenant: &Tenant,
    principal: &Principal,
    q: &AnalyticsQuery,
) -> Result<Report, ServiceError> {
    let (dim, keys) = scope(store, tenant, principal, q, Some(Dim::Source)).await?;
    let rows = rows(store, &tenant.id, dim, &keys, q).await?;
    let sources = crate::services::sources::list_sources(store, &tenant.id).await?;
    Ok(report(
        q,
        &rows,
        true,
        UNASSIGNED_ID,
        |k| match crate::domain::ids::SourceId::parse(k) {
            Ok(id) => source_name(&sources, &id),
            Err(_) => k.to_owned(),
        },
    ))
}

/// Per owner (rep), the same figures; unassigned leads under `unassigned`.
pub async fn by_rep(
    store: &dyn LeadStore,
    tenant: &Tenant,
    principal: &Principal,
    q: &AnalyticsQuery,
) -> Result<Report, ServiceError> {
    let (dim, keys) = scope(store, tenant, principal, q, Some(Dim::Owner)).await?;
    let rows = rows(store, &tenant.id, dim, &keys, q).await?;
    let reps = crate::services::reps::list_reps(store, &tenant.id).await?;
    Ok(report(q, &rows, true, UNASSIGNED_ID, |k| {
        if k == UNASSIGNED {
            return "Unassigned".to_owned();
        }
        match RepId::parse(k) {
            Ok(id) => rep_name(&reps, &id),
            Err(_) => k.to_owned(),
        }
    }))
}

/// The funnel: every lead of the range (or of the sources or owners named) together.
pub async fn funnel(
    store: &dyn LeadStore,
    tenant: &Tenant,
    principal: &Principal,
    q: &AnalyticsQuery,
) -> Result<Report, ServiceError> {
    let (dim, keys) = scope(store, tenant, principal, q, None).await?;
    let rows = rows(store, &tenant.id, dim, &keys, q).await?;
    Ok(report(q, &rows, false, UNASSIGNED_ID, str::to_owned))
}

/// Per campaign (`rollup::campaign_key`: an ad platform's campaign, else its ad set, else the
/// UTM campaign of a form post), leads that name none under `none`.
pub async fn by_campaign(
    store: &dyn LeadStore,
    tenant: &Tenant,
    principal: &Principal,
    q: &AnalyticsQuery,
) -> Result<Report, ServiceError> {
    let (dim, keys) = scope(store, tenant, principal, q, Some(Dim::Campaign)).await?;
    let rows = rows(store, &tenant.id, dim, &keys, q).await?;
    Ok(report(q, &rows, true, NO_CAMPAIGN_ID, |k| {
        if k == UNASSIGNED {
            "No campaign".to_owned()
        } else {
            k.strip_prefix("utm:").unwrap_or(k).to_owned()
        }
    }))
}

/// What a rebuild did.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Rebuilt {
    /// Leads read.
    pub leads: u64,
    /// Rollup rows written.
    pub rows: u64,
    /// Converted leads given their deal's value, which they were converted without (before
    /// leads carried it).
    pub values_filled: u64,
}

/// Recomputes the tenant's rollups from its leads and puts them in place of the kept ones:
/// the mend for rows that drifted (a DynamoDB import killed between its batch and its
/// rollup update) and the first fill of a DynamoDB table from before rollups. Leads are read
/// a page at a time, and only the rows are held. Lead writes that land while it reads are
/// in the leads but may be missing from what it writes; run it again when the tenant is
/// quiet if that matters.
///
/// It also fills in the deal value of leads converted before leads carried it (one deal
/// read each, and a lead write when the deal has a value), so their value counts from then
/// on: the upgrade step for such a tenant.
pub async fn rebuild(store: &dyn LeadStore, tenant: &TenantId) -> Result<Rebuilt, ServiceError> {
    let mut delta = rollup::Delta::default();
    let mut leads = 0u64;
    let mut values_filled = 0u64;
    let mut q = LeadQuery {
        sort: SortField::Created,
        order: SortOrder::Asc,
        limit: 500,
        ..LeadQuery::default()
    };
    loop {
        let page = store.list_leads(tenant, &q).await?;
        for l in page.items.iter() {
            let filled = fill_deal_value(store, l).await?;
            values_filled += u64::from(filled.is_some());
            delta.add_lead(filled.as_ref().unwrap_or(l), 1);
        }
        leads += page.items.len() as u64;
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    let rows: Vec<(Cell, Counts)> = delta.rows().map(|(c, n)| (c.clone(), n.clone())).collect();
    store.replace_rollups(tenant, &rows).await?;
    Ok(Rebuilt {
        leads,
        rows: rows.len() as u64,
        values_filled,
    })
}

/// A converted lead without its deal's value, given it from the deal record (the lead at
/// its next version), or `None` when there is nothing to fill. A lead changed meanwhile is
/// left for the next rebuild.
async fn fill_deal_value(
    store: &dyn LeadStore,
    lead: &crate::domain::lead::Lead,
) -> Result<Option<crate::domain::lead::Lead>, ServiceError> {
    use crate::domain::conversion::Deal;
    use crate::ports::store::{StoreError, get_typed, kinds};
    let Some(deal_id) = lead
        .conversion
        .as_ref()
        .filter(|c| c.value.is_none())
        .and_then(|c| c.deal_id.clone())
    else {
        return Ok(None);
    };
    let Some(deal) = get_typed::<Deal>(store, &lead.tenant, kinds::DEAL, &deal_id).await? else {
        return Ok(None);
    };
    let Some(value) = deal.value.value else {
        return Ok(None);
    };
    let mut next = lead.clone();
    if let Some(c) = next.conversion.as_mut() {
        c.value = Some(value);
    }
    match store.commit_lead_change(&next, &[], &[]).await {
        Ok(saved) => Ok(Some(saved)),
        Err(StoreError::Conflict { .. } | StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
