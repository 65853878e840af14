//! Authentication: an API key (`Authorization: Bearer lg_…`, looked up by its hash), or, behind
//! API Gateway, the JWT authorizer's claims (`tenant` or `custom:tenant`, `sub`, and
//! `groups`/`cognito:groups` containing `admin` for admins). The tenant must exist and not
//! be suspended. The platform operator's routes take an operator key (an API key of the
//! platform partition) or a JWT in the `platform-operator` group, and nothing else does.

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::Caller;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lambda_http::request::RequestContext;
use leadgate_core::domain::tenant::{Principal, Role};
use leadgate_core::domain::{ApiKeyId, TenantId};
use leadgate_core::secret::Secret;
use leadgate_core::services::{ServiceError, api_keys, tenants};
use std::collections::HashMap;

/// JWT claims from the API Gateway HTTP API authorizer, when the request came through it.
fn jwt_claims(req: &Request) -> Option<&HashMap<String, String>> {
    match req.extensions().get::<RequestContext>()? {
        RequestContext::ApiGatewayV2(ctx) => Some(&ctx.authorizer.as_ref()?.jwt.as_ref()?.claims),
        _ => None,
    }
}

/// API Gateway flattens array claims to "[a b]"; plain strings may be comma-separated.
fn groups(claims: &HashMap<String, String>) -> Vec<String> {
    ["cognito:groups", "groups"]
        .iter()
        .filter_map(|k| claims.get(*k))
        .flat_map(|v| {
            v.trim_matches(|c| c == '[' || c == ']')
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|g| !g.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn principal_from_claims(claims: &HashMap<String, String>) -> Result<Principal, ApiError> {
    let tenant = claims
        .get("custom:tenant")
        .or_else(|| claims.get("tenant"))
        .ok_or(ApiError::Forbidden("the token has no tenant claim"))?;
    let tenant =
        TenantId::parse(tenant).map_err(|_| ApiError::Forbidden("the token's tenant claim is invalid"))?;
    let user = claims
        .get("sub")
        .cloned()
        .ok_or(ApiError::Forbidden("the token has no sub claim"))?;
    let role = if groups(claims).iter().any(|g| g == "admin") {
        Role::Admin
    } else {
        Role::Rep
    };
    Ok(Principal { tenant, user, role })
}

/// The JWT group that makes a platform operator behind API Gateway.
pub const OPERATOR_GROUP: &str = "platform-operator";

/// What authentication needs from a request, taken out before anything awaits.
struct Credentials {
    claims: Option<HashMap<String, String>>,
    authorization: Option<String>,
}

impl Credentials {
    fn of(req: &Request) -> Self {
        Self {
            claims: jwt_claims(req).cloned(),
            authorization: req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }
}

/// The principal, and the API key it came from (none behind a JWT).
async fn resolve(state: &ApiState, creds: Credentials) -> Result<(Principal, Option<ApiKeyId>), ApiError> {
    if let Some(claims) = &creds.claims {
        return Ok((principal_from_claims(claims)?, None));
    }
    let header = creds.authorization.ok_or(ApiError::Unauthorized)?;
    let key = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 256)
        .ok_or(ApiError::Unauthorized)?;
    api_keys::authenticate_key(&*state.store, &Secret::new(key))
        .await?
        .map(|(p, id)| (p, Some(id)))
        .ok_or(ApiError::Unauthorized)
}

pub async fn require_caller(State(state): State<ApiState>, mut req: Request, next: Next) -> Response {
    let creds = Credentials::of(&req);
    let caller = async {
        let (principal, key_id) = resolve(&state, creds).await?;
        let tenant = match tenants::active_tenant(&*state.store, &principal.tenant).await {
            Ok(t) => t,
            Err(ServiceError::NotFound { .. }) if tenants::is_operator(&principal) => {
                return Err(ApiError::Forbidden("an operator key works only on /v1/tenants"));
            }
            Err(ServiceError::NotFound { .. }) => {
                return Err(ApiError::Forbidden("the tenant does not exist"));
            }
            Err(e) => return Err(e.into()),
        };
        Ok::<_, ApiError>(Caller {
            principal,
            tenant,
            key_id,
        })
    }
    .await;
    match caller {
        Ok(c) => {
            req.extensions_mut().insert(c);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_claims_carry_groups_should_map_admin_role() {
        let claims = HashMap::from([
            ("sub".to_string(), "u-1".to_string()),
            ("custom:tenant".to_string(), "acme".to_string()),
            ("cognito:groups".to_string(), "[reps admin]".to_string()),
        ]);
        let p = principal_from_claims(&claims).unwrap();
        assert_eq!(
            (p.tenant.as_str(), p.user.as_str(), p.role),
            ("acme", "u-1", Role::Admin)
        );
        let rep = HashMap::from([
            ("sub".to_string(), "ana".to_string()),
            ("tenant".to_string(), "acme".to_string()),
        ]);
        assert_eq!(principal_from_claims(&rep).unwrap().role, Role::Rep);
        let none = HashMap::from([("sub".to_string(), "x".to_string())]);
        assert!(matches!(
            principal_from_claims(&none),
            Err(ApiError::Forbidden(_))
        ));
    }
}

/// The platform operator, put in the request by `require_operator`.
#[derive(Debug, Clone)]
pub struct Operator {
    pub user: String,
}

async fn resolve_operator(state: &ApiState, creds: Credentials) -> Result<Operator, ApiError> {
    const NOT_OPERATOR: ApiError =
        ApiError::Forbidden("this needs a platform operator key or the platform-operator group");
    if let Some(claims) = &creds.claims {
        if !groups(claims).iter().any(|g| g == OPERATOR_GROUP) {
            return Err(NOT_OPERATOR);
        }
        let user = claims
            .get("sub")
            .cloned()
            .ok_or(ApiError::Forbidden("the token has no sub claim"))?;
        return Ok(Operator { user });
    }
    let (principal, _) = resolve(state, creds).await?;
    if !tenants::is_operator(&principal) {
        return Err(NOT_OPERATOR);
    }
    Ok(Operator { user: principal.user })
}

pub async fn require_operator(State(state): State<ApiState>, mut req: Request, next: Next) -> Response {
    let creds = Credentials::of(&req);
    match resolve_operator(&state, creds).await {
        Ok(op) => {
            req.extensions_mut().insert(op);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}
