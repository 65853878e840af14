//! Conversion on every store: atomic, idempotent, one deal under concurrency, nothing changed
//! by a failure in the middle of the transaction, per-lead results in bulk.

use crate::common;

use futures::future::join_all;
use leadgate_core::domain::activity::{Activity, ActivityKind, Actor};
use leadgate_core::domain::conversion::{Deal, Prospect};
use leadgate_core::domain::lead::LeadInput;
use leadgate_core::domain::rep::Rep;
use leadgate_core::domain::tenant::{Principal, Role, Tenant};
use leadgate_core::domain::{LeadId, LeadStatus, RepId};
use leadgate_core::ports::clock::SystemClock;
use leadgate_core::ports::store::{LeadStore, RecordWrite, StoreError, kinds};
use leadgate_core::services::conversion::get_deal;
use leadgate_core::services::conversion::{
    BulkOutcome, ConvertOutcome, ConvertRequest, DealFilter, DealInput, MoneyInput, convert_lead,
    convert_many, list_deals,
};
use leadgate_core::services::deals::{DealPatch, patch_deal};
use leadgate_core::services::leads::{CreateLead, CreateResult, DuplicatePolicy, create_lead, get_lead};
use leadgate_core::services::{ServiceError, reps, tenants};
use std::sync::Arc;

struct Fixture {
    store: Arc<dyn LeadStore>,
    tenant: Tenant,
    admin: Principal,
}

async fn fixture(store: Arc<dyn LeadStore>) -> Fixture {
    let id = common::tenant("conv");
    let (tenant, _) = tenants::ensure_tenant(&*store, &id, "Conv", chrono::Utc::now())
        .await
        .unwrap();
    reps::put_rep(
        &*store,
        &id,
        Rep {
            id: RepId::parse("ana").unwrap(),
            name: "Ana".into(),
            weight: 1,
            active: true,
            available: true,
        },
    )
    .await
    .unwrap();
    let admin = Principal {
        tenant: id,
        user: "admin".into(),
        role: Role::Admin,
    };
    Fixture { store, tenant, admin }
}

impl Fixture {
    /// A lead, moved to `status` directly in the store (the API path is tested elsewhere).
    async fn lead(&self, name: &str, status: LeadStatus, owner: Option<&str>) -> LeadId {
        let input = LeadInput {
            name: Some(name.into()),
            email: Some(format!("{}@example.com", name.to_lowercase().replace(' ', "."))),
            company: Some(format!("{name} GmbH")),
            source: Some("referral".into()),
            owner: owner.map(str::to_owned),
            ..Default::default()
        };
        let req = CreateLead::new(input, Actor::System, DuplicatePolicy::Create);
        let CreateResult::Created(lead) = create_lead(&*self.store, &SystemClock, &self.tenant, req)
            .await
            .unwrap()
        else {
            panic!("create failed");
        };
        let mut l = *lead;
        l.status = status;
        if owner.is_none() {
            l.owner = None;
        }
        self.store.update_lead(&l).await.unwrap();
        l.id
    }

    async fn convert(&self, id: &LeadId, req: &ConvertRequest) -> Result<ConvertOutcome, ServiceError> {
        convert_lead(
            &*self.store,
            &SystemClock,
            &self.tenant,
            &self.admin,
            id,
            req,
            false,
        )
        .await
    }
}

fn stage(id: &str) -> DealFilter {
    DealFilter {
        stages: vec![id.into()],
        ..Default::default()
    }
}

fn with_deal() -> ConvertRequest {
    ConvertRequest {
        deal: Some(DealInput {
            name: Some("Pilot".into()),
            value: Some(MoneyInput {
                amount: serde_json::json!("12500.5"),
                currency: "eur".into(),
            }),
            expected_close_date: Some("2027-03-31".into()),
            stage: Some("proposal".into()),
        }),
        no_deal: false,
    }
}

async fn converts_once_and_links(store: Arc<dyn LeadStore>) {
    let f = fixture(store).await;
    let id = f.lead("Jane Doe", LeadStatus::Qualified, Some("ana")).await;
    let ConvertOutcome::Converted(first) = f.convert(&id, &with_deal()).await.unwrap() else {
        panic!("first conversion converts");
    };
    let deal = first.deal.clone().unwrap();
    assert_eq!(
        (deal.stage.as_str(), deal.value.as_ref().unwrap().amount.as_str()),
        ("proposal", "12500.50")
    );
    assert_eq!(first.prospect.company.as_deref(), Some("Jane Doe GmbH"));
    assert_eq!(first.prospect.email.as_deref(), Some("jane.doe@example.com"));
    let lead = get_lead(&*f.store, &f.tenant.id, &id).await.unwrap();
    assert_eq!(lead.status, LeadStatus::Converted);
    let links = lead.conversion.unwrap();
    assert_eq!(
        (links.prospect_id.as_str(), links.deal_id.as_deref()),
        (first.prospect.id.as_str(), Some(deal.id.as_str()))
    );
    let timeline = f
        .store
        .list_activities(&f.tenant.id, &id, None, 10)
        .await
        .unwrap();
    assert!(matches!(timeline.items[0].kind, ActivityKind::Converted { .. }));
    // Again: the first result, nothing new.
    match f.convert(&id, &ConvertRequest::default()).await.unwrap() {
        ConvertOutcome::AlreadyConverted(again) => assert_eq!(again, first),
        other => panic!("expected the first result, got {other:?}"),
    }
    assert_eq!(
        list_deals(&*f.store, &f.tenant, &f.admin, &DealFilter::default(), None, 50)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let by_stage = list_deals(
        &*f.store,
        &f.tenant,
        &f.admin,
        // Owners and stages by name, several each.
        &DealFilter::parse(&*f.store, &f.tenant, Some("Ana, ana"), Some("Proposal,won"))
            .await
            .unwrap(),
        None,
        50,
    )
    .await
    .unwrap();
    assert_eq!(by_stage.items.len(), 1);
    let unknown = DealFilter::parse(&*f.store, &f.tenant, Some("zed"), Some("nowhere")).await;
    let Err(ServiceError::Validation(e)) = unknown else {
        panic!("{unknown:?}");
    };
    let fields: Vec<&str> = e.0.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["owner", "stage"]);
    assert!(
        list_deals(&*f.store, &f.tenant, &f.admin, &stage("won"), None, 50)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn concurrent_double_convert(store: Arc<dyn LeadStore>) {
    let f = Arc::new(fixture(store).await);
    let id = f.lead("Race Condition", LeadStatus::Qualified, Some("ana")).await;
    let outcomes = join_all((0..6).map(|_| {
        let f = f.clone();
        tokio::spawn(async move { f.convert(&id, &with_deal()).await.unwrap() })
    }))
    .await;
    let mut deal_ids = std::collections::HashSet::new();
    let mut converted = 0;
    for o in outcomes {
        match o.unwrap() {
            ConvertOutcome::Converted(r) => {
                converted += 1;
                deal_ids.insert(r.deal.unwrap().id);
            }
            ConvertOutcome::AlreadyConverted(r) => {
                deal_ids.insert(r.deal.unwrap().id);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(converted, 1, "exactly one conversion wins");
    assert_eq!(deal_ids.len(), 1, "everyone sees the same deal");
    assert_eq!(
        list_deals(&*f.store, &f.tenant, &f.admin, &DealFilter::default(), None, 50)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let prospects = f
        .store
        .list_records(&f.tenant.id, kinds::PROSPECT, None, 100)
        .await
        .unwrap();
    assert_eq!(prospects.len(), 1);
}

async fn failure_mid_transaction_changes_nothing(store: Arc<dyn LeadStore>) {
    let f = fixture(store).await;
    let id = f.lead("Half Written", LeadStatus::Qualified, Some("ana")).await;
    let before = get_lead(&*f.store, &f.tenant.id, &id).await.unwrap();
    let before_timeline = f
        .store
        .list_activities(&f.tenant.id, &id, None, 50)
        .await
        .unwrap()
        .items
        .len();
    // Injected failure: the deal's id is already taken, so its write fails after the lead
    // update and the prospect write were queued in the same transaction.
    let taken = "deal-id-already-taken";
    f.store
        .put_record(
            &f.tenant.id,
            kinds::DEAL,
            taken,
            &serde_json::json!({"placeholder": true}),
            leadgate_core::ports::store::Expect::Absent,
        )
        .await
        .unwrap();
    let mut next = before.clone();
    next.status = LeadStatus::Converted;
    let prospect = Prospect::from_lead("prospect-new".into(), &before, chrono::Utc::now());
    let records = vec![
        RecordWrite::new(
            kinds::PROSPECT,
            prospect.id.clone(),
            serde_json::to_value(&prospect).unwrap(),
        ),
        RecordWrite::new(kinds::DEAL, taken, serde_json::json!({"name": "x"})),
    ];
    let activity = Activity::new(
        f.tenant.id.clone(),
        id,
        chrono::Utc::now(),
        Actor::System,
        ActivityKind::Converted {
            prospect_id: prospect.id.clone(),
            deal_id: Some(taken.into()),
        },
    );
    let err = f
        .store
        .commit_lead_change(&next, &records, std::slice::from_ref(&activity))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let after = get_lead(&*f.store, &f.tenant.id, &id).await.unwrap();
    assert_eq!(after, before, "the lead is untouched");
    assert!(
        f.store
            .get_record(&f.tenant.id, kinds::PROSPECT, "prospect-new")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        f.store
            .list_activities(&f.tenant.id, &id, None, 50)
            .await
            .unwrap()
            .items
            .len(),
        before_timeline
    );
    // A stale version is refused the same way.
    let mut stale = before.clone();
    stale.version -= 1;
    let ok_records = &records[..1];
    assert!(matches!(
        f.store
            .commit_lead_change(&stale, ok_records, std::slice::from_ref(&activity))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(
        f.store
            .get_record(&f.tenant.id, kinds::PROSPECT, "prospect-new")
            .await
            .unwrap()
            .is_none()
    );
    // And the real conversion still works afterwards.
    assert!(matches!(
        f.convert(&id, &ConvertRequest::default()).await.unwrap(),
        ConvertOutcome::Converted(_)
    ));
}

async fn preconditions_name_what_is_missing(store: Arc<dyn LeadStore>) {
    let f = fixture(store).await;
    let new = f.lead("Too Early", LeadStatus::New, Some("ana")).await;
    match f.convert(&new, &ConvertRequest::default()).await {
        Err(ServiceError::NotConvertible(m)) => assert!(m.contains("qualified") && m.contains("new"), "{m}"),
        other => panic!("{other:?}"),
    }
    let unowned = f.lead("No Owner", LeadStatus::Qualified, None).await;
    match f.convert(&unowned, &ConvertRequest::default()).await {
        Err(ServiceError::Validation(e)) => assert_eq!(e.0[0].field, "owner"),
        other => panic!("{other:?}"),
    }
    let ok = f.lead("Bad Deal", LeadStatus::Qualified, Some("ana")).await;
    let bad = ConvertRequest {
        deal: Some(DealInput {
            stage: Some("nirvana".into()),
            expected_close_date: Some("31/03/2027".into()),
            ..Default::default()
        }),
        no_deal: false,
    };
    match f.convert(&ok, &bad).await {
        Err(ServiceError::Validation(e)) => {
            let fields: Vec<&str> = e.0.iter().map(|x| x.field.as_str()).collect();
            assert_eq!(fields, ["deal.expected_close_date", "deal.stage"]);
            assert!(e.0[1].message.contains("discovery, proposal"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        get_lead(&*f.store, &f.tenant.id, &ok).await.unwrap().status,
        LeadStatus::Qualified
    );
    let both = ConvertRequest {
        deal: Some(DealInput::default()),
        no_deal: true,
    };
    assert!(matches!(
        f.convert(&ok, &both).await,
        Err(ServiceError::Validation(_))
    ));
    let ConvertOutcome::Converted(r) = f
        .convert(
            &ok,
            &ConvertRequest {
                deal: None,
                no_deal: true,
            },
        )
        .await
        .unwrap()
    else {
        panic!("no-deal conversion converts");
    };
    assert!(r.deal.is_none());
}

async fn bulk_mixed_outcomes(store: Arc<dyn LeadStore>) {
    let f = fixture(store).await;
    let a = f.lead("Bulk A", LeadStatus::Qualified, Some("ana")).await;
    let b = f.lead("Bulk B", LeadStatus::Qualified, Some("ana")).await;
    let done = f.lead("Bulk Done", LeadStatus::Qualified, Some("ana")).await;
    f.convert(&done, &ConvertRequest::default()).await.unwrap();
    let early = f.lead("Bulk Early", LeadStatus::Contacted, Some("ana")).await;
    let unowned = f.lead("Bulk Unowned", LeadStatus::Qualified, None).await;
    // A list holding something that is not a lead id is refused whole, naming it.
    let refused = convert_many(
        &*f.store,
        &SystemClock,
        &f.tenant,
        &f.admin,
        &[a.to_string(), "not-an-id".to_string()],
        &ConvertRequest::default(),
        false,
    )
    .await;
    match refused {
        Err(ServiceError::Validation(e)) => assert_eq!(e.0[0].field, "lead_ids[1]"),
        other => panic!("expected a validation error, got {other:?}"),
    }
    assert_eq!(
        get_lead(&*f.store, &f.tenant.id, &a).await.unwrap().status,
        LeadStatus::Qualified,
        "a refused list converts nothing"
    );
    let ids: Vec<String> = [a, b, done, early, unowned]
        .iter()
        .map(|i| i.to_string())
        .chain([LeadId::new().to_string(), a.to_string()])
        .collect();
    let dry = convert_many(
        &*f.store,
        &SystemClock,
        &f.tenant,
        &f.admin,
        &ids,
        &ConvertRequest::default(),
        true,
    )
    .await
    .unwrap();
    assert_eq!(dry[0].outcome, BulkOutcome::WouldConvert);
    assert_eq!(
        get_lead(&*f.store, &f.tenant.id, &a).await.unwrap().status,
        LeadStatus::Qualified,
        "dry run writes nothing"
    );
    let res = convert_many(
        &*f.store,
        &SystemClock,
        &f.tenant,
        &f.admin,
        &ids,
        &ConvertRequest::default(),
        false,
    )
    .await
    .unwrap();
    let outcomes: Vec<BulkOutcome> = res.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            BulkOutcome::Converted,
            BulkOutcome::Converted,
            BulkOutcome::AlreadyConverted,
            BulkOutcome::Skipped,
            BulkOutcome::Skipped,
            BulkOutcome::Skipped,
        ],
        "{res:?}"
    );
    assert!(res[3].reason.as_deref().unwrap().contains("contacted"));
    assert_eq!(res[4].errors[0].field, "owner");
    assert!(res[0].deal_id.is_some() && res[0].prospect_id.is_some());
    for id in [a, b] {
        assert_eq!(
            get_lead(&*f.store, &f.tenant.id, &id).await.unwrap().status,
            LeadStatus::Converted
        );
    }
    assert_eq!(
        get_lead(&*f.store, &f.tenant.id, &early).await.unwrap().status,
        LeadStatus::Contacted
    );
    let too_many: Vec<String> = (0..101).map(|_| LeadId::new().to_string()).collect();
    assert!(matches!(
        convert_many(
            &*f.store,
            &SystemClock,
            &f.tenant,
            &f.admin,
            &too_many,
            &ConvertRequest::default(),
            false
        )
        .await,
        Err(ServiceError::Validation(_))
    ));
    let deals: Vec<Deal> = list_deals(&*f.store, &f.tenant, &f.admin, &stage("discovery"), None, 2)
        .await
        .unwrap()
        .items;
    assert_eq!(deals.len(), 2, "default stage is the first one; page of 2");
}

/// With `reps_see_own_leads_only`, a rep lists and reads only the prospects and deals
/// converted from leads they own; the others are not found (as their leads are not).
async fn reps_see_own_prospects_and_deals(store: Arc<dyn LeadStore>) {
    use leadgate_core::services::conversion::{get_deal, get_prospect, list_prospects};
    let mut f = fixture(store).await;
    reps::put_rep(
        &*f.store,
        &f.tenant.id,
        Rep {
            id: RepId::parse("ben").unwrap(),
            name: "Ben".into(),
            weight: 1,
            active: true,
            available: true,
        },
    )
    .await
    .unwrap();
    let mut converted = vec![];
    for (name, owner) in [("Ana Lead", "ana"), ("Ben Lead", "ben")] {
        let id = f.lead(name, LeadStatus::Qualified, Some(owner)).await;
        let ConvertOutcome::Converted(r) = f.convert(&id, &with_deal()).await.unwrap() else {
            panic!("converted");
        };
        converted.push(r);
    }
    let mut settings = f.tenant.settings.clone();
    settings.reps_see_own_leads_only = true;
    f.tenant = tenants::update_settings(&*f.store, &f.tenant.id, settings)
        .await
        .unwrap();
    let ana = Principal {
        tenant: f.tenant.id.clone(),
        user: "ana".into(),
        role: Role::Rep,
    };
    let prospects = list_prospects(&*f.store, &f.tenant, &ana, None, None, 50)
        .await
        .unwrap();
    assert_eq!(
        prospects
            .items
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["Ana Lead"]
    );
    let deals = list_deals(&*f.store, &f.tenant, &ana, &DealFilter::default(), None, 50)
        .await
        .unwrap();
    assert_eq!(deals.items.len(), 1);
    let bens = &converted[1];
    assert!(matches!(
        get_prospect(&*f.store, &f.tenant, &ana, &bens.prospect.id).await,
        Err(ServiceError::NotFound { .. })
    ));
    let ben_deal = bens.deal.as_ref().unwrap();
    assert!(matches!(
        get_deal(&*f.store, &f.tenant, &ana, &ben_deal.id).await,
        Err(ServiceError::NotFound { .. })
    ));
    assert!(
        get_deal(&*f.store, &f.tenant, &f.admin, &ben_deal.id)
            .await
            .is_ok()
    );
}

/// A deal is worked after conversion: fields change at their version, a stage move lands on
/// the lead's timeline in the same write, a stale version or a bad value changes nothing.
async fn deals_are_edited_at_their_version(store: Arc<dyn LeadStore>) {
    let f = fixture(store).await;
    let id = f.lead("Deal Maker", LeadStatus::Qualified, Some("ana")).await;
    let ConvertOutcome::Converted(r) = f.convert(&id, &with_deal()).await.unwrap() else {
        panic!("converts");
    };
    let deal = r.deal.unwrap();
    assert_eq!(deal.version, 1);
    let patch = |v: serde_json::Value| serde_json::from_value::<DealPatch>(v).unwrap();
    let lead_before = get_lead(&*f.store, &f.tenant.id, &id).await.unwrap();
    let moved = patch_deal(
        &*f.store,
        &SystemClock,
        &f.tenant,
        &f.admin,
        &deal.id,
        patch(serde_json::json!({"stage": "Negotiation", "value": {"amount": 20000, "currency": "EUR"}, "expected_close_date": null})),
        Some(1),
    )
    .await
    .unwrap();
    assert_eq!((moved.stage.as_str(), moved.version), ("negotiation", 2));
    assert_eq!(moved.value.as_ref().unwrap().amount, "20000.00");
    assert_eq!(moved.expected_close_date, None);
    let stored = get_deal(&*f.store, &f.tenant, &f.admin, &deal.id).await.unwrap();
    assert_eq!(stored, moved, "what is answered is what is stored");
    let lead = get_lead(&*f.store, &f.tenant.id, &id).await.unwrap();
    assert_eq!(lead.version, lead_before.version + 1);
    let timeline = f
        .store
        .list_activities(&f.tenant.id, &id, None, 10)
        .await
        .unwrap();
    assert_eq!(
        timeline.items[0].kind,
        ActivityKind::DealStageChanged {
            deal_id: deal.id.clone(),
            from: "proposal".into(),
            to: "negotiation".into()
        }
    );
    // A stale version, a bad stage: a 409 and a 422 naming it, nothing written.
    let stale = patch_deal(
        &*f.store,
        &SystemClock,
        &f.tenant,
        &f.admin,
        &deal.id,
        patch(serde_json::json!({"stage": "won"})),
        Some(1),
    )
    .await;
    assert!(matches!(stale, Err(ServiceError::VersionConflict)), "{stale:?}");
    let bad = patch_deal(
        &*f.store,
        &SystemClock,
        &f.tenant,
        &f.admin,
        &deal.id,
        patch(serde_json::json!({"stage": "lost-in-space", "owner": "nobody"})),
        Some(2),
    )
    .await;
    let Err(ServiceError::Validation(errs)) = bad else {
        panic!("{bad:?}");
    };
    let fields: Vec<&str> = errs.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["stage", "owner"]);
    assert_eq!(
        get_deal(&*f.store, &f.tenant, &f.admin, &deal.id)
            .await
            .unwrap()
            .version,
        2
    );
    // Without a stage move, only the deal changes.
    let renamed = patch_deal(
        &*f.store,
        &SystemClock,
        &f.tenant,
        &f.admin,
        &deal.id,
        patch(serde_json::json!({"name": "Pilot, phase 2", "version": 2})),
        None,
    )
    .await
    .unwrap();
    assert_eq!((renamed.name.as_str(), renamed.version), ("Pilot, phase 2", 3));
    assert_eq!(
        get_lead(&*f.store, &f.tenant.id, &id).await.unwrap().version,
        lead.version
    );
    // A rep limited to their own leads cannot reach another rep's deal.
    let mut scoped = f.tenant.clone();
    scoped.settings.reps_see_own_leads_only = true;
    let ben = Principal {
        tenant: f.tenant.id.clone(),
        user: "ben".into(),
        role: Role::Rep,
    };
    let hidden = patch_deal(
        &*f.store,
        &SystemClock,
        &scoped,
        &ben,
        &deal.id,
        patch(serde_json::json!({"name": "Mine"})),
        Some(3),
    )
    .await;
    // Given to ben, the deal leaves what ana hears back when she converts again.
    let ben_rep = Rep {
        id: RepId::parse("ben").unwrap(),
        name: "Ben".into(),
        weight: 1,
        active: true,
        available: true,
    };
    reps::put_rep(&*f.store, &f.tenant.id, ben_rep).await.unwrap();
    patch_deal(
        &*f.store,
        &SystemClock,
        &f.tenant,
        &f.admin,
        &deal.id,
        patch(serde_json::json!({"owner": "Ben"})),
        Some(3),
    )
    .await
    .unwrap();
    let ana = Principal {
        tenant: f.tenant.id.clone(),
        user: "ana".into(),
        role: Role::Rep,
    };
    let again = convert_lead(
        &*f.store,
        &SystemClock,
        &scoped,
        &ana,
        &id,
        &ConvertRequest::default(),
        false,
    )
    .await;
    let Ok(ConvertOutcome::AlreadyConverted(r)) = again else {
        panic!("{again:?}");
    };
    assert!(r.deal.is_none(), "ana no longer sees the deal: {r:?}");
    assert!(matches!(hidden, Err(ServiceError::NotFound { .. })), "{hidden:?}");
}

macro_rules! contract {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            macro_rules! case {
                ($name:ident, $case:ident) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $name() {
                        if let Some(store) = $make.await {
                            $case(store).await;
                        }
                    }
                };
            }

            case!(
                when_converted_should_link_and_return_first_result_again,
                converts_once_and_links
            );
            case!(
                when_converted_concurrently_should_make_one_deal,
                concurrent_double_convert
            );
            case!(
                when_transaction_fails_midway_should_change_nothing,
                failure_mid_transaction_changes_nothing
            );
            case!(
                when_preconditions_fail_should_name_what_is_missing,
                preconditions_name_what_is_missing
            );
            case!(
                when_converting_in_bulk_should_report_each_lead,
                bulk_mixed_outcomes
            );
            case!(
                when_a_deal_is_edited_should_check_its_version_and_put_stage_moves_on_the_timeline,
                deals_are_edited_at_their_version
            );
            case!(
                when_reps_see_only_their_own_leads_should_see_only_their_prospects_and_deals,
                reps_see_own_prospects_and_deals
            );
        }
    };
}

contract!(sqlite, async { common::sqlite_store() });
contract!(dynamodb, common::dynamo_store());
