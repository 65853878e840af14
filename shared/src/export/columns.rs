//! The export's columns (the import template's, or a chosen subset in a chosen order) and
//! the text of each cell, written the way the import reads it back: E.164 phones, source
//! names, status names, rep ids, tags joined by `; `, custom values in their import format.

use crate::domain::custom_field::CustomValue;
use crate::domain::error::FieldError;
use crate::domain::lead::{Lead, LeadContext};
use crate::domain::rep::rep_name;
use crate::domain::source::source_name;
use crate::import::template::template_columns;

/// What one column shows.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Name,
    Email,
    Phone,
    Mobile,
    Company,
    Position,
    Website,
    CompanyNumber,
    TaxId,
    Street,
    City,
    State,
    Country,
    PostalCode,
    Source,
    Status,
    Owner,
    Tags,
    Custom(String),
    Id,
    Created,
    LastActivity,
    OwnerName,
}

/// Columns an export adds when asked for by name, after the template's: what a report needs
/// and an import does not read back (the default export stays the template, so it imports).
const EXTRA: [(&str, Field); 4] = [
    ("ID", Field::Id),
    ("Created", Field::Created),
    ("Last Activity", Field::LastActivity),
    ("Owner Name", Field::OwnerName),
];

#[derive(Debug, Clone)]
pub struct ExportColumns {
    headers: Vec<String>,
    fields: Vec<Field>,
}

fn fixed(header: &str) -> Option<Field> {
    Some(match header {
        "Name" => Field::Name,
        "Email" => Field::Email,
        "Phone" => Field::Phone,
        "Mobile" => Field::Mobile,
        "Company" => Field::Company,
        "Position" => Field::Position,
        "Website" => Field::Website,
        "Company Number" => Field::CompanyNumber,
        "Tax ID" => Field::TaxId,
        "Street" => Field::Street,
        "City" => Field::City,
        "State" => Field::State,
        "Country" => Field::Country,
        "Postal Code" => Field::PostalCode,
        "Lead Source" => Field::Source,
        "Lead Status" => Field::Status,
        "Owner" => Field::Owner,
        "Tags" => Field::Tags,
        _ => return EXTRA.iter().find(|(h, _)| *h == header).map(|(_, f)| f.clone()),
    })
}

impl ExportColumns {
    /// The template's columns, or the `chosen` ones (matched case-insensitively, in the order
    /// given). An unknown or repeated column is an error that lists the valid ones.
    pub fn resolve(ctx: &LeadContext, chosen: Option<&[String]>) -> Result<Self, FieldError> {
        let template: Vec<String> = template_columns(ctx).into_iter().map(|c| c.header).collect();
        let all: Vec<String> = template
            .iter()
            .cloned()
            .chain(EXTRA.iter().map(|(h, _)| (*h).to_owned()))
            .collect();
        let headers: Vec<String> = match chosen {
            None => template,
            Some([]) => {
                return Err(FieldError::new(
                    "columns",
                    "empty",
                    "columns, when given, lists at least one column",
                ));
            }
            Some(list) => {
                let mut out: Vec<String> = Vec::with_capacity(list.len());
                for want in list {
                    let Some(h) = all.iter().find(|h| h.eq_ignore_ascii_case(want.trim())) else {
                        return Err(FieldError::new(
                            "columns",
                            "unknown_column",
                            format!("unknown column '{want}'; valid columns: {}", all.join(", ")),
                        ));
                    };
                    if out.contains(h) {
                        return Err(FieldError::new(
                            "columns",
                            "duplicate_column",
                            format!("column '{h}' is listed twice"),
                        ));
                    }
                    out.push(h.clone());
                }
                out
            }
        };
        let fields = headers
            .iter()
            .map(|h| {
                fixed(h).unwrap_or_else(|| {
                    // Template columns past the fixed ones are custom fields, by label.
                    let key = ctx
                        .custom_fields
                        .iter()
                        .find(|d| d.label == *h)
                        .map(|d| d.key.clone())
                        .unwrap_or_default();
                    Field::Custom(key)
                })
            })
            .collect();
        Ok(Self { headers, fields })
    }

    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The lead's cells, unquoted (the writers neutralize them).
    pub fn cells(&self, lead: &Lead, ctx: &LeadContext) -> Vec<String> {
        fn opt(v: &Option<String>) -> String {
            v.clone().unwrap_or_default()
        }
        self.fields
            .iter()
            .map(|f| match f {
                Field::Name => lead.name.clone(),
                Field::Email => lead.email.as_ref().map(|e| e.to_string()).unwrap_or_default(),
                Field::Phone => lead.phone.as_ref().map(|p| p.to_string()).unwrap_or_default(),
                Field::Mobile => lead.mobile.as_ref().map(|p| p.to_string()).unwrap_or_default(),
                Field::Company => opt(&lead.company),
                Field::Position => opt(&lead.position),
                Field::Website => opt(&lead.website),
                Field::CompanyNumber => opt(&lead.company_number),
                Field::TaxId => opt(&lead.tax_id),
                Field::Street => opt(&lead.address.street),
                Field::City => opt(&lead.address.city),
                Field::State => opt(&lead.address.state),
                Field::Country => opt(&lead.address.country),
                Field::PostalCode => opt(&lead.address.postal_code),
                Field::Source => source_name(&ctx.sources, &lead.source),
                Field::Status => lead.status.as_str().to_owned(),
                Field::Owner => lead.owner.as_ref().map(|o| o.to_string()).unwrap_or_default(),
                Field::Tags => lead
                    .tags
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
                Field::Id => lead.id.to_string(),
                Field::Created => lead.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                Field::LastActivity => lead
                    .last_activity_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                Field::OwnerName => lead
                    .owner
                    .as_ref()
                    .map(|o| rep_name(&ctx.reps, o))
                    .unwrap_or_default(),
                Field::Custom(key) => match lead.custom.get(key) {
                    None => String::new(),
                    Some(CustomValue::Bool(b)) => b.to_string(),
                    // Rust prints the shortest text that parses back to the same f64.
                    Some(CustomValue::Number(n)) => n.to_string(),
                    Some(CustomValue::Text(t)) => t.clone(),
                },
            })
            .collect()
    }
}
