//! `leadgate key create|list|revoke`: API keys of a tenant (`--tenant acme`) or of the
//! platform operator (`--operator`), through the same use cases as `/v1/settings/api-keys`.

use super::{CliError, out_err};
use clap::{Args, Subcommand, ValueEnum};
use leadgate_core::domain::tenant::Role;
use leadgate_core::domain::{ApiKeyId, TenantId};
use leadgate_core::ports::store::LeadStore;
use leadgate_core::services::{ServiceError, api_keys, tenants};
use std::io::Write;

/// Whose keys: one tenant's, or the platform operator's.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct KeyOwner {
    /// The tenant whose keys these are.
    #[arg(long)]
    tenant: Option<String>,
    /// The platform operator's keys (for `/v1/tenants`).
    #[arg(long)]
    operator: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Admin,
    Rep,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Creates a key and prints it as JSON; the key is shown nowhere else.
    Create {
        #[command(flatten)]
        owner: KeyOwner,
        /// What the key is for, e.g. "zapier".
        #[arg(long)]
        name: String,
        /// A tenant key's role.
        #[arg(long, value_enum, default_value = "admin", conflicts_with = "operator")]
        role: RoleArg,
        /// The user it acts as; for a rep key, the rep id. Default: "admin".
        #[arg(long, conflicts_with = "operator")]
        user: Option<String>,
    },
    /// Lists keys: id, role, user, prefix, created, revoked, name (tab-separated).
    List {
        #[command(flatten)]
        owner: KeyOwner,
    },
    /// Revokes a key: requests with it get 401 from now on.
    Revoke {
        id: String,
        #[command(flatten)]
        owner: KeyOwner,
    },
}

/// The partition the keys live in. A tenant must exist: a key of a tenant that is not there
/// would open nothing.
async fn partition(store: &dyn LeadStore, owner: &KeyOwner) -> Result<TenantId, CliError> {
    match &owner.tenant {
        None => Ok(tenants::platform()),
        Some(raw) => {
            let id = TenantId::parse(raw).map_err(|e| CliError::Rejected(e.to_string()))?;
            tenants::get_tenant(store, &id)
                .await?
                .ok_or(ServiceError::NotFound { what: "tenant" })?;
            Ok(id)
        }
    }
}

pub async fn run(store: &dyn LeadStore, command: KeyCommand, out: &mut dyn Write) -> Result<(), CliError> {
    let now = leadgate_core::ports::clock::Clock::now(&leadgate_core::ports::clock::SystemClock);
    match command {
        KeyCommand::Create {
            owner,
            name,
            role,
            user,
        } => {
            let (record, key) = if owner.operator {
                tenants::create_operator_key(store, &name, None, now).await?
            } else {
                let tenant = partition(store, &owner).await?;
                let role = match role {
                    RoleArg::Admin => Role::Admin,
                    RoleArg::Rep => Role::Rep,
                };
                let user = match (role, user) {
                    (_, Some(u)) => u,
                    (Role::Admin, None) => "admin".to_owned(),
                    (Role::Rep, None) => {
                        return Err(CliError::Rejected("a rep key needs --user (the rep id)".into()));
                    }
                };
                let new = api_keys::NewKey {
                    tenant: &tenant,
                    user: &user,
                    role,
                    name: &name,
                };
                api_keys::create_api_key(store, new, None, now).await?
            };
            let shown = serde_json::json!({
                "id": record.id.to_string(), "tenant": record.tenant, "name": record.name,
                "user": record.user, "role": record.role, "prefix": record.prefix,
                "created_at": record.created_at, "key": key.expose(),
            });
            writeln!(out, "{shown:#}").map_err(out_err)?;
        }
        KeyCommand::List { owner } => {
            let tenant = partition(store, &owner).await?;
            writeln!(out, "id\trole\tuser\tprefix\tcreated_at\trevoked_at\tname").map_err(out_err)?;
            for k in store.list_api_keys(&tenant).await.map_err(ServiceError::from)? {
                let role = match k.role {
                    Role::Admin if owner.operator => "operator",
                    Role::Admin => "admin",
                    Role::Rep => "rep",
                };
                let revoked = k.revoked_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into());
                writeln!(
                    out,
                    "{}\t{role}\t{}\t{}\t{}\t{revoked}\t{}",
                    k.id,
                    k.user,
                    k.prefix,
                    k.created_at.to_rfc3339(),
                    k.name
                )
                .map_err(out_err)?;
            }
        }
        KeyCommand::Revoke { id, owner } => {
            let tenant = partition(store, &owner).await?;
            let id = ApiKeyId::parse(&id).map_err(|e| CliError::Rejected(e.to_string()))?;
            api_keys::revoke_api_key(store, &tenant, &id, now).await?;
            writeln!(out, "{id}\trevoked").map_err(out_err)?;
        }
    }
    Ok(())
}
