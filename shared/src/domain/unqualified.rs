//! Why a lead is unqualified: the tenant's list of reasons (seed 000's four to start with),
//! whether a move to unqualified needs one, and the one rule that applies them.

use crate::domain::error::{FieldError, FieldErrors};
use serde::{Deserialize, Serialize};

pub const SEEDED_REASONS: [&str; 4] = ["Wrong fit", "No budget", "No authority", "Not the right timing"];
pub const MAX_REASONS: usize = 30;
const MAX_REASON_LEN: usize = 80;

pub fn seeded_reasons() -> Vec<String> {
    SEEDED_REASONS.iter().map(|r| (*r).to_owned()).collect()
}

/// The tenant's reasons and whether one is required, as parsing a change needs them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnqualifiedPolicy {
    pub reasons: Vec<String>,
    pub required: bool,
}

impl Default for UnqualifiedPolicy {
    fn default() -> Self {
        Self {
            reasons: seeded_reasons(),
            required: false,
        }
    }
}

impl UnqualifiedPolicy {
    /// The list's spelling of a reason a person wrote (case-insensitive).
    pub fn find(&self, raw: &str) -> Result<String, FieldError> {
        let wanted = raw.trim();
        self.reasons
            .iter()
            .find(|r| r.eq_ignore_ascii_case(wanted))
            .cloned()
            .ok_or_else(|| {
                FieldError::new(
                    "unqualified_reason",
                    "invalid_reason",
                    format!("the reason is one of: {}", self.reasons.join(", ")),
                )
            })
    }

    /// The reason a lead moving to unqualified carries: the given one, from the list; none
    /// given is an error when the tenant requires one.
    pub fn reason_for(&self, given: Option<&str>) -> Result<Option<String>, FieldError> {
        match given.map(str::trim).filter(|g| !g.is_empty()) {
            Some(g) => self.find(g).map(Some),
            None if self.required => Err(FieldError::new(
                "unqualified_reason",
                "required",
                format!(
                    "moving a lead to unqualified needs a reason: {}",
                    self.reasons.join(", ")
                ),
            )),
            None => Ok(None),
        }
    }

    /// A list an admin sets: 1-30 distinct reasons of 1-80 characters (when one is required,
    /// there must be one to give).
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errs = FieldErrors::default();
        if self.reasons.len() > MAX_REASONS || (self.required && self.reasons.is_empty()) {
            errs.push(FieldError::new(
                "unqualified_reasons",
                "out_of_range",
                format!("list 1-{MAX_REASONS} reasons (none only when a reason is not required)"),
            ));
        }
        for (i, r) in self.reasons.iter().enumerate() {
            let len = r.trim().chars().count();
            if r.contains(',') {
                // A filter takes several reasons comma-separated.
                errs.push(FieldError::new(
                    format!("unqualified_reasons[{i}]"),
                    "invalid_character",
                    "a reason has no comma",
                ));
            }
            if len == 0 || len > MAX_REASON_LEN || r.trim() != r {
                errs.push(FieldError::new(
                    format!("unqualified_reasons[{i}]"),
                    "invalid_length",
                    format!("a reason is 1-{MAX_REASON_LEN} characters, without surrounding spaces"),
                ));
            }
            if self.reasons[..i].iter().any(|o| o.eq_ignore_ascii_case(r)) {
                errs.push(FieldError::new(
                    format!("unqualified_reasons[{i}]"),
                    "duplicate",
                    "each reason is listed once",
                ));
            }
        }
        errs.into_result(|| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_reason_is_given_or_not_should_follow_the_list_and_the_requirement() {
        let mut p = UnqualifiedPolicy::default();
        assert_eq!(
            p.reason_for(Some(" no BUDGET ")).unwrap().as_deref(),
            Some("No budget")
        );
        assert_eq!(p.reason_for(None).unwrap(), None);
        assert_eq!(p.reason_for(Some("bored")).unwrap_err().code, "invalid_reason");
        p.required = true;
        assert_eq!(p.reason_for(Some("")).unwrap_err().code, "required");
        p.reasons.push("no budget".into());
        assert!(p.validate().is_err(), "a repeated reason");
        p.reasons = vec![];
        assert!(p.validate().is_err(), "required with nothing to give");
        p.reasons = vec!["Budget, timing".into()];
        assert_eq!(
            p.validate().unwrap_err().0[0].code,
            "invalid_character",
            "a filter splits on commas"
        );
    }
}
