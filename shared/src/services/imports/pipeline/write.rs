//! Pass 2: new leads in batches with their timeline entries, updates each in its own write
//! with what they replaced (several in flight), duplicates per the policy.

use super::*;
use futures::StreamExt;

/// Updates pass 2 keeps in flight. Each is its own write with its own version check; in
/// flight together, SQLite's writer commits them in groups (one fsync a group) and DynamoDB
/// takes them in parallel. One row per lead, so no two of them touch the same lead.
const UPDATES_IN_FLIGHT: usize = 64;

/// A batch of new leads being written: started by `start_write`, awaited by `settle`.
type InFlight<'a> = futures::future::MaybeDone<
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, ServiceError>> + Send + 'a>>,
>;

/// What pass 2 does with a row once it is counted.
pub(super) enum RowWrite {
    Nothing,
    Create(Box<NewLead>),
    Update {
        before: Box<Lead>,
        after: Box<Lead>,
        /// The row's input, applied again if the lead changes under the write.
        input: Box<LeadInput>,
    },
}

/// How an update ended.
pub(super) enum Saved {
    Updated,
    /// The row says what the lead says: nothing written.
    Unchanged,
    /// The lead became converted, or stopped taking the row, while the row was applied.
    Skipped,
}

impl ImportReport {
    fn tally(&mut self, saved: Saved) {
        match saved {
            Saved::Updated => self.updated += 1,
            Saved::Unchanged => self.unchanged += 1,
            Saved::Skipped => self.skipped += 1,
        }
    }
}

impl ImportRun<'_> {
    /// Pass 2: new leads in batches, updates several at a time, duplicates per policy.
    pub(super) async fn write(
        &self,
        table: Table,
        checker: &mut Checker<'_>,
        p: &mut Progress,
    ) -> Result<Step, ServiceError> {
        let now = self.clock.now();
        let mut batch_leads: Vec<Lead> = Vec::with_capacity(BATCH);
        let mut entries: Vec<Activity> = Vec::with_capacity(BATCH);
        let ctx = checker.ctx;
        let mut updates = futures::stream::FuturesUnordered::new();
        let mut writing: Option<InFlight<'_>> = None;
        let outcome = async {
            let mut rows = (0u64..).zip(table);
            for (_, row) in rows.by_ref().take(p.rows_done as usize) {
                let (line, cells) = row.map_err(csv_err)?;
                checker.replay(line, &cells)?;
            }
            loop {
                // Each batch is matched against the store with every earlier update written,
                // so what a row finds does not depend on when those updates landed.
                while let Some(saved) = updates.next().await {
                    p.report.tally(saved?);
                }
                // The batch being written goes on while the next is read and looked up. On
                // SQLite the writer thread goes on by itself; a DynamoDB write moves only
                // while it is polled, so it is polled beside the lookup, and left in flight
                // (for `settle`) if the lookup is done first, so rows are checked meanwhile.
                let batch = match writing.as_mut() {
                    Some(write) => {
                        let lookup = std::pin::pin!(checker.next_batch(&mut rows));
                        match futures::future::select(lookup, write).await {
                            futures::future::Either::Left((batch, _)) => batch?,
                            futures::future::Either::Right(((), lookup)) => lookup.await?,
                        }
                    }
                    None => checker.next_batch(&mut rows).await?,
                };
                let last = batch.rows.len() < checker::LOOKUP_ROWS;
                for row in batch.rows {
                    let ordinal = row.ordinal;
                    match self.write_row(checker, p, row, &batch.known).await? {
                        RowWrite::Nothing => {}
                        RowWrite::Create(new) => {
                            let id = checker.lead_id(ordinal);
                            let mut lead = Lead::from_new(self.tenant.id.clone(), id, *new, now);
                            lead.provenance.form = Some(self.job_id.clone());
                            entries.push(self.created_entry(&lead, ordinal, checker.started_at));
                            batch_leads.push(lead);
                        }
                        RowWrite::Update { before, after, input } => {
                            updates.push(self.save_update(*before, *after, *input, ctx));
                            if updates.len() >= UPDATES_IN_FLIGHT
                                && let Some(saved) = updates.next().await
                            {
                                p.report.tally(saved?);
                            }
                        }
                    }
                    if batch_leads.len() == BATCH {
                        // One batch is written while the next is read and checked.
                        Self::settle(&mut writing, &mut p.report).await?;
                        writing = self.start_write(&mut batch_leads, &mut entries).await?;
                    }
                    if self.checkpoint_due(p) {
                        // The checkpoint must not claim rows still in the batch or in flight.
                        Self::settle(&mut writing, &mut p.report).await?;
                        writing = self.start_write(&mut batch_leads, &mut entries).await?;
                        Self::settle(&mut writing, &mut p.report).await?;
                        while let Some(saved) = updates.next().await {
                            p.report.tally(saved?);
                        }
                        if self.checkpoint(p).await? {
                            return Ok(Step::Paused);
                        }
                    }
                }
                if let Some(e) = batch.broken {
                    return Err(csv_err(e));
                }
                if last {
                    break;
                }
            }
            Self::settle(&mut writing, &mut p.report).await?;
            writing = self.start_write(&mut batch_leads, &mut entries).await?;
            Self::settle(&mut writing, &mut p.report).await?;
            while let Some(saved) = updates.next().await {
                p.report.tally(saved?);
            }
            Ok::<_, ServiceError>(Step::Done)
        }
        .await;
        if outcome.is_err() {
            // Nothing may still be writing when the error goes up: an `all_or_nothing` run
            // that gives up undoes what it wrote, and must find all of it. Their own
            // errors are the same failure seen again.
            let _ = Self::settle(&mut writing, &mut p.report).await;
            while updates.next().await.is_some() {}
        }
        outcome
    }

    /// One row of pass 2, counted; what is to be written is returned, for the caller's batch
    /// or its updates in flight.
    async fn write_row(
        &self,
        checker: &mut Checker<'_>,
        p: &mut Progress,
        row: BatchRow,
        known: &Known,
    ) -> Result<RowWrite, ServiceError> {
        let policy = self.options.duplicates;
        let BatchRow {
            ordinal,
            line,
            cells,
            read,
        } = row;
        p.rows_done += 1;
        p.rows_this_run += 1;
        p.since_checkpoint += 1;
        Ok(match checker.check(line, ordinal, read, known).await? {
            Row::Invalid(_) => RowWrite::Nothing,
            Row::Fresh(n) => RowWrite::Create(n),
            Row::StoreDuplicate { new, .. } if policy == DuplicatePolicy::Create => RowWrite::Create(new),
            Row::FileDuplicate { new: Some(new), .. } if policy == DuplicatePolicy::Create => {
                RowWrite::Create(new)
            }
            Row::Update { before, after, .. } => RowWrite::Update {
                before,
                after,
                input: Box::new(checker.read(&cells).input),
            },
            Row::Ambiguous { .. } => {
                p.report.ambiguous += 1;
                RowWrite::Nothing
            }
            Row::FileDuplicate { .. } | Row::StoreDuplicate { .. } | Row::Converted { .. } => {
                p.report.skipped += 1;
                RowWrite::Nothing
            }
        })
    }

    /// The `imported` entry of a lead the job creates. Its id and time come from (job, row)
    /// and the job's start, like the lead's id, so a resumed run rewrites it, never adds one.
    pub(super) fn created_entry(&self, lead: &Lead, ordinal: u64, started_at: DateTime<Utc>) -> Activity {
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
    pub(super) async fn save_update(
        &self,
        mut before: Lead,
        mut after: Lead,
        input: LeadInput,
        ctx: &LeadContext,
    ) -> Result<Saved, ServiceError> {
        let actor = Actor::Import {
            job: self.job_id.clone(),
        };
        for _ in 0..3 {
            let fields = update::changed_fields(&before, &after);
            if fields.is_empty() {
                // Re-importing an export changes nothing: no write, no new version.
                return Ok(Saved::Unchanged);
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
                Ok(_) => return Ok(Saved::Updated),
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let current = self.store.get_lead(&self.tenant.id, &before.id).await?;
            match current {
                Some(c) if !update::is_converted(&c) => {
                    match update::updated_lead(&c, &input, ctx, now, self.options.quality()) {
                        Ok(a) => (before, after) = (c, a),
                        Err(_) => break,
                    }
                }
                _ => break,
            }
        }
        Ok(Saved::Skipped)
    }

    /// Gives rows without an owner one from the weighted round robin (one counter
    /// reservation per batch), then starts writing the batch (taken from `batch` and
    /// `entries`) with its timeline entries: the write is polled once, which hands it to the
    /// store (SQLite's writer thread works on it from there), and goes on until `settle`.
    async fn start_write(
        &self,
        batch: &mut Vec<Lead>,
        entries: &mut Vec<Activity>,
    ) -> Result<Option<InFlight<'_>>, ServiceError> {
        if batch.is_empty() {
            return Ok(None);
        }
        let (mut batch, entries) = (std::mem::take(batch), std::mem::take(entries));
        let unowned = batch.iter().filter(|l| l.owner.is_none()).count();
        let reps = crate::services::reps::list_reps(self.store, &self.tenant.id).await?;
        let mut owners =
            crate::services::reps::reserve_round_robin(self.store, &self.tenant.id, &reps, unowned)
                .await?
                .into_iter();
        for lead in batch.iter_mut().filter(|l| l.owner.is_none()) {
            lead.owner = owners.next();
        }
        let write = async move {
            self.store.put_leads_batch(&batch, &entries).await?;
            Ok(batch.len() as u64)
        };
        let mut write = futures::future::maybe_done(Box::pin(write) as _);
        let _ = futures::poll!(&mut write);
        Ok(Some(write))
    }

    /// Waits for the batch being written, if any, and counts its leads as created.
    async fn settle(
        writing: &mut Option<InFlight<'_>>,
        report: &mut ImportReport,
    ) -> Result<(), ServiceError> {
        if let Some(mut write) = writing.take() {
            (&mut write).await;
            let written = std::pin::Pin::new(&mut write)
                .take_output()
                .expect("a finished write has its output")?;
            report.created += written;
        }
        Ok(())
    }
}
