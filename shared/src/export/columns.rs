//! The export's columns (the import template's, or a chosen subset in a chosen order) and
//! the text of each cell, written the way the import reads it back: E.164 phones, source
//! names, status names, rep ids, tags joined by `; `, custom values in their import format.

use crate::domain::custom_field::CustomValue;
use crate::domain::error::FieldError;
use crate::domain::lead::{Lead, LeadContext};
use crate::domain::lead_field::{self, LeadField};
use crate::import::template::template_columns;

/// What one column shows: a lead field of the table, or a custom field by key.
#[derive(Clone)]
enum Field {
    Lead(&'static LeadField),
    Custom(String),
}

impl std::fmt::Debug for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Field::Lead(l) => write!(f, "Lead({})", l.key),
            Field::Custom(k) => write!(f, "Custom({k})"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ExportColumns {
    headers: Vec<String>,
    fields: Vec<Field>,
}

impl ExportColumns {
    /// The template's columns, or the `chosen` ones (matched case-insensitively, in the order
    /// given). An unknown or repeated column is an error that lists the valid ones.
    pub fn resolve(ctx: &LeadContext, chosen: Option<&[String]>) -> Result<Self, FieldError> {
        let template: Vec<String> = template_columns(ctx).into_iter().map(|c| c.header).collect();
        let all: Vec<String> = template
            .iter()
            .cloned()
            .chain(lead_field::extra_export_fields().filter_map(|f| f.column.map(str::to_owned)))
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
                lead_field::by_column(h).map(Field::Lead).unwrap_or_else(|| {
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
        self.fields
            .iter()
            .map(|f| match f {
                Field::Lead(field) => (field.cell)(lead, ctx),
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
