//! Bulk import on every store/bucket pair (SQLite + folder, DynamoDB Local + moto), with
//! files generated here the way other CRMs and Excel write them.

use crate::common;

use bytes::Bytes;
use leadgate_core::domain::Email;
use leadgate_core::domain::duplicate::MatchKey;
use leadgate_core::domain::query::LeadQuery;
use leadgate_core::domain::tenant::Tenant;
use leadgate_core::import::mapping::Column;
use leadgate_core::import::{DuplicatePolicy, ImportMode, ImportOptions};
use leadgate_core::ports::blob::{BlobKey, BlobStore};
use leadgate_core::ports::clock::{Clock, FixedClock, SystemClock};
use leadgate_core::ports::store::LeadStore;
use leadgate_core::services::imports::pipeline::{Budget, ImportOutcome, ImportReport};
use leadgate_core::services::imports::{ObjectImport, import_object, import_object_with};
use leadgate_core::services::tenants;
use std::sync::Arc;
use tokio::io::AsyncReadExt;

struct Env {
    store: Arc<dyn LeadStore>,
    blobs: Arc<dyn BlobStore>,
    tenant: Tenant,
    scratch: tempfile::TempDir,
}

impl Env {
    async fn new(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) -> Self {
        let id = common::tenant("imp");
        let (tenant, _) = tenants::ensure_tenant(&*store, &id, "Imp", chrono::Utc::now())
            .await
            .unwrap();
        Env {
            store,
            blobs,
            tenant,
            scratch: tempfile::tempdir().unwrap(),
        }
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

    async fn leads(&self) -> Vec<leadgate_core::domain::Lead> {
        self.store
            .list_leads(
                &self.tenant.id,
                &LeadQuery {
                    limit: 500,
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .items
    }

    /// Every lead, page after page.
    async fn leads_all(&self) -> Vec<leadgate_core::domain::Lead> {
        let mut all = Vec::new();
        let mut q = LeadQuery {
            limit: 500,
            ..Default::default()
        };
        loop {
            let page = self.store.list_leads(&self.tenant.id, &q).await.unwrap();
            all.extend(page.items);
            match page.next_cursor {
                Some(c) => q.cursor = Some(c),
                None => return all,
            }
        }
    }

    async fn report_file(&self, key: &str) -> String {
        let mut r = self.blobs.get(&BlobKey::parse(key).unwrap()).await.unwrap();
        let mut s = String::new();
        r.read_to_string(&mut s).await.unwrap();
        s
    }
}

fn opts(mode: ImportMode, duplicates: DuplicatePolicy) -> ImportOptions {
    ImportOptions {
        mode,
        duplicates,
        default_source: None,
        ..Default::default()
    }
}

/// A Salesforce lead report: UTF-8 with BOM, CRLF, quoted fields with commas and newlines.
fn salesforce_csv() -> Vec<u8> {
    let mut s = String::from("\u{feff}");
    s.push_str("\"First Name\",\"Last Name\",\"Title\",\"Company / Account\",\"Email\",\"Phone\",\"Lead Source\",\"Lead Status\",\"Street\",\"City\",\"State/Province\",\"Zip/Postal Code\",\"Country\"\r\n");
    s.push_str("\"Ava\",\"Stone\",\"VP Sales\",\"Stone, Field & Co\",\"ava@stonefield.example\",\"(415) 555-0101\",\"Partner\",\"Contacted\",\"1 Main St\r\nSuite 4\",\"San Francisco\",\"CA\",\"94105\",\"USA\"\r\n");
    s.push_str("\"Ben\",\"Ortiz\",\"CTO\",\"Ortiz Labs\",\"ben@ortiz.example\",\"+1 212 555 0199\",\"Referral\",\"New\",\"\",\"New York\",\"NY\",\"10001\",\"USA\"\r\n");
    s.push_str("\"Cy\",\"Bad\",\"\",\"Nowhere\",\"not-an-email\",\"\",\"Billboard\",\"Hot\",\"\",\"\",\"\",\"\",\"\"\r\n");
    s.into_bytes()
}

/// A HubSpot contacts export.
fn hubspot_csv() -> Vec<u8> {
    "Record ID,First Name,Last Name,Email,Phone Number,Company Name,Job Title,Lead Source,Create Date\n\
     101,Dana,Kim,dana@kim.example,+1 650 555 0123,Kim Co,Founder,Social media,2026-01-05 10:00\n\
     102,Eli,Wu,eli@wu.example,,Wu GmbH,Buyer,Social media,2026-01-06 11:00\n"
        .as_bytes()
        .to_vec()
}

/// What a European Excel saves: semicolons, Windows-1252, national phone numbers.
fn excel_semicolon_1252() -> Vec<u8> {
    let text = "Name;E-Mail;Telefon;Company;City;Lead Source\r\nJürgen Müller;juergen@mueller.example;+49 30 901820;Müller & Söhne;Köln;Trade show / event\r\nRenée Dubois;renee@dubois.example;+33 1 23 45 67 89;Société Générale;Paris;Trade show / event\r\n";
    let (bytes, _, bad) = encoding_rs::WINDOWS_1252.encode(text);
    assert!(!bad);
    bytes.into_owned()
}

/// Excel's "Unicode Text": UTF-16 LE with BOM, tab-separated.
fn unicode_text_utf16() -> Vec<u8> {
    let text = "Full Name\tEmail\tSource\r\nŁucja Nowak\tlucja@nowak.example\tCold outreach\r\n";
    let mut out = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
    out
}

fn xlsx(rows: &[&[&str]]) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            ws.write_string(r as u32, c as u16, *cell).unwrap();
        }
    }
    ws.write_number(2, 3, 12500.0).unwrap();
    wb.save_to_buffer().unwrap()
}

async fn other_crm_exports(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let e = Env::new(store, blobs).await;
    let sf = e
        .import(
            "salesforce.csv",
            salesforce_csv(),
            opts(ImportMode::ValidRows, DuplicatePolicy::Skip),
        )
        .await;
    assert_eq!(
        (sf.outcome, sf.rows, sf.valid_rows, sf.error_rows, sf.created),
        (ImportOutcome::Completed, 3, 2, 1, 2),
        "{sf:?}"
    );
    assert_eq!(sf.delimiter, Some(','));
    assert_eq!(sf.unknown_columns, Vec::<String>::new());
    let errors = e.report_file(&sf.errors_csv).await;
    assert!(
        errors.contains("not-an-email") && errors.contains(",4,email,"),
        "{errors}"
    );
    assert!(
        errors.contains("source must be one of:") && errors.contains("Website form"),
        "{errors}"
    );
    assert!(errors.contains("status must be one of"), "{errors}");
    let leads = e.leads().await;
    let ava = leads.iter().find(|l| l.name == "Ava Stone").unwrap();
    // Line breaks are stored as LF, whatever the file used (CRLF here).
    assert_eq!(ava.address.street.as_deref(), Some("1 Main St\nSuite 4"));
    assert_eq!(ava.phone.as_ref().unwrap().as_str(), "+14155550101");
    assert_eq!(ava.company.as_deref(), Some("Stone, Field & Co"));

    let hs = e
        .import("hubspot.csv", hubspot_csv(), ImportOptions::default())
        .await;
    assert_eq!((hs.outcome, hs.created), (ImportOutcome::Completed, 2), "{hs:?}");
    // "Create Date" keeps the lead's history; "Record ID" is HubSpot's own id, which the
    // known exports say to leave out (both were unknown columns before).
    assert_eq!(hs.unknown_columns, Vec::<String>::new());
    let ignored: Vec<&str> = hs
        .columns
        .iter()
        .filter(|c| c.maps_to == Column::Ignored)
        .map(|c| c.header.as_str())
        .collect();
    assert_eq!(ignored, ["Record ID"]);
    let dana = e
        .leads()
        .await
        .into_iter()
        .find(|l| l.name == "Dana Kim")
        .unwrap();
    assert_eq!(dana.created_at.to_rfc3339(), "2026-01-05T10:00:00+00:00");

    let eu = e
        .import("export.csv", excel_semicolon_1252(), ImportOptions::default())
        .await;
    let eu_errors = e.report_file(&eu.errors_csv).await;
    assert_eq!(
        (eu.outcome, eu.delimiter, eu.encoding.as_deref(), eu.created),
        (ImportOutcome::Completed, Some(';'), Some("windows-1252"), 2),
        "{eu_errors}"
    );
    let leads = e.leads().await;
    let j = leads
        .iter()
        .find(|l| l.name == "Jürgen Müller")
        .expect("accents survive");
    assert_eq!(j.company.as_deref(), Some("Müller & Söhne"));
    assert_eq!(j.phone.as_ref().unwrap().as_str(), "+4930901820");

    let u16 = e
        .import("unicode.txt", unicode_text_utf16(), ImportOptions::default())
        .await;
    assert_eq!(
        (u16.outcome, u16.delimiter, u16.encoding.as_deref(), u16.created),
        (ImportOutcome::Completed, Some('\t'), Some("UTF-16LE"), 1),
        "{u16:?}"
    );
    assert!(e.leads().await.iter().any(|l| l.name == "Łucja Nowak"));

    let book = xlsx(&[
        &["Name", "Email", "Lead Source", "Postal Code"],
        &["Fay Xu", "fay@xu.example", "Referral", "02139"],
        &["Gus Lee", "gus@lee.example", "Referral", ""],
    ]);
    let x = e.import("leads.xlsx", book, ImportOptions::default()).await;
    assert_eq!((x.outcome, x.created), (ImportOutcome::Completed, 2), "{x:?}");
    let leads = e.leads().await;
    assert_eq!(
        leads
            .iter()
            .find(|l| l.name == "Fay Xu")
            .unwrap()
            .address
            .postal_code
            .as_deref(),
        Some("02139")
    );
    assert_eq!(
        leads
            .iter()
            .find(|l| l.name == "Gus Lee")
            .unwrap()
            .address
            .postal_code
            .as_deref(),
        Some("12500")
    );
    assert_eq!(e.leads().await.len(), 9);
}

async fn modes_and_duplicates(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let e = Env::new(store, blobs).await;
    let file = "Name,Email,Lead Source,Company\nA One,a@x.example,Referral,Alpha\nB Two,b@x.example,Referral,Beta\nBad,nope,Referral,\n";
    let v = e
        .import(
            "v.csv",
            file.into(),
            opts(ImportMode::Validate, DuplicatePolicy::Skip),
        )
        .await;
    assert_eq!(
        (v.outcome, v.valid_rows, v.error_rows, v.created),
        (ImportOutcome::Validated, 2, 1, 0)
    );
    let r = e
        .import(
            "r.csv",
            file.into(),
            opts(ImportMode::AllOrNothing, DuplicatePolicy::Skip),
        )
        .await;
    assert_eq!((r.outcome, r.created), (ImportOutcome::Rejected, 0));
    assert!(r.message.unwrap().contains("nothing was saved"));
    assert!(e.leads().await.is_empty(), "all_or_nothing saved nothing");
    for id in ["ana", "bob"] {
        let rep = leadgate_core::domain::rep::Rep {
            id: leadgate_core::domain::RepId::parse(id).unwrap(),
            name: id.into(),
            weight: 1,
            active: true,
            available: true,
        };
        leadgate_core::services::reps::put_rep(&*e.store, &e.tenant.id, rep)
            .await
            .unwrap();
    }
    let ok = e
        .import(
            "ok.csv",
            file.into(),
            opts(ImportMode::ValidRows, DuplicatePolicy::Skip),
        )
        .await;
    assert_eq!((ok.outcome, ok.created), (ImportOutcome::Completed, 2));
    let mut owners: Vec<String> = e
        .leads()
        .await
        .iter()
        .map(|l| {
            l.owner
                .as_ref()
                .expect("round robin assigns imported rows")
                .to_string()
        })
        .collect();
    owners.sort();
    assert_eq!(owners, ["ana", "bob"], "one each, by the weighted rotation");

    // Duplicates: against the store (a@, b@) and within the file (c@ twice).
    let again = "Name,Email,Lead Source,Company\nA One,a@x.example,Referral,Alpha Renamed\nB Two,B@X.example,Referral,\nC Three,c@x.example,Referral,Gamma\nC Again,c@x.example,Referral,Gamma\n";
    let skip = e
        .import(
            "skip.csv",
            again.into(),
            opts(ImportMode::ValidRows, DuplicatePolicy::Skip),
        )
        .await;
    assert_eq!(
        (skip.created, skip.skipped, skip.duplicate_rows),
        (1, 3, 3),
        "{skip:?}"
    );
    let dups = e.report_file(&skip.duplicates_csv).await;
    let a_id = e.leads().await.iter().find(|l| l.name == "A One").unwrap().id;
    assert!(
        dups.contains(&format!("2,email,a@x.example,{a_id},skip")),
        "{dups}"
    );
    assert!(dups.contains("5,email,c@x.example,line 4,skip"), "{dups}");
    let upd = e
        .import(
            "upd.csv",
            again.into(),
            opts(ImportMode::ValidRows, DuplicatePolicy::Update),
        )
        .await;
    // Only A's row changes its lead; B's and C's rows say what the leads say already.
    assert_eq!((upd.updated, upd.unchanged, upd.created), (1, 2, 0), "{upd:?}");
    let leads = e.leads().await;
    assert_eq!(
        leads.iter().find(|l| l.id == a_id).unwrap().company.as_deref(),
        Some("Alpha Renamed")
    );
    assert_eq!(
        leads
            .iter()
            .find(|l| l.name == "B Two")
            .unwrap()
            .company
            .as_deref(),
        Some("Beta"),
        "empty cells do not erase"
    );
    let create = e
        .import(
            "create.csv",
            again.into(),
            opts(ImportMode::ValidRows, DuplicatePolicy::Create),
        )
        .await;
    assert_eq!(create.created, 4);
    assert_eq!(e.leads().await.len(), 3 + 4);
}

/// Rewrites every entry of a zip, passing each (name, bytes) through `f`.
fn rewrite_zip(src: &[u8], f: impl Fn(&str, Vec<u8>) -> Vec<u8>) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut zin = zip::ZipArchive::new(std::io::Cursor::new(src.to_vec())).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for i in 0..zin.len() {
        let mut entry = zin.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.start_file(name.clone(), zip::write::SimpleFileOptions::default())
            .unwrap();
        out.write_all(&f(&name, data)).unwrap();
    }
    out.finish().unwrap().into_inner()
}

fn huge_dimension_xlsx() -> Vec<u8> {
    let book = xlsx(&[
        &["Name", "Email", "Lead Source", "Postal Code"],
        &["A", "a@x.example", "Referral", "1"],
    ]);
    rewrite_zip(&book, |name, data| {
        if name == "xl/worksheets/sheet1.xml" {
            let text = String::from_utf8(data).unwrap();
            let start = text.find("<dimension ref=\"").unwrap() + 16;
            let end = start + text[start..].find('"').unwrap();
            format!("{}A1:XFD1048576{}", &text[..start], &text[end..]).into_bytes()
        } else {
            data
        }
    })
}

/// The same claim in a sheet whose XML uses a namespace prefix (`<x:dimension>`), as some
/// writers do: a search for `<dimension` missed it.
fn huge_prefixed_dimension_xlsx() -> Vec<u8> {
    rewrite_zip(&huge_dimension_xlsx(), |name, data| {
        if name == "xl/worksheets/sheet1.xml" {
            let text = String::from_utf8(data).unwrap();
            let main = "xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"";
            assert!(text.contains(main), "{text}");
            text.replace("</", "\u{1}")
                .replace('<', "<x:")
                .replace('\u{1}', "</x:")
                .replace("<x:?xml", "<?xml")
                .replace(main, &main.replace("xmlns=", "xmlns:x="))
                .into_bytes()
        } else {
            data
        }
    })
}

fn zip_bomb_xlsx() -> Vec<u8> {
    let book = xlsx(&[&["Name"], &["A"]]);
    rewrite_zip(&book, |name, data| {
        if name == "xl/worksheets/sheet1.xml" {
            vec![0u8; 20 * 1024 * 1024]
        } else {
            data
        }
    })
}

async fn hostile_files(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let e = Env::new(store, blobs).await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.csv", vec![], "empty"),
        ("header.csv", b"Name,Email,Lead Source\n".to_vec(), "no data rows"),
        (
            "junk.csv",
            (0..20_000u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
                .collect(),
            "binary",
        ),
        (
            "giant.csv",
            format!(
                "Name,Email,Lead Source\n\"{}\",a@b.example,Referral\n",
                "x".repeat(100 * 1024 * 1024)
            )
            .into_bytes(),
            "longer than",
        ),
        (
            "fake.xlsx",
            b"Name,Email,Lead Source\nReal Csv,real@csv.example,Referral\n".to_vec(),
            "",
        ),
        ("huge.xlsx", huge_dimension_xlsx(), "more than 20000000 cells"),
        (
            "huge-prefixed.xlsx",
            huge_prefixed_dimension_xlsx(),
            "more than 20000000 cells",
        ),
        ("bomb.xlsx", zip_bomb_xlsx(), "zip bomb"),
    ];
    for (name, body, expect) in cases {
        let r = e.import(name, body, ImportOptions::default()).await;
        if expect.is_empty() {
            assert_eq!(
                (r.outcome, r.created),
                (ImportOutcome::Completed, 1),
                "{name}: a .xlsx that is really CSV is read as CSV"
            );
        } else {
            assert_eq!(r.outcome, ImportOutcome::Unreadable, "{name}: {r:?}");
            assert!(
                r.message.as_deref().unwrap_or("").contains(expect),
                "{name}: {:?}",
                r.message
            );
            assert_eq!(r.created, 0);
        }
    }
    assert_eq!(e.leads().await.len(), 1);
}

async fn same_object_imports_once(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let e = Arc::new(Env::new(store, blobs).await);
    let key = BlobKey::parse(&format!("imports/{}/once.csv", e.tenant.id)).unwrap();
    let meta = e
        .blobs
        .put(
            &key,
            Bytes::from_static(b"Name,Email,Lead Source\nOnce,once@x.example,Referral\n"),
            "text/csv",
        )
        .await
        .unwrap();
    let runs = (0..10).map(|_| {
        let (e, key, etag) = (e.clone(), key.clone(), meta.etag.clone());
        tokio::spawn(async move {
            import_object(
                &*e.store,
                &*e.blobs,
                &SystemClock,
                &key,
                &etag,
                ImportOptions::default(),
                e.scratch.path(),
                Budget::UNLIMITED,
            )
            .await
            .unwrap()
        })
    });
    let results = futures::future::join_all(runs).await;
    let done = results
        .iter()
        .filter(|r| matches!(r.as_ref().unwrap(), ObjectImport::Done(_)))
        .count();
    assert_eq!(done, 1);
    assert_eq!(e.leads().await.len(), 1);
    // A new version of the same key is a new import.
    let meta2 = e
        .blobs
        .put(
            &key,
            Bytes::from_static(b"Name,Email,Lead Source\nTwice,twice@x.example,Referral\n"),
            "text/csv",
        )
        .await
        .unwrap();
    assert_ne!(meta2.etag, meta.etag);
    let r = import_object(
        &*e.store,
        &*e.blobs,
        &SystemClock,
        &key,
        &meta2.etag,
        ImportOptions::default(),
        e.scratch.path(),
        Budget::UNLIMITED,
    )
    .await
    .unwrap();
    assert!(matches!(r, ObjectImport::Done(_)));
    assert_eq!(e.leads().await.len(), 2);
}

/// A file for the chunking tests: fresh rows, in-file duplicates, rows matching stored leads
/// (emails `stored{i}@…`), and invalid rows.
fn mixed_rows(n: usize) -> Vec<u8> {
    let mut s = String::from("First Name,Last Name,Email,Company,Lead Source\n");
    for i in 0..n {
        let email = match i {
            _ if i % 97 == 0 => "not-an-email".to_string(),
            _ if i % 23 == 0 => format!("row{}@chunk.example", i - 1),
            _ if i % 41 == 0 => format!("stored{}@chunk.example", i % 5),
            _ => format!("row{i}@chunk.example"),
        };
        s.push_str(&format!("Ann{i},Lee,{email},Co {i},Referral\n"));
    }
    s.into_bytes()
}

async fn seed_stored(e: &Env) {
    let seed: String = (0..5)
        .map(|i| format!("Stored{i},Lee,stored{i}@chunk.example,Old Co,Referral\n"))
        .collect();
    e.import(
        "seed.csv",
        format!("First Name,Last Name,Email,Company,Lead Source\n{seed}").into_bytes(),
        ImportOptions::default(),
    )
    .await;
}

/// Emails and companies of the tenant's leads, sorted, plus how many leads there are.
async fn lead_fingerprint(e: &Env) -> (usize, Vec<(String, String)>) {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = e
            .store
            .list_leads(
                &e.tenant.id,
                &LeadQuery {
                    limit: 500,
                    cursor: cursor.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        out.extend(page.items.iter().map(|l| {
            (
                l.email.as_ref().map(|m| m.to_string()).unwrap_or_default(),
                l.company.clone().unwrap_or_default(),
            )
        }));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    out.sort();
    (out.len(), out)
}

fn counts(r: &ImportReport) -> [u64; 7] {
    [
        r.rows,
        r.valid_rows,
        r.error_rows,
        r.duplicate_rows,
        r.created,
        r.updated,
        r.skipped,
    ]
}

async fn chunked_import_matches_one_go(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let options = opts(ImportMode::ValidRows, DuplicatePolicy::Update);
    let file = mixed_rows(2_300);
    // The reference: the whole file at once, in its own tenant.
    let whole = Env::new(store.clone(), blobs.clone()).await;
    seed_stored(&whole).await;
    let expected = whole.import("mixed.csv", file.clone(), options.clone()).await;
    assert_eq!(expected.outcome, ImportOutcome::Completed);
    assert!(
        expected.error_rows > 0 && expected.duplicate_rows > 0 && expected.updated > 0,
        "{expected:?}"
    );

    let e = Env::new(store, blobs).await;
    seed_stored(&e).await;
    let key = BlobKey::parse(&format!("imports/{}/mixed.csv", e.tenant.id)).unwrap();
    let meta = e.blobs.put(&key, Bytes::from(file), "text/csv").await.unwrap();
    let budget = Budget {
        deadline: None,
        max_rows: Some(700),
    };
    let mut calls = 0;
    let report = loop {
        calls += 1;
        assert!(calls < 50, "the import makes progress");
        let r = import_object_with(
            &*e.store,
            &*e.blobs,
            &SystemClock,
            &key,
            &meta.etag,
            options.clone(),
            e.scratch.path(),
            budget,
            250,
        )
        .await
        .unwrap();
        match r {
            ObjectImport::Paused { .. } => continue,
            ObjectImport::Done(r) => break *r,
            other => panic!("unexpected {other:?}"),
        }
    };
    // 2,300 rows in pass 1 and up to 2,300 in pass 2, 700 per call.
    assert!(calls >= 7, "chunked into {calls} calls");
    assert_eq!(counts(&report), counts(&expected));
    assert_eq!(lead_fingerprint(&e).await, lead_fingerprint(&whole).await);
    // The reports are whole: one line per error and duplicate plus the header.
    let errors = e.report_file(&report.errors_csv).await;
    let whole_errors = whole.report_file(&expected.errors_csv).await;
    assert_eq!(errors.lines().count(), whole_errors.lines().count());
    assert!(errors.lines().count() as u64 > expected.error_rows);
    let dups = e.report_file(&report.duplicates_csv).await;
    let whole_dups = whole.report_file(&expected.duplicates_csv).await;
    assert_eq!(
        dups.lines().count(),
        whole_dups.lines().count(),
        "{dups}\n----\n{whole_dups}"
    );
    assert_eq!(dups.lines().count() as u64, 1 + expected.duplicate_rows);
    // No part files are left behind.
    let parts = e
        .blobs
        .list(
            &format!("reports/{}/{}/parts/", e.tenant.id, report.job_id),
            None,
            10,
        )
        .await
        .unwrap();
    assert!(parts.items.is_empty(), "{:?}", parts.items);
    // Done is done.
    let again = import_object(
        &*e.store,
        &*e.blobs,
        &SystemClock,
        &key,
        &meta.etag,
        options,
        e.scratch.path(),
        Budget::UNLIMITED,
    )
    .await
    .unwrap();
    assert_eq!(again, ObjectImport::AlreadyHandled);
}

/// Rows are matched 500 at a time: a row repeating a row of an earlier batch, the row just
/// before a batch's first, or a stored lead is still found, under `skip` and `update`.
async fn duplicates_across_batches(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let file = || {
        let mut s = String::from("First Name,Last Name,Email,Company,Lead Source\n");
        for i in 0..1_100 {
            let email = match i {
                500 => "row0@batch.example".to_string(),
                501 => "row499@batch.example".to_string(),
                1_000 => "stored1@chunk.example".to_string(),
                _ => format!("row{i}@batch.example"),
            };
            s.push_str(&format!("Ann{i},Lee,{email},New Co {i},Referral\n"));
        }
        s.into_bytes()
    };
    let e = Env::new(store.clone(), blobs.clone()).await;
    seed_stored(&e).await;
    let skip = e
        .import(
            "batches.csv",
            file(),
            opts(ImportMode::ValidRows, DuplicatePolicy::Skip),
        )
        .await;
    // [rows, valid, errors, duplicates, created, updated, skipped]
    assert_eq!(counts(&skip), [1_100, 1_100, 0, 3, 1_097, 0, 3], "{skip:?}");
    let dups = e.report_file(&skip.duplicates_csv).await;
    let names = |line: &str, first: &str| dups.lines().any(|l| l.starts_with(line) && l.contains(first));
    assert!(names("502,", ",line 2,"), "row 500 names row 0's line: {dups}");
    assert!(
        names("503,", ",line 501,"),
        "row 501 names row 499's line: {dups}"
    );

    let u = Env::new(store, blobs).await;
    seed_stored(&u).await;
    let update = u
        .import(
            "batches.csv",
            file(),
            opts(ImportMode::ValidRows, DuplicatePolicy::Update),
        )
        .await;
    assert_eq!(counts(&update), [1_100, 1_100, 0, 3, 1_097, 1, 2], "{update:?}");
    let stored = u
        .store
        .find_leads_by_contact(
            &u.tenant.id,
            &MatchKey::Email(Email::parse("stored1@chunk.example").unwrap()),
        )
        .await
        .unwrap();
    let lead = u.store.get_lead(&u.tenant.id, &stored[0]).await.unwrap().unwrap();
    assert_eq!(
        lead.company.as_deref(),
        Some("New Co 1000"),
        "row 1000 updated it"
    );
}

async fn killed_run_resumes_exactly_once(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let options = opts(ImportMode::ValidRows, DuplicatePolicy::Skip);
    let file = mixed_rows(2_300);
    let whole = Env::new(store.clone(), blobs.clone()).await;
    seed_stored(&whole).await;
    let expected = whole.import("mixed.csv", file.clone(), options.clone()).await;

    let e = Arc::new(Env::new(store.clone(), blobs).await);
    seed_stored(&e).await;
    let key = BlobKey::parse(&format!("imports/{}/mixed.csv", e.tenant.id)).unwrap();
    let meta = e.blobs.put(&key, Bytes::from(file), "text/csv").await.unwrap();
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let faults = Arc::new(common::faults::Faults::default());
    // Batches are 500 leads; checkpoints every 1,000 rows: the 3rd batch lands after the
    // pass-2 checkpoint at row 1,000 and before the next one; the run freezes right after it.
    faults.arm(
        common::faults::Stage::Write,
        common::faults::Fault::FreezeAfter(2),
    );
    let freezing = Arc::new(common::faults::FaultyStore {
        inner: store.clone(),
        faults: faults.clone(),
    });
    let run = {
        let (e, key, etag, clock, freezing, options) = (
            e.clone(),
            key.clone(),
            meta.etag.clone(),
            clock.clone(),
            freezing.clone(),
            options.clone(),
        );
        tokio::spawn(async move {
            import_object_with(
                &*freezing,
                &*e.blobs,
                &*clock,
                &key,
                &etag,
                options,
                e.scratch.path(),
                Budget::UNLIMITED,
                1_000,
            )
            .await
        })
    };
    while faults.struck.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(!run.is_finished(), "the run ended before its third batch write");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    run.abort();
    assert!(run.await.unwrap_err().is_cancelled());
    let written = lead_fingerprint(&e).await.0;
    assert!(
        written > 5 + 1_000,
        "the killed run wrote past its checkpoint: {written}"
    );
    // While its lease holds, nobody else takes the import.
    let call = |clock: Arc<FixedClock>| {
        let (e, key, etag, options) = (e.clone(), key.clone(), meta.etag.clone(), options.clone());
        async move {
            import_object_with(
                &*e.store,
                &*e.blobs,
                &*clock,
                &key,
                &etag,
                options,
                e.scratch.path(),
                Budget::UNLIMITED,
                1_000,
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(call(clock.clone()).await, ObjectImport::InProgress);
    // Once it has run out, the next delivery resumes from the checkpoint.
    clock.set(clock.now() + chrono::Duration::minutes(5));
    let ObjectImport::Done(report) = call(clock.clone()).await else {
        panic!("the resumed run finishes");
    };
    assert_eq!(counts(&report), counts(&expected));
    assert_eq!(lead_fingerprint(&e).await, lead_fingerprint(&whole).await);
    // The rows the killed run wrote past its checkpoint were rewritten with their timeline
    // entry, not given a second one.
    for lead in e
        .leads_all()
        .await
        .iter()
        .filter(|l| l.provenance.channel == "import")
    {
        let timeline = e
            .store
            .list_activities(&e.tenant.id, &lead.id, None, 10)
            .await
            .unwrap()
            .items;
        let imported = timeline
            .iter()
            .filter(|a| {
                matches!(
                    a.kind,
                    leadgate_core::domain::activity::ActivityKind::Imported { .. }
                )
            })
            .count();
        assert_eq!(imported, 1, "{}: {timeline:?}", lead.name);
    }
    assert_eq!(call(clock).await, ObjectImport::AlreadyHandled);
}

/// A HubSpot contact export as its export writes it: its own status names ("Attempted to
/// contact"), an "Original Source" column with its channel names, the owner's full name, and a
/// "GDPR Consent" column that the tenant defines as a custom field.
fn hubspot_lead_statuses_csv() -> Vec<u8> {
    b"Record ID,First Name,Last Name,Email,Phone Number,Company Name,Job Title,Lead Status,Original Source,Contact owner,GDPR Consent,Fax\r\n\
      51,Ana,Ruiz,ana@ruiz.es,+34 600 111 222,Ruiz SL,CTO,Attempted to contact,Organic Search,Ana Ruiz,Granted,\r\n\
      52,Bo,Lind,bo@lind.se,,Lind AB,CEO,Unqualified,Offline Sources,ana ruiz,Not granted,\r\n\
      53,Cy,Moss,cy@moss.io,,Moss Ltd,,OPEN ,Paid Social,Ana Ruiz,granted,\r\n"
        .to_vec()
}

/// Defines what the HubSpot export's mapping refers to (a select custom field, a rep) and
/// returns that mapping.
async fn hubspot_mapping(e: &Env) -> ImportOptions {
    use leadgate_core::domain::RepId;
    use leadgate_core::domain::custom_field::{CustomFieldDef, CustomFieldType};
    use leadgate_core::domain::rep::Rep;
    use leadgate_core::services::{custom_fields, reps};
    use std::collections::BTreeMap;
    let consent = CustomFieldDef {
        key: "gdpr".into(),
        label: "GDPR Consent".into(),
        field_type: CustomFieldType::Select,
        required: false,
        options: vec!["yes".into(), "no".into()],
    };
    custom_fields::put_custom_field(&*e.store, &e.tenant.id, consent)
        .await
        .unwrap();
    let ana = Rep {
        id: RepId::parse("ana").unwrap(),
        name: "Ana Ruiz".into(),
        weight: 1,
        active: true,
        available: true,
    };
    reps::put_rep(&*e.store, &e.tenant.id, ana).await.unwrap();
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    ImportOptions {
        mode: ImportMode::AllOrNothing,
        columns: map(&[
            ("Original Source", "source"),
            ("Record ID", "ignore"),
            ("fax", "ignore"),
        ]),
        values: BTreeMap::from([
            (
                "status".to_string(),
                map(&[
                    ("Attempted to contact", "contacted"),
                    ("Unqualified", "unqualified"),
                    ("Open", "new"),
                ]),
            ),
            (
                "source".to_string(),
                map(&[
                    ("Organic Search", "website-form"),
                    ("Offline Sources", "referral"),
                    ("Paid Social", "Website form"),
                ]),
            ),
            ("owner".to_string(), map(&[("Ana Ruiz", "ana")])),
            (
                "custom:gdpr".to_string(),
                map(&[("Granted", "yes"), ("Not granted", "no")]),
            ),
        ]),
        ..Default::default()
    }
}

/// The admin's explicit mapping: columns by header, file values translated to Leadgate's; a
/// custom field whose label is a built-in synonym takes its column; a mapping naming a header
/// the file lacks fails the file, naming it; one naming an unknown target fails it too.
async fn explicit_mapping(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    use leadgate_core::domain::LeadStatus;
    let e = Env::new(store, blobs).await;
    let options = hubspot_mapping(&e).await;

    // Before the mapping, the same file imports nothing: its values are not Leadgate's.
    let bare = e
        .import(
            "hubspot-bare.csv",
            hubspot_lead_statuses_csv(),
            opts(ImportMode::Validate, DuplicatePolicy::Skip),
        )
        .await;
    assert_eq!((bare.valid_rows, bare.error_rows), (0, 3), "{bare:?}");

    let r = e
        .import("hubspot.csv", hubspot_lead_statuses_csv(), options.clone())
        .await;
    assert_eq!(
        (r.outcome, r.created, r.error_rows),
        (ImportOutcome::Completed, 3, 0),
        "{r:?}"
    );
    assert_eq!(r.unknown_columns, Vec::<String>::new());
    let maps_to = |h: &str| {
        r.columns
            .iter()
            .find(|c| c.header == h)
            .map(|c| c.maps_to.clone())
            .unwrap()
    };
    assert_eq!(maps_to("GDPR Consent"), Column::Custom("gdpr".into()));
    assert_eq!(maps_to("Fax"), Column::Ignored);
    let mut leads = e.leads().await;
    leads.sort_by(|a, b| a.name.cmp(&b.name));
    let got: Vec<_> = leads
        .iter()
        .map(|l| {
            (
                l.name.as_str(),
                l.status,
                l.source.as_str(),
                l.owner.as_ref().map(|o| o.as_str()),
                l.custom.get("gdpr").cloned(),
            )
        })
        .collect();
    let text = |v: &str| Some(leadgate_core::domain::custom_field::CustomValue::Text(v.into()));
    assert_eq!(
        got,
        [
            (
                "Ana Ruiz",
                LeadStatus::Contacted,
                "website-form",
                Some("ana"),
                text("yes")
            ),
            (
                "Bo Lind",
                LeadStatus::Unqualified,
                "referral",
                Some("ana"),
                text("no")
            ),
            (
                "Cy Moss",
                LeadStatus::New,
                "website-form",
                Some("ana"),
                text("yes")
            ),
        ]
    );

    // A header the file does not have: the file fails and says which.
    let mut missing = options.clone();
    missing.columns.insert("Lead Origin".into(), "tags".into());
    let r = e
        .import("hubspot-missing.csv", hubspot_lead_statuses_csv(), missing)
        .await;
    assert_eq!((r.outcome, r.created), (ImportOutcome::Unreadable, 0), "{r:?}");
    assert!(r.message.as_deref().unwrap().contains("Lead Origin"), "{r:?}");

    // A target that is no field (checked again when the file runs: a folder drop's options
    // were never checked by the API).
    let mut wrong = options;
    wrong.columns.insert("Fax".into(), "fax_number".into());
    let r = e
        .import("hubspot-wrong.csv", hubspot_lead_statuses_csv(), wrong)
        .await;
    assert_eq!((r.outcome, r.created), (ImportOutcome::Unreadable, 0), "{r:?}");
    assert!(
        r.message.as_deref().unwrap().contains("options.columns.Fax"),
        "{r:?}"
    );
    assert_eq!(e.leads().await.len(), 3);
}

/// A saved profile maps files dropped into its folder; the `default` profile maps files
/// dropped straight into the tenant's folder; a folder that is no profile fails its file,
/// naming the profiles there are.
async fn profiles_for_folder_drops(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    use leadgate_core::services::import_profiles::{ImportProfile, put_profile};
    let e = Env::new(store, blobs).await;
    let options = hubspot_mapping(&e).await;
    let profile = |name: &str| ImportProfile {
        name: name.into(),
        options: options.clone(),
    };
    put_profile(&*e.store, &e.tenant, profile("hubspot"))
        .await
        .unwrap();
    // The fallback the caller passes is the plain default, as the watcher and Lambda pass it.
    let plain = ImportOptions::default();
    let r = e
        .import("hubspot/export.csv", hubspot_lead_statuses_csv(), plain.clone())
        .await;
    assert_eq!((r.outcome, r.created), (ImportOutcome::Completed, 3), "{r:?}");
    assert_eq!(r.options, options);

    // Straight into the tenant's folder, without a default profile: synonyms only, and the
    // file's own status names are errors.
    let r = e
        .import("again.csv", hubspot_lead_statuses_csv(), plain.clone())
        .await;
    assert_eq!((r.outcome, r.created), (ImportOutcome::Rejected, 0), "{r:?}");
    put_profile(&*e.store, &e.tenant, profile("default"))
        .await
        .unwrap();
    let mut other_people = String::from_utf8(hubspot_lead_statuses_csv()).unwrap();
    for (from, to) in [
        ("ana@ruiz.es", "ana2@ruiz.es"),
        ("+34 600 111 222", "+34 600 111 333"),
        ("bo@lind.se", "bo2@lind.se"),
        ("cy@moss.io", "cy2@moss.io"),
    ] {
        other_people = other_people.replace(from, to);
    }
    let r = e
        .import("again2.csv", other_people.into_bytes(), plain.clone())
        .await;
    assert_eq!((r.outcome, r.created), (ImportOutcome::Completed, 3), "{r:?}");

    // A folder that names no profile: the job fails, saying what is there.
    let key = BlobKey::parse(&format!("imports/{}/hubspott/export.csv", e.tenant.id)).unwrap();
    let meta = e
        .blobs
        .put(&key, Bytes::from(hubspot_lead_statuses_csv()), "text/csv")
        .await
        .unwrap();
    let run = import_object(
        &*e.store,
        &*e.blobs,
        &SystemClock,
        &key,
        &meta.etag,
        plain,
        e.scratch.path(),
        Budget::UNLIMITED,
    )
    .await
    .unwrap();
    let ObjectImport::Failed { reason } = run else {
        panic!("expected a failed job, got {run:?}");
    };
    assert!(
        reason.contains("'hubspott'") && reason.contains("default, hubspot"),
        "{reason}"
    );
    assert_eq!(e.leads().await.len(), 6);
}

/// A migrated lead keeps its history: the created and last-activity dates of the system it
/// comes from (a US report with a day/month order set, a German export, seed 004's `date`
/// column), found by the date filters; a date that cannot be taken, and a malformed phone
/// beside a valid email, are kept in `data_warnings` instead of losing the lead.
async fn history_and_warnings(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    use leadgate_core::domain::DateRange;
    use leadgate_core::import::dates::DateOrder;
    let e = Env::new(store, blobs).await;
    let t = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let us = "First Name,Last Name,Email,Lead Source,Create Date,Last Activity\n\
              Ann,Lee,ann@lee.example,Referral,\"1/5/2025, 10:00 AM\",2/3/2025\n\
              Bob,Ray,bob@ray.example,Referral,12/24/2024,\n";
    let mut options = opts(ImportMode::ValidRows, DuplicatePolicy::Skip);
    options.date_order = Some(DateOrder::Mdy);
    let r = e.import("us.csv", us.as_bytes().to_vec(), options).await;
    assert_eq!((r.created, r.error_rows), (2, 0), "{r:?}");
    let de = "Vorname;Nachname;E-Mail;Telefon;Lead Source;Erstellt am\n\
              Jörg;Maier;joerg@maier.example;+49 30 901820;Referral;05.01.2025\n\
              Uwe;Kranz;uwe@kranz.example;0000;Referral;morgen\n\
              Eva;Zorn;eva@zorn.example;;Referral;03/04/2025\n\
              Kai;Ost;kai@ost.example;;Referral;2099-01-01\n";
    let r = e
        .import(
            "de.csv",
            de.as_bytes().to_vec(),
            opts(ImportMode::ValidRows, DuplicatePolicy::Skip),
        )
        .await;
    assert_eq!((r.created, r.error_rows), (4, 0), "{r:?}");
    let seed = "name,email,mobile,designation,pin_code,date,source\n\
                Ravi Kumar,ravi@kumar.example,+91 98765 43210,Manager,560001,2024-11-30,Referral\n";
    let r = e
        .import(
            "seed004.csv",
            seed.as_bytes().to_vec(),
            opts(ImportMode::AllOrNothing, DuplicatePolicy::Skip),
        )
        .await;
    assert_eq!((r.created, r.error_rows), (1, 0), "{r:?}");

    let leads = e.leads().await;
    let by = |name: &str| {
        leads
            .iter()
            .find(|l| l.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    assert_eq!(by("Ann Lee").created_at, t("2025-01-05T10:00:00Z"));
    assert_eq!(by("Ann Lee").last_activity_at, t("2025-02-03T00:00:00Z"));
    assert_eq!(
        (by("Bob Ray").created_at, by("Bob Ray").last_activity_at),
        (t("2024-12-24T00:00:00Z"), t("2024-12-24T00:00:00Z"))
    );
    assert_eq!(by("Jörg Maier").created_at, t("2025-01-05T00:00:00Z"));
    let ravi = by("Ravi Kumar");
    assert_eq!(ravi.created_at, t("2024-11-30T00:00:00Z"));
    assert_eq!(
        (ravi.position.as_deref(), ravi.address.postal_code.as_deref()),
        (Some("Manager"), Some("560001"))
    );
    assert_eq!(ravi.mobile.as_ref().map(|p| p.as_str()), Some("+919876543210"));
    let warned = |name: &str| -> Vec<(String, String)> {
        by(name)
            .data_warnings
            .iter()
            .map(|w| (w.field.clone(), w.code.clone()))
            .collect()
    };
    let pair = |f: &str, c: &str| (f.to_owned(), c.to_owned());
    assert_eq!(
        warned("Uwe Kranz"),
        [pair("phone", "invalid_phone"), pair("created_at", "invalid_date")]
    );
    assert_eq!(warned("Eva Zorn"), [pair("created_at", "ambiguous_date")]);
    assert_eq!(warned("Kai Ost"), [pair("created_at", "future_date")]);
    assert!(by("Kai Ost").created_at > t("2026-01-01T00:00:00Z"), "dated now");
    assert_eq!(by("Uwe Kranz").data_warnings[0].value, "0000");

    // The stores find migrated leads by their own dates, and flagged ones by the flag.
    let found = |q: LeadQuery| {
        let (store, tenant) = (e.store.clone(), e.tenant.id.clone());
        async move {
            let mut names: Vec<String> = store
                .list_leads(&tenant, &q)
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|l| l.name)
                .collect();
            names.sort();
            names
        }
    };
    let before_2025 = LeadQuery {
        created: DateRange {
            from: None,
            to: Some(t("2025-01-01T00:00:00Z")),
        },
        ..Default::default()
    };
    assert_eq!(found(before_2025).await, ["Bob Ray", "Ravi Kumar"]);
    let flagged = LeadQuery {
        has_warnings: Some(true),
        ..Default::default()
    };
    assert_eq!(found(flagged).await, ["Eva Zorn", "Kai Ost", "Uwe Kranz"]);
    let clean = LeadQuery {
        has_warnings: Some(false),
        ..Default::default()
    };
    assert_eq!(found(clean).await.len(), 4);

    // all_or_nothing refuses a malformed phone unless told to keep it.
    let bad_phone = "Name,Email,Phone,Source\nZed Vo,zed@vo.example,12,Referral\n";
    let r = e
        .import(
            "strict.csv",
            bad_phone.as_bytes().to_vec(),
            opts(ImportMode::AllOrNothing, DuplicatePolicy::Skip),
        )
        .await;
    assert_eq!((r.outcome, r.error_rows), (ImportOutcome::Rejected, 1), "{r:?}");
    let mut keep = opts(ImportMode::AllOrNothing, DuplicatePolicy::Skip);
    keep.data_quality = Some(leadgate_core::domain::data_quality::DataQuality::KeepFlagged);
    let r = e.import("kept.csv", bad_phone.as_bytes().to_vec(), keep).await;
    assert_eq!((r.outcome, r.created), (ImportOutcome::Completed, 1), "{r:?}");

    // An update row keeps a malformed value aside too (valid_rows), and the rest applies.
    let update = "Name,Email,Phone,Company,Source\nAnn Lee,ann@lee.example,12,Lee Partners,Referral\n";
    let r = e
        .import(
            "update.csv",
            update.as_bytes().to_vec(),
            opts(ImportMode::ValidRows, DuplicatePolicy::Update),
        )
        .await;
    assert_eq!((r.updated, r.error_rows), (1, 0), "{r:?}");
    let ann = e.leads().await.into_iter().find(|l| l.name == "Ann Lee").unwrap();
    assert_eq!(ann.company.as_deref(), Some("Lee Partners"));
    assert_eq!(
        (
            ann.data_warnings[0].field.as_str(),
            ann.data_warnings[0].value.as_str()
        ),
        ("phone", "12")
    );
}

/// The templates, as the API serves them, import their own example row cleanly: the CSV's
/// valid-values line is skipped as a title, custom fields (a required select) are columns.
async fn templates_import_cleanly(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    use leadgate_core::domain::custom_field::{CustomFieldDef, CustomFieldType, CustomValue};
    use leadgate_core::import::template::{
        VALID_VALUES_TITLE, template_columns, template_csv, template_xlsx,
    };
    use leadgate_core::services::{custom_fields, leads::load_context};
    let e = Env::new(store, blobs).await;
    let tier = CustomFieldDef {
        key: "tier".into(),
        label: "Tier".into(),
        field_type: CustomFieldType::Select,
        required: true,
        options: vec!["gold".into(), "silver".into()],
    };
    custom_fields::put_custom_field(&*e.store, &e.tenant.id, tier)
        .await
        .unwrap();
    let ctx = load_context(&*e.store, &e.tenant).await.unwrap();
    let cols = template_columns(&ctx);
    let csv = template_csv(&cols);
    let text = String::from_utf8(csv.clone()).unwrap();
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with(VALID_VALUES_TITLE) && first.contains("one of: gold | silver"),
        "{first}"
    );
    assert!(first.contains("one of: new | contacted"), "{first}");
    let r = e
        .import(
            "template.csv",
            csv,
            opts(ImportMode::AllOrNothing, DuplicatePolicy::Skip),
        )
        .await;
    assert_eq!(
        (r.outcome, r.created, r.header_line),
        (ImportOutcome::Completed, 1, Some(2)),
        "{r:?}"
    );
    assert_eq!(r.unknown_columns, Vec::<String>::new());
    let lead = e.leads().await.pop().unwrap();
    assert_eq!(lead.name, "Jane Example");
    assert_eq!(lead.custom.get("tier"), Some(&CustomValue::Text("gold".into())));
    assert_eq!(lead.source.as_str(), ctx.sources[0].id.as_str());

    let xlsx = template_xlsx(&cols).unwrap();
    let r = e
        .import(
            "template.xlsx",
            xlsx,
            opts(ImportMode::AllOrNothing, DuplicatePolicy::Create),
        )
        .await;
    assert_eq!(
        (r.outcome, r.created, r.error_rows),
        (ImportOutcome::Completed, 1, 0),
        "{r:?}"
    );
}

/// Preview, then run without uploading again: a `validate` job's report shows how each column
/// mapped and why, its values and what they map to, and the rows as they would be stored;
/// `run` commits it on the same file (a job's upload, and a file dropped into the folder);
/// a file that changed since is refused, and so is a job that is not validated.
async fn preview_then_run(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    use leadgate_core::services::ServiceError;
    use leadgate_core::services::import_jobs::{ImportJobStatus, get_import_job, run_validated_job};
    use leadgate_core::services::import_profiles::{ImportProfile, put_profile};
    use leadgate_core::services::imports::create_import_job;
    let e = Env::new(store, blobs).await;
    let mut options = hubspot_mapping(&e).await;
    options.mode = ImportMode::Validate;
    let run_object = |key: BlobKey, etag: String| {
        let (store, blobs, dir) = (e.store.clone(), e.blobs.clone(), e.scratch.path().to_owned());
        async move {
            import_object(
                &*store,
                &*blobs,
                &SystemClock,
                &key,
                &etag,
                ImportOptions::default(),
                &dir,
                Budget::UNLIMITED,
            )
            .await
            .unwrap()
        }
    };
    let job = create_import_job(
        &*e.store,
        &e.tenant,
        "admin",
        "hubspot.csv",
        options.clone(),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let key = BlobKey::parse(&job.key).unwrap();
    let meta = e
        .blobs
        .put(&key, Bytes::from(hubspot_lead_statuses_csv()), "text/csv")
        .await
        .unwrap();
    let ObjectImport::Done(r) = run_object(key.clone(), meta.etag.clone()).await else {
        panic!("validated");
    };
    assert_eq!(
        (r.outcome, r.valid_rows, r.created),
        (ImportOutcome::Validated, 3, 0),
        "{r:?}"
    );
    let preview = r.preview.as_ref().unwrap();
    let col = |h: &str| preview.columns.iter().find(|c| c.header == h).unwrap();
    assert_eq!(
        (
            col("Original Source").maps_to.as_str(),
            col("Original Source").why.as_str()
        ),
        ("source", "mapping")
    );
    assert_eq!(
        (
            col("GDPR Consent").maps_to.as_str(),
            col("GDPR Consent").why.as_str()
        ),
        ("custom:gdpr", "custom_field")
    );
    assert_eq!((col("Email").why.as_str(), col("Email").filled), ("synonym", 3));
    assert_eq!(col("Phone Number").filled, 1);
    let statuses: Vec<(String, u64, Option<String>)> = col("Lead Status")
        .values
        .iter()
        .map(|v| (v.value.clone(), v.count, v.maps_to.clone()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("Attempted to contact".into(), 1, Some("contacted".into())),
            ("Unqualified".into(), 1, Some("unqualified".into())),
            ("OPEN".into(), 1, Some("new".into())),
        ]
    );
    assert_eq!(preview.rows.len(), 3);
    assert_eq!(preview.rows[0]["phone"], "+34600111222", "stored as E.164");
    assert!(e.leads().await.is_empty());

    // Run it as validated (all_or_nothing): no upload.
    let queued = run_validated_job(&*e.store, &*e.blobs, &e.tenant, &job.id, None)
        .await
        .unwrap();
    // Asked again before it starts (its start was lost): the same run, asked for again.
    let again = run_validated_job(&*e.store, &*e.blobs, &e.tenant, &job.id, None)
        .await
        .unwrap();
    assert_eq!((again.status, again.run), (queued.status, queued.run));
    assert_eq!(
        (queued.status, queued.options.mode),
        (ImportJobStatus::Queued, ImportMode::AllOrNothing)
    );
    let ObjectImport::Done(r) = run_object(key.clone(), meta.etag.clone()).await else {
        panic!("ran");
    };
    assert_eq!((r.outcome, r.created), (ImportOutcome::Completed, 3), "{r:?}");
    let done = get_import_job(&*e.store, &*e.blobs, &e.tenant.id, &job.id, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(done.status, ImportJobStatus::Completed);
    let again = run_validated_job(&*e.store, &*e.blobs, &e.tenant, &job.id, None).await;
    assert!(matches!(again, Err(ServiceError::InUse(_))), "{again:?}");

    // A validated file that changed before the run: refused, nothing imported.
    let plain_validate = ImportOptions {
        mode: ImportMode::Validate,
        ..Default::default()
    };
    let job2 = create_import_job(
        &*e.store,
        &e.tenant,
        "admin",
        "other.csv",
        plain_validate,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let key2 = BlobKey::parse(&job2.key).unwrap();
    let other = "Name,Email,Lead Source\nNia Vo,nia@vo.example,Referral\n";
    let meta2 = e.blobs.put(&key2, Bytes::from(other), "text/csv").await.unwrap();
    assert!(matches!(
        run_object(key2.clone(), meta2.etag).await,
        ObjectImport::Done(_)
    ));
    e.blobs
        .put(
            &key2,
            Bytes::from(format!("{other}Ola Vo,ola@vo.example,Referral\n")),
            "text/csv",
        )
        .await
        .unwrap();
    let changed = run_validated_job(&*e.store, &*e.blobs, &e.tenant, &job2.id, None).await;
    let Err(ServiceError::InUse(why)) = changed else {
        panic!("{changed:?}");
    };
    assert!(why.contains("changed since it was validated"), "{why}");

    // A file dropped into a validate profile's folder, previewed, then run with changed options.
    let mut preview_only = ImportOptions {
        mode: ImportMode::Validate,
        ..Default::default()
    };
    put_profile(
        &*e.store,
        &e.tenant,
        ImportProfile {
            name: "check".into(),
            options: preview_only.clone(),
        },
    )
    .await
    .unwrap();
    let dropped = BlobKey::parse(&format!("imports/{}/check/list.csv", e.tenant.id)).unwrap();
    let meta3 = e
        .blobs
        .put(&dropped, Bytes::from(other), "text/csv")
        .await
        .unwrap();
    let ObjectImport::Done(r) = run_object(dropped.clone(), meta3.etag.clone()).await else {
        panic!("validated");
    };
    assert_eq!(r.outcome, ImportOutcome::Validated);
    preview_only.mode = ImportMode::ValidRows;
    run_validated_job(&*e.store, &*e.blobs, &e.tenant, &r.job_id, Some(preview_only))
        .await
        .unwrap();
    let ObjectImport::Done(r) = run_object(dropped, meta3.etag).await else {
        panic!("ran");
    };
    assert_eq!((r.outcome, r.created), (ImportOutcome::Completed, 1), "{r:?}");
    assert_eq!(e.leads().await.len(), 4);
}

/// The known exports, as data: each system's sample row and each language's imports as a
/// new admin's folder drop would (valid rows, the default source for files without a source
/// column), with its status and source read by the table; an unknown source follows the
/// `unknown_source` policy.
async fn known_exports_import(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    use leadgate_core::import::UnknownSource;
    use leadgate_core::import::known_exports::{LANGUAGES, SYSTEMS};
    let e = Env::new(store, blobs).await;
    let options = ImportOptions {
        mode: ImportMode::ValidRows,
        default_source: Some("Referral".into()),
        ..Default::default()
    };
    let samples = SYSTEMS
        .iter()
        .map(|s| (s.system, s.sample, s.expect.0, s.expect.1))
        .chain(
            LANGUAGES
                .iter()
                .map(|l| (l.language, l.sample, l.expect_status, "referral")),
        );
    for (i, (who, sample, status, source)) in samples.enumerate() {
        let r = e
            .import(
                &format!("known-{i}.csv"),
                sample.as_bytes().to_vec(),
                options.clone(),
            )
            .await;
        assert_eq!(
            (r.created, r.error_rows),
            (1, 0),
            "{who}: {}",
            e.report_file(&r.errors_csv).await
        );
        let q = LeadQuery {
            import_job: Some(r.job_id.clone()),
            ..Default::default()
        };
        let lead = e
            .store
            .list_leads(&e.tenant.id, &q)
            .await
            .unwrap()
            .items
            .pop()
            .unwrap();
        let source = if source.is_empty() { "referral" } else { source };
        assert_eq!(
            (lead.status.as_str(), lead.source.as_str()),
            (status, source),
            "{who}: {lead:?}"
        );
        assert!(lead.email.is_some() && !lead.name.is_empty(), "{who}: {lead:?}");
    }
    // Salesforce's owner is a person there, none of the reps here: kept aside, not refused.
    let sf = e
        .leads()
        .await
        .into_iter()
        .find(|l| l.name == "Sam Reed")
        .unwrap();
    assert_eq!(sf.data_warnings[0].field, "owner", "{sf:?}");
    assert_eq!(sf.position.as_deref(), Some("CFO"));

    let unknown = "Name,Email,Lead Source\nVic Vale,vic@vale.example,Billboard\n";
    let r = e
        .import("unknown.csv", unknown.as_bytes().to_vec(), options.clone())
        .await;
    assert_eq!((r.created, r.error_rows), (0, 1), "{r:?}");
    let lenient = ImportOptions {
        unknown_source: Some(UnknownSource::Default),
        ..options
    };
    let r = e
        .import("unknown2.csv", unknown.as_bytes().to_vec(), lenient.clone())
        .await;
    assert_eq!((r.created, r.error_rows), (1, 0), "{r:?}");

    // `create`: the file's new sources are added when its rows are saved (a dry run adds
    // none), and new leads without an owner cell take the default owner.
    use leadgate_core::domain::{RepId, rep::Rep};
    use leadgate_core::services::{reps, sources::list_sources};
    let ana = Rep {
        id: RepId::parse("ana").unwrap(),
        name: "Ana".into(),
        weight: 1,
        active: true,
        available: true,
    };
    reps::put_rep(&*e.store, &e.tenant.id, ana).await.unwrap();
    let new_ones = "Name,Email,Lead Source\n\
                    Abe Ash,abe@ash.example,Billboard\n\
                    Bea Birch,bea@birch.example,Podcast ad\n\
                    Cal Cedar,cal@cedar.example,BILLBOARD\n";
    let create = ImportOptions {
        unknown_source: Some(UnknownSource::Create),
        default_owner: Some("ana".into()),
        mode: ImportMode::Validate,
        ..lenient
    };
    let r = e
        .import(
            "new-sources-dry.csv",
            new_ones.as_bytes().to_vec(),
            create.clone(),
        )
        .await;
    assert_eq!((r.outcome, r.valid_rows), (ImportOutcome::Validated, 3), "{r:?}");
    let names =
        |list: Vec<leadgate_core::domain::Source>| list.into_iter().map(|s| s.name).collect::<Vec<_>>();
    assert!(!names(list_sources(&*e.store, &e.tenant.id).await.unwrap()).contains(&"Billboard".to_string()));
    let run = ImportOptions {
        mode: ImportMode::AllOrNothing,
        ..create
    };
    let r = e
        .import("new-sources.csv", new_ones.as_bytes().to_vec(), run)
        .await;
    assert_eq!((r.created, r.error_rows), (3, 0), "{r:?}");
    let all = list_sources(&*e.store, &e.tenant.id).await.unwrap();
    let billboard = all.iter().find(|s| s.name == "Billboard").expect("created");
    assert!(
        all.iter()
            .any(|s| s.name == "Podcast ad" && s.id.as_str() == "podcast-ad"),
        "{all:?}"
    );
    let q = LeadQuery {
        import_job: Some(r.job_id.clone()),
        ..Default::default()
    };
    let leads = e.store.list_leads(&e.tenant.id, &q).await.unwrap().items;
    assert_eq!(leads.iter().filter(|l| l.source == billboard.id).count(), 2);
    assert!(
        leads
            .iter()
            .all(|l| l.owner.as_ref().map(|o| o.as_str()) == Some("ana"))
    );
}

/// Legacy encodings as Excel saves "CSV" in Poland, Russia and Japan: the file is detected as
/// what it is (it used to be read as Windows-1252, turning every name into mojibake).
async fn legacy_encodings(store: Arc<dyn LeadStore>, blobs: Arc<dyn BlobStore>) {
    let e = Env::new(store, blobs).await;
    let cases: [(&'static encoding_rs::Encoding, &str, &[&str]); 3] = [
        (
            encoding_rs::WINDOWS_1250,
            "windows-1250",
            &[
                "Łukasz Wróbel",
                "Małgorzata Kowalczyk",
                "Zdeněk Dvořák",
                "Jiří Novotný",
                "Agnieszka Wiśniewska",
                "Paweł Zieliński",
            ],
        ),
        (
            encoding_rs::WINDOWS_1251,
            "windows-1251",
            &[
                "Иван Петров",
                "Мария Смирнова",
                "Алексей Кузнецов",
                "Ольга Попова",
                "Дмитрий Соколов",
                "Наталья Лебедева",
            ],
        ),
        (
            encoding_rs::SHIFT_JIS,
            "Shift_JIS",
            &[
                "山田太郎",
                "佐藤花子",
                "鈴木一郎",
                "高橋美咲",
                "田中健太",
                "伊藤さくら",
            ],
        ),
    ];
    for (i, (enc, label, names)) in cases.into_iter().enumerate() {
        let mut text = String::from("Name,Email,Lead Source\r\n");
        for (j, n) in names.iter().enumerate() {
            text.push_str(&format!("{n},p{i}x{j}@legacy.example,Referral\r\n"));
        }
        let (bytes, _, bad) = enc.encode(&text);
        assert!(!bad, "{label}");
        let r = e
            .import(
                &format!("legacy-{i}.csv"),
                bytes.into_owned(),
                opts(ImportMode::AllOrNothing, DuplicatePolicy::Skip),
            )
            .await;
        assert_eq!(
            (r.encoding.as_deref(), r.created),
            (Some(label), names.len() as u64),
            "{r:?}"
        );
        let q = LeadQuery {
            import_job: Some(r.job_id.clone()),
            limit: 50,
            ..Default::default()
        };
        let mut got: Vec<String> = e
            .store
            .list_leads(&e.tenant.id, &q)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|l| l.name)
            .collect();
        got.sort();
        let mut want: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "{label}");
    }
}

store_and_bucket_cases!(
    when_other_crms_exports_are_imported_should_read_every_dialect => other_crm_exports,
    when_a_csv_is_in_a_legacy_encoding_should_detect_which => legacy_encodings,
    when_the_admin_maps_columns_and_values_should_import_by_the_mapping => explicit_mapping,
    when_a_file_is_dropped_into_a_profile_folder_should_import_by_the_profile => profiles_for_folder_drops,
    when_migrated_leads_bring_dates_and_bad_values_should_keep_both => history_and_warnings,
    when_the_templates_are_filled_as_served_should_import_their_example_row => templates_import_cleanly,
    when_a_validated_job_is_run_should_import_the_same_file_without_upload => preview_then_run,
    when_files_come_from_other_crms_and_languages_should_read_them_by_the_table => known_exports_import,
    when_modes_and_duplicate_policies_apply_should_save_accordingly => modes_and_duplicates,
    when_files_are_hostile_should_report_clearly_and_save_nothing => hostile_files,
    when_the_same_object_arrives_ten_times_should_import_once => same_object_imports_once,
    when_an_import_runs_in_budgeted_chunks_should_match_one_run => chunked_import_matches_one_go,
    when_duplicates_span_lookup_batches_should_still_be_found => duplicates_across_batches,
    when_a_run_is_killed_after_a_write_should_resume_without_duplicates => killed_run_resumes_exactly_once,
);
