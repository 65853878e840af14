//! `leadgate export [FILTER…] -o FILE`: an export job, as `POST /v1/exports` makes it, run here
//! with a progress bar (or followed, if the running gateway's watcher or the Lambda takes it
//! first), then its file downloaded to FILE. Filters are the list's parameters
//! (`status=qualified owner=Ana tag=vip`). Prints the finished job as JSON. Exit: 0 written,
//! 2 a filter or column refused, 1 failed.

use super::progress::Progress;
use super::{CliError, out_err};
use clap::{Args, ValueEnum};
use leadgate_core::domain::TenantId;
use leadgate_core::domain::query::LeadQuery;
use leadgate_core::domain::tenant::{Principal, Role};
use leadgate_core::export::ExportFormat;
use leadgate_core::ports::blob::BlobKey;
use leadgate_core::ports::clock::{Clock, SystemClock};
use leadgate_core::services::exports::{self, ExportStatus, NewExport};
use leadgate_core::services::{ServiceError, leads, tenants};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Csv,
    Xlsx,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Filters, as the list's query parameters: `status=new,contacted`, `owner=Ana`, `tag=vip`.
    #[arg(value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Where the file is written.
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// csv or xlsx; without it, from the output's extension (csv when it says nothing).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// The columns, by their template names, comma-separated; every column when left out.
    #[arg(long, value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    #[arg(long, default_value = "default")]
    pub tenant: String,
}

fn format_of(args: &ExportArgs) -> ExportFormat {
    match args.format {
        Some(FormatArg::Csv) => ExportFormat::Csv,
        Some(FormatArg::Xlsx) => ExportFormat::Xlsx,
        None if args
            .output
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("xlsx")) =>
        {
            ExportFormat::Xlsx
        }
        None => ExportFormat::Csv,
    }
}

fn filters_of(raw: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    raw.iter()
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .ok_or_else(|| CliError::Rejected(format!("a filter is KEY=VALUE (status=new), not '{f}'")))
        })
        .collect()
}

/// Copies the finished object to `output` through a temporary file beside it, so a reader
/// never sees half a file.
async fn download(
    blobs: &dyn leadgate_core::ports::blob::BlobStore,
    key: &BlobKey,
    output: &Path,
) -> Result<u64, CliError> {
    let failed = |e: std::io::Error| CliError::Failed(format!("cannot write {}: {e}", output.display()));
    let tmp = output.with_extension("part");
    let mut reader = blobs.get(key).await.map_err(ServiceError::from)?;
    let mut file = tokio::fs::File::create(&tmp).await.map_err(failed)?;
    let n = tokio::io::copy(&mut reader, &mut file).await.map_err(failed)?;
    file.sync_all().await.map_err(failed)?;
    tokio::fs::rename(&tmp, output).await.map_err(failed)?;
    Ok(n)
}

pub async fn run(opened: super::Opened, args: ExportArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let super::Opened {
        store,
        blobs,
        scratch,
    } = opened;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let tenant_id = TenantId::parse(&args.tenant).map_err(|e| CliError::Rejected(e.to_string()))?;
    let tenant = tenants::active_tenant(&*store, &tenant_id).await?;
    let principal = Principal {
        tenant: tenant.id.clone(),
        user: "cli".into(),
        role: Role::Admin,
    };
    let filters = filters_of(&args.filters)?;
    let new = NewExport {
        format: format_of(&args),
        filters: filters.clone(),
        columns: args.columns.clone(),
    };
    let job = exports::create_export_job(&*store, &*blobs, &tenant, &principal, new, clock.now()).await?;
    let ctx = leads::load_context(&*store, &tenant).await?;
    let total = leads::count_visible_leads(
        &*store,
        &tenant,
        &principal,
        LeadQuery::from_filters(&filters, &ctx, "filters").map_err(ServiceError::from)?,
    )
    .await?
    .count;
    let mut progress = Progress::new(format!("export {}", job.id));
    progress.update("writing", 0, Some(total));
    let request = exports::request_key(&tenant.id, &job.id)?;
    let spawn_run = || {
        let (store, blobs, clock) = (store.clone(), blobs.clone(), clock.clone());
        let (request, scratch) = (request.clone(), scratch.clone());
        tokio::spawn(async move { exports::run_export(&*store, &*blobs, &*clock, &request, &scratch).await })
    };
    // As for imports: follow whoever runs it, and try again every few seconds in case that
    // run died (its lease runs out, or a failed attempt put the job back to pending).
    let mut run = Some(spawn_run());
    let mut last_try = Instant::now();
    let job = loop {
        if let Some(handle) = run.as_mut().filter(|h| h.is_finished()) {
            match handle.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.into()),
                Err(e) => return Err(CliError::Failed(format!("the export stopped: {e}"))),
            }
            run = None;
        }
        let job = exports::get_export_job(&*store, &principal, &job.id).await?;
        let finished = matches!(job.status, ExportStatus::Completed | ExportStatus::Failed);
        if finished && run.is_none() {
            break job;
        }
        if run.is_none() && !finished && last_try.elapsed() >= Duration::from_secs(5) {
            run = Some(spawn_run());
            last_try = Instant::now();
        }
        progress.update("writing", job.rows.unwrap_or(0), Some(total));
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if job.status == ExportStatus::Failed {
        progress.finish("failed");
        return Err(CliError::Failed(
            job.error.unwrap_or_else(|| "the export failed".into()),
        ));
    }
    let key = BlobKey::parse(&job.key).map_err(ServiceError::from)?;
    let bytes = download(&*blobs, &key, &args.output).await?;
    progress.finish(&format!(
        "{} rows, {bytes} bytes → {}",
        job.rows.unwrap_or(0),
        args.output.display()
    ));
    let shown = serde_json::json!({ "job": job, "output": args.output, "bytes": bytes });
    writeln!(out, "{shown:#}").map_err(out_err)?;
    Ok(())
}
