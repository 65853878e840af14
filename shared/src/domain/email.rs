//! A normalized email address: trimmed, lower-cased, and checked for a plausible shape
//! (the `validator` crate's HTML5 rule) before it reaches the domain.

use crate::domain::error::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;
use validator::ValidateEmail;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        // Mail providers treat the whole address case-insensitively in practice, and every
        // CRM we replace matches duplicates that way; keeping one case makes matching exact.
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err(FieldError::new("email", "required", "email is empty"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(FieldError::new(
                "email",
                "too_long",
                format!("email is longer than {} characters", Self::MAX_LEN),
            ));
        }
        let domain_has_dot = s.rsplit_once('@').is_some_and(|(_, d)| d.contains('.'));
        if !s.validate_email() || !domain_has_dot {
            return Err(FieldError::new(
                "email",
                "invalid_email",
                "email is not a valid address (expected name@domain.tld)",
            ));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Self, FieldError> {
        Self::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_email_has_case_and_spaces_should_normalize() {
        let e = Email::parse("  Jane.Doe@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "jane.doe@example.com");
    }

    #[test]
    fn when_email_is_malformed_should_reject_with_code() {
        for bad in ["", "jane", "jane@", "@example.com", "jane@localhost", "a b@c.com"] {
            let err = Email::parse(bad).unwrap_err();
            assert_eq!(err.field, "email", "{bad}");
        }
        assert_eq!(Email::parse("x").unwrap_err().code, "invalid_email");
    }
}
