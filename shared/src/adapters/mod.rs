//! Adapters behind the ports: SQLite and a local folder for one machine, DynamoDB and S3 for
//! Lambda (the `aws` feature). `build` turns a config into the pair.

#[cfg(feature = "aws")]
pub mod dynamo;
pub mod dynamo_keys;
pub mod local_blob;
pub mod platform_http;
#[cfg(feature = "aws")]
pub mod s3_blob;
pub mod sqlite;
pub mod webhook_http;

use crate::config::{BlobConfig, StoreConfig};
use crate::ports::blob::BlobStore;
use crate::ports::store::{LeadStore, StoreError};
use std::sync::Arc;

/// The lead-derived values both stores index: positions and lower-case search terms.
pub(crate) mod lead_index {
    use crate::domain::lead::Lead;
    use crate::domain::time::position;

    pub fn created_pos(l: &Lead) -> String {
        position(l.created_at, &l.id.to_string())
    }

    pub fn activity_pos(l: &Lead) -> String {
        position(l.last_activity_at, &l.id.to_string())
    }

    /// Custom field keys are slugs (`[a-z][a-z0-9_]*`); anything else in a query is refused
    /// before it reaches an expression or a JSON path.
    pub fn is_safe_custom_key(k: &str) -> bool {
        !k.is_empty()
            && k.len() <= 40
            && k.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
    }
}

/// What a gateway built without the `aws` feature answers when asked for DynamoDB or S3.
#[cfg(not(feature = "aws"))]
const WITHOUT_AWS: &str = "this build has no DynamoDB or S3 adapters: build it with the `aws` feature \
     (`cargo run --release --features aws -- ...`)";

/// Builds the configured store. Against a custom endpoint (DynamoDB Local) the table is
/// created when missing; on AWS the stack template owns it.
pub async fn build_store(cfg: &StoreConfig) -> Result<Arc<dyn LeadStore>, StoreError> {
    Ok(match cfg {
        StoreConfig::Sqlite { path } => Arc::new(sqlite::SqliteStore::open(path)?),
        #[cfg(not(feature = "aws"))]
        StoreConfig::Dynamo(_) => return Err(StoreError::Invalid(WITHOUT_AWS.into())),
        #[cfg(feature = "aws")]
        StoreConfig::Dynamo(d) => {
            let store = dynamo::DynamoStore::connect(d).await?;
            if d.endpoint.is_some() {
                store.ensure_table().await?;
            }
            Arc::new(store)
        }
    })
}

/// Builds the configured blob store; against a custom endpoint the bucket is created when
/// missing. The local folder's store is also returned typed, for its presigned-URL routes.
pub async fn build_blobs(
    cfg: &BlobConfig,
) -> Result<(Arc<dyn BlobStore>, Option<Arc<local_blob::LocalBlobStore>>), crate::ports::blob::BlobError> {
    Ok(match cfg {
        BlobConfig::Local(l) => {
            let local = Arc::new(local_blob::LocalBlobStore::open(l.clone())?);
            (local.clone(), Some(local))
        }
        #[cfg(not(feature = "aws"))]
        BlobConfig::S3(_) => {
            return Err(crate::ports::blob::BlobError::Unavailable(WITHOUT_AWS.into()));
        }
        #[cfg(feature = "aws")]
        BlobConfig::S3(s) => {
            let store = s3_blob::S3BlobStore::connect(s).await;
            if s.endpoint.is_some() {
                store.ensure_bucket().await?;
            }
            (Arc::new(store), None)
        }
    })
}
