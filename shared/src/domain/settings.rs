//! Tenant settings collections that are plain lists: pipeline stages (used by conversion) and
//! capture forms (used by the capture gateway).

use crate::domain::error::{FieldError, FieldErrors};
use crate::domain::ids::{SourceId, is_slug, slug_schema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PipelineStage {
    /// Slug id, e.g. `discovery`.
    #[schema(schema_with = slug_schema)]
    pub id: String,
    #[schema(
        min_length = 1,
        max_length = 80,
        pattern = "[^\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    )]
    pub name: String,
    /// Position in the pipeline, lowest first.
    #[serde(deserialize_with = "crate::domain::whole::int32")]
    pub order: u32,
}

pub fn default_stages() -> Vec<PipelineStage> {
    [
        ("discovery", "Discovery"),
        ("proposal", "Proposal"),
        ("negotiation", "Negotiation"),
        ("won", "Won"),
        ("lost", "Lost"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (id, name))| PipelineStage {
        id: (*id).into(),
        name: (*name).into(),
        order: i as u32,
    })
    .collect()
}

/// Checks a whole stage list: ids are slugs and unique, names 1-80 characters.
pub fn validate_stages(stages: &[PipelineStage]) -> Result<(), FieldErrors> {
    let mut errs = FieldErrors::default();
    if stages.is_empty() {
        errs.push(FieldError::new(
            "stages",
            "required",
            "a pipeline needs at least one stage",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, s) in stages.iter().enumerate() {
        if !is_slug(&s.id) || !seen.insert(s.id.as_str()) {
            errs.push(FieldError::new(
                format!("stages[{i}].id"),
                "invalid_id",
                "stage ids are unique slugs (a-z, 0-9, '-', '_')",
            ));
        }
        if s.name.trim().is_empty() || s.name.chars().count() > 80 {
            errs.push(FieldError::new(
                format!("stages[{i}].name"),
                "invalid_length",
                "a stage name is 1-80 characters",
            ));
        }
    }
    errs.into_result(|| ())
}

/// What a capture form does with a submission whose email or phone matches an open lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResubmissionPolicy {
    /// Add a "resubmitted" activity to the existing lead.
    #[default]
    Attach,
    /// Make a new lead anyway.
    Create,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaptureForm {
    /// The `{form_key}` in `/capture/{tenant}/forms/{form_key}`.
    #[schema(schema_with = slug_schema)]
    pub key: String,
    #[schema(
        min_length = 1,
        max_length = 120,
        pattern = "[^\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    )]
    pub name: String,
    /// Source given to leads from this form.
    pub source: SourceId,
    /// Origins allowed to post from a browser; empty allows none (server-to-server only).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thank_you_url: Option<String>,
    /// A field real people leave empty; a submission that fills it is kept as spam.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honeypot_field: Option<String>,
    /// Submitted field name → lead field, on top of the built-in synonyms.
    #[serde(default)]
    pub mapping: BTreeMap<String, String>,
    #[serde(default)]
    pub on_resubmission: ResubmissionPolicy,
    /// Submissions per minute accepted for this form.
    #[serde(default = "default_rate", deserialize_with = "crate::domain::whole::int32")]
    #[schema(minimum = 1, maximum = 1000000)]
    pub rate_limit_per_minute: u32,
    /// When set, posts must carry `X-Leadgate-Signature: t=…,v1=…` (HMAC-SHA256 of
    /// `"{t}.{body}"`). Write-only: the API shows `SECRET_MASK`. In a PUT, leaving it out (or
    /// sending the mask) keeps the stored secret; `null` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 24, max_length = 256)]
    pub signing_secret: Option<String>,
}

impl CaptureForm {
    /// What the API shows instead of a set signing secret; sent back in a PUT, it keeps it.
    /// As long as the shortest secret, so a shown form is a valid form.
    pub const SECRET_MASK: &'static str = "************************";

    /// The form as the API shows it: the signing secret masked.
    pub fn redacted(mut self) -> Self {
        if self.signing_secret.is_some() {
            self.signing_secret = Some(Self::SECRET_MASK.into());
        }
        self
    }
}

fn default_rate() -> u32 {
    60
}

fn is_http_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() <= 2048
        && !s.contains(char::is_whitespace)
}

impl CaptureForm {
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let mut errs = FieldErrors::default();
        if !is_slug(&self.key) {
            errs.push(FieldError::new(
                "key",
                "invalid_key",
                "a form key is a slug (a-z, 0-9, '-', '_'), 1-64 characters",
            ));
        }
        if self.name.trim().is_empty() || self.name.chars().count() > 120 {
            errs.push(FieldError::new(
                "name",
                "invalid_length",
                "a form name is 1-120 characters",
            ));
        }
        for (i, o) in self.allowed_origins.iter().enumerate() {
            if !is_http_url(o)
                || o.trim_start_matches("https://")
                    .trim_start_matches("http://")
                    .contains('/')
            {
                errs.push(FieldError::new(
                    format!("allowed_origins[{i}]"),
                    "invalid_origin",
                    "an origin is scheme://host[:port] with no path, e.g. https://www.example.com",
                ));
            }
        }
        if let Some(u) = &self.thank_you_url
            && !is_http_url(u)
        {
            errs.push(FieldError::new(
                "thank_you_url",
                "invalid_url",
                "thank_you_url must be an http(s) URL",
            ));
        }
        if self
            .signing_secret
            .as_ref()
            .is_some_and(|k| k.len() < 24 || k.len() > 256)
        {
            errs.push(FieldError::new(
                "signing_secret",
                "invalid_length",
                "a signing secret is 24-256 characters",
            ));
        }
        if !(1..=1_000_000).contains(&self.rate_limit_per_minute) {
            errs.push(FieldError::new(
                "rate_limit_per_minute",
                "out_of_range",
                "rate_limit_per_minute is 1-1000000",
            ));
        }
        errs.into_result(|| ())
    }
}
