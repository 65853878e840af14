//! The import pipeline: validate every row, apply the mode and the duplicate policy, write
//! new leads in batches, and write the report (a JSON summary, an errors CSV with the original
//! row plus line, column and reason, and a duplicates CSV naming the lead(s) each row matched
//! and what was done).
//!
//! Rows match stored leads by the rule every write path uses (`KnownContacts`: email, then
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
//!
//! Files: `checker` (what each row is), `checkpoint` (the checkpoint, its sink and the
//! budget), `report` (the report, its parts and summary), `write` (pass 2), `open` (finding
//! the header); this file runs the passes.

mod checker;
mod checkpoint;
mod open;
mod report;
mod write;

pub use checkpoint::{
    BATCH, Budget, CHECKPOINT_AFTER, CHECKPOINT_ROWS, Checkpoint, CheckpointSink, NoCheckpoints, Pass,
    RunResult,
};

pub use checker::import_lead_id;
use checker::*;
use open::*;
use report::*;
pub use report::{ColumnReport, Counters, ImportOutcome, ImportReport, remove_report_parts};

use crate::domain::LeadStatus;
use crate::domain::activity::{Activity, ActivityKind, Actor};
use crate::domain::duplicate::KnownContacts;
use crate::domain::duplicate::{MatchKey, match_keys};
use crate::domain::error::FieldError;
use crate::domain::ids::{ActivityId, LeadId};
use crate::domain::lead::{Lead, LeadContext, LeadInput, NewLead};
use crate::domain::phone::Phone;
use crate::domain::tenant::Tenant;
use crate::import::mapping::{Column, Mapping, RowDates, known_columns, map_headers, row_dates, row_input};
use crate::import::seen::SeenContacts;
use crate::import::table::{self, Table};
use crate::import::update;
use crate::import::{DuplicatePolicy, ImportMode, ImportOptions};
use crate::ports::blob::{BlobKey, BlobStore};
use crate::ports::clock::Clock;
use crate::ports::store::{LeadStore, StoreError};
use crate::services::ServiceError;
use crate::services::lead_patch::{change_entries, contact_taken};
use crate::services::leads::load_context;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::Serialize;
use std::path::Path;
use std::time::Instant;

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
    /// Every `checkpoint_every` rows, or `CHECKPOINT_AFTER` after the last one.
    fn checkpoint_due(&self, p: &Progress) -> bool {
        p.since_checkpoint >= self.checkpoint_every
            || (p.since_checkpoint > 0 && p.last_checkpoint.elapsed() >= CHECKPOINT_AFTER)
    }

    /// Saves a checkpoint; says whether the budget is spent.
    async fn checkpoint(&self, p: &mut Progress) -> Result<bool, ServiceError> {
        // Pass 2 adds no report rows, but the switch to it checkpoints pass 1's last ones.
        self.flush_parts(&mut p.parts).await?;
        self.sink.save(&self.checkpoint_of(p)).await?;
        p.since_checkpoint = 0;
        p.last_checkpoint = Instant::now();
        Ok(self.budget.spent(p.rows_this_run))
    }

    fn paused(&self, p: &Progress) -> RunResult {
        RunResult::Paused(self.checkpoint_of(p))
    }

    /// Where the run stands, to go on from.
    fn checkpoint_of(&self, p: &Progress) -> Checkpoint {
        Checkpoint {
            pass: p.pass,
            rows_done: p.rows_done,
            counters: p.report.counters(),
            error_parts: p.parts.error_parts,
            duplicate_parts: p.parts.duplicate_parts,
            started_at: p.report.started_at,
            preview: p.report.preview.clone(),
            ascending_ids: self.ascending_ids(),
        }
    }

    /// Whether this job's lead ids ascend with the row: every job's do, except one begun by
    /// an earlier version and resumed from its checkpoint, which keeps the ids it began with.
    fn ascending_ids(&self) -> bool {
        self.resume.as_ref().is_none_or(|c| c.ascending_ids)
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
        if self.options.unknown_source == Some(crate::import::UnknownSource::Create) {
            // Its own scratch copy: the table above is still reading the run's.
            let scan_file = scratch.join(format!("{}.scan.csv", self.job_id));
            let _scan_copy = RemoveOnDrop(scan_file.clone());
            let scan = open_table(path, &scan_file, &ctx, &mapping).and_then(|(t, _, _)| {
                crate::import::new_sources::unknown_sources(t, &columns, &mapping, &ctx)
            });
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
                Some(crate::import::preview::Preview::new(
                    &table.headers,
                    &columns,
                    &whys,
                ))
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
                ascending_ids: self.ascending_ids(),
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
                Step::Paused => return Ok(self.paused(&p)),
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
                return Ok(self.paused(&p));
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
            return Ok(self.paused(&p));
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
        let mut rows = (0u64..).zip(table);
        for (_, row) in rows.by_ref().take(p.rows_done as usize) {
            match row {
                Ok((line, cells)) => checker.replay(line, &cells)?,
                Err(e) => return Ok(Step::Unreadable(e.to_string())),
            }
        }
        loop {
            let batch = checker.next_batch(&mut rows).await?;
            let last = batch.rows.len() < checker::LOOKUP_ROWS;
            for row in batch.rows {
                if self.classify_row(checker, p, row, &batch.known).await? {
                    return Ok(Step::Paused);
                }
            }
            if let Some(e) = batch.broken {
                return Ok(Step::Unreadable(e.to_string()));
            }
            if last {
                return Ok(Step::Done);
            }
        }
    }

    /// One row of pass 1: counted, previewed, reported; true when the run pauses after it.
    async fn classify_row(
        &self,
        checker: &mut Checker<'_>,
        p: &mut Progress,
        row: BatchRow,
        known: &Known,
    ) -> Result<bool, ServiceError> {
        let BatchRow {
            ordinal,
            line,
            cells,
            read,
        } = row;
        p.report.rows += 1;
        let row = checker.check(line, ordinal, read, known).await?;
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
        Ok(self.checkpoint_due(p) && self.checkpoint(p).await?)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Step {
    Done,
    Paused,
    /// The file stopped being readable part-way (pass 1 only).
    Unreadable(String),
}
