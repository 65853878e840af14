//! What a duplicate is: a lead with the same normalized email, or else the same E.164 phone.
//! The lookup that applies it is `services::duplicates` (the domain does no I/O).

use crate::domain::email::Email;
use crate::domain::ids::LeadId;
use crate::domain::phone::Phone;
use serde::Serialize;

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
