//! Lead sources: a per-tenant list with stable ids. Leads store the id, so a rename shows on
//! every lead without rewriting any of them. Retired sources stay readable on old leads but
//! are refused for new ones.

use crate::domain::error::FieldError;
use crate::domain::ids::SourceId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Source {
    pub id: SourceId,
    pub name: String,
    #[serde(default)]
    pub retired: bool,
}

/// The list a new tenant starts with. The ids are stable forever: integrations refer to them.
pub const SEEDED_SOURCES: [(&str, &str); 7] = [
    ("website-form", "Website form"),
    ("phone-call", "Phone call"),
    ("referral", "Referral"),
    ("social-media", "Social media"),
    ("trade-show", "Trade show / event"),
    ("cold-outreach", "Cold outreach"),
    ("partner", "Partner"),
];

pub fn seeded_sources() -> Vec<Source> {
    SEEDED_SOURCES
        .iter()
        .map(|(id, name)| Source {
            id: SourceId::parse(id).expect("seeded ids are slugs"),
            name: (*name).to_owned(),
            retired: false,
        })
        .collect()
}

pub fn parse_source_name(raw: &str) -> Result<String, FieldError> {
    let s = raw.trim();
    if s.is_empty() || s.chars().count() > 80 {
        return Err(FieldError::new(
            "name",
            "invalid_length",
            "a source name is 1-80 characters",
        ));
    }
    Ok(s.to_owned())
}

/// The display name of a lead's source: its name now, or its id if it is gone.
pub fn source_name(sources: &[Source], id: &SourceId) -> String {
    sources
        .iter()
        .find(|s| &s.id == id)
        .map_or_else(|| id.to_string(), |s| s.name.clone())
}

/// The source a person or a file refers to, by id or by name (case-insensitive), retired or
/// not: a list filter may name a retired source, a new lead may not (`resolve_source`).
pub fn find_source<'a>(sources: &'a [Source], raw: &str) -> Option<&'a Source> {
    let wanted = raw.trim();
    sources
        .iter()
        .find(|s| s.id.as_str() == wanted || s.name.eq_ignore_ascii_case(wanted))
}

/// Finds the source a person or a file refers to, by id or by name (case-insensitive),
/// refusing retired ones; the error lists the valid choices.
pub fn resolve_source<'a>(sources: &'a [Source], raw: &str) -> Result<&'a Source, FieldError> {
    match find_source(sources, raw) {
        Some(s) if !s.retired => Ok(s),
        _ => {
            let valid: Vec<&str> = sources
                .iter()
                .filter(|s| !s.retired)
                .map(|s| s.name.as_str())
                .collect();
            Err(FieldError::new(
                "source",
                "invalid_source",
                format!("source must be one of: {}", valid.join(", ")),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_resolving_by_name_or_id_should_find_active_source() {
        let list = seeded_sources();
        assert_eq!(resolve_source(&list, "referral").unwrap().name, "Referral");
        assert_eq!(
            resolve_source(&list, "website FORM").unwrap().id.as_str(),
            "website-form"
        );
    }

    #[test]
    fn when_source_is_retired_or_unknown_should_list_valid_values() {
        let mut list = seeded_sources();
        list[2].retired = true;
        let e = resolve_source(&list, "Referral").unwrap_err();
        assert_eq!(e.code, "invalid_source");
        assert!(e.message.contains("Website form"));
        assert!(!e.message.contains("Referral"));
        assert!(resolve_source(&list, "Billboard").is_err());
    }
}
