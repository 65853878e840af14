//! The import pipeline: validate every row, apply the mode and the duplicate policy, write
//! new leads in batches, and write the report (a JSON summary, an errors CSV with the original
//! row plus line, column and reason, and a duplicates CSV naming the lead each row matched).
//!
//! Memory stays bounded: rows are streamed twice (a validating pass, then a writing pass, so
//! `all_or_nothing` can refuse before anything is saved) and only email hashes are kept.
//! Both passes validate against one snapshot of the tenant's settings, so the second pass
//! cannot find errors the first did not.

use super::mapping::{Column, map_headers, row_input};
use super::table::{self, Table};
use super::{DuplicatePolicy, ImportMode, ImportOptions};
use crate::domain::duplicate::MatchKey;
use crate::domain::email::Email;
use crate::domain::error::FieldError;
use crate::domain::ids::LeadId;
use crate::domain::lead::{Lead, LeadContext, NewLead};
use crate::domain::tenant::Tenant;
use crate::ports::blob::{BlobKey, BlobStore};
use crate::ports::clock::Clock;
use crate::ports::store::LeadStore;
use crate::services::ServiceError;
use crate::services::leads::load_context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;

pub const BATCH: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
    pub encoding: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<char>,
    pub options: ImportOptions,
    pub columns: Vec<ColumnReport>,
    pub unknown_columns: Vec<String>,
    pub rows: u64,
    pub valid_rows: u64,
    pub error_rows: u64,
    pub duplicate_rows: u64,
    pub created: u64,
    pub updated: u64,
    pub skipped: u64,
    pub errors_csv: String,
    pub duplicates_csv: String,
    pub summary_json: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
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
}

/// What one row turned out to be.
enum Row {
    Invalid(Vec<FieldError>),
    /// Same email as an earlier row of the file.
    FileDuplicate {
        first_line: usize,
        new: Box<NewLead>,
    },
    /// Same email as a stored lead.
    StoreDuplicate {
        lead: LeadId,
        new: Box<NewLead>,
    },
    Fresh(Box<NewLead>),
}

fn email_hash(e: &Email) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    e.as_str().hash(&mut h);
    h.finish()
}

/// Classifies rows, tracking the file's emails by hash.
struct Checker<'a> {
    run: &'a ImportRun<'a>,
    ctx: &'a LeadContext,
    columns: &'a [Column],
    seen: HashMap<u64, usize>,
}

impl Checker<'_> {
    async fn check(&mut self, line: usize, cells: &[String]) -> Result<Row, ServiceError> {
        let input = row_input(self.columns, cells, self.run.options.default_source.as_deref());
        let new = match NewLead::parse(&input, self.ctx) {
            Ok(n) => n,
            Err(e) => return Ok(Row::Invalid(e.0)),
        };
        let Some(email) = new.email.clone() else {
            return Ok(Row::Fresh(Box::new(new)));
        };
        if let Some(first) = self.seen.get(&email_hash(&email)) {
            return Ok(Row::FileDuplicate {
                first_line: *first,
                new: Box::new(new),
            });
        }
        self.seen.insert(email_hash(&email), line);
        let found = self
            .run
            .store
            .find_leads_by_contact(&self.run.tenant.id, &MatchKey::Email(email))
            .await?;
        Ok(match found.into_iter().min() {
            Some(lead) => Row::StoreDuplicate {
                lead,
                new: Box::new(new),
            },
            None => Row::Fresh(Box::new(new)),
        })
    }
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::Writer::from_writer(Vec::new())
}

fn csv_bytes(w: csv::Writer<Vec<u8>>) -> Result<bytes::Bytes, ServiceError> {
    w.into_inner()
        .map(bytes::Bytes::from)
        .map_err(|e| ServiceError::Store(crate::ports::store::StoreError::Invalid(e.to_string())))
}

fn csv_err(e: csv::Error) -> ServiceError {
    ServiceError::Store(crate::ports::store::StoreError::Invalid(e.to_string()))
}

/// Copies the row's non-empty values onto a stored lead (policy `update`).
fn merge(into: &mut Lead, n: &NewLead, now: DateTime<Utc>) {
    fn set<T: Clone>(dst: &mut Option<T>, src: &Option<T>) {
        if src.is_some() {
            *dst = src.clone();
        }
    }
    into.name = n.name.clone();
    set(&mut into.email, &n.email);
    set(&mut into.phone, &n.phone);
    set(&mut into.mobile, &n.mobile);
    set(&mut into.company, &n.company);
    set(&mut into.position, &n.position);
    set(&mut into.website, &n.website);
    set(&mut into.company_number, &n.company_number);
    set(&mut into.tax_id, &n.tax_id);
    set(&mut into.address.street, &n.address.street);
    set(&mut into.address.city, &n.address.city);
    set(&mut into.address.state, &n.address.state);
    set(&mut into.address.country, &n.address.country);
    set(&mut into.address.postal_code, &n.address.postal_code);
    set(&mut into.owner, &n.owner);
    into.tags.extend(n.tags.iter().cloned());
    into.custom.extend(n.custom.clone());
    into.updated_at = now;
}

impl ImportRun<'_> {
    fn report_key(&self, name: &str) -> String {
        format!("reports/{}/{}/{name}", self.tenant.id, self.job_id)
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
            options: self.options.clone(),
            columns: vec![],
            unknown_columns: vec![],
            rows: 0,
            valid_rows: 0,
            error_rows: 0,
            duplicate_rows: 0,
            created: 0,
            updated: 0,
            skipped: 0,
            errors_csv: self.report_key("errors.csv"),
            duplicates_csv: self.report_key("duplicates.csv"),
            summary_json: self.report_key("summary.json"),
            started_at,
            finished_at: started_at,
        }
    }

    async fn finish(
        &self,
        mut report: ImportReport,
        errors: bytes::Bytes,
        dups: bytes::Bytes,
    ) -> Result<ImportReport, ServiceError> {
        report.finished_at = self.clock.now();
        self.put("errors.csv", errors, "text/csv").await?;
        self.put("duplicates.csv", dups, "text/csv").await?;
        let json = serde_json::to_vec_pretty(&report)
            .map_err(|e| ServiceError::Store(crate::ports::store::StoreError::Invalid(e.to_string())))?;
        self.put("summary.json", json.into(), "application/json").await?;
        Ok(report)
    }

    /// Imports the file at `path` (already downloaded); `scratch` is a working folder.
    pub async fn run(&self, path: &Path, scratch: &Path) -> Result<ImportReport, ServiceError> {
        let started = self.clock.now();
        let mut report = self.empty_report(started);
        let scratch_file = scratch.join(format!("{}.utf8.csv", self.job_id));
        let table = match table::open(path, &scratch_file) {
            Ok(t) => t,
            Err(e) => {
                report.message = Some(e.to_string());
                return self
                    .finish(report, bytes::Bytes::new(), bytes::Bytes::new())
                    .await;
            }
        };
        report.format = Some(table.format);
        report.encoding = table.encoding;
        report.delimiter = table.delimiter;
        let ctx = load_context(self.store, self.tenant).await?;
        let columns = map_headers(&table.headers, &ctx.custom_fields);
        report.columns = table
            .headers
            .iter()
            .zip(&columns)
            .map(|(h, c)| ColumnReport {
                header: h.clone(),
                maps_to: c.clone(),
            })
            .collect();
        report.unknown_columns = report
            .columns
            .iter()
            .filter(|c| c.maps_to == Column::Unknown)
            .map(|c| c.header.clone())
            .collect();
        let headers = table.headers.clone();

        // Pass 1: classify every row; write the error and duplicate reports.
        let mut errors = csv_writer();
        let mut err_header = headers.clone();
        err_header.extend(["line".into(), "column".into(), "reason".into()]);
        errors.write_record(&err_header).map_err(csv_err)?;
        let mut dups = csv_writer();
        dups.write_record(["line", "email", "matched", "action"])
            .map_err(csv_err)?;
        let mut checker = Checker {
            run: self,
            ctx: &ctx,
            columns: &columns,
            seen: HashMap::new(),
        };
        let read_failure = self
            .classify(table, &mut checker, &mut report, &mut errors, &mut dups)
            .await?;
        if let Some(msg) = read_failure {
            report.outcome = ImportOutcome::Unreadable;
            report.message = Some(msg);
            return self.finish(report, csv_bytes(errors)?, csv_bytes(dups)?).await;
        }
        if report.rows == 0 {
            report.outcome = ImportOutcome::Unreadable;
            report.message = Some("the file has a header but no data rows".into());
            return self.finish(report, csv_bytes(errors)?, csv_bytes(dups)?).await;
        }
        let save = match self.options.mode {
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
        };
        if save {
            // Pass 2: the same rows, the same answers; now write.
            let table = table::open(path, &scratch_file)
                .map_err(|e| ServiceError::Store(crate::ports::store::StoreError::Invalid(e.to_string())))?;
            let mut checker = Checker {
                run: self,
                ctx: &ctx,
                columns: &columns,
                seen: HashMap::new(),
            };
            self.write(table, &mut checker, &mut report).await?;
            report.outcome = ImportOutcome::Completed;
        }
        let _ = std::fs::remove_file(&scratch_file);
        self.finish(report, csv_bytes(errors)?, csv_bytes(dups)?).await
    }

    /// Pass 1. Returns a message when the file stops being readable part-way.
    async fn classify(
        &self,
        table: Table,
        checker: &mut Checker<'_>,
        report: &mut ImportReport,
        errors: &mut csv::Writer<Vec<u8>>,
        dups: &mut csv::Writer<Vec<u8>>,
    ) -> Result<Option<String>, ServiceError> {
        for row in table {
            let (line, cells) = match row {
                Ok(r) => r,
                Err(e) => return Ok(Some(e.to_string())),
            };
            report.rows += 1;
            match checker.check(line, &cells).await? {
                Row::Invalid(errs) => {
                    report.error_rows += 1;
                    for e in errs {
                        let mut rec = cells.clone();
                        rec.extend([line.to_string(), e.field.clone(), e.message.clone()]);
                        errors.write_record(&rec).map_err(csv_err)?;
                    }
                }
                Row::FileDuplicate { first_line, new } => {
                    report.valid_rows += 1;
                    report.duplicate_rows += 1;
                    let action = if self.options.duplicates == DuplicatePolicy::Create {
                        "create"
                    } else {
                        "skip"
                    };
                    let email = new.email.as_ref().map(|e| e.to_string()).unwrap_or_default();
                    dups.write_record([
                        line.to_string(),
                        email,
                        format!("line {first_line}"),
                        action.into(),
                    ])
                    .map_err(csv_err)?;
                }
                Row::StoreDuplicate { lead, new } => {
                    report.valid_rows += 1;
                    report.duplicate_rows += 1;
                    let action = match self.options.duplicates {
                        DuplicatePolicy::Skip => "skip",
                        DuplicatePolicy::Update => "update",
                        DuplicatePolicy::Create => "create",
                    };
                    let email = new.email.as_ref().map(|e| e.to_string()).unwrap_or_default();
                    dups.write_record([line.to_string(), email, lead.to_string(), action.into()])
                        .map_err(csv_err)?;
                }
                Row::Fresh(_) => report.valid_rows += 1,
            }
        }
        Ok(None)
    }

    /// Pass 2: new leads in batches, updates one by one, duplicates per policy.
    async fn write(
        &self,
        table: Table,
        checker: &mut Checker<'_>,
        report: &mut ImportReport,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let mut batch: Vec<Lead> = Vec::with_capacity(BATCH);
        let policy = self.options.duplicates;
        for row in table {
            let (line, cells) = row
                .map_err(|e| ServiceError::Store(crate::ports::store::StoreError::Invalid(e.to_string())))?;
            let new = match checker.check(line, &cells).await? {
                Row::Invalid(_) => continue,
                Row::Fresh(n) => n,
                Row::FileDuplicate { new, .. } | Row::StoreDuplicate { new, .. }
                    if policy == DuplicatePolicy::Create =>
                {
                    new
                }
                Row::StoreDuplicate { lead, new } if policy == DuplicatePolicy::Update => {
                    if let Some(mut existing) = self.store.get_lead(&self.tenant.id, &lead).await? {
                        merge(&mut existing, &new, now);
                        self.store.update_lead(&existing).await?;
                        report.updated += 1;
                    }
                    continue;
                }
                Row::FileDuplicate { .. } | Row::StoreDuplicate { .. } => {
                    report.skipped += 1;
                    continue;
                }
            };
            let mut lead = Lead::from_new(self.tenant.id.clone(), LeadId::new(), *new, now);
            lead.provenance.form = Some(self.job_id.clone());
            batch.push(lead);
            if batch.len() == BATCH {
                self.flush(&mut batch, report).await?;
            }
        }
        self.flush(&mut batch, report).await
    }

    /// Gives rows without an owner one from the weighted round robin (one counter
    /// reservation per batch), then writes the batch.
    async fn flush(&self, batch: &mut Vec<Lead>, report: &mut ImportReport) -> Result<(), ServiceError> {
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
        self.store.put_leads_batch(batch).await?;
        report.created += batch.len() as u64;
        batch.clear();
        Ok(())
    }
}
