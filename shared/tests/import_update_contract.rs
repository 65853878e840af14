//! Import with `duplicates: update` on every store/bucket pair: rows match stored leads by the
//! API's rule (email, then phone), an ambiguous match writes nothing, converted leads are never
//! overwritten, status cells follow the status machine, an empty cell never clears a value,
//! each change has its `imported` timeline entry, and an export re-imported changes nothing.

use crate::common;

use leadgate_core::domain::activity::ActivityKind;
use leadgate_core::domain::ids::LeadId;
use leadgate_core::domain::lead::Lead;
use leadgate_core::domain::query::LeadQuery;
use leadgate_core::domain::status::LeadStatus;
use leadgate_core::domain::tenant::Tenant;
use leadgate_core::export::columns::ExportColumns;
use leadgate_core::import::{DuplicatePolicy, ImportMode, ImportOptions};
use leadgate_core::ports::blob::{BlobKey, BlobStore};
use leadgate_core::ports::store::LeadStore;
use leadgate_core::services::imports::pipeline::ImportReport;
use leadgate_core::services::leads::load_context;
use leadgate_core::services::tenants;
use std::sync::Arc;
use tokio::io::AsyncReadExt;

struct Env {
    store: Arc<dyn LeadStore>,
    blobs: Arc<dyn BlobStore>,
    tenant: Tenant,
    scratch: tempfile::TempDir,
    files: std::sync::atomic::AtomicU32,
}

impl Env {
    async fn new(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) -> Self {
        let id = common::tenant("upd");
        let (tenant, _) = tenants::ensure_tenant(&*store, &id, "Upd", chrono::Utc::now())
            .await
            .unwrap();
        Env {
            store,
            blobs,
            tenant,
            scratch: tempfile::tempdir().unwrap(),
            files: Default::default(),
        }
    }

    async fn import(&self, body: impl Into<Vec<u8>>, duplicates: DuplicatePolicy) -> ImportReport {
        let n = self.files.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let options = ImportOptions {
            mode: ImportMode::ValidRows,
            duplicates,
            default_source: None,
            ..Default::default()
        };
        common::import_at_once(
            &*self.store,
            &*self.blobs,
            &self.tenant,
            self.scratch.path(),
            &format!("f{n}.csv"),
            body.into(),
            options,
        )
        .await
    }

    async fn leads(&self) -> Vec<Lead> {
        let q = LeadQuery {
            limit: 500,
            ..Default::default()
        };
        let mut all = self.store.list_leads(&self.tenant.id, &q).await.unwrap().items;
        all.sort_by_key(|l| l.id);
        all
    }

    async fn by_name(&self, name: &str) -> Lead {
        self.leads()
            .await
            .into_iter()
            .find(|l| l.name == name)
            .unwrap_or_else(|| panic!("no lead named {name}"))
    }

    async fn timeline(&self, id: &LeadId) -> Vec<ActivityKind> {
        let page = self
            .store
            .list_activities(&self.tenant.id, id, None, 50)
            .await
            .unwrap();
        page.items.into_iter().map(|a| a.kind).collect()
    }

    async fn report_file(&self, key: &str) -> String {
        let mut r = self.blobs.get(&BlobKey::parse(key).unwrap()).await.unwrap();
        let mut s = String::new();
        r.read_to_string(&mut s).await.unwrap();
        s
    }

    /// The leads as the export writes them (its columns, its cell texts).
    async fn export_csv(&self) -> Vec<u8> {
        let ctx = load_context(&*self.store, &self.tenant).await.unwrap();
        let cols = ExportColumns::resolve(&ctx, None).unwrap();
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(cols.headers()).unwrap();
        for l in self.leads().await {
            w.write_record(cols.cells(&l, &ctx)).unwrap();
        }
        w.into_inner().unwrap()
    }
}

const SEED: &str = "\
Name,Email,Phone,Lead Source,Company
Ann Same,same@x.example,,Referral,Alpha
Ann Twin,same@x.example,,Referral,Beta
Phone Only,,+44 20 7946 0002,Referral,
Email Only,e@x.example,,Referral,
Both Ways,both@x.example,+44 20 7946 0003,Referral,Gamma
Conv Erted,conv@x.example,,Referral,Delta
";

async fn seeded(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) -> Env {
    let e = Env::new(store, blobs).await;
    let r = e.import(SEED, DuplicatePolicy::Create).await;
    assert_eq!(r.created, 6, "{r:?}");
    // Conversion is its own use case; here only the status matters.
    let mut conv = e.by_name("Conv Erted").await;
    conv.status = LeadStatus::Converted;
    e.store.update_lead(&conv).await.unwrap();
    e
}

async fn created_leads_have_their_entry(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let e = seeded(store, blobs).await;
    for l in e.leads().await {
        let kinds = e.timeline(&l.id).await;
        assert!(
            kinds
                .iter()
                .any(|k| matches!(k, ActivityKind::Imported { created: true, .. })),
            "{}: {kinds:?}",
            l.name
        );
    }
}

async fn export_reimport_changes_nothing(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let e = seeded(store, blobs).await;
    let before = e.leads().await;
    let r = e.import(e.export_csv().await, DuplicatePolicy::Update).await;
    assert_eq!((r.created, r.updated, r.error_rows), (0, 0, 0), "{r:?}");
    // Email-only, phone-only, both, and the converted lead come back as themselves.
    assert_eq!(r.unchanged, 4, "{r:?}");
    // The two leads sharing an email: one row is ambiguous, the other repeats it in the file.
    assert_eq!((r.ambiguous, r.skipped), (1, 1), "{r:?}");
    assert_eq!(e.leads().await, before, "no lead changed, not even its version");
    // Skip and a second update say the same.
    let skip = e.import(e.export_csv().await, DuplicatePolicy::Skip).await;
    assert_eq!(skip.created, 0, "{skip:?}");
    assert_eq!(e.leads().await, before);
}

async fn update_rows_follow_the_api_rules(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let e = seeded(store, blobs).await;
    let same: Vec<Lead> = e
        .leads()
        .await
        .into_iter()
        .filter(|l| l.name.starts_with("Ann"))
        .collect();
    let conv_before = e.by_name("Conv Erted").await;
    let file = "\
Name,Email,Phone,Lead Status,Lead Source,Company
,same@x.example,,,,Hijack
,,+44 20 7946 0002,Qualified,,NewCo
,conv@x.example,,,,Overwrite
,e@x.example,,Converted,,
Both Renamed,both@x.example,,,,
,nomatch@x.example,,,,
";
    let r = e.import(file, DuplicatePolicy::Update).await;
    assert_eq!(
        (r.updated, r.ambiguous, r.skipped, r.error_rows, r.created),
        (2, 1, 1, 2, 0),
        "{r:?}"
    );

    // Ambiguous: neither lead sharing the email changed, and the report names both.
    for l in &same {
        let now = e.store.get_lead(&e.tenant.id, &l.id).await.unwrap().unwrap();
        assert_eq!(&now, l, "an ambiguous row writes nothing");
    }
    let dups = e.report_file(&r.duplicates_csv).await;
    let both_ids = format!("{} {}", same[0].id, same[1].id);
    assert!(
        dups.contains(&format!("2,email,same@x.example,{both_ids},ambiguous")),
        "{dups}"
    );

    // Phone-only: matched by phone, no name or source needed, status moved by the machine.
    let phone = e.by_name("Phone Only").await;
    assert_eq!(phone.status, LeadStatus::Qualified);
    assert_eq!(phone.company.as_deref(), Some("NewCo"));
    let kinds = e.timeline(&phone.id).await;
    assert!(
        kinds.iter().any(|k| matches!(k,
            ActivityKind::Imported { created: false, fields, .. }
                if fields.contains(&"status".to_string()) && fields.contains(&"company".to_string()))),
        "{kinds:?}"
    );
    assert!(
        kinds.iter().any(|k| matches!(
            k,
            ActivityKind::StatusChanged {
                from: LeadStatus::New,
                to: LeadStatus::Qualified,
                reason: None
            }
        )),
        "{kinds:?}"
    );

    // Converted: never overwritten, and said so.
    assert_eq!(e.by_name("Conv Erted").await, conv_before);
    assert!(
        dups.contains(&format!("4,email,conv@x.example,{},skip", conv_before.id)),
        "{dups}"
    );

    // An illegal status move is a row error naming the allowed ones; nothing changed.
    let errors = e.report_file(&r.errors_csv).await;
    assert!(errors.contains("contacted, qualified, unqualified"), "{errors}");
    assert_eq!(e.by_name("Email Only").await.status, LeadStatus::New);

    // Empty cells never clear: the phone stays, the company stays, the name changes.
    let both = e.by_name("Both Renamed").await;
    assert_eq!(
        both.phone.as_ref().map(|p| p.to_string()).as_deref(),
        Some("+442079460003")
    );
    assert_eq!(both.company.as_deref(), Some("Gamma"));

    // A row that matches nothing is a new lead, and must be a valid one.
    assert!(errors.contains("name is required"), "{errors}");
    assert_eq!(e.leads().await.len(), 6);

    // Two rows reaching one lead by different contacts: the second repeats the first.
    let twice = e
        .import(
            "Email,Phone,Company\nboth@x.example,,First Co\n,+44 20 7946 0003,Second Co\n",
            DuplicatePolicy::Update,
        )
        .await;
    assert_eq!((twice.updated, twice.skipped), (1, 1), "{twice:?}");
    assert_eq!(
        e.by_name("Both Renamed").await.company.as_deref(),
        Some("First Co")
    );
    let dups = e.report_file(&twice.duplicates_csv).await;
    assert!(dups.contains("3,phone,+442079460003,line 2,skip"), "{dups}");

    // As in PATCH, an update may not give the lead another lead's phone.
    let email_only = e.by_name("Email Only").await;
    let taken = e
        .import(
            "Email,Phone
e@x.example,+44 20 7946 0002
",
            DuplicatePolicy::Update,
        )
        .await;
    assert_eq!((taken.updated, taken.error_rows), (0, 1), "{taken:?}");
    let why = e.report_file(&taken.errors_csv).await;
    assert!(
        why.contains(&format!("same phone as existing lead {}", phone.id)),
        "{why}"
    );
    assert_eq!(e.by_name("Email Only").await, email_only);
}

async fn undo_reverts_what_is_still_the_jobs(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    use leadgate_core::ports::clock::SystemClock;
    use leadgate_core::services::import_undo::undo_import;
    use leadgate_core::services::imports::ImportJobStatus;
    let e = Env::new(store, blobs).await;
    let seed = e.import(SEED, DuplicatePolicy::Create).await;
    // The job's leads are found by the filter, and only they.
    let q = LeadQuery {
        import_job: Some(seed.job_id.clone()),
        limit: 500,
        ..Default::default()
    };
    assert_eq!(e.store.list_leads(&e.tenant.id, &q).await.unwrap().items.len(), 6);
    // A rep works one of them: it is no longer the import's to remove.
    let mut worked = e.by_name("Email Only").await;
    worked.company = Some("Called, interested".into());
    let worked = e.store.update_lead(&worked).await.unwrap();

    let before_update = e.leads().await;
    let upd = e
        .import(
            "Name,Email,Company
,both@x.example,Renamed Co
,e@x.example,Overwritten
",
            DuplicatePolicy::Update,
        )
        .await;
    assert_eq!(upd.updated, 2, "{upd:?}");
    let later = e.by_name("Email Only").await;
    let mut edited = later.clone();
    edited.position = Some("CTO".into());
    e.store.update_lead(&edited).await.unwrap();

    let undone = undo_import(&*e.store, &SystemClock, &e.tenant.id, &upd.job_id, "admin")
        .await
        .unwrap();
    assert_eq!(undone.status, ImportJobStatus::Undone);
    let summary = undone.undo.unwrap();
    assert_eq!((summary.reverted, summary.deleted), (1, 0), "{summary:?}");
    assert_eq!(summary.kept_changed, [later.id], "changed after the update: kept");
    let both = e.by_name("Both Ways").await;
    let was = before_update.iter().find(|l| l.id == both.id).unwrap();
    assert_eq!(both.company, was.company, "the previous value is back");
    assert!(
        e.timeline(&both.id)
            .await
            .iter()
            .any(|k| matches!(k, ActivityKind::ImportUndone { .. }))
    );
    // Twice is refused.
    assert!(
        undo_import(&*e.store, &SystemClock, &e.tenant.id, &upd.job_id, "admin")
            .await
            .is_err()
    );

    let seeded = undo_import(&*e.store, &SystemClock, &e.tenant.id, &seed.job_id, "admin")
        .await
        .unwrap()
        .undo
        .unwrap();
    // Email Only was worked, Both Ways was updated and reverted (a later version): both kept.
    assert_eq!(seeded.deleted, 4, "{seeded:?}");
    let mut kept: Vec<LeadId> = e.leads().await.into_iter().map(|l| l.id).collect();
    kept.sort();
    let mut expected = vec![worked.id, both.id];
    expected.sort();
    assert_eq!(kept, expected);
}

store_and_bucket_cases!(
    when_an_import_creates_leads_should_write_each_one_an_imported_entry => created_leads_have_their_entry,
    when_an_export_is_reimported_with_update_should_change_nothing => export_reimport_changes_nothing,
    when_an_import_is_undone_should_revert_only_what_is_still_its_own => undo_reverts_what_is_still_the_jobs,
    when_update_rows_match_stored_leads_should_follow_the_api_rules => update_rows_follow_the_api_rules,
);
