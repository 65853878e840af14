//! Cold start of a Lambda binary: a minimal Lambda runtime API on loopback hands the process
//! one event; the time from spawning the process to its response is the start-up plus the
//! first invocation. The same interface cargo-lambda's emulator and AWS provide.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{Mutex, mpsc};

struct Api {
    event: String,
    served: Mutex<bool>,
    done: mpsc::Sender<(Instant, String)>,
}

async fn next(State(api): State<Arc<Api>>) -> impl IntoResponse {
    let mut served = api.served.lock().await;
    if *served {
        // One invocation only; later polls wait until the process is killed.
        drop(served);
        std::future::pending::<()>().await;
        unreachable!();
    }
    *served = true;
    let deadline = chrono::Utc::now().timestamp_millis() + 60_000;
    let mut h = HeaderMap::new();
    h.insert("lambda-runtime-aws-request-id", "bench-1".parse().unwrap());
    h.insert(
        "lambda-runtime-deadline-ms",
        deadline.to_string().parse().unwrap(),
    );
    h.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:eu-west-1:123456789012:function:bench"
            .parse()
            .unwrap(),
    );
    h.insert(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".parse().unwrap(),
    );
    (h, api.event.clone())
}

async fn response(State(api): State<Arc<Api>>, body: String) -> impl IntoResponse {
    let _ = api.done.send((Instant::now(), body)).await;
    axum::http::StatusCode::ACCEPTED
}

async fn error(State(api): State<Arc<Api>>, body: String) -> impl IntoResponse {
    let _ = api.done.send((Instant::now(), format!("error: {body}"))).await;
    axum::http::StatusCode::ACCEPTED
}

pub fn start(bin: &Path, event: &Path) -> Result<Value, String> {
    let event = std::fs::read_to_string(event).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel(1);
        let api = Arc::new(Api {
            event,
            served: Mutex::new(false),
            done: tx,
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(error))
            .with_state(api);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        let started = Instant::now();
        let mut child = tokio::process::Command::new(bin)
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
            .env("AWS_REGION", "eu-west-1")
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("LEADGATE_TABLE", "leadgate-bench")
            .env("LEADGATE_BUCKET", "leadgate-bench")
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let got = tokio::time::timeout(std::time::Duration::from_secs(30), rx.recv()).await;
        let _ = child.kill().await;
        let (at, body) = got
            .map_err(|_| "no response within 30 s".to_string())?
            .ok_or("the runtime API stopped")?;
        if body.starts_with("error:") {
            return Err(format!("the function answered with an error: {body}"));
        }
        Ok(json!({
            "bench": "lambda_start",
            "bin": bin.file_name().map(|n| n.to_string_lossy().into_owned()),
            "ms": (at - started).as_secs_f64() * 1000.0,
        }))
    })
}
