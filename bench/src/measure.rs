//! One measurement per call: time, rows, rows/s and this process's peak RSS.

use leadgate_core::adapters::local_blob::LocalBlobStore;
use leadgate_core::adapters::sqlite::SqliteStore;
use leadgate_core::config::LocalBlobConfig;
use leadgate_core::domain::lead::{Lead, LeadContext, NewLead};
use leadgate_core::domain::source::seeded_sources;
use leadgate_core::domain::tenant::{Principal, Role};
use leadgate_core::domain::{LeadId, TenantId};
use leadgate_core::export::ExportFormat;
use leadgate_core::import::mapping::{Mapping, map_headers, row_input};
use leadgate_core::import::table;
use leadgate_core::ports::blob::BlobKey;
use leadgate_core::ports::clock::SystemClock;
use leadgate_core::ports::store::LeadStore;
use leadgate_core::secret::Secret;
use leadgate_core::services::exports::{ExportRun, NewExport, create_export_job, run_export};
use leadgate_core::services::tenants;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Instant;

/// Peak resident set size of this process, in MiB (Linux `VmHWM`).
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn result(what: &str, rows: u64, started: Instant, extra: Value) -> Value {
    let secs = started.elapsed().as_secs_f64();
    let mut v = json!({
        "bench": what,
        "rows": rows,
        "secs": secs,
        "rows_per_s": rows as f64 / secs,
        "peak_rss_mib": peak_rss_mib(),
    });
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v
}

fn context() -> LeadContext {
    LeadContext {
        region: Default::default(),
        sources: seeded_sources(),
        custom_fields: vec![],
        reps: vec![],
        unqualified: Default::default(),
        overdue_cutoff: Default::default(),
    }
}

/// Read (transcoding to a UTF-8 scratch copy when needed), map, validate and normalize every
/// row: what pass 1 of an import does per row, without the store.
pub fn pipeline(file: &Path) -> Result<Value, String> {
    let scratch = std::env::temp_dir().join(format!("leadgate-bench-{}.csv", std::process::id()));
    let started = Instant::now();
    let t = table::open(file, &scratch).map_err(|e| e.to_string())?;
    let ctx = context();
    let mapping = Mapping::default();
    let columns = map_headers(&t.headers, &ctx.custom_fields, &mapping);
    let (mut rows, mut valid) = (0u64, 0u64);
    let mut first_error = None;
    for row in t {
        let (_, cells) = row.map_err(|e| e.to_string())?;
        rows += 1;
        let mut input = row_input(&columns, &cells, &mapping);
        // The import's default source, for rows without one.
        input.source.get_or_insert_with(|| "Referral".into());
        match NewLead::parse(&input, &ctx) {
            Ok(_) => valid += 1,
            Err(e) => {
                first_error.get_or_insert_with(|| format!("{cells:?}: {e}"));
            }
        }
    }
    let _ = std::fs::remove_file(&scratch);
    if valid != rows {
        return Err(format!(
            "{} of {rows} rows were invalid; the first: {}",
            rows - valid,
            first_error.unwrap_or_default()
        ));
    }
    Ok(result("pipeline", rows, started, json!({"valid": valid})))
}

pub fn csv_raw(file: &Path) -> Result<Value, String> {
    let started = Instant::now();
    let mut r = csv::Reader::from_path(file).map_err(|e| e.to_string())?;
    let mut rec = csv::StringRecord::new();
    let (mut rows, mut fields) = (0u64, 0u64);
    while r.read_record(&mut rec).map_err(|e| e.to_string())? {
        rows += 1;
        fields += rec.len() as u64;
    }
    Ok(result("csv_raw", rows, started, json!({"fields": fields})))
}

pub fn calamine_raw(file: &Path) -> Result<Value, String> {
    use calamine::{Reader, Xlsx, open_workbook};
    let started = Instant::now();
    let mut wb: Xlsx<_> = open_workbook(file).map_err(|e: calamine::XlsxError| e.to_string())?;
    let name = wb.sheet_names().first().cloned().ok_or("no sheet")?;
    let range = wb.worksheet_range(&name).map_err(|e| e.to_string())?;
    let (mut rows, mut cells) = (0u64, 0u64);
    for r in range.rows().skip(1) {
        rows += 1;
        cells += r.iter().filter(|c| !matches!(c, calamine::Data::Empty)).count() as u64;
    }
    Ok(result("calamine_raw", rows, started, json!({"cells": cells})))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn default_tenant() -> TenantId {
    TenantId::parse("default").expect("a valid id")
}

/// Fills the gateway's SQLite file with generated leads (batches of 500, as imports write).
pub fn seed(rows: usize, data: &Path) -> Result<Value, String> {
    std::fs::create_dir_all(data).map_err(|e| e.to_string())?;
    let store = SqliteStore::open(&data.join("leadgate.sqlite3")).map_err(|e| e.to_string())?;
    let started = Instant::now();
    runtime().block_on(async {
        let t = default_tenant();
        tenants::ensure_tenant(&store, &t, "Default", chrono::Utc::now())
            .await
            .map_err(|e| e.to_string())?;
        let ctx = context();
        let mapping = Mapping::default();
        let columns = map_headers(
            &crate::generate::HEADERS.map(String::from),
            &ctx.custom_fields,
            &mapping,
        );
        let mut batch = Vec::with_capacity(500);
        for i in 0..rows {
            let cells = crate::generate::row(i).to_vec();
            let new =
                NewLead::parse(&row_input(&columns, &cells, &mapping), &ctx).map_err(|e| e.to_string())?;
            batch.push(Lead::from_new(t.clone(), LeadId::new(), new, chrono::Utc::now()));
            if batch.len() == 500 || i + 1 == rows {
                store
                    .put_leads_batch(&batch, &[])
                    .await
                    .map_err(|e| e.to_string())?;
                batch.clear();
            }
        }
        Ok::<(), String>(())
    })?;
    Ok(result("seed", rows as u64, started, json!({})))
}

/// Exports every lead of the default tenant, as the export function does.
pub fn export(data: &Path, format: &str) -> Result<Value, String> {
    let format = match format {
        "csv" => ExportFormat::Csv,
        "xlsx" => ExportFormat::Xlsx,
        other => return Err(format!("format is csv or xlsx, not {other}")),
    };
    let store = SqliteStore::open(&data.join("leadgate.sqlite3")).map_err(|e| e.to_string())?;
    let blobs = LocalBlobStore::open(LocalBlobConfig {
        root: data.join("bucket"),
        public_url: "http://127.0.0.1:1".into(),
        signing_key: Secret::new("bench-signing-key-0123456789abcdef"),
    })
    .map_err(|e| e.to_string())?;
    runtime().block_on(async {
        let t = default_tenant();
        let tenant = tenants::get_tenant(&store, &t)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("seed first")?;
        let admin = Principal {
            tenant: t.clone(),
            user: "admin".into(),
            role: Role::Admin,
        };
        let started = Instant::now();
        let job = create_export_job(
            &store,
            &blobs,
            &tenant,
            &admin,
            NewExport {
                format,
                filters: Default::default(),
                columns: None,
            },
            chrono::Utc::now(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let request =
            BlobKey::parse(&format!("exports/requests/{t}/{}.json", job.id)).map_err(|e| e.to_string())?;
        let run = run_export(&store, &blobs, &SystemClock, &request, &data.join("tmp"))
            .await
            .map_err(|e| e.to_string())?;
        let ExportRun::Done(done) = run else {
            return Err(format!("the export did not run: {run:?}"));
        };
        Ok(result(
            &format!("export_{}", format.extension()),
            done.rows.unwrap_or(0),
            started,
            json!({"bytes": done.size}),
        ))
    })
}
