//! A webhook receiver for `scripts/bench`: answers 204 to every POST on loopback, counts the
//! distinct event ids, and once deliveries stop (2 s with none after the first) prints how
//! many came and how fast, from the first to the last.

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Seen {
    ids: HashSet<String>,
    posts: u64,
    first: Option<Instant>,
    last: Option<Instant>,
    /// The first delivery's wall-clock time (unix seconds), for the script's own clock.
    first_unix: f64,
}

/// Serves until deliveries stop; writes its URL to `url_file` once listening.
pub fn run(url_file: &std::path::Path, give_up_secs: u64) -> Result<Value, String> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let s = seen.clone();
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap| {
                let s = s.clone();
                async move {
                    let id = headers
                        .get("leadgate-event-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    let mut seen = s.lock().unwrap_or_else(|p| p.into_inner());
                    let now = Instant::now();
                    if seen.first.is_none() {
                        seen.first = Some(now);
                        seen.first_unix = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0.0, |d| d.as_secs_f64());
                    }
                    seen.last = Some(now);
                    seen.posts += 1;
                    seen.ids.insert(id);
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        std::fs::write(url_file, format!("http://{addr}/hook")).map_err(|e| e.to_string())?;
        let started = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let seen = seen.lock().unwrap_or_else(|p| p.into_inner());
            let quiet = seen.last.is_some_and(|l| l.elapsed() >= Duration::from_secs(2));
            if quiet || started.elapsed() >= Duration::from_secs(give_up_secs) {
                let secs = match (seen.first, seen.last) {
                    (Some(f), Some(l)) => (l - f).as_secs_f64(),
                    _ => 0.0,
                };
                let events = seen.ids.len() as f64;
                return Ok(json!({
                    "events": seen.ids.len(),
                    "posts": seen.posts,
                    "secs": secs,
                    "deliveries_per_s": if secs > 0.0 { events / secs } else { 0.0 },
                    "first_unix": seen.first_unix,
                    "timed_out": !quiet,
                }));
            }
        }
    })
}
