//! Request extractors: JSON bodies whose rejections become problem+json (400, 413, 415,
//! 422), and the authenticated caller.

use crate::error::ApiError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use leadgate_core::domain::tenant::{Principal, Tenant};
use serde::de::DeserializeOwned;

/// The body size limit of every JSON route.
pub const MAX_BODY: usize = 1024 * 1024;

/// A JSON body. With `OBJECT` (the default) it must be a JSON object: serde's derived structs
/// also take an array of their fields in order (`[null, null]`), which no client means and the
/// document does not allow. The one route whose body is a list says `ApiJson<Vec<_>, false>`.
pub struct ApiJson<T, const OBJECT: bool = true>(pub T);

/// The first byte of a body that is not JSON whitespace.
fn first_token(body: &[u8]) -> Option<u8> {
    body.iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// `application/json`, or any `application/*+json`, as axum's `Json` takes.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

impl<S, T, const OBJECT: bool> FromRequest<S> for ApiJson<T, OBJECT>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(req.headers());
        // The body is read (within the limit) even when its type is wrong: a response sent
        // over an unread body makes hyper close a keep-alive connection the client still uses.
        let bytes = match bytes::Bytes::from_request(req, state).await {
            Ok(b) => b,
            // Over the limit, or a body that stopped arriving (the gateway's body timeout).
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::PayloadTooLarge(MAX_BODY));
            }
            Err(_) => {
                return Err(ApiError::BadRequest(
                    "the request body could not be read to its end".into(),
                ));
            }
        };
        if !json {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json".into(),
            ));
        }
        match crate::strict_json::from_slice::<T>(&bytes) {
            Ok(_) if OBJECT && first_token(&bytes) != Some(b'{') => Err(ApiError::Validation(
                leadgate_core::domain::error::FieldError::new(
                    "body",
                    "invalid_body",
                    "the body must be a JSON object",
                )
                .into(),
            )),
            Ok(v) => Ok(ApiJson(v)),
            Err(e) if e.error.classify() == serde_json::error::Category::Data => {
                let field = if e.path == "." { "body".to_owned() } else { e.path };
                let message = format!("{field}: {}", e.error);
                Err(ApiError::Validation(
                    leadgate_core::domain::error::FieldError::new(field, "invalid_body", message).into(),
                ))
            }
            Err(e) => Err(ApiError::BadRequest(format!(
                "the body is not valid JSON: {}",
                e.error
            ))),
        }
    }
}

/// The authenticated caller and their tenant, put in the request by the auth layer.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub tenant: Tenant,
    /// The API key the request came with (none behind a JWT).
    pub key_id: Option<leadgate_core::domain::ApiKeyId>,
}

impl Caller {
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.principal.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden("this needs an admin key or the admin group"))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(ApiError::Unauthorized)
    }
}
