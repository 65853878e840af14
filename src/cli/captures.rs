//! `leadgate captures replay`: processes failed captures again (after the form, the channel
//! settings or a platform token were fixed), as `POST /v1/captures/{id}/replay` does: the ones
//! named, or every failed one with `--failed`. A line per capture (id, status, lead or error);
//! exit 0 when none is left failed, 1 when some still fail, 2 for an unknown id or tenant.

use super::{CliError, out_err};
use clap::{Args, Subcommand};
use leadgate_core::adapters::platform_http::PlatformClient;
use leadgate_core::domain::TenantId;
use leadgate_core::domain::capture::{Submission, SubmissionStatus};
use leadgate_core::ports::clock::SystemClock;
use leadgate_core::ports::store::LeadStore;
use leadgate_core::services::{capture, tenants};
use std::io::Write;

#[derive(Debug, Subcommand)]
pub enum CapturesCommand {
    /// Processes failed captures again.
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Capture ids to replay.
    #[arg(required_unless_present = "failed", conflicts_with = "failed")]
    pub ids: Vec<String>,
    /// Every failed capture of the tenant.
    #[arg(long)]
    pub failed: bool,
    #[arg(long, default_value = "default")]
    pub tenant: String,
}

fn line(s: &Submission) -> String {
    let status = serde_json::to_value(s.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let what = match (&s.lead_id, &s.error) {
        (Some(l), _) => l.to_string(),
        (None, Some(e)) => e.clone(),
        (None, None) => String::new(),
    };
    format!("{}\t{status}\t{what}", s.id)
}

pub async fn run(
    store: &dyn LeadStore,
    command: CapturesCommand,
    any_platform_host: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let CapturesCommand::Replay(args) = command;
    let tenant_id = TenantId::parse(&args.tenant).map_err(|e| CliError::Rejected(e.to_string()))?;
    let tenant = tenants::active_tenant(store, &tenant_id).await?;
    let fetcher = if any_platform_host {
        PlatformClient::allowing_any_host()
    } else {
        PlatformClient::new()
    };
    let ids = if args.failed {
        // Every failed one, read before any is replayed: a replay that fails again is not
        // picked up a second time.
        let mut ids = Vec::new();
        let mut cursor = None;
        loop {
            let page = capture::list_submissions(
                store,
                &tenant,
                Some(SubmissionStatus::Failed),
                cursor.as_deref(),
                200,
            )
            .await?;
            ids.extend(page.items.into_iter().map(|s| s.id));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        ids
    } else {
        // Every id is checked before any is replayed: an unknown one refuses the command
        // with nothing changed.
        for id in &args.ids {
            capture::get_submission(store, &tenant, id).await?;
        }
        args.ids
    };
    let mut still_failed = 0usize;
    for id in &ids {
        let s = capture::replay_submission(store, &SystemClock, &fetcher, &tenant, id).await?;
        if s.status == SubmissionStatus::Failed {
            still_failed += 1;
        }
        writeln!(out, "{}", line(&s)).map_err(out_err)?;
    }
    eprintln!("replayed {}: {} still failed", ids.len(), still_failed);
    if still_failed > 0 {
        return Err(CliError::Failed(format!(
            "{still_failed} capture(s) still failed"
        )));
    }
    Ok(())
}
