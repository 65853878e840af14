//! What a row does to the stored lead it matched, under the duplicate policy `update`.
//!
//! The row becomes a `LeadPatch` and goes through `services::lead_patch::apply_patch`, the rule the
//! API's PATCH uses: every changed value is validated as on create, and a status cell must be
//! a move the status machine allows. What is import-specific lives here:
//! - an empty cell never clears a value (a file cannot say "no phone" with a blank);
//! - the row needs no name or source: the lead has them;
//! - tags add to the lead's tags; custom values merge by key; the address merges by part;
//! - a converted lead is never overwritten (the caller checks `is_converted` first).

use crate::domain::data_quality::{self, DataQuality};
use crate::domain::error::FieldError;
use crate::domain::lead::{Lead, LeadContext, LeadInput};
use crate::domain::status::LeadStatus;
use crate::services::ServiceError;
use crate::services::lead_patch::{LeadPatch, apply_patch};
use chrono::{DateTime, Utc};

fn non_blank(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The patch a row stands for: only its non-empty cells.
pub fn row_patch(input: &LeadInput, lead: &Lead) -> LeadPatch {
    let set = |v: &Option<String>| non_blank(v).map(Some);
    let joined = [non_blank(&input.first_name), non_blank(&input.last_name)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let mut address = lead.address.clone();
    let a = &input.address;
    for (dst, src) in [
        (&mut address.street, &a.street),
        (&mut address.city, &a.city),
        (&mut address.state, &a.state),
        (&mut address.country, &a.country),
        (&mut address.postal_code, &a.postal_code),
    ] {
        if let Some(v) = non_blank(src) {
            *dst = Some(v);
        }
    }
    let tags = (!input.tags.is_empty()).then(|| {
        let mut all: Vec<String> = lead.tags.iter().map(|t| t.to_string()).collect();
        all.extend(input.tags.iter().cloned());
        all
    });
    LeadPatch {
        name: non_blank(&input.name).or_else(|| (!joined.is_empty()).then_some(joined)),
        email: set(&input.email),
        phone: set(&input.phone),
        mobile: set(&input.mobile),
        company: set(&input.company),
        position: set(&input.position),
        website: set(&input.website),
        company_number: set(&input.company_number),
        tax_id: set(&input.tax_id),
        address: (address != lead.address).then_some(address),
        source: non_blank(&input.source),
        status: non_blank(&input.status),
        owner: set(&input.owner),
        tags,
        custom: (!input.custom.is_empty()).then(|| input.custom.clone()),
        version: None,
        unqualified_reason: non_blank(&input.unqualified_reason).map(Some),
    }
}

/// The lead after the row, or the row's errors (an illegal status move names the allowed
/// ones). Under `keep_flagged`, malformed contact values (or an owner who is no rep) are
/// kept aside in the lead's `data_warnings` and the rest of the row applies, as for a new
/// lead.
pub fn updated_lead(
    lead: &Lead,
    input: &LeadInput,
    ctx: &LeadContext,
    now: DateTime<Utc>,
    quality: DataQuality,
) -> Result<Lead, Vec<FieldError>> {
    match apply_row(lead, input, ctx, now) {
        Err(errs) if quality == DataQuality::KeepFlagged && data_quality::all_keepable(&errs) => {
            let mut kept = input.clone();
            let warnings = data_quality::set_aside(&mut kept, &errs);
            let mut next = apply_row(lead, &kept, ctx, now).map_err(|_| errs)?;
            next.data_warnings.extend(warnings);
            Ok(next)
        }
        other => other,
    }
}

fn apply_row(
    lead: &Lead,
    input: &LeadInput,
    ctx: &LeadContext,
    now: DateTime<Utc>,
) -> Result<Lead, Vec<FieldError>> {
    match apply_patch(lead, &row_patch(input, lead), ctx, now) {
        Ok(next) => Ok(next),
        Err(ServiceError::Validation(errs)) => Err(errs.0),
        Err(ServiceError::Transition(t)) => Err(vec![FieldError::new(
            "status",
            "illegal_transition",
            t.to_string(),
        )]),
        Err(other) => Err(vec![FieldError::new("row", "invalid", other.to_string())]),
    }
}

pub fn is_converted(lead: &Lead) -> bool {
    lead.status == LeadStatus::Converted
}

/// The top-level fields that differ (not the bookkeeping ones): what an update changed.
pub fn changed_fields(before: &Lead, after: &Lead) -> Vec<String> {
    const BOOKKEEPING: [&str; 3] = ["version", "updated_at", "last_activity_at"];
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return vec![];
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| !BOOKKEEPING.contains(&k.as_str()) && a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}
