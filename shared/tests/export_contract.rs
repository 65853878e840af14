//! Export on every store/bucket pair (SQLite + folder, DynamoDB Local + moto): filtered CSV and
//! XLSX read back with the csv crate and calamine and compared to the store, the re-import
//! round trip, rep and tenant scoping, one write per job, and formula neutralizing.

use crate::common;

use bytes::Bytes;
use leadgate_core::cells::{is_dangerous, neutralize};
use leadgate_core::domain::custom_field::{CustomFieldDef, CustomFieldType};
use leadgate_core::domain::lead::Tag;
use leadgate_core::domain::query::{LeadQuery, OwnerFilter};
use leadgate_core::domain::rep::Rep;
use leadgate_core::domain::tenant::{Principal, Role, Tenant};
use leadgate_core::domain::{Lead, LeadId, LeadStatus, RepId};
use leadgate_core::export::ExportFormat;
use leadgate_core::import::{DuplicatePolicy, ImportMode, ImportOptions};
use leadgate_core::ports::blob::{
    BlobError, BlobKey, BlobMeta, BlobPage, BlobReader, BlobStore, MultipartUpload, UploadTerms,
};
use leadgate_core::ports::clock::SystemClock;
use leadgate_core::ports::store::LeadStore;
use leadgate_core::services::ServiceError;
use leadgate_core::services::custom_fields::put_custom_field;
use leadgate_core::services::exports::{
    ExportJob, ExportRun, ExportStatus, NewExport, create_export_job, get_export_job, run_export,
};
use leadgate_core::services::imports::pipeline::ImportReport;
use leadgate_core::services::reps::put_rep;
use leadgate_core::services::tenants;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// How many leads the seed makes: more than one store page (200), so paging is exercised.
const SEEDED: usize = 230;

struct Env {
    store: Arc<dyn LeadStore>,
    blobs: Arc<dyn BlobStore>,
    tenant: Tenant,
    scratch: tempfile::TempDir,
}

fn admin(t: &Tenant) -> Principal {
    Principal {
        tenant: t.id.clone(),
        user: "admin".into(),
        role: Role::Admin,
    }
}

fn rep(t: &Tenant, id: &str) -> Principal {
    Principal {
        tenant: t.id.clone(),
        user: id.into(),
        role: Role::Rep,
    }
}

fn filters(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
}

impl Env {
    async fn new(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) -> Self {
        let id = common::tenant("exp");
        let (tenant, _) = tenants::ensure_tenant(&*store, &id, "Exp", chrono::Utc::now())
            .await
            .unwrap();
        Env {
            store,
            blobs,
            tenant,
            scratch: tempfile::tempdir().unwrap(),
        }
    }

    /// Reps, custom fields of every type, and `SEEDED` leads imported from a CSV, including
    /// names, phones and text that look like formulas; one lead is then converted.
    async fn seed(&self) {
        let t = &self.tenant.id;
        for r in ["ana", "ben"] {
            put_rep(
                &*self.store,
                t,
                Rep {
                    id: RepId::parse(r).unwrap(),
                    name: r.to_uppercase(),
                    weight: 1,
                    active: true,
                    available: true,
                },
            )
            .await
            .unwrap();
        }
        for (key, label, field_type, options) in [
            (
                "industry",
                "Industry",
                CustomFieldType::Select,
                vec!["Retail", "Software"],
            ),
            ("employees", "Employees", CustomFieldType::Number, vec![]),
            ("renewal", "Renewal", CustomFieldType::Date, vec![]),
            ("newsletter", "Newsletter", CustomFieldType::Boolean, vec![]),
            ("notes", "Notes", CustomFieldType::Text, vec![]),
        ] {
            put_custom_field(
                &*self.store,
                t,
                CustomFieldDef {
                    key: key.into(),
                    label: label.into(),
                    field_type,
                    required: false,
                    options: options.into_iter().map(String::from).collect(),
                },
            )
            .await
            .unwrap();
        }
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "Name",
            "Email",
            "Phone",
            "Company",
            "City",
            "Lead Source",
            "Lead Status",
            "Owner",
            "Tags",
            "Industry",
            "Employees",
            "Renewal",
            "Newsletter",
            "Notes",
        ])
        .unwrap();
        for i in 0..SEEDED {
            let name = match i % 10 {
                0 => format!("=HYPERLINK(\"http://evil.example\",\"{i}\")"),
                1 => format!("@SUM(1+{i})"),
                2 => format!("Zoë Ångström {i}"),
                _ => format!("Person {i}"),
            };
            let status = ["new", "contacted", "qualified"][i % 3];
            let owner = ["ana", "ben"][i % 2];
            let tags = if i % 4 == 0 { "vip; eu" } else { "eu" };
            let employees = if i % 5 == 0 {
                "-3.25".to_string()
            } else {
                (i * 7).to_string()
            };
            w.write_record([
                name.as_str(),
                &format!("lead{i}@export.example"),
                &format!("+49 30 9018{i:04}"),
                &format!("Company {i}, Ltd."),
                if i % 7 == 0 { "" } else { "Köln" },
                "Referral",
                status,
                owner,
                tags,
                ["Retail", "Software"][i % 2],
                &employees,
                "2027-03-01",
                if i % 2 == 0 { "true" } else { "false" },
                if i % 4 == 0 {
                    "+1 call back\nsecond line"
                } else {
                    "quiet"
                },
            ])
            .unwrap();
        }
        let r = self
            .import("seed.csv", w.into_inner().unwrap(), ImportOptions::default())
            .await;
        assert_eq!((r.created, r.error_rows), (SEEDED as u64, 0), "{r:?}");
        // A converted lead, as conversion leaves it.
        let first = self.all_leads().await.into_iter().next().unwrap();
        let mut converted = first.clone();
        converted.status = LeadStatus::Converted;
        self.store.update_lead(&converted).await.unwrap();
    }

    async fn import(&self, name: &str, body: Vec<u8>, options: ImportOptions) -> ImportReport {
        common::import_at_once(
            &*self.store,
            &*self.blobs,
            &self.tenant,
            self.scratch.path(),
            name,
            body,
            options,
        )
        .await
    }

    /// Every lead matching `q`, read from the store directly, by id.
    async fn query(&self, mut q: LeadQuery) -> Vec<Lead> {
        q.limit = 200;
        let mut out = Vec::new();
        loop {
            let page = self.store.list_leads(&self.tenant.id, &q).await.unwrap();
            out.extend(page.items);
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => break,
            }
        }
        out.sort_by_key(|l| l.id);
        out
    }

    async fn all_leads(&self) -> Vec<Lead> {
        self.query(LeadQuery::default()).await
    }

    /// Creates the job and runs it as its trigger would.
    async fn export(&self, who: &Principal, new: NewExport) -> ExportJob {
        let job = create_export_job(
            &*self.store,
            &*self.blobs,
            &self.tenant,
            who,
            new,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
        let request =
            BlobKey::parse(&format!("exports/requests/{}/{}.json", self.tenant.id, job.id)).unwrap();
        assert!(
            self.blobs.head(&request).await.unwrap().is_some(),
            "the request object is written"
        );
        match run_export(
            &*self.store,
            &*self.blobs,
            &SystemClock,
            &request,
            self.scratch.path(),
        )
        .await
        .unwrap()
        {
            ExportRun::Done(done) => {
                assert_eq!(done.status, ExportStatus::Completed);
                *done
            }
            other => panic!("the export runs, got {other:?}"),
        }
    }

    async fn file(&self, key: &str) -> Vec<u8> {
        let mut r = self.blobs.get(&BlobKey::parse(key).unwrap()).await.unwrap();
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        out
    }

    /// The export's rows (header first) as text cells.
    async fn rows(&self, job: &ExportJob) -> Vec<Vec<String>> {
        let bytes = self.file(&job.key).await;
        match job.format {
            ExportFormat::Csv => read_csv(&bytes),
            ExportFormat::Xlsx => read_xlsx(bytes),
        }
    }
}

fn read_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    let body = bytes
        .strip_prefix("\u{feff}".as_bytes())
        .expect("a UTF-8 BOM for Excel");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body)
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect()
}

fn read_xlsx(bytes: Vec<u8>) -> Vec<Vec<String>> {
    use calamine::{Data, Reader, Xlsx};
    let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let range = wb.worksheet_range("Leads").unwrap();
    range
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::String(s) => s.clone(),
                    Data::Empty => String::new(),
                    other => panic!("every exported cell is text, got {other:?}"),
                })
                .collect()
        })
        .collect()
}

fn column(rows: &[Vec<String>], header: &str) -> usize {
    rows[0]
        .iter()
        .position(|h| h == header)
        .unwrap_or_else(|| panic!("no column {header} in {:?}", rows[0]))
}

async fn filtered_export_matches_the_store(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let e = Env::new(store, blobs).await;
    e.seed().await;
    let expected = e
        .query(LeadQuery {
            status: vec![LeadStatus::Qualified],
            tags: vec![Tag::parse("vip").unwrap()],
            ..Default::default()
        })
        .await;
    assert!(
        expected.len() > 5,
        "the filter keeps some leads: {}",
        expected.len()
    );
    for format in [ExportFormat::Csv, ExportFormat::Xlsx] {
        let job = e
            .export(
                &admin(&e.tenant),
                NewExport {
                    format,
                    filters: filters(&[("status", "qualified"), ("tag", "vip")]),
                    columns: None,
                },
            )
            .await;
        assert!(job.key.ends_with(&format!("{}.{}", job.id, format.extension())));
        let rows = e.rows(&job).await;
        assert_eq!(job.rows, Some(expected.len() as u64), "{format:?}");
        assert_eq!(rows.len() - 1, expected.len(), "{format:?}");
        assert_eq!(rows[0][..3], ["Name", "Email", "Phone"]);
        for custom in ["Industry", "Employees", "Renewal", "Newsletter", "Notes"] {
            assert!(rows[0].iter().any(|h| h == custom), "{custom} in {:?}", rows[0]);
        }
        let (name, email, phone, status, tags, owner) = (
            column(&rows, "Name"),
            column(&rows, "Email"),
            column(&rows, "Phone"),
            column(&rows, "Lead Status"),
            column(&rows, "Tags"),
            column(&rows, "Owner"),
        );
        let (employees, notes, newsletter) = (
            column(&rows, "Employees"),
            column(&rows, "Notes"),
            column(&rows, "Newsletter"),
        );
        let by_email: BTreeMap<&str, &Vec<String>> =
            rows[1..].iter().map(|r| (r[email].as_str(), r)).collect();
        for lead in &expected {
            let row = by_email
                .get(lead.email.as_ref().unwrap().as_str())
                .unwrap_or_else(|| panic!("{format:?}: {} is exported", lead.id));
            assert_eq!(row[name], neutralize(&lead.name), "{format:?}");
            assert_eq!(
                row[phone],
                format!("'{}", lead.phone.as_ref().unwrap()),
                "{format:?}"
            );
            assert_eq!(row[status], "qualified");
            assert_eq!(row[tags], "eu; vip");
            assert_eq!(row[owner], lead.owner.as_ref().unwrap().as_str());
            let n = match lead.custom.get("employees") {
                Some(leadgate_core::domain::custom_field::CustomValue::Number(n)) => *n,
                other => panic!("{other:?}"),
            };
            assert_eq!(
                leadgate_core::cells::restore(&row[employees])
                    .parse::<f64>()
                    .unwrap(),
                n
            );
            assert!(["true", "false"].contains(&row[newsletter].as_str()));
            assert!(!row[notes].is_empty());
        }
        for row in &rows {
            for cell in row {
                assert!(!is_dangerous(cell), "{format:?}: a live formula cell {cell:?}");
            }
        }
        assert!(
            rows.iter().any(|r| r[name].starts_with("'=HYPERLINK")),
            "{format:?}"
        );
        assert!(
            rows.iter()
                .any(|r| r[notes].starts_with("'+1 call back\nsecond line")),
            "{format:?} {:?}",
            rows.iter().map(|r| r[notes].clone()).collect::<Vec<_>>()
        );
    }
}

async fn reimport_changes_nothing(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let e = Env::new(store, blobs).await;
    e.seed().await;
    let before = e.all_leads().await;
    assert_eq!(before.len(), SEEDED);
    assert!(before.iter().any(|l| l.status == LeadStatus::Converted));
    for format in [ExportFormat::Csv, ExportFormat::Xlsx] {
        let job = e
            .export(
                &admin(&e.tenant),
                NewExport {
                    format,
                    filters: BTreeMap::new(),
                    columns: None,
                },
            )
            .await;
        assert_eq!(job.rows, Some(SEEDED as u64));
        let body = e.file(&job.key).await;
        let report = e
            .import(
                &format!("again.{}", format.extension()),
                body,
                ImportOptions {
                    mode: ImportMode::AllOrNothing,
                    duplicates: DuplicatePolicy::Update,
                    default_source: None,
                    ..Default::default()
                },
            )
            .await;
        assert_eq!(report.unknown_columns, Vec::<String>::new(), "{format:?}");
        assert_eq!(
            (
                report.rows,
                report.error_rows,
                report.created,
                report.updated,
                report.unchanged
            ),
            (SEEDED as u64, 0, 0, 0, SEEDED as u64),
            "{format:?}: {report:?}"
        );
        assert_eq!(e.all_leads().await, before, "{format:?}: the store changed");
    }
}

async fn scoped_to_the_rep_and_the_tenant(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let e = Env::new(store.clone(), blobs.clone()).await;
    e.seed().await;
    let other = Env::new(store, blobs).await;
    other
        .import(
            "theirs.csv",
            b"Name,Email,Lead Source\nTheir Lead,theirs@other.example,Referral\n".to_vec(),
            ImportOptions::default(),
        )
        .await;

    // A rep limited to their own leads exports only those, whatever the filters say.
    let mut settings = e.tenant.settings.clone();
    settings.reps_see_own_leads_only = true;
    tenants::update_settings(&*e.store, &e.tenant.id, settings)
        .await
        .unwrap();
    let ana = rep(&e.tenant, "ana");
    let job = e
        .export(
            &ana,
            NewExport {
                format: ExportFormat::Csv,
                filters: filters(&[("owner", "ben")]),
                columns: Some(vec!["email".into(), "Owner".into()]),
            },
        )
        .await;
    assert_eq!(job.rows, Some(0), "ana asked for ben's leads");
    let job = e
        .export(
            &ana,
            NewExport {
                format: ExportFormat::Csv,
                filters: BTreeMap::new(),
                columns: Some(vec![
                    "email".into(),
                    "Owner".into(),
                    "owner name".into(),
                    "ID".into(),
                    "Last Activity".into(),
                ]),
            },
        )
        .await;
    let rows = e.rows(&job).await;
    assert_eq!(rows[0], ["Email", "Owner", "Owner Name", "ID", "Last Activity"]);
    for r in &rows[1..] {
        assert_eq!(r[2], "ANA", "the owner's display name beside the id");
        let id = LeadId::parse(&r[3]).unwrap();
        let lead = e.store.get_lead(&e.tenant.id, &id).await.unwrap().unwrap();
        assert_eq!(
            r[4],
            lead.last_activity_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
    }
    let anas = e
        .query(LeadQuery {
            owner: vec![OwnerFilter::Rep(RepId::parse("ana").unwrap())],
            ..Default::default()
        })
        .await;
    assert_eq!(rows.len() - 1, anas.len());
    assert!(rows[1..].iter().all(|r| r[1] == "ana"));
    // Ben cannot read ana's job; an admin can; another tenant cannot.
    let not_found = |r: Result<ExportJob, ServiceError>| matches!(r, Err(ServiceError::NotFound { .. }));
    assert!(not_found(
        get_export_job(&*e.store, &rep(&e.tenant, "ben"), &job.id).await
    ));
    assert!(
        get_export_job(&*e.store, &admin(&e.tenant), &job.id)
            .await
            .is_ok()
    );
    assert!(not_found(
        get_export_job(&*e.store, &admin(&other.tenant), &job.id).await
    ));

    // The other tenant's export holds its own lead only, and this tenant's none.
    let theirs = other
        .export(
            &admin(&other.tenant),
            NewExport {
                format: ExportFormat::Xlsx,
                filters: BTreeMap::new(),
                columns: None,
            },
        )
        .await;
    let rows = other.rows(&theirs).await;
    let email = column(&rows, "Email");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][email], "theirs@other.example");
    // A request key naming one tenant's job under another tenant's prefix names no job.
    let forged = BlobKey::parse(&format!("exports/requests/{}/{}.json", other.tenant.id, job.id)).unwrap();
    assert_eq!(
        run_export(
            &*other.store,
            &*other.blobs,
            &SystemClock,
            &forged,
            other.scratch.path()
        )
        .await
        .unwrap(),
        ExportRun::NotAJob
    );
}

async fn bad_requests_are_refused(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let e = Env::new(store, blobs).await;
    e.seed().await;
    for (f, cols, says) in [
        (filters(&[("limit", "5")]), None, "limit and cursor do not apply"),
        (filters(&[("colour", "red")]), None, "unknown query parameter"),
        (filters(&[("status", "sleeping")]), None, "status"),
        (filters(&[("cf.nope", "1")]), None, "no custom field 'nope'"),
        (
            BTreeMap::new(),
            Some(vec!["Email".to_string(), "Shoe Size".into()]),
            "valid columns: Name, Email",
        ),
        (
            BTreeMap::new(),
            Some(vec!["Email".to_string(), "email".into()]),
            "listed twice",
        ),
    ] {
        let err = create_export_job(
            &*e.store,
            &*e.blobs,
            &e.tenant,
            &admin(&e.tenant),
            NewExport {
                format: ExportFormat::Csv,
                filters: f,
                columns: cols,
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ServiceError::Validation(_)), "{err:?}");
        assert!(format!("{err}").contains(says), "{err} should say {says}");
    }
    let requests = e
        .blobs
        .list(&format!("exports/requests/{}/", e.tenant.id), None, 10)
        .await
        .unwrap();
    assert!(requests.items.is_empty(), "no request for a refused export");
}

/// Counts multipart uploads started under `exports/`.
struct CountingBlobs {
    inner: Arc<dyn BlobStore>,
    uploads: AtomicUsize,
}

#[async_trait::async_trait]
impl BlobStore for CountingBlobs {
    async fn put(&self, key: &BlobKey, body: Bytes, content_type: &str) -> Result<BlobMeta, BlobError> {
        self.inner.put(key, body, content_type).await
    }
    async fn get(&self, key: &BlobKey) -> Result<BlobReader, BlobError> {
        self.inner.get(key).await
    }
    async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, BlobError> {
        self.inner.head(key).await
    }
    async fn start_multipart(
        &self,
        key: &BlobKey,
        content_type: &str,
    ) -> Result<Box<dyn MultipartUpload>, BlobError> {
        if key.as_str().starts_with("exports/") {
            self.uploads.fetch_add(1, Ordering::SeqCst);
        }
        self.inner.start_multipart(key, content_type).await
    }
    async fn presign_get(
        &self,
        key: &BlobKey,
        ttl: Duration,
        serve: leadgate_core::ports::blob::ServeAs<'_>,
    ) -> Result<String, BlobError> {
        self.inner.presign_get(key, ttl, serve).await
    }
    async fn presign_put(
        &self,
        key: &BlobKey,
        ttl: Duration,
        terms: UploadTerms<'_>,
    ) -> Result<String, BlobError> {
        self.inner.presign_put(key, ttl, terms).await
    }
    async fn list(&self, prefix: &str, after: Option<&str>, limit: u32) -> Result<BlobPage, BlobError> {
        self.inner.list(prefix, after, limit).await
    }
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        self.inner.delete(key).await
    }
}

async fn repeated_triggers_write_once(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let counting = Arc::new(CountingBlobs {
        inner: blobs,
        uploads: AtomicUsize::new(0),
    });
    let e = Arc::new(Env::new(store, counting.clone()).await);
    e.seed().await;
    let job = create_export_job(
        &*e.store,
        &*e.blobs,
        &e.tenant,
        &admin(&e.tenant),
        NewExport {
            format: ExportFormat::Csv,
            filters: BTreeMap::new(),
            columns: None,
        },
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let request = BlobKey::parse(&format!("exports/requests/{}/{}.json", e.tenant.id, job.id)).unwrap();
    // Five deliveries at once, then five more after.
    let runs: Vec<_> = (0..5)
        .map(|_| {
            let (e, request) = (e.clone(), request.clone());
            tokio::spawn(async move {
                run_export(&*e.store, &*e.blobs, &SystemClock, &request, e.scratch.path())
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for r in runs {
        outcomes.push(r.await.unwrap());
    }
    for _ in 0..5 {
        outcomes.push(
            run_export(&*e.store, &*e.blobs, &SystemClock, &request, e.scratch.path())
                .await
                .unwrap(),
        );
    }
    let done = outcomes
        .iter()
        .filter(|o| matches!(o, ExportRun::Done(_)))
        .count();
    assert_eq!(done, 1, "{outcomes:?}");
    assert!(
        outcomes.iter().all(|o| matches!(
            o,
            ExportRun::Done(_) | ExportRun::InProgress | ExportRun::AlreadyHandled
        )),
        "{outcomes:?}"
    );
    assert_eq!(
        counting.uploads.load(Ordering::SeqCst),
        1,
        "the export object is written once"
    );
    let job = get_export_job(&*e.store, &admin(&e.tenant), &job.id)
        .await
        .unwrap();
    assert_eq!(
        (job.status, job.rows, job.attempts),
        (ExportStatus::Completed, Some(SEEDED as u64), 1)
    );
    assert!(
        e.blobs.head(&request).await.unwrap().is_none(),
        "the handled request is removed"
    );
}

store_and_bucket_cases!(
    when_leads_are_exported_with_filters_should_match_the_store_in_csv_and_xlsx => filtered_export_matches_the_store,
    when_an_export_is_reimported_with_update_should_change_nothing => reimport_changes_nothing,
    when_a_rep_or_another_tenant_exports_should_see_only_their_leads => scoped_to_the_rep_and_the_tenant,
    when_an_export_request_is_bad_should_refuse_it_and_start_nothing => bad_requests_are_refused,
    when_the_trigger_arrives_many_times_should_write_the_export_once => repeated_triggers_write_once,
);

mod property {
    //! Any cell text, through both writers and back through the readers: never a live
    //! formula, and restored exactly by what the import does to a cell.
    use super::*;
    use leadgate_core::cells::restore;
    use leadgate_core::services::exports::writer::ExportWriter;
    use proptest::prelude::*;

    fn cell() -> impl Strategy<Value = String> {
        prop_oneof![
            "[=+\\-@\t\r\n']{1,3}[a-zA-Z0-9 (),\"]{0,10}",
            "[a-zA-Z0-9 ]{0,8}",
            "\\PC{0,12}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn when_cells_look_like_formulas_should_be_neutralized_in_csv_and_xlsx(
            cells in prop::collection::vec(cell(), 1..6)
        ) {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let (blobs, _dir) = common::local_blobs().await.unwrap();
                let scratch = tempfile::tempdir().unwrap();
                let headers: Vec<String> = (0..cells.len()).map(|i| format!("c{i}")).collect();
                for format in [ExportFormat::Csv, ExportFormat::Xlsx] {
                    let key = BlobKey::parse(&format!("exports/p/x.{}", format.extension())).unwrap();
                    let mut w = ExportWriter::start(&*blobs, &key, format, &headers, scratch.path()).await.unwrap();
                    w.write_rows(vec![cells.clone()]).await.unwrap();
                    w.finish(&*blobs).await.unwrap();
                    let mut body = Vec::new();
                    blobs.get(&key).await.unwrap().read_to_end(&mut body).await.unwrap();
                    let rows = match format {
                        ExportFormat::Csv => read_csv(&body),
                        ExportFormat::Xlsx => read_xlsx(body),
                    };
                    let got = rows.get(1).cloned().unwrap_or_default();
                    for (i, original) in cells.iter().enumerate() {
                        let written = got.get(i).cloned().unwrap_or_default();
                        prop_assert!(!is_dangerous(&written), "{:?}: {:?} -> {:?}", format, original, written);
                        // XLSX stores CRLF as written; compare what the import would read.
                        let back = restore(&written);
                        prop_assert_eq!(back, original.as_str(), "{:?}", format);
                    }
                }
                Ok(())
            })?;
        }
    }
}
