//! The API's error type and its one mapping to RFC 9457 problem+json. Every failure path of
//! every route ends here; 5xx responses log the cause chain and return a generic body.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use leadgate_core::domain::duplicate::DuplicateMatch;
use leadgate_core::domain::error::{FieldError, FieldErrors};
use leadgate_core::domain::status::LeadStatus;
use leadgate_core::services::ServiceError;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request has invalid fields")]
    Validation(FieldErrors),
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication required")]
    Unauthorized,
    /// A webhook whose signature or shared key does not check out.
    #[error("{0}")]
    BadSignature(String),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("a lead cannot go from {from} to {to}")]
    Transition {
        from: LeadStatus,
        to: LeadStatus,
        allowed: Vec<LeadStatus>,
    },
    #[error("{}", .0.explain())]
    Duplicate(DuplicateMatch),
    #[error("send If-Match with the lead's version (or `version` in the body)")]
    PreconditionRequired,
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many submissions; retry after {0} seconds")]
    TooManyRequests(u64),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The media type of every error the API answers.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<FieldError>,
    /// For 409 on a status change: the statuses the lead may move to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_next: Option<Vec<LeadStatus>>,
    /// For 409 on a duplicate: which key matched which lead.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub duplicate: Option<DuplicateMatch>,
}

impl Problem {
    /// A problem with no field errors: its type from `slug`, its title from the status.
    pub fn new(status: StatusCode, slug: &str, detail: String) -> Self {
        Problem {
            kind: format!("https://leadgate.dev/problems/{slug}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            errors: vec![],
            allowed_next: None,
            duplicate: None,
        }
    }

    /// The problem as a response, with its status and media type.
    pub fn into_response_with(self, status: StatusCode) -> Response {
        let mut res = (status, Json(self)).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        res
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized | ApiError::BadSignature(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) | ApiError::Transition { .. } | ApiError::Duplicate(_) => {
                StatusCode::CONFLICT
            }
            ApiError::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn slug(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "validation",
            ApiError::BadRequest(_) => "bad-request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::BadSignature(_) => "bad-signature",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not-found",
            ApiError::Conflict(_) => "conflict",
            ApiError::Transition { .. } => "illegal-transition",
            ApiError::Duplicate(_) => "duplicate",
            ApiError::PreconditionRequired => "precondition-required",
            ApiError::PayloadTooLarge(_) => "payload-too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::TooManyRequests(_) => "too-many-requests",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            ApiError::Transition { from, to, allowed } => {
                let next: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
                format!(
                    "a lead cannot go from {from} to {to}; allowed next: {}",
                    if next.is_empty() {
                        "none (terminal)".to_owned()
                    } else {
                        next.join(", ")
                    }
                )
            }
            other => other.to_string(),
        };
        Problem {
            errors: match self {
                ApiError::Validation(e) => e.0.clone(),
                _ => vec![],
            },
            allowed_next: match self {
                ApiError::Transition { allowed, .. } => Some(allowed.clone()),
                _ => None,
            },
            duplicate: match self {
                ApiError::Duplicate(m) => Some(m.clone()),
                _ => None,
            },
            ..Problem::new(status, self.slug(), detail)
        }
    }

    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(e))
    }
}

/// Logs an error with its whole cause chain (never request data).
fn log_chain(e: &dyn std::error::Error) {
    let mut chain = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(c) = cur {
        chain.push(c.to_string());
        cur = c.source();
    }
    tracing::error!(cause = %chain.join(": "), "request failed");
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(e) = &self {
            log_chain(e.as_ref());
        }
        let mut res = self.problem().into_response_with(self.status());
        if let ApiError::TooManyRequests(secs) = &self
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if matches!(self, ApiError::Unauthorized) {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Validation(f) => ApiError::Validation(f),
            ServiceError::NotFound { what } => ApiError::NotFound(what),
            ServiceError::Transition(t) => ApiError::Transition {
                from: t.from,
                to: t.to,
                allowed: t.allowed,
            },
            ServiceError::VersionConflict => {
                ApiError::Conflict("the lead was changed since you read it; reload it and try again".into())
            }
            ServiceError::Duplicate(m) => ApiError::Duplicate(m),
            ServiceError::InUse(m) | ServiceError::AlreadyExists(m) | ServiceError::NotConvertible(m) => {
                ApiError::Conflict(m)
            }
            ServiceError::Forbidden(m) => ApiError::Forbidden(m),
            ServiceError::Store(e) => ApiError::internal(e),
            ServiceError::Blob(e) => ApiError::internal(e),
            ServiceError::Export(e) => ApiError::internal(e),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::Validation(e.into())
    }
}

impl From<FieldErrors> for ApiError {
    fn from(e: FieldErrors) -> Self {
        ApiError::Validation(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
