//! Ad-platform webhooks. Each delivery is checked (signature or shared key), each lead in it is
//! stored under the platform's own id (`meta-{leadgen_id}`, `google-{lead_id}`,
//! `linkedin-{response urn}`), so repeats find the first copy; a copy that failed before is
//! processed again. The platform always gets its 200 once the delivery is stored: a failed
//! fetch stays as a failed capture to replay, never as a lost lead.

use crate::signature::{hmac_hex, secrets_equal, verify_linkedin, verify_meta};
use crate::{CaptureState, load_tenant};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use leadgate_core::domain::Tenant;
use leadgate_core::domain::capture::{Channel, GoogleConfig, LinkedinConfig, MetaConfig, Submission};
use leadgate_core::services::capture::{Known, get_channel, take_platform_delivery};
use leadgate_http::error::ApiError;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn config<T: serde::de::DeserializeOwned>(
    st: &CaptureState,
    tenant: &Tenant,
    channel: Channel,
) -> Result<T, ApiError> {
    get_channel::<T>(&*st.store, tenant, channel)
        .await?
        .ok_or_else(crate::no_endpoint)
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))
}

/// A JSON id that platforms send as a string or a number.
fn id_text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::to_owned)
        .or_else(|| v.as_u64().map(|n| n.to_string()))
        .filter(|s| !s.is_empty() && s.len() <= 400)
}

/// Stores one platform lead and processes it unless a copy is already done (or in flight).
async fn take(
    st: &CaptureState,
    tenant: &Tenant,
    known: &Known,
    external: String,
    form: Option<String>,
    payload: Value,
    is_test: bool,
) -> Result<Submission, ApiError> {
    let channel = known.channel();
    let mut sub = Submission::received(
        format!("{}-{external}", channel.as_str()),
        channel,
        form,
        Some(external),
        st.clock.now(),
        payload,
    );
    sub.is_test = is_test;
    Ok(take_platform_delivery(&*st.store, &*st.clock, &*st.fetcher, tenant, sub, known.clone()).await?)
}

#[derive(Debug, Deserialize)]
pub struct MetaHandshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// Meta's subscription handshake: echo `hub.challenge` when the verify token matches.
pub async fn meta_verify(
    State(st): State<CaptureState>,
    Path(tenant): Path<String>,
    Query(q): Query<MetaHandshake>,
) -> Result<Response, ApiError> {
    let tenant = load_tenant(&st, &tenant).await?;
    let cfg: MetaConfig = config(&st, &tenant, Channel::Meta).await?;
    let token_ok = q
        .verify_token
        .as_deref()
        .is_some_and(|t| secrets_equal(t, &cfg.verify_token));
    match (q.mode.as_deref(), q.challenge) {
        (Some("subscribe"), Some(challenge)) if token_ok => Ok((StatusCode::OK, challenge).into_response()),
        _ => Err(ApiError::Forbidden("the verify token does not match")),
    }
}

pub async fn meta_deliver(
    State(st): State<CaptureState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = load_tenant(&st, &tenant).await?;
    let cfg: MetaConfig = config(&st, &tenant, Channel::Meta).await?;
    verify_meta(
        &cfg.app_secret,
        header_str(&headers, "x-hub-signature-256"),
        &body,
    )
    .map_err(|e| ApiError::BadSignature(e.to_string()))?;
    limit_platform(&st, &tenant, Channel::Meta)?;
    let v = parse_json(&body)?;
    let known = Known::Meta(cfg);
    let mut taken = 0;
    for entry in v["entry"].as_array().into_iter().flatten() {
        for change in entry["changes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["field"] == "leadgen")
        {
            let value = &change["value"];
            let Some(leadgen_id) = id_text(&value["leadgen_id"]) else {
                continue;
            };
            take(
                &st,
                &tenant,
                &known,
                leadgen_id,
                id_text(&value["form_id"]),
                value.clone(),
                false,
            )
            .await?;
            taken += 1;
        }
    }
    Ok((StatusCode::OK, Json(json!({"received": taken}))).into_response())
}

/// Google Ads lead form webhook: the shared `google_key` is in the body; Google wants 200 `{}`.
pub async fn google_deliver(
    State(st): State<CaptureState>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = load_tenant(&st, &tenant).await?;
    let cfg: GoogleConfig = config(&st, &tenant, Channel::Google).await?;
    let v = parse_json(&body)?;
    let key_ok = v["google_key"]
        .as_str()
        .is_some_and(|k| secrets_equal(k, &cfg.google_key));
    if !key_ok {
        return Err(ApiError::BadSignature("google_key does not match".into()));
    }
    limit_platform(&st, &tenant, Channel::Google)?;
    let lead_id = id_text(&v["lead_id"]).ok_or_else(|| ApiError::BadRequest("lead_id is missing".into()))?;
    let mut payload = v.clone();
    if let Some(o) = payload.as_object_mut() {
        // The shared key is a secret: never keep it with the submission.
        o.remove("google_key");
    }
    let is_test = v["is_test"].as_bool().unwrap_or(false);
    take(
        &st,
        &tenant,
        &Known::Google(cfg),
        lead_id,
        id_text(&v["form_id"]),
        payload,
        is_test,
    )
    .await?;
    Ok((StatusCode::OK, Json(json!({}))).into_response())
}

/// LinkedIn sends a UUID (`890e4665-4dfe-4ab1-b689-ed553bceeed1`) as its challenge code.
pub fn is_linkedin_challenge(code: &str) -> bool {
    code.len() == 36
        && code.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Deliveries per minute accepted on one tenant's platform webhook, counted after the
/// signature check so forged posts cannot use up a tenant's quota. Platforms batch and retry,
/// so this is far above their normal rate; it bounds what a leaked secret can cost.
pub const PLATFORM_DELIVERIES_PER_MINUTE: u32 = 600;

fn limit_platform(st: &CaptureState, tenant: &Tenant, channel: Channel) -> Result<(), ApiError> {
    st.limiter
        .check(
            &format!("{}/channel/{}", tenant.id, channel.as_str()),
            PLATFORM_DELIVERIES_PER_MINUTE,
            st.clock.now().timestamp(),
        )
        .map_err(ApiError::TooManyRequests)
}

/// LinkedIn's webhook validation: answer the challenge with its HMAC.
pub async fn linkedin_challenge(
    State(st): State<CaptureState>,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let tenant = load_tenant(&st, &tenant).await?;
    let cfg: LinkedinConfig = config(&st, &tenant, Channel::Linkedin).await?;
    let code = q
        .get("challengeCode")
        .ok_or_else(|| ApiError::BadRequest("challengeCode is missing".into()))?;
    // The challenge answer is an HMAC under the same secret that signs deliveries, so only
    // the shape LinkedIn sends (a UUID) is answered: anything else could be a payload.
    if !is_linkedin_challenge(code) {
        return Err(ApiError::BadRequest(
            "challengeCode is not a LinkedIn challenge".into(),
        ));
    }
    let response = hmac_hex(&cfg.client_secret, &[code.as_bytes()]);
    Ok(Json(json!({"challengeCode": code, "challengeResponse": response})).into_response())
}

pub async fn linkedin_deliver(
    State(st): State<CaptureState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = load_tenant(&st, &tenant).await?;
    let cfg: LinkedinConfig = config(&st, &tenant, Channel::Linkedin).await?;
    verify_linkedin(&cfg.client_secret, header_str(&headers, "x-li-signature"), &body)
        .map_err(|e| ApiError::BadSignature(e.to_string()))?;
    limit_platform(&st, &tenant, Channel::Linkedin)?;
    let v = parse_json(&body)?;
    let known = Known::Linkedin(cfg);
    // One notification, or a batch of them.
    let notes: Vec<Value> = match &v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let mut taken = 0;
    for n in notes {
        let Some(urn) = id_text(&n["leadGenFormResponse"]) else {
            continue;
        };
        let action = n["leadAction"].as_str().unwrap_or("CREATED");
        if action != "CREATED" {
            continue;
        }
        take(
            &st,
            &tenant,
            &known,
            urn,
            id_text(&n["leadGenForm"]),
            n.clone(),
            false,
        )
        .await?;
        taken += 1;
    }
    Ok((StatusCode::OK, Json(json!({"received": taken}))).into_response())
}
