//! The import pipeline: validate every row, apply the mode and the duplicate policy, write
//! new leads in batches, and write the report (a JSON summary, an errors CSV with the original
//! row plus line, column and reason, and a duplicates CSV naming the lead(s) each row matched
//! and what was done).
//!
//! Rows match stored leads by the rule every write path uses (`find_matches`: email, then
//! phone). A row matching two or more leads is `ambiguous` and writes nothing; under `update`
//! a matched lead changes by the API's PATCH rule (`update`), and a converted one never does.
//! Each created or updated lead gets an `imported` timeline entry in the same write.
//!
//! Memory stays bounded: rows are streamed twice (a validating pass, then a writing pass, so
//! `all_or_nothing` can refuse before anything is saved); the contacts seen so far live in a
//! scratch file (`seen`), and report rows go to the bucket in parts at each checkpoint.
//!
//! Resumable: every `checkpoint_every` rows the run hands a `Checkpoint` (pass, rows done,
//! counters, report parts) to a `CheckpointSink`, and it stops at a checkpoint once its
//! `Budget` is spent. A run started from a checkpoint skips the rows done. Lead ids are derived
//! from (job, row), so rows written after the last checkpoint by a run that was killed are
//! rewritten with the same ids, not duplicated. Within one chunk both passes validate against
//! one snapshot of the tenant's settings; a settings change between chunks applies to the
//! chunks after it.

use super::mapping::{Column, Mapping, RowDates, known_columns, map_headers, row_dates, row_input};
use super::seen::SeenContacts;
use super::table::{self, Table};
use super::update;
use super::{DuplicatePolicy, ImportMode, ImportOptions};
use crate::domain::LeadStatus;
use crate::domain::activity::{Activity, ActivityKind, Actor};
use crate::domain::duplicate::{MatchKey, match_keys};
use crate::domain::error::FieldError;
use crate::domain::ids::{ActivityId, LeadId};
use crate::domain::lead::{Lead, LeadContext, LeadInput, NewLead};
use crate::domain::phone::Phone;
use crate::domain::tenant::Tenant;
use crate::ports::blob::{BlobKey, BlobStore};
use crate::ports::clock::Clock;
use crate::ports::store::{LeadStore, StoreError};
use crate::services::ServiceError;
use crate::services::duplicates::find_matches;
use crate::services::leads::{change_entries, contact_taken, load_context};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

pub const BATCH: usize = 500;
/// Rows between checkpoints (and report parts) unless a run says otherwise.
pub const CHECKPOINT_ROWS: u64 = 5_000;
/// The longest a run goes without a checkpoint: well inside the claim's 2-minute lease and a
/// Lambda's 90-second deadline margin, however slow its rows are.
pub const CHECKPOINT_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportOutcome {
    /// `validate` mode: nothing saved.
    Validated,
    /// Rows were saved (all of them, or the valid ones).
    Completed,
    /// `all_or_nothing` with error rows: nothing saved.
    Rejected,
    /// The file could not be read at all: nothing saved.
    Unreadable,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnReport {
    pub header: String,
    pub maps_to: Column,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportReport {
    pub job_id: String,
    pub file: String,
    pub outcome: ImportOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<table::Format>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<char>,
    /// The header's row number when title rows came before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_line: Option<usize>,
    pub options: ImportOptions,
    pub columns: Vec<ColumnReport>,
    pub unknown_columns: Vec<String>,
    pub rows: u64,
    pub valid_rows: u64,
    pub error_rows: u64,
    pub duplicate_rows: u64,
    pub created: u64,
    pub updated: u64,
    /// Duplicates under policy `update` whose row matched the stored lead already: not written.
    #[serde(default)]
    pub unchanged: u64,
    pub skipped: u64,
    /// Rows that matched more than one stored lead: nothing written (see the duplicates report).
    #[serde(default)]
    pub ambiguous: u64,
    pub errors_csv: String,
    pub duplicates_csv: String,
    pub summary_json: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// How the columns mapped and why, what they held, and the first rows as they would be
    /// stored (once the header is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview: Option<super::preview::Preview>,
}

/// The counters of a run, carried from one chunk to the next.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub rows: u64,
    pub valid_rows: u64,
    pub error_rows: u64,
    pub duplicate_rows: u64,
    pub created: u64,
    pub updated: u64,
    #[serde(default)]
    pub unchanged: u64,
    pub skipped: u64,
    #[serde(default)]
    pub ambiguous: u64,
}

impl ImportReport {
    fn counters(&self) -> Counters {
        Counters {
            rows: self.rows,
            valid_rows: self.valid_rows,
            error_rows: self.error_rows,
            duplicate_rows: self.duplicate_rows,
            created: self.created,
            updated: self.updated,
            unchanged: self.unchanged,
            skipped: self.skipped,
            ambiguous: self.ambiguous,
        }
    }

    fn restore(&mut self, c: &Counters) {
        self.rows = c.rows;
        self.valid_rows = c.valid_rows;
        self.error_rows = c.error_rows;
        self.duplicate_rows = c.duplicate_rows;
        self.created = c.created;
        self.updated = c.updated;
        self.unchanged = c.unchanged;
        self.skipped = c.skipped;
        self.ambiguous = c.ambiguous;
    }
}

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
    pub preview: Option<super::preview::Preview>,
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

    fn spent(&self, rows: u64) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d) || self.max_rows.is_some_and(|m| rows >= m)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RunResult {
    Finished(Box<ImportReport>),
    /// The budget ran out; start again from this checkpoint.
    Paused(Checkpoint),
}

pub struct ImportRun<'a> {
    pub store: &'a dyn LeadStore,
    pub blobs: &'a dyn BlobStore,
    pub clock: &'a dyn Clock,
    pub tenant: &'a Tenant,
    pub job_id: String,
    /// The bucket key of the file, for the report.
    pub file: String,
    pub options: ImportOptions,
    /// Where an earlier chunk stopped.
    pub resume: Option<Checkpoint>,
    pub budget: Budget,
    pub checkpoint_every: u64,
    pub sink: &'a dyn CheckpointSink,
}

/// What one row turned out to be.
enum Row {
    Invalid(Vec<FieldError>),
    /// Same email or phone as an earlier row of the file.
    FileDuplicate {
        first_line: usize,
        key: MatchKey,
        new: Option<Box<NewLead>>,
    },
    /// Matches one stored lead (or several, under `create`, which does not care).
    StoreDuplicate {
        leads: Vec<LeadId>,
        key: MatchKey,
        new: Box<NewLead>,
    },
    /// Under `update`: the stored lead after the row (`changed` false when the row says what
    /// the lead says already).
    Update {
        before: Box<Lead>,
        after: Box<Lead>,
        key: MatchKey,
    },
    /// Under `update`, the lead it matched is converted: never overwritten.
    Converted {
        lead: LeadId,
        key: MatchKey,
    },
    /// Matches more than one stored lead: which one is meant is not known, so nothing is written.
    Ambiguous {
        leads: Vec<LeadId>,
        key: MatchKey,
    },
    Fresh(Box<NewLead>),
}

/// The id of the lead made from data row `ordinal` of job `job`: the same on every run, so a
/// resumed run overwrites what a killed one wrote instead of adding to it. A UUIDv7 whose
/// time is the job's start and whose other bits hash (job, row).
pub fn import_lead_id(job: &str, ordinal: u64, started_at: DateTime<Utc>) -> LeadId {
    LeadId::from_uuid(derived_uuid(&format!("{job}\n{ordinal}"), started_at))
}

/// A UUIDv7 whose time is `at` and whose other bits hash `seed`: the same on every run.
fn derived_uuid(seed: &str, at: DateTime<Utc>) -> uuid::Uuid {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(seed.as_bytes());
    let mut rand = [0u8; 10];
    rand.copy_from_slice(&digest[..10]);
    let millis = at.timestamp_millis().max(0) as u64;
    uuid::Builder::from_unix_timestamp_millis(millis, &rand).into_uuid()
}

fn scratch_err(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Store(crate::ports::store::StoreError::Invalid(format!(
        "import scratch file: {e}"
    )))
}

/// Classifies rows, tracking the file's contacts.
struct Checker<'a> {
    run: &'a ImportRun<'a>,
    ctx: &'a LeadContext,
    columns: &'a [Column],
    mapping: &'a Mapping,
    seen: SeenContacts,
    started_at: DateTime<Utc>,
}

/// A row read against the header: its input (no default source), its contacts, and the
/// errors of reading it that no policy forgives.
struct ReadRow {
    input: LeadInput,
    dates: RowDates,
    keys: Vec<MatchKey>,
    /// The status cell says `converted`.
    converted: bool,
    errors: Vec<FieldError>,
}

impl Checker<'_> {
    fn read(&self, cells: &[String]) -> ReadRow {
        let mut errors = Vec::new();
        // Every row is read against the header. Missing cells at the end are empty (short
        // rows are padded); cells past the header that hold something belong to no column,
        // so the row is refused rather than half-read. Empty ones (XLSX rows often carry
        // them) are nothing.
        let extra: Vec<&str> = cells
            .iter()
            .skip(self.columns.len())
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
            .collect();
        if !extra.is_empty() {
            errors.push(FieldError::new(
                "extra_cells",
                "extra_cells",
                format!(
                    "{} cell(s) past the last of the {} columns: {}",
                    extra.len(),
                    self.columns.len(),
                    extra.join(" | ").chars().take(200).collect::<String>()
                ),
            ));
        }
        // A NUL is in no lead field's alphabet and often marks a damaged cell: the row is
        // refused, naming the column, and the rest of the file goes on.
        for (i, _) in cells.iter().enumerate().filter(|(_, c)| c.contains('\0')) {
            errors.push(FieldError::new(
                "row",
                "nul_character",
                format!(
                    "column {} holds a NUL character (\\0); remove it and import the row again",
                    i + 1
                ),
            ));
        }
        let input = row_input(self.columns, cells, self.mapping);
        let converted = input
            .status
            .as_deref()
            .is_some_and(|s| s.trim().eq_ignore_ascii_case(LeadStatus::Converted.as_str()));
        // The contacts alone, for matching; their errors come again from the full parse.
        let email = input
            .email
            .as_deref()
            .and_then(|e| crate::domain::email::Email::parse(e).ok());
        let phone = [&input.phone, &input.mobile].into_iter().find_map(|p| {
            p.as_deref()
                .and_then(|p| Phone::parse_field(p, self.ctx.region, "phone").ok())
        });
        ReadRow {
            keys: match_keys(email.as_ref(), phone.as_ref()),
            dates: row_dates(self.columns, cells),
            input,
            converted,
            errors,
        }
    }

    /// The row as a new lead (the default source filling an empty source cell). Only
    /// conversion makes a lead converted, but an exported converted lead may come back to
    /// match its stored self, so a `converted` cell is left to `check`.
    fn parse_new(&self, row: &ReadRow) -> Result<NewLead, Vec<FieldError>> {
        let mut input = row.input.clone();
        if input.source.is_none() {
            input.source = self.run.options.default_source.clone();
        }
        if input.owner.is_none() {
            input.owner = self.run.options.default_owner.clone();
        }
        if row.converted {
            input.status = None;
        }
        match NewLead::parse_with(&input, self.ctx, self.run.options.quality()) {
            Ok(mut n) if row.errors.is_empty() => {
                // The job's start, not the clock: a resumed run decides the same way.
                super::dates::apply_row_dates(
                    &mut n,
                    &row.dates,
                    self.run.options.date_order,
                    self.started_at,
                );
                Ok(n)
            }
            Ok(_) => Err(row.errors.clone()),
            Err(mut errs) => {
                errs.0.extend(row.errors.iter().cloned());
                Err(errs.0)
            }
        }
    }

    /// Whether the row claims its contacts within the file (later rows with them are file
    /// duplicates). Decided from the row alone, so a resumed run replays it without the
    /// store: a valid new lead does; under `update` any row with contacts does.
    fn claims(&self, row: &ReadRow) -> bool {
        !row.keys.is_empty()
            && row.errors.is_empty()
            && (self.run.options.duplicates == DuplicatePolicy::Update || self.parse_new(row).is_ok())
    }

    /// A row an earlier chunk already handled: only its contacts are remembered.
    fn replay(&mut self, line: usize, cells: &[String]) -> Result<(), ServiceError> {
        let row = self.read(cells);
        if self.claims(&row) {
            self.seen.first_line(&row.keys, line).map_err(scratch_err)?;
        }
        Ok(())
    }

    async fn check(&mut self, line: usize, ordinal: u64, cells: &[String]) -> Result<Row, ServiceError> {
        let row = self.read(cells);
        let policy = self.run.options.duplicates;
        if self.claims(&row)
            && let Some(first_line) = self.seen.first_line(&row.keys, line).map_err(scratch_err)?
        {
            let new = self.parse_new(&row).ok().map(Box::new);
            let key = row.keys[0].clone();
            return Ok(Row::FileDuplicate { first_line, key, new });
        }
        let email = row.keys.iter().find_map(|k| match k {
            MatchKey::Email(e) => Some(e),
            MatchKey::Phone(_) => None,
        });
        let phone = row.keys.iter().find_map(|k| match k {
            MatchKey::Phone(p) => Some(p),
            MatchKey::Email(_) => None,
        });
        // This row's own lead, written by a run that was killed before its checkpoint, is
        // not a duplicate of itself.
        let own = import_lead_id(&self.run.job_id, ordinal, self.started_at);
        let found = if row.keys.is_empty() {
            None
        } else {
            find_matches(self.run.store, &self.run.tenant.id, email, phone, Some(&own)).await?
        };
        let Some((key, leads)) = found else {
            return Ok(match self.parse_new(&row) {
                Err(e) => Row::Invalid(e),
                Ok(_) if row.converted => Row::Invalid(vec![converted_error()]),
                Ok(n) => Row::Fresh(Box::new(n)),
            });
        };
        if policy != DuplicatePolicy::Update {
            return Ok(match self.parse_new(&row) {
                Err(e) => Row::Invalid(e),
                Ok(_) if row.converted && policy == DuplicatePolicy::Create => {
                    Row::Invalid(vec![converted_error()])
                }
                Ok(_) if leads.len() > 1 && policy == DuplicatePolicy::Skip => Row::Ambiguous { leads, key },
                Ok(n) => Row::StoreDuplicate {
                    leads,
                    key,
                    new: Box::new(n),
                },
            });
        }
        if !row.errors.is_empty() {
            return Ok(Row::Invalid(row.errors));
        }
        if leads.len() > 1 {
            return Ok(Row::Ambiguous { leads, key });
        }
        // One row per lead: another row that reached the same lead by another contact (its
        // phone, where the first had its email) repeats it within the file.
        if let Some(first_line) = self
            .seen
            .first_line_of_lead(&leads[0], line)
            .map_err(scratch_err)?
        {
            return Ok(Row::FileDuplicate {
                first_line,
                key,
                new: None,
            });
        }
        let Some(before) = self.run.store.get_lead(&self.run.tenant.id, &leads[0]).await? else {
            // Deleted since it was matched: the row is a new lead after all.
            return Ok(match self.parse_new(&row) {
                Err(e) => Row::Invalid(e),
                Ok(n) => Row::Fresh(Box::new(n)),
            });
        };
        if update::is_converted(&before) {
            // Never overwritten; a row that says what the lead says (its own export) is
            // simply unchanged.
            let mut input = row.input.clone();
            if row.converted {
                input.status = None;
            }
            let now = self.run.clock.now();
            let same = update::updated_lead(&before, &input, self.ctx, now, self.run.options.quality())
                .is_ok_and(|after| update::changed_fields(&before, &after).is_empty());
            return Ok(if same {
                Row::Update {
                    after: Box::new(before.clone()),
                    before: Box::new(before),
                    key,
                }
            } else {
                Row::Converted { lead: before.id, key }
            });
        }
        let after = match update::updated_lead(
            &before,
            &row.input,
            self.ctx,
            self.run.clock.now(),
            self.run.options.quality(),
        ) {
            Err(e) => return Ok(Row::Invalid(e)),
            Ok(after) => after,
        };
        // As in PATCH: the row may not give the lead another lead's email or phone.
        if let Some(m) = contact_taken(self.run.store, &self.run.tenant.id, &before, &after).await? {
            let field = match m.key {
                MatchKey::Email(_) => "email",
                MatchKey::Phone(_) => "phone",
            };
            return Ok(Row::Invalid(vec![FieldError::new(
                field,
                "duplicate",
                m.explain(),
            )]));
        }
        Ok(Row::Update {
            before: Box::new(before),
            after: Box::new(after),
            key,
        })
    }
}

fn converted_error() -> FieldError {
    FieldError::new(
        "status",
        "invalid_status",
        "a lead is converted only through conversion; a converted row can only match a stored lead",
    )
}

/// The report's words for a match key: which key, and its value.
fn key_cells(key: &MatchKey) -> [String; 2] {
    match key {
        MatchKey::Email(e) => ["email".into(), e.to_string()],
        MatchKey::Phone(p) => ["phone".into(), p.to_string()],
    }
}

fn ids_cell(leads: &[LeadId]) -> String {
    leads.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(" ")
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::Writer::from_writer(Vec::new())
}

fn csv_err(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Store(crate::ports::store::StoreError::Invalid(e.to_string()))
}

/// Takes what a CSV writer has buffered so far.
fn drain(w: &mut csv::Writer<Vec<u8>>) -> Result<bytes::Bytes, ServiceError> {
    w.flush().map_err(csv_err)?;
    let inner = std::mem::replace(w, csv_writer()).into_inner().map_err(csv_err)?;
    Ok(bytes::Bytes::from(inner))
}

/// The report CSVs of pass 1: buffered per chunk, flushed to the bucket as parts.
struct ReportParts {
    errors: csv::Writer<Vec<u8>>,
    duplicates: csv::Writer<Vec<u8>>,
    error_parts: u32,
    duplicate_parts: u32,
}

/// Mutable state of one invocation.
struct Progress {
    report: ImportReport,
    pass: Pass,
    rows_done: u64,
    /// Rows handled by this invocation, against the budget.
    rows_this_run: u64,
    since_checkpoint: u64,
    /// When the last checkpoint was saved: slow rows (updates on DynamoDB) checkpoint by time
    /// too, so the lease is renewed and the deadline checked well within their limits.
    last_checkpoint: Instant,
    parts: ReportParts,
}

impl ImportRun<'_> {
    fn report_key(&self, name: &str) -> String {
        format!("reports/{}/{}/{name}", self.tenant.id, self.job_id)
    }

    fn part_key(&self, what: &str, n: u32) -> Result<BlobKey, ServiceError> {
        Ok(BlobKey::parse(
            &self.report_key(&format!("parts/{what}-{n:06}.csv")),
        )?)
    }

    async fn put(&self, name: &str, body: bytes::Bytes, content_type: &str) -> Result<(), ServiceError> {
        let key = BlobKey::parse(&self.report_key(name))?;
        self.blobs.put(&key, body, content_type).await?;
        Ok(())
    }

    fn empty_report(&self, started_at: DateTime<Utc>) -> ImportReport {
        ImportReport {
            job_id: self.job_id.clone(),
            file: self.file.clone(),
            outcome: ImportOutcome::Unreadable,
            message: None,
            format: None,
            encoding: None,
            delimiter: None,
            header_line: None,
            options: self.options.clone(),
            columns: vec![],
            unknown_columns: vec![],
            rows: 0,
            valid_rows: 0,
            error_rows: 0,
            duplicate_rows: 0,
            created: 0,
            updated: 0,
            unchanged: 0,
            skipped: 0,
            ambiguous: 0,
            errors_csv: self.report_key("errors.csv"),
            duplicates_csv: self.report_key("duplicates.csv"),
            summary_json: self.report_key("summary.json"),
            started_at,
            finished_at: started_at,
            preview: None,
        }
    }

    /// Writes the pass-1 buffers out as the next parts.
    async fn flush_parts(&self, parts: &mut ReportParts) -> Result<(), ServiceError> {
        let errors = drain(&mut parts.errors)?;
        if !errors.is_empty() {
            let key = self.part_key("errors", parts.error_parts)?;
            self.blobs.put(&key, errors, "text/csv").await?;
            parts.error_parts += 1;
        }
        let dups = drain(&mut parts.duplicates)?;
        if !dups.is_empty() {
            let key = self.part_key("duplicates", parts.duplicate_parts)?;
            self.blobs.put(&key, dups, "text/csv").await?;
            parts.duplicate_parts += 1;
        }
        Ok(())
    }

    /// Streams a header plus the parts into one report object, then removes the parts.
    async fn assemble(
        &self,
        name: &str,
        what: &str,
        header: Option<Vec<String>>,
        parts: u32,
    ) -> Result<(), ServiceError> {
        use tokio::io::AsyncReadExt;
        let key = BlobKey::parse(&self.report_key(name))?;
        let mut upload = self.blobs.start_multipart(&key, "text/csv").await?;
        let mut written = async {
            if let Some(h) = header {
                let mut w = csv_writer();
                w.write_record(&h).map_err(csv_err)?;
                upload.write(drain(&mut w)?).await?;
            }
            for n in 0..parts {
                let mut reader = self.blobs.get(&self.part_key(what, n)?).await?;
                let mut buf = vec![0u8; 256 * 1024];
                loop {
                    let got = reader.read(&mut buf).await.map_err(scratch_err)?;
                    if got == 0 {
                        break;
                    }
                    upload.write(bytes::Bytes::copy_from_slice(&buf[..got])).await?;
                }
            }
            Ok::<(), ServiceError>(())
        }
        .await;
        if written.is_ok() {
            written = upload.complete().await.map(|_| ()).map_err(Into::into);
        } else {
            let _ = upload.abort().await;
        }
        // The parts stay until the run is recorded done (`remove_report_parts`): a failure
        // after this point is retried from the last checkpoint, which assembles them again.
        written
    }

    async fn finish(
        &self,
        mut report: ImportReport,
        headers: Option<&[String]>,
        parts: ReportParts,
    ) -> Result<RunResult, ServiceError> {
        let mut parts = parts;
        self.flush_parts(&mut parts).await?;
        let err_header = headers.map(|h| {
            let mut h = h.to_vec();
            h.extend(["line".into(), "column".into(), "reason".into()]);
            h
        });
        let dup_header = headers.map(|_| {
            ["line", "matched_on", "value", "matched", "action"]
                .map(String::from)
                .to_vec()
        });
        self.assemble("errors.csv", "errors", err_header, parts.error_parts)
            .await?;
        self.assemble("duplicates.csv", "duplicates", dup_header, parts.duplicate_parts)
            .await?;
        report.finished_at = self.clock.now();
        let json = serde_json::to_vec_pretty(&report).map_err(csv_err)?;
        self.put("summary.json", json.into(), "application/json").await?;
        Ok(RunResult::Finished(Box::new(report)))
    }

    fn new_parts(&self) -> ReportParts {
        let cp = self.resume.as_ref();
        ReportParts {
            errors: csv_writer(),
            duplicates: csv_writer(),
            error_parts: cp.map_or(0, |c| c.error_parts),
            duplicate_parts: cp.map_or(0, |c| c.duplicate_parts),
        }
    }

    /// Every `checkpoint_every` rows, or `CHECKPOINT_AFTER` after the last one.
    fn checkpoint_due(&self, p: &Progress) -> bool {
        p.since_checkpoint >= self.checkpoint_every
            || (p.since_checkpoint > 0 && p.last_checkpoint.elapsed() >= CHECKPOINT_AFTER)
    }

    /// Saves a checkpoint; says whether the budget is spent.
    async fn checkpoint(&self, p: &mut Progress) -> Result<bool, ServiceError> {
        // Pass 2 adds no report rows, but the switch to it checkpoints pass 1's last ones.
        self.flush_parts(&mut p.parts).await?;
        self.sink
            .save(&Checkpoint {
                pass: p.pass,
                rows_done: p.rows_done,
                counters: p.report.counters(),
                error_parts: p.parts.error_parts,
                duplicate_parts: p.parts.duplicate_parts,
                started_at: p.report.started_at,
                preview: p.report.preview.clone(),
            })
            .await?;
        p.since_checkpoint = 0;
        p.last_checkpoint = Instant::now();
        Ok(self.budget.spent(p.rows_this_run))
    }

    fn paused(p: &Progress) -> RunResult {
        RunResult::Paused(Checkpoint {
            pass: p.pass,
            rows_done: p.rows_done,
            counters: p.report.counters(),
            error_parts: p.parts.error_parts,
            duplicate_parts: p.parts.duplicate_parts,
            started_at: p.report.started_at,
            preview: p.report.preview.clone(),
        })
    }

    /// Imports the file at `path` (already downloaded), from `self.resume` if set, until done
    /// or the budget is spent; `scratch` is a working folder.
    pub async fn run(&self, path: &Path, scratch: &Path) -> Result<RunResult, ServiceError> {
        let started = self
            .resume
            .as_ref()
            .map_or_else(|| self.clock.now(), |c| c.started_at);
        let mut report = self.empty_report(started);
        if let Some(cp) = &self.resume {
            report.restore(&cp.counters);
        }
        let scratch_file = scratch.join(format!("{}.utf8.csv", self.job_id));
        // Every way out of this run (finished, paused, unreadable, failed) removes the
        // transcoded copy; each run makes its own.
        let _transcoded = RemoveOnDrop(scratch_file.clone());
        let mut ctx = load_context(self.store, self.tenant).await?;
        // Checked when the job was created; checked again, as a custom field or rep it names
        // may have gone since.
        let mut mapping = match Mapping::new(&self.options, &ctx) {
            Ok(m) => m,
            Err(errs) => {
                let why: Vec<String> = errs
                    .0
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect();
                report.message = Some(format!("the import options do not hold: {}", why.join("; ")));
                return self.finish(report, None, self.new_parts()).await;
            }
        };
        let (table, columns, header_line) = match open_table(path, &scratch_file, &ctx, &mapping) {
            Ok(t) => t,
            Err(message) => {
                report.message = Some(message);
                return self.finish(report, None, self.new_parts()).await;
            }
        };
        // `unknown_source: create`: both passes see the file's new sources; pass 2 stores them.
        let mut new_sources = vec![];
        if self.options.unknown_source == Some(super::UnknownSource::Create) {
            // Its own scratch copy: the table above is still reading the run's.
            let scan_file = scratch.join(format!("{}.scan.csv", self.job_id));
            let _scan_copy = RemoveOnDrop(scan_file.clone());
            let scan = open_table(path, &scan_file, &ctx, &mapping)
                .and_then(|(t, _, _)| super::new_sources::unknown_sources(t, &columns, &mapping, &ctx));
            match scan {
                Ok(found) => new_sources = found,
                Err(message) => {
                    report.message = Some(message);
                    return self.finish(report, None, self.new_parts()).await;
                }
            }
            ctx.sources.extend(new_sources.iter().cloned());
            mapping = Mapping::new(&self.options, &ctx).map_err(ServiceError::Validation)?;
        }
        let (ctx, mapping) = (ctx, mapping);
        report.format = Some(table.format);
        report.encoding = table.encoding.map(str::to_owned);
        report.delimiter = table.delimiter;
        report.header_line = (header_line > 1).then_some(header_line);
        report.columns = table
            .headers
            .iter()
            .zip(&columns)
            .map(|(h, c)| ColumnReport {
                header: h.clone(),
                maps_to: c.clone(),
            })
            .collect();
        report.preview = match &self.resume {
            Some(cp) => cp.preview.clone(),
            None => {
                let whys: Vec<&'static str> = table
                    .headers
                    .iter()
                    .zip(&columns)
                    .map(|(h, c)| mapping.why(h, c, &ctx.custom_fields))
                    .collect();
                Some(super::preview::Preview::new(&table.headers, &columns, &whys))
            }
        };
        report.unknown_columns = report
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.maps_to == Column::Unknown)
            .map(|(i, c)| match c.header.is_empty() {
                true => format!("(column {}, no header)", i + 1),
                false => c.header.clone(),
            })
            .collect();
        let headers = table.headers.clone();
        let seen_path = scratch.join(format!("{}.seen.db", self.job_id));
        let new_checker = || -> Result<Checker<'_>, ServiceError> {
            Ok(Checker {
                run: self,
                ctx: &ctx,
                columns: &columns,
                mapping: &mapping,
                seen: SeenContacts::create(&seen_path).map_err(scratch_err)?,
                started_at: started,
            })
        };
        let mut p = Progress {
            report,
            pass: self.resume.as_ref().map_or(Pass::Classify, |c| c.pass),
            rows_done: self.resume.as_ref().map_or(0, |c| c.rows_done),
            rows_this_run: 0,
            since_checkpoint: 0,
            last_checkpoint: Instant::now(),
            parts: self.new_parts(),
        };

        if p.pass == Pass::Classify {
            let mut checker = new_checker()?;
            match self.classify(table, &mut checker, &mut p).await? {
                Step::Paused => return Ok(Self::paused(&p)),
                Step::Unreadable(msg) => {
                    p.report.outcome = ImportOutcome::Unreadable;
                    p.report.message = Some(msg);
                    return self.finish(p.report, Some(&headers), p.parts).await;
                }
                Step::Done => {}
            }
            drop(checker);
            if p.report.rows == 0 {
                p.report.outcome = ImportOutcome::Unreadable;
                p.report.message = Some("the file has a header but no data rows".into());
                return self.finish(p.report, Some(&headers), p.parts).await;
            }
            if !self.decide(&mut p.report) {
                return self.finish(p.report, Some(&headers), p.parts).await;
            }
            p.pass = Pass::Write;
            p.rows_done = 0;
            if self.checkpoint(&mut p).await? {
                return Ok(Self::paused(&p));
            }
        } else {
            drop(table);
            // Pass 1 of an earlier chunk decided to save; say so again for the summary.
            self.decide(&mut p.report);
        }

        // The new sources go in before the first lead that names one.
        for s in &new_sources {
            match crate::services::sources::add_source(self.store, &self.tenant.id, s.id.clone(), &s.name)
                .await
            {
                Ok(_) | Err(ServiceError::AlreadyExists(_)) => {}
                Err(e) => return Err(e),
            }
        }

        // Pass 2: the same rows, the same answers; now write.
        let (table, _, _) = open_table(path, &scratch_file, &ctx, &mapping).map_err(csv_err)?;
        let mut checker = new_checker()?;
        if self.write(table, &mut checker, &mut p).await? == Step::Paused {
            return Ok(Self::paused(&p));
        }
        p.report.outcome = ImportOutcome::Completed;
        self.finish(p.report, Some(&headers), p.parts).await
    }

    /// Applies the mode to pass 1's counts: true when rows are to be saved.
    fn decide(&self, report: &mut ImportReport) -> bool {
        match self.options.mode {
            ImportMode::Validate => {
                report.outcome = ImportOutcome::Validated;
                false
            }
            ImportMode::AllOrNothing if report.error_rows > 0 => {
                report.outcome = ImportOutcome::Rejected;
                report.message = Some(format!(
                    "{} rows have errors; nothing was saved (all_or_nothing)",
                    report.error_rows
                ));
                false
            }
            _ => true,
        }
    }

    /// Pass 1.
    async fn classify(
        &self,
        table: Table,
        checker: &mut Checker<'_>,
        p: &mut Progress,
    ) -> Result<Step, ServiceError> {
        let skip = p.rows_done;
        for (ordinal, row) in (0u64..).zip(table) {
            let (line, cells) = match row {
                Ok(r) => r,
                Err(e) => return Ok(Step::Unreadable(e.to_string())),
            };
            if ordinal < skip {
                checker.replay(line, &cells)?;
                continue;
            }
            p.report.rows += 1;
            let row = checker.check(line, ordinal, &cells).await?;
            if let Some(preview) = p.report.preview.as_mut() {
                let (errors, valid) = match &row {
                    Row::Invalid(errs) => (errs.as_slice(), None),
                    Row::Fresh(n) => (&[][..], Some(n.as_ref())),
                    _ => (&[][..], None),
                };
                preview.count(
                    checker.columns,
                    &cells,
                    errors,
                    valid,
                    checker.mapping,
                    checker.ctx,
                );
            }
            let dup = |key: &MatchKey, matched: String, action: &str| {
                let [k, v] = key_cells(key);
                [line.to_string(), k, v, matched, action.to_owned()]
            };
            let policy = self.options.duplicates;
            let record = match row {
                Row::Invalid(errs) => {
                    p.report.error_rows += 1;
                    // The report has the header's columns, then its own: the row is cut or
                    // padded to the header's width (cells past it are named in the error).
                    let width = checker.columns.len();
                    for e in errs {
                        let mut rec: Vec<String> = cells.iter().take(width).cloned().collect();
                        rec.resize(width, String::new());
                        rec.extend([line.to_string(), e.field.clone(), e.message.clone()]);
                        p.parts.errors.write_record(&rec).map_err(csv_err)?;
                    }
                    None
                }
                Row::FileDuplicate { first_line, key, new } => {
                    p.report.valid_rows += 1;
                    p.report.duplicate_rows += 1;
                    let action = if policy == DuplicatePolicy::Create && new.is_some() {
                        "create"
                    } else {
                        "skip"
                    };
                    Some(dup(&key, format!("line {first_line}"), action))
                }
                Row::StoreDuplicate { leads, key, .. } => {
                    p.report.valid_rows += 1;
                    p.report.duplicate_rows += 1;
                    let action = match policy {
                        DuplicatePolicy::Create => "create",
                        _ => "skip",
                    };
                    Some(dup(&key, ids_cell(&leads), action))
                }
                Row::Update { before, after, key } => {
                    p.report.valid_rows += 1;
                    p.report.duplicate_rows += 1;
                    let action = if update::changed_fields(&before, &after).is_empty() {
                        "unchanged"
                    } else {
                        "update"
                    };
                    Some(dup(&key, before.id.to_string(), action))
                }
                Row::Converted { lead, key } => {
                    p.report.valid_rows += 1;
                    p.report.duplicate_rows += 1;
                    Some(dup(&key, lead.to_string(), "skip: the lead is converted"))
                }
                Row::Ambiguous { leads, key } => {
                    p.report.valid_rows += 1;
                    p.report.duplicate_rows += 1;
                    Some(dup(&key, ids_cell(&leads), "ambiguous: nothing written"))
                }
                Row::Fresh(_) => {
                    p.report.valid_rows += 1;
                    None
                }
            };
            if let Some(rec) = record {
                p.parts.duplicates.write_record(&rec).map_err(csv_err)?;
            }
            p.rows_done += 1;
            p.rows_this_run += 1;
            p.since_checkpoint += 1;
            if self.checkpoint_due(p) && self.checkpoint(p).await? {
                return Ok(Step::Paused);
            }
        }
        Ok(Step::Done)
    }

    /// Pass 2: new leads in batches, updates one by one, duplicates per policy.
    async fn write(
        &self,
        table: Table,
        checker: &mut Checker<'_>,
        p: &mut Progress,
    ) -> Result<Step, ServiceError> {
        let now = self.clock.now();
        let mut batch: Vec<Lead> = Vec::with_capacity(BATCH);
        let mut entries: Vec<Activity> = Vec::with_capacity(BATCH);
        let policy = self.options.duplicates;
        let skip = p.rows_done;
        for (ordinal, row) in (0u64..).zip(table) {
            let (line, cells) = row.map_err(csv_err)?;
            if ordinal < skip {
                checker.replay(line, &cells)?;
                continue;
            }
            p.rows_done += 1;
            p.rows_this_run += 1;
            p.since_checkpoint += 1;
            let new = match checker.check(line, ordinal, &cells).await? {
                Row::Invalid(_) => None,
                Row::Fresh(n) => Some(n),
                Row::StoreDuplicate { new, .. } if policy == DuplicatePolicy::Create => Some(new),
                Row::FileDuplicate { new: Some(new), .. } if policy == DuplicatePolicy::Create => Some(new),
                Row::Update { before, after, .. } => {
                    // The row's input, in case the lead changes under the write and the row
                    // must be applied again (the checker itself stays on this task).
                    let input = checker.read(&cells).input;
                    self.save_update(*before, *after, &input, checker.ctx, &mut p.report)
                        .await?;
                    None
                }
                Row::Ambiguous { .. } => {
                    p.report.ambiguous += 1;
                    None
                }
                Row::FileDuplicate { .. } | Row::StoreDuplicate { .. } | Row::Converted { .. } => {
                    p.report.skipped += 1;
                    None
                }
            };
            if let Some(new) = new {
                let id = import_lead_id(&self.job_id, ordinal, checker.started_at);
                let mut lead = Lead::from_new(self.tenant.id.clone(), id, *new, now);
                lead.provenance.form = Some(self.job_id.clone());
                entries.push(self.created_entry(&lead, ordinal, checker.started_at));
                batch.push(lead);
            }
            if batch.len() == BATCH {
                self.flush(&mut batch, &mut entries, &mut p.report).await?;
            }
            if self.checkpoint_due(p) {
                // The checkpoint must not claim rows that are still in the batch.
                self.flush(&mut batch, &mut entries, &mut p.report).await?;
                if self.checkpoint(p).await? {
                    return Ok(Step::Paused);
                }
            }
        }
        self.flush(&mut batch, &mut entries, &mut p.report).await?;
        Ok(Step::Done)
    }

    /// The `imported` entry of a lead the job creates. Its id and time come from (job, row)
    /// and the job's start, like the lead's id, so a resumed run rewrites it, never adds one.
    fn created_entry(&self, lead: &Lead, ordinal: u64, started_at: DateTime<Utc>) -> Activity {
        let id = derived_uuid(&format!("{}\n{ordinal}\nimported", self.job_id), started_at);
        Activity {
            id: ActivityId::from_uuid(id),
            tenant: lead.tenant.clone(),
            lead_id: lead.id,
            at: started_at,
            actor: Actor::Import {
                job: self.job_id.clone(),
            },
            kind: ActivityKind::Imported {
                job_id: self.job_id.clone(),
                created: true,
                fields: vec![],
            },
        }
    }

    /// Writes an update with its `imported` entry (and status or owner entries) in one
    /// write. When the lead changed since it was read, the row is applied again to what is
    /// stored now; a lead that became converted or stopped taking the row is skipped.
    async fn save_update(
        &self,
        mut before: Lead,
        mut after: Lead,
        input: &LeadInput,
        ctx: &LeadContext,
        report: &mut ImportReport,
    ) -> Result<(), ServiceError> {
        let actor = Actor::Import {
            job: self.job_id.clone(),
        };
        for _ in 0..3 {
            let fields = update::changed_fields(&before, &after);
            if fields.is_empty() {
                // Re-importing an export changes nothing: no write, no new version.
                report.unchanged += 1;
                return Ok(());
            }
            let now = self.clock.now();
            let imported = ActivityKind::Imported {
                job_id: self.job_id.clone(),
                created: false,
                fields,
            };
            let mut entries = vec![Activity::new(
                self.tenant.id.clone(),
                before.id,
                now,
                actor.clone(),
                imported,
            )];
            entries.extend(change_entries(&before, &after, &actor, now, "import"));
            // What the update replaced goes in the same write, for undoing the import.
            let undo = crate::services::import_undo::undo_record(&self.job_id, &before)?;
            match self.store.commit_lead_change(&after, &[undo], &entries).await {
                Ok(_) => {
                    report.updated += 1;
                    return Ok(());
                }
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let current = self.store.get_lead(&self.tenant.id, &before.id).await?;
            match current {
                Some(c) if !update::is_converted(&c) => {
                    match update::updated_lead(&c, input, ctx, now, self.options.quality()) {
                        Ok(a) => (before, after) = (c, a),
                        Err(_) => break,
                    }
                }
                _ => break,
            }
        }
        report.skipped += 1;
        Ok(())
    }

    /// Gives rows without an owner one from the weighted round robin (one counter
    /// reservation per batch), then writes the batch with its timeline entries.
    async fn flush(
        &self,
        batch: &mut Vec<Lead>,
        entries: &mut Vec<Activity>,
        report: &mut ImportReport,
    ) -> Result<(), ServiceError> {
        if batch.is_empty() {
            return Ok(());
        }
        let unowned = batch.iter().filter(|l| l.owner.is_none()).count();
        let reps = crate::services::reps::list_reps(self.store, &self.tenant.id).await?;
        let mut owners =
            crate::services::reps::reserve_round_robin(self.store, &self.tenant.id, &reps, unowned)
                .await?
                .into_iter();
        for lead in batch.iter_mut().filter(|l| l.owner.is_none()) {
            lead.owner = owners.next();
        }
        self.store.put_leads_batch(batch, entries).await?;
        report.created += batch.len() as u64;
        batch.clear();
        entries.clear();
        Ok(())
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Step {
    Done,
    Paused,
    /// The file stopped being readable part-way (pass 1 only).
    Unreadable(String),
}

/// Removes a finished job's report parts (best effort: they are small, and a leftover part
/// harms nothing). Called once the run is recorded done, never before.
pub async fn remove_report_parts(blobs: &dyn BlobStore, tenant: &crate::domain::ids::TenantId, job_id: &str) {
    let prefix = format!("reports/{tenant}/{job_id}/parts/");
    let Ok(page) = blobs.list(&prefix, None, 1000).await else {
        return;
    };
    for meta in page.items {
        let _ = blobs.delete(&meta.key).await;
    }
}

/// Rows above the header that a file may carry (a report title, a date, a blank line).
const MAX_TITLE_ROWS: usize = 10;

/// Opens the file and finds its header: the first row when it names any lead field, else the
/// first of the next `MAX_TITLE_ROWS` rows that names at least two (the rows above it are a
/// title, and are skipped). Returns the table positioned after the header, its columns, and
/// the header's row number; or why the file cannot be imported (no header, or headers the
/// explicit mapping names that the file lacks).
fn open_table(
    path: &Path,
    scratch: &Path,
    ctx: &LeadContext,
    mapping: &Mapping,
) -> Result<(Table, Vec<Column>, usize), String> {
    let found = |table: Table, columns: Vec<Column>, line: usize| {
        let missing = mapping.missing_headers(&table.headers);
        if missing.is_empty() {
            Ok((table, columns, line))
        } else {
            Err(format!(
                "the mapping names columns this file does not have: {}",
                missing.join(", ")
            ))
        }
    };
    // Spreadsheets pad rows to the sheet's width: empty cells after the last header name
    // are no columns (a value under one is an extra cell of its row).
    fn header_of(cells: &[String]) -> Vec<String> {
        let mut h: Vec<String> = cells.iter().map(|c| c.trim().to_owned()).collect();
        while h.last().is_some_and(|c| c.is_empty()) {
            h.pop();
        }
        h
    }
    let mut table = table::open(path, scratch).map_err(|e| e.to_string())?;
    table.headers = header_of(&table.headers);
    let columns = map_headers(&table.headers, &ctx.custom_fields, mapping);
    if known_columns(&columns) > 0 {
        return found(table, columns, 1);
    }
    for _ in 0..MAX_TITLE_ROWS {
        let Some(row) = table.next() else { break };
        let (line, cells) = row.map_err(|e| e.to_string())?;
        let cells = header_of(&cells);
        let columns = map_headers(&cells, &ctx.custom_fields, mapping);
        if known_columns(&columns) >= 2 {
            table.headers = cells;
            return found(table, columns, line);
        }
    }
    Err(format!(
        "no header row: neither the first row nor the {MAX_TITLE_ROWS} after it names the lead \
         fields (columns such as Name, Email, Phone, Company, Lead Source); put the column \
         names in one row above the data"
    ))
}

/// Removes a scratch file when dropped.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
