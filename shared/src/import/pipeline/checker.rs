//! What each row is: read against the header, parsed, matched within the file and against
//! the store.

use super::*;

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
/// time is the job's start and whose other bits hash (job, row).
pub fn import_lead_id(job: &str, ordinal: u64, started_at: DateTime<Utc>) -> LeadId {
    LeadId::from_uuid(derived_uuid(&format!("{job}\n{ordinal}"), started_at))
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
    pub(super) fn claims(&self, row: &ReadRow) -> bool {
        !row.keys.is_empty()
            && row.errors.is_empty()
            && (self.run.options.duplicates == DuplicatePolicy::Update || self.parse_new(row).is_ok())
    }

    /// A row an earlier chunk already handled: only its contacts are remembered.
    pub(super) fn replay(&mut self, line: usize, cells: &[String]) -> Result<(), ServiceError> {
        let row = self.read(cells);
        if self.claims(&row) {
            self.seen.first_line(&row.keys, line).map_err(scratch_err)?;
        }
        Ok(())
    }

    pub(super) async fn check(
        &mut self,
        line: usize,
        ordinal: u64,
        cells: &[String],
    ) -> Result<Row, ServiceError> {
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

pub(super) fn converted_error() -> FieldError {
    FieldError::new(
        "status",
        "invalid_status",
        "a lead is converted only through conversion; a converted row can only match a stored lead",
    )
}
