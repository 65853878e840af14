//! The continuation protocol: a run that stops at a checkpoint near a Lambda's deadline (or
//! a job asked to run again) leaves a marker object under `CONTINUE_PREFIX`; its
//! ObjectCreated event starts a fresh invocation, which reads the marker and goes on with the
//! object version it names.

use crate::ports::blob::{BlobKey, BlobStore};
use crate::ports::store::StoreError;
use crate::services::ServiceError;
use sha2::{Digest, Sha256};

/// Where a paused import leaves its continuation marker (`bucket_keys::IMPORTS_CONTINUE`).
pub const CONTINUE_PREFIX: &str = crate::bucket_keys::IMPORTS_CONTINUE;

/// What a continuation marker says: which object version to go on importing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Continuation {
    pub key: String,
    pub etag: String,
}

/// Leaves a marker under `CONTINUE_PREFIX` that starts (or goes on with) the import of an
/// object version in a fresh Lambda invocation; `tag` keeps markers of one object apart.
pub async fn leave_continuation(
    blobs: &dyn BlobStore,
    key: &BlobKey,
    etag: &str,
    tag: &str,
) -> Result<(), ServiceError> {
    let tenant = crate::bucket_keys::import_key(key.as_str()).map_or("", |k| k.tenant);
    let id = hex::encode(Sha256::digest(format!("{key}\n{etag}").as_bytes()));
    let marker = BlobKey::parse(&crate::bucket_keys::continuation(tenant, &id, tag))?;
    let body = serde_json::to_vec(&Continuation {
        key: key.to_string(),
        etag: etag.to_owned(),
    })
    .map_err(|e| ServiceError::Store(StoreError::Invalid(e.to_string())))?;
    blobs.put(&marker, body.into(), "application/json").await?;
    Ok(())
}

/// Markers are a few hundred bytes; a larger object under the prefix is not one.
const MAX_MARKER_BYTES: u64 = 64 * 1024;

/// Why a marker was not followed. The Lambda returns it, so the event is retried and then
/// dead-lettered with this message.
#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    #[error("{marker}: {cause}")]
    Unreadable { marker: BlobKey, cause: String },
    #[error("{marker}: not a continuation: {cause}")]
    NotAContinuation {
        marker: BlobKey,
        cause: serde_json::Error,
    },
    #[error("{marker}: points outside its tenant's imports")]
    OutsideItsTenant { marker: BlobKey },
}

/// Reads the marker at `marker`: the object version to go on with, which must be one of the
/// marker's own tenant's imports (a marker may not point a run at another tenant's file).
pub async fn read_continuation(blobs: &dyn BlobStore, marker: &BlobKey) -> Result<Continuation, MarkerError> {
    use tokio::io::AsyncReadExt;
    let unreadable = |cause: String| MarkerError::Unreadable {
        marker: marker.clone(),
        cause,
    };
    let mut body = Vec::new();
    blobs
        .get(marker)
        .await
        .map_err(|e| unreadable(e.to_string()))?
        .take(MAX_MARKER_BYTES)
        .read_to_end(&mut body)
        .await
        .map_err(|e| unreadable(e.to_string()))?;
    let c: Continuation = serde_json::from_slice(&body).map_err(|cause| MarkerError::NotAContinuation {
        marker: marker.clone(),
        cause,
    })?;
    let tenant = crate::bucket_keys::continuation_tenant(marker.as_str());
    if !c.key.starts_with(&crate::bucket_keys::tenant_imports(tenant)) {
        return Err(MarkerError::OutsideItsTenant {
            marker: marker.clone(),
        });
    }
    Ok(c)
}
