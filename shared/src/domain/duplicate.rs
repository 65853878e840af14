//! Duplicate detection: normalized email first, then E.164 phone. Every write path (API,
//! capture, import) calls `find_duplicate`, and the result says which key matched which lead.

use crate::domain::email::Email;
use crate::domain::ids::{LeadId, TenantId};
use crate::domain::phone::Phone;
use crate::ports::store::{LeadStore, StoreError};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "key", content = "value", rename_all = "snake_case")]
pub enum MatchKey {
    Email(Email),
    Phone(Phone),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DuplicateMatch {
    #[serde(flatten)]
    pub key: MatchKey,
    pub lead_id: LeadId,
}

impl DuplicateMatch {
    /// A sentence for reports and problem details, without the contact value itself.
    pub fn explain(&self) -> String {
        let what = match self.key {
            MatchKey::Email(_) => "email",
            MatchKey::Phone(_) => "phone",
        };
        format!("same {what} as existing lead {}", self.lead_id)
    }
}

/// The keys a lead would be matched on, in the order they are tried.
pub fn match_keys(email: Option<&Email>, phone: Option<&Phone>) -> Vec<MatchKey> {
    email
        .cloned()
        .map(MatchKey::Email)
        .into_iter()
        .chain(phone.cloned().map(MatchKey::Phone))
        .collect()
}

/// Finds the existing lead a new one duplicates. The oldest matching lead wins, so the
/// answer is stable as more duplicates arrive.
pub async fn find_duplicate(
    store: &dyn LeadStore,
    tenant: &TenantId,
    email: Option<&Email>,
    phone: Option<&Phone>,
) -> Result<Option<DuplicateMatch>, StoreError> {
    for key in match_keys(email, phone) {
        let ids = store.find_leads_by_contact(tenant, &key).await?;
        if let Some(lead_id) = ids.into_iter().min() {
            return Ok(Some(DuplicateMatch { key, lead_id }));
        }
    }
    Ok(None)
}
