//! The duplicate rule, applied: which stored leads a contact matches. Every write path (API
//! create and PATCH, capture, import) asks here, and the answer says which key matched which
//! lead.

use crate::domain::duplicate::{DuplicateMatch, MatchKey, match_keys};
use crate::domain::email::Email;
use crate::domain::ids::{LeadId, TenantId};
use crate::domain::phone::Phone;
use crate::ports::store::{LeadStore, StoreError};

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
