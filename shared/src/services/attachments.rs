//! Attachments: a file announced on a lead (an upload URL bound to its type and size), and its
//! arrival in the bucket, which is when it goes on the lead's timeline.
//!
//! The bucket layout is `attachments/{tenant}/{lead}/{attachment id}/{file name}` (`bucket_keys`). The
//! announcement is a record (kind `attachment`, id = attachment id) holding the full file
//! name, the type the upload is bound to, and who announced it. Arrival comes from the bucket:
//! S3's ObjectCreated event on AWS (the import function), the local bucket folder's upload
//! notice on one machine. It writes the timeline entry and marks the record arrived in one
//! `commit_lead_change`, so an event delivered twice records the file once, and a file that
//! never came is never on the timeline.

use crate::domain::activity::{Activity, ActivityKind, Actor};
use crate::domain::ids::LeadId;
use crate::domain::tenant::{Principal, Tenant};
use crate::ports::blob::BlobKey;
use crate::ports::clock::Clock;
use crate::ports::store::{Expect, LeadStore, RecordWrite, StoreError, get_typed, kinds};
use crate::services::ServiceError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::bucket_keys::{attachment_of as parse_attachment_key, attachments_prefix};

/// What was announced for an upload, and whether it has arrived.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnnouncedAttachment {
    pub lead_id: LeadId,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    /// The user who asked for the upload URL; the timeline entry is theirs.
    #[serde(default)]
    pub announced_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrived_at: Option<DateTime<Utc>>,
}

/// Records the announcement of an upload under a new attachment id; returns the id. The
/// caller presigns the upload with the same type and size.
pub async fn announce(
    store: &dyn LeadStore,
    tenant: &Tenant,
    principal: &Principal,
    lead: &LeadId,
    id: &str,
    announced: AnnouncedAttachment,
) -> Result<(), ServiceError> {
    let record = AnnouncedAttachment {
        lead_id: *lead,
        announced_by: Some(principal.user.clone()),
        arrived_at: None,
        ..announced
    };
    crate::ports::store::put_typed(store, &tenant.id, kinds::ATTACHMENT, id, &record, Expect::Absent).await?;
    Ok(())
}

/// What an object's arrival did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// On the timeline now.
    Recorded,
    /// It was already (an event delivered twice).
    AlreadyRecorded,
    /// Not an announced attachment of a stored lead (another key, or the lead is gone).
    Ignored,
}

/// The file at `key` is in the bucket with `size` bytes: puts it on its lead's timeline, with
/// the type its upload was bound to, unless it is there already.
pub async fn arrived(
    store: &dyn LeadStore,
    clock: &dyn Clock,
    key: &BlobKey,
    size: u64,
) -> Result<Arrival, ServiceError> {
    let Some((tenant, lead_id, id)) = parse_attachment_key(key) else {
        return Ok(Arrival::Ignored);
    };
    // A suspended tenant's data stays as it is: a file uploaded on a URL issued before the
    // suspension is kept in the bucket (and listed), not put on the timeline.
    if let Err(ServiceError::Forbidden(_)) = crate::services::tenants::active_tenant(store, &tenant).await {
        tracing::warn!(%tenant, "an attachment arrived for a suspended tenant; not on the timeline");
        return Ok(Arrival::Ignored);
    }
    for _ in 0..5 {
        let Some(record) = get_typed::<AnnouncedAttachment>(store, &tenant, kinds::ATTACHMENT, &id).await?
        else {
            return Ok(Arrival::Ignored);
        };
        let announced = record.value;
        if announced.lead_id != lead_id {
            return Ok(Arrival::Ignored);
        }
        if announced.arrived_at.is_some() {
            return Ok(Arrival::AlreadyRecorded);
        }
        let Some(lead) = store.get_lead(&tenant, &lead_id).await? else {
            return Ok(Arrival::Ignored);
        };
        let now = clock.now();
        let entry = Activity::new(
            tenant.clone(),
            lead_id,
            now,
            match &announced.announced_by {
                Some(user) => Actor::User { id: user.clone() },
                None => Actor::System,
            },
            ActivityKind::Attachment {
                key: key.to_string(),
                filename: announced.filename.clone(),
                size,
                content_type: Some(announced.content_type.clone()),
            },
        );
        let marked = AnnouncedAttachment {
            arrived_at: Some(now),
            ..announced
        };
        let write = RecordWrite::typed(
            kinds::ATTACHMENT,
            id.clone(),
            &marked,
            Expect::Version(record.version),
        )?;
        match store.commit_lead_change(&lead, &[write], &[entry]).await {
            Ok(_) => return Ok(Arrival::Recorded),
            // The lead moved, or another delivery marked the record: read both again.
            Err(StoreError::Conflict { .. }) => continue,
            Err(StoreError::NotFound) => return Ok(Arrival::Ignored),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServiceError::VersionConflict)
}
