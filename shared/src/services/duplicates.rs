//! The duplicate rule, applied: which stored leads a contact matches. Every write path (API
//! create and PATCH, capture, import) asks here, and the answer says which key matched which
//! lead.

use crate::domain::duplicate::{DuplicateMatch, MatchKey, match_keys};
use crate::domain::email::Email;
use crate::domain::ids::{LeadId, TenantId};
use crate::domain::phone::Phone;
use crate::ports::store::{LeadStore, StoreError};
use std::collections::{HashMap, HashSet};

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
    // Every key in one store call (capture checks email and phone for each lead), then the
    // rule, key by key.
    let keys = match_keys(email, phone);
    if keys.is_empty() {
        return Ok(None);
    }
    let known = KnownContacts::look_up(store, tenant, keys.iter().cloned()).await?;
    Ok(known.matches(&keys, except))
}

/// The leads one key matched, as the rule counts them: without `except`, oldest first (ids
/// are UUIDv7, so by time), each once; `None` when that leaves none.
fn matched(mut ids: Vec<LeadId>, except: Option<&LeadId>) -> Option<Vec<LeadId>> {
    ids.retain(|id| Some(id) != except);
    ids.sort();
    ids.dedup();
    (!ids.is_empty()).then_some(ids)
}

/// The stored leads of a batch of contacts, looked up in one store call: an import asks
/// here for 500 rows at once, then applies `find_matches`' rule to each row without a
/// round trip.
#[derive(Debug, Default)]
pub struct KnownContacts(HashMap<MatchKey, Vec<LeadId>>);

impl KnownContacts {
    pub async fn look_up(
        store: &dyn LeadStore,
        tenant: &TenantId,
        keys: impl IntoIterator<Item = MatchKey>,
    ) -> Result<Self, StoreError> {
        let keys: Vec<MatchKey> = keys.into_iter().collect::<HashSet<_>>().into_iter().collect();
        if keys.is_empty() {
            return Ok(Self::default());
        }
        let mut known: HashMap<MatchKey, Vec<LeadId>> = HashMap::new();
        for (key, id) in store.find_leads_by_contacts(tenant, &keys).await? {
            known.entry(key).or_default().push(id);
        }
        Ok(Self(known))
    }

    /// `find_matches` for a contact whose keys were looked up.
    pub fn matches(&self, keys: &[MatchKey], except: Option<&LeadId>) -> Option<(MatchKey, Vec<LeadId>)> {
        keys.iter().find_map(|key| {
            let ids = self.0.get(key)?.clone();
            matched(ids, except).map(|ids| (key.clone(), ids))
        })
    }
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
