//! Website form capture: `POST /capture/{tenant}/forms/{form_key}` (JSON, urlencoded or
//! multipart text fields) and its CORS preflight.
//!
//! Order of checks: the form exists, the origin is allowed, the signature (when the form has
//! a secret), the rate limit, the body parses. Only then is the post processed, and stored
//! with its outcome before any 2xx (`take_form_post`: as a failed capture to replay when
//! processing fails). A filled honeypot is stored as spam and answered like
//! success, so bots learn nothing.

use crate::{CaptureState, load_tenant};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use leadgate_core::domain::capture::{Channel, Submission, SubmissionStatus};
use leadgate_core::domain::error::{FieldError, FieldErrors};
use leadgate_core::domain::settings::CaptureForm;
use leadgate_core::services::capture::{FormPost, Known, take_form_post};
use leadgate_core::services::settings::get_form;
use leadgate_http::error::ApiError;
use serde_json::{Map, Value, json};

pub const MAX_FORM_BODY: usize = 64 * 1024;
const MAX_FIELDS: usize = 200;
const MAX_VALUE: usize = 10_000;

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The request's Origin, if it is allowed; an Origin that is not allowed is a 403.
fn allowed_origin(form: &CaptureForm, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match header_str(headers, "origin") {
        None => Ok(None),
        Some(o) if form.allowed_origins.iter().any(|a| a.eq_ignore_ascii_case(o)) => Ok(Some(o.to_owned())),
        Some(_) => Err(ApiError::Forbidden("this origin may not post to this form")),
    }
}

fn cors(res: &mut Response, origin: Option<&str>) {
    if let Some(o) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        let h = res.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
}

async fn load_form(
    st: &CaptureState,
    tenant: &str,
    key: &str,
) -> Result<(leadgate_core::domain::Tenant, CaptureForm), ApiError> {
    let tenant = load_tenant(st, tenant).await?;
    let form = get_form(&*st.store, &tenant.id, key).await.map_err(|e| match e {
        leadgate_core::services::ServiceError::NotFound { .. } => crate::no_endpoint(),
        other => other.into(),
    })?;
    Ok((tenant, form))
}

pub async fn preflight(
    State(st): State<CaptureState>,
    Path((tenant, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, form) = load_form(&st, &tenant, &key).await?;
    let origin =
        allowed_origin(&form, &headers)?.ok_or(ApiError::Forbidden("a preflight needs an allowed Origin"))?;
    let mut res = StatusCode::NO_CONTENT.into_response();
    cors(&mut res, Some(&origin));
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type, x-leadgate-signature"),
    );
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    Ok(res)
}

fn bad_body(message: impl Into<String>) -> ApiError {
    ApiError::Validation(FieldError::new("body", "invalid_body", message).into())
}

/// The submitted fields as (name, value) text pairs, whatever the encoding.
async fn parse_fields(content_type: &str, body: Bytes) -> Result<Vec<(String, String)>, ApiError> {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let pairs: Vec<(String, String)> = match mime.as_str() {
        "application/json" => {
            let v: Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
            let obj = v
                .as_object()
                .ok_or_else(|| bad_body("send a JSON object of field names to values"))?;
            let mut out = Vec::with_capacity(obj.len());
            for (k, v) in obj {
                match v {
                    Value::Null => {}
                    Value::String(s) => out.push((k.clone(), s.clone())),
                    Value::Number(_) | Value::Bool(_) => out.push((k.clone(), v.to_string())),
                    _ => {
                        return Err(bad_body(format!(
                            "field '{k}' must be text, a number or true/false"
                        )));
                    }
                }
            }
            out
        }
        "application/x-www-form-urlencoded" => serde_urlencoded::from_bytes(&body)
            .map_err(|_| ApiError::BadRequest("the form body is malformed".into()))?,
        "multipart/form-data" => {
            let boundary = multer::parse_boundary(content_type)
                .map_err(|_| ApiError::BadRequest("multipart without a boundary".into()))?;
            let stream = futures::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(body) });
            let mut mp = multer::Multipart::new(stream, boundary);
            let mut out = Vec::new();
            while let Some(field) = mp
                .next_field()
                .await
                .map_err(|e| ApiError::BadRequest(format!("malformed multipart body: {e}")))?
            {
                // Text fields only: file parts are not lead data and are dropped.
                if field.file_name().is_some() {
                    continue;
                }
                let name = field.name().unwrap_or_default().to_owned();
                let text = field
                    .text()
                    .await
                    .map_err(|e| ApiError::BadRequest(format!("malformed multipart field: {e}")))?;
                out.push((name, text));
            }
            out
        }
        _ => {
            return Err(ApiError::UnsupportedMediaType(
                "send application/json, application/x-www-form-urlencoded or multipart/form-data".into(),
            ));
        }
    };
    let mut errs = FieldErrors::default();
    if pairs.len() > MAX_FIELDS {
        errs.push(FieldError::new(
            "body",
            "too_many_fields",
            format!("at most {MAX_FIELDS} fields"),
        ));
    }
    for (k, v) in &pairs {
        if k.is_empty() || k.chars().count() > 100 || v.chars().count() > MAX_VALUE {
            errs.push(FieldError::new(
                k.chars().take(100).collect::<String>(),
                "too_long",
                format!("field names are 1-100 characters and values at most {MAX_VALUE}"),
            ));
        }
    }
    if !errs.is_empty() {
        return Err(ApiError::Validation(errs));
    }
    Ok(pairs)
}

/// Plain HTML form posts (not asking for JSON) are answered with a redirect.
fn wants_redirect(headers: &HeaderMap) -> bool {
    let ct = header_str(headers, "content-type")
        .unwrap_or("")
        .to_ascii_lowercase();
    let html_post =
        ct.starts_with("application/x-www-form-urlencoded") || ct.starts_with("multipart/form-data");
    html_post
        && !header_str(headers, "accept")
            .unwrap_or("")
            .contains("application/json")
}

pub async fn submit(
    State(st): State<CaptureState>,
    Path((tenant, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (tenant, form) = load_form(&st, &tenant, &key).await?;
    let origin = allowed_origin(&form, &headers)?;
    let now = st.clock.now();
    // The signature first: it is cheap, and posts that fail it must not spend the quota a
    // signed form's real posts need.
    if let Some(secret) = &form.signing_secret {
        crate::signature::verify_form(
            secret,
            header_str(&headers, "x-leadgate-signature"),
            &body,
            now.timestamp(),
        )
        .map_err(|e| ApiError::BadSignature(e.to_string()))?;
    }
    st.limiter
        .check(
            &format!("{}/{}", tenant.id, form.key),
            form.rate_limit_per_minute,
            now.timestamp(),
        )
        .map_err(ApiError::TooManyRequests)?;
    let content_type = header_str(&headers, "content-type").unwrap_or("").to_owned();
    let pairs = parse_fields(&content_type, body).await?;
    let spam = form
        .honeypot_field
        .as_ref()
        .is_some_and(|h| pairs.iter().any(|(k, v)| k == h && !v.trim().is_empty()));
    let fields: Map<String, Value> = pairs
        .into_iter()
        .filter(|(k, _)| Some(k) != form.honeypot_field.as_ref())
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let mut sub = Submission::received(
        uuid::Uuid::now_v7().to_string(),
        Channel::Form,
        Some(form.key.clone()),
        None,
        now,
        json!({ "fields": fields, "origin": origin, "referer": header_str(&headers, "referer") }),
    );
    if spam {
        sub.status = SubmissionStatus::Spam;
    }
    let known = Some(Known::Form(form.clone()));
    let outcome = take_form_post(&*st.store, &*st.clock, &*st.fetcher, &tenant, sub, known).await?;
    let mut res = match outcome {
        // Stored but not processed (storage hiccup): it is safe, and replayable.
        FormPost::Kept(sub) => (
            StatusCode::ACCEPTED,
            Json(json!({"submission_id": sub.id, "status": sub.status})),
        )
            .into_response(),
        FormPost::Done(_) if wants_redirect(&headers) && form.thank_you_url.is_some() => {
            Redirect::to(form.thank_you_url.as_deref().unwrap_or("/")).into_response()
        }
        FormPost::Done(done) => {
            let body = json!({"submission_id": done.id, "status": done.status, "lead_id": done.lead_id});
            match done.status {
                SubmissionStatus::Processed => (StatusCode::CREATED, Json(body)).into_response(),
                SubmissionStatus::Failed => {
                    let errs = FieldErrors(
                        done.errors
                            .iter()
                            .map(|e| FieldError::new(e.field.clone(), "invalid", e.message.clone()))
                            .collect(),
                    );
                    let mut r = ApiError::Validation(errs).into_response();
                    if let Ok(v) = HeaderValue::from_str(&done.id) {
                        r.headers_mut().insert("x-leadgate-submission", v);
                    }
                    r
                }
                _ => (StatusCode::OK, Json(body)).into_response(),
            }
        }
    };
    cors(&mut res, origin.as_deref());
    Ok(res)
}

/// Bounded fuzzing of the form body parser and the signature header reader: any content type
/// and any bytes get fields or a 4xx, never a panic.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn content_type() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("application/json".to_owned()),
            Just("application/x-www-form-urlencoded".to_owned()),
            Just("multipart/form-data; boundary=XyZ".to_owned()),
            Just("multipart/form-data".to_owned()),
            ".{0,40}",
        ]
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..1024),
            ".{0,300}".prop_map(String::into_bytes),
            prop::collection::vec(("[a-z ]{0,8}", ".{0,20}"), 0..6).prop_map(|fields| {
                let mut out = String::new();
                for (k, v) in fields {
                    out.push_str(&format!(
                        "--XyZ\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                    ));
                }
                out.push_str("--XyZ--\r\n");
                out.into_bytes()
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn when_a_form_post_is_anything_the_parser_should_answer(ct in content_type(), b in body()) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            match rt.block_on(parse_fields(&ct, Bytes::from(b))) {
                Ok(_) => {}
                Err(e) => prop_assert!(e.status().is_client_error(), "{e:?}"),
            }
        }

        #[test]
        fn when_a_signature_header_is_anything_the_check_should_answer(h in ".{0,200}", b in ".{0,100}") {
            let _ = crate::signature::verify_form("k".repeat(24).as_str(), Some(&h), b.as_bytes(), 1_800_000_000);
            let _ = crate::signature::verify_meta("secret", Some(&h), b.as_bytes());
            let _ = crate::signature::verify_linkedin("secret", Some(&h), b.as_bytes());
        }
    }
}
