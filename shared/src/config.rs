//! Typed configuration of the adapters, read once at start-up. Secrets are `Secret`s, so the
//! config can be logged with `{:?}`.

use crate::secret::Secret;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub enum StoreConfig {
    Sqlite { path: PathBuf },
    Dynamo(DynamoConfig),
}

#[derive(Debug, Clone)]
pub struct DynamoConfig {
    pub table: String,
    /// A custom endpoint (DynamoDB Local); `None` uses the region's AWS endpoint.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Write shards of the filter indexes. Fixed for the life of a table: changing it hides
    /// leads written under the old count from lists.
    pub shards: u16,
}

impl DynamoConfig {
    pub const DEFAULT_SHARDS: u16 = 8;
}

#[derive(Debug, Clone)]
pub enum BlobConfig {
    Local(LocalBlobConfig),
    S3(S3Config),
}

#[derive(Debug, Clone)]
pub struct LocalBlobConfig {
    /// The folder that stands in for the bucket.
    pub root: PathBuf,
    /// The gateway's base URL, which presigned URLs point at (e.g. `http://127.0.0.1:3000`).
    pub public_url: String,
    /// Key for signing presigned URLs.
    pub signing_key: Secret,
}

#[derive(Debug, Clone)]
pub struct S3Config {
    pub bucket: String,
    /// A custom endpoint (moto, MinIO); implies path-style addressing.
    pub endpoint: Option<String>,
    pub region: Option<String>,
}

/// Reads an environment variable that must be set, with a message that says which.
pub fn required_env(name: &str) -> Result<String, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(format!("environment variable {name} must be set")),
    }
}

pub fn optional_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The gateway's custom endpoint for a service: its flag first, then the SDK's standard
/// `AWS_ENDPOINT_URL_{SERVICE}` and `AWS_ENDPOINT_URL`. The SDK reads those by itself, but
/// the gateway must know an endpoint is custom too: on one machine it is an emulator, whose
/// table or bucket is created, with S3 addressed path-style.
pub fn service_endpoint(ours: Option<String>, service: &str) -> Option<String> {
    ours.or_else(|| optional_env(&format!("AWS_ENDPOINT_URL_{service}")))
        .or_else(|| optional_env("AWS_ENDPOINT_URL"))
}

impl DynamoConfig {
    /// `LEADGATE_TABLE` (required), `LEADGATE_DYNAMODB_ENDPOINT`, `AWS_REGION`,
    /// `LEADGATE_SHARDS`. A Lambda takes only our endpoint variable as an emulator's: the
    /// SDK reads `AWS_ENDPOINT_URL_*` by itself, and a real endpoint (FIPS, VPC) there must
    /// not make the function try to create its table.
    pub fn from_env() -> Result<Self, String> {
        let shards = match optional_env("LEADGATE_SHARDS") {
            None => Self::DEFAULT_SHARDS,
            Some(s) => s
                .parse::<u16>()
                .ok()
                .filter(|n| (1..=64).contains(n))
                .ok_or("LEADGATE_SHARDS must be a number from 1 to 64")?,
        };
        Ok(Self {
            table: required_env("LEADGATE_TABLE")?,
            endpoint: optional_env("LEADGATE_DYNAMODB_ENDPOINT"),
            region: optional_env("AWS_REGION"),
            shards,
        })
    }
}

impl S3Config {
    /// `LEADGATE_BUCKET` (required), `LEADGATE_S3_ENDPOINT`, `AWS_REGION`.
    pub fn from_env() -> Result<Self, String> {
        Ok(Self {
            bucket: required_env("LEADGATE_BUCKET")?,
            endpoint: optional_env("LEADGATE_S3_ENDPOINT"),
            region: optional_env("AWS_REGION"),
        })
    }
}

/// How long a connection may take to open, and one attempt of an SDK call to finish (a
/// multipart part of the largest export included), before it is retried.
pub const SDK_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
pub const SDK_ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// Attempts per SDK call, with adaptive retry: throttled bulk writes (imports into DynamoDB)
/// slow their own rate instead of failing.
pub const SDK_MAX_ATTEMPTS: u32 = 5;

/// Shared AWS SDK config: the default chain (which also reads `AWS_ENDPOINT_URL`,
/// `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_S3`), with region and endpoint overrides,
/// explicit timeouts and adaptive retry.
#[cfg(feature = "aws")]
pub async fn aws_sdk_config(region: Option<&str>, endpoint: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(SDK_CONNECT_TIMEOUT)
                .operation_attempt_timeout(SDK_ATTEMPT_TIMEOUT)
                .build(),
        )
        .retry_config(aws_config::retry::RetryConfig::adaptive().with_max_attempts(SDK_MAX_ATTEMPTS));
    if let Some(r) = region {
        loader = loader.region(aws_config::Region::new(r.to_owned()));
    } else if endpoint.is_some() {
        // A local emulator needs some region, and the machine may have none configured.
        loader = loader.region(aws_config::Region::new("us-east-1"));
    }
    if let Some(e) = endpoint {
        loader = loader.endpoint_url(e);
    }
    loader.load().await
}

#[cfg(all(test, feature = "aws"))]
mod sdk_tests {
    use super::*;

    #[tokio::test]
    async fn when_the_sdk_is_configured_should_time_out_and_retry_adaptively() {
        let cfg = aws_sdk_config(Some("eu-west-1"), Some("http://127.0.0.1:9")).await;
        let retry = cfg.retry_config().unwrap();
        assert_eq!(retry.mode(), aws_config::retry::RetryMode::Adaptive);
        assert_eq!(retry.max_attempts(), SDK_MAX_ATTEMPTS);
        let t = cfg.timeout_config().unwrap();
        assert_eq!(t.connect_timeout(), Some(SDK_CONNECT_TIMEOUT));
        assert_eq!(t.operation_attempt_timeout(), Some(SDK_ATTEMPT_TIMEOUT));
    }
}
