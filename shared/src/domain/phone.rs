//! Phone numbers in E.164, parsed with the tenant's default region for national formats
//! ("(415) 555-0100" with region US becomes "+14155550100").

mod fast_path;

use crate::domain::error::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An ISO 3166-1 alpha-2 region used to read numbers written without a country code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "US")]
pub struct Region(phonenumber::country::Id);

impl Region {
    /// Every region code `parse` takes, in upper case, for the API document's enum.
    pub fn codes() -> Vec<String> {
        let mut out = Vec::new();
        for a in b'A'..=b'Z' {
            for b in b'A'..=b'Z' {
                let code = String::from_utf8(vec![a, b]).expect("ASCII");
                if Self::parse(&code).is_ok() {
                    out.push(code);
                }
            }
        }
        out
    }

    /// The OpenAPI schema of an optional region as clients send it: one of `codes()`, or null.
    pub fn nullable_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        let values = Self::codes()
            .into_iter()
            .map(serde_json::Value::String)
            .chain([serde_json::Value::Null]);
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .enum_values(Some(values))
            .description(Some("ISO 3166-1 alpha-2, upper case"))
            .into()
    }

    /// A region as the API takes it, and as `nullable_schema` documents it: an upper-case
    /// code, exactly. (`parse` is lenient, for what imported files hold.)
    pub fn parse_code(raw: &str) -> Result<Self, FieldError> {
        if raw.len() != 2 || !raw.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(FieldError::new(
                "default_region",
                "invalid_region",
                "region is an upper-case ISO 3166-1 alpha-2 code such as US, GB or DE",
            ));
        }
        Self::parse(raw)
    }

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        phonenumber::country::Id::from_str(&raw.trim().to_ascii_uppercase())
            .map(Self)
            .map_err(|_| {
                FieldError::new(
                    "default_region",
                    "invalid_region",
                    "region must be an ISO 3166-1 alpha-2 code such as US, GB or DE",
                )
            })
    }

    pub fn code(&self) -> &str {
        self.0.as_ref()
    }

    /// The calling code of the region (1 for US, 49 for DE).
    pub fn country_code(&self) -> u16 {
        phonenumber::metadata::DATABASE
            .by_id(self.code())
            .map_or(0, |meta| meta.country_code())
    }
}

impl Default for Region {
    fn default() -> Self {
        Self(phonenumber::country::Id::US)
    }
}

impl TryFrom<String> for Region {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Self, FieldError> {
        Self::parse(&s)
    }
}

impl From<Region> for String {
    fn from(r: Region) -> String {
        r.code().to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

/// The `phonenumber` crate's answer: E.164 when the number is valid.
fn e164_by_crate(s: &str, region: Region) -> Option<String> {
    // A number written with its country code is parsed without the default region: the
    // phonenumber crate otherwise strips the *default* region's national prefix after the
    // country code ("+33 1 23 45 67 89" with region US lost its "1" and became invalid).
    let region_hint = if s.starts_with('+') { None } else { Some(region.0) };
    let parsed = phonenumber::parse(region_hint, s).ok()?;
    phonenumber::is_valid(&parsed).then(|| parsed.format().mode(phonenumber::Mode::E164).to_string())
}

impl Phone {
    /// Parses `raw` as written by a person; `field` names the input in the error.
    pub fn parse_field(raw: &str, region: Region, field: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(FieldError::new(field, "required", format!("{field} is empty")));
        }
        if s.len() > 40 {
            return Err(FieldError::new(
                field,
                "too_long",
                format!("{field} is longer than 40 characters"),
            ));
        }
        let invalid = || {
            FieldError::new(
                field,
                "invalid_phone",
                format!(
                    "{field} is not a valid phone number (give +country code, or a number valid in {})",
                    region.code()
                ),
            )
        };
        fast_path::e164(s, region.country_code())
            .or_else(|| e164_by_crate(s, region))
            .map(Self)
            .ok_or_else(invalid)
    }

    pub fn parse(raw: &str, region: Region) -> Result<Self, FieldError> {
        Self::parse_field(raw, region, "phone")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Phone {
    type Error = FieldError;
    /// Stored values were validated on the way in and are E.164 already; reading them back
    /// (every list, get and export row) only checks that shape. Full parsing costs about
    /// 10 µs a number, most of a lead's deserialization. Anything else is parsed in full.
    fn try_from(s: String) -> Result<Self, FieldError> {
        let digits = s.strip_prefix('+').unwrap_or("");
        if (7..=15).contains(&digits.len())
            && !digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Ok(Self(s));
        }
        Self::parse(&s, Region::default())
    }
}

impl From<Phone> for String {
    fn from(p: Phone) -> String {
        p.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_national_number_should_use_default_region() {
        let us = Region::parse("us").unwrap();
        assert_eq!(
            Phone::parse("(415) 555-0132", us).unwrap().as_str(),
            "+14155550132"
        );
        let gb = Region::parse("GB").unwrap();
        assert_eq!(
            Phone::parse("020 7946 0958", gb).unwrap().as_str(),
            "+442079460958"
        );
    }

    #[test]
    fn when_international_number_should_ignore_region() {
        let us = Region::parse("US").unwrap();
        assert_eq!(Phone::parse("+49 30 901820", us).unwrap().as_str(), "+4930901820");
        // A French number whose national part starts with 1 (the US national prefix).
        assert_eq!(
            Phone::parse("+33 1 23 45 67 89", us).unwrap().as_str(),
            "+33123456789"
        );
        assert_eq!(
            Phone::parse("+1 415 555 0132", Region::parse("FR").unwrap())
                .unwrap()
                .as_str(),
            "+14155550132"
        );
    }

    #[test]
    fn when_number_is_junk_should_reject() {
        let us = Region::default();
        assert_eq!(Phone::parse("call me", us).unwrap_err().code, "invalid_phone");
        assert_eq!(Phone::parse("123", us).unwrap_err().code, "invalid_phone");
        assert!(Region::parse("XX").is_err());
    }
}
