//! Reps and weighted round-robin assignment.
//!
//! The store keeps one atomic counter per tenant; each assignment takes the next counter value
//! and maps it onto the active reps' weights. Because the counter is the only shared state and
//! it is incremented atomically, concurrent assignments never pick from the same slot, and over
//! any full cycle every rep gets exactly its weight's share.

use crate::domain::activity::{Activity, ActivityKind, Actor};
use crate::domain::error::{FieldError, FieldErrors};
use crate::domain::ids::{LeadId, RepId, TenantId};
use crate::domain::lead::Lead;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rep {
    pub id: RepId,
    pub name: String,
    /// Relative share of new leads, 0-100. Zero keeps the rep active but out of rotation.
    pub weight: u32,
    pub active: bool,
    /// In today's rotation: `false` while the rep is out. The round robin skips them; their
    /// weight and their leads stay as they are.
    #[serde(default = "available_by_default")]
    pub available: bool,
}

fn available_by_default() -> bool {
    true
}

pub const MAX_WEIGHT: u32 = 100;

impl Rep {
    /// Whether the round robin may give this rep a new lead: active, available, weighted.
    pub fn in_rotation(&self) -> bool {
        self.active && self.available && self.weight > 0
    }

    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errs = FieldErrors::default();
        if self.name.trim().is_empty() || self.name.chars().count() > 120 {
            errs.push(FieldError::new(
                "name",
                "invalid_length",
                "a rep name is 1-120 characters",
            ));
        }
        if self.weight > MAX_WEIGHT {
            errs.push(FieldError::new(
                "weight",
                "out_of_range",
                format!("weight is 0-{MAX_WEIGHT}"),
            ));
        }
        errs.into_result(|| ())
    }
}

/// The counter name the round robin uses in the store.
pub const ASSIGNMENT_COUNTER: &str = "assignment";

/// The display name of a lead's owner: the rep's name now, or the id if the rep is gone.
pub fn rep_name(reps: &[Rep], id: &RepId) -> String {
    reps.iter()
        .find(|r| &r.id == id)
        .map_or_else(|| id.to_string(), |r| r.name.clone())
}

/// The rep a person refers to, by id or by name (case-insensitive), active or not: the one
/// lookup behind an owner given on a lead and an owner in a list filter. Names need not be
/// unique, so a name two reps share finds neither (use the id).
pub fn find_rep<'a>(reps: &'a [Rep], raw: &str) -> Option<&'a Rep> {
    let wanted = raw.trim();
    if let Some(r) = reps.iter().find(|r| r.id.as_str() == wanted) {
        return Some(r);
    }
    let mut named = reps.iter().filter(|r| r.name.trim().eq_ignore_ascii_case(wanted));
    match (named.next(), named.next()) {
        (Some(r), None) => Some(r),
        _ => None,
    }
}

/// Picks the rep for counter value `n` (1-based, as the store returns it). Reps are taken in
/// id order so every process computes the same rotation from the same list.
pub fn pick_weighted(reps: &[Rep], n: u64) -> Option<&Rep> {
    let mut eligible: Vec<&Rep> = reps.iter().filter(|r| r.in_rotation()).collect();
    eligible.sort_by(|a, b| a.id.cmp(&b.id));
    let total: u64 = eligible.iter().map(|r| u64::from(r.weight)).sum();
    if total == 0 {
        return None;
    }
    let mut slot = n.saturating_sub(1) % total;
    for r in eligible {
        let w = u64::from(r.weight);
        if slot < w {
            return Some(r);
        }
        slot -= w;
    }
    None
}

/// A new lead's owner from the round robin, taken inside the lead's own write: the store
/// takes the tenant's next slot of `ASSIGNMENT_COUNTER` in the same transaction as the lead
/// (`CreateGuards::round_robin`) and stores what `assigned` makes of the lead with it. So a lead and its slot are one
/// write, and a create that writes nothing (a replay, a duplicate) takes no slot.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundRobin {
    /// The tenant's reps as the lead's context read them; `pick_weighted` chooses among them.
    pub reps: Vec<Rep>,
    /// The `Assigned` entry to put first on the timeline, made before the caller's entries so
    /// that it sorts before them (an entry's id orders entries of the same instant); `assigned`
    /// fills in the rep.
    pub entry: Activity,
}

impl RoundRobin {
    /// The rotation for a new lead, `None` when no rep is in it (the lead stays unassigned).
    pub fn for_lead(
        reps: &[Rep],
        tenant: TenantId,
        lead: LeadId,
        at: DateTime<Utc>,
        actor: Actor,
    ) -> Option<Self> {
        reps.iter().any(Rep::in_rotation).then(|| Self {
            reps: reps.to_vec(),
            entry: Activity::new(
                tenant,
                lead,
                at,
                actor,
                ActivityKind::Assigned {
                    from: None,
                    to: None,
                    reason: "round_robin".to_owned(),
                },
            ),
        })
    }

    /// The lead and its entries as the write stores them: `lead` with the owner of rotation
    /// slot `slot` (1-based, as the counter returns it), the `Assigned` entry first.
    pub fn assigned(&self, slot: u64, lead: &Lead, entries: &[Activity]) -> (Lead, Vec<Activity>) {
        let mut lead = lead.clone();
        let Some(rep) = pick_weighted(&self.reps, slot) else {
            return (lead, entries.to_vec());
        };
        lead.owner = Some(rep.id.clone());
        let mut entry = self.entry.clone();
        if let ActivityKind::Assigned { to, .. } = &mut entry.kind {
            *to = lead.owner.clone();
        }
        (
            lead,
            std::iter::once(entry).chain(entries.iter().cloned()).collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(id: &str, weight: u32, active: bool) -> Rep {
        Rep {
            id: RepId::parse(id).unwrap(),
            name: id.into(),
            weight,
            active,
            available: true,
        }
    }

    #[test]
    fn when_cycling_should_give_each_rep_its_weight() {
        let reps = vec![
            rep("b", 1, true),
            rep("a", 2, true),
            rep("c", 5, false),
            rep("d", 0, true),
        ];
        let picks: Vec<_> = (1..=6)
            .map(|n| pick_weighted(&reps, n).unwrap().id.as_str().to_owned())
            .collect();
        assert_eq!(picks, ["a", "a", "b", "a", "a", "b"]);
    }

    #[test]
    fn when_finding_a_rep_should_take_the_id_before_a_name() {
        let mut reps = vec![rep("ana", 1, true), rep("ben", 1, false)];
        reps[0].name = "Ana Lima".into();
        reps[1].name = "ana".into();
        assert_eq!(find_rep(&reps, "ana").unwrap().id.as_str(), "ana");
        assert_eq!(find_rep(&reps, " ana LIMA ").unwrap().id.as_str(), "ana");
        assert_eq!(find_rep(&reps, "ben").unwrap().id.as_str(), "ben");
        assert!(find_rep(&reps, "carl").is_none());
        reps.push(rep("cy", 1, true));
        reps[2].name = "Ana Lima".into();
        assert!(
            find_rep(&reps, "ana lima").is_none(),
            "a shared name is ambiguous"
        );
    }

    #[test]
    fn when_no_rep_is_eligible_should_pick_none() {
        assert!(pick_weighted(&[rep("a", 0, true), rep("b", 3, false)], 1).is_none());
        assert!(pick_weighted(&[], 7).is_none());
    }

    #[test]
    fn when_a_rep_is_out_should_skip_them_and_keep_the_others_shares() {
        let mut out = rep("b", 5, true);
        out.available = false;
        let reps = [rep("a", 1, true), out, rep("c", 2, true)];
        let picks: Vec<&str> = (1..=6)
            .map(|n| pick_weighted(&reps, n).unwrap().id.as_str())
            .collect();
        assert_eq!(picks, ["a", "c", "c", "a", "c", "c"]);
    }
}
