//! The store contract: one suite of behaviours, run against SQLite and DynamoDB Local.
//! A behaviour only one adapter has is a bug, so every case runs on both.

use crate::common;
// Outbound webhooks' contract, in this binary rather than one of its own (each test binary
// links the AWS SDK again).
#[path = "rollups/contract.rs"]
mod rollups;
#[path = "webhooks/contract.rs"]
mod webhooks;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::faults::{Fault, Faults, FaultyStore, Stage, WRITES};
use futures::future::join_all;
use leadgate_core::domain::activity::{Activity, ActivityKind, Actor};
use leadgate_core::domain::api_key::KeyHash;
use leadgate_core::domain::capture::{Channel, LinkedinConfig, MetaConfig, Submission, SubmissionStatus};
use leadgate_core::domain::custom_field::CustomValue;
use leadgate_core::domain::duplicate::MatchKey;
use leadgate_core::domain::lead::{ExternalRef, Lead, NewLead, Provenance, Tag};
use leadgate_core::domain::query::{
    DateRange, LeadCount, LeadQuery, OwnerFilter, SortField, SortOrder, TagMode,
};
use leadgate_core::domain::rep::Rep;
use leadgate_core::domain::settings::CaptureForm;
use leadgate_core::domain::tenant::Tenant;
use leadgate_core::domain::{Email, LeadId, LeadStatus, Phone, Region, RepId, Role, SourceId, TenantId};
use leadgate_core::ports::clock::SystemClock;
use leadgate_core::ports::fetch::{FetchError, LeadFetcher, PlatformLead};
use leadgate_core::ports::store::{
    CreateGuards, CreateOutcome, Expect, IdempotencyKey, LeadStore, RecordWrite, StoreError, kinds,
};
use leadgate_core::secret::Secret;
use leadgate_core::services::capture;
use leadgate_core::services::{ServiceError, api_keys, reps, settings, sources, tenants};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn new_lead(tenant: &TenantId, name: &str, email: Option<&str>, at: DateTime<Utc>) -> Lead {
    let n = NewLead {
        name: name.into(),
        email: email.map(|e| Email::parse(e).unwrap()),
        phone: None,
        mobile: None,
        company: Some(format!("{name} Corp")),
        position: None,
        website: None,
        company_number: None,
        tax_id: None,
        address: Default::default(),
        source: SourceId::parse("website-form").unwrap(),
        status: LeadStatus::New,
        unqualified_reason: None,
        owner: None,
        tags: BTreeSet::new(),
        custom: BTreeMap::new(),
        provenance: Provenance::default(),
        data_warnings: vec![],
        created_at: None,
        last_activity_at: None,
    };
    Lead::from_new(tenant.clone(), LeadId::new(), n, at)
}

async fn create(store: &dyn LeadStore, lead: &Lead) -> Lead {
    match store
        .create_lead(lead, &CreateGuards::default(), &[], &[])
        .await
        .unwrap()
    {
        CreateOutcome::Created(l) => *l,
        other => panic!("expected Created, got {other:?}"),
    }
}

fn note(lead: &Lead, at: DateTime<Utc>, body: &str) -> Activity {
    Activity::new(
        lead.tenant.clone(),
        lead.id,
        at,
        Actor::System,
        ActivityKind::Note { body: body.into() },
    )
}

// --- cases -------------------------------------------------------------------------------

async fn tenant_isolation(store: Arc<dyn LeadStore>) {
    let (a, b) = (common::tenant("a"), common::tenant("b"));
    let lead = create(&*store, &new_lead(&a, "Jane", Some("jane@example.com"), t0())).await;
    store.append_activity(&note(&lead, t0(), "hi")).await.unwrap();
    store
        .put_record(
            &a,
            kinds::SOURCE,
            "x",
            &serde_json::json!({"v": 1}),
            Expect::Absent,
        )
        .await
        .unwrap();
    let (key_rec, _) = api_keys::create_api_key(
        &*store,
        api_keys::NewKey {
            tenant: &a,
            user: "admin",
            role: Role::Admin,
            name: "k",
        },
        None,
        t0(),
    )
    .await
    .unwrap();

    // Every read from tenant B sees nothing of A.
    assert!(store.get_lead(&b, &lead.id).await.unwrap().is_none());
    assert!(
        store
            .list_leads(&b, &LeadQuery::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let email = MatchKey::Email(Email::parse("jane@example.com").unwrap());
    assert!(store.find_leads_by_contact(&b, &email).await.unwrap().is_empty());
    assert!(
        store
            .list_activities(&b, &lead.id, None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(store.get_record(&b, kinds::SOURCE, "x").await.unwrap().is_none());
    assert!(
        store
            .list_records(&b, kinds::SOURCE, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.list_api_keys(&b).await.unwrap().is_empty());
    // Every write from tenant B to A's ids fails as not found and changes nothing.
    let mut forged = lead.clone();
    forged.tenant = b.clone();
    forged.name = "Mallory".into();
    assert!(matches!(
        store.update_lead(&forged).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_lead(&b, &lead.id, None).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.append_activity(&note(&forged, t0(), "x")).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_record(&b, kinds::SOURCE, "x", Expect::Any).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.revoke_api_key(&b, &key_rec.id, t0()).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.increment_counter(&b, "c", 1).await.unwrap(), 1);
    assert_eq!(store.increment_counter(&a, "c", 1).await.unwrap(), 1);
    assert_eq!(
        store.increment_counter(&a, "c", 5).await.unwrap(),
        6,
        "adding 5 reserves 2..=6"
    );
    // And A still has all of it, unchanged.
    let back = store.get_lead(&a, &lead.id).await.unwrap().unwrap();
    assert_eq!(back.name, "Jane");
    assert_eq!(
        store.find_leads_by_contact(&a, &email).await.unwrap(),
        vec![lead.id]
    );
    assert_eq!(
        store
            .list_activities(&a, &lead.id, None, 10)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert!(
        store
            .find_api_key(&key_rec.hash)
            .await
            .unwrap()
            .unwrap()
            .is_active()
    );
}

async fn version_conflict(store: Arc<dyn LeadStore>) {
    let t = common::tenant("v");
    let lead = create(&*store, &new_lead(&t, "Jane", Some("j@example.com"), t0())).await;
    let mut first = lead.clone();
    first.status = LeadStatus::Contacted;
    let saved = store.update_lead(&first).await.unwrap();
    assert_eq!(saved.version, lead.version + 1);
    // A second writer still holding the old version loses.
    let mut stale = lead.clone();
    stale.name = "Stale".into();
    match store.update_lead(&stale).await {
        Err(StoreError::Conflict { expected, found }) => {
            assert_eq!(expected, Some(lead.version));
            assert_eq!(found, Some(saved.version));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(matches!(
        store.delete_lead(&t, &lead.id, Some(lead.version)).await,
        Err(StoreError::Conflict { .. })
    ));
    let now = store.get_lead(&t, &lead.id).await.unwrap().unwrap();
    assert_eq!(
        (now.name.as_str(), now.status, now.version),
        ("Jane", LeadStatus::Contacted, saved.version)
    );
    // A create under an id the tenant's lead has (a caller's chosen id) is refused whole: no
    // second lead, no outbox entry; the same id in another tenant is that tenant's own.
    let mut twin = new_lead(&t, "Twin", Some("twin@example.com"), t0());
    twin.id = lead.id;
    let outbox_before = store
        .list_records(&t, kinds::OUTBOX, None, 100)
        .await
        .unwrap()
        .len();
    match store.create_lead(&twin, &CreateGuards::default(), &[], &[]).await {
        Err(StoreError::Conflict { expected: None, .. }) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.get_lead(&t, &lead.id).await.unwrap().unwrap().name, "Jane");
    assert_eq!(
        store
            .list_records(&t, kinds::OUTBOX, None, 100)
            .await
            .unwrap()
            .len(),
        outbox_before
    );
    let elsewhere = common::tenant("v2");
    let mut theirs = new_lead(&elsewhere, "Theirs", None, t0());
    theirs.id = lead.id;
    create(&*store, &theirs).await;
    store
        .delete_lead(&t, &lead.id, Some(saved.version))
        .await
        .unwrap();
    assert!(store.get_lead(&t, &lead.id).await.unwrap().is_none());
    // A deleted lead's id is not given again, even when a caller chooses it: no id names two
    // leads over time (a webhook receiver, a deal or a bookmark would meet the wrong one).
    let (tenant, _) = tenants::ensure_tenant(&*store, &t, "V", t0()).await.unwrap();
    let again = leadgate_core::services::leads::create_lead(
        &*store,
        &SystemClock,
        &tenant,
        leadgate_core::services::leads::CreateLead::new(
            serde_json::from_value(serde_json::json!({
                "id": lead.id.to_string(), "name": "Again", "email": "again@example.com",
                "source": "website-form"
            }))
            .unwrap(),
            Actor::System,
            leadgate_core::services::leads::DuplicatePolicy::Reject,
        ),
    )
    .await;
    assert!(matches!(again, Err(ServiceError::AlreadyExists(_))), "{again:?}");
    assert!(store.get_lead(&t, &lead.id).await.unwrap().is_none());
    assert!(matches!(
        store.update_lead(&saved).await,
        Err(StoreError::NotFound)
    ));
}

async fn concurrent_external_id(store: Arc<dyn LeadStore>) {
    let t = common::tenant("x");
    let ext = ExternalRef {
        provider: "meta".into(),
        id: "leadgen-123".into(),
    };
    let attempts = (0..20).map(|i| {
        let store = store.clone();
        let mut lead = new_lead(&t, &format!("Lead {i}"), None, t0());
        lead.provenance.external = Some(ext.clone());
        let guards = CreateGuards {
            external: Some(ext.clone()),
            ..Default::default()
        };
        tokio::spawn(async move { store.create_lead(&lead, &guards, &[], &[]).await.unwrap() })
    });
    let outcomes: Vec<CreateOutcome> = join_all(attempts).await.into_iter().map(|r| r.unwrap()).collect();
    let created: Vec<&Lead> = outcomes
        .iter()
        .filter_map(|o| match o {
            CreateOutcome::Created(l) => Some(&**l),
            _ => None,
        })
        .collect();
    assert_eq!(created.len(), 1, "exactly one create wins: {outcomes:?}");
    let winner = created[0].id;
    for o in &outcomes {
        match o {
            CreateOutcome::Created(_) => {}
            CreateOutcome::ExternalIdTaken(id) => assert_eq!(*id, winner),
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    let all = store
        .list_leads(
            &t,
            &LeadQuery {
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1);
    // The same external id in another tenant is a different lead.
    let other = common::tenant("x2");
    let guards = CreateGuards {
        external: Some(ext),
        ..Default::default()
    };
    assert!(matches!(
        store
            .create_lead(&new_lead(&other, "Other", None, t0()), &guards, &[], &[])
            .await
            .unwrap(),
        CreateOutcome::Created(_)
    ));
}

async fn idempotency_and_duplicates(store: Arc<dyn LeadStore>) {
    let t = common::tenant("i");
    let guards = CreateGuards {
        idempotency_key: Some(IdempotencyKey {
            key: "req-1".into(),
            fingerprint: Some("digest-1".into()),
        }),
        reject_duplicates: true,
        ..Default::default()
    };
    let mut first = new_lead(&t, "Jane", Some("jane@example.com"), t0());
    first.phone = Some(Phone::parse("+14155550132", Region::default()).unwrap());
    let CreateOutcome::Created(created) = store.create_lead(&first, &guards, &[], &[]).await.unwrap() else {
        panic!("first create should succeed");
    };
    let again = new_lead(&t, "Jane again", Some("other@example.com"), t0());
    // The key answers with its first lead and the fingerprint stored with it, whatever the
    // second request's own fingerprint (the service compares them).
    let other_request = CreateGuards {
        idempotency_key: Some(IdempotencyKey {
            key: "req-1".into(),
            fingerprint: Some("digest-2".into()),
        }),
        ..guards.clone()
    };
    assert_eq!(
        store.create_lead(&again, &other_request, &[], &[]).await.unwrap(),
        CreateOutcome::IdempotencyKeyTaken(created.id, Some("digest-1".into()))
    );
    // A replay of the very same lead is "already processed", not a duplicate of itself.
    let replay = new_lead(&t, "Jane", Some("jane@example.com"), t0());
    assert_eq!(
        store.create_lead(&replay, &guards, &[], &[]).await.unwrap(),
        CreateOutcome::IdempotencyKeyTaken(created.id, Some("digest-1".into()))
    );
    let dup_guards = CreateGuards {
        reject_duplicates: true,
        ..Default::default()
    };
    match store
        .create_lead(
            &new_lead(&t, "J", Some("jane@example.com"), t0()),
            &dup_guards,
            &[],
            &[],
        )
        .await
        .unwrap()
    {
        CreateOutcome::Duplicate(m) => {
            assert_eq!(m.lead_id, created.id);
            assert!(matches!(m.key, MatchKey::Email(_)));
        }
        other => panic!("expected a duplicate, got {other:?}"),
    }
    let mut by_phone = new_lead(&t, "J", Some("new@example.com"), t0());
    by_phone.mobile = Some(Phone::parse("+1 415 555 0132", Region::default()).unwrap());
    match store.create_lead(&by_phone, &dup_guards, &[], &[]).await.unwrap() {
        CreateOutcome::Duplicate(m) => {
            assert!(matches!(m.key, MatchKey::Phone(_)) && m.lead_id == created.id)
        }
        other => panic!("expected a phone duplicate, got {other:?}"),
    }
    // Without the reject flag, the duplicate is allowed and both match.
    let second = create(&*store, &new_lead(&t, "Jane 2", Some("jane@example.com"), t0())).await;
    let mut ids = store
        .find_leads_by_contact(&t, &MatchKey::Email(Email::parse("JANE@example.com").unwrap()))
        .await
        .unwrap();
    ids.sort();
    let mut want = vec![created.id, second.id];
    want.sort();
    assert_eq!(ids, want);
}

async fn activities_move_last_activity(store: Arc<dyn LeadStore>) {
    let t = common::tenant("act");
    let lead = create(&*store, &new_lead(&t, "Jane", Some("j@example.com"), t0())).await;
    for i in 0..7 {
        store
            .append_activity(&note(&lead, t0() + Duration::minutes(i + 1), &format!("n{i}")))
            .await
            .unwrap();
    }
    // An older activity arriving late does not move last_activity_at backwards.
    store
        .append_activity(&note(&lead, t0() + Duration::seconds(1), "late"))
        .await
        .unwrap();
    let after = store.get_lead(&t, &lead.id).await.unwrap().unwrap();
    assert_eq!(after.last_activity_at, t0() + Duration::minutes(7));
    assert_eq!(after.version, lead.version + 8);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .list_activities(&t, &lead.id, cursor.as_deref(), 3)
            .await
            .unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|a| a.at));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    assert!(seen.windows(2).all(|w| w[0] >= w[1]), "newest first: {seen:?}");
    assert!(matches!(
        store
            .append_activity(&note(&new_lead(&t, "ghost", None, t0()), t0(), "x"))
            .await,
        Err(StoreError::NotFound)
    ));
    store.delete_lead(&t, &lead.id, None).await.unwrap();
    assert!(
        store
            .list_activities(&t, &lead.id, None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn pagination_sees_every_lead_once(store: Arc<dyn LeadStore>) {
    let t = common::tenant("page");
    // 1,050 leads; several share a created time so ties break by id, and many share a name,
    // a company, a status, an owner or a source (or have none), so ties break by age.
    let names = ["Émile", "emile", "Ana", "ana b", "Zoë", "Ben"];
    let leads: Vec<Lead> = (0..1050)
        .map(|i| {
            let name = names[(i as usize * 7) % names.len()];
            let mut l = new_lead(&t, name, None, t0() + Duration::seconds(i / 3));
            l.last_activity_at = t0() + Duration::seconds((i * 7919) % 1050);
            l.company = [None, Some("Acme"), Some("ÁCME"), Some("Zeta")][i as usize % 4].map(str::to_owned);
            l.status = LeadStatus::ALL[(i as usize / 5) % 5];
            l.owner = ["ana", "ben"]
                .get(i as usize % 3)
                .map(|o| RepId::parse(o).unwrap());
            l.source = SourceId::parse(["web", "referral", "ads"][(i as usize / 2) % 3]).unwrap();
            l
        })
        .collect();
    for chunk in leads.chunks(200) {
        store.put_leads_batch(chunk, &[]).await.unwrap();
    }
    let every_sort = SortField::ALL
        .into_iter()
        .flat_map(|f| [(f, SortOrder::Asc), (f, SortOrder::Desc)]);
    for (sort, order) in every_sort {
        let mut q = LeadQuery {
            sort,
            order,
            limit: 37,
            ..Default::default()
        };
        let mut seen: Vec<Lead> = Vec::new();
        let mut pages = 0;
        loop {
            let page = store.list_leads(&t, &q).await.unwrap();
            pages += 1;
            assert!(page.items.len() <= 37);
            seen.extend(page.items);
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
            assert!(pages < 100, "pagination does not end");
        }
        let ids: HashSet<LeadId> = seen.iter().map(|l| l.id).collect();
        assert_eq!(seen.len(), 1050, "{sort:?} {order:?}: every lead once");
        assert_eq!(ids.len(), 1050, "{sort:?} {order:?}: no repeats");
        let positions: Vec<String> = seen.iter().map(|l| q.position_of(l)).collect();
        let mut sorted = positions.clone();
        sorted.sort();
        if order == SortOrder::Desc {
            sorted.reverse();
        }
        assert_eq!(positions, sorted, "{sort:?} {order:?}: in order");
        assert_eq!(pages, 1050usize.div_ceil(37));
        // What a reader sees, stated without positions.
        let rank = |l: &Lead| LeadStatus::ALL.iter().position(|s| *s == l.status);
        match (sort, order) {
            (SortField::Name, SortOrder::Asc) => {
                // Case and accents ignored: Émile and emile file together.
                let names: Vec<&str> = seen.iter().map(|l| l.name.as_str()).collect();
                assert!(names[..175].iter().all(|n| *n == "Ana"));
                assert!(names[175..350].iter().all(|n| *n == "ana b"));
                assert!(names[350..525].iter().all(|n| *n == "Ben"));
                assert!(names[525..875].iter().all(|n| *n == "Émile" || *n == "emile"));
                assert!(names[875..].iter().all(|n| *n == "Zoë"));
            }
            (SortField::Company, SortOrder::Asc) => {
                assert!(seen[..787].iter().all(|l| l.company.is_some()));
                assert!(seen[787..].iter().all(|l| l.company.is_none()));
            }
            (SortField::Status, SortOrder::Desc) => {
                assert!(seen.windows(2).all(|w| rank(&w[0]) >= rank(&w[1])));
                assert_eq!(seen[0].status, LeadStatus::Converted);
            }
            (SortField::Owner, SortOrder::Asc) => {
                assert_eq!(seen[0].owner.as_ref().map(|o| o.as_str()), Some("ana"));
                assert!(seen[700..].iter().all(|l| l.owner.is_none()));
            }
            _ => {}
        }
    }
}

async fn combined_filters(store: Arc<dyn LeadStore>) {
    let t = common::tenant("filter");
    let (ana, bob) = (RepId::parse("ana").unwrap(), RepId::parse("bob").unwrap());
    let statuses = [LeadStatus::New, LeadStatus::Contacted, LeadStatus::Qualified];
    let mut all = Vec::new();
    for i in 0..120i64 {
        let mut l = new_lead(
            &t,
            &format!("{} {i}", ["Alice", "Bruno", "Carla"][i as usize % 3]),
            Some(&format!("p{i}@example.com")),
            t0() + Duration::hours(i),
        );
        l.status = statuses[(i % 3) as usize];
        l.owner = match i % 4 {
            0 => Some(ana.clone()),
            1 => Some(bob.clone()),
            _ => None,
        };
        if i % 5 == 0 {
            l.source = SourceId::parse("referral").unwrap();
        }
        if i % 2 == 0 {
            l.tags.insert(Tag::parse("vip").unwrap());
        }
        if i % 3 == 0 {
            l.tags.insert(Tag::parse("expo").unwrap());
        }
        l.custom.insert(
            "tier".into(),
            CustomValue::Text(if i % 6 < 3 { "gold" } else { "silver" }.into()),
        );
        l.custom
            .insert("budget".into(), CustomValue::Number((i % 4) as f64 * 1000.0));
        l.custom.insert("vip_flag".into(), CustomValue::Bool(i % 7 == 0));
        l.last_activity_at = t0() + Duration::hours(200 - i);
        if i % 4 == 1 || i % 9 == 0 {
            l.first_response_at = Some(l.created_at + Duration::minutes(30));
            l.response_time_seconds = Some(1800);
        }
        all.push(create(&*store, &l).await);
    }
    let range = DateRange {
        from: Some(t0() + Duration::hours(10)),
        to: Some(t0() + Duration::hours(100)),
    };
    let queries = vec![
        LeadQuery {
            status: vec![LeadStatus::New],
            owner: vec![OwnerFilter::Rep(ana.clone())],
            created: range,
            tags: vec![Tag::parse("vip").unwrap()],
            custom: vec![("tier".into(), CustomValue::Text("gold".into()))],
            ..Default::default()
        },
        LeadQuery {
            owner: vec![OwnerFilter::Unassigned],
            tags: vec![Tag::parse("expo").unwrap()],
            ..Default::default()
        },
        LeadQuery {
            source: vec![SourceId::parse("referral").unwrap()],
            order: SortOrder::Asc,
            ..Default::default()
        },
        LeadQuery {
            sort: SortField::LastActivity,
            status: vec![LeadStatus::Qualified],
            last_activity: DateRange {
                from: Some(t0() + Duration::hours(120)),
                to: None,
            },
            custom: vec![("budget".into(), CustomValue::Number(2000.0))],
            ..Default::default()
        },
        LeadQuery {
            custom: vec![("vip_flag".into(), CustomValue::Bool(true))],
            created: range,
            ..Default::default()
        },
        LeadQuery {
            text_prefix: Some("carla 1".into()),
            ..Default::default()
        },
        LeadQuery {
            text_prefix: Some("p11@".into()),
            ..Default::default()
        },
        LeadQuery {
            text_prefix: Some("bruno 4".into()),
            owner: vec![OwnerFilter::Rep(bob.clone())],
            ..Default::default()
        },
        LeadQuery {
            status: vec![LeadStatus::Converted],
            ..Default::default()
        },
        // Several values: any of them, on whichever index the rest of the query picks.
        LeadQuery {
            status: vec![LeadStatus::New, LeadStatus::Qualified],
            owner: vec![OwnerFilter::Rep(bob.clone()), OwnerFilter::Unassigned],
            ..Default::default()
        },
        LeadQuery {
            owner: vec![OwnerFilter::Rep(ana.clone()), OwnerFilter::Rep(bob.clone())],
            source: vec![
                SourceId::parse("referral").unwrap(),
                SourceId::parse("website-form").unwrap(),
            ],
            order: SortOrder::Asc,
            ..Default::default()
        },
        LeadQuery {
            tags: vec![Tag::parse("vip").unwrap(), Tag::parse("expo").unwrap()],
            tag_mode: TagMode::Any,
            status: vec![LeadStatus::Contacted],
            ..Default::default()
        },
        LeadQuery {
            sort: SortField::LastActivity,
            owner: vec![OwnerFilter::Unassigned, OwnerFilter::Rep(ana.clone())],
            tags: vec![Tag::parse("vip").unwrap(), Tag::parse("expo").unwrap()],
            ..Default::default()
        },
        // Overdue as `overdue=true` reads it: new, never answered, created before a cutoff.
        LeadQuery {
            status: vec![LeadStatus::New],
            awaiting_response: true,
            created: DateRange {
                from: None,
                to: Some(t0() + Duration::hours(90)),
            },
            order: SortOrder::Asc,
            ..Default::default()
        },
        LeadQuery {
            sort: SortField::LastActivity,
            awaiting_response: true,
            owner: vec![OwnerFilter::Rep(ana.clone()), OwnerFilter::Unassigned],
            ..Default::default()
        },
    ];
    // Each query again under a value sort (name, company, status, owner, source in turn),
    // the other way round: every filter and range beside an index read in value order.
    let value_sorted: Vec<LeadQuery> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| LeadQuery {
            sort: SortField::BY_VALUE[i % SortField::BY_VALUE.len()],
            order: match q.order {
                SortOrder::Asc => SortOrder::Desc,
                SortOrder::Desc => SortOrder::Asc,
            },
            ..q.clone()
        })
        .collect();
    for (qi, base) in queries.into_iter().chain(value_sorted).enumerate() {
        let mut want: Vec<&Lead> = all.iter().filter(|l| base.matches(l)).collect();
        want.sort_by_key(|l| base.position_of(l));
        if base.order == SortOrder::Desc {
            want.reverse();
        }
        let mut got = Vec::new();
        let mut q = LeadQuery {
            limit: 4,
            ..base.clone()
        };
        loop {
            let page = store.list_leads(&t, &q).await.unwrap();
            got.extend(page.items);
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        let want_ids: Vec<LeadId> = want.iter().map(|l| l.id).collect();
        let got_ids: Vec<LeadId> = got.iter().map(|l| l.id).collect();
        assert_eq!(got_ids, want_ids, "query #{qi} {base:?}");
        // A count of the same filters: exact within the bound, whatever the cursor.
        let count = store.count_leads(&t, &q, 10_000).await.unwrap();
        assert_eq!(
            count,
            LeadCount {
                count: want_ids.len() as u64,
                exact: true
            },
            "count #{qi} {base:?}"
        );
        // Past a tiny bound a store may estimate, and must say so.
        let small = store.count_leads(&t, &base, 12).await.unwrap();
        if small.exact {
            assert_eq!(small.count, want_ids.len() as u64, "count #{qi} claims exact");
        }
        if [0, 1, 5, 9, 10, 11, 12].contains(&qi) {
            assert!(
                !want_ids.is_empty(),
                "query #{qi} should exercise a non-empty result"
            );
        }
    }
}

/// Counting past the bound: an estimate that says it is one, near the truth when leads
/// arrive evenly (here one an hour).
async fn count_estimates_past_the_bound(store: Arc<dyn LeadStore>) {
    let t = common::tenant("count");
    for i in 0..200i64 {
        let at = t0() + Duration::hours(i);
        create(
            &*store,
            &new_lead(&t, &format!("C {i}"), Some(&format!("c{i}@example.com")), at),
        )
        .await;
    }
    let all = store
        .count_leads(&t, &LeadQuery::default(), 10_000)
        .await
        .unwrap();
    assert_eq!(
        all,
        LeadCount {
            count: 200,
            exact: true
        }
    );
    let est = store.count_leads(&t, &LeadQuery::default(), 80).await.unwrap();
    if !est.exact {
        assert!((120..=280).contains(&est.count), "estimate {est:?} for 200");
    } else {
        assert_eq!(est.count, 200);
    }
}

async fn sources_rename_and_delete(store: Arc<dyn LeadStore>) {
    let t = common::tenant("src");
    let (tenant, created) = tenants::ensure_tenant(&*store, &t, "Acme", t0()).await.unwrap();
    assert!(created);
    assert!(!tenants::ensure_tenant(&*store, &t, "Acme", t0()).await.unwrap().1);
    assert_eq!(tenant.id, t);
    let list = sources::list_sources(&*store, &t).await.unwrap();
    assert_eq!(list.len(), 7);
    let referral = SourceId::parse("referral").unwrap();
    let mut lead = new_lead(&t, "Jane", Some("j@example.com"), t0());
    lead.source = referral.clone();
    let lead = create(&*store, &lead).await;

    sources::rename_source(&*store, &t, &referral, "Friend referral")
        .await
        .unwrap();
    let stored = store.get_lead(&t, &lead.id).await.unwrap().unwrap();
    assert_eq!(stored.source, referral);
    assert_eq!(stored.version, lead.version, "a rename does not rewrite leads");
    let names: BTreeMap<SourceId, String> = sources::list_sources(&*store, &t)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    assert_eq!(names[&stored.source], "Friend referral");

    match sources::delete_source(&*store, &t, &referral).await {
        Err(ServiceError::InUse(msg)) => assert!(msg.contains("retire")),
        other => panic!("deleting a used source must be refused, got {other:?}"),
    }
    let partner = SourceId::parse("partner").unwrap();
    sources::delete_source(&*store, &t, &partner).await.unwrap();
    let left = sources::list_sources(&*store, &t).await.unwrap();
    assert_eq!(left.len(), 6);
    assert!(left.iter().all(|s| s.id != partner));
    assert!(matches!(
        sources::delete_source(&*store, &t, &partner).await,
        Err(ServiceError::NotFound { .. })
    ));
    assert!(matches!(
        sources::add_source(
            &*store,
            &t,
            SourceId::parse("webinar").unwrap(),
            "friend REFERRAL"
        )
        .await,
        Err(ServiceError::AlreadyExists(_))
    ));
    sources::add_source(&*store, &t, SourceId::parse("webinar").unwrap(), "Webinar")
        .await
        .unwrap();
    let retired = sources::set_source_retired(&*store, &t, &referral, true)
        .await
        .unwrap();
    assert!(retired.retired);
}

async fn round_robin_under_concurrency(store: Arc<dyn LeadStore>) {
    let t = common::tenant("rr");
    for (id, weight, active) in [("ana", 2, true), ("bob", 1, true), ("cy", 5, false)] {
        reps::put_rep(
            &*store,
            &t,
            Rep {
                id: RepId::parse(id).unwrap(),
                name: id.into(),
                weight,
                active,
                available: true,
            },
        )
        .await
        .unwrap();
    }
    let picks = join_all((0..30).map(|_| {
        let store = store.clone();
        let t = t.clone();
        tokio::spawn(async move {
            let all = reps::list_reps(&*store, &t).await.unwrap();
            reps::reserve_round_robin(&*store, &t, &all, 1)
                .await
                .unwrap()
                .pop()
        })
    }))
    .await;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for p in picks {
        *counts
            .entry(p.unwrap().expect("a rep is eligible").to_string())
            .or_default() += 1;
    }
    assert_eq!(
        counts,
        BTreeMap::from([("ana".to_string(), 20), ("bob".to_string(), 10)])
    );
    assert_eq!(
        store
            .increment_counter(&t, leadgate_core::domain::rep::ASSIGNMENT_COUNTER, 1)
            .await
            .unwrap(),
        31
    );
}

/// New leads without an owner take the rotation's slots in their own writes: concurrent
/// creates, beside increments of the same counter, still follow the weights exactly, each lead is born assigned at version 1, and a
/// create that stores nothing (a replay, a duplicate) takes no slot.
async fn creates_take_slots_in_their_writes(store: Arc<dyn LeadStore>) {
    use leadgate_core::services::leads::{CreateLead, CreateResult, DuplicatePolicy, create_lead};
    let t = TenantId::parse(&common::unique("rrw")).unwrap();
    let (tenant, _) = tenants::ensure_tenant(&*store, &t, "Acme", t0()).await.unwrap();
    for (id, weight, active) in [("ana", 2, true), ("bob", 1, true), ("cy", 5, false)] {
        let rep = Rep {
            id: RepId::parse(id).unwrap(),
            name: id.into(),
            weight,
            active,
            available: true,
        };
        reps::put_rep(&*store, &t, rep).await.unwrap();
    }
    let request = |i: usize| CreateLead {
        idempotency_key: Some(IdempotencyKey {
            key: format!("rr-{i}"),
            fingerprint: None,
        }),
        quality: Default::default(),
        ..CreateLead::new(
            serde_json::from_value(serde_json::json!({
                "name": format!("Lead {i}"), "email": format!("rr{i}@example.com"),
                "source": "website-form"
            }))
            .unwrap(),
            Actor::System,
            DuplicatePolicy::Reject,
        )
    };
    // Imports and bulk edits take slots with increments of their own meanwhile, on the same
    // counter the creates' writes hold.
    let all_reps = reps::list_reps(&*store, &t).await.unwrap();
    let reserved = join_all((0..15).map(|_| {
        let (store, t, all_reps) = (store.clone(), t.clone(), all_reps.clone());
        tokio::spawn(async move { reps::reserve_round_robin(&*store, &t, &all_reps, 1).await })
    }));
    let created = join_all((0..30).map(|i| {
        let (store, tenant, req) = (store.clone(), tenant.clone(), request(i));
        tokio::spawn(async move { create_lead(&*store, &SystemClock, &tenant, req).await })
    }));
    let (reserved, created) = futures::join!(reserved, created);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for picked in reserved {
        let picked = picked.unwrap().unwrap();
        assert_eq!(picked.len(), 1);
        *counts.entry(picked[0].to_string()).or_default() += 1;
    }
    for outcome in created {
        let Ok(CreateResult::Created(lead)) = outcome.unwrap() else {
            panic!("each create stores its lead");
        };
        let owner = lead.owner.clone().expect("a rep is in the rotation");
        assert_eq!(lead.version, 1);
        let stored = store.get_lead(&t, &lead.id).await.unwrap().unwrap();
        assert_eq!(stored.owner.as_ref(), Some(&owner));
        let timeline = store.list_activities(&t, &lead.id, None, 10).await.unwrap().items;
        let kinds: Vec<&ActivityKind> = timeline.iter().map(|a| &a.kind).collect();
        assert_eq!(
            kinds,
            [&ActivityKind::Assigned {
                from: None,
                to: Some(owner.clone()),
                reason: "round_robin".into()
            }]
        );
        *counts.entry(owner.to_string()).or_default() += 1;
    }
    assert_eq!(
        counts,
        BTreeMap::from([("ana".to_string(), 30), ("bob".to_string(), 15)])
    );
    // A replay of a key and a duplicate store nothing, and take no slot.
    let replay = create_lead(&*store, &SystemClock, &tenant, request(3)).await;
    assert!(
        matches!(replay, Ok(CreateResult::AlreadyProcessed(_))),
        "{replay:?}"
    );
    let mut duplicate = request(4);
    duplicate.idempotency_key = None;
    let duplicate = create_lead(&*store, &SystemClock, &tenant, duplicate).await;
    assert!(
        matches!(duplicate, Ok(CreateResult::Duplicate(_))),
        "{duplicate:?}"
    );
    assert_eq!(
        store
            .increment_counter(&t, leadgate_core::domain::rep::ASSIGNMENT_COUNTER, 1)
            .await
            .unwrap(),
        46,
        "45 slots taken: the thirty leads' and the fifteen reserved"
    );
}

async fn records_and_keys(store: Arc<dyn LeadStore>) {
    let t = common::tenant("rec");
    let body = serde_json::json!({"name": "Gold"});
    assert_eq!(
        store
            .put_record(&t, kinds::STAGE, "s1", &body, Expect::Absent)
            .await
            .unwrap(),
        1
    );
    assert!(matches!(
        store
            .put_record(&t, kinds::STAGE, "s1", &body, Expect::Absent)
            .await,
        Err(StoreError::Conflict {
            expected: None,
            found: Some(1)
        })
    ));
    assert_eq!(
        store
            .put_record(&t, kinds::STAGE, "s1", &body, Expect::Version(1))
            .await
            .unwrap(),
        2
    );
    assert!(matches!(
        store
            .put_record(&t, kinds::STAGE, "s1", &body, Expect::Version(1))
            .await,
        Err(StoreError::Conflict {
            expected: Some(1),
            found: Some(2)
        })
    ));
    assert!(matches!(
        store
            .put_record(&t, kinds::STAGE, "nope", &body, Expect::Version(1))
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store
            .put_record(&t, kinds::STAGE, "s1", &body, Expect::Any)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .put_record(&t, kinds::STAGE, "s0", &body, Expect::Any)
            .await
            .unwrap(),
        1
    );
    for i in 2..7 {
        store
            .put_record(&t, kinds::STAGE, &format!("s{i}"), &body, Expect::Absent)
            .await
            .unwrap();
    }
    let first = store.list_records(&t, kinds::STAGE, None, 3).await.unwrap();
    assert_eq!(
        first.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["s0", "s1", "s2"]
    );
    let rest = store
        .list_records(&t, kinds::STAGE, Some("s2"), 10)
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["s3", "s4", "s5", "s6"]
    );
    assert!(
        store
            .list_records(&t, kinds::FORM, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        store
            .delete_record(&t, kinds::STAGE, "s1", Expect::Version(1))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    store
        .delete_record(&t, kinds::STAGE, "s1", Expect::Version(3))
        .await
        .unwrap();
    assert!(store.get_record(&t, kinds::STAGE, "s1").await.unwrap().is_none());

    // Several records at once, removals among them: all or nothing, at most 100.
    let put = |id: &str, expect| RecordWrite {
        kind: kinds::STAGE,
        id: id.into(),
        body: Some(body.clone()),
        expect,
    };
    let refused = store
        .put_records(
            &t,
            &[
                RecordWrite::remove(kinds::STAGE, "s2"),
                put("s7", Expect::Absent),
                put("s3", Expect::Absent),
            ],
        )
        .await;
    assert!(matches!(refused, Err(StoreError::Conflict { .. })), "{refused:?}");
    assert!(
        store.get_record(&t, kinds::STAGE, "s2").await.unwrap().is_some(),
        "removal undone"
    );
    assert!(store.get_record(&t, kinds::STAGE, "s7").await.unwrap().is_none());
    store
        .put_records(
            &t,
            &[
                RecordWrite::remove(kinds::STAGE, "s2"),
                RecordWrite::remove(kinds::STAGE, "never-there"),
                put("s7", Expect::Absent),
                put("s3", Expect::Version(1)),
            ],
        )
        .await
        .unwrap();
    assert!(store.get_record(&t, kinds::STAGE, "s2").await.unwrap().is_none());
    assert_eq!(
        store
            .get_record(&t, kinds::STAGE, "s3")
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
    // A removal is unconditional on both stores; one with an expectation is refused whole.
    let conditional = RecordWrite {
        kind: kinds::STAGE,
        id: "s3".into(),
        body: None,
        expect: Expect::Version(2),
    };
    assert!(matches!(
        store.put_records(&t, &[conditional]).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(store.get_record(&t, kinds::STAGE, "s3").await.unwrap().is_some());
    let hundred: Vec<_> = (0..100)
        .map(|i| put(&format!("m{i:03}"), Expect::Absent))
        .collect();
    store.put_records(&t, &hundred).await.unwrap();
    let listed = store
        .list_records(&t, kinds::STAGE, Some("m"), 200)
        .await
        .unwrap();
    assert_eq!(listed.iter().filter(|r| r.id.starts_with('m')).count(), 100);
    let past: Vec<_> = (0..101)
        .map(|i| put(&format!("n{i:03}"), Expect::Absent))
        .collect();
    assert!(matches!(
        store.put_records(&t, &past).await,
        Err(StoreError::Invalid(_))
    ));

    let supplied = Secret::new("lg_supplied_admin_key_for_scripts_0123456789");
    let (rec, key) = api_keys::create_api_key(
        &*store,
        api_keys::NewKey {
            tenant: &t,
            user: "ana",
            role: Role::Rep,
            name: "laptop",
        },
        Some(supplied.clone()),
        t0(),
    )
    .await
    .unwrap();
    assert_eq!(key, supplied);
    let who = api_keys::authenticate(&*store, &supplied).await.unwrap().unwrap();
    assert_eq!(
        (who.tenant.clone(), who.user.as_str(), who.role),
        (t.clone(), "ana", Role::Rep)
    );
    assert!(
        api_keys::authenticate(&*store, &Secret::new("lg_wrong"))
            .await
            .unwrap()
            .is_none()
    );
    let listed = store.list_api_keys(&t).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].hash, KeyHash::of(&supplied));
    let stored_json = serde_json::to_string(&listed[0]).unwrap();
    assert!(
        !stored_json.contains(supplied.expose()),
        "the key itself is never stored"
    );
    api_keys::revoke_api_key(&*store, &t, &rec.id, t0())
        .await
        .unwrap();
    assert!(
        api_keys::authenticate(&*store, &supplied)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.list_api_keys(&t).await.unwrap()[0].revoked_at.is_some());
    assert!(matches!(
        api_keys::create_api_key(
            &*store,
            api_keys::NewKey {
                tenant: &t,
                user: "x",
                role: Role::Admin,
                name: "dup"
            },
            Some(supplied),
            t0()
        )
        .await,
        Err(ServiceError::AlreadyExists(_))
    ));
    store.health().await.unwrap();
}

/// Answers no platform: the capture cases post forms.
struct NoPlatform;

#[async_trait::async_trait]
impl LeadFetcher for NoPlatform {
    fn check_base_url(&self, platform: &'static str, _: &str) -> Result<(), FetchError> {
        Err(FetchError::Unreachable { platform })
    }
    async fn meta_lead(&self, _: &MetaConfig, _: &str) -> Result<PlatformLead, FetchError> {
        Err(FetchError::Unreachable { platform: "meta" })
    }
    async fn linkedin_response(&self, _: &LinkedinConfig, _: &str) -> Result<PlatformLead, FetchError> {
        Err(FetchError::Unreachable { platform: "linkedin" })
    }
}

/// The form the capture cases post to.
fn contact_form() -> CaptureForm {
    CaptureForm {
        key: "contact".into(),
        name: "Contact".into(),
        source: SourceId::parse("website-form").unwrap(),
        allowed_origins: vec![],
        thank_you_url: None,
        honeypot_field: None,
        mapping: Default::default(),
        on_resubmission: Default::default(),
        rate_limit_per_minute: 1000,
        signing_secret: None,
    }
}

fn form_post(id: &str, email: &str) -> Submission {
    Submission::received(
        id.into(),
        Channel::Form,
        Some("contact".into()),
        None,
        Utc::now(),
        serde_json::json!({"fields": {"name": "Jane Roe", "email": email}}),
    )
}

/// Takes a form post through `store`, as the capture function does: the submission as
/// stored, processed or kept raw.
async fn capture(
    store: &dyn LeadStore,
    tenant: &Tenant,
    sub: Submission,
) -> Result<Submission, ServiceError> {
    // The form route reads its form (to check the post) before it takes the post, and hands
    // it on, so processing does not read it again.
    let form = settings::get_form(store, &tenant.id, sub.form.as_deref().unwrap()).await?;
    let known = Some(capture::Known::Form(form));
    match capture::take_form_post(store, &SystemClock, &NoPlatform, tenant, sub, known).await? {
        capture::FormPost::Done(s) | capture::FormPost::Kept(s) => Ok(s),
    }
}

/// A new tenant with one rep in its rotation ("ana"), and `store` behind a store that
/// counts its calls: what the cases that count a use case's store calls start from.
async fn counted_tenant(
    store: &Arc<dyn LeadStore>,
    prefix: &str,
) -> (Arc<Faults>, FaultyStore, TenantId, Tenant) {
    let faults = Arc::new(Faults::default());
    let faulty = FaultyStore {
        inner: store.clone(),
        faults: faults.clone(),
    };
    let t = TenantId::parse(&common::unique(prefix)).unwrap();
    let (tenant, _) = tenants::ensure_tenant(&**store, &t, "Acme", t0()).await.unwrap();
    let ana = Rep {
        id: RepId::parse("ana").unwrap(),
        name: "Ana".into(),
        weight: 1,
        active: true,
        available: true,
    };
    reps::put_rep(&**store, &t, ana).await.unwrap();
    (faults, faulty, t, tenant)
}

/// Store calls split into the writes, in order, and how many reads.
fn writes_and_reads(calls: Vec<&'static str>) -> (Vec<&'static str>, usize) {
    let writes: Vec<_> = calls.iter().copied().filter(|c| WRITES.contains(c)).collect();
    let reads = calls.len() - writes.len();
    (writes, reads)
}

/// A form capture is one write: the lead, its timeline and the submission with its outcome
/// together, counted on the store; a write that fails or a process that dies right after it
/// leaves no half state, and a post whose processing failed is kept raw for a replay.
async fn capture_is_one_write(store: Arc<dyn LeadStore>) {
    let (faults, faulty, t, tenant) = counted_tenant(&store, "capture").await;
    settings::put_form(&*store, &t, contact_form()).await.unwrap();
    let stored = |id: &'static str| {
        let (store, tenant) = (store.clone(), tenant.clone());
        async move { capture::get_submission(&*store, &tenant, id).await.unwrap() }
    };
    let split = writes_and_reads;

    // A new lead: one write, with the submission and the rotation's slot in it.
    faults.take_calls();
    let done = capture(&faulty, &tenant, form_post("s-new", "jane@example.com"))
        .await
        .unwrap();
    let (writes, reads) = split(faults.take_calls());
    assert_eq!(writes, ["create_lead"]);
    // The form (once: the route's read is handed on), one lookup of every contact key, and
    // the lead's context (sources, custom fields and reps in one call).
    assert_eq!(reads, 3);
    assert_eq!(done.status, SubmissionStatus::Processed);
    assert_eq!(stored("s-new").await, done);
    let lead_id = done.lead_id.unwrap();
    let lead = store.get_lead(&t, &lead_id).await.unwrap().unwrap();
    assert_eq!(
        (lead.version, lead.owner.as_ref().map(|o| o.as_str())),
        (1, Some("ana"))
    );
    let kinds_of = |page: Vec<Activity>| -> Vec<&'static str> {
        page.iter()
            .rev()
            .map(|a| match a.kind {
                ActivityKind::Assigned { .. } => "assigned",
                ActivityKind::Captured {
                    resubmitted: false, ..
                } => "captured",
                ActivityKind::Captured {
                    resubmitted: true, ..
                } => "resubmitted",
                _ => "other",
            })
            .collect()
    };
    let timeline = store.list_activities(&t, &lead_id, None, 50).await.unwrap().items;
    assert_eq!(kinds_of(timeline), ["assigned", "captured"]);

    // The same person again: the entry and the outcome in one write with the lead.
    let again = capture(&faulty, &tenant, form_post("s-again", "Jane@Example.com"))
        .await
        .unwrap();
    let (writes, _) = split(faults.take_calls());
    assert_eq!(writes, ["commit_lead_change"]);
    assert_eq!(
        (again.status, again.lead_id),
        (SubmissionStatus::Resubmitted, Some(lead_id))
    );
    assert_eq!(stored("s-again").await, again);
    let lead = store.get_lead(&t, &lead_id).await.unwrap().unwrap();
    assert_eq!(lead.version, 2);
    let timeline = store.list_activities(&t, &lead_id, None, 50).await.unwrap().items;
    assert_eq!(kinds_of(timeline), ["assigned", "captured", "resubmitted"]);

    // The process dies right after the lead's write: the submission already says where its
    // lead is, so nothing is left `received` for a replay to find.
    faults.arm(Stage::LeadWrite, Fault::FreezeAfter(0));
    let killed = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        capture(&faulty, &tenant, form_post("s-killed", "kim@example.com")),
    )
    .await;
    assert!(killed.is_err(), "the write froze after doing its work");
    faults.disarm();
    let after = stored("s-killed").await;
    assert_eq!(after.status, SubmissionStatus::Processed);
    let kim = store
        .get_lead(&t, &after.lead_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kim.email.as_ref().map(|e| e.as_str()), Some("kim@example.com"));
    let timeline = store.list_activities(&t, &kim.id, None, 50).await.unwrap().items;
    assert_eq!(kinds_of(timeline), ["assigned", "captured"]);

    // The lead's write fails: nothing of it is stored, the post is kept as a failed capture
    // (with its `capture.failed` event, in the list an admin replays from), and a replay
    // makes the one lead.
    faults.arm(Stage::LeadWrite, Fault::Fail(1));
    let kept = capture(&faulty, &tenant, form_post("s-failed", "lee@example.com"))
        .await
        .expect("the post is kept though its lead's write failed");
    assert_eq!((kept.status, kept.attempts), (SubmissionStatus::Failed, 1));
    assert_eq!(stored("s-failed").await, kept);
    let failed = capture::list_submissions(&*store, &tenant, Some(SubmissionStatus::Failed), None, 50)
        .await
        .unwrap();
    assert_eq!(
        failed.items.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["s-failed"]
    );
    let lee = MatchKey::Email(Email::parse("lee@example.com").unwrap());
    assert!(store.find_leads_by_contact(&t, &lee).await.unwrap().is_empty());
    let replayed = capture::replay_submission(&*store, &SystemClock, &NoPlatform, &tenant, "s-failed")
        .await
        .unwrap();
    assert_eq!(replayed.status, SubmissionStatus::Processed);
    assert_eq!(
        store.find_leads_by_contact(&t, &lee).await.unwrap(),
        vec![replayed.lead_id.unwrap()]
    );

    // The lead's write is done but its answer is lost: the post is not kept a second time
    // beside it; the outcome the write stored stands, and there is one lead.
    let struck = faults.struck.load(std::sync::atomic::Ordering::SeqCst);
    faults.arm(Stage::LeadWrite, Fault::ErrAfterWork);
    let lost = capture(&faulty, &tenant, form_post("s-lost", "lou@example.com"))
        .await
        .unwrap();
    faults.disarm();
    assert_eq!(
        faults.struck.load(std::sync::atomic::Ordering::SeqCst),
        struck + 1,
        "the lead's write lost its answer once"
    );
    assert_eq!(lost.status, SubmissionStatus::Processed);
    assert_eq!(stored("s-lost").await, lost);
    let lou = MatchKey::Email(Email::parse("lou@example.com").unwrap());
    assert_eq!(
        store.find_leads_by_contact(&t, &lou).await.unwrap(),
        vec![lost.lead_id.unwrap()]
    );
}

/// A captured lead with a malformed phone beside a valid email is kept, flagged, under the
/// tenant's default policy; under `reject` it fails, and its replay once the policy keeps
/// such leads makes the lead (before, it failed on every replay).
async fn capture_keeps_flagged_leads(store: Arc<dyn LeadStore>) {
    use leadgate_core::domain::data_quality::DataQuality;
    let t = TenantId::parse(&common::unique("flagged")).unwrap();
    let (mut tenant, _) = tenants::ensure_tenant(&*store, &t, "Acme", t0()).await.unwrap();
    settings::put_form(&*store, &t, contact_form()).await.unwrap();
    let post = |id: &str, email: &str| {
        let mut sub = form_post(id, email);
        sub.payload["fields"]["phone"] = serde_json::json!("12");
        sub
    };
    let kept = capture(&*store, &tenant, post("s-kept", "kim@example.com"))
        .await
        .unwrap();
    assert_eq!(kept.status, SubmissionStatus::Processed, "{kept:?}");
    let lead = store.get_lead(&t, &kept.lead_id.unwrap()).await.unwrap().unwrap();
    assert_eq!(
        (lead.phone.as_ref(), lead.email.as_ref().map(|e| e.as_str())),
        (None, Some("kim@example.com"))
    );
    let w = &lead.data_warnings;
    assert_eq!(
        (w.len(), w[0].field.as_str(), w[0].value.as_str()),
        (1, "phone", "12"),
        "{w:?}"
    );
    let flagged = LeadQuery {
        has_warnings: Some(true),
        ..Default::default()
    };
    let listed = store.list_leads(&t, &flagged).await.unwrap().items;
    assert_eq!(listed.iter().map(|l| l.id).collect::<Vec<_>>(), [lead.id]);

    // Setting the phone through the API drops the warning kept for it.
    let admin = leadgate_core::domain::tenant::Principal {
        tenant: t.clone(),
        user: "admin".into(),
        role: Role::Admin,
    };
    let patch = leadgate_core::services::lead_patch::LeadPatch {
        phone: Some(Some("+1 415 555 0100".into())),
        ..Default::default()
    };
    let fixed = leadgate_core::services::lead_patch::patch_lead(
        &*store,
        &SystemClock,
        &tenant,
        &admin,
        &lead.id,
        patch,
        Some(lead.version),
    )
    .await
    .unwrap();
    assert!(
        fixed.data_warnings.is_empty() && fixed.phone.is_some(),
        "{fixed:?}"
    );

    let mut strict = tenant.settings.clone();
    strict.capture_data_quality = DataQuality::Reject;
    tenant = tenants::update_settings(&*store, &t, strict).await.unwrap();
    let failed = capture(&*store, &tenant, post("s-strict", "lou@example.com"))
        .await
        .unwrap();
    assert_eq!(failed.status, SubmissionStatus::Failed);
    assert_eq!(failed.errors[0].field, "phone");
    let mut keep = tenant.settings.clone();
    keep.capture_data_quality = DataQuality::KeepFlagged;
    tenant = tenants::update_settings(&*store, &t, keep).await.unwrap();
    let replayed = capture::replay_submission(&*store, &SystemClock, &NoPlatform, &tenant, "s-strict")
        .await
        .unwrap();
    assert_eq!(replayed.status, SubmissionStatus::Processed, "{replayed:?}");
}

/// The batch lookups an import makes give what the one-key lookups give, for many keys at
/// once (more than one query's worth), and only the asking tenant's leads.
async fn bulk_lookups(store: Arc<dyn LeadStore>) {
    let a = TenantId::parse(&common::unique("bulk-a")).unwrap();
    let b = TenantId::parse(&common::unique("bulk-b")).unwrap();
    let mut leads = Vec::new();
    for i in 0..620 {
        let mut l = new_lead(
            &a,
            &format!("Bulk {i}"),
            Some(&format!("bulk{i}@example.com")),
            t0(),
        );
        if i % 2 == 0 {
            l.phone =
                Some(Phone::parse_field(&format!("+44 20 7946 {i:04}"), Region::default(), "phone").unwrap());
        }
        leads.push(l);
    }
    // Two leads share one email (an earlier import under `create`).
    let twin = new_lead(&a, "Twin", Some("bulk7@example.com"), t0());
    leads.push(twin.clone());
    store.put_leads_batch(&leads, &[]).await.unwrap();
    // Tenant B holds a lead with one of A's emails: never part of A's answers.
    let other = new_lead(&b, "Other", Some("bulk1@example.com"), t0());
    store
        .put_leads_batch(std::slice::from_ref(&other), &[])
        .await
        .unwrap();

    let email = |s: &str| MatchKey::Email(Email::parse(s).unwrap());
    let mut keys: Vec<MatchKey> = (0..600).map(|i| email(&format!("bulk{i}@example.com"))).collect();
    keys.push(email("nobody@example.com"));
    keys.push(MatchKey::Phone(
        Phone::parse_field("+44 20 7946 0010", Region::default(), "phone").unwrap(),
    ));
    let found = store.find_leads_by_contacts(&a, &keys).await.unwrap();
    // Each key's answer is exactly the single-key lookup's.
    for key in &keys {
        let mut batch: Vec<LeadId> = found
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, id)| *id)
            .collect();
        let mut one = store.find_leads_by_contact(&a, key).await.unwrap();
        batch.sort();
        one.sort();
        assert_eq!(batch, one, "{key:?}");
    }
    assert_eq!(found.len(), 600 + 1 + 1, "600 emails, the twin, one phone");
    assert!(found.iter().all(|(_, id)| *id != other.id));
    assert!(store.find_leads_by_contacts(&a, &[]).await.unwrap().is_empty());

    let ids: Vec<LeadId> = leads
        .iter()
        .take(550)
        .map(|l| l.id)
        .chain([other.id, LeadId::new(), leads[7].id])
        .collect();
    let got = store.get_leads(&a, &ids).await.unwrap();
    let got_ids: HashSet<LeadId> = got.iter().map(|l| l.id).collect();
    assert_eq!(
        got.len(),
        550,
        "A's 550, each once though one is asked twice; not B's lead, not an unknown id"
    );
    assert!(leads.iter().take(550).all(|l| got_ids.contains(&l.id)));
    let back = got.iter().find(|l| l.id == leads[3].id).unwrap();
    assert_eq!(back.name, "Bulk 3");
}

/// The operator's tenant work on either store: create (seeded, with a first admin key that
/// authenticates), the list paged in id order with each tenant once, suspend and resume (a
/// suspended tenant is not active; its settings stay), and the platform id refused.
async fn tenants_created_listed_suspended(store: Arc<dyn LeadStore>) {
    use leadgate_core::services::tenants::NewTenant;
    let prefix = common::tenant("op");
    let ids: Vec<TenantId> = ["a", "b", "c"]
        .iter()
        .map(|s| TenantId::parse(&format!("{prefix}-{s}")).unwrap())
        .collect();
    for id in &ids {
        let new = NewTenant::parse(id.as_str(), "  Op Co ").unwrap();
        let (t, record, key) = tenants::create_tenant(&*store, &new, t0()).await.unwrap();
        assert_eq!((t.name.as_str(), t.is_suspended()), ("Op Co", false));
        let who = leadgate_core::services::api_keys::authenticate(&*store, &key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (&who.tenant, who.role),
            (id, leadgate_core::domain::tenant::Role::Admin)
        );
        assert_eq!(record.tenant, *id);
        assert_eq!(
            sources::list_sources(&*store, id).await.unwrap().len(),
            7,
            "seeded"
        );
    }
    let again = tenants::create_tenant(&*store, &NewTenant::parse(ids[0].as_str(), "X").unwrap(), t0()).await;
    assert!(matches!(again, Err(ServiceError::AlreadyExists(_))), "{again:?}");
    assert!(NewTenant::parse("platform", "P").is_err());
    assert!(NewTenant::parse(ids[0].as_str(), "").is_err());
    // Every page in id order; ours appear once each, in order (other tests add their own).
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = tenants::list_tenants(&*store, cursor.as_deref(), 2)
            .await
            .unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.into_iter().map(|t| t.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(seen, sorted, "id order");
    let ours: Vec<&TenantId> = seen.iter().filter(|t| ids.contains(t)).collect();
    assert_eq!(ours, ids.iter().collect::<Vec<_>>());
    // Suspend twice keeps the first time; the settings are untouched; resume serves again.
    let mut settings = tenants::get_tenant(&*store, &ids[1])
        .await
        .unwrap()
        .unwrap()
        .settings;
    settings.reps_see_own_leads_only = true;
    tenants::update_settings(&*store, &ids[1], settings.clone())
        .await
        .unwrap();
    let s = tenants::set_suspended(&*store, &ids[1], Some(t0()))
        .await
        .unwrap();
    let s2 = tenants::set_suspended(&*store, &ids[1], Some(t0() + chrono::Duration::hours(1)))
        .await
        .unwrap();
    assert_eq!(s2.suspended_at, s.suspended_at);
    let err = tenants::active_tenant(&*store, &ids[1]).await;
    assert!(matches!(err, Err(ServiceError::Forbidden(_))), "{err:?}");
    assert!(
        tenants::active_tenant(&*store, &ids[0]).await.is_ok(),
        "others are served"
    );
    let r = tenants::set_suspended(&*store, &ids[1], None).await.unwrap();
    assert!(!r.is_suspended());
    let back = tenants::active_tenant(&*store, &ids[1]).await.unwrap();
    assert_eq!(back.settings, settings);
    let missing = tenants::active_tenant(&*store, &common::tenant("none")).await;
    assert!(
        matches!(missing, Err(ServiceError::NotFound { .. })),
        "{missing:?}"
    );
}

/// An attachment goes on the timeline when it arrives, not when its upload URL is issued:
/// with the real size and the announced type, once however often the bucket says so, and
/// never for a key that was not announced for that lead.
async fn attachment_arrives_once(store: Arc<dyn LeadStore>) {
    use leadgate_core::ports::blob::BlobKey;
    use leadgate_core::services::attachments::{
        AnnouncedAttachment, Arrival, announce, arrived, attachments_prefix,
    };
    let t = common::tenant("att");
    let (tenant, _) = tenants::ensure_tenant(&*store, &t, "Att", t0()).await.unwrap();
    let lead = create(
        &*store,
        &new_lead(&t, "Ann Attach", Some("ann@att.example"), t0()),
    )
    .await;
    let other = create(
        &*store,
        &new_lead(&t, "Otto Other", Some("otto@att.example"), t0()),
    )
    .await;
    let rep = leadgate_core::domain::tenant::Principal {
        tenant: t.clone(),
        user: "ana".into(),
        role: leadgate_core::domain::tenant::Role::Rep,
    };
    let id = "0123456789abcdef0123456789abcdef";
    let announced = AnnouncedAttachment {
        lead_id: lead.id,
        filename: "Quote for Ann.pdf".into(),
        content_type: "application/pdf".into(),
        size: 9,
        announced_by: None,
        arrived_at: None,
    };
    announce(&*store, &tenant, &rep, &lead.id, id, announced)
        .await
        .unwrap();
    let entries = |l: LeadId| {
        let store = store.clone();
        let t = t.clone();
        async move {
            store
                .list_activities(&t, &l, None, 50)
                .await
                .unwrap()
                .items
                .into_iter()
                .filter(|a| matches!(a.kind, ActivityKind::Attachment { .. }))
                .collect::<Vec<_>>()
        }
    };
    assert!(entries(lead.id).await.is_empty(), "announced is not arrived");
    let key = BlobKey::parse(&format!(
        "{}{id}/Quote for Ann.pdf",
        attachments_prefix(&t, &lead.id)
    ))
    .unwrap();
    let clock = leadgate_core::ports::clock::SystemClock;
    // Two deliveries at once, and one later: one entry.
    let (a, b) = tokio::join!(
        arrived(&*store, &clock, &key, 9),
        arrived(&*store, &clock, &key, 9)
    );
    let mut got = [a.unwrap(), b.unwrap()];
    got.sort_by_key(|x| format!("{x:?}"));
    assert_eq!(got, [Arrival::AlreadyRecorded, Arrival::Recorded]);
    assert_eq!(
        arrived(&*store, &clock, &key, 9).await.unwrap(),
        Arrival::AlreadyRecorded
    );
    let on = entries(lead.id).await;
    assert_eq!(on.len(), 1);
    match &on[0].kind {
        ActivityKind::Attachment {
            filename,
            size,
            content_type,
            key: k,
        } => {
            assert_eq!(
                (filename.as_str(), *size, content_type.as_deref()),
                ("Quote for Ann.pdf", 9, Some("application/pdf"))
            );
            assert_eq!(k, key.as_str());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(on[0].actor, Actor::User { id: "ana".into() });
    // The same id under another lead, a key nobody announced, and another prefix: nothing.
    let moved = BlobKey::parse(&format!("{}{id}/x.pdf", attachments_prefix(&t, &other.id))).unwrap();
    let unannounced = BlobKey::parse(&format!(
        "{}fedcba9876543210fedcba9876543210/y.pdf",
        attachments_prefix(&t, &lead.id)
    ))
    .unwrap();
    let elsewhere = BlobKey::parse(&format!("imports/{t}/leads.csv")).unwrap();
    for k in [moved, unannounced, elsewhere] {
        assert_eq!(
            arrived(&*store, &clock, &k, 1).await.unwrap(),
            Arrival::Ignored,
            "{k}"
        );
    }
    assert!(entries(other.id).await.is_empty());
    // Suspended: a file arriving on a URL issued before is kept off the timeline.
    let late = "00112233445566778899aabbccddeeff";
    let announced = AnnouncedAttachment {
        lead_id: lead.id,
        filename: "late.pdf".into(),
        content_type: "application/pdf".into(),
        size: 3,
        announced_by: None,
        arrived_at: None,
    };
    announce(&*store, &tenant, &rep, &lead.id, late, announced)
        .await
        .unwrap();
    tenants::set_suspended(&*store, &t, Some(t0())).await.unwrap();
    let key = BlobKey::parse(&format!("{}{late}/late.pdf", attachments_prefix(&t, &lead.id))).unwrap();
    assert_eq!(arrived(&*store, &clock, &key, 3).await.unwrap(), Arrival::Ignored);
    assert_eq!(entries(lead.id).await.len(), 1, "only the first file");
}

async fn entries_go_with_their_leads(store: Arc<dyn LeadStore>) {
    let a = TenantId::parse(&common::unique("entries-a")).unwrap();
    let b = TenantId::parse(&common::unique("entries-b")).unwrap();
    let lead = new_lead(&a, "Own", Some("own@example.com"), t0());
    let other = new_lead(&a, "Other", Some("other@example.com"), t0());
    // The same id under another tenant is another lead.
    let mut foreign = lead.clone();
    foreign.tenant = b.clone();
    for stray in [
        note(&other, t0(), "not mine"),
        note(&foreign, t0(), "another tenant's"),
    ] {
        let refused = store
            .create_lead(&lead, &CreateGuards::default(), &[stray], &[])
            .await;
        assert!(matches!(refused, Err(StoreError::Invalid(_))), "{refused:?}");
        assert!(store.get_lead(&a, &lead.id).await.unwrap().is_none());
    }
    for stray in [
        note(&other, t0(), "not in the batch"),
        note(&foreign, t0(), "another tenant's"),
    ] {
        let refused = store
            .put_leads_batch(std::slice::from_ref(&lead), &[note(&lead, t0(), "mine"), stray])
            .await;
        assert!(matches!(refused, Err(StoreError::Invalid(_))), "{refused:?}");
        assert!(store.get_lead(&a, &lead.id).await.unwrap().is_none());
        let theirs = store.list_activities(&b, &lead.id, None, 10).await.unwrap();
        assert!(theirs.items.is_empty(), "{:?}", theirs.items);
    }
    // With its own entries only, the batch goes in.
    store
        .put_leads_batch(std::slice::from_ref(&lead), &[note(&lead, t0(), "mine")])
        .await
        .unwrap();
    let timeline = store.list_activities(&a, &lead.id, None, 10).await.unwrap();
    assert_eq!(timeline.items.len(), 1);
    // A change of the lead carries only its own entries too; a refused one changes nothing.
    let stored = store.get_lead(&a, &lead.id).await.unwrap().unwrap();
    for stray in [
        note(&other, t0(), "not mine"),
        note(&foreign, t0(), "another tenant's"),
    ] {
        let refused = store.commit_lead_change(&stored, &[], &[stray]).await;
        assert!(matches!(refused, Err(StoreError::Invalid(_))), "{refused:?}");
        let now = store.get_lead(&a, &lead.id).await.unwrap().unwrap();
        assert_eq!(now.version, stored.version);
        let theirs = store.list_activities(&b, &lead.id, None, 10).await.unwrap();
        assert!(theirs.items.is_empty(), "{:?}", theirs.items);
    }
    let changed = store
        .commit_lead_change(&stored, &[], &[note(&stored, t0(), "mine again")])
        .await
        .unwrap();
    assert_eq!(changed.version, stored.version + 1);
}

/// Answers one Meta lead, whatever is asked.
struct OneMetaLead;

#[async_trait::async_trait]
impl LeadFetcher for OneMetaLead {
    fn check_base_url(&self, _: &'static str, _: &str) -> Result<(), FetchError> {
        Ok(())
    }
    async fn meta_lead(&self, _: &MetaConfig, _: &str) -> Result<PlatformLead, FetchError> {
        Ok(PlatformLead {
            answers: vec![
                ("full_name".into(), "Mia Meta".into()),
                ("email".into(), "mia@example.com".into()),
            ],
            ad: Default::default(),
        })
    }
    async fn linkedin_response(&self, _: &LinkedinConfig, _: &str) -> Result<PlatformLead, FetchError> {
        Err(FetchError::Unreachable { platform: "linkedin" })
    }
}

/// Store calls per use case, counted on the store (issue 17's measure: a captured lead at
/// most 4 reads and 2 writes): a Meta delivery, an API create, a PATCH. On DynamoDB a read
/// call is one request, or one per key or kind side by side; a write call one transaction.
async fn use_cases_counted(store: Arc<dyn LeadStore>) {
    use leadgate_core::domain::lead::LeadInput;
    use leadgate_core::services::lead_patch::{LeadPatch, patch_lead};
    use leadgate_core::services::leads::{CreateLead, CreateResult, DuplicatePolicy, create_lead};
    let (faults, faulty, t, tenant) = counted_tenant(&store, "counted").await;
    let counted = || writes_and_reads(faults.take_calls());

    // A Meta delivery: the raw delivery (its id is Meta's, so a repeat finds it), then the
    // lead with its slot, timeline and the outcome. Reads: every contact key in one lookup,
    // and the lead's context; the route hands on the channel's settings it read.
    let meta: MetaConfig = serde_json::from_value(serde_json::json!({
        "verify_token": "v", "app_secret": "s", "page_access_token": "p"
    }))
    .unwrap();
    let delivery = Submission::received(
        "meta-4471".into(),
        Channel::Meta,
        None,
        Some("4471".into()),
        Utc::now(),
        serde_json::json!({"leadgen_id": "4471"}),
    );
    faults.take_calls();
    let done = capture::take_platform_delivery(
        &faulty,
        &SystemClock,
        &OneMetaLead,
        &tenant,
        delivery.clone(),
        capture::Known::Meta(meta.clone()),
    )
    .await
    .unwrap();
    assert_eq!(done.status, SubmissionStatus::Processed, "{done:?}");
    assert_eq!(counted(), (vec!["put_record", "create_lead"], 2));
    // Delivered again: found, answered as it is.
    let again = capture::take_platform_delivery(
        &faulty,
        &SystemClock,
        &OneMetaLead,
        &tenant,
        delivery,
        capture::Known::Meta(meta),
    )
    .await
    .unwrap();
    assert_eq!(again, done);
    assert_eq!(counted(), (vec!["put_record"], 1));

    // An API create: the lead with its assignment in one write; reads: its context and its
    // contact keys.
    let created = create_lead(
        &faulty,
        &SystemClock,
        &tenant,
        CreateLead::new(
            LeadInput {
                name: Some("Ann Api".into()),
                email: Some("ann@example.com".into()),
                source: Some("referral".into()),
                ..Default::default()
            },
            Actor::System,
            DuplicatePolicy::Reject,
        ),
    )
    .await
    .unwrap();
    let CreateResult::Created(ann) = created else {
        panic!("expected a new lead, got {created:?}");
    };
    assert_eq!(counted(), (vec!["create_lead"], 2));
    // The rotation's slot went in that one write.
    assert_eq!(ann.owner.as_ref().map(|o| o.as_str()), Some("ana"));

    // A PATCH of the status: the change and its timeline entry in one write; reads: the
    // lead and its context (no contact key changed, so no lookup).
    let admin = leadgate_core::domain::tenant::Principal {
        tenant: t.clone(),
        user: "admin".into(),
        role: Role::Admin,
    };
    let patch = LeadPatch {
        status: Some("contacted".into()),
        ..Default::default()
    };
    let patched = patch_lead(
        &faulty,
        &SystemClock,
        &tenant,
        &admin,
        &ann.id,
        patch,
        Some(ann.version),
    )
    .await
    .unwrap();
    assert_eq!(
        (patched.version, patched.status),
        (ann.version + 1, LeadStatus::Contacted)
    );
    assert_eq!(counted(), (vec!["commit_lead_change"], 2));
}

macro_rules! contract {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;

            macro_rules! case {
                ($name:ident, $case:path) => {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                    async fn $name() {
                        if let Some(store) = $make.await {
                            $case(store).await;
                        }
                    }
                };
            }

            case!(
                when_other_tenant_asks_should_see_and_change_nothing,
                tenant_isolation
            );
            case!(when_version_is_stale_should_conflict, version_conflict);
            case!(
                when_a_count_passes_its_bound_should_estimate_and_say_so,
                count_estimates_past_the_bound
            );
            case!(
                when_20_creates_share_external_id_should_make_one_lead,
                concurrent_external_id
            );
            case!(
                when_idempotency_key_or_contact_repeats_should_refuse,
                idempotency_and_duplicates
            );
            case!(
                when_activity_is_appended_should_move_last_activity,
                activities_move_last_activity
            );
            case!(
                when_paging_1050_leads_should_see_each_once_per_sort,
                pagination_sees_every_lead_once
            );
            case!(
                when_filters_combine_should_match_reference,
                combined_filters
            );
            case!(
                when_source_is_renamed_or_deleted_should_keep_leads_right,
                sources_rename_and_delete
            );
            case!(
                when_assigning_concurrently_should_follow_weights,
                round_robin_under_concurrency
            );
            case!(
                when_leads_are_created_concurrently_should_take_their_slots_in_their_writes,
                creates_take_slots_in_their_writes
            );
            case!(
                when_records_and_keys_are_written_should_honour_conditions,
                records_and_keys
            );
            case!(
                when_a_form_is_captured_should_write_lead_timeline_and_outcome_at_once,
                capture_is_one_write
            );
            case!(
                when_a_captured_phone_is_malformed_should_keep_the_lead_flagged,
                capture_keeps_flagged_leads
            );
            case!(
                when_many_contacts_or_ids_are_looked_up_at_once_should_answer_as_one_by_one,
                bulk_lookups
            );
            case!(
                when_the_operator_creates_lists_and_suspends_tenants_should_hold,
                tenants_created_listed_suspended
            );
            case!(
                when_a_platform_lead_an_api_create_or_a_patch_runs_should_take_few_store_calls,
                use_cases_counted
            );
            case!(
                when_timeline_entries_are_not_of_the_leads_written_should_refuse_all,
                entries_go_with_their_leads
            );
            case!(
                when_an_attachment_arrives_should_go_on_the_timeline_once,
                attachment_arrives_once
            );
            case!(
                when_leads_are_written_in_any_order_should_keep_rollups_equal_to_a_recount,
                rollups::rollups_follow_every_write
            );
            case!(
                when_leads_are_written_in_any_order_should_count_a_tag_as_a_recount_does,
                rollups::tag_counts_follow_every_write
            );
            case!(
                when_rollups_are_wrong_should_be_put_right_by_a_rebuild,
                rollups::rebuild_puts_rows_right
            );
        }
    };
}

contract!(sqlite, async { common::sqlite_store() });
contract!(dynamodb, common::dynamo_store());
