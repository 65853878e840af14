//! Key strings of the DynamoDB single table. Tenant, rep and source ids are slugs (no `#`),
//! so every prefix below is unambiguous. Outside `dynamo` because it needs no SDK: the notify
//! function reads stream records' keys with it.

use crate::domain::ids::{LeadId, TenantId};
use crate::domain::lead::Lead;

pub const LEAD_SK: &str = "#LEAD";
pub const ACTIVITY_PREFIX: &str = "A#";
pub const UNASSIGNED: &str = "-";

pub fn lead_pk(t: &TenantId, id: &LeadId) -> String {
    format!("T#{t}#L#{id}")
}

/// Which write shard a lead's filter-index entries go to. The low bits of a UUIDv7 are random,
/// so leads spread evenly.
pub fn shard_of(id: &LeadId, shards: u16) -> u16 {
    (id.as_uuid().as_u128() % u128::from(shards.max(1))) as u16
}

pub fn all_pk(t: &TenantId, shard: u16) -> String {
    format!("T#{t}#ALL#{shard}")
}

pub fn status_pk(t: &TenantId, status: &str, shard: u16) -> String {
    format!("T#{t}#ST#{status}#{shard}")
}

pub fn owner_pk(t: &TenantId, owner: Option<&str>, shard: u16) -> String {
    format!("T#{t}#OW#{}#{shard}", owner.unwrap_or(UNASSIGNED))
}

pub fn source_pk(t: &TenantId, source: &str, shard: u16) -> String {
    format!("T#{t}#SRC#{source}#{shard}")
}

pub fn email_pk(t: &TenantId, email: &str) -> String {
    format!("T#{t}#EM#{email}")
}

pub fn phone_pk(t: &TenantId, phone: &str) -> String {
    format!("T#{t}#PH#{phone}")
}

pub fn external_pk(t: &TenantId, provider: &str, id: &str) -> String {
    format!("T#{t}#X#{provider}#{id}")
}

pub fn idempotency_pk(t: &TenantId, key: &str) -> String {
    format!("T#{t}#I#{key}")
}

pub fn record_pk(t: &TenantId, kind: &str) -> String {
    format!("T#{t}#R#{kind}")
}

/// The attribute naming a record item's kind (`rk`), which the stream filter matches on.
/// (The update expressions in `records.rs` spell it out.)
pub const RECORD_KIND: &str = "rk";

/// The tenant of a record key of this kind (`T#{tenant}#R#{kind}`), as a stream record
/// names it; `None` for any other key.
pub fn record_pk_tenant(pk: &str, kind: &str) -> Option<TenantId> {
    let rest = pk.strip_prefix("T#")?;
    let tenant = rest.strip_suffix(kind)?.strip_suffix("#R#")?;
    TenantId::parse(tenant).ok()
}

pub fn counter_pk(t: &TenantId, name: &str) -> String {
    format!("T#{t}#C#{name}")
}

pub fn key_lookup_pk(hash: &str) -> String {
    format!("K#{hash}")
}

pub fn tenant_keys_pk(t: &TenantId) -> String {
    format!("T#{t}#KEYS")
}

pub fn lead_shard(l: &Lead, shards: u16) -> u16 {
    shard_of(&l.id, shards)
}
