//! The gateway's configuration: flags with environment-variable fallbacks, checked once at
//! start-up into `Settings`. The admin key is read only from the environment (never a flag,
//! so it does not show in `ps`), and never printed.

use crate::GatewayError;
use clap::{Parser, ValueEnum};
use leadgate_core::config::{
    BlobConfig, DynamoConfig, LocalBlobConfig, S3Config, StoreConfig, service_endpoint,
};
use leadgate_core::domain::api_key::check_supplied_key;
use leadgate_core::secret::Secret;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoreKind {
    /// Embedded SQLite under the data directory.
    Sqlite,
    /// DynamoDB (AWS, or DynamoDB Local with --dynamodb-endpoint).
    Dynamodb,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BlobKind {
    /// A folder under the data directory stands in for the bucket.
    Local,
    /// An S3 bucket (AWS, or an emulator with --s3-endpoint).
    S3,
}

/// The gateway's flags. The store and bucket flags are global: the admin subcommands
/// (`leadgate tenant …`, `leadgate key …`) take them after their own name too, and act on the
/// same store the gateway serves.
#[derive(Debug, Clone, Parser)]
#[command(name = "leadgate")]
pub struct GatewayConfig {
    /// Address to listen on.
    #[arg(long, env = "LEADGATE_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: String,
    /// Folder for the embedded database, the bucket folder and the first-start admin key.
    #[arg(long, global = true, env = "LEADGATE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    #[arg(
        long,
        global = true,
        env = "LEADGATE_STORE",
        value_enum,
        default_value = "sqlite"
    )]
    pub store: StoreKind,
    #[arg(long, global = true, env = "LEADGATE_DYNAMODB_ENDPOINT")]
    pub dynamodb_endpoint: Option<String>,
    #[arg(long, global = true, env = "LEADGATE_TABLE", default_value = "leadgate")]
    pub table: String,
    /// Write shards of the DynamoDB filter indexes (fixed for the life of a table).
    #[arg(long, global = true, env = "LEADGATE_SHARDS", default_value_t = DynamoConfig::DEFAULT_SHARDS,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub shards: u16,
    #[arg(
        long,
        global = true,
        env = "LEADGATE_BLOBS",
        value_enum,
        default_value = "local"
    )]
    pub blobs: BlobKind,
    #[arg(long, global = true, env = "LEADGATE_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    #[arg(long, global = true, env = "LEADGATE_BUCKET", default_value = "leadgate")]
    pub bucket: String,
    #[arg(long, global = true, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Base URL that presigned links to the local bucket folder point at.
    /// Defaults to http://{listen address}.
    #[arg(long, env = "LEADGATE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Open connections at most; at the cap the oldest idle one is closed for a new one.
    /// Keep it well under `ulimit -n` (the store and the bucket folder need descriptors too).
    #[arg(long, env = "LEADGATE_MAX_CONNECTIONS", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// Seconds a client has to send a request's headers; also how long an idle keep-alive
    /// connection is kept.
    #[arg(long, env = "LEADGATE_HEADER_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_secs: u64,
    /// Seconds a request body may stall between two pieces before the request is ended.
    #[arg(long, env = "LEADGATE_BODY_TIMEOUT_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout_secs: u64,
    /// Seconds a whole request may take, body included (a body trickled a byte at a time
    /// keeps resetting the body timeout, not this one).
    #[arg(long, env = "LEADGATE_REQUEST_TIMEOUT_SECS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub request_timeout_secs: u64,
    /// Seconds between scans of the bucket folder's imports/ and exports/requests/. A file
    /// closed or moved into imports/ is imported at once through filesystem notifications;
    /// the scan finds what they miss (a file found by a scan waits one interval to settle).
    #[arg(long, env = "LEADGATE_FOLDER_POLL_SECS", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub folder_poll_secs: u64,
    /// Local development only: let Meta and LinkedIn base URLs point at any http(s) host (a
    /// fake platform on this machine). Without it only the platforms' own HTTPS hosts are called.
    #[arg(long, global = true, env = "LEADGATE_ALLOW_ANY_PLATFORM_HOST")]
    pub allow_any_platform_host: bool,
    /// Local development only: let webhook subscriptions point at this machine over http
    /// (a receiver on loopback). Without it only public HTTPS addresses are delivered to.
    #[arg(long, global = true, env = "LEADGATE_ALLOW_LOOPBACK_WEBHOOKS")]
    pub allow_loopback_webhooks: bool,
    /// How often the webhook worker looks for new events and due retries, in milliseconds.
    #[arg(long, global = true, env = "LEADGATE_WEBHOOK_POLL_MS", default_value_t = 500,
          value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub webhook_poll_ms: u64,
    /// The first retry's delay in seconds (it doubles up to an hour; tests shorten it).
    #[arg(
        long,
        global = true,
        env = "LEADGATE_WEBHOOK_FIRST_RETRY_SECS",
        default_value_t = 10.0
    )]
    pub webhook_first_retry_secs: f64,
    /// On first start, use this as the admin API key instead of generating one (for scripts).
    #[arg(skip = std::env::var("LEADGATE_ADMIN_KEY").ok().filter(|k| !k.is_empty()).map(Secret::new))]
    pub admin_key: Option<Secret>,
}

/// The checked configuration the gateway runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub store: StoreConfig,
    pub blobs: BlobConfig,
    pub admin_key: Option<Secret>,
}

impl Settings {
    pub fn store_label(&self) -> String {
        match &self.store {
            StoreConfig::Sqlite { path } => format!("sqlite {}", path.display()),
            StoreConfig::Dynamo(d) => format!(
                "dynamodb table {} at {}",
                d.table,
                d.endpoint.as_deref().unwrap_or("AWS")
            ),
        }
    }

    pub fn blobs_label(&self) -> String {
        match &self.blobs {
            BlobConfig::Local(l) => format!("folder {}", l.root.display()),
            BlobConfig::S3(s) => format!(
                "s3 bucket {} at {}",
                s.bucket,
                s.endpoint.as_deref().unwrap_or("AWS")
            ),
        }
    }

    pub fn admin_key_file(&self) -> PathBuf {
        self.data_dir.join("admin-key.txt")
    }
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> GatewayError {
    move |source| GatewayError::Io { context, source }
}

/// Reads the key that signs presigned URLs to the bucket folder, creating it once, so links
/// stay valid across restarts.
fn signing_key(data_dir: &std::path::Path) -> Result<Secret, GatewayError> {
    let path = data_dir.join("signing.key");
    match std::fs::read_to_string(&path) {
        Ok(k) if k.trim().len() >= 32 => return Ok(Secret::new(k.trim())),
        Ok(_) => {
            return Err(GatewayError::Config(format!(
                "{} is too short; delete it to make a new one",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(format!("cannot read {}", path.display()))(e)),
    }
    let key = leadgate_core::domain::api_key::generate_key();
    crate::bootstrap::write_private(&path, key.expose())
        .map_err(io(format!("cannot write {}", path.display())))?;
    Ok(key)
}

impl GatewayConfig {
    /// Webhook retries: the default schedule, its first delay as configured.
    pub fn webhook_retry(&self) -> leadgate_core::domain::webhook::RetryPolicy {
        leadgate_core::domain::webhook::RetryPolicy {
            first_delay: std::time::Duration::from_secs_f64(
                self.webhook_first_retry_secs.clamp(0.01, 3600.0),
            ),
            ..Default::default()
        }
    }

    pub fn limits(&self) -> crate::server::Limits {
        crate::server::Limits {
            max_connections: self.max_connections as usize,
            header_timeout: std::time::Duration::from_secs(self.header_timeout_secs),
            body_timeout: std::time::Duration::from_secs(self.body_timeout_secs),
        }
    }

    /// The store the flags name, with the data directory made and closed to other users
    /// (the gateway and the admin subcommands both start here).
    pub fn store_config(&self) -> Result<StoreConfig, GatewayError> {
        std::fs::create_dir_all(&self.data_dir).map_err(io(format!(
            "cannot create data directory {}",
            self.data_dir.display()
        )))?;
        // An existing data directory made under a looser umask is closed to other users too.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&self.data_dir, std::fs::Permissions::from_mode(0o700)).map_err(io(
                format!("cannot restrict data directory {}", self.data_dir.display()),
            ))?;
        }
        Ok(match self.store {
            StoreKind::Sqlite => StoreConfig::Sqlite {
                path: self.data_dir.join("leadgate.sqlite3"),
            },
            StoreKind::Dynamodb => StoreConfig::Dynamo(DynamoConfig {
                table: self.table.clone(),
                endpoint: service_endpoint(self.dynamodb_endpoint.clone(), "DYNAMODB"),
                region: self.region.clone(),
                shards: self.shards,
            }),
        })
    }

    /// Checks the flags and prepares the data directory. `addr` is the bound address (which
    /// differs from `listen` when it asked for port 0).
    pub fn resolve(&self, addr: SocketAddr) -> Result<Settings, GatewayError> {
        if let Some(k) = &self.admin_key {
            check_supplied_key(k).map_err(|e| GatewayError::Config(format!("LEADGATE_ADMIN_KEY: {e}")))?;
        }
        let store = self.store_config()?;
        let blobs = match self.blobs {
            BlobKind::Local => BlobConfig::Local(LocalBlobConfig {
                root: self.data_dir.join("bucket"),
                public_url: self
                    .public_url
                    .clone()
                    .unwrap_or_else(|| format!("http://{addr}")),
                signing_key: signing_key(&self.data_dir)?,
            }),
            BlobKind::S3 => BlobConfig::S3(S3Config {
                bucket: self.bucket.clone(),
                endpoint: service_endpoint(self.s3_endpoint.clone(), "S3"),
                region: self.region.clone(),
            }),
        };
        Ok(Settings {
            data_dir: self.data_dir.clone(),
            store,
            blobs,
            admin_key: self.admin_key.clone(),
        })
    }
}
