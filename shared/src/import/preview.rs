//! The preview an import's report carries (a `validate` job's above all): how each column
//! was mapped and why, how many of its cells were filled and how many were in error, the
//! distinct values of its dropdown column (status, source, owner, a select custom field) with
//! what each maps to, and the first rows as they would be stored. Bounded, as it travels in
//! the run's checkpoint.

use super::mapping::{Column, Mapping};
use crate::domain::error::FieldError;
use crate::domain::lead::{LeadContext, NewLead};
use serde::{Deserialize, Serialize};

/// Rows shown as they would be stored.
pub const PREVIEW_ROWS: usize = 20;
/// Distinct values kept per dropdown column (the rest are counted in `other_values`).
pub const MAX_VALUES: usize = 25;
/// Longest value kept (longer ones are cut).
const MAX_VALUE_LEN: usize = 80;
/// Columns described (a wider file's later columns are left out of the preview), and the
/// largest row shown: the preview travels in the job record, which a DynamoDB item bounds.
const MAX_COLUMNS: usize = 200;
const MAX_ROW_BYTES: usize = 4096;
/// What the whole preview may grow to (about; values and rows stop being added past it).
const MAX_BYTES: usize = 120 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    pub columns: Vec<ColumnStats>,
    /// The first valid rows, parsed as they would be stored (normalized email, E.164 phones,
    /// source ids, translated values).
    pub rows: Vec<serde_json::Value>,
    /// About how large the preview is (kept under `MAX_BYTES`; carried across chunks).
    #[serde(default)]
    pub approx_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnStats {
    pub header: String,
    /// What the column fills: `email`, `custom:tier`, `ignored`, `unknown`.
    pub maps_to: String,
    /// Why: `mapping` (the options or profile said so), `custom_field` (a custom field's key
    /// or label), `synonym` (a name Leadgate knows), `repeated` (a second column for a field
    /// already taken), `ignored`, `unknown`.
    pub why: String,
    pub filled: u64,
    pub invalid: u64,
    /// A dropdown column's distinct values, in the order first seen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<ValueStats>,
    /// Rows whose value was not among the `MAX_VALUES` kept.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub other_values: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueStats {
    pub value: String,
    pub count: u64,
    /// The Leadgate value it maps to; `None`: it does not map (a row error, unless the
    /// mapping's `values` translate it).
    pub maps_to: Option<String>,
}

fn is_dropdown(col: &Column, ctx: &LeadContext) -> bool {
    match col {
        Column::Field(f) => matches!(*f, "status" | "source" | "owner"),
        Column::Custom(k) => ctx
            .custom_fields
            .iter()
            .any(|d| &d.key == k && d.field_type == crate::domain::custom_field::CustomFieldType::Select),
        _ => false,
    }
}

/// Whether error `e` is about column `col`.
fn is_about(e: &FieldError, col: &Column) -> bool {
    match col {
        Column::Field("first_name" | "last_name") => e.field == "name",
        Column::Field(f) => e.field == *f || e.field.strip_prefix("address.") == Some(*f),
        Column::Custom(k) => e.field.strip_prefix("custom.") == Some(k.as_str()),
        _ => false,
    }
}

impl Preview {
    pub fn new(headers: &[String], columns: &[Column], whys: &[&'static str]) -> Self {
        let columns = headers
            .iter()
            .zip(columns)
            .zip(whys)
            .take(MAX_COLUMNS)
            .map(|((h, c), why)| ColumnStats {
                header: h.chars().take(MAX_VALUE_LEN).collect(),
                maps_to: match c {
                    Column::Field(f) => (*f).to_owned(),
                    Column::Custom(k) => format!("custom:{k}"),
                    Column::Ignored => "ignored".into(),
                    Column::Unknown => "unknown".into(),
                },
                why: (*why).to_owned(),
                filled: 0,
                invalid: 0,
                values: vec![],
                other_values: 0,
            })
            .collect();
        let approx_bytes = headers.len().min(MAX_COLUMNS) * 160;
        Preview {
            columns,
            rows: vec![],
            approx_bytes,
        }
    }

    /// Counts one row: its filled cells, its errors by column, its dropdown values; and keeps
    /// it when it is valid and among the first `PREVIEW_ROWS`.
    pub fn count(
        &mut self,
        columns: &[Column],
        cells: &[String],
        errors: &[FieldError],
        valid: Option<&NewLead>,
        mapping: &Mapping,
        ctx: &LeadContext,
    ) {
        for ((stats, col), cell) in self.columns.iter_mut().zip(columns).zip(cells) {
            let cell = cell.trim();
            if cell.is_empty() || matches!(col, Column::Ignored | Column::Unknown) {
                continue;
            }
            stats.filled += 1;
            if errors.iter().any(|e| is_about(e, col)) {
                stats.invalid += 1;
            }
            if !is_dropdown(col, ctx) {
                continue;
            }
            let value: String = cell.chars().take(MAX_VALUE_LEN).collect();
            if let Some(v) = stats.values.iter_mut().find(|v| v.value == value) {
                v.count += 1;
            } else if stats.values.len() < MAX_VALUES && self.approx_bytes < MAX_BYTES {
                self.approx_bytes += value.len() + 48;
                stats.values.push(ValueStats {
                    maps_to: mapping.maps_value(col, cell, ctx),
                    value,
                    count: 1,
                });
            } else {
                stats.other_values += 1;
            }
        }
        if let Some(n) = valid.filter(|_| self.rows.len() < PREVIEW_ROWS)
            && let Ok(row) = serde_json::to_value(n)
            && let len = row.to_string().len()
            && len <= MAX_ROW_BYTES
            && self.approx_bytes + len <= MAX_BYTES
        {
            self.approx_bytes += len;
            self.rows.push(row);
        }
    }
}
