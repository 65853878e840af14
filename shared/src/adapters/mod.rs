//! Adapters behind the ports: SQLite and a local folder for one machine, DynamoDB and S3 for
//! Lambda. `build` turns a config into the pair.

pub mod dynamo;
pub mod local_blob;
pub mod s3_blob;
pub mod sqlite;

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

pub async fn build_store(cfg: &StoreConfig) -> Result<Arc<dyn LeadStore>, StoreError> {
    Ok(match cfg {
        StoreConfig::Sqlite { path } => Arc::new(sqlite::SqliteStore::open(path)?),
        StoreConfig::Dynamo(d) => Arc::new(dynamo::DynamoStore::connect(d).await?),
    })
}

pub async fn build_blobs(cfg: &BlobConfig) -> Result<Arc<dyn BlobStore>, crate::ports::blob::BlobError> {
    Ok(match cfg {
        BlobConfig::Local(l) => Arc::new(local_blob::LocalBlobStore::open(l.clone())?),
        BlobConfig::S3(s) => Arc::new(s3_blob::S3BlobStore::connect(s).await),
    })
}
