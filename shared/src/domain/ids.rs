//! Identifiers. Tenants, reps and sources have slug ids (they appear in URLs and keys and are
//! chosen by people or seeded); leads, activities and keys get UUIDv7 ids, which sort by time.

use crate::domain::error::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// The slug rule as the OpenAPI document states it; `is_slug` is the same rule in code.
pub const SLUG_PATTERN: &str = "^[a-z0-9][a-z0-9_-]{0,63}$";

/// The OpenAPI schema of a slug: a string matching `SLUG_PATTERN`.
pub fn slug_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(SLUG_PATTERN))
        .min_length(Some(1))
        .max_length(Some(64))
        .into()
}

/// `[a-z0-9][a-z0-9_-]{0,63}`: safe inside URLs, file paths and `#`-separated store keys.
pub fn is_slug(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
}

macro_rules! slug_id {
    ($name:ident, $what:literal) => {
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                slug_schema()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, FieldError> {
                let s = raw.trim();
                if is_slug(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(FieldError::new(
                        $what,
                        "invalid_id",
                        concat!(
                            "a ",
                            $what,
                            " id is 1-64 characters of a-z, 0-9, '-' or '_', starting with a letter or digit"
                        ),
                    ))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = FieldError;
            fn try_from(s: String) -> Result<Self, FieldError> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

macro_rules! uuid_id {
    ($name:ident, $what:literal) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn from_uuid(u: Uuid) -> Self {
                Self(u)
            }

            pub fn parse(raw: &str) -> Result<Self, FieldError> {
                Uuid::parse_str(raw.trim())
                    .map(Self)
                    .map_err(|_| FieldError::new($what, "invalid_id", concat!("not a valid ", $what, " id")))
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

slug_id!(TenantId, "tenant");
slug_id!(RepId, "rep");
slug_id!(SourceId, "source");
uuid_id!(LeadId, "lead");
uuid_id!(ActivityId, "activity");
uuid_id!(ApiKeyId, "api_key");
uuid_id!(JobId, "job");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_the_documented_slug_pattern_is_read_should_match_the_rule() {
        // SLUG_PATTERN is what clients are told; is_slug is what runs. Same answers.
        let re = regex::Regex::new(SLUG_PATTERN).unwrap();
        for s in [
            "acme",
            "a",
            "0-x_y",
            "-x",
            "_x",
            "Acme",
            "a#b",
            "",
            "é",
            &"a".repeat(64),
            &"a".repeat(65),
        ] {
            assert_eq!(re.is_match(s), is_slug(s), "{s:?}");
        }
    }

    #[test]
    fn when_slug_has_separator_or_uppercase_should_reject() {
        assert!(TenantId::parse("acme").is_ok());
        assert!(TenantId::parse("acme-eu_2").is_ok());
        assert!(TenantId::parse("a#b").is_err());
        assert!(TenantId::parse("Acme").is_err());
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse("-x").is_err());
        assert!(TenantId::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn when_uuid_ids_are_made_later_should_sort_later() {
        let a = LeadId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = LeadId::new();
        assert!(a.to_string() < b.to_string());
        assert_eq!(LeadId::parse(&a.to_string()).unwrap(), a);
        assert!(LeadId::parse("nope").is_err());
    }
}
