//! The ad-platform lead fetch port: Meta's Graph API and LinkedIn's Lead Sync API hold the
//! lead's answers; their webhooks only say that a lead exists.

use crate::domain::capture::{LinkedinConfig, MetaConfig};

/// What a failed fetch says. It is stored with the submission and shown to admins, so it
/// never carries the transport's own words: those would tell a tenant who points a base URL
/// somewhere what answered there (the adapter logs them instead).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The platform answered with an error status (bad token, unknown lead, outage).
    #[error("{platform} answered {status}")]
    Status { platform: &'static str, status: u16 },
    #[error("{platform} could not be reached")]
    Unreachable { platform: &'static str },
    #[error("{platform} sent an answer we cannot read: {message}")]
    Malformed { platform: &'static str, message: String },
    /// The channel's base URL is not one this deployment may call.
    #[error("{platform}: {message}")]
    NotAllowed { platform: &'static str, message: String },
}

/// A lead's answers as (field name, value) pairs, in the platform's own names.
pub type Answers = Vec<(String, String)>;

/// A lead as its platform's API gives it: its answers, and the ad it answered (the fetched
/// lead names the campaign, which neither platform's webhook does).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlatformLead {
    pub answers: Answers,
    pub ad: crate::domain::lead::AdRef,
}

#[async_trait::async_trait]
pub trait LeadFetcher: Send + Sync + 'static {
    /// Whether a channel's base URL may be called (`platform` is `meta` or `linkedin`): the
    /// settings route asks before storing one, and every fetch asks again.
    fn check_base_url(&self, platform: &'static str, url: &str) -> Result<(), FetchError>;
    /// Where this deployment lets tenants point webhook subscriptions: the one place the
    /// outbound rules of a deployment are set, so the API checks a URL by the same switch the
    /// sender obeys. Public HTTPS unless built for local development.
    fn webhook_policy(&self) -> crate::domain::webhook_target::TargetPolicy {
        crate::domain::webhook_target::TargetPolicy::PublicHttps
    }
    /// `GET {graph}/{leadgen_id}?fields=…` → `field_data` and the ad's ids.
    async fn meta_lead(&self, cfg: &MetaConfig, leadgen_id: &str) -> Result<PlatformLead, FetchError>;
    /// The form response and its form's questions, as predefined-field names and answers,
    /// and the campaign, creative and form the response names.
    async fn linkedin_response(
        &self,
        cfg: &LinkedinConfig,
        response_urn: &str,
    ) -> Result<PlatformLead, FetchError>;
}
