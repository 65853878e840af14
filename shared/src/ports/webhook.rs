//! The outbound webhook port: one signed POST to a subscriber, and what came of it. The HTTP
//! adapter (`adapters::webhook_http`) enforces where it may connect; the delivery service
//! decides what to send and when.

use crate::domain::webhook_target::TargetPolicy;

/// One delivery attempt's request.
#[derive(Debug, Clone)]
pub struct Outbound<'a> {
    pub url: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    /// The `Leadgate-Signature` header value.
    pub signature: &'a str,
    pub body: bytes::Bytes,
}

/// What an attempt came to. `error` is in our words, never the transport's (it is shown to
/// the tenant, and a transport's text would describe whatever answered at a chosen address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    /// The start of the response body, lossily decoded, at most `RESPONSE_EXCERPT` bytes.
    pub excerpt: Option<String>,
}

impl Answer {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// Why it failed, in a few words.
    pub fn why(&self) -> String {
        match (self.status, &self.error) {
            (_, Some(e)) => e.clone(),
            (Some(s), None) => format!("answered {s}"),
            (None, None) => "no answer".into(),
        }
    }
}

#[async_trait::async_trait]
pub trait WebhookSender: Send + Sync + 'static {
    /// Which addresses this deployment may deliver to (checked when a URL is saved).
    fn policy(&self) -> TargetPolicy;
    async fn send(&self, req: Outbound<'_>) -> Answer;
}
