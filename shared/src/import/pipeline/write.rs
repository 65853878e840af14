//! Pass 2: new leads in batches with their timeline entries, updates one by one with what
//! they replaced, duplicates per the policy.

use super::*;

impl ImportRun<'_> {
    /// Pass 2: new leads in batches, updates one by one, duplicates per policy.
    pub(super) async fn write(
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
    pub(super) async fn flush(
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
