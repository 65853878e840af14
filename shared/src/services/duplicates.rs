//! The duplicate rule's lookups: which stored leads a contact's keys name, asked of the store,
//! then answered by the rule (`domain::duplicate::KnownContacts`). Every write path (API
//! create and PATCH, capture, import) asks here.

use crate::domain::duplicate::{DuplicateMatch, KnownContacts, MatchKey, match_keys};
use crate::domain::email::Email;
use crate::domain::ids::{LeadId, TenantId};
use crate::domain::phone::Phone;
use crate::ports::store::{LeadStore, StoreError};
use std::collections::HashSet;

/// The leads a contact matches, by the rule (`KnownContacts::matches`), leaving out `except`
/// (a row's own lead). The API and capture take the oldest; an import update calls more than
/// one ambiguous.
pub async fn find_matches(
    store: &dyn LeadStore,
    tenant: &TenantId,
    email: Option<&Email>,
    phone: Option<&Phone>,
    except: Option<&LeadId>,
) -> Result<Option<(MatchKey, Vec<LeadId>)>, StoreError> {
    let keys = match_keys(email, phone);
    Ok(look_up(store, tenant, keys.iter().cloned())
        .await?
        .matches(&keys, except))
}

/// The existing lead a contact duplicates (`KnownContacts::duplicate`: the oldest of the
/// first key that matches), leaving out `except` (a change's own lead).
pub async fn find_duplicate(
    store: &dyn LeadStore,
    tenant: &TenantId,
    email: Option<&Email>,
    phone: Option<&Phone>,
    except: Option<&LeadId>,
) -> Result<Option<DuplicateMatch>, StoreError> {
    let keys = match_keys(email, phone);
    Ok(look_up(store, tenant, keys.iter().cloned())
        .await?
        .duplicate(&keys, except))
}

/// The stored leads of a batch of contacts, in one store call (capture checks email and
/// phone for each lead; an import asks for 500 rows at once, then applies the rule to each
/// row without a round trip).
pub async fn look_up(
    store: &dyn LeadStore,
    tenant: &TenantId,
    keys: impl IntoIterator<Item = MatchKey>,
) -> Result<KnownContacts, StoreError> {
    let keys: Vec<MatchKey> = keys.into_iter().collect::<HashSet<_>>().into_iter().collect();
    if keys.is_empty() {
        return Ok(KnownContacts::default());
    }
    Ok(store
        .find_leads_by_contacts(tenant, &keys)
        .await?
        .into_iter()
        .collect())
}
