//! The gateway's accept loop, which bounds what a client can hold open.
//!
//! `axum::serve` has no header-read timeout, no idle timeout and no connection cap: idle,
//! slowloris and stalled-body sockets stayed open for ever, and at `ulimit -n 1024` enough of
//! them made `/healthz` time out. So connections are served here with hyper directly:
//! - HTTP/1.1 only (the gateway sits behind a proxy or on loopback; HTTP/2's preface wait has
//!   no read timeout in hyper), with hyper's header-read timeout, which also runs while a
//!   keep-alive connection waits for its next request, so it is the idle timeout too;
//! - a per-frame body timeout (`tower_http`'s `RequestBodyTimeout`): a body that stops
//!   arriving ends its request;
//! - at most `max_connections` open: at the cap, the oldest connection that has no request in
//!   flight (idle, or still sending its headers) is closed to make room, so a flood of idle
//!   sockets cannot lock out real clients; with none idle, the new one is refused;
//! - accept errors (`EMFILE` when the process is out of descriptors) back off from 10 ms to
//!   1 s instead of spinning.

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::ServiceExt;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// How long a draining gateway waits for open requests before it exits anyway.
const DRAIN: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    /// From accept (or the end of the previous response) to the end of the request headers.
    pub header_timeout: Duration,
    /// Longest wait for the next piece of a request body.
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// One open connection: how many of its requests are in flight, and how to ask it to close.
struct Open {
    in_flight: Arc<AtomicUsize>,
    close: Arc<Notify>,
}

/// The open connections by accept order (the smallest id is the oldest).
#[derive(Default)]
struct Registry {
    next: u64,
    open: BTreeMap<u64, Open>,
}

impl Registry {
    /// Makes room for one more: closes the oldest idle connection. False when none is idle.
    fn evict_idle(&mut self) -> bool {
        let oldest = self
            .open
            .iter()
            .find(|(_, c)| c.in_flight.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        match oldest.and_then(|id| self.open.remove(&id)) {
            Some(c) => {
                c.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Descriptors kept for everything but client sockets: the SQLite connections, the bucket
/// folder's files, the watchers, the SDK's connection pools, a report being written.
const RESERVED_FDS: u64 = 64;

/// The connection cap the process can really hold: the soft descriptor limit is raised to the
/// hard one where allowed, and the cap is kept `RESERVED_FDS` below it, so a full house of
/// clients never leaves the store or `/healthz` without a descriptor.
pub fn usable_cap(requested: usize) -> usize {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
        let soft = unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return requested;
            }
            if lim.rlim_cur < lim.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: lim.rlim_max.min(1 << 20),
                    rlim_max: lim.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    lim.rlim_cur = raised.rlim_cur;
                }
            }
            // rlim_t is u64 here but not on every unix.
            #[allow(clippy::unnecessary_cast)]
            let soft = lim.rlim_cur as u64;
            soft
        };
        let room = soft.saturating_sub(RESERVED_FDS).max(1);
        requested.min(usize::try_from(room).unwrap_or(usize::MAX))
    }
    #[cfg(not(unix))]
    requested
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open requests finish (up to
/// 30 s) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let cap = usable_cap(limits.max_connections);
    if cap < limits.max_connections {
        tracing::warn!(
            requested = limits.max_connections,
            cap,
            "the descriptor limit (ulimit -n) holds fewer connections than asked; capping"
        );
    }
    let registry = Arc::new(Mutex::new(Registry::default()));
    let live = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(64 * 1024);
    let svc = tower::ServiceBuilder::new()
        .layer(RequestBodyTimeoutLayer::new(limits.body_timeout))
        .service(app);
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_millis(10);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => {
                    backoff = Duration::from_millis(10);
                    a
                }
                Err(e) if is_per_connection(&e) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "accept failed; backing off");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
        };
        let (id, in_flight, close) = {
            let mut reg = registry.lock().unwrap_or_else(|p| p.into_inner());
            if live.load(Ordering::Acquire) >= cap && !reg.evict_idle() {
                tracing::warn!(
                    max = cap,
                    "connection cap reached with every connection busy; refusing one"
                );
                continue;
            }
            reg.next += 1;
            let id = reg.next;
            let open = Open {
                in_flight: Arc::new(AtomicUsize::new(0)),
                close: Arc::new(Notify::new()),
            };
            let handles = (id, open.in_flight.clone(), open.close.clone());
            reg.open.insert(id, open);
            handles
        };
        live.fetch_add(1, Ordering::AcqRel);
        let _ = stream.set_nodelay(true);
        let counted = in_flight.clone();
        let svc = svc.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            counted.fetch_add(1, Ordering::AcqRel);
            let counted = counted.clone();
            let call = svc.clone().oneshot(req);
            async move {
                let res = call.await;
                counted.fetch_sub(1, Ordering::AcqRel);
                res
            }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let (registry, live, mut stop) = (registry.clone(), live.clone(), stop_rx.clone());
        tokio::spawn(async move {
            tokio::pin!(conn);
            let mut closing = false;
            loop {
                tokio::select! {
                    // Errors here are the client's (reset, timeout, malformed request).
                    res = conn.as_mut() => {
                        if let Err(e) = res {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    _ = close.notified(), if !closing => {
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                    _ = stop.changed(), if !closing => {
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            registry
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .open
                .remove(&id);
            live.fetch_sub(1, Ordering::AcqRel);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let deadline = tokio::time::Instant::now() + DRAIN;
    while live.load(Ordering::Acquire) > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Accept errors that concern one connection only (it was reset before we took it).
fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}
