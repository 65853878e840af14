//! Webhook deliveries over HTTPS with reqwest. The tenant chooses the URL, so every delivery
//! is checked where it connects, not only where it was saved: IP literals by
//! `webhook_target::parse_target`, names by a resolver that refuses any private, loopback or
//! link-local address among the answers (so a name cannot be re-pointed inside after it was
//! saved, DNS rebinding). 5 s timeout, no redirects, no proxy, at most a few KiB read back.

use crate::domain::webhook::RESPONSE_EXCERPT;
use crate::domain::webhook_target::{TargetPolicy, allowed, parse_target};
use crate::ports::webhook::{Answer, Outbound, WebhookSender};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    policy: TargetPolicy,
}

/// Resolves with the system resolver, then keeps only addresses the policy allows; none left
/// is an error, so the connection is never made.
struct CheckedResolver {
    policy: TargetPolicy,
}

#[derive(Debug, thiserror::Error)]
#[error("the name resolves to an address webhooks may not reach")]
struct Refused;

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let found = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let all: Vec<_> = found.collect();
            // Any refused address refuses the name: picking the allowed ones would still let
            // a name that also points inside be used to probe.
            if all.is_empty() || all.iter().any(|a| !allowed(a.ip(), policy)) {
                return Err(Box::new(Refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(all.into_iter()) as Addrs)
        })
    }
}

impl WebhookClient {
    pub fn new(policy: TargetPolicy) -> Self {
        // The process's one crypto provider (see `platform_http`).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(3))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent("Leadgate-Webhooks/1")
            .dns_resolver(Arc::new(CheckedResolver { policy }))
            .build()
            .unwrap_or_default();
        Self { http, policy }
    }
}

#[async_trait::async_trait]
impl WebhookSender for WebhookClient {
    fn policy(&self) -> TargetPolicy {
        self.policy
    }

    async fn send(&self, req: Outbound<'_>) -> Answer {
        let started = Instant::now();
        let fail = |error: &str| Answer {
            status: None,
            latency_ms: started.elapsed().as_millis() as u64,
            error: Some(error.to_owned()),
            excerpt: None,
        };
        // Checked again at send time: the rules may be stricter than when it was saved.
        let url = match parse_target(req.url, self.policy) {
            Ok(u) => u,
            Err(e) => return fail(&e.message),
        };
        let sent = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("leadgate-signature", req.signature)
            .header("leadgate-event-id", req.event_id)
            .header("leadgate-event-type", req.event_type)
            .body(req.body)
            .send()
            .await;
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) => {
                // Without the URL: a receiver's URL often carries its own credential.
                let timed_out = e.is_timeout();
                tracing::info!(error = %e.without_url(), "webhook delivery could not be made");
                return fail(if timed_out {
                    "timed out after 5 s"
                } else {
                    "could not be reached"
                });
            }
        };
        let status = resp.status().as_u16();
        // Read at most the excerpt; the rest is never read (the connection is dropped).
        let mut buf = Vec::new();
        while buf.len() < RESPONSE_EXCERPT {
            match tokio::time::timeout(TIMEOUT, resp.chunk()).await {
                Ok(Ok(Some(c))) => buf.extend_from_slice(&c),
                _ => break,
            }
        }
        buf.truncate(RESPONSE_EXCERPT);
        Answer {
            status: Some(status),
            latency_ms: started.elapsed().as_millis() as u64,
            error: None,
            excerpt: (!buf.is_empty()).then(|| String::from_utf8_lossy(&buf).into_owned()),
        }
    }
}
