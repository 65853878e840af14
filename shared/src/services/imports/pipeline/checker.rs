//! What each row is: read against the header, parsed, matched within the file and against
//! the store.

use super::*;

/// Rows read and matched against the store a batch at a time.
pub(super) const LOOKUP_ROWS: usize = 500;

/// One data row of a batch: where it is, its cells, and the cells read against the header.
pub(super) struct BatchRow {
    pub(super) ordinal: u64,
    pub(super) line: usize,
    pub(super) cells: Vec<String>,
    pub(super) read: ReadRow,
}

/// Up to `LOOKUP_ROWS` rows, what the store holds for them, and the error that cut the
/// batch short, if the file broke.
#[derive(Default)]
pub(super) struct RowBatch {
    pub(super) rows: Vec<BatchRow>,
    pub(super) known: Known,
    pub(super) broken: Option<crate::import::table::TableError>,
}

/// What the store said about a batch's rows: the leads their contacts match and, under
/// `update`, each lead a row matched alone (the one it would update).
#[derive(Default)]
pub(super) struct Known {
    pub(super) contacts: KnownContacts,
    pub(super) leads: std::collections::HashMap<LeadId, Lead>,
}

/// A row as a new lead, or why it is not one.
pub(super) type Parsed = Result<NewLead, Vec<FieldError>>;

/// What one row turned out to be.
pub(super) enum Row {
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
/// time is the job's start, whose next 48 bits are the row (so a job's ids ascend with its
/// rows and its leads are appended to the store's indexes, not scattered through them) and
/// whose last bits hash the job.
pub fn import_lead_id(job: &str, ordinal: u64, started_at: DateTime<Utc>) -> LeadId {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(job.as_bytes());
    let mut rand = [0u8; 10];
    // The builder keeps 4 bits of `rand[0]` (beside the version), all of `rand[1]`, and 6 of
    // `rand[2]` (beside the variant): the row's low 36 bits go in `rand[0..2]` and
    // `rand[3..6]`, most significant first, and the job's hash around them. 2^36 rows is
    // far more than a file can hold.
    let row = ordinal.to_be_bytes();
    rand[0] = row[3];
    rand[1] = row[4];
    rand[2] = digest[0];
    rand[3] = row[5];
    rand[4] = row[6];
    rand[5] = row[7];
    rand[6..].copy_from_slice(&digest[1..5]);
    let millis = started_at.timestamp_millis().max(0) as u64;
    LeadId::from_uuid(uuid::Builder::from_unix_timestamp_millis(millis, &rand).into_uuid())
}

/// A UUIDv7 whose time is `at` and whose other bits hash `seed`: the same on every run.
pub(super) fn derived_uuid(seed: &str, at: DateTime<Utc>) -> uuid::Uuid {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(seed.as_bytes());
    let mut rand = [0u8; 10];
    rand.copy_from_slice(&digest[..10]);
    let millis = at.timestamp_millis().max(0) as u64;
    uuid::Builder::from_unix_timestamp_millis(millis, &rand).into_uuid()
}

pub(super) fn scratch_err(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Store(crate::ports::store::StoreError::Invalid(format!(
        "import scratch file: {e}"
    )))
}

/// Classifies rows, tracking the file's contacts.
pub(super) struct Checker<'a> {
    pub(super) run: &'a ImportRun<'a>,
    pub(super) ctx: &'a LeadContext,
    pub(super) columns: &'a [Column],
    pub(super) mapping: &'a Mapping,
    pub(super) seen: SeenContacts,
    pub(super) started_at: DateTime<Utc>,
    /// Which of the two id layouts the job's leads have (`ImportRun::ascending_ids`).
    pub(super) ascending_ids: bool,
}

/// A row read against the header: its input (no default source), its contacts, and the
/// errors of reading it that no policy forgives.
pub(super) struct ReadRow {
    pub(super) input: LeadInput,
    pub(super) dates: RowDates,
    pub(super) keys: Vec<MatchKey>,
    /// The status cell says `converted`.
    pub(super) converted: bool,
    pub(super) errors: Vec<FieldError>,
}

impl Checker<'_> {
    /// The id of the lead made from data row `ordinal`, in the job's id layout.
    pub(super) fn lead_id(&self, ordinal: u64) -> LeadId {
        let job = &self.run.job_id;
        match self.ascending_ids {
            true => import_lead_id(job, ordinal, self.started_at),
            // The layout before ids ascended: all bits but the time hash (job, row).
            false => LeadId::from_uuid(derived_uuid(&format!("{job}\n{ordinal}"), self.started_at)),
        }
    }

    pub(super) fn read(&self, cells: &[String]) -> ReadRow {
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
    pub(super) fn parse_new(&self, row: &ReadRow) -> Result<NewLead, Vec<FieldError>> {
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
                crate::import::dates::apply_row_dates(
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
    /// `parsed` keeps the row's parse, when this needed it, for the caller to `take_parsed`:
    /// a row is parsed once, not once per question.
    pub(super) fn claims(&self, row: &ReadRow, parsed: &mut Option<Parsed>) -> bool {
        !row.keys.is_empty()
            && row.errors.is_empty()
            && (self.run.options.duplicates == DuplicatePolicy::Update
                || parsed.get_or_insert_with(|| self.parse_new(row)).is_ok())
    }

    /// The row's parse: the one `claims` kept, or a new one.
    fn take_parsed(&self, parsed: &mut Option<Parsed>, row: &ReadRow) -> Parsed {
        parsed.take().unwrap_or_else(|| self.parse_new(row))
    }

    /// A row an earlier chunk already handled: only its contacts are remembered.
    pub(super) fn replay(&mut self, line: usize, cells: &[String]) -> Result<(), ServiceError> {
        let row = self.read(cells);
        if self.claims(&row, &mut None) {
            self.seen.first_line(&row.keys, line).map_err(scratch_err)?;
        }
        Ok(())
    }

    /// The next `LOOKUP_ROWS` rows (fewer at the end), each read against the header, with
    /// the stored leads their contacts match looked up in one store call. Within a batch,
    /// rows are matched against the store as it was before the batch: pass 1 writes nothing,
    /// and in pass 2 a row the batch writes is found by later rows through `seen` first.
    pub(super) async fn next_batch(
        // `&mut`, as a shared borrow held across the lookup would need the scratch
        // connection to be `Sync`.
        &mut self,
        rows: &mut impl Iterator<
            Item = (
                u64,
                Result<(usize, Vec<String>), crate::import::table::TableError>,
            ),
        >,
    ) -> Result<RowBatch, ServiceError> {
        let mut batch = RowBatch::default();
        for (ordinal, row) in rows.by_ref() {
            match row {
                Ok((line, cells)) => {
                    let read = self.read(&cells);
                    batch.rows.push(BatchRow {
                        ordinal,
                        line,
                        cells,
                        read,
                    });
                }
                Err(e) => {
                    batch.broken = Some(e);
                    break;
                }
            }
            if batch.rows.len() == LOOKUP_ROWS {
                break;
            }
        }
        let (store, tenant) = (self.run.store, &self.run.tenant.id);
        let keys = batch.rows.iter().flat_map(|r| r.read.keys.iter().cloned());
        batch.known.contacts = crate::services::duplicates::look_up(store, tenant, keys).await?;
        if self.run.options.duplicates == DuplicatePolicy::Update {
            let mut ids: Vec<LeadId> = batch
                .rows
                .iter()
                .filter_map(|r| {
                    let own = self.lead_id(r.ordinal);
                    batch.known.contacts.matches(&r.read.keys, Some(&own))
                })
                .filter(|(_, leads)| leads.len() == 1)
                .map(|(_, leads)| leads[0])
                .collect();
            ids.sort();
            ids.dedup();
            if !ids.is_empty() {
                let leads = store.get_leads(tenant, &ids).await?;
                batch.known.leads = leads.into_iter().map(|l| (l.id, l)).collect();
            }
        }
        Ok(batch)
    }

    pub(super) async fn check(
        &mut self,
        line: usize,
        ordinal: u64,
        row: ReadRow,
        known: &Known,
    ) -> Result<Row, ServiceError> {
        let policy = self.run.options.duplicates;
        let mut parsed = None;
        if self.claims(&row, &mut parsed)
            && let Some(first_line) = self.seen.first_line(&row.keys, line).map_err(scratch_err)?
        {
            // Only `create` makes a lead of a file duplicate.
            let new = match policy {
                DuplicatePolicy::Create => self.take_parsed(&mut parsed, &row).ok().map(Box::new),
                _ => None,
            };
            let key = row.keys[0].clone();
            return Ok(Row::FileDuplicate { first_line, key, new });
        }
        // This row's own lead, written by a run that was killed before its checkpoint, is
        // not a duplicate of itself.
        let own = self.lead_id(ordinal);
        let found = known.contacts.matches(&row.keys, Some(&own));
        let Some((key, leads)) = found else {
            return Ok(match self.take_parsed(&mut parsed, &row) {
                Err(e) => Row::Invalid(e),
                Ok(_) if row.converted => Row::Invalid(vec![converted_error()]),
                Ok(n) => Row::Fresh(Box::new(n)),
            });
        };
        if policy != DuplicatePolicy::Update {
            return Ok(match self.take_parsed(&mut parsed, &row) {
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
        let Some(before) = known.leads.get(&leads[0]).cloned() else {
            // Deleted since it was matched: the row is a new lead after all.
            return Ok(match self.take_parsed(&mut parsed, &row) {
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

pub(super) fn converted_error() -> FieldError {
    FieldError::new(
        "status",
        "invalid_status",
        "a lead is converted only through conversion; a converted row can only match a stored lead",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_rows_follow_each_other_should_have_ascending_ids_unique_to_the_job() {
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 2, 10, 0, 0).unwrap();
        let ids: Vec<String> = [0u64, 1, 255, 256, 65_535, 65_536, 1 << 24, (1 << 36) - 1]
            .iter()
            .map(|&n| import_lead_id("job-a", n, at).to_string())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "ids ascend with the row");
        assert_eq!(import_lead_id("job-a", 7, at), import_lead_id("job-a", 7, at));
        assert_ne!(import_lead_id("job-a", 7, at), import_lead_id("job-b", 7, at));
        let uuid = uuid::Uuid::parse_str(&ids[3]).unwrap();
        assert_eq!(uuid.get_version_num(), 7);
    }

    #[test]
    fn when_a_checkpoint_predates_ascending_ids_should_say_so() {
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 12, 2, 10, 0, 0).unwrap();
        let now = Checkpoint {
            pass: Pass::Write,
            rows_done: 5_000,
            counters: Counters::default(),
            error_parts: 1,
            duplicate_parts: 1,
            started_at: at,
            preview: None,
            ascending_ids: true,
        };
        let mut old = serde_json::to_value(&now).unwrap();
        old.as_object_mut().unwrap().remove("ascending_ids");
        let back: Checkpoint = serde_json::from_value(old).unwrap();
        assert!(!back.ascending_ids, "a run begun before keeps its ids");
        assert_eq!(
            Checkpoint {
                ascending_ids: true,
                ..back
            },
            now
        );
    }
}
