//! The per-lead activity timeline. It is append-only: activities are never edited or removed
//! (except with their lead), and every append moves the lead's `last_activity_at`.

use crate::domain::ids::{ActivityId, LeadId, RepId, TenantId};
use crate::domain::status::LeadStatus;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who caused an activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    User { id: String },
    System,
    Capture { channel: String },
    Import { job: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActivityKind {
    StatusChanged {
        from: LeadStatus,
        to: LeadStatus,
        /// Why, for a move to unqualified (from the tenant's reasons).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Note {
        body: String,
    },
    Call {
        direction: Direction,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_seconds: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notes: Option<String>,
    },
    Email {
        direction: Direction,
        subject: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
    },
    TaskCreated {
        task_id: ActivityId,
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due_at: Option<DateTime<Utc>>,
    },
    TaskCompleted {
        task_id: ActivityId,
    },
    /// A file that arrived in the bucket, with its real size and the type it was uploaded as.
    Attachment {
        key: String,
        filename: String,
        size: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
    },
    Assigned {
        from: Option<RepId>,
        to: Option<RepId>,
        /// Why: "round_robin", "manual", "import", ...
        reason: String,
    },
    Captured {
        channel: String,
        submission_id: String,
        /// true when the submission matched this existing lead instead of making a new one.
        resubmitted: bool,
    },
    /// Created or updated by an import job, in the same write as the change.
    Imported {
        job_id: String,
        /// true when the job created the lead; false when it updated it.
        created: bool,
        /// The fields an update changed (empty for a created lead).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        fields: Vec<String>,
    },
    /// A deal converted from this lead moved to another pipeline stage.
    DealStageChanged {
        deal_id: String,
        from: String,
        to: String,
    },
    /// A person changed these fields (besides status and owner, which have their own
    /// entries), by PATCH or in a bulk edit.
    FieldsChanged {
        fields: Vec<String>,
    },
    /// An import's change to this lead was undone (`DELETE /v1/imports/{id}`).
    ImportUndone {
        job_id: String,
    },
    Converted {
        prospect_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        deal_id: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Activity {
    pub id: ActivityId,
    pub tenant: TenantId,
    pub lead_id: LeadId,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    #[serde(flatten)]
    pub kind: ActivityKind,
}

impl ActivityKind {
    /// Whether this entry is activity on the lead, moving its `last_activity_at`: a touch
    /// (a call, a status change, a capture), not an edit of its fields, as a CRM's "last
    /// activity" view and a stale-lead filter expect.
    pub fn counts_as_activity(&self) -> bool {
        !matches!(self, ActivityKind::FieldsChanged { .. })
    }

    /// A call or email logged as inbound: the lead reaching us, not an answer.
    pub fn is_inbound_message(&self) -> bool {
        matches!(
            self,
            ActivityKind::Call {
                direction: Direction::Inbound,
                ..
            } | ActivityKind::Email {
                direction: Direction::Inbound,
                ..
            }
        )
    }

    /// Whether this entry answers the lead (speed to lead): a call or email logged as
    /// outbound, or a move from new to contacted or qualified. Notes, tasks and inbound
    /// messages are not answers (nor a move an inbound message made: see `first_answer`).
    pub fn is_response(&self) -> bool {
        use crate::domain::status::LeadStatus;
        match self {
            ActivityKind::Call { direction, .. } | ActivityKind::Email { direction, .. } => {
                *direction == Direction::Outbound
            }
            ActivityKind::StatusChanged { from, to, .. } => {
                *from == LeadStatus::New && matches!(to, LeadStatus::Contacted | LeadStatus::Qualified)
            }
            _ => false,
        }
    }
}

/// When a change's entries first answer the lead, if they do. A status move made together
/// with an inbound message (the tenant's contact-moves-to-contacted option) is the lead
/// reaching us, so it does not count.
pub fn first_answer(entries: &[Activity]) -> Option<DateTime<Utc>> {
    let inbound = entries.iter().any(|a| a.kind.is_inbound_message());
    entries
        .iter()
        .filter(|a| a.kind.is_response())
        .filter(|a| !(inbound && matches!(a.kind, ActivityKind::StatusChanged { .. })))
        .map(|a| a.at)
        .min()
}

impl Activity {
    pub fn new(
        tenant: TenantId,
        lead_id: LeadId,
        at: DateTime<Utc>,
        actor: Actor,
        kind: ActivityKind,
    ) -> Self {
        Self {
            id: ActivityId::new(),
            tenant,
            lead_id,
            at,
            actor,
            kind,
        }
    }
}
