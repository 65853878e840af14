//! Attachments: a presigned upload URL, the list of uploaded files, and a presigned download.
//! Files live under `attachments/{tenant}/{lead}/{attachment}/{filename}` in the bucket; a
//! file goes on the timeline when it arrives (`services::attachments`).

use super::lead_id;
use crate::ApiState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, Caller};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use leadgate_core::domain::error::{FieldError, FieldErrors};
use leadgate_core::domain::filename::check_filename;
use leadgate_core::ports::blob::{BlobKey, ServeAs, UploadTerms};
use leadgate_core::ports::store::kinds;
use leadgate_core::services::attachments::{AnnouncedAttachment, announce, attachments_prefix};
use leadgate_core::services::leads::get_visible_lead;
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const MAX_ATTACHMENT: u64 = 25 * 1024 * 1024;
const URL_TTL: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAttachment {
    /// As for imports: 1-200 characters, no slashes or control characters, not starting with '.'.
    #[schema(schema_with = leadgate_core::domain::filename::schema)]
    pub filename: String,
    /// A MIME type such as `application/pdf`.
    #[schema(
        min_length = 3,
        max_length = 200,
        pattern = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
    )]
    pub content_type: String,
    /// Bytes; at most 25 MiB.
    #[schema(minimum = 1, maximum = 26214400)]
    #[serde(deserialize_with = "leadgate_core::domain::whole::int64")]
    pub size: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttachmentUpload {
    pub id: String,
    /// PUT the file here within 15 minutes, once, with exactly `upload_headers`: the URL is
    /// bound to the announced content type and size, and takes one upload.
    pub upload_url: String,
    pub upload_method: String,
    /// The headers the PUT must carry (Content-Type, Content-Length, If-None-Match: *).
    pub upload_headers: std::collections::BTreeMap<String, String>,
    pub expires_in_seconds: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Attachment {
    pub id: String,
    pub filename: String,
    pub size: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttachmentDownload {
    pub id: String,
    pub filename: String,
    pub size: u64,
    pub download_url: String,
    pub expires_in_seconds: u64,
}

/// `type/subtype` of HTTP token characters (RFC 9110), as the schema's pattern says: it is
/// signed into the upload URL as a header, so nothing else may pass.
fn is_mime_type(s: &str) -> bool {
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+.^_`|~-".contains(&b))
    };
    (3..=200).contains(&s.len()) && s.split_once('/').is_some_and(|(a, b)| token(a) && token(b))
}

fn check(new: &NewAttachment) -> Result<(), FieldErrors> {
    let mut errs = FieldErrors::default();
    if let Err(e) = check_filename(&new.filename) {
        errs.push(e);
    }
    if new.size == 0 || new.size > MAX_ATTACHMENT {
        errs.push(FieldError::new(
            "size",
            "out_of_range",
            format!("size is 1-{MAX_ATTACHMENT} bytes"),
        ));
    }
    if !is_mime_type(&new.content_type) {
        errs.push(FieldError::new(
            "content_type",
            "invalid_content_type",
            "content_type is a MIME type such as application/pdf",
        ));
    }
    errs.into_result(|| ())
}

#[utoipa::path(post, path = "/v1/leads/{id}/attachments", tag = "attachments", request_body = NewAttachment,
    params(("id" = String, Path)),
    responses((status = 201, body = AttachmentUpload), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_attachment(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(new): ApiJson<NewAttachment>,
) -> ApiResult<(StatusCode, Json<AttachmentUpload>)> {
    let lead = get_visible_lead(&*st.store, &caller.tenant, &caller.principal, &lead_id(&id)?).await?;
    check(&new)?;
    let att = uuid::Uuid::now_v7().simple().to_string();
    let filename = new.filename.clone();
    let key = BlobKey::parse(&format!(
        "{}{att}/{}",
        attachments_prefix(&caller.tenant.id, &lead.id),
        leadgate_core::domain::filename::key_segment(&filename)
    ))
    .map_err(|_| {
        ApiError::Validation(
            FieldError::new("filename", "invalid_filename", "the filename cannot be stored").into(),
        )
    })?;
    // The type the upload is bound to is the one the download is served as; the timeline
    // entry is written when the file arrives (services::attachments::arrived).
    let announced = AnnouncedAttachment {
        lead_id: lead.id,
        filename: filename.clone(),
        content_type: new.content_type.clone(),
        size: new.size,
        announced_by: None,
        arrived_at: None,
    };
    announce(
        &*st.store,
        &caller.tenant,
        &caller.principal,
        &lead.id,
        &att,
        announced,
    )
    .await?;
    let terms = UploadTerms {
        content_type: Some(&new.content_type),
        exact_size: Some(new.size),
        once: true,
    };
    let upload_url = st
        .blobs
        .presign_put(&key, URL_TTL, terms)
        .await
        .map_err(ApiError::internal)?;
    Ok((
        StatusCode::CREATED,
        Json(AttachmentUpload {
            id: att,
            upload_url,
            upload_method: "PUT".into(),
            upload_headers: terms.headers(),
            expires_in_seconds: URL_TTL.as_secs(),
        }),
    ))
}

/// The uploaded attachments of a lead (announced uploads that never arrived are not listed).
#[utoipa::path(get, path = "/v1/leads/{id}/attachments", tag = "attachments", params(("id" = String, Path)),
    responses((status = 200, body = Vec<Attachment>), (status = 404, body = Problem)))]
pub async fn list_attachments(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<Attachment>>> {
    let lead = get_visible_lead(&*st.store, &caller.tenant, &caller.principal, &lead_id(&id)?).await?;
    let prefix = attachments_prefix(&caller.tenant.id, &lead.id);
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = st
            .blobs
            .list(&prefix, after.as_deref(), 1000)
            .await
            .map_err(ApiError::internal)?;
        for m in &page.items {
            if let Some((id, filename)) = m
                .key
                .as_str()
                .strip_prefix(&prefix)
                .and_then(|r| r.split_once('/'))
            {
                out.push(Attachment {
                    id: id.to_owned(),
                    filename: filename.to_owned(),
                    size: m.size,
                });
            }
        }
        match page.next_after {
            Some(a) => after = Some(a),
            None => return Ok(Json(out)),
        }
    }
}

#[utoipa::path(get, path = "/v1/leads/{id}/attachments/{attachment_id}", tag = "attachments",
    params(("id" = String, Path), ("attachment_id" = String, Path)),
    responses((status = 200, body = AttachmentDownload), (status = 404, body = Problem)))]
pub async fn download_attachment(
    State(st): State<ApiState>,
    caller: Caller,
    Path((id, attachment_id)): Path<(String, String)>,
) -> ApiResult<Json<AttachmentDownload>> {
    let lead = get_visible_lead(&*st.store, &caller.tenant, &caller.principal, &lead_id(&id)?).await?;
    // Ids are simple UUIDs (32 hex digits); anything else names no attachment.
    if attachment_id.len() != 32 || !attachment_id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ApiError::NotFound("attachment"));
    }
    let prefix = format!(
        "{}{attachment_id}/",
        attachments_prefix(&caller.tenant.id, &lead.id)
    );
    let page = st
        .blobs
        .list(&prefix, None, 1)
        .await
        .map_err(ApiError::internal)?;
    let meta = page
        .items
        .into_iter()
        .next()
        .ok_or(ApiError::NotFound("attachment"))?;
    let filename = meta
        .key
        .as_str()
        .strip_prefix(&prefix)
        .unwrap_or_default()
        .to_owned();
    let announced = st
        .store
        .get_record(&caller.tenant.id, kinds::ATTACHMENT, &attachment_id)
        .await
        .map_err(leadgate_core::services::ServiceError::from)?;
    let content_type = announced
        .as_ref()
        .and_then(|r| r.body["content_type"].as_str())
        .filter(|t| is_mime_type(t));
    let serve = ServeAs {
        content_type,
        filename: Some(&filename),
    };
    let download_url = st
        .blobs
        .presign_get(&meta.key, URL_TTL, serve)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(AttachmentDownload {
        id: attachment_id,
        filename,
        size: meta.size,
        download_url,
        expires_in_seconds: URL_TTL.as_secs(),
    }))
}
