//! The `leadgate` command: `serve` (what it does with no subcommand) and the admin
//! subcommands, which act on the store the gateway serves, named by the same flags. This is
//! also how the first tenant of a deployed stack is made (`--store dynamodb --table …`).
//!
//! Exit codes say what happened: 0 done, 2 the input was rejected (a bad flag, an unknown
//! tenant or key, an id that is taken), 1 a failure (the store could not be reached).

pub mod analytics;
pub mod captures;
pub mod export;
pub mod import;
pub mod key;
mod progress;
pub mod tenant;

use crate::GatewayError;
use crate::config::GatewayConfig;
use clap::{Parser, Subcommand};
use leadgate_core::adapters::build_store;
use leadgate_core::ports::store::LeadStore;
use leadgate_core::services::ServiceError;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "leadgate",
    version,
    about = "Leadgate: inbound lead capture gateway and lead-management API"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: GatewayConfig,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve every route: the API, capture webhooks and the watched bucket folder (the default).
    Serve,
    /// Tenants: create (with the first admin key), list, suspend, resume.
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// API keys of a tenant (`--tenant`) or of the platform operator (`--operator`).
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Imports a CSV/Excel file into a tenant, with progress, and prints the job's report.
    Import(import::ImportArgs),
    /// Exports a tenant's leads (filtered as the list is) to a CSV or XLSX file, with progress.
    Export(export::ExportArgs),
    /// Failed captures: replay them.
    #[command(subcommand)]
    Captures(captures::CapturesCommand),
    /// Analytics rollups: rebuild them from the leads.
    #[command(subcommand)]
    Analytics(analytics::AnalyticsCommand),
}

/// Why a subcommand stopped, and so its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The input was refused; nothing was changed.
    #[error("{0}")]
    Rejected(String),
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Rejected(_) => ExitCode::from(2),
            CliError::Failed(_) => ExitCode::FAILURE,
        }
    }
}

impl From<ServiceError> for CliError {
    fn from(e: ServiceError) -> Self {
        match e {
            // The store or the bucket failed, or kept changing under the command: trying
            // again may work, so it is not the input's fault.
            ServiceError::Store(_)
            | ServiceError::Blob(_)
            | ServiceError::Export(_)
            | ServiceError::VersionConflict => CliError::Failed(error_chain(&e)),
            other => CliError::Rejected(other.to_string()),
        }
    }
}

impl From<GatewayError> for CliError {
    fn from(e: GatewayError) -> Self {
        match e {
            GatewayError::Config(m) => CliError::Rejected(format!("configuration: {m}")),
            other => CliError::Failed(error_chain(&other)),
        }
    }
}

/// The error and its causes on one line: what failed and why.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// The store, the bucket and a scratch folder, as the gateway opens them.
pub struct Opened {
    pub store: Arc<dyn LeadStore>,
    pub blobs: Arc<dyn leadgate_core::ports::blob::BlobStore>,
    pub scratch: std::path::PathBuf,
}

async fn open_all(config: &GatewayConfig) -> Result<Opened, CliError> {
    // No listener: a local bucket's presigned links are not made here.
    let settings = config.resolve(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let store = open_store(config).await?;
    let (blobs, _) = leadgate_core::adapters::build_blobs(&settings.blobs)
        .await
        .map_err(|e| CliError::Failed(format!("could not open the bucket: {}", error_chain(&e))))?;
    Ok(Opened {
        store,
        blobs,
        scratch: settings.data_dir.join("tmp"),
    })
}

async fn open_store(config: &GatewayConfig) -> Result<Arc<dyn LeadStore>, CliError> {
    let store_config = config.store_config()?;
    build_store(&store_config)
        .await
        .map_err(|e| CliError::Failed(format!("could not open the store: {}", error_chain(&e))))
}

/// Runs the command line: the gateway, or one admin subcommand.
pub async fn main(cli: Cli) -> ExitCode {
    let result = match cli.command.unwrap_or(Command::Serve) {
        // The gateway exits 1 on any failure to start, as it always has.
        Command::Serve => crate::run(cli.config)
            .await
            .map_err(|e| CliError::Failed(error_chain(&e))),
        Command::Tenant(c) => match open_store(&cli.config).await {
            Ok(store) => tenant::run(&*store, c, &mut std::io::stdout()).await,
            Err(e) => Err(e),
        },
        Command::Key(c) => match open_store(&cli.config).await {
            Ok(store) => key::run(&*store, c, &mut std::io::stdout()).await,
            Err(e) => Err(e),
        },
        Command::Import(args) => match open_all(&cli.config).await {
            Ok(opened) => import::run(opened, args, &mut std::io::stdout()).await,
            Err(e) => Err(e),
        },
        Command::Export(args) => match open_all(&cli.config).await {
            Ok(opened) => export::run(opened, args, &mut std::io::stdout()).await,
            Err(e) => Err(e),
        },
        Command::Captures(c) => match open_store(&cli.config).await {
            Ok(store) => {
                captures::run(
                    &*store,
                    c,
                    cli.config.allow_any_platform_host,
                    &mut std::io::stdout(),
                )
                .await
            }
            Err(e) => Err(e),
        },
        Command::Analytics(c) => match open_store(&cli.config).await {
            Ok(store) => analytics::run(&*store, c, &mut std::io::stdout()).await,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("leadgate: {e}");
            e.exit_code()
        }
    }
}

/// Output that could not be written (a closed pipe) is a failure of the command.
pub(crate) fn out_err(e: std::io::Error) -> CliError {
    CliError::Failed(format!("cannot write the output: {e}"))
}
