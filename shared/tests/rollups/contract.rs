//! Analytics rollups' contract, on both stores: after any sequence of lead writes (creates,
//! status changes with their first responses, conversions, reassignments, import batches
//! with new and replaced leads, deletions, refused writes) the kept rows equal a
//! recomputation from the leads; another tenant's rows never move; a rebuild puts right rows
//! that were wrong.

use super::*;
use chrono::NaiveDate;
use leadgate_core::domain::activity::Direction;
use leadgate_core::domain::conversion::Money;
use leadgate_core::domain::lead::ConversionLinks;
use leadgate_core::domain::rollup::{self, Cell, Counts, Dim};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn days() -> (NaiveDate, NaiveDate) {
    (t0().date_naive(), (t0() + Duration::days(90)).date_naive())
}

/// Every kept row of the tenant, both dimensions.
async fn kept(store: &dyn LeadStore, t: &TenantId) -> BTreeMap<Cell, Counts> {
    let (from, to) = days();
    let mut out = BTreeMap::new();
    for dim in Dim::ALL {
        for (cell, counts) in store.read_rollups(t, dim, from, to).await.unwrap() {
            assert!(out.insert(cell, counts).is_none(), "one row per cell");
        }
    }
    out
}

fn a_lead(rng: &mut StdRng, t: &TenantId, n: usize) -> Lead {
    let mut l = new_lead(
        t,
        &format!("Lead {n}"),
        None,
        t0() + Duration::hours(rng.random_range(0..96)),
    );
    l.source = SourceId::parse(["website-form", "referral", "partner"][rng.random_range(0..3)]).unwrap();
    set_campaign(rng, &mut l);
    l.owner = [None, Some("ana"), Some("bo")][rng.random_range(0..3)].map(|o| RepId::parse(o).unwrap());
    set_tags(&mut l, n);
    l
}

/// None, vip, expo, or both, by `n`: not drawn from the sequence's generator, so the
/// sequences the rollup cases were written against stay the same.
fn set_tags(l: &mut Lead, n: usize) {
    l.tags.clear();
    for (bit, tag) in [(1, "vip"), (2, "expo")] {
        if ((n * 7 + l.version as usize) % 4) & bit != 0 {
            l.tags.insert(Tag::parse(tag).unwrap());
        }
    }
}

/// None, a form's UTM campaign (not ASCII: the stores' day-range reads must still find it), a
/// Google campaign, or a Meta ad set.
fn set_campaign(rng: &mut StdRng, l: &mut Lead) {
    l.provenance.utm.campaign = None;
    l.provenance.ad = Default::default();
    match rng.random_range(0..4) {
        0 => {}
        1 => l.provenance.utm.campaign = Some("Été 2026 ~ offre".into()),
        2 => {
            l.provenance.channel = "google".into();
            l.provenance.ad.campaign_id = Some("12345678901".into());
        }
        _ => {
            l.provenance.channel = "meta".into();
            l.provenance.ad.ad_set_id = Some("44444444444".into());
        }
    }
}

fn call(lead: &Lead, at: DateTime<Utc>) -> Activity {
    Activity::new(
        lead.tenant.clone(),
        lead.id,
        at,
        Actor::System,
        ActivityKind::Call {
            direction: Direction::Outbound,
            duration_seconds: None,
            outcome: None,
            notes: None,
        },
    )
}

/// One random write to the tenant's leads, kept in `model` as the store answered it.
async fn random_write(
    store: &dyn LeadStore,
    rng: &mut StdRng,
    t: &TenantId,
    model: &mut BTreeMap<LeadId, Lead>,
    n: usize,
) {
    let pick = |rng: &mut StdRng, model: &BTreeMap<LeadId, Lead>| {
        let i = rng.random_range(0..model.len());
        model.values().nth(i).unwrap().clone()
    };
    match rng.random_range(0..8) {
        _ if model.is_empty() => {
            let l = create(store, &a_lead(rng, t, n)).await;
            model.insert(l.id, l);
        }
        0 | 1 => {
            let l = create(store, &a_lead(rng, t, n)).await;
            model.insert(l.id, l);
        }
        2 => {
            // A status change, maybe with the call that answers the lead, maybe a conversion.
            let mut l = pick(rng, model);
            // Converted more often than the others, so conversions (and their deal values)
            // are in every sequence.
            l.status = if rng.random_bool(0.4) {
                LeadStatus::Converted
            } else {
                LeadStatus::ALL[rng.random_range(0..5)]
            };
            l.conversion = (l.status == LeadStatus::Converted).then(|| ConversionLinks {
                prospect_id: format!("p-{n}"),
                deal_id: None,
                converted_at: l.created_at + Duration::days(rng.random_range(0..100)),
                // A deal in one of two currencies, or none: rows sum each currency apart.
                value: match rng.random_range(0..3) {
                    0 => None,
                    c => Some(Money {
                        amount: format!("{}.{:02}", rng.random_range(0..50_000), rng.random_range(0..100)),
                        currency: ["EUR", "USD"][c - 1].into(),
                    }),
                },
            });
            let calls = if rng.random_bool(0.5) {
                vec![call(
                    &l,
                    l.created_at + Duration::minutes(rng.random_range(1..5_000)),
                )]
            } else {
                vec![]
            };
            let next = store.commit_lead_change(&l, &[], &calls).await.unwrap();
            model.insert(next.id, next);
        }
        3 => {
            let mut l = pick(rng, model);
            l.owner =
                [None, Some("ana"), Some("bo")][rng.random_range(0..3)].map(|o| RepId::parse(o).unwrap());
            l.source = SourceId::parse("referral").unwrap();
            if rng.random_bool(0.3) {
                set_campaign(rng, &mut l);
            }
            if n.is_multiple_of(2) {
                set_tags(&mut l, n);
            }
            if rng.random_bool(0.3) {
                // A migrated lead's history corrected: it moves to another day's rows.
                l.created_at += Duration::days(2);
            }
            let next = store.update_lead(&l).await.unwrap();
            model.insert(next.id, next);
        }
        4 => {
            // An import batch: new leads, and stored ones replaced (an update or a rewrite).
            let mut batch: Vec<Lead> = (0..rng.random_range(1..4))
                .map(|i| a_lead(rng, t, n * 10 + i))
                .collect();
            for _ in 0..rng.random_range(0..3) {
                let mut l = pick(rng, model);
                if batch.iter().any(|b| b.id == l.id) {
                    continue;
                }
                l.status = LeadStatus::Contacted;
                l.owner = Some(RepId::parse("bo").unwrap());
                set_tags(&mut l, n + 1);
                l.version += 1;
                batch.push(l);
            }
            store.put_leads_batch(&batch, &[]).await.unwrap();
            for l in batch {
                model.insert(l.id, l);
            }
        }
        5 => {
            let l = pick(rng, model);
            store.delete_lead(t, &l.id, Some(l.version)).await.unwrap();
            model.remove(&l.id);
        }
        6 => {
            // A note moves the lead's version and activity, and no count.
            let l = pick(rng, model);
            store
                .append_activity(&note(&l, l.created_at + Duration::hours(1), "n"))
                .await
                .unwrap();
            let stored = store.get_lead(t, &l.id).await.unwrap().unwrap();
            model.insert(stored.id, stored);
        }
        _ => {
            // Refused writes move nothing: a stale change, a stale delete.
            let mut l = pick(rng, model);
            let stale = l.version;
            l.version = stale + 7;
            l.status = LeadStatus::Converted;
            assert!(matches!(
                store.commit_lead_change(&l, &[], &[]).await,
                Err(StoreError::Conflict { .. })
            ));
            assert!(matches!(
                store.delete_lead(t, &l.id, Some(stale + 7)).await,
                Err(StoreError::Conflict { .. })
            ));
            // Refused by a record they carry, after the rows joined the write: a change and
            // a create, each rolled back whole.
            store
                .put_record(t, kinds::ATTACHMENT, "taken", &serde_json::json!({}), Expect::Any)
                .await
                .unwrap();
            let taken = RecordWrite::new(kinds::ATTACHMENT, "taken", serde_json::json!({}));
            let mut changed = store.get_lead(t, &l.id).await.unwrap().unwrap();
            changed.status = LeadStatus::Unqualified;
            changed.owner = None;
            assert!(matches!(
                store
                    .commit_lead_change(&changed, std::slice::from_ref(&taken), &[])
                    .await,
                Err(StoreError::Conflict { .. })
            ));
            let refused = store
                .create_lead(&a_lead(rng, t, n), &CreateGuards::default(), &[], &[taken])
                .await;
            assert!(matches!(refused, Err(StoreError::Conflict { .. })), "{refused:?}");
        }
    }
}

pub async fn rollups_follow_every_write(store: Arc<dyn LeadStore>) {
    let other = common::tenant("ru-other");
    let mut theirs = BTreeMap::new();
    let mut rng = StdRng::seed_from_u64(7);
    for n in 0..5 {
        random_write(&*store, &mut rng, &other, &mut theirs, n).await;
    }
    let other_rows = kept(&*store, &other).await;
    assert_eq!(other_rows, rollup::recompute(theirs.values()));
    let mut valued_leads = 0;
    for seed in [1u64, 2, 3] {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut model = BTreeMap::new();
        let t = common::tenant(&format!("ru{seed}"));
        for n in 0..40 {
            random_write(&*store, &mut rng, &t, &mut model, n).await;
            if n % 10 == 9 {
                assert_eq!(
                    kept(&*store, &t).await,
                    rollup::recompute(model.values()),
                    "seed {seed}, after write {n}"
                );
            }
        }
        let total: i64 = kept(&*store, &t)
            .await
            .iter()
            .filter(|(c, _)| c.dim == Dim::Source)
            .map(|(_, c)| c.leads())
            .sum();
        assert_eq!(total, model.len() as i64, "seed {seed}: every lead counted once");
        let valued = model
            .values()
            .filter(|l| l.conversion.as_ref().is_some_and(|c| c.value.is_some()))
            .count();
        let rows_with_value = kept(&*store, &t)
            .await
            .iter()
            .filter(|(_, c)| !c.converted_value().is_empty())
            .count();
        assert!(
            valued == 0 || rows_with_value > 0,
            "seed {seed}: {valued} converted leads with a deal value, and no row holds it"
        );
        valued_leads += valued;
    }
    assert!(
        valued_leads > 0,
        "the sequences convert some leads with a deal value"
    );
    assert_eq!(
        kept(&*store, &other).await,
        other_rows,
        "the other tenant's rows stay"
    );
}

/// A count of one tag, with or without statuses (the SQLite store counts it from its tag
/// table, kept by triggers), equals a recount of the leads after any sequence of writes.
pub async fn tag_counts_follow_every_write(store: Arc<dyn LeadStore>) {
    let queries: Vec<LeadQuery> = [
        (vec![], "vip"),
        (vec![LeadStatus::New], "vip"),
        (vec![LeadStatus::Contacted, LeadStatus::Converted], "expo"),
        (vec![LeadStatus::Qualified], "none-has-it"),
    ]
    .into_iter()
    .map(|(status, tag)| LeadQuery {
        status,
        tags: vec![Tag::parse(tag).unwrap()],
        ..Default::default()
    })
    .collect();
    let other = common::tenant("tc-other");
    let mut theirs = BTreeMap::new();
    let mut rng = StdRng::seed_from_u64(11);
    for n in 0..5 {
        random_write(&*store, &mut rng, &other, &mut theirs, n).await;
    }
    let mut nonzero = 0;
    for seed in [4u64, 5] {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut model = BTreeMap::new();
        let t = common::tenant(&format!("tc{seed}"));
        for n in 0..40 {
            random_write(&*store, &mut rng, &t, &mut model, n).await;
            if n % 8 != 7 {
                continue;
            }
            for (qi, q) in queries.iter().enumerate() {
                let want = model.values().filter(|l| q.matches(l)).count() as u64;
                let got = store.count_leads(&t, q, 10_000).await.unwrap();
                assert_eq!(
                    (got.count, got.exact),
                    (want, true),
                    "seed {seed}, after write {n}, query #{qi} {q:?}"
                );
                nonzero += usize::from(want > 0);
            }
        }
    }
    assert!(nonzero > 10, "the sequences tag some leads: {nonzero}");
    let want = theirs.values().filter(|l| queries[0].matches(l)).count() as u64;
    let got = store.count_leads(&other, &queries[0], 10_000).await.unwrap();
    assert_eq!(got.count, want, "another tenant counts only its own leads");
}

pub async fn rebuild_puts_rows_right(store: Arc<dyn LeadStore>) {
    let t = common::tenant("ru-rebuild");
    let mut rng = StdRng::seed_from_u64(11);
    let mut model = BTreeMap::new();
    for n in 0..12 {
        let l = create(&*store, &a_lead(&mut rng, &t, n)).await;
        model.insert(l.id, l);
    }
    // A lead converted before leads carried their deal's value: its links name a deal of
    // 900.25 EUR, and say nothing of the value.
    let mut old = model.values().next().unwrap().clone();
    old.status = LeadStatus::Converted;
    old.conversion = Some(ConversionLinks {
        prospect_id: "p-old".into(),
        deal_id: Some("d-old".into()),
        converted_at: old.created_at + Duration::days(3),
        value: None,
    });
    let old = store.commit_lead_change(&old, &[], &[]).await.unwrap();
    let deal = serde_json::json!({
        "id": "d-old", "lead_id": old.id, "prospect_id": "p-old", "name": "Old deal",
        "value": {"amount": "900.25", "currency": "EUR"}, "stage": "proposal",
        "created_at": old.created_at
    });
    store
        .put_record(&t, kinds::DEAL, "d-old", &deal, Expect::Absent)
        .await
        .unwrap();
    let mut filled = old.clone();
    filled.conversion.as_mut().unwrap().value = Some(Money {
        amount: "900.25".into(),
        currency: "EUR".into(),
    });
    model.insert(filled.id, filled);
    let right = rollup::recompute(model.values());
    // Rows gone wrong: one off by three, one that should not exist.
    let mut wrong: Vec<(Cell, Counts)> = right.iter().map(|(c, n)| (c.clone(), n.clone())).collect();
    wrong[0].1.0[0] += 3;
    let mut ghost = Counts::default();
    ghost.0[0] = 5;
    ghost.1.insert("EUR".into(), 12_500);
    wrong.push((
        Cell {
            dim: Dim::Owner,
            day: t0().date_naive(),
            key: "ghost".into(),
        },
        ghost,
    ));
    store.replace_rollups(&t, &wrong).await.unwrap();
    assert_ne!(kept(&*store, &t).await, right);
    let done = leadgate_core::services::analytics::rebuild(&*store, &t)
        .await
        .unwrap();
    assert_eq!(done.leads, 12);
    assert_eq!(done.rows, right.len() as u64);
    assert_eq!(done.values_filled, 1);
    assert_eq!(kept(&*store, &t).await, right);
    let now = store.get_lead(&t, &old.id).await.unwrap().unwrap();
    assert_eq!(
        now.conversion.unwrap().value.map(|m| m.amount).as_deref(),
        Some("900.25"),
        "the lead carries its deal's value from now on"
    );
    let again = leadgate_core::services::analytics::rebuild(&*store, &t)
        .await
        .unwrap();
    assert_eq!(again.values_filled, 0, "filled once");
    assert_eq!(kept(&*store, &t).await, right);
}
