//! `leadgate import FILE`: the file is uploaded as an import job's file, as
//! `POST /v1/imports` and a PUT to its URL would, then imported here with a progress bar. If
//! the running gateway's watcher (or the Lambda, on S3) claims the file first, this follows
//! that run instead: the per-file claim lets one run import it. Prints the finished job (its
//! report summary) as JSON. Exit: 0 completed or validated, 2 rejected or unreadable (nothing
//! saved), 1 failed.

use super::progress::Progress;
use super::{CliError, out_err};
use clap::{Args, ValueEnum};
use leadgate_core::domain::TenantId;
use leadgate_core::import::{DuplicatePolicy, ImportMode, ImportOptions};
use leadgate_core::ports::blob::{BlobKey, BlobMeta, BlobStore};
use leadgate_core::ports::clock::{Clock, SystemClock};
use leadgate_core::services::imports::pipeline::Budget;
use leadgate_core::services::imports::{self, ImportJob, ImportJobStatus, ImportPhase};
use leadgate_core::services::{ServiceError, import_profiles, tenants};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// A dry run: the full report, nothing saved.
    Validate,
    /// Any error row means nothing is saved (the default).
    AllOrNothing,
    /// Save the good rows, report the bad ones.
    ValidRows,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DuplicatesArg {
    /// Leave the existing lead alone (the default).
    Skip,
    /// Update the existing lead with the row's non-empty values.
    Update,
    /// Create a new lead anyway.
    Create,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file: CSV (any common dialect and encoding), XLSX, XLS or ODS.
    pub file: PathBuf,
    /// The tenant whose leads these are.
    #[arg(long, default_value = "default")]
    pub tenant: String,
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// What a row matching an existing lead does.
    #[arg(long, value_enum)]
    pub duplicates: Option<DuplicatesArg>,
    /// A saved import profile, whose options the import runs with.
    #[arg(long, conflicts_with_all = ["mode", "duplicates"])]
    pub profile: Option<String>,
}

/// The bucket reads the file in parts of this size (S3's multipart floor is 5 MiB).
const PART: usize = 8 * 1024 * 1024;

/// How often a job someone else runs is tried again (its lease may have run out).
const RETRY_EVERY: Duration = Duration::from_secs(5);

async fn upload(blobs: &dyn BlobStore, key: &BlobKey, file: &Path) -> Result<BlobMeta, CliError> {
    let mut f = tokio::fs::File::open(file)
        .await
        .map_err(|e| CliError::Rejected(format!("cannot read {}: {e}", file.display())))?;
    let mut up = blobs
        .start_multipart(key, "application/octet-stream")
        .await
        .map_err(ServiceError::from)?;
    loop {
        let mut buf = Vec::with_capacity(PART);
        let n = (&mut f)
            .take(PART as u64)
            .read_to_end(&mut buf)
            .await
            .map_err(|e| CliError::Failed(format!("cannot read {}: {e}", file.display())))?;
        if n == 0 {
            break;
        }
        up.write(buf.into()).await.map_err(ServiceError::from)?;
    }
    Ok(up.complete().await.map_err(ServiceError::from)?)
}

fn options(args: &ImportArgs) -> Option<ImportOptions> {
    if args.mode.is_none() && args.duplicates.is_none() {
        return None;
    }
    Some(ImportOptions {
        mode: match args.mode {
            Some(ModeArg::Validate) => ImportMode::Validate,
            Some(ModeArg::ValidRows) => ImportMode::ValidRows,
            Some(ModeArg::AllOrNothing) | None => ImportMode::AllOrNothing,
        },
        duplicates: match args.duplicates {
            Some(DuplicatesArg::Update) => DuplicatePolicy::Update,
            Some(DuplicatesArg::Create) => DuplicatePolicy::Create,
            Some(DuplicatesArg::Skip) | None => DuplicatePolicy::Skip,
        },
        ..Default::default()
    })
}

fn finished(status: ImportJobStatus) -> bool {
    !matches!(status, ImportJobStatus::AwaitingUpload | ImportJobStatus::Running)
}

fn phase_name(p: ImportPhase) -> &'static str {
    match p {
        ImportPhase::Reading => "reading",
        ImportPhase::Validating => "validating",
        ImportPhase::Writing => "writing",
    }
}

pub async fn run(opened: super::Opened, args: ImportArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let super::Opened {
        store,
        blobs,
        scratch,
    } = opened;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let tenant_id = TenantId::parse(&args.tenant).map_err(|e| CliError::Rejected(e.to_string()))?;
    let tenant = tenants::active_tenant(&*store, &tenant_id).await?;
    let options =
        import_profiles::options_or_profile(&*store, &tenant, options(&args), args.profile.as_deref())
            .await?;
    let filename = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| CliError::Rejected(format!("{} is not a file", args.file.display())))?;
    // The file must be readable before a job is made for it.
    std::fs::File::open(&args.file)
        .map_err(|e| CliError::Rejected(format!("cannot read {}: {e}", args.file.display())))?;
    let job = imports::create_import_job(&*store, &tenant, "cli", &filename, options, clock.now()).await?;
    let key = BlobKey::parse(&job.key).map_err(ServiceError::from)?;
    let mut progress = Progress::new(format!("import {}", job.id));
    progress.update("uploading", 0, None);
    let meta = upload(&*blobs, &key, &args.file).await?;
    let spawn_run = || {
        let (store, blobs, clock) = (store.clone(), blobs.clone(), clock.clone());
        let (key, etag, scratch) = (key.clone(), meta.etag.clone(), scratch.clone());
        tokio::spawn(async move {
            imports::import_object(
                &*store,
                &*blobs,
                &*clock,
                &key,
                &etag,
                ImportOptions::default(),
                &scratch,
                Budget::UNLIMITED,
            )
            .await
        })
    };
    // Follow the job until it is finished, whoever runs it. A run elsewhere that dies leaves
    // its lease to run out: this run is tried again every few seconds and takes over then.
    let mut run = Some(spawn_run());
    let mut last_try = Instant::now();
    let job = loop {
        if let Some(handle) = run.as_mut().filter(|h| h.is_finished()) {
            match handle.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.into()),
                Err(e) => return Err(CliError::Failed(format!("the import stopped: {e}"))),
            }
            run = None;
        }
        let job: ImportJob =
            imports::get_import_job(&*store, &*blobs, &tenant.id, &job.id, clock.now()).await?;
        if finished(job.status) && run.is_none() {
            break job;
        }
        if run.is_none() && !finished(job.status) && last_try.elapsed() >= RETRY_EVERY {
            run = Some(spawn_run());
            last_try = Instant::now();
        }
        if let Some(p) = &job.progress {
            progress.update(phase_name(p.phase), p.rows_done, p.rows_total);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    progress.finish(&format!("{:?}", job.status).to_lowercase());
    let shown = serde_json::to_string_pretty(&job).map_err(|e| CliError::Failed(e.to_string()))?;
    writeln!(out, "{shown}").map_err(out_err)?;
    match job.status {
        ImportJobStatus::Completed | ImportJobStatus::Validated => Ok(()),
        ImportJobStatus::Rejected | ImportJobStatus::Unreadable => Err(CliError::Rejected(
            format!(
                "the import was {:?}: nothing was saved (the report is in the job above)",
                job.status
            )
            .to_lowercase(),
        )),
        other => Err(CliError::Failed(format!(
            "the import ended {other:?}: {}",
            job.failure.as_deref().unwrap_or("see the job above")
        ))),
    }
}
