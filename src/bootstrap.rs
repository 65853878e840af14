//! First start: the `default` tenant (with its seeded sources) and an admin API key, and a
//! platform operator key (for `/v1/tenants`) in `{data}/operator-key.txt`.
//!
//! The key is written to `{data}/admin-key.txt` (mode 0600) before its hash is stored, so a
//! crash in between loses nothing: the next start sees no key for the tenant and makes one.
//! With `LEADGATE_ADMIN_KEY` set, that key is registered instead and no file is written.

use crate::config::Settings;
use leadgate_core::domain::TenantId;
use leadgate_core::domain::api_key::generate_key;
use leadgate_core::domain::tenant::Role;
use leadgate_core::ports::clock::Clock;
use leadgate_core::ports::store::LeadStore;
use leadgate_core::services::api_keys::{NewKey, authenticate, create_api_key};
use leadgate_core::services::{ServiceError, tenants};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const DEFAULT_TENANT: &str = "default";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminKey {
    /// Generated now and written to this file.
    Written(PathBuf),
    /// Registered from LEADGATE_ADMIN_KEY now.
    FromEnv,
    /// Keys existed already; the first-start file, if it is still there.
    Existing {
        file: Option<PathBuf>,
        env_key_valid: Option<bool>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirstStart {
    pub tenant_created: bool,
    pub admin_key: AdminKey,
    /// The operator key file, when one was written now.
    pub operator_key: Option<PathBuf>,
}

impl FirstStart {
    /// One line about the operator key when it was made now. Never the key itself.
    pub fn operator_key_hint(&self) -> Option<String> {
        self.operator_key.as_ref().map(|p| {
            format!(
                "created a platform operator key for /v1/tenants: `cat {}`",
                p.display()
            )
        })
    }

    /// One line for the console about where the admin key is. Never the key itself.
    pub fn admin_key_hint(&self) -> String {
        match &self.admin_key {
            AdminKey::Written(p) => format!(
                "created tenant 'default' and an admin API key: read it with `cat {}` (shown nowhere else)",
                p.display()
            ),
            AdminKey::FromEnv => "created tenant 'default' with the admin API key from LEADGATE_ADMIN_KEY".into(),
            AdminKey::Existing { env_key_valid: Some(true), .. } => "using the admin API key from LEADGATE_ADMIN_KEY".into(),
            AdminKey::Existing { env_key_valid: Some(false), .. } => {
                "warning: LEADGATE_ADMIN_KEY is not a key of this data directory (it is only registered on first start)".into()
            }
            AdminKey::Existing { file: Some(p), .. } => format!("admin API key: `cat {}`", p.display()),
            AdminKey::Existing { file: None, .. } => {
                "admin API keys exist; the first-start key file was removed".into()
            }
        }
    }
}

/// Creates a file readable only by its owner.
pub fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(content.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

pub async fn bootstrap(
    store: &dyn LeadStore,
    clock: &dyn Clock,
    settings: &Settings,
) -> Result<FirstStart, ServiceError> {
    let tenant = TenantId::parse(DEFAULT_TENANT)?;
    let (_, tenant_created) = tenants::ensure_tenant(store, &tenant, "Default", clock.now()).await?;
    let operator_key = ensure_operator_key(store, clock, settings).await?;
    if !store.list_api_keys(&tenant).await?.is_empty() {
        let file = settings.admin_key_file();
        let env_key_valid = match &settings.admin_key {
            Some(k) => Some(authenticate(store, k).await?.is_some()),
            None => None,
        };
        return Ok(FirstStart {
            tenant_created,
            admin_key: AdminKey::Existing {
                file: file.exists().then_some(file),
                env_key_valid,
            },
            operator_key,
        });
    }
    let new = NewKey {
        tenant: &tenant,
        user: "admin",
        role: Role::Admin,
        name: "first-start admin key",
    };
    let admin_key = match &settings.admin_key {
        Some(k) => {
            create_api_key(store, new, Some(k.clone()), clock.now()).await?;
            AdminKey::FromEnv
        }
        None => {
            let key = generate_key();
            let file = settings.admin_key_file();
            write_private(&file, key.expose())
                .map_err(|e| ServiceError::Store(leadgate_core::ports::store::StoreError::unavailable(e)))?;
            create_api_key(store, new, Some(key), clock.now()).await?;
            AdminKey::Written(file)
        }
    };
    Ok(FirstStart {
        tenant_created,
        admin_key,
        operator_key,
    })
}

/// Makes a platform operator key when the platform has none, written first to
/// `{data}/operator-key.txt` (mode 0600) as the admin key is. `None` when keys exist.
async fn ensure_operator_key(
    store: &dyn LeadStore,
    clock: &dyn Clock,
    settings: &Settings,
) -> Result<Option<PathBuf>, ServiceError> {
    if !store.list_api_keys(&tenants::platform()).await?.is_empty() {
        return Ok(None);
    }
    let key = generate_key();
    let file = settings.data_dir.join("operator-key.txt");
    write_private(&file, key.expose())
        .map_err(|e| ServiceError::Store(leadgate_core::ports::store::StoreError::unavailable(e)))?;
    tenants::create_operator_key(store, "first-start operator key", Some(key), clock.now()).await?;
    Ok(Some(file))
}
