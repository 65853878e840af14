//! Reading an import file, with no store or bucket calls of its own (it reads the file and a
//! scratch file of the contacts seen): files dropped in the bucket (or uploaded
//! for an import job) become lead inputs here, and leads in `services::imports`.
//!
//! - `table`: opens a file as a header row plus streamed rows, whatever its format (CSV in any
//!   common dialect and encoding, XLSX, XLS, ODS), with limits against hostile files.
//! - `mapping`: maps headers to lead fields (synonyms, custom fields by key or label) and rows
//!   to `LeadInput`s; `dates`, `known_exports`, `update`, `seen`, `new_sources`, `preview`
//!   and `template` are the rules it reads rows by.
//! - The options an import runs with (`ImportOptions`) are here; the run that validates
//!   every row, applies the mode and the duplicate policy, writes in batches and reports is
//!   `services::imports::pipeline`.

pub mod dates;
pub mod known_exports;
pub mod mapping;
pub mod new_sources;
pub mod preview;
pub mod seen;
pub mod table;
pub mod template;
pub mod update;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    /// A dry run: the full report, nothing saved.
    Validate,
    /// Any error row means nothing is saved.
    #[default]
    AllOrNothing,
    /// Save the good rows, report the bad ones.
    ValidRows,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DuplicatePolicy {
    /// Leave the existing lead alone; the row is reported as a duplicate.
    #[default]
    Skip,
    /// Update the existing lead with the row's non-empty values.
    Update,
    /// Create a new lead anyway.
    Create,
}

/// How a file is imported. Unknown options are refused (a misspelt `columns` must not be
/// ignored silently).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportOptions {
    #[serde(default)]
    pub mode: ImportMode,
    #[serde(default)]
    pub duplicates: DuplicatePolicy,
    /// Source for rows that have no source column or leave it empty (id or name).
    #[serde(default)]
    pub default_source: Option<String>,
    /// Owner (a rep id) for new leads whose row names none; without it they go to the
    /// round robin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_owner: Option<String>,
    /// The file's header → what its column holds: a lead field (`email`, `status`,
    /// `postal_code`…), `custom:<key>`, or `ignore`. Headers left out are detected by name;
    /// a named header the file lacks fails the file, naming it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(example = json!({"Lead Status": "status", "Original Source": "source", "Fax": "ignore"}))]
    pub columns: BTreeMap<String, String>,
    /// Per field (`status`, `source`, `owner`, or `custom:<key>` of a select field): the
    /// file's value → the Leadgate value (a status, a source id or name, a rep id, an option).
    /// Values compare ignoring case and outer spaces; others are read as they are.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(example = json!({"status": {"Open - Not Contacted": "new", "Working - Contacted": "contacted"}}))]
    pub values: BTreeMap<String, BTreeMap<String, String>>,
    /// How to read a created or last-activity date whose day and month could swap
    /// (`03/04/2026`); without it such a cell is a warning and the lead is dated now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_order: Option<dates::DateOrder>,
    /// What a row whose other contact value is malformed (a bad phone beside a valid email)
    /// does: `keep_flagged` imports it without the value, kept in `data_warnings`; `reject`
    /// makes it a row error. Default: `keep_flagged` under `valid_rows`, else `reject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_quality: Option<crate::domain::data_quality::DataQuality>,
    /// A source cell that is none of the tenant's sources, after `values` and the known
    /// exports' source names: `reject` (a row error, the default), `default` (the row takes
    /// `default_source`, which must then be set) or `create` (a new source of that name is
    /// added when the rows are saved; at most 50 per file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_source: Option<UnknownSource>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnknownSource {
    Reject,
    Default,
    Create,
}

impl ImportOptions {
    /// The data-quality policy in effect.
    pub fn quality(&self) -> crate::domain::data_quality::DataQuality {
        use crate::domain::data_quality::DataQuality;
        self.data_quality.unwrap_or(match self.mode {
            ImportMode::ValidRows => DataQuality::KeepFlagged,
            _ => DataQuality::Reject,
        })
    }
}
