//! Data quality without losing leads. A person with a usable identity (a name and at least one
//! valid email or phone) is not refused because another contact value is malformed: the
//! value is kept as given in the lead's `data_warnings` and the lead is flagged
//! (`GET /v1/leads?has_warnings=true`). Which intake paths keep and which refuse is a policy
//! (`DataQuality`): capture keeps by default, an import in `valid_rows` keeps by default, the
//! API's own create and PATCH refuse (their caller can fix the value and send it again).

use crate::domain::error::FieldErrors;
use crate::domain::lead::{LeadContext, LeadInput, NewLead};
use serde::{Deserialize, Serialize};

/// A value kept as given because it did not parse, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DataWarning {
    /// The field the value was given for (`email`, `phone`, `mobile`, `website`, `created_at`…).
    pub field: String,
    /// The value as given (at most `MAX_KEPT` characters).
    pub value: String,
    /// Why it was not taken, as a code (`invalid_email`, `invalid_phone`, `future_date`…).
    pub code: String,
    pub message: String,
}

/// The longest value a warning keeps; longer ones are cut (inputs are bounded anyway).
pub const MAX_KEPT: usize = 500;

impl DataWarning {
    pub fn new(field: &str, value: &str, code: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            value: value.chars().take(MAX_KEPT).collect(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// What an intake path does with a malformed contact value of an otherwise usable lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DataQuality {
    /// Keep the lead without the value; the value goes to `data_warnings`.
    #[default]
    KeepFlagged,
    /// Refuse the lead (a row error, a failed capture).
    Reject,
}

/// The fields whose malformed value can be kept aside instead of refusing the lead (an owner
/// named by another system that is none of the tenant's reps: the lead goes to the rotation).
const KEEPABLE: &[&str] = &["email", "phone", "mobile", "website", "owner"];

fn slot<'a>(input: &'a mut LeadInput, field: &str) -> Option<&'a mut Option<String>> {
    Some(match field {
        "email" => &mut input.email,
        "phone" => &mut input.phone,
        "mobile" => &mut input.mobile,
        "website" => &mut input.website,
        "owner" => &mut input.owner,
        _ => return None,
    })
}

/// Whether every error is a malformed value of a field that can be kept aside.
pub fn all_keepable(errs: &[crate::domain::error::FieldError]) -> bool {
    !errs.is_empty()
        && errs
            .iter()
            .all(|e| KEEPABLE.contains(&e.field.as_str()) && e.code != "required")
}

/// Takes the values the errors are about out of `input`, as warnings.
pub fn set_aside(input: &mut LeadInput, errs: &[crate::domain::error::FieldError]) -> Vec<DataWarning> {
    let mut warnings = Vec::new();
    for e in errs {
        if let Some(value) = slot(input, &e.field).and_then(Option::take) {
            warnings.push(DataWarning::new(
                &e.field,
                value.trim(),
                e.code,
                e.message.clone(),
            ));
        }
    }
    warnings
}

impl NewLead {
    /// Parses under `policy`. Under `KeepFlagged`, when the only errors are malformed contact
    /// values and what remains is a usable identity (a name and a valid email or phone), the
    /// lead parses without those values and carries them as warnings; otherwise the errors
    /// stand, all of them.
    pub fn parse_with(
        input: &LeadInput,
        ctx: &LeadContext,
        policy: DataQuality,
    ) -> Result<NewLead, FieldErrors> {
        let errs = match NewLead::parse(input, ctx) {
            Ok(n) => return Ok(n),
            Err(e) => e,
        };
        if policy == DataQuality::Reject || !all_keepable(&errs.0) {
            return Err(errs);
        }
        let mut kept = input.clone();
        let warnings = set_aside(&mut kept, &errs.0);
        match NewLead::parse(&kept, ctx) {
            Ok(mut n) if n.email.is_some() || n.phone.is_some() || n.mobile.is_some() => {
                n.data_warnings = warnings;
                Ok(n)
            }
            _ => Err(errs),
        }
    }
}
