//! Typed custom fields. Admins define them (key, label, type, required, options); every write
//! path validates raw values against the definitions with `parse_custom_values`, so a stored
//! value always has its definition's type.

use crate::domain::error::{FieldError, FieldErrors};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CustomFieldType {
    Text,
    Number,
    Date,
    Boolean,
    Select,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomFieldDef {
    /// 1-40 characters of a-z, 0-9 and '_', starting with a letter.
    #[schema(pattern = "^[a-z][a-z0-9_]{0,39}$")]
    pub key: String,
    #[schema(
        min_length = 1,
        max_length = 80,
        pattern = "[^\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    )]
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: CustomFieldType,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// A stored custom value. Text, date (ISO `YYYY-MM-DD`) and select are strings, so the
/// stores can compare them with plain equality; the definition says which one it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum CustomValue {
    Bool(bool),
    Number(f64),
    Text(String),
}

pub const MAX_TEXT_LEN: usize = 2_000;

fn is_field_key(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 40
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

impl CustomFieldDef {
    /// Checks a definition an admin submits.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errs = FieldErrors::default();
        if !is_field_key(&self.key) {
            errs.push(FieldError::new(
                "key",
                "invalid_key",
                "a custom field key is 1-40 characters of a-z, 0-9 and '_', starting with a letter",
            ));
        }
        if self.label.trim().is_empty() || self.label.chars().count() > 80 {
            errs.push(FieldError::new(
                "label",
                "invalid_length",
                "a label is 1-80 characters",
            ));
        }
        match self.field_type {
            CustomFieldType::Select if self.options.is_empty() => errs.push(FieldError::new(
                "options",
                "required",
                "a select field needs at least one option",
            )),
            CustomFieldType::Select => {
                let mut seen = std::collections::BTreeSet::new();
                for o in &self.options {
                    if o.trim().is_empty() || !seen.insert(o.to_lowercase()) {
                        errs.push(FieldError::new(
                            "options",
                            "invalid_option",
                            format!("option '{o}' is empty or repeated"),
                        ));
                    }
                }
            }
            _ if !self.options.is_empty() => errs.push(FieldError::new(
                "options",
                "not_allowed",
                "only select fields have options",
            )),
            _ => {}
        }
        errs.into_result(|| ())
    }

    /// Parses one raw value (from JSON, a form or a spreadsheet cell) into its typed form.
    pub fn parse_value(&self, raw: &serde_json::Value) -> Result<CustomValue, FieldError> {
        use serde_json::Value as J;
        let field = format!("custom.{}", self.key);
        let bad = |expected: &str| {
            FieldError::new(
                field.clone(),
                "invalid_type",
                format!("{} must be {expected}", self.label),
            )
        };
        match (self.field_type, raw) {
            (CustomFieldType::Text, J::String(s)) => {
                if s.chars().count() > MAX_TEXT_LEN {
                    return Err(FieldError::new(
                        field,
                        "too_long",
                        format!("{} is longer than {MAX_TEXT_LEN} characters", self.label),
                    ));
                }
                Ok(CustomValue::Text(s.trim().to_owned()))
            }
            (CustomFieldType::Text, J::Number(n)) => Ok(CustomValue::Text(n.to_string())),
            (CustomFieldType::Number, J::Number(n)) => n
                .as_f64()
                .filter(|f| f.is_finite())
                .map(CustomValue::Number)
                .ok_or_else(|| bad("a number")),
            (CustomFieldType::Number, J::String(s)) => s
                .trim()
                .replace(',', "")
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(CustomValue::Number)
                .ok_or_else(|| bad("a number")),
            (CustomFieldType::Date, J::String(s)) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map(|d| CustomValue::Text(d.format("%Y-%m-%d").to_string()))
                .map_err(|_| bad("a date written YYYY-MM-DD")),
            (CustomFieldType::Boolean, J::Bool(b)) => Ok(CustomValue::Bool(*b)),
            (CustomFieldType::Boolean, J::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "1" => Ok(CustomValue::Bool(true)),
                "false" | "no" | "n" | "0" => Ok(CustomValue::Bool(false)),
                _ => Err(bad("true or false")),
            },
            (CustomFieldType::Select, J::String(s)) => self
                .options
                .iter()
                .find(|o| o.eq_ignore_ascii_case(s.trim()))
                .map(|o| CustomValue::Text(o.clone()))
                .ok_or_else(|| {
                    FieldError::new(
                        field.clone(),
                        "invalid_option",
                        format!("{} must be one of: {}", self.label, self.options.join(", ")),
                    )
                }),
            (CustomFieldType::Number, _) => Err(bad("a number")),
            (CustomFieldType::Boolean, _) => Err(bad("true or false")),
            (CustomFieldType::Date, _) => Err(bad("a date written YYYY-MM-DD")),
            (CustomFieldType::Select, _) => Err(bad("one of the options")),
            (CustomFieldType::Text, _) => Err(bad("text")),
        }
    }
}

fn is_blank(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Null => true,
        serde_json::Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

/// Validates a whole set of raw custom values: unknown keys, types, options and required
/// fields. Keys match a definition by key or, for spreadsheets, by label.
pub fn parse_custom_values(
    defs: &[CustomFieldDef],
    raw: &BTreeMap<String, serde_json::Value>,
) -> Result<BTreeMap<String, CustomValue>, FieldErrors> {
    let mut errs = FieldErrors::default();
    let mut out = BTreeMap::new();
    for (k, v) in raw {
        let Some(def) = defs
            .iter()
            .find(|d| d.key == *k || d.label.eq_ignore_ascii_case(k))
        else {
            errs.push(FieldError::new(
                format!("custom.{k}"),
                "unknown_field",
                format!("there is no custom field '{k}'"),
            ));
            continue;
        };
        if is_blank(v) {
            continue;
        }
        if let Some(val) = errs.take(def.parse_value(v)) {
            out.insert(def.key.clone(), val);
        }
    }
    for d in defs.iter().filter(|d| d.required) {
        if !out.contains_key(&d.key) && !errs.0.iter().any(|e| e.field == format!("custom.{}", d.key)) {
            errs.push(FieldError::new(
                format!("custom.{}", d.key),
                "required",
                format!("{} is required", d.label),
            ));
        }
    }
    errs.into_result(|| out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defs() -> Vec<CustomFieldDef> {
        vec![
            CustomFieldDef {
                key: "budget".into(),
                label: "Budget".into(),
                field_type: CustomFieldType::Number,
                required: true,
                options: vec![],
            },
            CustomFieldDef {
                key: "tier".into(),
                label: "Tier".into(),
                field_type: CustomFieldType::Select,
                required: false,
                options: vec!["Gold".into(), "Silver".into()],
            },
            CustomFieldDef {
                key: "demo_on".into(),
                label: "Demo on".into(),
                field_type: CustomFieldType::Date,
                required: false,
                options: vec![],
            },
            CustomFieldDef {
                key: "vip".into(),
                label: "VIP".into(),
                field_type: CustomFieldType::Boolean,
                required: false,
                options: vec![],
            },
        ]
    }

    #[test]
    fn when_values_match_types_should_parse_typed() {
        let raw = BTreeMap::from([
            ("budget".to_string(), json!("12,500")),
            ("Tier".to_string(), json!("gold")),
            ("demo_on".to_string(), json!("2026-12-01")),
            ("vip".to_string(), json!("yes")),
        ]);
        let v = parse_custom_values(&defs(), &raw).unwrap();
        assert_eq!(v["budget"], CustomValue::Number(12500.0));
        assert_eq!(v["tier"], CustomValue::Text("Gold".into()));
        assert_eq!(v["demo_on"], CustomValue::Text("2026-12-01".into()));
        assert_eq!(v["vip"], CustomValue::Bool(true));
    }

    #[test]
    fn when_values_are_wrong_should_report_each_field() {
        let raw = BTreeMap::from([
            ("tier".to_string(), json!("Bronze")),
            ("demo_on".to_string(), json!("12/01/2026")),
            ("color".to_string(), json!("red")),
        ]);
        let errs = parse_custom_values(&defs(), &raw).unwrap_err();
        let codes: Vec<_> = errs.0.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert!(codes.contains(&("custom.tier", "invalid_option")));
        assert!(codes.contains(&("custom.demo_on", "invalid_type")));
        assert!(codes.contains(&("custom.color", "unknown_field")));
        assert!(codes.contains(&("custom.budget", "required")));
        assert!(errs.0.iter().any(|e| e.message.contains("Gold, Silver")));
    }

    #[test]
    fn when_definition_is_malformed_should_reject() {
        let mut d = defs()[1].clone();
        d.options.clear();
        assert!(d.validate().is_err());
        let mut d = defs()[0].clone();
        d.key = "Budget Amount".into();
        assert!(d.validate().is_err());
        assert!(defs()[0].validate().is_ok());
    }
}
