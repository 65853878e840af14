//! Import profiles: an admin's saved import options (mapping, value translations, mode,
//! duplicate policy, default source) under a name. A file dropped into
//! `imports/{tenant}/{profile}/` runs with that profile; a file dropped straight into
//! `imports/{tenant}/` runs with the profile named `default` when there is one. So an admin
//! who only drops files can still map a CRM's export.

use crate::domain::error::FieldError;
use crate::domain::ids::{is_slug, slug_schema};
use crate::domain::tenant::Tenant;
use crate::import::ImportOptions;
use crate::ports::blob::BlobKey;
use crate::ports::store::{Expect, LeadStore, StoreError, get_typed, list_typed, put_typed};
use crate::services::ServiceError;
use serde::{Deserialize, Serialize};

pub const IMPORT_PROFILE: &str = "import_profile";
/// The profile a file dropped straight into the tenant's folder runs with.
pub const DEFAULT_PROFILE: &str = "default";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportProfile {
    /// The folder name under `imports/{tenant}/` (a slug); `default` serves files dropped
    /// straight into `imports/{tenant}/`.
    #[schema(schema_with = slug_schema)]
    pub name: String,
    #[serde(default)]
    pub options: ImportOptions,
}

/// Checks the profile against the tenant (its mapping's targets and values) and stores it.
pub async fn put_profile(
    store: &dyn LeadStore,
    tenant: &Tenant,
    profile: ImportProfile,
) -> Result<ImportProfile, ServiceError> {
    if !is_slug(&profile.name) {
        return Err(FieldError::new(
            "name",
            "invalid",
            "a profile name is a slug (a-z, 0-9, '-', '_'), 1-64 characters",
        )
        .into());
    }
    super::import_jobs::check_options(store, tenant, &profile.options).await?;
    put_typed(
        store,
        &tenant.id,
        IMPORT_PROFILE,
        &profile.name,
        &profile,
        Expect::Any,
    )
    .await?;
    Ok(profile)
}

pub async fn get_profile(
    store: &dyn LeadStore,
    tenant: &Tenant,
    name: &str,
) -> Result<ImportProfile, ServiceError> {
    find_profile(store, tenant, name)
        .await?
        .ok_or(ServiceError::NotFound {
            what: "import profile",
        })
}

/// The options a new import job runs with: those given, or a saved profile's, not both;
/// neither is the defaults. For the API's `POST /v1/imports` and `leadgate import` alike.
pub async fn options_or_profile(
    store: &dyn LeadStore,
    tenant: &Tenant,
    options: Option<crate::import::ImportOptions>,
    profile: Option<&str>,
) -> Result<crate::import::ImportOptions, ServiceError> {
    use crate::domain::error::FieldError;
    match (options, profile) {
        (Some(_), Some(_)) => {
            Err(FieldError::new("profile", "conflict", "give `options` or a `profile`, not both").into())
        }
        (Some(o), None) => Ok(o),
        (None, Some(name)) => match find_profile(store, tenant, name).await? {
            Some(p) => Ok(p.options),
            None => Err(FieldError::new(
                "profile",
                "unknown_profile",
                format!("no import profile '{name}'"),
            )
            .into()),
        },
        (None, None) => Ok(Default::default()),
    }
}

async fn find_profile(
    store: &dyn LeadStore,
    tenant: &Tenant,
    name: &str,
) -> Result<Option<ImportProfile>, ServiceError> {
    if !is_slug(name) {
        return Ok(None);
    }
    Ok(
        get_typed::<ImportProfile>(store, &tenant.id, IMPORT_PROFILE, name)
            .await?
            .map(|v| v.value),
    )
}

pub async fn list_profiles(
    store: &dyn LeadStore,
    tenant: &Tenant,
) -> Result<Vec<ImportProfile>, ServiceError> {
    Ok(list_typed::<ImportProfile>(store, &tenant.id, IMPORT_PROFILE)
        .await?
        .into_iter()
        .map(|v| v.value)
        .collect())
}

pub async fn delete_profile(store: &dyn LeadStore, tenant: &Tenant, name: &str) -> Result<(), ServiceError> {
    match store
        .delete_record(&tenant.id, IMPORT_PROFILE, name, Expect::Any)
        .await
    {
        Err(StoreError::NotFound) => Err(ServiceError::NotFound {
            what: "import profile",
        }),
        other => Ok(other?),
    }
}

/// The options a dropped file (one no import job was made for) runs with: its folder's
/// profile, or for a file straight in the tenant's folder the `default` profile, else
/// `fallback`. `Err` says why the file cannot run: its folder names no profile (a typo must
/// not import with other options than the admin meant).
pub async fn options_for_drop(
    store: &dyn LeadStore,
    tenant: &Tenant,
    key: &BlobKey,
    fallback: ImportOptions,
) -> Result<Result<ImportOptions, String>, ServiceError> {
    let Some(folder) = crate::bucket_keys::import_key(key.as_str()).and_then(|k| k.folder) else {
        return Ok(Ok(find_profile(store, tenant, DEFAULT_PROFILE)
            .await?
            .map_or(fallback, |p| p.options)));
    };
    if let Some(p) = find_profile(store, tenant, folder).await? {
        return Ok(Ok(p.options));
    }
    let names: Vec<String> = list_profiles(store, tenant)
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    Ok(Err(format!(
        "the folder '{folder}' is neither an import job nor an import profile; drop the file into \
         imports/{}/ or into the folder of a profile ({})",
        tenant.id,
        if names.is_empty() {
            "none saved yet".to_owned()
        } else {
            names.join(", ")
        }
    )))
}
