//! Tenants: creation (seeded with the standard lead sources and a first admin key), lookup,
//! the platform operator's list, suspension and resumption.
//!
//! A tenant's record lives in the tenant's own partition under a fixed id, so a request reads
//! only its own tenant. The operator's list is an index of entries in the platform partition
//! (`PLATFORM`, a slug no tenant may take): one small entry per tenant, written before the
//! tenant record (the list skips an entry whose record never came) and re-written by every
//! `ensure_tenant`. A create that stopped before the first admin key is finished by the next
//! create of the same id. Operator keys are API keys in the platform partition.

use crate::domain::api_key::ApiKeyRecord;
use crate::domain::error::FieldError;
use crate::domain::ids::TenantId;
use crate::domain::query::{Page, decode_position_cursor, encode_position_cursor};
use crate::domain::source::seeded_sources;
use crate::domain::tenant::{Principal, Role, Tenant, TenantSettings};
use crate::ports::store::{Expect, LeadStore, StoreError, get_typed, kinds, put_typed};
use crate::secret::Secret;
use crate::services::ServiceError;
use crate::services::api_keys::{NewKey, create_api_key};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The tenant record lives in its own partition under a fixed id.
const TENANT_RECORD_ID: &str = "self";

/// The partition of the operator's tenant index and operator keys. No tenant can be created
/// under this id, so no tenant credential reaches it.
pub const PLATFORM: &str = "platform";

/// Tenants listed per page at most: the page size of every client list.
pub const MAX_TENANT_PAGE: u32 = crate::domain::query::MAX_CLIENT_PAGE;

pub fn platform() -> TenantId {
    TenantId::parse(PLATFORM).expect("the platform partition id is a slug")
}

/// Whether a principal is a platform operator (its key lives in the platform partition).
pub fn is_operator(principal: &Principal) -> bool {
    principal.tenant.as_str() == PLATFORM
}

/// The operator's index entry for one tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TenantEntry {
    id: TenantId,
}

pub async fn get_tenant(store: &dyn LeadStore, id: &TenantId) -> Result<Option<Tenant>, ServiceError> {
    Ok(get_typed::<Tenant>(store, id, kinds::TENANT, TENANT_RECORD_ID)
        .await?
        .map(|v| v.value))
}

/// The tenant a request, delivery, import or export acts for: it must exist and not be
/// suspended. The one place that rule lives.
pub async fn active_tenant(store: &dyn LeadStore, id: &TenantId) -> Result<Tenant, ServiceError> {
    let tenant = get_tenant(store, id)
        .await?
        .ok_or(ServiceError::NotFound { what: "tenant" })?;
    if tenant.is_suspended() {
        return Err(ServiceError::Forbidden("the tenant is suspended"));
    }
    Ok(tenant)
}

async fn index_tenant(store: &dyn LeadStore, id: &TenantId) -> Result<(), ServiceError> {
    let entry = TenantEntry { id: id.clone() };
    match put_typed(
        store,
        &platform(),
        kinds::TENANT_ENTRY,
        id.as_str(),
        &entry,
        Expect::Absent,
    )
    .await
    {
        Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A tenant as the operator creates it.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub id: TenantId,
    pub name: String,
}

impl NewTenant {
    /// Checks an id and name from outside: a slug that is not the platform's, and a name of
    /// 1-120 characters.
    pub fn parse(id: &str, name: &str) -> Result<Self, ServiceError> {
        let mut errs = crate::domain::error::FieldErrors::default();
        let id = match TenantId::parse(id) {
            Ok(t) if t.as_str() == PLATFORM => {
                errs.push(FieldError::new(
                    "id",
                    "reserved",
                    "this id is reserved for the platform",
                ));
                None
            }
            Ok(t) => Some(t),
            Err(e) => {
                errs.push(FieldError::new("id", e.code, e.message));
                None
            }
        };
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 120 {
            errs.push(FieldError::new(
                "name",
                "invalid_length",
                "a tenant name is 1-120 characters",
            ));
        } else if name.chars().any(char::is_control) {
            errs.push(FieldError::new(
                "name",
                "invalid_characters",
                "a tenant name has no control characters",
            ));
        }
        match id {
            Some(id) if errs.is_empty() => Ok(Self {
                id,
                name: name.to_owned(),
            }),
            _ => Err(errs.into()),
        }
    }
}

/// Creates a tenant with its seeded sources and its first admin key, which is returned once.
/// An id that is taken is a conflict (its index entry is mended on the way), unless the tenant
/// has no key at all: then an earlier create stopped short, and this one makes the key.
pub async fn create_tenant(
    store: &dyn LeadStore,
    new: &NewTenant,
    now: DateTime<Utc>,
) -> Result<(Tenant, ApiKeyRecord, Secret), ServiceError> {
    let (tenant, created) = ensure_tenant(store, &new.id, &new.name, now).await?;
    // A tenant without any key is a create that stopped before its key: this one finishes it.
    if !created && !store.list_api_keys(&tenant.id).await?.is_empty() {
        return Err(ServiceError::AlreadyExists(format!(
            "a tenant with id '{}' exists",
            new.id
        )));
    }
    let (record, key) = create_api_key(
        store,
        NewKey {
            tenant: &tenant.id,
            user: "admin",
            role: Role::Admin,
            name: "first admin key",
        },
        None,
        now,
    )
    .await?;
    Ok((tenant, record, key))
}

/// A page of tenants in id order. `cursor` is the previous page's `next_cursor`.
pub async fn list_tenants(
    store: &dyn LeadStore,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<Tenant>, ServiceError> {
    let after = cursor.map(decode_position_cursor).transpose()?;
    let limit = limit.clamp(1, MAX_TENANT_PAGE);
    // One more than asked says whether there is a next page.
    let mut entries = store
        .list_records(&platform(), kinds::TENANT_ENTRY, after.as_deref(), limit + 1)
        .await?;
    let more = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    let next_cursor = more
        .then(|| entries.last().map(|e| encode_position_cursor(&e.id)))
        .flatten();
    let mut items = Vec::with_capacity(entries.len());
    for e in entries {
        let Ok(id) = TenantId::parse(&e.id) else { continue };
        // An entry whose tenant record is gone names nothing to list.
        if let Some(t) = get_tenant(store, &id).await? {
            items.push(t);
        }
    }
    Ok(Page { items, next_cursor })
}

/// Suspends (`Some(now)`) or resumes (`None`) a tenant. Doing what is already done is a
/// no-op that keeps the first suspension time.
pub async fn set_suspended(
    store: &dyn LeadStore,
    id: &TenantId,
    at: Option<DateTime<Utc>>,
) -> Result<Tenant, ServiceError> {
    for _ in 0..3 {
        let current = get_typed::<Tenant>(store, id, kinds::TENANT, TENANT_RECORD_ID)
            .await?
            .ok_or(ServiceError::NotFound { what: "tenant" })?;
        if current.value.suspended_at.is_some() == at.is_some() {
            return Ok(current.value);
        }
        let tenant = Tenant {
            suspended_at: at,
            ..current.value
        };
        match put_typed(
            store,
            id,
            kinds::TENANT,
            TENANT_RECORD_ID,
            &tenant,
            Expect::Version(current.version),
        )
        .await
        {
            Ok(_) => return Ok(tenant),
            // Settings changed meanwhile: read them again rather than write over them.
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::VersionConflict)
}

/// Creates the tenant and its seeded sources if it does not exist; returns it and whether it
/// was created now. Safe to call from several processes at once.
pub async fn ensure_tenant(
    store: &dyn LeadStore,
    id: &TenantId,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(Tenant, bool), ServiceError> {
    if let Some(t) = get_tenant(store, id).await? {
        index_tenant(store, id).await?;
        return Ok((t, false));
    }
    // Sources, then the operator's index entry, then the record: a crash in between leaves
    // nothing a request can use (no record) and the next call finishes the job. The entry of
    // a tenant whose record never came is skipped by the list.
    for s in seeded_sources() {
        match put_typed(store, id, kinds::SOURCE, s.id.as_str(), &s, Expect::Absent).await {
            Ok(_) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let tenant = Tenant {
        id: id.clone(),
        name: name.to_owned(),
        created_at: now,
        settings: TenantSettings::default(),
        suspended_at: None,
    };
    index_tenant(store, id).await?;
    match put_typed(
        store,
        id,
        kinds::TENANT,
        TENANT_RECORD_ID,
        &tenant,
        Expect::Absent,
    )
    .await
    {
        Ok(_) => Ok((tenant, true)),
        Err(StoreError::Conflict { .. }) => {
            let t = get_tenant(store, id)
                .await?
                .ok_or(ServiceError::NotFound { what: "tenant" })?;
            Ok((t, false))
        }
        Err(e) => Err(e.into()),
    }
}

/// Registers a platform operator key (a fresh one when `key` is `None`); returned once.
pub async fn create_operator_key(
    store: &dyn LeadStore,
    name: &str,
    key: Option<Secret>,
    now: DateTime<Utc>,
) -> Result<(ApiKeyRecord, Secret), ServiceError> {
    create_api_key(
        store,
        NewKey {
            tenant: &platform(),
            user: "operator",
            role: Role::Admin,
            name,
        },
        key,
        now,
    )
    .await
}

pub async fn update_settings(
    store: &dyn LeadStore,
    id: &TenantId,
    settings: TenantSettings,
) -> Result<Tenant, ServiceError> {
    let current = get_typed::<Tenant>(store, id, kinds::TENANT, TENANT_RECORD_ID)
        .await?
        .ok_or(ServiceError::NotFound { what: "tenant" })?;
    let tenant = Tenant {
        settings,
        ..current.value
    };
    put_typed(
        store,
        id,
        kinds::TENANT,
        TENANT_RECORD_ID,
        &tenant,
        Expect::Version(current.version),
    )
    .await?;
    Ok(tenant)
}
