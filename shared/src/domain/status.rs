//! The lead status machine.
//!
//! | from        | allowed next                       |
//! |-------------|------------------------------------|
//! | new         | contacted, qualified, unqualified  |
//! | contacted   | qualified, unqualified             |
//! | qualified   | contacted, unqualified             |
//! | unqualified | contacted, qualified               |
//! | converted   | (terminal)                         |
//!
//! `converted` is reached only through conversion, never by a status change. Setting the
//! status a lead already has is a no-op, not a transition.

use crate::domain::error::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    Default,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    #[default]
    New,
    Contacted,
    Qualified,
    Unqualified,
    Converted,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a lead cannot go from {from} to {to}; allowed next: {}", allowed_list(.allowed))]
pub struct IllegalTransition {
    pub from: LeadStatus,
    pub to: LeadStatus,
    pub allowed: Vec<LeadStatus>,
}

fn allowed_list(a: &[LeadStatus]) -> String {
    if a.is_empty() {
        return "none (terminal)".into();
    }
    a.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
}

impl LeadStatus {
    pub const ALL: [LeadStatus; 5] = [
        LeadStatus::New,
        LeadStatus::Contacted,
        LeadStatus::Qualified,
        LeadStatus::Unqualified,
        LeadStatus::Converted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LeadStatus::New => "new",
            LeadStatus::Contacted => "contacted",
            LeadStatus::Qualified => "qualified",
            LeadStatus::Unqualified => "unqualified",
            LeadStatus::Converted => "converted",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim().to_ascii_lowercase();
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
            FieldError::new(
                "status",
                "invalid_status",
                format!("status must be one of: {}", allowed_list(&Self::ALL)),
            )
        })
    }

    /// The statuses a rep may move a lead to from this one.
    pub fn allowed_next(self) -> Vec<LeadStatus> {
        use LeadStatus::*;
        match self {
            New => vec![Contacted, Qualified, Unqualified],
            Contacted => vec![Qualified, Unqualified],
            Qualified => vec![Contacted, Unqualified],
            Unqualified => vec![Contacted, Qualified],
            Converted => vec![],
        }
    }

    /// Checks a manual status change. Conversion does not go through here.
    pub fn transition(self, to: LeadStatus) -> Result<LeadStatus, IllegalTransition> {
        if to == self && self != LeadStatus::Converted {
            return Ok(to);
        }
        let allowed = self.allowed_next();
        if allowed.contains(&to) {
            Ok(to)
        } else {
            Err(IllegalTransition {
                from: self,
                to,
                allowed,
            })
        }
    }

    /// Open leads take re-submissions as activities; converted and unqualified do not.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            LeadStatus::New | LeadStatus::Contacted | LeadStatus::Qualified
        )
    }
}

impl fmt::Display for LeadStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::LeadStatus::*;
    use super::*;

    #[test]
    fn when_transition_is_in_table_should_allow() {
        assert_eq!(New.transition(Contacted), Ok(Contacted));
        assert_eq!(Contacted.transition(Qualified), Ok(Qualified));
        assert_eq!(Unqualified.transition(Qualified), Ok(Qualified));
        assert_eq!(Qualified.transition(Qualified), Ok(Qualified));
    }

    #[test]
    fn when_transition_is_illegal_should_name_allowed_next() {
        let err = Contacted.transition(New).unwrap_err();
        assert_eq!(err.allowed, vec![Qualified, Unqualified]);
        assert!(err.to_string().contains("qualified, unqualified"));
    }

    #[test]
    fn when_target_is_converted_should_refuse_manual_change() {
        for s in [New, Contacted, Qualified, Unqualified] {
            assert!(s.transition(Converted).is_err());
        }
        let err = Converted.transition(Contacted).unwrap_err();
        assert!(err.allowed.is_empty());
        assert!(Converted.transition(Converted).is_err());
    }

    #[test]
    fn when_parsing_unknown_status_should_list_valid_values() {
        assert_eq!(LeadStatus::parse(" Qualified ").unwrap(), Qualified);
        let e = LeadStatus::parse("hot").unwrap_err();
        assert!(
            e.message
                .contains("new, contacted, qualified, unqualified, converted")
        );
    }
}
