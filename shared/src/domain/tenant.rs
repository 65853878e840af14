//! Tenants, their settings, and the principal that every request and every store call acts as.

use crate::domain::ids::{RepId, TenantId};
use crate::domain::phone::Region;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantSettings {
    /// Region used to read phone numbers written without a country code.
    pub default_region: Region,
    /// When true, reps see (and export) only the leads they own.
    #[serde(default)]
    pub reps_see_own_leads_only: bool,
    /// What capture does with a lead whose other contact value is malformed (a phone the
    /// platform let through beside a valid email): keep it flagged (default), or fail it.
    #[serde(default)]
    pub capture_data_quality: crate::domain::data_quality::DataQuality,
    /// Why a lead is unqualified: the choices a move to unqualified takes.
    #[serde(default = "crate::domain::unqualified::seeded_reasons")]
    pub unqualified_reasons: Vec<String>,
    /// Whether a move to unqualified needs one of `unqualified_reasons`.
    #[serde(default)]
    pub unqualified_reason_required: bool,
    /// Logging a call or an email on a new lead moves it to contacted.
    #[serde(default)]
    pub contact_moves_new_to_contacted: bool,
    /// Minutes a new lead may wait for its first response before it is overdue (1-10080).
    #[serde(default = "default_response_sla")]
    #[schema(minimum = 1, maximum = 10080)]
    pub response_sla_minutes: u32,
    /// When the SLA runs: open days and hours in the tenant's time zone. Without them, every
    /// minute counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_hours: Option<crate::domain::business_hours::BusinessHours>,
}

/// Seed 000: leads answered within the first hour convert best.
pub const DEFAULT_RESPONSE_SLA_MINUTES: u32 = 60;

fn default_response_sla() -> u32 {
    DEFAULT_RESPONSE_SLA_MINUTES
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            default_region: Region::default(),
            reps_see_own_leads_only: false,
            capture_data_quality: Default::default(),
            unqualified_reasons: crate::domain::unqualified::seeded_reasons(),
            unqualified_reason_required: false,
            contact_moves_new_to_contacted: false,
            response_sla_minutes: DEFAULT_RESPONSE_SLA_MINUTES,
            business_hours: None,
        }
    }
}

impl TenantSettings {
    /// Every rule the settings keep together: the unqualified reasons, and an SLA of one
    /// minute to a week.
    pub fn validate(&self) -> Result<(), crate::domain::error::FieldErrors> {
        self.unqualified().validate()?;
        if !(1..=10_080).contains(&self.response_sla_minutes) {
            return Err(crate::domain::error::FieldError::new(
                "response_sla_minutes",
                "out_of_range",
                "response_sla_minutes is 1-10080 (a week)",
            )
            .into());
        }
        if let Some(hours) = &self.business_hours {
            hours.validate()?;
        }
        Ok(())
    }

    /// When a lead created before it and still unanswered is overdue, seen at `now`: the SLA's
    /// minutes back from now, counting only open time when the tenant keeps business hours.
    pub fn overdue_cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match &self.business_hours {
            Some(hours) => hours.minutes_before(now, self.response_sla_minutes),
            None => now - chrono::Duration::minutes(i64::from(self.response_sla_minutes)),
        }
    }

    pub fn unqualified(&self) -> crate::domain::unqualified::UnqualifiedPolicy {
        crate::domain::unqualified::UnqualifiedPolicy {
            reasons: self.unqualified_reasons.clone(),
            required: self.unqualified_reason_required,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub settings: TenantSettings,
    /// Set while a platform operator has the tenant suspended: every route answers 403 and
    /// nothing is captured, imported or exported; its data stays as it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended_at: Option<DateTime<Utc>>,
}

impl Tenant {
    pub fn is_suspended(&self) -> bool {
        self.suspended_at.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Rep,
}

/// The caller, as resolved from an API key or JWT claims. Every use case takes one, so the
/// tenant scope cannot be forgotten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant: TenantId,
    /// The user: an API key's owner or the JWT `sub`. For reps this is their rep id.
    pub user: String,
    pub role: Role,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The rep whose leads this principal is limited to, if any.
    pub fn owner_scope(&self, settings: &TenantSettings) -> Option<RepId> {
        if self.role == Role::Rep && settings.reps_see_own_leads_only {
            // A user id that is not a valid rep id owns nothing; scope to an id no rep has.
            Some(RepId::parse(&self.user).unwrap_or_else(|_| no_such_rep()))
        } else {
            None
        }
    }
}

fn no_such_rep() -> RepId {
    RepId::parse("0-no-such-rep").expect("literal slug")
}
