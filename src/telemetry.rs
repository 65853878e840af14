//! Structured JSON logs on stderr, filtered by `RUST_LOG` (default `info`). Request spans
//! carry the request id; nothing logs request bodies, emails or phone numbers.

pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_current_span(true)
        .try_init();
}
