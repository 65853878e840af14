//! The ad-platform lead fetch port: Meta's Graph API and LinkedIn's Lead Sync API hold the
//! lead's answers; their webhooks only say that a lead exists.

use crate::domain::capture::{LinkedinConfig, MetaConfig};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The platform answered with an error status (bad token, unknown lead, outage).
    #[error("{platform} answered {status}")]
    Status { platform: &'static str, status: u16 },
    #[error("{platform} could not be reached: {message}")]
    Unreachable { platform: &'static str, message: String },
    #[error("{platform} sent an answer we cannot read: {message}")]
    Malformed { platform: &'static str, message: String },
}

/// A lead's answers as (field name, value) pairs, in the platform's own names.
pub type Answers = Vec<(String, String)>;

#[async_trait::async_trait]
pub trait LeadFetcher: Send + Sync + 'static {
    /// `GET {graph}/{leadgen_id}` → `field_data`.
    async fn meta_lead(&self, cfg: &MetaConfig, leadgen_id: &str) -> Result<Answers, FetchError>;
    /// The form response and its form's questions, as predefined-field names and answers.
    async fn linkedin_response(
        &self,
        cfg: &LinkedinConfig,
        response_urn: &str,
    ) -> Result<Answers, FetchError>;
}
