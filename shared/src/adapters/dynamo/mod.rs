//! The DynamoDB single-table store (aws-sdk-dynamodb, serde_dynamo). See `table` for the
//! layout, `calls` for the SDK calls and their retries, `lead_create`, `leads` and
//! `lead_reads` for a lead's writes and reads, `lead_list` for the sharded, merged list queries.

use super::dynamo_keys as keys;
pub use keys::{RECORD_KIND, record_pk_tenant};
mod calls;
use calls::{MAX_ATTEMPTS, backoff};
mod lead_create;
mod lead_list;
mod lead_reads;
mod leads;
mod records;
mod rollups;
pub mod table;

use crate::config::{DynamoConfig, aws_sdk_config};
use crate::domain::activity::Activity;
use crate::domain::api_key::{ApiKeyRecord, KeyHash};
use crate::domain::duplicate::MatchKey;
use crate::domain::ids::{ApiKeyId, LeadId, TenantId};
use crate::domain::lead::Lead;
use crate::domain::query::{LeadCount, LeadQuery, Page};
use crate::ports::store::{
    CreateGuards, CreateOutcome, Expect, LeadStore, RawRecord, RecordWrite, StoreError, list_all_records,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    shards: u16,
}

impl DynamoStore {
    pub async fn connect(cfg: &DynamoConfig) -> Result<Self, StoreError> {
        let shared = aws_sdk_config(cfg.region.as_deref(), cfg.endpoint.as_deref()).await;
        Ok(Self::from_client(
            Client::new(&shared),
            cfg.table.clone(),
            cfg.shards,
        ))
    }

    pub fn from_client(client: Client, table: String, shards: u16) -> Self {
        Self {
            client,
            table,
            shards: shards.max(1),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the table if it is missing (DynamoDB Local, first start against an endpoint).
    pub async fn ensure_table(&self) -> Result<(), StoreError> {
        table::create_table(&self.client, &self.table).await
    }
}

fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    Item::from([(table::PK.to_owned(), s(pk)), (table::SK.to_owned(), s(sk))])
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s<'a>(item: &'a Item, k: &str) -> Option<&'a str> {
    item.get(k).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn get_n(item: &Item, k: &str) -> Option<u64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

fn sdk<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::unavailable(e)
}

#[async_trait::async_trait]
impl LeadStore for DynamoStore {
    async fn create_lead(
        &self,
        lead: &Lead,
        guards: &CreateGuards,
        entries: &[Activity],
        records: &[RecordWrite],
    ) -> Result<CreateOutcome, StoreError> {
        self.create(lead, guards, entries, records).await
    }

    async fn put_leads_batch(&self, batch: &[Lead], entries: &[Activity]) -> Result<(), StoreError> {
        self.put_batch(batch, entries).await
    }

    async fn get_lead(&self, tenant: &TenantId, id: &LeadId) -> Result<Option<Lead>, StoreError> {
        Ok(self.get_lead_item(tenant, id).await?.map(|(l, _)| l))
    }

    async fn get_leads(&self, tenant: &TenantId, ids: &[LeadId]) -> Result<Vec<Lead>, StoreError> {
        self.get_many(tenant, ids).await
    }

    async fn update_lead(&self, lead: &Lead) -> Result<Lead, StoreError> {
        self.update(lead).await
    }

    async fn delete_lead(
        &self,
        tenant: &TenantId,
        id: &LeadId,
        expected_version: Option<u64>,
    ) -> Result<(), StoreError> {
        self.delete(tenant, id, expected_version).await
    }

    async fn list_leads(&self, tenant: &TenantId, query: &LeadQuery) -> Result<Page<Lead>, StoreError> {
        self.list(tenant, query).await
    }

    async fn count_leads(
        &self,
        tenant: &TenantId,
        query: &LeadQuery,
        exact_up_to: u64,
    ) -> Result<LeadCount, StoreError> {
        self.count(tenant, query, exact_up_to).await
    }

    async fn find_leads_by_contact(
        &self,
        tenant: &TenantId,
        key: &MatchKey,
    ) -> Result<Vec<LeadId>, StoreError> {
        self.find_by_contact(tenant, key).await
    }

    async fn find_leads_by_contacts(
        &self,
        tenant: &TenantId,
        keys: &[MatchKey],
    ) -> Result<Vec<(MatchKey, LeadId)>, StoreError> {
        self.find_by_contacts(tenant, keys).await
    }

    async fn commit_lead_change(
        &self,
        lead: &Lead,
        records: &[RecordWrite],
        activities: &[Activity],
    ) -> Result<Lead, StoreError> {
        self.commit_change(lead, records, activities).await
    }

    async fn append_activity(&self, activity: &Activity) -> Result<(), StoreError> {
        self.append(activity).await
    }

    async fn list_activities(
        &self,
        tenant: &TenantId,
        lead: &LeadId,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Activity>, StoreError> {
        self.timeline(tenant, lead, cursor, limit).await
    }

    async fn get_record(
        &self,
        tenant: &TenantId,
        kind: &str,
        id: &str,
    ) -> Result<Option<RawRecord>, StoreError> {
        self.record_get(tenant, kind, id).await
    }

    async fn put_record(
        &self,
        tenant: &TenantId,
        kind: &str,
        id: &str,
        body: &serde_json::Value,
        expect: Expect,
    ) -> Result<u64, StoreError> {
        self.record_put(tenant, kind, id, body, expect).await
    }

    async fn put_records(&self, tenant: &TenantId, records: &[RecordWrite]) -> Result<(), StoreError> {
        self.records_put(tenant, records).await
    }

    async fn list_records(
        &self,
        tenant: &TenantId,
        kind: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RawRecord>, StoreError> {
        self.record_list(tenant, kind, after, limit).await
    }

    async fn list_records_of(
        &self,
        tenant: &TenantId,
        kinds: &[&str],
    ) -> Result<Vec<Vec<RawRecord>>, StoreError> {
        futures::future::try_join_all(kinds.iter().map(|k| list_all_records(self, tenant, k))).await
    }

    async fn delete_record(
        &self,
        tenant: &TenantId,
        kind: &str,
        id: &str,
        expect: Expect,
    ) -> Result<(), StoreError> {
        self.record_delete(tenant, kind, id, expect).await
    }

    async fn read_rollups(
        &self,
        tenant: &TenantId,
        dim: crate::domain::rollup::Dim,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<(crate::domain::rollup::Cell, crate::domain::rollup::Counts)>, StoreError> {
        DynamoStore::read_rollups(self, tenant, dim, from, to).await
    }

    async fn replace_rollups(
        &self,
        tenant: &TenantId,
        rows: &[(crate::domain::rollup::Cell, crate::domain::rollup::Counts)],
    ) -> Result<(), StoreError> {
        DynamoStore::replace_rollups(self, tenant, rows).await
    }

    async fn increment_counter(&self, tenant: &TenantId, name: &str, by: u64) -> Result<u64, StoreError> {
        self.counter_increment(tenant, name, by).await
    }

    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.key_put(key).await
    }

    async fn find_api_key(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.key_find(hash).await
    }

    async fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.key_list(tenant).await
    }

    async fn revoke_api_key(
        &self,
        tenant: &TenantId,
        id: &ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.key_revoke(tenant, id, at).await
    }

    async fn health(&self) -> Result<(), StoreError> {
        self.client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .map(|_| ())
            .map_err(sdk)
    }
}
