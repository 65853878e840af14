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
//! | by_name      | `all_pk`                         | `name_sk`     | sort by name            |
//! | by_company   | `all_pk`                         | `company_sk`  | sort by company         |
//! | by_stage     | `all_pk`                         | `status_sk`   | sort by status          |
//! | by_rep       | `all_pk`                         | `owner_sk`    | sort by owner           |
//! | by_origin    | `all_pk`                         | `source_sk`   | sort by source          |
//!
//! The sort keys of the last five are `SortField::position` (`domain::sort`). Twelve of the
//! service's twenty indexes per table; ARCHITECTURE.md says what each costs.

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

pub const BY_NAME: IndexDef = IndexDef {
    name: "by_name",
    pk: "all_pk",
    sk: "name_sk",
};
pub const BY_COMPANY: IndexDef = IndexDef {
    name: "by_company",
    pk: "all_pk",
    sk: "company_sk",
};
pub const BY_STAGE: IndexDef = IndexDef {
    name: "by_stage",
    pk: "all_pk",
    sk: "status_sk",
};
pub const BY_REP: IndexDef = IndexDef {
    name: "by_rep",
    pk: "all_pk",
    sk: "owner_sk",
};
pub const BY_ORIGIN: IndexDef = IndexDef {
    name: "by_origin",
    pk: "all_pk",
    sk: "source_sk",
};

pub const INDEXES: [IndexDef; 12] = [
    BY_CREATED,
    BY_ACTIVITY,
    BY_STATUS,
    BY_OWNER,
    BY_SOURCE,
    BY_EMAIL,
    BY_PHONE,
    BY_NAME,
    BY_COMPANY,
    BY_STAGE,
    BY_REP,
    BY_ORIGIN,
];

/// The index a sort reads in order (the time sorts pick theirs with the filters).
pub fn sort_index(f: crate::domain::sort::SortField) -> IndexDef {
    use crate::domain::sort::SortField;
    match f {
        SortField::Created => BY_CREATED,
        SortField::LastActivity => BY_ACTIVITY,
        SortField::Name => BY_NAME,
        SortField::Company => BY_COMPANY,
        SortField::Status => BY_STAGE,
        SortField::Owner => BY_REP,
        SortField::Source => BY_ORIGIN,
    }
}

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
