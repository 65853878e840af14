//! Creating one lead: its guards (external id, idempotency key) and the duplicate rule
//! checked first, then the lead, its guard items, timeline, records, rollups and
//! round-robin slot in one transaction.

use super::calls::put_item;
use super::keys;
use super::table::{PK, SK};
use super::{DynamoStore, Item, s, sdk};
use crate::domain::activity::Activity;
use crate::domain::duplicate::KnownContacts;
use crate::domain::lead::Lead;
use crate::domain::rep::ASSIGNMENT_COUNTER;
use crate::domain::rollup;
use crate::domain::webhook::LeadChange;
use crate::ports::store::{
    CreateGuards, CreateOutcome, RecordWrite, StoreError, entries_of, with_lead_events,
};

/// Lost races for a rotation slot before a create takes it with an increment of its own.
const SLOT_RACES: u32 = 3;

/// Where a create's round-robin slot stands.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// No rotation: the lead has its owner, or none.
    None,
    /// The counter read this value: the slot is the next, taken in the lead's transaction.
    Next(u64),
    /// This slot is taken already (by an increment of its own).
    Taken(u64),
}

impl Slot {
    /// The slot the lead gets, when it gets one.
    fn number(self) -> Option<u64> {
        match self {
            Slot::None => None,
            Slot::Next(seen) => Some(seen + 1),
            Slot::Taken(n) => Some(n),
        }
    }
}

impl DynamoStore {
    pub(super) async fn create(
        &self,
        lead: &Lead,
        g: &CreateGuards,
        entries: &[Activity],
        records: &[RecordWrite],
    ) -> Result<CreateOutcome, StoreError> {
        entries_of([lead], entries)?;
        let t = &lead.tenant;
        let ext_pk = g
            .external
            .as_ref()
            .map(|x| keys::external_pk(t, &x.provider, &x.id));
        let idem_pk = g
            .idempotency_key
            .as_ref()
            .map(|k| keys::idempotency_pk(t, &k.key));
        // Guards before duplicates: a replay must answer "already processed", not "duplicate".
        // The transaction below re-checks both guards atomically.
        if let Some(pk) = &ext_pk
            && let Some(id) = self.guard_owner(pk.clone(), "#EXT").await?
        {
            return Ok(CreateOutcome::ExternalIdTaken(id));
        }
        if let Some(pk) = &idem_pk
            && let Some((id, fingerprint)) = self.guard_item(pk.clone(), "#IDEM").await?
        {
            return Ok(CreateOutcome::IdempotencyKeyTaken(id, fingerprint));
        }
        if g.reject_duplicates {
            // Read from the eventually consistent matcher indexes: two simultaneous creates of
            // the same new contact can both pass. Platform deliveries are deduplicated exactly
            // by the external-id item below, which is transactional.
            let keys = lead.match_keys();
            let known: KnownContacts = self.find_by_contacts(t, &keys).await?.into_iter().collect();
            if let Some(m) = known.duplicate(&keys, None) {
                return Ok(CreateOutcome::Duplicate(m));
            }
        }
        // The rotation's slot goes in the transaction: the counter moves from the value read
        // to the next, on the condition that no other write moved it first; a create that
        // loses that race reads it again. After `SLOT_RACES` lost races (a burst on one
        // tenant) the slot is taken the old way, with an atomic increment of its own, and the
        // lead's write carries no condition on the counter: one more write, but bounded. That
        // slot is taken before the write, so if a guard then answers (a replay racing this
        // create) it goes unused: the rotation skips one turn, in bursts only.
        let mut slot = match &g.round_robin {
            None => Slot::None,
            Some(_) => Slot::Next(self.counter_value(t, ASSIGNMENT_COUNTER).await?),
        };
        let mut races = 0;
        let new_only = Some("attribute_not_exists(pk)");
        loop {
            let assigned;
            let (lead, entries) = match (&g.round_robin, slot.number()) {
                (Some(rr), Some(n)) => {
                    assigned = rr.assigned(n, lead, entries);
                    (&assigned.0, assigned.1.as_slice())
                }
                _ => (lead, entries),
            };
            let mut items = vec![put_item(&self.table, self.lead_item(lead)?, new_only, None)?];
            let idem_fingerprint = g.idempotency_key.as_ref().and_then(|k| k.fingerprint.clone());
            for (pk, sk, fingerprint) in [(&ext_pk, "#EXT", None), (&idem_pk, "#IDEM", idem_fingerprint)] {
                if let Some(pk) = pk {
                    let mut item = Item::from([
                        (PK.to_owned(), s(pk.clone())),
                        (SK.to_owned(), s(sk)),
                        ("lead_id".to_owned(), s(lead.id.to_string())),
                    ]);
                    if let Some(f) = fingerprint {
                        item.insert("fingerprint".to_owned(), s(f));
                    }
                    items.push(put_item(&self.table, item, new_only, None)?);
                }
            }
            // The entries and records go last, so the guards keep their places in the
            // cancellation reasons; the counter goes after everything.
            for a in entries {
                items.push(put_item(&self.table, Self::activity_item(a)?, new_only, None)?);
            }
            for r in &with_lead_events(records, lead, entries, LeadChange::Created, lead.updated_at)? {
                items.push(self.record_write_item(t, r)?);
            }
            items.extend(self.rollup_updates(t, &lead.id, &rollup::delta(None, Some(lead)))?);
            if let Slot::Next(seen) = slot {
                items.push(self.counter_take(t, ASSIGNMENT_COUNTER, seen)?);
            }
            let (err, codes) = match self.transact(items).await {
                Ok(()) => return Ok(CreateOutcome::Created(Box::new(lead.clone()))),
                Err(failed) => failed,
            };
            let Some(codes) = codes else {
                return Err(sdk(err));
            };
            // Items are [lead, ext?, idem?, …]; find which guard failed.
            let mut guard_idx = 1;
            if let Some(pk) = &ext_pk {
                if codes
                    .get(guard_idx)
                    .is_some_and(|c| c == "ConditionalCheckFailed")
                    && let Some(id) = self.guard_owner(pk.clone(), "#EXT").await?
                {
                    return Ok(CreateOutcome::ExternalIdTaken(id));
                }
                guard_idx += 1;
            }
            if let Some(pk) = &idem_pk {
                if codes
                    .get(guard_idx)
                    .is_some_and(|c| c == "ConditionalCheckFailed")
                    && let Some((id, fingerprint)) = self.guard_item(pk.clone(), "#IDEM").await?
                {
                    return Ok(CreateOutcome::IdempotencyKeyTaken(id, fingerprint));
                }
                guard_idx += 1;
            }
            let failed = |c: &String| c == "ConditionalCheckFailed";
            // Lost the counter to another create: its condition failed, or a transaction
            // held it through every retry of `transact`.
            if let (Slot::Next(_), Some((counter, rest))) = (slot, codes.split_last())
                && (failed(counter) || counter == "TransactionConflict")
                && !rest.iter().any(failed)
            {
                races += 1;
                slot = if races < SLOT_RACES {
                    Slot::Next(self.counter_value(t, ASSIGNMENT_COUNTER).await?)
                } else {
                    Slot::Taken(self.counter_increment(t, ASSIGNMENT_COUNTER, 1).await?)
                };
                continue;
            }
            if codes.first().is_some_and(failed) || codes.iter().skip(guard_idx).any(failed) {
                return Err(StoreError::Conflict {
                    expected: None,
                    found: Some(lead.version),
                });
            }
            return Err(sdk(err));
        }
    }
}
