//! A lead id in a path, and a record's version in `If-Match` and `ETag`: how every HTTP part
//! names a lead and the version a change is based on.

use crate::error::ApiError;
use axum::http::{HeaderMap, HeaderValue, header};
use leadgate_core::domain::LeadId;

/// A lead id from the path; a malformed one names no lead, so it is a 404.
pub fn lead_id(raw: &str) -> Result<LeadId, ApiError> {
    LeadId::parse(raw).map_err(|_| ApiError::NotFound("lead"))
}

/// The version in `If-Match: "3"` (or `W/"3"`); `None` when absent.
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .map(|s| s.trim().trim_start_matches("W/").trim_matches('"'))
        .and_then(|s| s.parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| ApiError::BadRequest("If-Match must be the lead's version, e.g. \"3\"".into()))
}

pub fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header value")
}
