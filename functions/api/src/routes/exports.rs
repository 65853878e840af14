//! Export jobs: create (the list's filters, a format, optional columns), list, and get with a
//! download link once written. Reps may export; a rep limited to their own leads exports only
//! those, and sees only their own jobs.

use crate::ApiState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, Caller};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use leadgate_core::ports::blob::{BlobKey, ServeAs};
use leadgate_core::services::exports::{self as svc, ExportJob, ExportStatus, NewExport};
use serde::Serialize;
use std::time::Duration;

/// How long a download link works.
const DOWNLOAD_TTL: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExportJobView {
    #[serde(flatten)]
    pub job: ExportJob,
    /// A presigned GET for the file, once the job is completed (valid 15 minutes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
}

/// Starts an export of the leads matching `filters` (the list API's query parameters).
#[utoipa::path(post, path = "/v1/exports", tag = "exports", request_body = NewExport,
    responses((status = 202, body = ExportJob), (status = 422, body = Problem)))]
pub async fn create_export(
    State(st): State<ApiState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewExport>,
) -> ApiResult<Response> {
    let job = svc::create_export_job(
        &*st.store,
        &*st.blobs,
        &caller.tenant,
        &caller.principal,
        new,
        st.clock.now(),
    )
    .await?;
    let location = HeaderValue::from_str(&format!("/v1/exports/{}", job.id)).map_err(ApiError::internal)?;
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(job)).into_response())
}

#[utoipa::path(get, path = "/v1/exports", tag = "exports", responses((status = 200, body = Vec<ExportJob>)))]
pub async fn list_exports(State(st): State<ApiState>, caller: Caller) -> ApiResult<Json<Vec<ExportJob>>> {
    Ok(Json(svc::list_export_jobs(&*st.store, &caller.principal).await?))
}

/// The job's status and row count, and its download link once completed.
#[utoipa::path(get, path = "/v1/exports/{id}", tag = "exports", params(("id" = String, Path)),
    responses((status = 200, body = ExportJobView), (status = 404, body = Problem)))]
pub async fn get_export(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ExportJobView>> {
    let job = svc::get_export_job(&*st.store, &caller.principal, &id).await?;
    let download_url = match job.status {
        ExportStatus::Completed => {
            let key = BlobKey::parse(&job.key).map_err(ApiError::internal)?;
            // Saved as `leads-{job}.csv` (or .xlsx), typed as the file is.
            let filename = format!("leads-{}.{}", job.id, job.format.extension());
            let serve = ServeAs {
                content_type: Some(job.format.content_type()),
                filename: Some(&filename),
            };
            let url = st.blobs.presign_get(&key, DOWNLOAD_TTL, serve).await;
            Some(url.map_err(ApiError::internal)?)
        }
        _ => None,
    };
    Ok(Json(ExportJobView { job, download_url }))
}
