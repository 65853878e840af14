//! `leadgate tenant create|list|suspend|resume`: the platform operator's tenant work, through
//! the same use cases as `/v1/tenants`.

use super::{CliError, out_err};
use clap::Subcommand;
use leadgate_core::domain::{Tenant, TenantId};
use leadgate_core::ports::store::LeadStore;
use leadgate_core::services::tenants::{self, NewTenant};
use std::io::Write;

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Creates a tenant with the standard sources and a first admin key. Prints JSON with the
    /// tenant and the key, which is shown nowhere else.
    Create {
        /// The id (a slug: `acme`, `acme-eu`), used in capture URLs and bucket keys.
        id: String,
        /// The company's name.
        #[arg(long)]
        name: String,
    },
    /// Lists every tenant: id, status, created, name (tab-separated).
    List,
    /// Every route of the tenant answers 403 until it is resumed; its data stays.
    Suspend { id: String },
    /// Serves a suspended tenant again.
    Resume { id: String },
}

fn tenant_id(raw: &str) -> Result<TenantId, CliError> {
    TenantId::parse(raw).map_err(|e| CliError::Rejected(e.to_string()))
}

fn status(t: &Tenant) -> &'static str {
    if t.is_suspended() { "suspended" } else { "active" }
}

pub async fn run(store: &dyn LeadStore, command: TenantCommand, out: &mut dyn Write) -> Result<(), CliError> {
    let now = leadgate_core::ports::clock::Clock::now(&leadgate_core::ports::clock::SystemClock);
    match command {
        TenantCommand::Create { id, name } => {
            let new = NewTenant::parse(&id, &name)?;
            let (tenant, record, key) = tenants::create_tenant(store, &new, now).await?;
            let shown = serde_json::json!({
                "tenant": { "id": tenant.id, "name": tenant.name, "created_at": tenant.created_at, "status": status(&tenant) },
                "admin_key": { "id": record.id.to_string(), "user": record.user, "role": record.role, "key": key.expose() },
            });
            writeln!(out, "{shown:#}").map_err(out_err)?;
        }
        TenantCommand::List => {
            writeln!(out, "id\tstatus\tcreated_at\tname").map_err(out_err)?;
            let mut cursor = None;
            loop {
                let page = tenants::list_tenants(store, cursor.as_deref(), tenants::MAX_TENANT_PAGE).await?;
                for t in &page.items {
                    // A name is free text: a tab or line break in it would break the columns.
                    let name: String = t
                        .name
                        .chars()
                        .map(|c| if c.is_control() { ' ' } else { c })
                        .collect();
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{name}",
                        t.id,
                        status(t),
                        t.created_at.to_rfc3339()
                    )
                    .map_err(out_err)?;
                }
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        TenantCommand::Suspend { id } => {
            let t = tenants::set_suspended(store, &tenant_id(&id)?, Some(now)).await?;
            writeln!(out, "{}\t{}", t.id, status(&t)).map_err(out_err)?;
        }
        TenantCommand::Resume { id } => {
            let t = tenants::set_suspended(store, &tenant_id(&id)?, None).await?;
            writeln!(out, "{}\t{}", t.id, status(&t)).map_err(out_err)?;
        }
    }
    Ok(())
}
