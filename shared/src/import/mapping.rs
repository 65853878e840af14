//! Header and row mapping for imports. Headers match lead fields by the same synonyms as
//! capture ("E-mail", "First Name", "Mobile", "Designation"…), plus the columns only files
//! have (source, status, owner, tags), plus custom fields by key or label.

use crate::domain::capture::{normalize_name, synonym};
use crate::domain::custom_field::CustomFieldDef;
use crate::domain::lead::LeadInput;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "target", rename_all = "snake_case")]
pub enum Column {
    Field(&'static str),
    Custom(String),
    Unknown,
}

fn import_synonym(norm: &str) -> Option<&'static str> {
    Some(match norm {
        "source" | "leadsource" | "origin" | "channel" => "source",
        "status" | "leadstatus" | "stage" => "status",
        "owner" | "leadowner" | "assignedto" | "rep" | "salesrep" | "contactowner" => "owner",
        "tags" | "tag" | "labels" | "label" => "tags",
        _ => return None,
    })
}

/// Maps every header to a lead field, a custom field, or nothing. A field is taken by the
/// first column that names it: a repeated header ("Email" twice, or "Email" and "E-mail")
/// is reported as unknown rather than letting the later cell silently win.
pub fn map_headers(headers: &[String], defs: &[CustomFieldDef]) -> Vec<Column> {
    let mut taken = std::collections::HashSet::new();
    headers
        .iter()
        .map(|h| {
            let norm = normalize_name(h);
            let col = if let Some(f) = import_synonym(&norm).or_else(|| synonym(&norm)) {
                Column::Field(f)
            } else {
                defs.iter()
                    .find(|d| normalize_name(&d.key) == norm || normalize_name(&d.label) == norm)
                    .map(|d| Column::Custom(d.key.clone()))
                    .unwrap_or(Column::Unknown)
            };
            match col {
                Column::Unknown => Column::Unknown,
                c if taken.insert(c.clone()) => c,
                _ => Column::Unknown,
            }
        })
        .collect()
}

/// How many columns map to something: a row that maps none cannot be the header.
pub fn known_columns(columns: &[Column]) -> usize {
    columns.iter().filter(|c| **c != Column::Unknown).count()
}

/// The lead input of one row. Empty cells are absent; tags split on `;` or `,`.
pub fn row_input(columns: &[Column], row: &[String], default_source: Option<&str>) -> LeadInput {
    let mut input = LeadInput::default();
    let mut custom = BTreeMap::new();
    for (col, cell) in columns.iter().zip(row) {
        // Cells an export quoted against formula injection stand for their unquoted value.
        let v = crate::cells::restore(cell.trim());
        if v.is_empty() {
            continue;
        }
        let s = Some(v.to_owned());
        match col {
            Column::Field("name") => input.name = s,
            Column::Field("first_name") => input.first_name = s,
            Column::Field("last_name") => input.last_name = s,
            Column::Field("email") => input.email = s,
            Column::Field("phone") => input.phone = s,
            Column::Field("mobile") => input.mobile = s,
            Column::Field("company") => input.company = s,
            Column::Field("position") => input.position = s,
            Column::Field("website") => input.website = s,
            Column::Field("company_number") => input.company_number = s,
            Column::Field("tax_id") => input.tax_id = s,
            Column::Field("street") => input.address.street = s,
            Column::Field("city") => input.address.city = s,
            Column::Field("state") => input.address.state = s,
            Column::Field("country") => input.address.country = s,
            Column::Field("postal_code") => input.address.postal_code = s,
            Column::Field("source") => input.source = s,
            Column::Field("status") => input.status = s,
            Column::Field("owner") => input.owner = s,
            Column::Field("tags") => {
                input.tags = v
                    .split([';', ','])
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty())
                    .collect()
            }
            Column::Field("utm_source") => input.provenance.utm.source = s,
            Column::Field("utm_medium") => input.provenance.utm.medium = s,
            Column::Field("utm_campaign") => input.provenance.utm.campaign = s,
            Column::Field("utm_term") => input.provenance.utm.term = s,
            Column::Field("utm_content") => input.provenance.utm.content = s,
            Column::Field("gclid") => input.provenance.gclid = s,
            Column::Field("fbclid") => input.provenance.fbclid = s,
            Column::Field("page_url") => input.provenance.page_url = s,
            Column::Field("referrer") => input.provenance.referrer = s,
            Column::Field("consent") => input.provenance.consent_text = s,
            Column::Custom(key) => {
                custom.insert(key.clone(), serde_json::Value::String(v.to_owned()));
            }
            Column::Field(_) | Column::Unknown => {}
        }
    }
    if input.source.is_none() {
        input.source = default_source.map(str::to_owned);
    }
    input.custom = custom;
    input.provenance.channel = "import".into();
    input
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::custom_field::CustomFieldType;

    #[test]
    fn when_headers_come_from_other_crms_should_map_them() {
        let defs = vec![CustomFieldDef {
            key: "budget".into(),
            label: "Annual Budget".into(),
            field_type: CustomFieldType::Number,
            required: false,
            options: vec![],
        }];
        let headers: Vec<String> = [
            "First Name",
            "Last Name",
            "Email Address",
            "Lead Source",
            "Mobile",
            "Designation",
            "Annual Budget",
            "Lead Status",
            "Fax",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let cols = map_headers(&headers, &defs);
        assert_eq!(
            cols,
            [
                Column::Field("first_name"),
                Column::Field("last_name"),
                Column::Field("email"),
                Column::Field("source"),
                Column::Field("mobile"),
                Column::Field("position"),
                Column::Custom("budget".into()),
                Column::Field("status"),
                Column::Unknown,
            ]
        );
        let row: Vec<String> = [
            "Ana",
            "Ruiz",
            "ana@x.es",
            "",
            "+34 600 000 000",
            "CTO",
            "1200",
            "Contacted",
            "123",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let input = row_input(&cols, &row, Some("referral"));
        assert_eq!(input.source.as_deref(), Some("referral"));
        assert_eq!(input.custom["budget"], serde_json::json!("1200"));
        assert_eq!(input.status.as_deref(), Some("Contacted"));
    }
}
