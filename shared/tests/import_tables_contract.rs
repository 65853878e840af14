//! Files as other programs write them, on every store/bucket pair: the same ragged table with
//! title rows in CSV (Excel's way), XLSX (openpyxl), XLS (xlwt) and ODS (odfpy) must import
//! the same; CSV text with mixed line ends, NULs and a missing header is read row by row.
//! The fixtures and how they were made: `scripts/fixtures/spreadsheets.py`.

use crate::common;

use leadgate_core::domain::query::LeadQuery;
use leadgate_core::domain::tenant::Tenant;
use leadgate_core::import::{DuplicatePolicy, ImportMode, ImportOptions};
use leadgate_core::ports::blob::{BlobKey, BlobStore};
use leadgate_core::ports::store::LeadStore;
use leadgate_core::services::imports::pipeline::{ImportOutcome, ImportReport};
use leadgate_core::services::tenants;
use std::sync::Arc;
use tokio::io::AsyncReadExt;

const FIXTURES: [(&str, &[u8]); 4] = [
    ("title_ragged.csv", include_bytes!("fixtures/title_ragged.csv")),
    ("title_ragged.xlsx", include_bytes!("fixtures/title_ragged.xlsx")),
    ("title_ragged.xls", include_bytes!("fixtures/title_ragged.xls")),
    ("title_ragged.ods", include_bytes!("fixtures/title_ragged.ods")),
];

struct Env {
    store: Arc<dyn LeadStore>,
    blobs: Arc<dyn BlobStore>,
    tenant: Tenant,
    scratch: tempfile::TempDir,
}

impl Env {
    async fn new(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) -> Env {
        let id = common::tenant("tbl");
        let (tenant, _) = tenants::ensure_tenant(&*store, &id, "Tables", chrono::Utc::now())
            .await
            .unwrap();
        Env {
            store,
            blobs,
            tenant,
            scratch: tempfile::tempdir().unwrap(),
        }
    }

    async fn import(&self, name: &str, body: &[u8]) -> ImportReport {
        let options = ImportOptions {
            mode: ImportMode::ValidRows,
            duplicates: DuplicatePolicy::Skip,
            default_source: Some("Referral".into()),
            ..Default::default()
        };
        common::import_at_once(
            &*self.store,
            &*self.blobs,
            &self.tenant,
            self.scratch.path(),
            name,
            body.to_vec(),
            options,
        )
        .await
    }

    /// (name, email, phone) of every lead, sorted.
    async fn leads(&self) -> Vec<(String, String, String)> {
        let q = LeadQuery {
            limit: 500,
            ..Default::default()
        };
        let mut out: Vec<_> = self
            .store
            .list_leads(&self.tenant.id, &q)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|l| {
                (
                    l.name,
                    l.email.map(|e| e.to_string()).unwrap_or_default(),
                    l.phone.map(|p| p.to_string()).unwrap_or_default(),
                )
            })
            .collect();
        out.sort();
        out
    }

    /// (line, column, reason) of every row in the errors report.
    async fn errors(&self, r: &ImportReport) -> Vec<(String, String, String)> {
        let mut body = String::new();
        self.blobs
            .get(&BlobKey::parse(&r.errors_csv).unwrap())
            .await
            .unwrap()
            .read_to_string(&mut body)
            .await
            .unwrap();
        csv::Reader::from_reader(body.as_bytes())
            .records()
            .map(|rec| {
                let rec = rec.unwrap();
                let n = rec.len();
                (
                    rec[n - 3].to_owned(),
                    rec[n - 2].to_owned(),
                    rec[n - 1].to_owned(),
                )
            })
            .collect()
    }
}

async fn every_format_reads_the_same_table(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    for (name, body) in FIXTURES {
        let e = Env::new(store.clone(), blobs.clone()).await;
        let r = e.import(name, body).await;
        assert_eq!(r.outcome, ImportOutcome::Completed, "{name}: {r:?}");
        // Two title rows and a blank one above the header, which is found on row 4.
        assert_eq!(r.header_line, Some(4), "{name}");
        assert_eq!((r.rows, r.created, r.error_rows), (5, 3, 2), "{name}: {r:?}");
        // The repeated "Email" and the header-less column are named, not silently used.
        assert_eq!(
            r.unknown_columns,
            ["Fax", "(column 8, no header)", "Email"],
            "{name}"
        );
        assert_eq!(
            e.leads().await,
            [
                (
                    "Ana Ruiz".to_owned(),
                    "ana@acme.example".to_owned(),
                    "+34600000001".to_owned()
                ),
                ("Bo Li".to_owned(), "bo@acme.example".to_owned(), String::new()),
                ("Cy Ng".to_owned(), String::new(), "+442079460011".to_owned()),
            ],
            "{name}: short rows are padded, the first Email column wins"
        );
        let errors = e.errors(&r).await;
        let at: Vec<(&str, &str)> = errors.iter().map(|(l, c, _)| (l.as_str(), c.as_str())).collect();
        // Spreadsheet row numbers, whatever blank rows came before.
        assert_eq!(at, [("9", "email"), ("10", "extra_cells")], "{name}: {errors:?}");
        assert!(errors[1].2.contains("past the end"), "{name}: {errors:?}");
    }
}

async fn csv_text_is_read_row_by_row(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let e = Env::new(store, blobs).await;
    // Line ends mixed (CRLF, LF), a blank line, a NUL inside a cell, NUL padding at the end.
    // The padding is long (some writers pad to a block): it still does not make it binary.
    let mut body = b"Name,Email,Lead Source\r\nAna,ana@x.example,Referral\nBo,bo@x.example,\r\n\r\n\
                 Cy,c\0y@x.example,Referral\nDee,dee@x.example,Referral"
        .to_vec();
    body.extend(std::iter::repeat_n(0u8, 4096));
    let r = e.import("mixed.csv", &body).await;
    assert_eq!((r.rows, r.created, r.error_rows), (4, 3, 1), "{r:?}");
    let errors = e.errors(&r).await;
    assert!(
        errors.iter().all(|(line, _, _)| line == "5"),
        "the line as an editor shows it: {errors:?}"
    );
    assert!(errors.iter().any(|(_, _, why)| why.contains("NUL")), "{errors:?}");
    let names: Vec<String> = e.leads().await.into_iter().map(|l| l.0).collect();
    assert_eq!(names, ["Ana", "Bo", "Dee"]);
}

/// A semicolon file whose cells hold commas (names, decimal commas) is split on semicolons:
/// the delimiter is the one every line shares, not the most frequent on some line.
async fn a_semicolon_file_with_commas_in_cells(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let e = Env::new(store, blobs).await;
    let body = "Name;Email;Lead Source;Notes\n\
                Müller, Hans, Dr.;hans@x.example;Referral;1,5 Mio, maybe 2,0\n\
                Ruiz, Ana;ana@x.example;Referral;\n";
    let r = e.import("eu.csv", body.as_bytes()).await;
    assert_eq!((r.delimiter, r.created), (Some(';'), 2), "{r:?}");
    let names: Vec<String> = e.leads().await.into_iter().map(|l| l.0).collect();
    assert_eq!(names, ["Müller, Hans, Dr.", "Ruiz, Ana"]);
}

async fn a_file_without_a_header_is_refused(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let e = Env::new(store, blobs).await;
    let body: String = (0..15)
        .map(|i| format!("Quarterly numbers {i},{i},{}\n", i * 2))
        .collect();
    let r = e.import("numbers.csv", body.as_bytes()).await;
    assert_eq!(r.outcome, ImportOutcome::Unreadable, "{r:?}");
    assert!(r.message.as_deref().unwrap().contains("no header row"), "{r:?}");
    assert!(e.leads().await.is_empty());
}

store_and_bucket_cases!(
    when_a_semicolon_file_has_commas_in_its_cells_should_split_on_semicolons => a_semicolon_file_with_commas_in_cells,
    when_the_same_ragged_table_comes_as_csv_xlsx_xls_or_ods_should_import_the_same => every_format_reads_the_same_table,
    when_csv_text_mixes_line_ends_and_holds_nuls_should_read_each_row => csv_text_is_read_row_by_row,
    when_no_row_names_the_lead_fields_should_refuse_the_file => a_file_without_a_header_is_refused,
);
