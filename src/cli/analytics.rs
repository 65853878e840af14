//! `leadgate analytics rebuild`: recomputes a tenant's analytics rollups from its leads, as
//! `POST /v1/analytics/rebuild` does. Lead writes keep the rollups current on their own; this
//! mends rows that drifted (a DynamoDB import killed between a batch and its rollup update)
//! and fills them on a DynamoDB table from before analytics. Prints how many leads it read
//! and rows it wrote; exit 2 for an unknown tenant.

use super::{CliError, out_err};
use clap::{Args, Subcommand};
use leadgate_core::domain::TenantId;
use leadgate_core::ports::store::LeadStore;
use leadgate_core::services::{analytics, tenants};
use std::io::Write;

#[derive(Debug, Subcommand)]
pub enum AnalyticsCommand {
    /// Recomputes the tenant's rollups from its leads.
    Rebuild(RebuildArgs),
}

#[derive(Debug, Args)]
pub struct RebuildArgs {
    #[arg(long, default_value = "default")]
    pub tenant: String,
}

pub async fn run(
    store: &dyn LeadStore,
    command: AnalyticsCommand,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let AnalyticsCommand::Rebuild(args) = command;
    let tenant_id = TenantId::parse(&args.tenant).map_err(|e| CliError::Rejected(e.to_string()))?;
    if tenants::get_tenant(store, &tenant_id).await?.is_none() {
        return Err(CliError::Rejected(format!("no tenant {tenant_id}")));
    }
    let done = analytics::rebuild(store, &tenant_id).await?;
    let filled = if done.values_filled > 0 {
        format!(
            ", {} converted leads given their deal's value",
            done.values_filled
        )
    } else {
        String::new()
    };
    writeln!(
        out,
        "{} leads read, {} rollup rows written{filled}",
        done.leads, done.rows
    )
    .map_err(out_err)
}
