//! Request extractors: JSON bodies whose rejections become problem+json (400, 413, 415,
//! 422), and the authenticated caller.

use crate::error::ApiError;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use leadgate_core::domain::tenant::{Principal, Tenant};
use serde::de::DeserializeOwned;

/// The body size limit of every JSON route.
pub const MAX_BODY: usize = 1024 * 1024;

pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with Content-Type: application/json".into(),
            )),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::Validation(
                leadgate_core::domain::error::FieldError::new("body", "invalid_body", e.body_text()).into(),
            )),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::BadRequest(e.body_text())),
            // Over the limit, or a body that stopped arriving (the gateway's body timeout).
            Err(JsonRejection::BytesRejection(e))
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::PayloadTooLarge(MAX_BODY))
            }
            Err(JsonRejection::BytesRejection(_)) => Err(ApiError::BadRequest(
                "the request body could not be read to its end".into(),
            )),
            Err(other) => Err(ApiError::BadRequest(other.body_text())),
        }
    }
}

/// The authenticated caller and their tenant, put in the request by the auth layer.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub tenant: Tenant,
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
