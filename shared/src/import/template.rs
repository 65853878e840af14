//! The import template: every column an import understands (custom fields included), the
//! valid values of the dropdown columns (sources, statuses, owners, select custom fields), and
//! an example row that imports cleanly. The export uses the same columns, so an export
//! re-imports cleanly.
//!
//! How the CSV says the valid values: its first line is a title row, `Valid values (the import
//! skips this row)` and then `one of: a | b | c` under each dropdown column. The import finds
//! the header below it as it finds any header under a title (`pipeline::open_table`); the
//! `one of:` prefix keeps a one-value list from reading as a column name. The XLSX puts them
//! in dropdowns and on a "Valid values" sheet instead.

use crate::domain::custom_field::CustomFieldType;
use crate::domain::lead::LeadContext;
use crate::domain::lead_field;
use crate::domain::status::LeadStatus;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TemplateColumn {
    pub header: String,
    /// For dropdown columns, the values allowed; empty for free text.
    pub valid_values: Vec<String>,
    /// The example row's cell: a value this column takes.
    pub example: String,
}

/// The CSV's title row starts with this; its cells say `one of: …`.
pub const VALID_VALUES_TITLE: &str = "Valid values (the import skips this row)";

pub fn template_columns(ctx: &LeadContext) -> Vec<TemplateColumn> {
    let mut cols: Vec<TemplateColumn> = lead_field::template_fields()
        .map(|f| TemplateColumn {
            header: f.column.unwrap_or(f.key).to_owned(),
            example: f.example.to_owned(),
            valid_values: match f.key {
                "source" => ctx
                    .sources
                    .iter()
                    .filter(|s| !s.retired)
                    .map(|s| s.name.clone())
                    .collect(),
                "status" => LeadStatus::ALL
                    .iter()
                    .filter(|s| **s != LeadStatus::Converted)
                    .map(|s| s.as_str().to_owned())
                    .collect(),
                "owner" => ctx
                    .reps
                    .iter()
                    .filter(|r| r.active)
                    .map(|r| r.id.to_string())
                    .collect(),
                _ => vec![],
            },
        })
        .collect();
    for d in &ctx.custom_fields {
        let valid_values = match d.field_type {
            CustomFieldType::Select => d.options.clone(),
            CustomFieldType::Boolean => vec!["true".into(), "false".into()],
            _ => vec![],
        };
        let example = match d.field_type {
            CustomFieldType::Select | CustomFieldType::Boolean => String::new(),
            CustomFieldType::Number => "100".into(),
            CustomFieldType::Date => "2026-01-15".into(),
            CustomFieldType::Text => "example".into(),
        };
        cols.push(TemplateColumn {
            header: d.label.clone(),
            valid_values,
            example,
        });
    }
    // A dropdown's example is its first valid value (the owner stays empty: round robin).
    let owner_column = lead_field::by_key("owner", lead_field::Reach::File).and_then(|f| f.column);
    for c in cols
        .iter_mut()
        .filter(|c| c.example.is_empty() && Some(c.header.as_str()) != owner_column)
    {
        if let Some(first) = c.valid_values.first() {
            c.example = first.clone();
        }
    }
    cols
}

/// The CSV template: the valid-values title row, the header, the example row.
pub fn template_csv(cols: &[TemplateColumn]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Cells are neutralized as an export's are (a source named "=cmd" must not run in a
    // spreadsheet); the import restores them.
    let safe = |v: &str| crate::cells::neutralize(v).into_owned();
    let title = cols
        .iter()
        .enumerate()
        .map(|(i, c)| match (i, c.valid_values.is_empty()) {
            (0, _) => VALID_VALUES_TITLE.to_owned(),
            (_, true) => String::new(),
            (_, false) => safe(&format!("one of: {}", c.valid_values.join(" | "))),
        });
    let _ = w.write_record(title);
    let _ = w.write_record(cols.iter().map(|c| safe(&c.header)));
    let _ = w.write_record(cols.iter().map(|c| safe(&c.example)));
    w.into_inner().unwrap_or_default()
}

/// An XLSX template: the header row, the example row, dropdowns on the columns with valid
/// values (for 10,000 rows), and a "Valid values" sheet listing them.
pub fn template_xlsx(cols: &[TemplateColumn]) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{DataValidation, Format, Workbook};
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = wb.add_worksheet().set_name("Leads")?;
    for (i, c) in cols.iter().enumerate() {
        sheet.write_string_with_format(0, i as u16, &c.header, &bold)?;
        sheet.write_string(1, i as u16, &c.example)?;
        sheet.set_column_width(i as u16, (c.header.len() as f64 + 4.0).max(14.0))?;
    }
    for (i, c) in cols.iter().enumerate() {
        let joined = c.valid_values.join(",");
        // Excel limits an inline list to 255 characters; longer lists stay on the other sheet.
        if !c.valid_values.is_empty() && joined.len() <= 255 {
            let dv = DataValidation::new().allow_list_strings(&c.valid_values)?;
            sheet.add_data_validation(1, i as u16, 10_000, i as u16, &dv)?;
        }
    }
    let values = wb.add_worksheet().set_name("Valid values")?;
    for (col, c) in cols.iter().filter(|c| !c.valid_values.is_empty()).enumerate() {
        values.write_string_with_format(0, col as u16, &c.header, &bold)?;
        for (r, v) in c.valid_values.iter().enumerate() {
            values.write_string(r as u32 + 1, col as u16, v)?;
        }
    }
    wb.save_to_buffer()
}
