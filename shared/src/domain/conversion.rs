//! Conversion: a qualified lead becomes a Prospect (the person and company carried over) and,
//! unless asked for none, a Deal in the tenant's pipeline. The lead becomes Converted and links
//! to both.

use crate::domain::error::{FieldError, FieldErrors};
use crate::domain::ids::{LeadId, RepId};
use crate::domain::lead::{Address, Lead};
use crate::domain::status::LeadStatus;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// An amount with its currency. The amount is a decimal string with two places ("12500.00"),
/// so no float ever rounds money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Money {
    pub amount: String,
    /// ISO 4217, upper case.
    pub currency: String,
}

impl Money {
    pub const MAX_UNITS: u64 = 1_000_000_000_000;

    /// Reads an amount given as a JSON number or string, with at most two decimals.
    pub fn parse(amount: &serde_json::Value, currency: &str) -> Result<Money, FieldErrors> {
        let mut errs = FieldErrors::default();
        let raw = match amount {
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::String(s) => s.trim().to_owned(),
            _ => String::new(),
        };
        let (units, cents) = raw.split_once('.').unwrap_or((raw.as_str(), ""));
        let ok = !units.is_empty()
            && units.bytes().all(|b| b.is_ascii_digit())
            && cents.len() <= 2
            && cents.bytes().all(|b| b.is_ascii_digit())
            && units.parse::<u64>().is_ok_and(|u| u < Self::MAX_UNITS);
        if !ok {
            errs.push(FieldError::new(
                "deal.value.amount",
                "invalid_amount",
                "amount is a non-negative number with at most two decimals, below 10^12",
            ));
        }
        let cur = currency.trim().to_ascii_uppercase();
        if cur.len() != 3 || !cur.bytes().all(|b| b.is_ascii_uppercase()) {
            errs.push(FieldError::new(
                "deal.value.currency",
                "invalid_currency",
                "currency is an ISO 4217 code such as EUR or USD",
            ));
        }
        let units = units.trim_start_matches('0');
        errs.into_result(|| Money {
            amount: format!("{}.{:0<2}", if units.is_empty() { "0" } else { units }, cents),
            currency: cur,
        })
    }

    /// The amount in hundredths (`"12500.50"` is 1,250,050): what analytics sums, so no
    /// float rounds money. `None` for an amount `parse` would not have written.
    pub fn cents(&self) -> Option<i64> {
        let (units, cents) = self.amount.split_once('.').unwrap_or((&self.amount, "00"));
        if cents.len() != 2 || !cents.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let units: i64 = units.parse().ok().filter(|u| *u >= 0)?;
        Some(units.checked_mul(100)? + cents.parse::<i64>().ok()?)
    }

    /// An amount in hundredths as `Money` (the sums analytics reports; negative only if
    /// rollups drifted).
    pub fn from_cents(cents: i64, currency: &str) -> Money {
        let sign = if cents < 0 { "-" } else { "" };
        let c = cents.unsigned_abs();
        Money {
            amount: format!("{sign}{}.{:02}", c / 100, c % 100),
            currency: currency.to_owned(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Prospect {
    pub id: String,
    #[schema(value_type = String)]
    pub lead_id: LeadId,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
    #[serde(default)]
    pub address: Address,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub owner: Option<RepId>,
    pub created_at: DateTime<Utc>,
}

impl Prospect {
    pub fn from_lead(id: String, lead: &Lead, now: DateTime<Utc>) -> Self {
        Self {
            id,
            lead_id: lead.id,
            name: lead.name.clone(),
            email: lead.email.as_ref().map(|e| e.to_string()),
            phone: lead.phone.as_ref().map(|p| p.to_string()),
            mobile: lead.mobile.as_ref().map(|p| p.to_string()),
            company: lead.company.clone(),
            position: lead.position.clone(),
            website: lead.website.clone(),
            company_number: lead.company_number.clone(),
            tax_id: lead.tax_id.clone(),
            address: lead.address.clone(),
            owner: lead.owner.clone(),
            created_at: now,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Deal {
    pub id: String,
    #[schema(value_type = String)]
    pub lead_id: LeadId,
    pub prospect_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_close_date: Option<NaiveDate>,
    /// A pipeline stage id of the tenant.
    pub stage: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub owner: Option<RepId>,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// The stored record's version, for `If-Match` on a change (filled in when read).
    #[serde(default)]
    pub version: u64,
}

/// Why a lead cannot be converted: the status (a 409), or missing data (a 422 naming fields).
#[derive(Debug, Clone, PartialEq)]
pub enum NotConvertible {
    Status(LeadStatus),
    Missing(FieldErrors),
}

/// A lead must be Qualified, owned, named, and reachable (email or phone).
pub fn check_convertible(lead: &Lead) -> Result<(), NotConvertible> {
    if lead.status != LeadStatus::Qualified {
        return Err(NotConvertible::Status(lead.status));
    }
    let mut errs = FieldErrors::default();
    if lead.owner.is_none() {
        errs.push(FieldError::new(
            "owner",
            "required",
            "assign the lead to a rep before converting it",
        ));
    }
    if lead.name.trim().is_empty() {
        errs.push(FieldError::new("name", "required", "the lead needs a name"));
    }
    if lead.email.is_none() && lead.phone.is_none() && lead.mobile.is_none() {
        errs.push(FieldError::new(
            "email",
            "required",
            "the lead needs an email or a phone number",
        ));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(NotConvertible::Missing(errs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn when_amount_is_written_loosely_should_normalize_to_two_places() {
        assert_eq!(Money::parse(&json!(12500), "eur").unwrap().amount, "12500.00");
        assert_eq!(Money::parse(&json!("0012.5"), "USD").unwrap().amount, "12.50");
        assert_eq!(Money::parse(&json!("0"), "USD").unwrap().amount, "0.00");
        for bad in [
            json!("-1"),
            json!("1.234"),
            json!("abc"),
            json!(true),
            json!("1e5"),
        ] {
            assert!(Money::parse(&bad, "USD").is_err(), "{bad}");
        }
        assert_eq!(
            Money::parse(&json!(1), "EURO").unwrap_err().0[0].code,
            "invalid_currency"
        );
    }

    #[test]
    fn when_an_amount_is_summed_should_count_hundredths_and_read_back() {
        let m = Money::parse(&json!("12500.5"), "eur").unwrap();
        assert_eq!(m.cents(), Some(1_250_050));
        assert_eq!(Money::from_cents(1_250_050, "EUR"), m);
        assert_eq!(Money::from_cents(-5, "EUR").amount, "-0.05");
        let top = Money::parse(&json!("999999999999.99"), "USD").unwrap();
        assert_eq!(top.cents(), Some(99_999_999_999_999));
        let bad = Money {
            amount: "1.5".into(),
            currency: "EUR".into(),
        };
        assert_eq!(bad.cents(), None);
    }
}
