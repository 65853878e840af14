//! API keys: create (the key is returned once), authenticate, list, revoke.

use crate::domain::api_key::{ApiKeyRecord, KeyHash, display_prefix, generate_key};
use crate::domain::error::{FieldError, FieldErrors};
use crate::domain::ids::{ApiKeyId, TenantId};
use crate::domain::tenant::{Principal, Role};
use crate::ports::store::{LeadStore, StoreError};
use crate::secret::Secret;
use crate::services::ServiceError;
use chrono::{DateTime, Utc};

pub struct NewKey<'a> {
    pub tenant: &'a TenantId,
    pub user: &'a str,
    pub role: Role,
    pub name: &'a str,
}

impl NewKey<'_> {
    /// A key's name is 1-80 characters and its user 1-128 (both trimmed): checked here for
    /// the API and the CLI alike.
    pub fn check(&self) -> Result<(), FieldErrors> {
        let mut errs = FieldErrors::default();
        if self.name.trim().is_empty() || self.name.chars().count() > 80 {
            errs.push(FieldError::new(
                "name",
                "invalid_length",
                "a key name is 1-80 characters",
            ));
        }
        if self.user.trim().is_empty() || self.user.chars().count() > 128 {
            errs.push(FieldError::new(
                "user",
                "invalid_length",
                "user is 1-128 characters",
            ));
        }
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }
}

/// Stores the hash of `key` (a freshly generated one when `None`) and returns the record with
/// the key itself, which is never stored.
pub async fn create_api_key(
    store: &dyn LeadStore,
    new: NewKey<'_>,
    key: Option<Secret>,
    now: DateTime<Utc>,
) -> Result<(ApiKeyRecord, Secret), ServiceError> {
    new.check()?;
    let key = key.unwrap_or_else(generate_key);
    let record = ApiKeyRecord {
        id: ApiKeyId::new(),
        tenant: new.tenant.clone(),
        user: new.user.trim().to_owned(),
        role: new.role,
        name: new.name.trim().to_owned(),
        hash: KeyHash::of(&key),
        prefix: display_prefix(&key),
        created_at: now,
        revoked_at: None,
    };
    match store.put_api_key(&record).await {
        Ok(()) => Ok((record, key)),
        Err(StoreError::Conflict { .. }) => Err(ServiceError::AlreadyExists(
            "that API key is already registered".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Resolves a presented key to its principal; `None` for unknown or revoked keys.
pub async fn authenticate(
    store: &dyn LeadStore,
    presented: &Secret,
) -> Result<Option<Principal>, ServiceError> {
    Ok(authenticate_key(store, presented).await?.map(|(p, _)| p))
}

/// As `authenticate`, with the id of the key that was presented.
pub async fn authenticate_key(
    store: &dyn LeadStore,
    presented: &Secret,
) -> Result<Option<(Principal, ApiKeyId)>, ServiceError> {
    let hash = KeyHash::of(presented);
    let Some(rec) = store.find_api_key(&hash).await? else {
        return Ok(None);
    };
    if !rec.hash.matches(&hash) || !rec.is_active() {
        return Ok(None);
    }
    Ok(Some((
        Principal {
            tenant: rec.tenant,
            user: rec.user,
            role: rec.role,
        },
        rec.id,
    )))
}

pub async fn revoke_api_key(
    store: &dyn LeadStore,
    tenant: &TenantId,
    id: &ApiKeyId,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    match store.revoke_api_key(tenant, id, now).await {
        Err(StoreError::NotFound) => Err(ServiceError::NotFound { what: "API key" }),
        other => Ok(other?),
    }
}
