//! What every Lambda entry point does once at cold start: the DynamoDB and S3 adapters from
//! the function's environment, failing fast with a message that names the missing setting.
//! (Logs are lambda_runtime's subscriber, set up in each `main`: it follows the function's
//! LoggingConfig.)

use crate::adapters::dynamo::DynamoStore;
use crate::adapters::s3_blob::S3BlobStore;
use crate::config::{DynamoConfig, S3Config};
use std::sync::Arc;

pub struct AwsAdapters {
    pub store: Arc<DynamoStore>,
    pub blobs: Arc<S3BlobStore>,
}

impl AwsAdapters {
    /// The ports an HTTP function is served with: these adapters, the system clock, and
    /// the ad-platform client (public HTTPS hosts only).
    pub fn into_ports(self) -> crate::ports::Ports {
        crate::ports::Ports {
            store: self.store,
            blobs: self.blobs,
            clock: Arc::new(crate::ports::clock::SystemClock),
            fetcher: Arc::new(crate::adapters::platform_http::PlatformClient::new()),
        }
    }

    pub async fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let dynamo = DynamoConfig::from_env().map_err(|e| format!("configuration: {e}"))?;
        let s3 = S3Config::from_env().map_err(|e| format!("configuration: {e}"))?;
        Ok(Self {
            store: Arc::new(DynamoStore::connect(&dynamo).await?),
            blobs: Arc::new(S3BlobStore::connect(&s3).await),
        })
    }
}

/// An invocation's deadline (the runtime's wall-clock time) as an `Instant`, so a long run can
/// compare it against a monotonic clock and pause in time.
pub fn deadline_instant(deadline: std::time::SystemTime) -> std::time::Instant {
    let left = deadline
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    std::time::Instant::now() + left
}
