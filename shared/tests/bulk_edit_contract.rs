//! Bulk edit on every store: one result per lead, each lead's change and timeline entry in
//! one write, nothing changed by a dry run or for a lead whose write failed, a rep reaching
//! only their own leads, filters by name and with several values, and past 1,000 leads a job
//! that resumes where it was cut off without doing a lead twice.

use crate::common;

use common::faults::{Fault, Faults, FaultyStore, Stage};
use leadgate_core::domain::activity::{ActivityKind, Actor};
use leadgate_core::domain::custom_field::{CustomFieldDef, CustomFieldType, CustomValue};
use leadgate_core::domain::lead::{Lead, NewLead, Provenance, Tag};
use leadgate_core::domain::query::LeadQuery;
use leadgate_core::domain::rep::Rep;
use leadgate_core::domain::tenant::{Principal, Role, Tenant};
use leadgate_core::domain::{Email, LeadId, LeadStatus, RepId, SourceId};
use leadgate_core::ports::blob::BlobStore;
use leadgate_core::ports::clock::{FixedClock, SystemClock};
use leadgate_core::ports::store::LeadStore;
use leadgate_core::services::activities::{NewActivity, add_activity};
use leadgate_core::services::bulk_edit::{
    BulkEditAnswer, BulkEditReport, BulkEditRequest, EditOutcome, EditPorts, MAX_BULK_EDIT, bulk_edit,
};
use leadgate_core::services::bulk_jobs::{self, BulkJobStatus, BulkRun, run_bulk_job};
use leadgate_core::services::lead_patch::{LeadPatch, patch_lead};
use leadgate_core::services::leads::load_context;
use leadgate_core::services::{ServiceError, custom_fields, reps, tenants};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

struct Fixture {
    store: Arc<dyn LeadStore>,
    blobs: Arc<dyn BlobStore>,
    tenant: Tenant,
    admin: Principal,
}

async fn fixture(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) -> Fixture {
    let id = common::tenant("bulk");
    let (tenant, _) = tenants::ensure_tenant(&*store, &id, "Bulk", chrono::Utc::now())
        .await
        .unwrap();
    for (rep, name) in [("ana", "Ana Lima"), ("ben", "Ben Okafor")] {
        let rep = Rep {
            id: RepId::parse(rep).unwrap(),
            name: name.into(),
            weight: 1,
            active: true,
            available: true,
        };
        reps::put_rep(&*store, &id, rep).await.unwrap();
    }
    let tier = CustomFieldDef {
        key: "tier".into(),
        label: "Tier".into(),
        field_type: CustomFieldType::Select,
        required: false,
        options: vec!["gold".into(), "silver".into()],
    };
    custom_fields::put_custom_field(&*store, &id, tier).await.unwrap();
    let admin = Principal {
        tenant: id,
        user: "admin".into(),
        role: Role::Admin,
    };
    Fixture {
        store,
        blobs,
        tenant,
        admin,
    }
}

impl Fixture {
    /// `n` leads written straight to the store (creating them is tested elsewhere).
    async fn leads(&self, n: usize, status: LeadStatus, owner: Option<&str>, tags: &[&str]) -> Vec<LeadId> {
        let now = chrono::Utc::now();
        let leads: Vec<Lead> = (0..n)
            .map(|i| {
                let new = NewLead {
                    name: format!("Lead {i}"),
                    email: Some(Email::parse(&format!("lead{i}.{}@example.com", LeadId::new())).unwrap()),
                    phone: None,
                    mobile: None,
                    company: Some(format!("Company {i}")),
                    position: None,
                    website: None,
                    company_number: None,
                    tax_id: None,
                    address: Default::default(),
                    source: SourceId::parse("website-form").unwrap(),
                    status,
                    unqualified_reason: None,
                    owner: owner.map(|o| RepId::parse(o).unwrap()),
                    tags: tags
                        .iter()
                        .map(|t| Tag::parse(t).unwrap())
                        .collect::<BTreeSet<_>>(),
                    custom: BTreeMap::new(),
                    provenance: Provenance::default(),
                    data_warnings: vec![],
                    created_at: None,
                    last_activity_at: None,
                };
                Lead::from_new(self.tenant.id.clone(), LeadId::new(), new, now)
            })
            .collect();
        for chunk in leads.chunks(500) {
            self.store.put_leads_batch(chunk, &[]).await.unwrap();
        }
        leads.iter().map(|l| l.id).collect()
    }

    async fn run(&self, who: &Principal, req: serde_json::Value) -> Result<BulkEditReport, ServiceError> {
        self.run_on(&*self.store, &self.tenant, who, req).await
    }

    async fn run_on(
        &self,
        store: &dyn LeadStore,
        tenant: &Tenant,
        who: &Principal,
        req: serde_json::Value,
    ) -> Result<BulkEditReport, ServiceError> {
        match self.answer(store, tenant, who, req).await? {
            BulkEditAnswer::Report(r) => Ok(r),
            BulkEditAnswer::Job(j) => panic!("a job where a report was expected: {j:?}"),
        }
    }

    async fn answer(
        &self,
        store: &dyn LeadStore,
        tenant: &Tenant,
        who: &Principal,
        req: serde_json::Value,
    ) -> Result<BulkEditAnswer, ServiceError> {
        let req: BulkEditRequest = serde_json::from_value(req).unwrap();
        let ports = EditPorts {
            store,
            blobs: &*self.blobs,
            clock: &SystemClock,
        };
        bulk_edit(&ports, tenant, who, req).await
    }

    async fn lead(&self, id: &LeadId) -> Option<Lead> {
        self.store.get_lead(&self.tenant.id, id).await.unwrap()
    }

    async fn timeline(&self, id: &LeadId) -> Vec<ActivityKind> {
        let page = self
            .store
            .list_activities(&self.tenant.id, id, None, 50)
            .await
            .unwrap();
        page.items.into_iter().map(|a| a.kind).collect()
    }
}

fn ids_json(ids: &[LeadId]) -> Vec<String> {
    ids.iter().map(|i| i.to_string()).collect()
}

fn outcomes(r: &BulkEditReport) -> Vec<EditOutcome> {
    r.items.iter().map(|i| i.outcome).collect()
}

async fn assign_by_name_with_dry_run_and_per_lead_results(
    store: Arc<dyn LeadStore>,
    blobs: Arc<dyn BlobStore>,
) {
    let f = fixture(store, blobs).await;
    let ids = f.leads(3, LeadStatus::New, None, &[]).await;
    let already = f.leads(1, LeadStatus::New, Some("ben"), &[]).await;
    let missing = LeadId::new();
    let mut asked = ids_json(&ids);
    asked.push(already[0].to_string());
    asked.push(missing.to_string());
    asked.push(ids[0].to_string());
    let req = json!({"lead_ids": asked, "action": {"type": "assign", "owner": "ben okafor"}});

    let mut dry = req.clone();
    dry["dry_run"] = json!(true);
    let preview = f.run(&f.admin, dry).await.unwrap();
    use EditOutcome::*;
    assert_eq!(
        outcomes(&preview),
        [WouldChange, WouldChange, WouldChange, Unchanged, Skipped]
    );
    for id in &ids {
        let l = f.lead(id).await.unwrap();
        assert_eq!((l.owner, l.version), (None, 1), "a dry run changes nothing");
        assert!(f.timeline(id).await.is_empty());
    }

    let done = f.run(&f.admin, req).await.unwrap();
    assert_eq!(
        outcomes(&done),
        [Changed, Changed, Changed, Unchanged, Skipped],
        "{done:?}"
    );
    assert_eq!(
        (done.matched, done.changed, done.unchanged, done.skipped),
        (5, 3, 1, 1)
    );
    assert_eq!(done.items[4].reason.as_deref(), Some("lead not found"));
    for (i, id) in ids.iter().enumerate() {
        let l = f.lead(id).await.unwrap();
        assert_eq!(l.owner.as_ref().map(|o| o.as_str()), Some("ben"));
        assert_eq!(Some(l.version), done.items[i].version);
        assert_eq!(
            f.timeline(id).await,
            [ActivityKind::Assigned {
                from: None,
                to: Some(RepId::parse("ben").unwrap()),
                reason: "bulk".into()
            }],
            "the change and its timeline entry are one write"
        );
    }
    let bad = f
        .run(
            &f.admin,
            json!({"lead_ids": asked, "action": {"type": "assign", "owner": "carl"}}),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&bad, ServiceError::Validation(e) if e.0[0].field == "action.owner"),
        "{bad:?}"
    );
}

async fn status_tags_source_and_custom(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let f = fixture(store, blobs).await;
    let new = f.leads(2, LeadStatus::New, None, &["expo"]).await;
    let contacted = f.leads(1, LeadStatus::Contacted, None, &[]).await;
    let converted = f.leads(1, LeadStatus::Converted, None, &[]).await;
    let all: Vec<LeadId> = [new.clone(), contacted.clone(), converted.clone()].concat();
    let status = f
        .run(
            &f.admin,
            json!({"lead_ids": ids_json(&all), "action": {"type": "set_status", "status": "contacted"}}),
        )
        .await
        .unwrap();
    use EditOutcome::*;
    assert_eq!(outcomes(&status), [Changed, Changed, Unchanged, Skipped]);
    assert!(
        status.items[3].reason.as_deref().unwrap().contains("converted"),
        "{status:?}"
    );
    assert_eq!(f.lead(&converted[0]).await.unwrap().status, LeadStatus::Converted);
    assert_eq!(f.lead(&new[0]).await.unwrap().status, LeadStatus::Contacted);

    let tags = f
        .run(
            &f.admin,
            json!({"lead_ids": ids_json(&all[..3]), "action": {"type": "add_tags", "tags": ["VIP", "q3"]}}),
        )
        .await
        .unwrap();
    assert_eq!(outcomes(&tags), [Changed, Changed, Changed]);
    let l = f.lead(&new[0]).await.unwrap();
    let have: Vec<&str> = l.tags.iter().map(|t| t.as_str()).collect();
    assert_eq!(have, ["expo", "q3", "vip"]);
    assert_eq!(
        f.timeline(&new[0]).await[0],
        ActivityKind::FieldsChanged {
            fields: vec!["tags".into()]
        }
    );
    let before_tags = f.lead(&new[1]).await.unwrap().last_activity_at;
    f.run(
        &f.admin,
        json!({"lead_ids": [new[1].to_string()], "action": {"type": "add_tags", "tags": ["later"]}}),
    )
    .await
    .unwrap();
    assert_eq!(
        f.lead(&new[1]).await.unwrap().last_activity_at,
        before_tags,
        "editing fields is not activity on the lead"
    );
    let removed = f
        .run(
            &f.admin,
            json!({"lead_ids": ids_json(&all[..3]), "action": {"type": "remove_tags", "tags": ["expo"]}}),
        )
        .await
        .unwrap();
    assert_eq!(outcomes(&removed), [Changed, Changed, Unchanged]);

    let source = f
        .run(
            &f.admin,
            json!({"lead_ids": ids_json(&new), "action": {"type": "set_source", "source": "Referral"}}),
        )
        .await
        .unwrap();
    assert_eq!(outcomes(&source), [Changed, Changed]);
    assert_eq!(f.lead(&new[1]).await.unwrap().source.as_str(), "referral");
    let custom = f
        .run(&f.admin, json!({"lead_ids": ids_json(&new), "action": {"type": "set_custom", "key": "tier", "value": "gold"}}))
        .await
        .unwrap();
    assert_eq!(outcomes(&custom), [Changed, Changed]);
    assert_eq!(
        f.lead(&new[1]).await.unwrap().custom.get("tier"),
        Some(&CustomValue::Text("gold".into()))
    );
    let wrong = f
        .run(&f.admin, json!({"lead_ids": ids_json(&new), "action": {"type": "set_custom", "key": "tier", "value": "bronze"}}))
        .await
        .unwrap_err();
    assert!(
        matches!(&wrong, ServiceError::Validation(e) if e.0[0].field == "action.value"),
        "{wrong:?}"
    );
}

async fn filter_by_names_and_values_and_the_bound(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let f = fixture(store, blobs).await;
    let ana_new = f.leads(3, LeadStatus::New, Some("ana"), &["expo"]).await;
    let ana_qualified = f.leads(2, LeadStatus::Qualified, Some("ana"), &["expo"]).await;
    let ben_new = f.leads(2, LeadStatus::New, Some("ben"), &["expo"]).await;
    let req = json!({
        "filter": {"owner": "Ana Lima", "status": "new,contacted", "source": "Website form", "tag": "expo"},
        "action": {"type": "round_robin"}
    });
    let report = f.run(&f.admin, req).await.unwrap();
    assert_eq!(report.matched, 3, "{report:?}");
    let mut owners = BTreeMap::new();
    for id in &ana_new {
        let l = f.lead(id).await.unwrap();
        *owners.entry(l.owner.unwrap().to_string()).or_insert(0) += 1;
    }
    assert_eq!(owners.values().sum::<i32>(), 3);
    assert!(
        owners.contains_key("ben"),
        "the round robin spreads the leads: {owners:?}"
    );
    for id in ana_qualified.iter().chain(&ben_new) {
        assert_eq!(
            f.lead(id).await.unwrap().version,
            1,
            "outside the filter: untouched"
        );
    }

    // Past the bound the filter becomes a job; nothing is changed until it runs.
    let many = f.leads(MAX_BULK_EDIT + 1, LeadStatus::New, None, &["mass"]).await;
    let req = json!({"filter": {"tag": "mass"}, "action": {"type": "add_tags", "tags": ["x"]}});
    let answer = f.answer(&*f.store, &f.tenant, &f.admin, req).await.unwrap();
    let BulkEditAnswer::Job(job) = answer else {
        panic!("a filter over 1,000 leads makes a job: {answer:?}");
    };
    assert_eq!((job.status, job.processed), (BulkJobStatus::Pending, 0));
    assert_eq!(f.lead(&many[0]).await.unwrap().version, 1);
    let request = bulk_jobs::request_key(&f.tenant.id, &job.id).unwrap();
    assert!(
        f.blobs.head(&request).await.unwrap().is_some(),
        "the request object starts it"
    );
    let run = run_bulk_job(&*f.store, &*f.blobs, &SystemClock, &request, None)
        .await
        .unwrap();
    let BulkRun::Done(done) = run else {
        panic!("{run:?}");
    };
    assert_eq!(
        (done.status, done.processed, done.changed, done.unchanged),
        (BulkJobStatus::Completed, 1001, 1001, 0)
    );
    for id in [&many[0], &many[500], &many[1000]] {
        let l = f.lead(id).await.unwrap();
        assert!(l.tags.contains(&Tag::parse("x").unwrap()), "{l:?}");
        assert_eq!(l.version, 2);
    }
    assert!(
        f.blobs.head(&request).await.unwrap().is_none(),
        "a done request is removed"
    );
    let again = run_bulk_job(&*f.store, &*f.blobs, &SystemClock, &request, None)
        .await
        .unwrap();
    assert!(
        matches!(again, BulkRun::NotAJob | BulkRun::AlreadyHandled),
        "{again:?}"
    );
    let seen = bulk_jobs::get_bulk_job(&*f.store, &f.admin, &job.id)
        .await
        .unwrap();
    assert_eq!(seen.processed, 1001);
    let limited = f
        .run(
            &f.admin,
            json!({"filter": {"tag": "mass", "limit": "5"}, "action": {"type": "round_robin"}}),
        )
        .await
        .unwrap_err();
    assert!(matches!(&limited, ServiceError::Validation(e) if e.0[0].field == "filter.limit"));
}

async fn reps_reach_only_their_own_and_delete_is_for_admins(
    store: Arc<dyn LeadStore>,
    blobs: Arc<dyn BlobStore>,
) {
    let f = fixture(store, blobs).await;
    let mine = f.leads(2, LeadStatus::New, Some("ana"), &[]).await;
    let theirs = f.leads(2, LeadStatus::New, Some("ben"), &[]).await;
    let mut scoped = f.tenant.clone();
    scoped.settings.reps_see_own_leads_only = true;
    let ana = Principal {
        tenant: f.tenant.id.clone(),
        user: "ana".into(),
        role: Role::Rep,
    };
    let all = [mine.clone(), theirs.clone()].concat();
    let req = json!({"lead_ids": ids_json(&all), "action": {"type": "add_tags", "tags": ["hot"]}});
    let report = f.run_on(&*f.store, &scoped, &ana, req).await.unwrap();
    use EditOutcome::*;
    assert_eq!(outcomes(&report), [Changed, Changed, Skipped, Skipped]);
    assert_eq!(
        report.items[2].reason.as_deref(),
        Some("lead not found"),
        "another rep's lead is not revealed"
    );
    assert!(f.lead(&theirs[0]).await.unwrap().tags.is_empty());
    let by_filter =
        json!({"filter": {"status": "new"}, "action": {"type": "set_status", "status": "contacted"}});
    let report = f.run_on(&*f.store, &scoped, &ana, by_filter).await.unwrap();
    assert_eq!(report.matched, 2, "a rep's filter lists only their leads");

    let delete = json!({"lead_ids": ids_json(&all), "action": {"type": "delete"}});
    let refused = f
        .run_on(&*f.store, &scoped, &ana, delete.clone())
        .await
        .unwrap_err();
    assert!(matches!(refused, ServiceError::Forbidden(_)));
    assert!(f.lead(&mine[0]).await.is_some());
    let deleted = f.run(&f.admin, delete).await.unwrap();
    assert_eq!(outcomes(&deleted), [Changed, Changed, Changed, Changed]);
    for id in &all {
        assert!(f.lead(id).await.is_none());
    }
}

async fn review_cases_spellings_previews_required_fields_and_slots(
    store: Arc<dyn LeadStore>,
    blobs: Arc<dyn BlobStore>,
) {
    let f = fixture(store, blobs).await;
    let ids = f.leads(2, LeadStatus::New, None, &[]).await;
    use EditOutcome::*;
    // One lead, two spellings of its id: edited once.
    let upper = ids[0].to_string().to_uppercase();
    let twice = f
        .run(
            &f.admin,
            json!({"lead_ids": [ids[0].to_string(), upper], "action": {"type": "round_robin"}}),
        )
        .await
        .unwrap();
    assert_eq!(outcomes(&twice), [Changed], "{twice:?}");
    assert_eq!(f.timeline(&ids[0]).await.len(), 1);
    // A round-robin preview of unassigned leads says they would be handed out, and takes no slot.
    let before = f
        .store
        .increment_counter(&f.tenant.id, "assignment", 1)
        .await
        .unwrap();
    let preview = f
        .run(
            &f.admin,
            json!({"filter": {"owner": "unassigned"}, "action": {"type": "round_robin"}, "dry_run": true}),
        )
        .await
        .unwrap();
    assert_eq!(outcomes(&preview), [WouldChange], "{preview:?}");
    // Ids nobody can see take no slot either.
    let ghosts: Vec<String> = (0..5).map(|_| LeadId::new().to_string()).collect();
    let skipped = f
        .run(
            &f.admin,
            json!({"lead_ids": ghosts, "action": {"type": "round_robin"}}),
        )
        .await
        .unwrap();
    assert_eq!(skipped.skipped, 5);
    let after = f
        .store
        .increment_counter(&f.tenant.id, "assignment", 1)
        .await
        .unwrap();
    assert_eq!(after, before + 1, "no round-robin slot was spent");
    // A required field can be changed, not removed: one 422, not a skip per lead.
    let mut def = custom_fields::list_custom_fields(&*f.store, &f.tenant.id)
        .await
        .unwrap()
        .remove(0);
    def.required = true;
    custom_fields::put_custom_field(&*f.store, &f.tenant.id, def)
        .await
        .unwrap();
    for value in [json!(null), json!("  ")] {
        let e = f
            .run(&f.admin, json!({"lead_ids": ids_json(&ids), "action": {"type": "set_custom", "key": "tier", "value": value}}))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, ServiceError::Validation(v) if v.0[0].code == "required"),
            "{e:?}"
        );
    }
    // A filter with no condition, or a condition with no value, reaches nothing.
    for filter in [json!({}), json!({"owner": ""}), json!({"status": " , "})] {
        let e = f
            .run(&f.admin, json!({"filter": filter, "action": {"type": "delete"}}))
            .await
            .unwrap_err();
        assert!(matches!(e, ServiceError::Validation(_)), "{filter}: {e:?}");
    }
    assert!(f.lead(&ids[1]).await.is_some());
}

async fn unqualified_reasons_and_contact_moves(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let mut f = fixture(store, blobs).await;
    let mut settings = f.tenant.settings.clone();
    settings.unqualified_reason_required = true;
    settings.contact_moves_new_to_contacted = true;
    f.tenant = tenants::update_settings(&*f.store, &f.tenant.id, settings)
        .await
        .unwrap();
    let ids = f.leads(3, LeadStatus::New, None, &[]).await;
    let patch = |v: serde_json::Value| serde_json::from_value::<LeadPatch>(v).unwrap();
    let change = |id: LeadId, v: serde_json::Value| {
        let (f, p) = (&f, patch(v));
        async move { patch_lead(&*f.store, &SystemClock, &f.tenant, &f.admin, &id, p, None).await }
    };
    // Required: no reason is one 422 naming the choices; a reason is taken in the list's spelling.
    let e = change(ids[0], json!({"status": "unqualified"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ServiceError::Validation(v) if v.0[0].code == "required" && v.0[0].message.contains("No budget")),
        "{e:?}"
    );
    let l = change(
        ids[0],
        json!({"status": "unqualified", "unqualified_reason": "no BUDGET"}),
    )
    .await
    .unwrap();
    assert_eq!(l.unqualified_reason.as_deref(), Some("No budget"));
    assert_eq!(
        f.timeline(&ids[0]).await[0],
        ActivityKind::StatusChanged {
            from: LeadStatus::New,
            to: LeadStatus::Unqualified,
            reason: Some("No budget".into())
        }
    );
    let e = change(
        ids[1],
        json!({"status": "contacted", "unqualified_reason": "Wrong fit"}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&e, ServiceError::Validation(v) if v.0[0].code == "not_unqualified"),
        "{e:?}"
    );
    // In bulk: the reason is checked once, then carried by each lead.
    let bulk = |v| f.run(&f.admin, v);
    let refused = bulk(
        json!({"lead_ids": ids_json(&ids[1..]), "action": {"type": "set_status", "status": "unqualified"}}),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&refused, ServiceError::Validation(v) if v.0[0].field == "action.reason"),
        "{refused:?}"
    );
    let done = bulk(json!({"lead_ids": [ids[1].to_string()], "action": {"type": "set_status", "status": "unqualified", "reason": "Wrong fit"}}))
        .await
        .unwrap();
    assert_eq!(done.changed, 1, "{done:?}");
    // Filterable, by the list's names.
    let ctx = load_context(&*f.store, &f.tenant).await.unwrap();
    let pairs = vec![("unqualified_reason".to_owned(), "no budget".to_owned())];
    let q = LeadQuery::from_params(&pairs, &ctx).unwrap();
    let page = f.store.list_leads(&f.tenant.id, &q).await.unwrap();
    let listed: Vec<LeadId> = page.items.iter().map(|l| l.id).collect();
    assert_eq!(listed, [ids[0]]);
    // Back to contacted: the reason goes with the status.
    let back = change(ids[0], json!({"status": "contacted"})).await.unwrap();
    assert_eq!(back.unqualified_reason, None);
    // A call logged on a new lead moves it to contacted, in the same write.
    let call =
        serde_json::from_value::<NewActivity>(json!({"type": "call", "direction": "outbound"})).unwrap();
    add_activity(&*f.store, &SystemClock, &f.tenant, &f.admin, &ids[2], call)
        .await
        .unwrap();
    let l = f.lead(&ids[2]).await.unwrap();
    assert_eq!((l.status, l.version), (LeadStatus::Contacted, 2));
    let kinds: Vec<&'static str> = f
        .timeline(&ids[2])
        .await
        .iter()
        .map(|k| match k {
            ActivityKind::StatusChanged { .. } => "status_changed",
            ActivityKind::Call { .. } => "call",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds.len(), 2);
    assert!(
        kinds.contains(&"status_changed") && kinds.contains(&"call"),
        "{kinds:?}"
    );
    let note = serde_json::from_value::<NewActivity>(json!({"type": "note", "body": "later"})).unwrap();
    add_activity(&*f.store, &SystemClock, &f.tenant, &f.admin, &ids[2], note)
        .await
        .unwrap();
    assert_eq!(f.lead(&ids[2]).await.unwrap().status, LeadStatus::Contacted);
}

async fn a_failed_write_changes_nothing_for_that_lead(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let f = fixture(store.clone(), blobs).await;
    let ids = f.leads(6, LeadStatus::New, None, &[]).await;
    let faults = Arc::new(Faults::default());
    let faulty = FaultyStore {
        inner: store,
        faults: faults.clone(),
    };
    faults.arm(Stage::LeadWrite, Fault::FailOnceAfter(2));
    let req = json!({"lead_ids": ids_json(&ids), "action": {"type": "set_status", "status": "qualified"}});
    let report = f.run_on(&faulty, &f.tenant, &f.admin, req).await.unwrap();
    assert_eq!((report.changed, report.failed), (5, 1), "{report:?}");
    let failed = report
        .items
        .iter()
        .find(|i| i.outcome == EditOutcome::Failed)
        .unwrap();
    let id = LeadId::parse(&failed.lead_id).unwrap();
    let l = f.lead(&id).await.unwrap();
    assert_eq!(
        (l.status, l.version),
        (LeadStatus::New, 1),
        "nothing half-written"
    );
    assert!(f.timeline(&id).await.is_empty());
    let changed = report
        .items
        .iter()
        .find(|i| i.outcome == EditOutcome::Changed)
        .unwrap();
    let changed = LeadId::parse(&changed.lead_id).unwrap();
    let entries = f
        .store
        .list_activities(&f.tenant.id, &changed, None, 5)
        .await
        .unwrap();
    assert_eq!(entries.items.len(), 1);
    assert_eq!(entries.items[0].actor, Actor::User { id: "admin".into() });
}

/// A bulk-edit job that dies between pages goes on from its last checkpoint, and the page it
/// died on is not handed out twice: every lead once, each with one `assigned` entry.
async fn a_job_cut_off_mid_way_resumes_without_doing_a_lead_twice(
    store: Arc<dyn LeadStore>,
    blobs: Arc<dyn BlobStore>,
) {
    let f = fixture(store.clone(), blobs).await;
    let ids = f
        .leads(MAX_BULK_EDIT + 1, LeadStatus::New, None, &["spread"])
        .await;
    let req = json!({"filter": {"tag": "spread"}, "action": {"type": "round_robin"}});
    let BulkEditAnswer::Job(job) = f.answer(&*f.store, &f.tenant, &f.admin, req).await.unwrap() else {
        panic!("expected a job");
    };
    let request = bulk_jobs::request_key(&f.tenant.id, &job.id).unwrap();
    let faults = Arc::new(Faults::default());
    let faulty = FaultyStore {
        inner: store,
        faults: faults.clone(),
    };
    // The claim and two checkpoints are written; the third page's checkpoint fails.
    faults.arm(Stage::Job, Fault::FailOnceAfter(3));
    let cut = run_bulk_job(&faulty, &*f.blobs, &SystemClock, &request, None).await;
    assert!(cut.is_err(), "{cut:?}");
    let paused = bulk_jobs::get_bulk_job(&*f.store, &f.admin, &job.id)
        .await
        .unwrap();
    assert_eq!((paused.status, paused.processed), (BulkJobStatus::Pending, 400));
    let said = paused.error.clone().unwrap_or_default();
    assert!(
        said.contains("storage failed") && said.contains("go on"),
        "{said}"
    );
    let run = run_bulk_job(&*f.store, &*f.blobs, &SystemClock, &request, None)
        .await
        .unwrap();
    let BulkRun::Done(done) = run else {
        panic!("{run:?}");
    };
    assert_eq!(done.processed, 1001, "every lead counted once: {done:?}");
    assert_eq!(
        (done.changed, done.unchanged),
        (801, 200),
        "the page the first run died on was done already"
    );
    assert_eq!(done.attempts, 2);
    for id in &ids {
        let l = f.lead(id).await.unwrap();
        assert!(l.owner.is_some());
        let assigned = f
            .timeline(id)
            .await
            .into_iter()
            .filter(|k| matches!(k, ActivityKind::Assigned { .. }))
            .count();
        assert_eq!(assigned, 1, "lead {id} handed out once");
    }
}

/// A run that dies right after its last page (every write after it failing, the lease still
/// held) leaves a job that the next run, once the lease is over, does not start again from the
/// first lead: the last page's write records the job completed.
async fn a_job_that_dies_after_its_last_page_is_not_run_again(
    store: Arc<dyn LeadStore>,
    blobs: Arc<dyn BlobStore>,
) {
    let f = fixture(store.clone(), blobs).await;
    let ids = f.leads(MAX_BULK_EDIT + 1, LeadStatus::New, None, &["last"]).await;
    let req = json!({"filter": {"tag": "last"}, "action": {"type": "round_robin"}});
    let BulkEditAnswer::Job(job) = f.answer(&*f.store, &f.tenant, &f.admin, req).await.unwrap() else {
        panic!("expected a job");
    };
    let request = bulk_jobs::request_key(&f.tenant.id, &job.id).unwrap();
    let faults = Arc::new(Faults::default());
    let faulty = FaultyStore {
        inner: store,
        faults: faults.clone(),
    };
    // The claim and the six pages' writes (200 × 5 + 1 leads) work; every later write fails.
    faults.arm(Stage::Job, Fault::FailAfter(7));
    let _ = run_bulk_job(&faulty, &*f.blobs, &SystemClock, &request, None).await;
    let later = FixedClock::new(chrono::Utc::now() + chrono::Duration::minutes(5));
    let again = run_bulk_job(&*f.store, &*f.blobs, &later, &request, None)
        .await
        .unwrap();
    assert!(
        matches!(again, BulkRun::AlreadyHandled | BulkRun::NotAJob),
        "{again:?}"
    );
    let seen = bulk_jobs::get_bulk_job(&*f.store, &f.admin, &job.id)
        .await
        .unwrap();
    assert_eq!(
        (seen.status, seen.processed),
        (BulkJobStatus::Completed, 1001),
        "{seen:?}"
    );
    for id in ids.iter().step_by(50) {
        let assigned = f
            .timeline(id)
            .await
            .into_iter()
            .filter(|k| matches!(k, ActivityKind::Assigned { .. }))
            .count();
        assert_eq!(assigned, 1, "lead {id} handed out once");
    }
}

store_and_bucket_cases!(
    when_a_bulk_job_dies_after_its_last_page_should_not_run_again => a_job_that_dies_after_its_last_page_is_not_run_again,
    when_a_bulk_job_is_cut_off_should_resume_and_hand_out_each_lead_once => a_job_cut_off_mid_way_resumes_without_doing_a_lead_twice,
    when_assigning_in_bulk_should_preview_then_change_each_lead_with_its_entry => assign_by_name_with_dry_run_and_per_lead_results,
    when_editing_status_tags_source_and_fields_in_bulk_should_report_each_lead => status_tags_source_and_custom,
    when_a_filter_names_reps_and_values_should_edit_those_and_run_a_job_past_the_bound => filter_by_names_and_values_and_the_bound,
    when_a_rep_edits_in_bulk_should_reach_only_their_own_leads_and_not_delete => reps_reach_only_their_own_and_delete_is_for_admins,
    when_one_write_fails_should_leave_that_lead_untouched_and_change_the_rest => a_failed_write_changes_nothing_for_that_lead,
    when_ids_repeat_previews_hand_out_or_filters_are_empty_should_do_what_was_meant => review_cases_spellings_previews_required_fields_and_slots,
    when_leads_are_unqualified_should_take_a_listed_reason_and_calls_should_move_new_leads => unqualified_reasons_and_contact_moves,
);
