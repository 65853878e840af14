//! The single-machine gateway: every HTTP route on one port, the embedded SQLite store and a
//! local folder for the bucket by default, or DynamoDB and S3 endpoints when configured.
//! `main.rs` only parses the config and calls `run`; everything here is testable in-process.

pub mod bootstrap;
pub mod cli;
pub mod config;
mod folder_events;
pub mod http;
pub mod server;
pub mod telemetry;
mod uploads;

use crate::config::GatewayConfig;
use leadgate_core::adapters::{build_blobs, build_store};
use leadgate_core::ports::clock::SystemClock;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("could not open the store: {0}")]
    Store(#[source] leadgate_core::ports::store::StoreError),
    #[error("could not open blob storage: {0}")]
    Blobs(#[source] leadgate_core::ports::blob::BlobError),
    #[error("first-start setup failed: {0}")]
    Bootstrap(#[source] leadgate_core::services::ServiceError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// Builds the adapters, sets up the default tenant on first start, and serves until Ctrl-C
/// or SIGTERM.
pub async fn run(config: GatewayConfig) -> Result<(), GatewayError> {
    private_files();
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|source| GatewayError::Io {
            context: format!("cannot listen on {}", config.listen),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| GatewayError::Io {
        context: "listener address".into(),
        source,
    })?;
    let settings = config.resolve(addr)?;
    let store = build_store(&settings.store).await.map_err(GatewayError::Store)?;
    let (blobs, local_blobs) = build_blobs(&settings.blobs).await.map_err(GatewayError::Blobs)?;
    let first = bootstrap::bootstrap(&*store, &SystemClock, &settings)
        .await
        .map_err(GatewayError::Bootstrap)?;
    // The stand-in for the bucket's S3 trigger: files under imports/ are imported once each.
    let import_deps = leadgate_import::ImportDeps {
        store: store.clone(),
        blobs: blobs.clone(),
        clock: std::sync::Arc::new(SystemClock),
        scratch: settings.data_dir.join("tmp"),
    };
    let poll = std::time::Duration::from_secs(config.folder_poll_secs);
    let arrivals = leadgate_import::Arrivals::default();
    // Held until the gateway stops: dropping it ends the notifications.
    let _import_events = local_blobs
        .as_ref()
        .and_then(|local| folder_events::watch_imports(local.root(), arrivals.clone()));
    tokio::spawn(leadgate_import::watch_folder(import_deps, poll, arrivals));
    // And for attachments/: a file uploaded goes on its lead's timeline.
    if let Some(local) = &local_blobs {
        uploads::record_arrivals(local, store.clone(), std::sync::Arc::new(SystemClock));
    }
    // And for exports/requests/: each request is written to exports/ once.
    tokio::spawn(leadgate_export::watch_folder(
        leadgate_export::ExportDeps {
            store: store.clone(),
            blobs: blobs.clone(),
            clock: std::sync::Arc::new(SystemClock),
            scratch: settings.data_dir.join("tmp"),
        },
        poll,
    ));
    // Outbound webhooks: the worker sends what the outbox holds, by the same rules the API
    // checks subscription URLs with.
    let webhook_policy = if config.allow_loopback_webhooks {
        tracing::warn!("webhooks may be delivered to this machine over http (--allow-loopback-webhooks)");
        leadgate_core::domain::webhook_target::TargetPolicy::AllowLoopback
    } else {
        leadgate_core::domain::webhook_target::TargetPolicy::PublicHttps
    };
    tokio::spawn(leadgate_core::services::webhook_delivery::run_worker(
        leadgate_core::services::webhook_delivery::Dispatcher {
            store: store.clone(),
            sender: std::sync::Arc::new(leadgate_core::adapters::webhook_http::WebhookClient::new(
                webhook_policy,
            )),
            clock: std::sync::Arc::new(SystemClock),
            retry: config.webhook_retry(),
        },
        std::time::Duration::from_millis(config.webhook_poll_ms),
    ));
    let ports = leadgate_core::ports::Ports {
        store,
        blobs,
        clock: std::sync::Arc::new(SystemClock),
        fetcher: std::sync::Arc::new(
            if config.allow_any_platform_host {
                tracing::warn!("platform base URLs may point at any host (--allow-any-platform-host)");
                leadgate_core::adapters::platform_http::PlatformClient::allowing_any_host()
            } else {
                leadgate_core::adapters::platform_http::PlatformClient::new()
            }
            .with_webhook_policy(webhook_policy),
        ),
    };
    let state = http::AppState {
        ports,
        local_blobs,
        request_timeout: std::time::Duration::from_secs(config.request_timeout_secs),
    };
    let app = http::router(state);
    let shutdown = shutdown_signal()?;
    println!("Leadgate listening on http://{addr}");
    println!(
        "  store: {}, blobs: {}",
        settings.store_label(),
        settings.blobs_label()
    );
    // One line, so whoever reads the banner knows where it ends.
    match first.operator_key_hint() {
        Some(op) => println!("  {}; {op}", first.admin_key_hint()),
        None => println!("  {}", first.admin_key_hint()),
    }
    tracing::info!(%addr, "listening");
    server::serve(listener, app, config.limits(), shutdown)
        .await
        .map_err(|source| GatewayError::Io {
            context: "server".into(),
            source,
        })?;
    println!("Leadgate stopped");
    Ok(())
}

/// Everything the gateway creates (database, WAL, bucket folder, exports, attachments, scratch
/// files) is for this user only, whatever umask it was started with: leads are personal data.
fn private_files() {
    #[cfg(unix)]
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail and touches no
    // memory. It runs before any task that creates files is started.
    unsafe {
        libc::umask(0o077);
    }
}

/// Registers the Ctrl-C and SIGTERM handlers now (not on first poll), so a signal that
/// arrives right after the gateway announces itself still shuts it down cleanly.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, GatewayError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let io = |source| GatewayError::Io {
            context: "cannot install signal handlers".into(),
            source,
        };
        let mut int = signal(SignalKind::interrupt()).map_err(io)?;
        let mut term = signal(SignalKind::terminate()).map_err(io)?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
            tracing::info!("shutting down");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        })
    }
}
