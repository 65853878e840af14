//! Header and row mapping for imports. A header maps by the admin's explicit mapping
//! (`options.columns`) first, then to a custom field by key or label (so a custom "GDPR
//! Consent" column is not taken by the built-in consent synonym), then by the synonyms
//! capture uses ("E-mail", "First Name", "Mobile", "Designation"…) and the columns only files
//! have (source, status, owner, tags). Cell values of status, source, owner and select custom
//! fields can be translated by `options.values` (a CRM's own status names).

use super::ImportOptions;
use crate::domain::custom_field::{CustomFieldDef, CustomFieldType};
use crate::domain::error::{FieldError, FieldErrors};
use crate::domain::lead::{LeadContext, LeadInput};
use crate::domain::lead_field::{self, Reach, normalize_name};
use crate::domain::source::resolve_source;
use crate::domain::status::LeadStatus;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "target", rename_all = "snake_case")]
pub enum Column {
    Field(&'static str),
    Custom(String),
    /// The explicit mapping says to leave it out.
    Ignored,
    Unknown,
}

/// Every lead field a column can fill (besides `custom:<key>`), in `lead_field::FIELDS`
/// order.
pub fn fields() -> impl Iterator<Item = &'static str> {
    lead_field::keys(Reach::File)
}

/// The fields whose cell values `options.values` may translate (plus select custom fields).
const VALUE_FIELDS: &[&str] = &["status", "source", "owner"];

/// Most entries an explicit mapping may hold, per map; and the longest name or value in it.
const MAX_ENTRIES: usize = 500;
const MAX_TEXT: usize = 200;
/// The options travel in the job, the claim and the profile records (a DynamoDB item holds
/// 400 KB with everything else in it).
const MAX_OPTIONS_BYTES: usize = 64 * 1024;

/// The field a normalized header names, by the table's names (`lead_field`).
fn synonym(norm: &str) -> Option<&'static str> {
    lead_field::by_name(norm, Reach::File).map(|f| f.key)
}

/// The admin's explicit mapping, checked against the tenant: header → column, and per column
/// the file values that stand for Leadgate values. Headers and file values compare as
/// written, ignoring case, spaces and punctuation (headers) or case and outer spaces (values).
#[derive(Debug, Clone, Default)]
pub struct Mapping {
    columns: HashMap<String, (String, Column)>,
    values: HashMap<Column, HashMap<String, String>>,
    /// The tenant's live sources (ids and names, lower case); `None` when unknown (a mapping
    /// made without a tenant: every known source name then applies).
    live_sources: Option<std::collections::HashSet<String>>,
    /// The source an unknown source cell takes (`unknown_source: default`).
    unknown_source_default: Option<String>,
}

/// The known exports (`known_exports`) as lookups by normalized header and lower-case value.
struct Knowledge {
    headers: HashMap<String, &'static str>,
    statuses: HashMap<String, &'static str>,
    sources: HashMap<String, &'static str>,
}

fn knowledge() -> &'static Knowledge {
    use super::known_exports::{LANGUAGES, SYSTEMS};
    static K: std::sync::OnceLock<Knowledge> = std::sync::OnceLock::new();
    K.get_or_init(|| {
        let mut k = Knowledge {
            headers: HashMap::new(),
            statuses: HashMap::new(),
            sources: HashMap::new(),
        };
        let headers = SYSTEMS
            .iter()
            .flat_map(|s| s.headers)
            .chain(LANGUAGES.iter().flat_map(|l| l.headers));
        for (h, f) in headers {
            k.headers.entry(normalize_name(h)).or_insert(f);
        }
        let statuses = SYSTEMS
            .iter()
            .flat_map(|s| s.statuses)
            .chain(LANGUAGES.iter().flat_map(|l| l.statuses));
        for (v, st) in statuses {
            k.statuses.entry(value_key(v)).or_insert(st);
        }
        for (v, src) in SYSTEMS.iter().flat_map(|s| s.sources) {
            k.sources.entry(value_key(v)).or_insert(src);
        }
        k
    })
}

/// What a known export's header holds, as a column.
fn known_header(norm: &str) -> Option<Column> {
    knowledge().headers.get(norm).map(|f| match *f {
        "ignore" => Column::Ignored,
        f => Column::Field(f),
    })
}

impl Mapping {
    /// Checks `options.columns` and `options.values`: every target a field, a custom field of
    /// the tenant or `ignore`, no two headers on one target, every translated value one the
    /// field takes. Errors name the entry.
    pub fn new(options: &ImportOptions, ctx: &LeadContext) -> Result<Self, FieldErrors> {
        let mut errs = Vec::new();
        let mut mapping = Mapping::default();
        let mut err =
            |field: String, code: &'static str, msg: String| errs.push(FieldError::new(field, code, msg));
        let size = serde_json::to_vec(options).map_or(usize::MAX, |v| v.len());
        if size > MAX_OPTIONS_BYTES {
            err(
                "options".into(),
                "too_large",
                format!("the options are {size} bytes; at most {MAX_OPTIONS_BYTES}"),
            );
        }
        for (name, map) in [
            ("columns", options.columns.len()),
            ("values", options.values.len()),
        ] {
            if map > MAX_ENTRIES {
                err(
                    format!("options.{name}"),
                    "too_many",
                    format!("at most {MAX_ENTRIES} entries"),
                );
            }
        }
        let mut targets: HashMap<Column, &str> = HashMap::new();
        for (header, target) in &options.columns {
            let at = format!("options.columns.{header}");
            if header.trim().is_empty() || header.len() > MAX_TEXT || target.len() > MAX_TEXT {
                err(
                    at,
                    "invalid",
                    format!("headers and targets are 1-{MAX_TEXT} characters"),
                );
                continue;
            }
            let Some(col) = target_column(target, &ctx.custom_fields) else {
                err(
                    at,
                    "unknown_target",
                    format!(
                        "'{target}' is not a lead field, `custom:<key>` of one of your custom fields, or `ignore`; \
                         fields: {}",
                        fields().collect::<Vec<_>>().join(", ")
                    ),
                );
                continue;
            };
            if col != Column::Ignored
                && let Some(first) = targets.insert(col.clone(), header)
            {
                err(
                    at,
                    "target_taken",
                    format!("'{first}' is mapped to '{target}' already"),
                );
                continue;
            }
            mapping
                .columns
                .insert(normalize_name(header), (header.clone(), col));
        }
        for (field, values) in &options.values {
            let at = format!("options.values.{field}");
            let col = match target_column(field, &ctx.custom_fields) {
                Some(Column::Field(f)) if VALUE_FIELDS.contains(&f) => Column::Field(f),
                Some(Column::Custom(k))
                    if ctx
                        .custom_fields
                        .iter()
                        .any(|d| d.key == k && d.field_type == CustomFieldType::Select) =>
                {
                    Column::Custom(k)
                }
                _ => {
                    err(
                        at,
                        "unknown_target",
                        format!(
                            "values translate status, source, owner or `custom:<key>` of a select field, not '{field}'"
                        ),
                    );
                    continue;
                }
            };
            if mapping.values.contains_key(&col) {
                err(at, "target_taken", format!("'{field}' is translated twice"));
                continue;
            }
            if values.len() > MAX_ENTRIES {
                err(at, "too_many", format!("at most {MAX_ENTRIES} values"));
                continue;
            }
            let mut table = HashMap::new();
            for (from, to) in values {
                if from.len() > MAX_TEXT || to.len() > MAX_TEXT {
                    err(
                        format!("{at}.{from}"),
                        "invalid",
                        format!("values are at most {MAX_TEXT} characters"),
                    );
                    continue;
                }
                if let Err(why) = takes_value(&col, to, ctx) {
                    err(format!("{at}.{from}"), "invalid_value", why);
                    continue;
                }
                table.insert(value_key(from), to.clone());
            }
            mapping.values.insert(col, table);
        }
        if let Some(owner) = &options.default_owner
            && !ctx.reps.iter().any(|r| r.active && r.id.as_str() == owner)
        {
            err(
                "options.default_owner".into(),
                "unknown_owner",
                format!("'{owner}' is not an active rep of this tenant"),
            );
        }
        mapping.live_sources = Some(
            ctx.sources
                .iter()
                .filter(|s| !s.retired)
                .flat_map(|s| [value_key(s.id.as_str()), value_key(&s.name)])
                .collect(),
        );
        if options.unknown_source == Some(super::UnknownSource::Default) {
            match options
                .default_source
                .as_deref()
                .map(|d| resolve_source(&ctx.sources, d))
            {
                Some(Ok(s)) => mapping.unknown_source_default = Some(s.id.to_string()),
                Some(Err(e)) => err("options.default_source".into(), "invalid_source", e.message),
                None => err(
                    "options.default_source".into(),
                    "required",
                    "unknown_source `default` needs a default_source".into(),
                ),
            }
        }
        if errs.is_empty() {
            Ok(mapping)
        } else {
            Err(FieldErrors(errs))
        }
    }

    /// Headers the explicit mapping names that `headers` does not have.
    pub fn missing_headers(&self, headers: &[String]) -> Vec<String> {
        let present: std::collections::HashSet<String> = headers.iter().map(|h| normalize_name(h)).collect();
        let mut missing: Vec<String> = self
            .columns
            .iter()
            .filter(|(norm, _)| !present.contains(*norm))
            .map(|(_, (header, _))| header.clone())
            .collect();
        missing.sort();
        missing
    }

    /// The Leadgate value a dropdown cell stands for (translated, then checked against the
    /// tenant), or `None` when it takes none.
    pub fn maps_value(&self, col: &Column, cell: &str, ctx: &LeadContext) -> Option<String> {
        let v = self.translate(col, cell.trim());
        match col {
            Column::Field("status") => LeadStatus::parse(v).ok().map(|s| s.as_str().to_owned()),
            Column::Field("source") => resolve_source(&ctx.sources, v).ok().map(|s| s.id.to_string()),
            _ => takes_value(col, v, ctx).ok().map(|_| v.to_owned()),
        }
    }

    /// Why `header` maps to `col`: `mapping`, `custom_field`, `synonym`, `repeated`,
    /// `ignored` or `unknown` (the preview says it).
    pub fn why(&self, header: &str, col: &Column, defs: &[CustomFieldDef]) -> &'static str {
        let norm = normalize_name(header);
        if self.columns.contains_key(&norm) {
            return "mapping";
        }
        let by_custom = defs
            .iter()
            .any(|d| normalize_name(&d.key) == norm || normalize_name(&d.label) == norm);
        let by_synonym = synonym(&norm).is_some();
        let by_known = known_header(&norm).is_some();
        match col {
            Column::Ignored if by_known => "known_export",
            Column::Ignored => "ignored",
            Column::Custom(_) => "custom_field",
            Column::Field(_) if by_synonym => "synonym",
            Column::Field(_) => "known_export",
            Column::Unknown if by_custom || by_synonym || by_known => "repeated",
            Column::Unknown => "unknown",
        }
    }

    fn is_live_source(&self, v: &str) -> bool {
        self.live_sources
            .as_ref()
            .is_none_or(|live| live.contains(&value_key(v)))
    }

    /// A cell of `col` as Leadgate takes it: translated by the mapping's `values`; else a
    /// status or source that is not Leadgate's by the known exports' names; else an unknown
    /// source by the `unknown_source` policy.
    fn translate<'v>(&'v self, col: &Column, cell: &'v str) -> &'v str {
        if let Some(t) = self.values.get(col).and_then(|t| t.get(&value_key(cell))) {
            return t;
        }
        match col {
            Column::Field("status") if LeadStatus::parse(cell).is_err() => knowledge()
                .statuses
                .get(&value_key(cell))
                .copied()
                .unwrap_or(cell),
            Column::Field("source") if !cell.is_empty() && !self.is_live_source(cell) => knowledge()
                .sources
                .get(&value_key(cell))
                .copied()
                .filter(|id| self.is_live_source(id))
                .or(self.unknown_source_default.as_deref())
                .unwrap_or(cell),
            _ => cell,
        }
    }
}

fn value_key(v: &str) -> String {
    v.trim().to_lowercase()
}

/// What a mapping target names: a lead field, `custom:<key>` of a defined field, `ignore`.
fn target_column(target: &str, defs: &[CustomFieldDef]) -> Option<Column> {
    let t = target.trim();
    if t.eq_ignore_ascii_case("ignore") {
        return Some(Column::Ignored);
    }
    if let Some(key) = t.strip_prefix("custom:") {
        return defs
            .iter()
            .find(|d| d.key == key)
            .map(|d| Column::Custom(d.key.clone()));
    }
    fields().find(|f| *f == t).map(Column::Field)
}

/// Whether `col` takes `value` (a translation's target): a status, a live source, a rep, an
/// option of the select field.
fn takes_value(col: &Column, value: &str, ctx: &LeadContext) -> Result<(), String> {
    match col {
        Column::Field("status") => LeadStatus::parse(value).map(|_| ()).map_err(|e| e.message),
        Column::Field("source") => resolve_source(&ctx.sources, value)
            .map(|_| ())
            .map_err(|e| e.message),
        Column::Field("owner") => match ctx.reps.iter().any(|r| r.id.as_str() == value.trim()) {
            true => Ok(()),
            false => Err(format!("'{value}' is not one of your reps' ids")),
        },
        Column::Custom(k) => {
            let def = ctx.custom_fields.iter().find(|d| &d.key == k);
            match def.is_some_and(|d| d.options.iter().any(|o| o == value.trim())) {
                true => Ok(()),
                false => Err(format!("'{value}' is not an option of custom field '{k}'")),
            }
        }
        _ => Err("this field's values are not translated".into()),
    }
}

/// Maps every header to a lead field, a custom field, or nothing. A field is taken by the
/// first column that names it: a repeated header ("Email" twice, or "Email" and "E-mail")
/// is reported as unknown rather than letting the later cell silently win. An explicitly
/// mapped target is the explicit column's, wherever it stands.
pub fn map_headers(headers: &[String], defs: &[CustomFieldDef], mapping: &Mapping) -> Vec<Column> {
    let mut taken: std::collections::HashSet<Column> =
        mapping.columns.values().map(|(_, c)| c.clone()).collect();
    let mut explicit_seen = std::collections::HashSet::new();
    headers
        .iter()
        .map(|h| {
            let norm = normalize_name(h);
            if let Some((_, col)) = mapping.columns.get(&norm) {
                // The same header twice: the first column is the mapped one.
                return match explicit_seen.insert(norm) {
                    true => col.clone(),
                    false => Column::Unknown,
                };
            }
            let col = defs
                .iter()
                .find(|d| normalize_name(&d.key) == norm || normalize_name(&d.label) == norm)
                .map(|d| Column::Custom(d.key.clone()))
                .or_else(|| synonym(&norm).map(Column::Field))
                .or_else(|| known_header(&norm))
                .unwrap_or(Column::Unknown);
            match col {
                Column::Unknown | Column::Ignored => col,
                c if taken.insert(c.clone()) => c,
                _ => Column::Unknown,
            }
        })
        .collect()
}

/// How many columns map to something: a row that maps none cannot be the header.
pub fn known_columns(columns: &[Column]) -> usize {
    columns
        .iter()
        .filter(|c| !matches!(c, Column::Unknown | Column::Ignored))
        .count()
}

/// A migrated lead's own dates as its row gives them (imports only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowDates {
    pub created_at: Option<String>,
    pub last_activity_at: Option<String>,
}

/// The date cells of one row.
pub fn row_dates(columns: &[Column], row: &[String]) -> RowDates {
    let mut dates = RowDates::default();
    for (col, cell) in columns.iter().zip(row) {
        let v = cell.trim();
        match col {
            Column::Field("created_at") if !v.is_empty() => dates.created_at = Some(v.to_owned()),
            Column::Field("last_activity_at") if !v.is_empty() => dates.last_activity_at = Some(v.to_owned()),
            _ => {}
        }
    }
    dates
}

/// The lead input of one row. Empty cells are absent; tags split on `;` or `,`.
pub fn row_input(columns: &[Column], row: &[String], mapping: &Mapping) -> LeadInput {
    let mut input = LeadInput::default();
    let mut custom = BTreeMap::new();
    for (col, cell) in columns.iter().zip(row) {
        // Cells an export quoted against formula injection stand for their unquoted value.
        let v = mapping.translate(col, crate::cells::restore(cell.trim()));
        if v.is_empty() {
            continue;
        }
        match col {
            Column::Field(key) => {
                if let Some(read) = lead_field::by_key(key, Reach::File).and_then(|f| f.read) {
                    read(&mut input, v);
                }
            }
            Column::Custom(key) => {
                custom.insert(key.clone(), serde_json::Value::String(v.to_owned()));
            }
            Column::Ignored | Column::Unknown => {}
        }
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
            "pin_code",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let cols = map_headers(&headers, &defs, &Mapping::default());
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
                Column::Field("postal_code"),
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
            "560001",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let input = row_input(&cols, &row, &Mapping::default());
        assert_eq!(input.source, None);
        assert_eq!(input.custom["budget"], serde_json::json!("1200"));
        assert_eq!(input.status.as_deref(), Some("Contacted"));
        assert_eq!(input.address.postal_code.as_deref(), Some("560001"));
    }

    /// A header the explicit mapping names, twice in the file: the first column is mapped,
    /// the second is unknown (its cells must not overwrite the first's).
    #[test]
    fn when_a_mapped_header_repeats_should_map_the_first_only() {
        let options = ImportOptions {
            columns: [("Stage".to_string(), "status".to_string())].into(),
            ..Default::default()
        };
        let mapping = Mapping::new(&options, &LeadContext::default()).unwrap();
        let headers = ["Stage", "Email", "stage"].map(String::from);
        assert_eq!(
            map_headers(&headers, &[], &mapping),
            [Column::Field("status"), Column::Field("email"), Column::Unknown]
        );
    }
}
