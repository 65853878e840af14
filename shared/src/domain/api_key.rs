//! API keys: 256 random bits shown once at creation, stored only as a SHA-256 hash.
//!
//! A plain (unsalted, fast) hash is right here: the input is a uniformly random 256-bit value,
//! so there is nothing to brute-force, and a deterministic hash lets the store look a key up
//! by its hash. Comparison of the presented key's hash with the stored one is constant-time.

use crate::domain::ids::{ApiKeyId, TenantId};
use crate::domain::tenant::Role;
use crate::secret::Secret;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub const KEY_PREFIX: &str = "lg_";

/// The hex SHA-256 of a key: what the store keeps and looks up by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct KeyHash(String);

impl KeyHash {
    pub fn of(key: &Secret) -> Self {
        Self(hex::encode(Sha256::digest(key.expose().as_bytes())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time equality, for checking a found record against the presented key.
    pub fn matches(&self, other: &KeyHash) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub tenant: TenantId,
    /// The user the key acts as (for a rep key, the rep id).
    pub user: String,
    pub role: Role,
    pub name: String,
    pub hash: KeyHash,
    /// The first characters of the key, so people can tell keys apart in a list.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKeyRecord {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// Generates a fresh key: `lg_` + 43 base64url characters (256 bits).
pub fn generate_key() -> Secret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(format!(
        "{KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// Checks that a key someone supplies (e.g. `LEADGATE_ADMIN_KEY`) is strong enough to use.
pub fn check_supplied_key(key: &Secret) -> Result<(), String> {
    let k = key.expose();
    if k.len() < 32 {
        return Err("an API key must be at least 32 characters".into());
    }
    if k.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("an API key must not contain spaces or control characters".into());
    }
    Ok(())
}

pub fn display_prefix(key: &Secret) -> String {
    key.expose().chars().take(KEY_PREFIX.len() + 6).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_keys_are_generated_should_be_unique_and_hash_stably() {
        let a = generate_key();
        let b = generate_key();
        assert_ne!(a, b);
        assert!(a.expose().starts_with(KEY_PREFIX));
        assert_eq!(a.expose().len(), 46);
        assert!(KeyHash::of(&a).matches(&KeyHash::of(&a.clone())));
        assert!(!KeyHash::of(&a).matches(&KeyHash::of(&b)));
        assert!(!KeyHash::of(&a).as_str().contains(a.expose()));
    }

    #[test]
    fn when_supplied_key_is_weak_should_refuse() {
        assert!(check_supplied_key(&Secret::new("short")).is_err());
        assert!(check_supplied_key(&Secret::new("x".repeat(31) + " ")).is_err());
        assert!(check_supplied_key(&Secret::new("x".repeat(40))).is_ok());
    }
}
