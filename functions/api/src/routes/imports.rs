//! Import jobs and the template (admins only).

use crate::ApiState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, Caller};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use leadgate_core::import::ImportOptions;
use leadgate_core::import::template::{template_columns, template_csv, template_xlsx};
use leadgate_core::ports::blob::{BlobKey, UploadTerms};
use leadgate_core::services::import_profiles;
use leadgate_core::services::imports::{self as svc, ImportJob};
use leadgate_core::services::leads::load_context;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewImportJob {
    /// 1-200 characters: no slashes or control characters, not starting with '.' (a name over
    /// 255 bytes is shortened in its bucket key).
    #[schema(schema_with = leadgate_core::domain::filename::schema)]
    pub filename: String,
    /// How to import; left out, the defaults (or the profile's).
    #[serde(default)]
    pub options: Option<ImportOptions>,
    /// A saved import profile whose options the job takes (not with `options`).
    #[serde(default)]
    pub profile: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedImportJob {
    pub job: ImportJob,
    /// PUT the file here within an hour; the import starts when it lands. The URL signs no
    /// header: any Content-Type (or none, as `curl -T` sends) is taken.
    pub upload_url: String,
    pub upload_method: String,
    /// The headers the PUT must carry: none for an import.
    pub upload_headers: std::collections::BTreeMap<String, String>,
}

/// Creates an import job with its options and returns a presigned upload URL.
#[utoipa::path(post, path = "/v1/imports", tag = "imports", request_body = NewImportJob,
    responses((status = 201, body = CreatedImportJob), (status = 422, body = Problem)))]
pub async fn create_job(
    State(st): State<ApiState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewImportJob>,
) -> ApiResult<(StatusCode, Json<CreatedImportJob>)> {
    caller.require_admin()?;
    let options =
        import_profiles::options_or_profile(&*st.store, &caller.tenant, new.options, new.profile.as_deref())
            .await?;
    let job = svc::create_import_job(
        &*st.store,
        &caller.tenant,
        &caller.principal.user,
        &new.filename,
        options,
        st.clock.now(),
    )
    .await?;
    let key = BlobKey::parse(&job.key).map_err(ApiError::internal)?;
    let terms = UploadTerms::default();
    let upload_url = st
        .blobs
        // Any content type and size: what arrives is sniffed and bounded by the import.
        .presign_put(&key, Duration::from_secs(3600), terms)
        .await
        .map_err(ApiError::internal)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedImportJob {
            job,
            upload_url,
            upload_method: "PUT".into(),
            upload_headers: terms.headers(),
        }),
    ))
}

/// Every import job, newest first: those created here and files dropped into the bucket
/// (`created_by: "bucket"`). A running job shows its phase and progress.
#[utoipa::path(get, path = "/v1/imports", tag = "imports", responses((status = 200, body = Vec<ImportJob>)))]
pub async fn list_jobs(State(st): State<ApiState>, caller: Caller) -> ApiResult<Json<Vec<ImportJob>>> {
    caller.require_admin()?;
    Ok(Json(
        svc::list_import_jobs(&*st.store, &*st.blobs, &caller.tenant.id, st.clock.now()).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunImportJob {
    /// The options to run with; left out, the validated ones in `all_or_nothing`.
    #[serde(default)]
    pub options: Option<ImportOptions>,
}

/// Runs a `validated` job on the file it validated, without uploading it again: with its
/// options (in `all_or_nothing`) or changed ones. The job is `queued` until the import
/// starts. 409 when the job is not validated, or its file changed or is gone since.
#[utoipa::path(post, path = "/v1/imports/{id}/run", tag = "imports", params(("id" = String, Path)),
    request_body = RunImportJob,
    responses((status = 202, body = ImportJob), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
pub async fn run_job(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RunImportJob>,
) -> ApiResult<(StatusCode, Json<ImportJob>)> {
    caller.require_admin()?;
    let job = svc::run_validated_job(&*st.store, &*st.blobs, &caller.tenant, &id, body.options).await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// A job with its report summary (the errors and duplicates CSVs are under `reports/`).
#[utoipa::path(get, path = "/v1/imports/{id}", tag = "imports", params(("id" = String, Path)),
    responses((status = 200, body = ImportJob), (status = 404, body = Problem)))]
pub async fn get_job(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ImportJob>> {
    caller.require_admin()?;
    Ok(Json(
        svc::get_import_job(&*st.store, &*st.blobs, &caller.tenant.id, &id, st.clock.now()).await?,
    ))
}

/// Undoes an import: deletes the leads it created and gives the leads it updated their
/// previous values, except leads changed since (listed in `undo.kept_changed`). The job ends
/// `undone`. A job still running or waiting for its file is a 409, as is a second undo.
#[utoipa::path(delete, path = "/v1/imports/{id}", tag = "imports", params(("id" = String, Path)),
    responses((status = 200, body = ImportJob), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn undo_job(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ImportJob>> {
    caller.require_admin()?;
    Ok(Json(
        leadgate_core::services::import_undo::undo_import(
            &*st.store,
            &*st.clock,
            &caller.tenant.id,
            &id,
            &caller.principal.user,
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TemplateParams {
    /// `csv` (default) or `xlsx`.
    #[param(inline)]
    pub format: Option<TemplateFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TemplateFormat {
    Csv,
    Xlsx,
}

/// The import template: every column; the XLSX has dropdowns and a "Valid values" sheet.
#[utoipa::path(get, path = "/v1/imports/template", tag = "imports", params(TemplateParams),
    responses((status = 200, description = "the template file"), (status = 400, body = Problem)))]
pub async fn template(
    State(st): State<ApiState>,
    caller: Caller,
    Query(p): Query<TemplateParams>,
) -> ApiResult<Response> {
    let ctx = load_context(&*st.store, &caller.tenant).await?;
    let cols = template_columns(&ctx);
    match p.format.unwrap_or(TemplateFormat::Csv) {
        TemplateFormat::Csv => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"leads-template.csv\"",
                ),
            ],
            template_csv(&cols),
        )
            .into_response()),
        TemplateFormat::Xlsx => {
            let bytes = template_xlsx(&cols).map_err(ApiError::internal)?;
            Ok((
                [
                    (
                        header::CONTENT_TYPE,
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    ),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"leads-template.xlsx\"",
                    ),
                ],
                bytes,
            )
                .into_response())
        }
    }
}
