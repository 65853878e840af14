//! What a duplicate is: a lead with the same normalized email, or else the same E.164 phone,
//! the oldest such lead winning. The rule is stated here once (`KnownContacts`), over what a
//! store answered; the lookups that feed it are `services::duplicates` and, for a guarded
//! create, the stores themselves (SQLite inside the create's transaction, DynamoDB just
//! before it). The domain does no I/O.

use crate::domain::email::Email;
use crate::domain::ids::LeadId;
use crate::domain::phone::Phone;
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
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

/// The stored leads each contact key names, as a store answered: what the rule is applied
/// to. Every write path builds one (API create and PATCH, capture, an import's batch of 500
/// rows, and the stores' guarded create) and asks it the same two questions.
#[derive(Debug, Default, Clone)]
pub struct KnownContacts(HashMap<MatchKey, Vec<LeadId>>);

impl FromIterator<(MatchKey, LeadId)> for KnownContacts {
    fn from_iter<I: IntoIterator<Item = (MatchKey, LeadId)>>(found: I) -> Self {
        let mut known: HashMap<MatchKey, Vec<LeadId>> = HashMap::new();
        for (key, id) in found {
            known.entry(key).or_default().push(id);
        }
        Self(known)
    }
}

impl KnownContacts {
    /// The rule: the first of `keys` (in `match_keys` order: email, then phone) that names a
    /// lead other than `except` (a row's or a change's own lead), with the leads it names,
    /// oldest first (ids are UUIDv7, so by time), each once. An import update calls more than
    /// one ambiguous.
    pub fn matches(&self, keys: &[MatchKey], except: Option<&LeadId>) -> Option<(MatchKey, Vec<LeadId>)> {
        keys.iter().find_map(|key| {
            let mut ids = self.0.get(key)?.clone();
            ids.retain(|id| Some(id) != except);
            ids.sort();
            ids.dedup();
            (!ids.is_empty()).then(|| (key.clone(), ids))
        })
    }

    /// The lead a contact duplicates: the oldest of the first key that matches, so the answer
    /// stays put as more duplicates arrive.
    pub fn duplicate(&self, keys: &[MatchKey], except: Option<&LeadId>) -> Option<DuplicateMatch> {
        self.matches(keys, except)
            .map(|(key, ids)| DuplicateMatch { key, lead_id: ids[0] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::phone::Region;

    fn email(s: &str) -> MatchKey {
        MatchKey::Email(Email::parse(s).unwrap())
    }

    fn phone(s: &str) -> MatchKey {
        MatchKey::Phone(Phone::parse(s, Region::default()).unwrap())
    }

    #[test]
    fn when_keys_match_several_leads_should_take_email_first_then_the_oldest() {
        let mut ids = [LeadId::new(), LeadId::new(), LeadId::new()];
        ids.sort();
        let [oldest, middle, newest] = ids;
        let keys = match_keys(
            Some(&Email::parse("jane@example.com").unwrap()),
            Some(&Phone::parse("+14155550132", Region::default()).unwrap()),
        );
        // The phone names the oldest lead, but email is tried first; the store's answer comes
        // in any order and may name a lead twice.
        let known: KnownContacts = [
            (phone("+1 415 555 0132"), oldest),
            (email("JANE@example.com"), newest),
            (email("jane@example.com"), middle),
            (email("jane@example.com"), newest),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            known.matches(&keys, None),
            Some((email("jane@example.com"), vec![middle, newest]))
        );
        assert_eq!(
            known.duplicate(&keys, None),
            Some(DuplicateMatch {
                key: email("jane@example.com"),
                lead_id: middle
            })
        );
        // A change's own lead does not match itself; with both email leads left out the
        // phone answers.
        assert_eq!(
            known.duplicate(&keys, Some(&middle)).map(|m| m.lead_id),
            Some(newest)
        );
        let only_phone: KnownContacts = [(phone("+14155550132"), oldest), (phone("+14155550132"), oldest)]
            .into_iter()
            .collect();
        assert_eq!(
            only_phone.matches(&keys, None),
            Some((phone("+14155550132"), vec![oldest]))
        );
        assert_eq!(only_phone.duplicate(&keys, Some(&oldest)), None);
        assert_eq!(KnownContacts::default().duplicate(&keys, None), None);
    }
}
