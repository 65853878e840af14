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
//!   flight (idle, still sending its headers, or writing a response nobody reads) is dropped to
//!   make room, so a flood of idle sockets cannot lock out real clients; with none idle, the
//!   new one is refused;
//! - a deadline for a whole request (`request_timeout`, 408): a body trickled a byte at a time
//!   resets the body timeout at every byte, but not this;
//! - panics in a handler answer 500 (`CatchPanic`) and give their connection's slot back.
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
            let wanted = lim.rlim_max.min(1 << 20);
            if lim.rlim_cur < wanted {
                let raised = libc::rlimit {
                    rlim_cur: wanted,
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
            // Counted down when the handler's future ends or is dropped (a panic included).
            let guard = InFlight::enter(&counted);
            let call = svc.clone().oneshot(req);
            async move {
                let res = call.await;
                drop(guard);
                res
            }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let mut stop = stop_rx.clone();
        // Whatever ends the task (the connection closing, a panic unwinding), the slot is
        // given back exactly once.
        let slot = Slot {
            registry: registry.clone(),
            live: live.clone(),
            id,
        };
        tokio::spawn(async move {
            let _slot = slot;
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
                    // Evicted to make room: it had no request in flight, so it is dropped
                    // now. A graceful close would keep a half-sent request head (or a
                    // response a client stopped reading) open, and the room would not exist.
                    _ = close.notified() => break,
                    _ = stop.changed(), if !closing => {
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
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

/// One connection's place under the cap, given back when the connection's task ends.
struct Slot {
    registry: Arc<Mutex<Registry>>,
    live: Arc<AtomicUsize>,
    id: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .open
            .remove(&self.id);
        self.live.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A request in flight on a connection (which makes it not idle, so not evicted).
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::AcqRel);
        Self(count.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Accept errors that concern one connection only (it was reset before we took it).
fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use std::io::{Read, Write};

    async fn start(app: Router, limits: Limits) -> (String, tokio::sync::oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(listener, app, limits, async {
            let _ = rx.await;
        }));
        (addr, tx)
    }

    fn get_ok(addr: &str, path: &str) -> bool {
        let Ok(mut s) = std::net::TcpStream::connect(addr) else {
            return false;
        };
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        if s.write_all(req.as_bytes()).is_err() {
            return false;
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.starts_with("HTTP/1.1 200")
    }

    /// Evicted connections used to get a graceful close, which leaves one that has sent half
    /// its headers open until the header timeout: the room was never made.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn when_half_sent_requests_fill_the_cap_should_drop_the_oldest_at_once() {
        let app = Router::new().route("/ok", get(|| async { "ok" }));
        let limits = Limits {
            max_connections: 8,
            header_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(60),
        };
        let (addr, _stop) = start(app, limits).await;
        let mut socks: Vec<std::net::TcpStream> = Vec::new();
        for _ in 0..20 {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /ok HTTP/1.1\r\nHo").unwrap();
            socks.push(s);
            std::thread::sleep(Duration::from_millis(20));
        }
        let a = addr.clone();
        assert!(
            tokio::task::spawn_blocking(move || get_ok(&a, "/ok"))
                .await
                .unwrap()
        );
        // The first twelve made room for the later ones, long before the 60 s timeout.
        let closed = tokio::task::spawn_blocking(move || {
            socks[..12]
                .iter_mut()
                .map(|s| {
                    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                    let mut b = [0u8; 64];
                    match s.read(&mut b) {
                        Ok(n) => n == 0,
                        Err(e) => !matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ),
                    }
                })
                .filter(|closed| *closed)
                .count()
        })
        .await
        .unwrap();
        assert_eq!(closed, 12, "evicted half-sent requests still open");
    }

    async fn boom() -> &'static str {
        panic!("a handler bug")
    }

    /// A panicking handler used to leave its connection counted for ever: a few panics and
    /// every new connection was refused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn when_handlers_panic_should_give_their_slots_back() {
        let app = Router::new()
            .route("/ok", get(|| async { "ok" }))
            .route("/boom", get(boom));
        let limits = Limits {
            max_connections: 2,
            header_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(5),
        };
        let (addr, _stop) = start(app, limits).await;
        let a = addr.clone();
        let answered = tokio::task::spawn_blocking(move || {
            for _ in 0..5 {
                let _ = get_ok(&a, "/boom");
            }
            std::thread::sleep(Duration::from_millis(200));
            // More requests than there were panics: none may find the cap still taken.
            (0..10).all(|_| get_ok(&a, "/ok"))
        })
        .await
        .unwrap();
        assert!(answered, "the gateway refused connections after handler panics");
    }
}
