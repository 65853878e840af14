//! The single table's definition, written once here. `create_table` builds it (tests against
//! DynamoDB Local, first start of the gateway against an endpoint), and the infra template
//! must declare the same keys and indexes.
//!
//! | index        | partition key                    | sort key      | serves                  |
//! |--------------|----------------------------------|---------------|-------------------------|
//! | (table)      | `pk`                             | `sk`          | lead, timeline, records |
//! | by_created   | `all_pk` = T#t#ALL#shard         | `created_sk`  | all leads by created    |
//! | by_activity  | `all_pk`                         | `activity_sk` | all leads by activity   |
//! | by_status    | `status_pk` = T#t#ST#s#shard     | `created_sk`  | status filter           |
//! | by_owner     | `owner_pk` = T#t#OW#rep|-#shard  | `created_sk`  | owner / unassigned      |
//! | by_source    | `source_pk` = T#t#SRC#src#shard  | `created_sk`  | source filter           |
//! | by_email     | `email_pk` = T#t#EM#email        | `created_sk`  | duplicate matcher       |
//! | by_phone     | `phone_pk` = T#t#PH#e164         | `created_sk`  | duplicate matcher       |

use crate::ports::store::StoreError;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};

pub const PK: &str = "pk";
pub const SK: &str = "sk";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexDef {
    pub name: &'static str,
    pub pk: &'static str,
    pub sk: &'static str,
}

pub const BY_CREATED: IndexDef = IndexDef {
    name: "by_created",
    pk: "all_pk",
    sk: "created_sk",
};
pub const BY_ACTIVITY: IndexDef = IndexDef {
    name: "by_activity",
    pk: "all_pk",
    sk: "activity_sk",
};
pub const BY_STATUS: IndexDef = IndexDef {
    name: "by_status",
    pk: "status_pk",
    sk: "created_sk",
};
pub const BY_OWNER: IndexDef = IndexDef {
    name: "by_owner",
    pk: "owner_pk",
    sk: "created_sk",
};
pub const BY_SOURCE: IndexDef = IndexDef {
    name: "by_source",
    pk: "source_pk",
    sk: "created_sk",
};
pub const BY_EMAIL: IndexDef = IndexDef {
    name: "by_email",
    pk: "email_pk",
    sk: "created_sk",
};
pub const BY_PHONE: IndexDef = IndexDef {
    name: "by_phone",
    pk: "phone_pk",
    sk: "created_sk",
};

pub const INDEXES: [IndexDef; 7] = [
    BY_CREATED,
    BY_ACTIVITY,
    BY_STATUS,
    BY_OWNER,
    BY_SOURCE,
    BY_EMAIL,
    BY_PHONE,
];

/// Every key attribute of the table and its indexes (all strings).
pub fn key_attributes() -> Vec<&'static str> {
    let mut v = vec![PK, SK];
    for i in INDEXES {
        for a in [i.pk, i.sk] {
            if !v.contains(&a) {
                v.push(a);
            }
        }
    }
    v
}

fn key(name: &str, t: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(t)
        .build()
        .map_err(StoreError::unavailable)
}

/// Creates the table with its indexes (on-demand billing). An existing table is left alone.
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let mut req = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?);
    for a in key_attributes() {
        req = req.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(a)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(StoreError::unavailable)?,
        );
    }
    for i in INDEXES {
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(i.name)
                .key_schema(key(i.pk, KeyType::Hash)?)
                .key_schema(key(i.sk, KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()
                .map_err(StoreError::unavailable)?,
        );
    }
    match req.send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_in_use_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(StoreError::unavailable(e)),
    }
}
