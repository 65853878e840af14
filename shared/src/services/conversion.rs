//! Converting leads into a Prospect and (optionally) a Deal: one lead, or up to 100 at once.
//!
//! The lead change, the new records and the timeline entry are one atomic store write, so a
//! lead is converted entirely or not at all. Converting a converted lead returns the first
//! result; two concurrent conversions race on the lead's version and the loser returns the
//! winner's result, so there is only ever one deal.

use crate::domain::RepId;
use crate::domain::activity::{Activity, ActivityKind, Actor};
use crate::domain::conversion::{Deal, Money, NotConvertible, Prospect, check_convertible};
use crate::domain::error::{FieldError, FieldErrors};
use crate::domain::ids::LeadId;
use crate::domain::lead::{ConversionLinks, Lead};
use crate::domain::query::{Page, decode_position_cursor, encode_position_cursor};
use crate::domain::status::LeadStatus;
use crate::domain::tenant::{Principal, Tenant};
use crate::ports::clock::Clock;
use crate::ports::store::{Expect, LeadStore, RecordWrite, StoreError, get_typed, kinds};
use crate::services::ServiceError;
use crate::services::leads::{distinct_lead_ids, get_visible_lead};
use crate::services::settings::get_stages;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyInput {
    /// A number or decimal string, at most two decimals.
    #[schema(schema_with = amount_schema)]
    #[serde(deserialize_with = "string_or_number")]
    pub amount: serde_json::Value,
    pub currency: String,
}

/// Takes a JSON string or number only, as the schema says.
fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<serde_json::Value, D::Error> {
    match serde_json::Value::deserialize(d)? {
        v @ (serde_json::Value::String(_) | serde_json::Value::Number(_)) => Ok(v),
        _ => Err(serde::de::Error::custom("amount is a number or a decimal string")),
    }
}

/// A deal amount as the API takes it: a JSON number or a decimal string.
fn amount_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Number]))
        .into()
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealInput {
    /// Defaults to "{company or name} deal".
    pub name: Option<String>,
    pub value: Option<MoneyInput>,
    /// YYYY-MM-DD.
    pub expected_close_date: Option<String>,
    /// A pipeline stage id; defaults to the first stage.
    pub stage: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConvertRequest {
    pub deal: Option<DealInput>,
    /// Convert into a prospect only.
    #[serde(default)]
    pub no_deal: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ConversionResult {
    #[schema(value_type = String)]
    pub lead_id: LeadId,
    pub prospect: Prospect,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deal: Option<Deal>,
    pub converted_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConvertOutcome {
    Converted(ConversionResult),
    /// The lead was converted before: this is that conversion.
    AlreadyConverted(ConversionResult),
    /// Dry run: the lead would convert like this (nothing was written).
    WouldConvert(ConversionResult),
}

/// Builds the deal a conversion would create, validating the caller's input.
async fn plan_deal(
    store: &dyn LeadStore,
    tenant: &Tenant,
    lead: &Lead,
    prospect_id: &str,
    req: &ConvertRequest,
    now: DateTime<Utc>,
) -> Result<Option<Deal>, ServiceError> {
    if req.no_deal {
        if req.deal.is_some() {
            return Err(FieldError::new("no_deal", "conflicting", "give a deal or no_deal, not both").into());
        }
        return Ok(None);
    }
    let input = req.deal.clone().unwrap_or_default();
    let mut errs = FieldErrors::default();
    let name = match input.name.as_deref().map(str::trim) {
        Some(n) if n.is_empty() || n.chars().count() > 200 => {
            errs.push(FieldError::new(
                "deal.name",
                "invalid_length",
                "a deal name is 1-200 characters",
            ));
            String::new()
        }
        Some(n) => n.to_owned(),
        None => format!("{} deal", lead.company.as_deref().unwrap_or(&lead.name)),
    };
    let value = match &input.value {
        None => None,
        Some(m) => match Money::parse(&m.amount, &m.currency) {
            Ok(v) => Some(v),
            Err(e) => {
                errs.0.extend(e.0);
                None
            }
        },
    };
    let expected_close_date = match input.expected_close_date.as_deref() {
        None => None,
        Some(d) => errs.take(NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| {
            FieldError::new(
                "deal.expected_close_date",
                "invalid_date",
                "expected_close_date is YYYY-MM-DD",
            )
        })),
    };
    let stages = get_stages(store, &tenant.id).await?;
    let stage = match input.stage.as_deref() {
        None => stages.first().map(|s| s.id.clone()),
        Some(wanted) => errs.take(stage_id(&stages, wanted, "deal.stage")),
    };
    if !errs.is_empty() {
        return Err(ServiceError::Validation(errs));
    }
    Ok(Some(Deal {
        id: uuid::Uuid::now_v7().to_string(),
        lead_id: lead.id,
        prospect_id: prospect_id.to_owned(),
        name,
        value,
        expected_close_date,
        stage: stage.unwrap_or_default(),
        owner: lead.owner.clone(),
        created_at: now,
        updated_at: None,
        version: 1,
    }))
}

/// A pipeline stage a person names, by id (or name, case-insensitively); the error lists them.
pub fn stage_id(
    stages: &[crate::domain::settings::PipelineStage],
    wanted: &str,
    field: &str,
) -> Result<String, FieldError> {
    let wanted = wanted.trim();
    stages
        .iter()
        .find(|s| s.id == wanted)
        .or_else(|| stages.iter().find(|s| s.name.eq_ignore_ascii_case(wanted)))
        .map(|s| s.id.clone())
        .ok_or_else(|| {
            let valid: Vec<&str> = stages.iter().map(|s| s.id.as_str()).collect();
            FieldError::new(
                field,
                "invalid_stage",
                format!("stage must be one of: {}", valid.join(", ")),
            )
        })
}

/// The result of a conversion that already happened, read back from its records.
/// A deal the caller may no longer see (it was given to another rep) is left out.
async fn existing_result(
    store: &dyn LeadStore,
    tenant: &Tenant,
    principal: &Principal,
    lead: &Lead,
) -> Result<ConversionResult, ServiceError> {
    let links = lead.conversion.as_ref().ok_or_else(|| {
        ServiceError::Store(StoreError::Corrupt(format!(
            "converted lead {} has no links",
            lead.id
        )))
    })?;
    let prospect = get_typed::<Prospect>(store, &lead.tenant, kinds::PROSPECT, &links.prospect_id)
        .await?
        .ok_or(ServiceError::NotFound { what: "prospect" })?
        .value;
    let deal = match &links.deal_id {
        None => None,
        Some(d) => get_typed::<Deal>(store, &lead.tenant, kinds::DEAL, d)
            .await?
            .map(|v| Deal {
                version: v.version,
                ..v.value
            })
            .filter(|d| visible(tenant, principal, d.owner.as_ref())),
    };
    Ok(ConversionResult {
        lead_id: lead.id,
        prospect,
        deal,
        converted_at: links.converted_at,
    })
}

fn not_convertible(e: NotConvertible) -> ServiceError {
    match e {
        NotConvertible::Status(s) => {
            ServiceError::NotConvertible(format!("only qualified leads can be converted; this lead is {s}"))
        }
        NotConvertible::Missing(errs) => ServiceError::Validation(errs),
    }
}

pub async fn convert_lead(
    store: &dyn LeadStore,
    clock: &dyn Clock,
    tenant: &Tenant,
    principal: &Principal,
    id: &LeadId,
    req: &ConvertRequest,
    dry_run: bool,
) -> Result<ConvertOutcome, ServiceError> {
    let lead = get_visible_lead(store, tenant, principal, id).await?;
    if lead.status == LeadStatus::Converted {
        return Ok(ConvertOutcome::AlreadyConverted(
            existing_result(store, tenant, principal, &lead).await?,
        ));
    }
    check_convertible(&lead).map_err(not_convertible)?;
    let now = clock.now();
    let prospect = Prospect::from_lead(uuid::Uuid::now_v7().to_string(), &lead, now);
    let deal = plan_deal(store, tenant, &lead, &prospect.id, req, now).await?;
    let result = ConversionResult {
        lead_id: lead.id,
        prospect,
        deal,
        converted_at: now,
    };
    if dry_run {
        return Ok(ConvertOutcome::WouldConvert(result));
    }
    let mut next = lead.clone();
    next.status = LeadStatus::Converted;
    next.conversion = Some(ConversionLinks {
        prospect_id: result.prospect.id.clone(),
        deal_id: result.deal.as_ref().map(|d| d.id.clone()),
        converted_at: now,
        value: result.deal.as_ref().and_then(|d| d.value.clone()),
    });
    next.updated_at = now;
    let mut records = vec![RecordWrite::typed(
        kinds::PROSPECT,
        result.prospect.id.clone(),
        &result.prospect,
        Expect::Absent,
    )?];
    if let Some(d) = &result.deal {
        records.push(RecordWrite::typed(kinds::DEAL, d.id.clone(), d, Expect::Absent)?);
    }
    let activity = Activity::new(
        tenant.id.clone(),
        lead.id,
        now,
        Actor::User {
            id: principal.user.clone(),
        },
        ActivityKind::Converted {
            prospect_id: result.prospect.id.clone(),
            deal_id: result.deal.as_ref().map(|d| d.id.clone()),
        },
    );
    match store
        .commit_lead_change(&next, &records, std::slice::from_ref(&activity))
        .await
    {
        Ok(_) => Ok(ConvertOutcome::Converted(result)),
        Err(StoreError::Conflict { .. }) => {
            // Someone changed the lead first; if they converted it, that is our answer.
            let now_lead = get_visible_lead(store, tenant, principal, id).await?;
            if now_lead.status == LeadStatus::Converted {
                Ok(ConvertOutcome::AlreadyConverted(
                    existing_result(store, tenant, principal, &now_lead).await?,
                ))
            } else {
                Err(ServiceError::VersionConflict)
            }
        }
        Err(e) => Err(e.into()),
    }
}

pub const MAX_BULK: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BulkOutcome {
    Converted,
    AlreadyConverted,
    WouldConvert,
    Skipped,
    Failed,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BulkItem {
    pub lead_id: String,
    pub outcome: BulkOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<FieldError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prospect_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deal_id: Option<String>,
}

/// Converts each lead on its own (each atomically), reporting one result per distinct id.
pub async fn convert_many(
    store: &dyn LeadStore,
    clock: &dyn Clock,
    tenant: &Tenant,
    principal: &Principal,
    ids: &[String],
    defaults: &ConvertRequest,
    dry_run: bool,
) -> Result<Vec<BulkItem>, ServiceError> {
    // Ids that are not ids are the client's mistake, refused before anything is converted;
    // one spelled two ways is converted once.
    let mut out = Vec::new();
    for (raw, id) in distinct_lead_ids(ids, MAX_BULK)? {
        let item = |outcome,
                    reason: Option<String>,
                    errors: Vec<FieldError>,
                    r: Option<&ConversionResult>| BulkItem {
            lead_id: raw.clone(),
            outcome,
            reason,
            errors,
            prospect_id: r.map(|r| r.prospect.id.clone()),
            deal_id: r.and_then(|r| r.deal.as_ref().map(|d| d.id.clone())),
        };
        out.push(
            match convert_lead(store, clock, tenant, principal, &id, defaults, dry_run).await {
                Ok(ConvertOutcome::Converted(r)) => item(BulkOutcome::Converted, None, vec![], Some(&r)),
                Ok(ConvertOutcome::AlreadyConverted(r)) => {
                    item(BulkOutcome::AlreadyConverted, None, vec![], Some(&r))
                }
                Ok(ConvertOutcome::WouldConvert(_)) => item(BulkOutcome::WouldConvert, None, vec![], None),
                Err(ServiceError::NotFound { what }) => item(
                    BulkOutcome::Skipped,
                    Some(format!("{what} not found")),
                    vec![],
                    None,
                ),
                Err(ServiceError::NotConvertible(m)) => item(BulkOutcome::Skipped, Some(m), vec![], None),
                Err(ServiceError::Validation(e)) => item(
                    BulkOutcome::Skipped,
                    Some("missing or invalid data".into()),
                    e.0,
                    None,
                ),
                Err(ServiceError::VersionConflict) => item(
                    BulkOutcome::Failed,
                    Some("the lead changed during conversion; retry".into()),
                    vec![],
                    None,
                ),
                Err(e) => {
                    tracing::error!(error = ?e, "bulk conversion of one lead failed");
                    item(
                        BulkOutcome::Failed,
                        Some("storage failed; nothing was changed for this lead".into()),
                        vec![],
                        None,
                    )
                }
            },
        );
    }
    Ok(out)
}

/// Whether `principal` may see a prospect or deal with this owner: a rep limited to their
/// own leads sees only what was converted from them (the same rule as for leads).
fn visible(tenant: &Tenant, principal: &Principal, owner: Option<&RepId>) -> bool {
    principal
        .owner_scope(&tenant.settings)
        .is_none_or(|scope| owner == Some(&scope))
}

pub async fn get_prospect(
    store: &dyn LeadStore,
    tenant: &Tenant,
    principal: &Principal,
    id: &str,
) -> Result<Prospect, ServiceError> {
    get_typed::<Prospect>(store, &tenant.id, kinds::PROSPECT, id)
        .await?
        .map(|v| v.value)
        .filter(|p| visible(tenant, principal, p.owner.as_ref()))
        .ok_or(ServiceError::NotFound { what: "prospect" })
}

pub async fn get_deal(
    store: &dyn LeadStore,
    tenant: &Tenant,
    principal: &Principal,
    id: &str,
) -> Result<Deal, ServiceError> {
    get_typed::<Deal>(store, &tenant.id, kinds::DEAL, id)
        .await?
        .map(|v| Deal {
            version: v.version,
            ..v.value
        })
        .filter(|d| visible(tenant, principal, d.owner.as_ref()))
        .ok_or(ServiceError::NotFound { what: "deal" })
}

/// Pages through records of a kind (in id order, i.e. creation order), keeping those `keep`
/// accepts, behind an opaque cursor.
async fn page_records<T: serde::de::DeserializeOwned>(
    store: &dyn LeadStore,
    tenant: &Tenant,
    kind: &str,
    cursor: Option<&str>,
    limit: u32,
    keep: impl Fn(&T) -> bool,
    versioned: impl Fn(&mut T, u64),
) -> Result<Page<T>, ServiceError> {
    let mut after = match cursor {
        Some(c) => Some(decode_position_cursor(c)?),
        None => None,
    };
    let limit = limit.clamp(1, 200) as usize;
    let mut items = Vec::new();
    loop {
        let batch = store
            .list_records(&tenant.id, kind, after.as_deref(), 500)
            .await?;
        let done = batch.len() < 500;
        for r in batch {
            after = Some(r.id.clone());
            let mut v: T = serde_json::from_value(r.body)
                .map_err(|e| ServiceError::Store(StoreError::Corrupt(format!("{kind} {}: {e}", r.id))))?;
            versioned(&mut v, r.version);
            if keep(&v) {
                items.push(v);
                if items.len() == limit {
                    return Ok(Page {
                        items,
                        next_cursor: after.as_deref().map(encode_position_cursor),
                    });
                }
            }
        }
        if done {
            return Ok(Page {
                items,
                next_cursor: None,
            });
        }
    }
}

pub async fn list_prospects(
    store: &dyn LeadStore,
    tenant: &Tenant,
    principal: &Principal,
    owner: Option<&RepId>,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<Prospect>, ServiceError> {
    let keep = |p: &Prospect| {
        owner.is_none_or(|o| p.owner.as_ref() == Some(o)) && visible(tenant, principal, p.owner.as_ref())
    };
    page_records(store, tenant, kinds::PROSPECT, cursor, limit, keep, |_, _| {}).await
}

/// Which deals a list shows: any of these owners and any of these stages (none: all).
#[derive(Debug, Clone, Default)]
pub struct DealFilter {
    pub owners: Vec<RepId>,
    pub stages: Vec<String>,
}

impl DealFilter {
    /// The filter from `owner` and `stage` as people write them: several values,
    /// comma-separated; reps and stages by id or name.
    pub async fn parse(
        store: &dyn LeadStore,
        tenant: &Tenant,
        owner: Option<&str>,
        stage: Option<&str>,
    ) -> Result<Self, ServiceError> {
        let values = |v: Option<&str>| -> Vec<String> {
            v.unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let mut f = DealFilter::default();
        let mut errs = FieldErrors::default();
        let owners = values(owner);
        if !owners.is_empty() {
            let reps = crate::services::reps::list_reps(store, &tenant.id).await?;
            for o in owners {
                match crate::domain::rep::find_rep(&reps, &o) {
                    Some(r) => f.owners.push(r.id.clone()),
                    None => errs.push(FieldError::new(
                        "owner",
                        "unknown_owner",
                        "no rep has this id or name, or several share it (use the id)",
                    )),
                }
            }
        }
        let stages = values(stage);
        if !stages.is_empty() {
            let all = get_stages(store, &tenant.id).await?;
            for s in stages {
                if let Some(id) = errs.take(stage_id(&all, &s, "stage")) {
                    f.stages.push(id);
                }
            }
        }
        Ok(errs.into_result(|| f)?)
    }

    fn keeps(&self, d: &Deal) -> bool {
        (self.owners.is_empty() || d.owner.as_ref().is_some_and(|o| self.owners.contains(o)))
            && (self.stages.is_empty() || self.stages.contains(&d.stage))
    }
}

pub async fn list_deals(
    store: &dyn LeadStore,
    tenant: &Tenant,
    principal: &Principal,
    filter: &DealFilter,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<Deal>, ServiceError> {
    let keep = |d: &Deal| filter.keeps(d) && visible(tenant, principal, d.owner.as_ref());
    let versioned = |d: &mut Deal, v| d.version = v;
    page_records(store, tenant, kinds::DEAL, cursor, limit, keep, versioned).await
}
