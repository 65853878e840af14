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

/// The leads a contact matches, by the first key that matches any (email, then phone),
/// oldest first, leaving out `except` (a row's own lead). One rule for every write path: the
/// API and capture take the oldest; an import update calls more than one ambiguous.
pub async fn find_matches(
    store: &dyn LeadStore,
    tenant: &TenantId,
    email: Option<&Email>,
    phone: Option<&Phone>,
    except: Option<&LeadId>,
) -> Result<Option<(MatchKey, Vec<LeadId>)>, StoreError> {
    for key in match_keys(email, phone) {
        let mut ids = store.find_leads_by_contact(tenant, &key).await?;
        ids.retain(|id| Some(id) != except);
        if !ids.is_empty() {
            ids.sort();
            ids.dedup();
            return Ok(Some((key, ids)));
        }
    }
    Ok(None)
}

/// Finds the existing lead a new one duplicates. The oldest matching lead wins, so the
/// answer is stable as more duplicates arrive.
pub async fn find_duplicate(
    store: &dyn LeadStore,
    tenant: &TenantId,
    email: Option<&Email>,
    phone: Option<&Phone>,
) -> Result<Option<DuplicateMatch>, StoreError> {
    Ok(find_matches(store, tenant, email, phone, None)
        .await?
        .map(|(key, ids)| DuplicateMatch { key, lead_id: ids[0] }))
}
