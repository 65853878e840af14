//! The report: counts, the errors and duplicates CSVs written in parts at each checkpoint and
//! stitched together at the end, and the JSON summary.

use super::*;

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
    pub preview: Option<crate::import::preview::Preview>,
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
    pub(super) fn counters(&self) -> Counters {
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

    pub(super) fn restore(&mut self, c: &Counters) {
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

/// The report's words for a match key: which key, and its value.
pub(super) fn key_cells(key: &MatchKey) -> [String; 2] {
    match key {
        MatchKey::Email(e) => ["email".into(), e.to_string()],
        MatchKey::Phone(p) => ["phone".into(), p.to_string()],
    }
}

pub(super) fn ids_cell(leads: &[LeadId]) -> String {
    leads.iter().map(|l| l.to_string()).collect::<Vec<_>>().join(" ")
}

pub(super) fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::Writer::from_writer(Vec::new())
}

pub(super) fn csv_err(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Store(crate::ports::store::StoreError::Invalid(e.to_string()))
}

/// Takes what a CSV writer has buffered so far.
pub(super) fn drain(w: &mut csv::Writer<Vec<u8>>) -> Result<bytes::Bytes, ServiceError> {
    w.flush().map_err(csv_err)?;
    let inner = std::mem::replace(w, csv_writer()).into_inner().map_err(csv_err)?;
    Ok(bytes::Bytes::from(inner))
}

/// The report CSVs of pass 1: buffered per chunk, flushed to the bucket as parts.
pub(super) struct ReportParts {
    pub(super) errors: csv::Writer<Vec<u8>>,
    pub(super) duplicates: csv::Writer<Vec<u8>>,
    pub(super) error_parts: u32,
    pub(super) duplicate_parts: u32,
}

impl ImportRun<'_> {
    pub(super) fn report_key(&self, name: &str) -> String {
        crate::bucket_keys::report(&self.tenant.id, &self.job_id, name)
    }

    pub(super) fn part_key(&self, what: &str, n: u32) -> Result<BlobKey, ServiceError> {
        Ok(BlobKey::parse(
            &self.report_key(&format!("parts/{what}-{n:06}.csv")),
        )?)
    }

    pub(super) async fn put(
        &self,
        name: &str,
        body: bytes::Bytes,
        content_type: &str,
    ) -> Result<(), ServiceError> {
        let key = BlobKey::parse(&self.report_key(name))?;
        self.blobs.put(&key, body, content_type).await?;
        Ok(())
    }

    pub(super) fn empty_report(&self, started_at: DateTime<Utc>) -> ImportReport {
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
    pub(super) async fn flush_parts(&self, parts: &mut ReportParts) -> Result<(), ServiceError> {
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
    pub(super) async fn assemble(
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

    pub(super) async fn finish(
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

    pub(super) fn new_parts(&self) -> ReportParts {
        let cp = self.resume.as_ref();
        ReportParts {
            errors: csv_writer(),
            duplicates: csv_writer(),
            error_parts: cp.map_or(0, |c| c.error_parts),
            duplicate_parts: cp.map_or(0, |c| c.duplicate_parts),
        }
    }
}

/// Removes a finished job's report parts (best effort: they are small, and a leftover part
/// harms nothing). Called once the run is recorded done, never before.
pub async fn remove_report_parts(blobs: &dyn BlobStore, tenant: &crate::domain::ids::TenantId, job_id: &str) {
    let prefix = crate::bucket_keys::report_parts(tenant, job_id);
    let Ok(page) = blobs.list(&prefix, None, 1000).await else {
        return;
    };
    for meta in page.items {
        let _ = blobs.delete(&meta.key).await;
    }
}
