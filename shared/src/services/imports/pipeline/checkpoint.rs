//! Where a run stands and how far it may go: the checkpoint a run saves (and the sink it saves
//! it to: the import's claim), the budget of one invocation, and the pass it is in.

use super::{Counters, ImportReport};
use crate::services::ServiceError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Rows one batch writes (and looks up) at once.
pub const BATCH: usize = 500;
/// Rows between checkpoints (and report parts) unless a run says otherwise.
pub const CHECKPOINT_ROWS: u64 = 5_000;
/// The longest a run goes without a checkpoint: well inside the claim's 2-minute lease and a
/// Lambda's 90-second deadline margin, however slow its rows are.
pub const CHECKPOINT_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pass {
    /// Pass 1: validate and classify, write the report parts.
    Classify,
    /// Pass 2: save.
    Write,
}

/// Where a run stopped; enough to go on from there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub pass: Pass,
    /// Data rows of this pass already done.
    pub rows_done: u64,
    pub counters: Counters,
    /// Report parts already in the bucket (`parts/errors-N.csv`, `parts/duplicates-N.csv`).
    pub error_parts: u32,
    pub duplicate_parts: u32,
    pub started_at: DateTime<Utc>,
    /// Pass 1's preview so far.
    #[serde(default)]
    pub preview: Option<crate::import::preview::Preview>,
    /// The job's lead ids ascend with the row (`import_lead_id`); absent, and so false, in
    /// the checkpoints of runs begun before they did.
    #[serde(default)]
    pub ascending_ids: bool,
}

/// Persists checkpoints (the import's claim record). An error stops the run, e.g. when
/// another worker has taken the import over.
#[async_trait::async_trait]
pub trait CheckpointSink: Send + Sync {
    async fn save(&self, checkpoint: &Checkpoint) -> Result<(), ServiceError>;
}

/// A sink that keeps nothing, for runs that are never resumed.
pub struct NoCheckpoints;

#[async_trait::async_trait]
impl CheckpointSink for NoCheckpoints {
    async fn save(&self, _: &Checkpoint) -> Result<(), ServiceError> {
        Ok(())
    }
}

/// How much one invocation may do before it stops at a checkpoint.
#[derive(Debug, Clone, Copy, Default)]
pub struct Budget {
    /// Stop at the first checkpoint after this instant (a Lambda's deadline minus a margin).
    pub deadline: Option<Instant>,
    /// Stop at the first checkpoint after this many rows (both passes count).
    pub max_rows: Option<u64>,
}

impl Budget {
    pub const UNLIMITED: Budget = Budget {
        deadline: None,
        max_rows: None,
    };

    pub(super) fn spent(&self, rows: u64) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d) || self.max_rows.is_some_and(|m| rows >= m)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RunResult {
    Finished(Box<ImportReport>),
    /// The budget ran out; start again from this checkpoint.
    Paused(Checkpoint),
}
