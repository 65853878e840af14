//! Reading leads: one by id with its stored version, many at once (BatchGetItem), the
//! guard items a create checks, and the leads a contact key names (the matcher indexes).

use super::calls::until_processed;
use super::keys::{self, LEAD_SK};
use super::table;
use super::{DynamoStore, Item, get_n, get_s, key, s, sdk};
use crate::domain::duplicate::MatchKey;
use crate::domain::ids::{LeadId, TenantId};
use crate::domain::lead::Lead;
use crate::ports::store::StoreError;
use aws_sdk_dynamodb::types::KeysAndAttributes;
use serde_dynamo::aws_sdk_dynamodb_1 as sd;

/// Reads one bulk lookup keeps in flight (index queries, GetItems).
const LOOKUPS_IN_FLIGHT: usize = 16;

/// Keys one BatchGetItem may name (DynamoDB's limit).
const KEYS_PER_GET: usize = 100;

pub(super) fn parse_lead(item: &Item) -> Result<Lead, StoreError> {
    let av = item
        .get("lead")
        .ok_or_else(|| StoreError::Corrupt("lead item without lead attribute".into()))?;
    sd::from_attribute_value(av.clone()).map_err(|e| StoreError::Corrupt(format!("lead: {e}")))
}

impl DynamoStore {
    pub(super) fn lead_key(t: &TenantId, id: &LeadId) -> Item {
        key(keys::lead_pk(t, id), LEAD_SK)
    }

    /// A consistent read of the lead and its stored version.
    pub(super) async fn get_lead_item(
        &self,
        t: &TenantId,
        id: &LeadId,
    ) -> Result<Option<(Lead, u64)>, StoreError> {
        match self.get_consistent(Self::lead_key(t, id)).await?.as_ref() {
            None => Ok(None),
            Some(item) => {
                let lead = parse_lead(item)?;
                let v = get_n(item, "version").unwrap_or(lead.version);
                Ok(Some((lead, v)))
            }
        }
    }

    pub(super) async fn guard_owner(&self, pk: String, sk: &str) -> Result<Option<LeadId>, StoreError> {
        Ok(self.guard_item(pk, sk).await?.map(|(id, _)| id))
    }

    /// A guard item's lead, and the fingerprint stored with it.
    pub(super) async fn guard_item(
        &self,
        pk: String,
        sk: &str,
    ) -> Result<Option<(LeadId, Option<String>)>, StoreError> {
        let item = self.get_consistent(key(pk, sk)).await?;
        Ok(item.as_ref().and_then(|i| {
            let id = get_s(i, "lead_id").and_then(|id| LeadId::parse(id).ok())?;
            Some((id, get_s(i, "fingerprint").map(str::to_owned)))
        }))
    }

    pub(super) async fn find_by_contact(
        &self,
        t: &TenantId,
        key: &MatchKey,
    ) -> Result<Vec<LeadId>, StoreError> {
        let (index, pk) = match key {
            MatchKey::Email(e) => (table::BY_EMAIL, keys::email_pk(t, e.as_str())),
            MatchKey::Phone(p) => (table::BY_PHONE, keys::phone_pk(t, p.as_str())),
        };
        let mut items = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index.name)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", index.pk)
            .expression_attribute_values(":pk", s(pk))
            .projection_expression("lead_id")
            .into_paginator()
            .items()
            .send();
        let mut ids = Vec::new();
        while let Some(item) = items.try_next().await.map_err(sdk)? {
            if let Some(id) = get_s(&item, "lead_id").and_then(|v| LeadId::parse(v).ok()) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Strongly consistent BatchGetItems of up to `KEYS_PER_GET` leads, `LOOKUPS_IN_FLIGHT`
    /// at a time, in no particular order. An import's batch of 500 leads (each looked up to
    /// move the rollups by what it replaces) is 5 calls instead of 500 GetItems.
    pub(super) async fn get_many(&self, t: &TenantId, ids: &[LeadId]) -> Result<Vec<Lead>, StoreError> {
        use futures::{StreamExt, TryStreamExt};
        // BatchGetItem refuses a request that names one key twice.
        let mut ids = ids.to_vec();
        ids.sort();
        ids.dedup();
        let found: Vec<Vec<Lead>> = futures::stream::iter(ids.chunks(KEYS_PER_GET).map(<[_]>::to_vec))
            .map(|chunk| self.get_chunk(t, chunk))
            .buffer_unordered(LOOKUPS_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// One BatchGetItem of `ids` (at most `KEYS_PER_GET`), with the keys it leaves
    /// unprocessed asked again by `until_processed`.
    async fn get_chunk(&self, t: &TenantId, ids: Vec<LeadId>) -> Result<Vec<Lead>, StoreError> {
        let keys = ids.iter().map(|id| Self::lead_key(t, id)).collect();
        let asked = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(sdk)?;
        until_processed(asked, |asked| self.get_call(asked)).await
    }

    /// One BatchGetItem: the leads it answered, and the keys it left unprocessed.
    async fn get_call(
        &self,
        asked: KeysAndAttributes,
    ) -> Result<(Vec<Lead>, Option<KeysAndAttributes>), StoreError> {
        let out = self
            .client
            .batch_get_item()
            .request_items(&self.table, asked)
            .send()
            .await
            .map_err(sdk)?;
        let leads = out
            .responses()
            .and_then(|r| r.get(&self.table))
            .into_iter()
            .flatten()
            .map(parse_lead)
            .collect::<Result<_, _>>()?;
        let left = out
            .unprocessed_keys()
            .and_then(|m| m.get(&self.table))
            .filter(|k| !k.keys().is_empty())
            .cloned();
        Ok((leads, left))
    }

    /// Each key is its own GSI query (an index has no batch get): `LOOKUPS_IN_FLIGHT` of them
    /// at a time, so a batch costs a few round trips, not one per key.
    pub(super) async fn find_by_contacts(
        &self,
        t: &TenantId,
        keys: &[MatchKey],
    ) -> Result<Vec<(MatchKey, LeadId)>, StoreError> {
        use futures::{StreamExt, TryStreamExt};
        let found: Vec<Vec<(MatchKey, LeadId)>> = futures::stream::iter(keys.iter().cloned())
            .map(|k| async move {
                let ids = self.find_by_contact(t, &k).await?;
                Ok::<_, StoreError>(ids.into_iter().map(|id| (k.clone(), id)).collect())
            })
            .buffer_unordered(LOOKUPS_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }
}
