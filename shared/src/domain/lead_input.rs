//! Parsing a lead at the edge. `LeadInput` is what arrives (JSON, a form, a spreadsheet row):
//! loose strings. `NewLead::parse` turns it into parsed values against the tenant's context
//! (`LeadContext`: region, sources, custom fields, reps), reporting every bad field at once.

use super::lead::{Address, Provenance, Tag};
use crate::domain::custom_field::{CustomFieldDef, CustomValue, parse_custom_values};
use crate::domain::data_quality::DataWarning;
use crate::domain::email::Email;
use crate::domain::error::{FieldError, FieldErrors};
use crate::domain::ids::{LeadId, RepId, SourceId};
use crate::domain::phone::{Phone, Region};
use crate::domain::rep::{Rep, find_rep};
use crate::domain::source::{Source, resolve_source};
use crate::domain::status::LeadStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Loose input, as any edge receives it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0958",
                          "company": "Analytical Engines Ltd", "source": "referral", "tags": ["vip"]}))]
pub struct LeadInput {
    /// The new lead's id, chosen by the caller (a UUID): one kept from the system the lead
    /// comes from, or one a script names again later. A new one (UUIDv7) when absent; an id a
    /// lead of the tenant already has is refused. Read on create only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<LeadId>,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub company: Option<String>,
    pub position: Option<String>,
    pub website: Option<String>,
    pub company_number: Option<String>,
    pub tax_id: Option<String>,
    #[serde(default)]
    pub address: Address,
    pub source: Option<String>,
    pub status: Option<String>,
    /// With status `unqualified`: one of the tenant's reasons (required if it says so).
    #[serde(default)]
    pub unqualified_reason: Option<String>,
    pub owner: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub custom: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub provenance: Provenance,
}

/// A validated lead, not yet stored (no id, times or version).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewLead {
    pub name: String,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    pub mobile: Option<Phone>,
    pub company: Option<String>,
    pub position: Option<String>,
    pub website: Option<String>,
    pub company_number: Option<String>,
    pub tax_id: Option<String>,
    pub address: Address,
    pub source: SourceId,
    pub status: LeadStatus,
    pub unqualified_reason: Option<String>,
    pub owner: Option<RepId>,
    pub tags: BTreeSet<Tag>,
    pub custom: BTreeMap<String, CustomValue>,
    pub provenance: Provenance,
    /// Values kept aside (`NewLead::parse_with`).
    pub data_warnings: Vec<DataWarning>,
    /// A migrated lead's own dates (imports); `None`: now.
    pub created_at: Option<DateTime<Utc>>,
    pub last_activity_at: Option<DateTime<Utc>>,
}

/// What parsing needs to know about the tenant.
#[derive(Debug, Clone, Default)]
pub struct LeadContext {
    /// Leads created before this and still awaiting their first response are overdue: now
    /// less the tenant's response SLA, when the context was read.
    pub overdue_cutoff: DateTime<Utc>,
    pub region: Region,
    pub sources: Vec<Source>,
    pub custom_fields: Vec<CustomFieldDef>,
    pub reps: Vec<Rep>,
    pub unqualified: crate::domain::unqualified::UnqualifiedPolicy,
}

fn non_blank(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Trims an optional text field and checks its length.
fn text(errs: &mut FieldErrors, field: &str, v: &Option<String>, max: usize) -> Option<String> {
    let s = non_blank(v)?;
    if s.chars().count() > max {
        errs.push(FieldError::new(
            field,
            "too_long",
            format!("{field} is longer than {max} characters"),
        ));
        return None;
    }
    // Line breaks (LF or CRLF) and tabs are fine in multi-line fields such as a street address.
    if s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        errs.push(FieldError::new(
            field,
            "invalid_characters",
            format!("{field} contains control characters"),
        ));
        return None;
    }
    Some(s.to_owned())
}

pub const MAX_NAME_LEN: usize = 200;
pub const MAX_TAGS: usize = 50;

impl NewLead {
    pub fn parse(input: &LeadInput, ctx: &LeadContext) -> Result<NewLead, FieldErrors> {
        let mut errs = FieldErrors::default();

        let joined = [non_blank(&input.first_name), non_blank(&input.last_name)]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let raw_name = non_blank(&input.name)
            .map(str::to_owned)
            .or_else(|| (!joined.is_empty()).then_some(joined));
        let name = match raw_name {
            None => {
                errs.push(FieldError::new(
                    "name",
                    "required",
                    "name is required (or first_name and last_name)",
                ));
                None
            }
            Some(n) => text(&mut errs, "name", &Some(n), MAX_NAME_LEN),
        };

        let email = non_blank(&input.email).and_then(|e| errs.take(Email::parse(e)));
        let phone =
            non_blank(&input.phone).and_then(|p| errs.take(Phone::parse_field(p, ctx.region, "phone")));
        let mobile =
            non_blank(&input.mobile).and_then(|p| errs.take(Phone::parse_field(p, ctx.region, "mobile")));
        let contact_given = [&input.email, &input.phone, &input.mobile]
            .iter()
            .any(|v| non_blank(v).is_some());
        if !contact_given {
            errs.push(FieldError::new(
                "email",
                "required",
                "a lead needs an email or a phone number",
            ));
        }

        let source = match non_blank(&input.source) {
            None => {
                errs.push(FieldError::new("source", "required", "source is required"));
                None
            }
            Some(s) => errs.take(resolve_source(&ctx.sources, s).map(|s| s.id.clone())),
        };

        let status = match non_blank(&input.status) {
            None => Some(LeadStatus::New),
            Some(s) => match LeadStatus::parse(s) {
                Ok(LeadStatus::Converted) => {
                    errs.push(FieldError::new(
                        "status",
                        "invalid_status",
                        "a lead is converted only through conversion",
                    ));
                    None
                }
                other => errs.take(other),
            },
        };

        // A new lead is held to the tenant's reasons as a change to unqualified is.
        let unqualified_reason = match status {
            Some(LeadStatus::Unqualified) => errs
                .take(ctx.unqualified.reason_for(input.unqualified_reason.as_deref()))
                .flatten(),
            _ => {
                if non_blank(&input.unqualified_reason).is_some() {
                    errs.push(FieldError::new(
                        "unqualified_reason",
                        "not_unqualified",
                        "a reason goes with status unqualified",
                    ));
                }
                None
            }
        };

        // By id or by name, as a list filter takes it.
        let owner = non_blank(&input.owner).and_then(|o| match find_rep(&ctx.reps, o) {
            Some(r) if r.active => Some(r.id.clone()),
            _ => {
                errs.push(FieldError::new(
                    "owner",
                    "unknown_owner",
                    format!("owner '{o}' is not an active rep of this tenant, or names several (use the id)"),
                ));
                None
            }
        });

        let mut tags = BTreeSet::new();
        for t in input.tags.iter().filter(|t| !t.trim().is_empty()) {
            if let Some(tag) = errs.take(Tag::parse(t)) {
                tags.insert(tag);
            }
        }
        if tags.len() > MAX_TAGS {
            errs.push(FieldError::new(
                "tags",
                "too_many",
                format!("at most {MAX_TAGS} tags"),
            ));
        }

        let custom = match parse_custom_values(&ctx.custom_fields, &input.custom) {
            Ok(c) => c,
            Err(e) => {
                errs.0.extend(e.0);
                BTreeMap::new()
            }
        };

        let company = text(&mut errs, "company", &input.company, 200);
        let position = text(&mut errs, "position", &input.position, 200);
        let website = text(&mut errs, "website", &input.website, 2048);
        if website
            .as_deref()
            .is_some_and(|w| w.contains(char::is_whitespace))
        {
            errs.push(FieldError::new(
                "website",
                "invalid_url",
                "website must not contain spaces",
            ));
        }
        let company_number = text(&mut errs, "company_number", &input.company_number, 64);
        let tax_id = text(&mut errs, "tax_id", &input.tax_id, 64);
        let a = &input.address;
        let address = Address {
            street: text(&mut errs, "address.street", &a.street, 300),
            city: text(&mut errs, "address.city", &a.city, 120),
            state: text(&mut errs, "address.state", &a.state, 120),
            country: text(&mut errs, "address.country", &a.country, 120),
            postal_code: text(&mut errs, "address.postal_code", &a.postal_code, 32),
        };

        input.provenance.check(&mut errs);

        if !errs.is_empty() {
            return Err(errs);
        }
        // Every None below the early return is an optional field; the required ones pushed an error.
        let (Some(name), Some(source), Some(status)) = (name, source, status) else {
            return Err(errs);
        };
        Ok(NewLead {
            name,
            email,
            phone,
            mobile,
            company,
            position,
            website,
            company_number,
            tax_id,
            address,
            source,
            status,
            unqualified_reason,
            owner,
            tags,
            custom,
            provenance: input.provenance.clone(),
            data_warnings: vec![],
            created_at: None,
            last_activity_at: None,
        })
    }
}
