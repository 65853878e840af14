//! Tenant settings: sources, custom fields, reps and weights, pipeline stages, capture forms,
//! import profiles, and the tenant's own options. Everyone may read the lists a lead form needs; only admins
//! change settings.

use crate::ApiState;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, Caller};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use leadgate_core::domain::custom_field::CustomFieldDef;
use leadgate_core::domain::phone::Region;
use leadgate_core::domain::rep::Rep;
use leadgate_core::domain::settings::{CaptureForm, PipelineStage};
use leadgate_core::domain::source::Source;
use leadgate_core::domain::tenant::TenantSettings;
use leadgate_core::domain::{RepId, SourceId};
use leadgate_core::services::import_profiles::{self, ImportProfile};
use leadgate_core::services::{custom_fields, reps, settings, sources, tenants};
use serde::Deserialize;

fn source_id(raw: &str) -> Result<SourceId, ApiError> {
    SourceId::parse(raw).map_err(|_| ApiError::NotFound("source"))
}

#[utoipa::path(get, path = "/v1/settings/sources", tag = "settings", responses((status = 200, body = Vec<Source>)))]
pub async fn list_sources(State(st): State<ApiState>, caller: Caller) -> ApiResult<Json<Vec<Source>>> {
    Ok(Json(sources::list_sources(&*st.store, &caller.tenant.id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSource {
    /// Stable slug id; integrations refer to it.
    #[schema(value_type = SourceId)]
    pub id: String,
    #[schema(
        min_length = 1,
        max_length = 80,
        pattern = "[^\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    )]
    pub name: String,
}

#[utoipa::path(post, path = "/v1/settings/sources", tag = "settings", request_body = NewSource,
    responses((status = 201, body = Source), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn add_source(
    State(st): State<ApiState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewSource>,
) -> ApiResult<(StatusCode, Json<Source>)> {
    caller.require_admin()?;
    let id = SourceId::parse(&new.id).map_err(|mut e| {
        e.field = "id".into();
        ApiError::from(e)
    })?;
    Ok((
        StatusCode::CREATED,
        Json(sources::add_source(&*st.store, &caller.tenant.id, id, &new.name).await?),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceChange {
    #[schema(
        min_length = 1,
        max_length = 80,
        pattern = "[^\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    )]
    pub name: Option<String>,
    pub retired: Option<bool>,
}

/// Renames or retires a source. Leads keep the source id, so a rename shows on all of them.
#[utoipa::path(patch, path = "/v1/settings/sources/{id}", tag = "settings", request_body = SourceChange,
    params(("id" = String, Path)),
    responses((status = 200, body = Source), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn change_source(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(change): ApiJson<SourceChange>,
) -> ApiResult<Json<Source>> {
    caller.require_admin()?;
    let id = source_id(&id)?;
    let t = &caller.tenant.id;
    let mut out = None;
    if let Some(name) = &change.name {
        out = Some(sources::rename_source(&*st.store, t, &id, name).await?);
    }
    if let Some(retired) = change.retired {
        out = Some(sources::set_source_retired(&*st.store, t, &id, retired).await?);
    }
    match out {
        Some(s) => Ok(Json(s)),
        // Nothing to change: the source as it is (a 404 when there is none).
        None => sources::list_sources(&*st.store, t)
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .map(Json)
            .ok_or(ApiError::NotFound("source")),
    }
}

/// Deletes a source no lead uses; a used one is a 409 (retire it instead).
#[utoipa::path(delete, path = "/v1/settings/sources/{id}", tag = "settings", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete_source(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    sources::delete_source(&*st.store, &caller.tenant.id, &source_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A PUT whose body names another key than its path (custom fields, capture forms).
fn key_mismatch() -> ApiError {
    leadgate_core::domain::error::FieldError::new(
        "key",
        "key_mismatch",
        "the key in the body must match the key in the path",
    )
    .into()
}

#[utoipa::path(get, path = "/v1/settings/custom-fields", tag = "settings", responses((status = 200, body = Vec<CustomFieldDef>)))]
pub async fn list_custom_fields(
    State(st): State<ApiState>,
    caller: Caller,
) -> ApiResult<Json<Vec<CustomFieldDef>>> {
    Ok(Json(
        custom_fields::list_custom_fields(&*st.store, &caller.tenant.id).await?,
    ))
}

#[utoipa::path(put, path = "/v1/settings/custom-fields/{key}", tag = "settings", request_body = CustomFieldDef,
    params(("key" = String, Path)), responses((status = 200, body = CustomFieldDef), (status = 422, body = Problem)))]
pub async fn put_custom_field(
    State(st): State<ApiState>,
    caller: Caller,
    Path(key): Path<String>,
    ApiJson(def): ApiJson<CustomFieldDef>,
) -> ApiResult<Json<CustomFieldDef>> {
    caller.require_admin()?;
    if def.key != key {
        return Err(key_mismatch());
    }
    Ok(Json(
        custom_fields::put_custom_field(&*st.store, &caller.tenant.id, def).await?,
    ))
}

#[utoipa::path(delete, path = "/v1/settings/custom-fields/{key}", tag = "settings", params(("key" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_custom_field(
    State(st): State<ApiState>,
    caller: Caller,
    Path(key): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    custom_fields::delete_custom_field(&*st.store, &caller.tenant.id, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/settings/reps", tag = "settings", responses((status = 200, body = Vec<Rep>)))]
pub async fn list_reps(State(st): State<ApiState>, caller: Caller) -> ApiResult<Json<Vec<Rep>>> {
    Ok(Json(reps::list_reps(&*st.store, &caller.tenant.id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepBody {
    #[schema(
        min_length = 1,
        max_length = 120,
        pattern = "[^\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    )]
    pub name: String,
    /// Share of new leads, 0-100 (0 keeps the rep out of the rotation).
    #[schema(maximum = 100)]
    #[serde(deserialize_with = "leadgate_core::domain::whole::int32")]
    pub weight: u32,
    pub active: bool,
    /// In today's rotation; `false` while the rep is out (leave, a day off): the round robin
    /// skips them, their weight and their leads stay. Default `true`.
    #[serde(default = "yes")]
    pub available: bool,
}

fn yes() -> bool {
    true
}

/// Creates or updates a rep, their round-robin weight, active and available flags.
#[utoipa::path(put, path = "/v1/settings/reps/{id}", tag = "settings", request_body = RepBody,
    params(("id" = String, Path)), responses((status = 200, body = Rep), (status = 422, body = Problem)))]
pub async fn put_rep(
    State(st): State<ApiState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RepBody>,
) -> ApiResult<Json<Rep>> {
    caller.require_admin()?;
    let id = RepId::parse(&id)?;
    let rep = Rep {
        id,
        name: body.name.trim().to_owned(),
        weight: body.weight,
        active: body.active,
        available: body.available,
    };
    Ok(Json(reps::put_rep(&*st.store, &caller.tenant.id, rep).await?))
}

#[utoipa::path(get, path = "/v1/settings/pipeline-stages", tag = "settings", responses((status = 200, body = Vec<PipelineStage>)))]
pub async fn get_stages(State(st): State<ApiState>, caller: Caller) -> ApiResult<Json<Vec<PipelineStage>>> {
    Ok(Json(settings::get_stages(&*st.store, &caller.tenant.id).await?))
}

/// Replaces the whole stage list.
/// The stage list a PUT takes, for the document: at least one stage, ids unique.
struct StageList;

impl utoipa::PartialSchema for StageList {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(<PipelineStage as utoipa::PartialSchema>::schema())
            .min_items(Some(1))
            .into()
    }
}

impl utoipa::ToSchema for StageList {}

#[utoipa::path(put, path = "/v1/settings/pipeline-stages", tag = "settings", request_body = inline(StageList),
    responses((status = 200, body = Vec<PipelineStage>), (status = 422, body = Problem)))]
pub async fn put_stages(
    State(st): State<ApiState>,
    caller: Caller,
    ApiJson(stages): ApiJson<Vec<PipelineStage>, false>,
) -> ApiResult<Json<Vec<PipelineStage>>> {
    caller.require_admin()?;
    Ok(Json(
        settings::put_stages(&*st.store, &caller.tenant.id, stages).await?,
    ))
}

#[utoipa::path(get, path = "/v1/settings/capture-forms", tag = "settings", responses((status = 200, body = Vec<CaptureForm>)))]
pub async fn list_forms(State(st): State<ApiState>, caller: Caller) -> ApiResult<Json<Vec<CaptureForm>>> {
    caller.require_admin()?;
    Ok(Json(
        settings::list_forms(&*st.store, &caller.tenant.id)
            .await?
            .into_iter()
            .map(CaptureForm::redacted)
            .collect(),
    ))
}

#[utoipa::path(get, path = "/v1/settings/capture-forms/{key}", tag = "settings", params(("key" = String, Path)),
    responses((status = 200, body = CaptureForm), (status = 404, body = Problem)))]
pub async fn get_form(
    State(st): State<ApiState>,
    caller: Caller,
    Path(key): Path<String>,
) -> ApiResult<Json<CaptureForm>> {
    caller.require_admin()?;
    Ok(Json(
        settings::get_form(&*st.store, &caller.tenant.id, &key)
            .await?
            .redacted(),
    ))
}

#[utoipa::path(put, path = "/v1/settings/capture-forms/{key}", tag = "settings", request_body = CaptureForm,
    params(("key" = String, Path)), responses((status = 200, body = CaptureForm), (status = 422, body = Problem)))]
pub async fn put_form(
    State(st): State<ApiState>,
    caller: Caller,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<Json<CaptureForm>> {
    caller.require_admin()?;
    // Left out (or sent back masked) keeps the secret; an explicit null removes it.
    let secret = match body.get("signing_secret") {
        None => settings::SecretChange::Keep,
        Some(serde_json::Value::String(s)) if s == CaptureForm::SECRET_MASK => settings::SecretChange::Keep,
        Some(_) => settings::SecretChange::AsGiven,
    };
    let form: CaptureForm = serde_json::from_value(body).map_err(|e| {
        ApiError::from(leadgate_core::domain::error::FieldError::new(
            "body",
            "invalid_body",
            e.to_string(),
        ))
    })?;
    if form.key != key {
        return Err(key_mismatch());
    }
    Ok(Json(
        settings::put_form_with(&*st.store, &caller.tenant.id, form, secret)
            .await?
            .redacted(),
    ))
}

#[utoipa::path(delete, path = "/v1/settings/capture-forms/{key}", tag = "settings", params(("key" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_form(
    State(st): State<ApiState>,
    caller: Caller,
    Path(key): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    settings::delete_form(&*st.store, &caller.tenant.id, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/settings/import-profiles", tag = "settings",
    responses((status = 200, body = Vec<ImportProfile>)))]
pub async fn list_import_profiles(
    State(st): State<ApiState>,
    caller: Caller,
) -> ApiResult<Json<Vec<ImportProfile>>> {
    caller.require_admin()?;
    Ok(Json(
        import_profiles::list_profiles(&*st.store, &caller.tenant).await?,
    ))
}

#[utoipa::path(get, path = "/v1/settings/import-profiles/{name}", tag = "settings", params(("name" = String, Path)),
    responses((status = 200, body = ImportProfile), (status = 404, body = Problem)))]
pub async fn get_import_profile(
    State(st): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<ImportProfile>> {
    caller.require_admin()?;
    Ok(Json(
        import_profiles::get_profile(&*st.store, &caller.tenant, &name).await?,
    ))
}

/// Saves a profile: files dropped into `imports/{tenant}/{name}/` run with its options
/// (`default`: files dropped straight into `imports/{tenant}/`). Its mapping is checked like an
/// import job's.
#[utoipa::path(put, path = "/v1/settings/import-profiles/{name}", tag = "settings", request_body = ImportProfile,
    params(("name" = String, Path)), responses((status = 200, body = ImportProfile), (status = 422, body = Problem)))]
pub async fn put_import_profile(
    State(st): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(profile): ApiJson<ImportProfile>,
) -> ApiResult<Json<ImportProfile>> {
    caller.require_admin()?;
    if profile.name != name {
        return Err(key_mismatch());
    }
    Ok(Json(
        import_profiles::put_profile(&*st.store, &caller.tenant, profile).await?,
    ))
}

#[utoipa::path(delete, path = "/v1/settings/import-profiles/{name}", tag = "settings", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_import_profile(
    State(st): State<ApiState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_admin()?;
    import_profiles::delete_profile(&*st.store, &caller.tenant, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/settings/tenant", tag = "settings", responses((status = 200, body = TenantSettings)))]
pub async fn get_tenant_settings(caller: Caller) -> ApiResult<Json<TenantSettings>> {
    Ok(Json(caller.tenant.settings))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantSettingsChange {
    /// ISO 3166-1 alpha-2 region for phone numbers without a country code.
    #[schema(schema_with = leadgate_core::domain::Region::nullable_schema)]
    pub default_region: Option<String>,
    pub reps_see_own_leads_only: Option<bool>,
    pub capture_data_quality: Option<leadgate_core::domain::data_quality::DataQuality>,
    /// Why a lead is unqualified: the whole list, 0-30 distinct reasons of 1-80 characters.
    #[schema(max_items = 30)]
    pub unqualified_reasons: Option<Vec<String>>,
    /// Whether moving a lead to unqualified needs a reason from the list.
    pub unqualified_reason_required: Option<bool>,
    /// Whether logging a call or an email on a new lead moves it to contacted.
    pub contact_moves_new_to_contacted: Option<bool>,
    /// Minutes a new lead may wait for its first response before it is overdue.
    #[schema(minimum = 1, maximum = 10080)]
    pub response_sla_minutes: Option<u32>,
    /// When the SLA runs (open days and hours in a time zone); `null` makes every minute
    /// count again.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<leadgate_core::domain::business_hours::BusinessHours>, nullable)]
    pub business_hours: Option<Option<leadgate_core::domain::business_hours::BusinessHours>>,
}

/// A field that may be given as `null` (`Some(None)`: clear it) or left out (`None`: keep it).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

#[utoipa::path(patch, path = "/v1/settings/tenant", tag = "settings", request_body = TenantSettingsChange,
    responses((status = 200, body = TenantSettings), (status = 422, body = Problem)))]
pub async fn change_tenant_settings(
    State(st): State<ApiState>,
    caller: Caller,
    ApiJson(change): ApiJson<TenantSettingsChange>,
) -> ApiResult<Json<TenantSettings>> {
    caller.require_admin()?;
    let mut s = caller.tenant.settings.clone();
    if let Some(r) = &change.default_region {
        s.default_region = Region::parse_code(r)?;
    }
    if let Some(own) = change.reps_see_own_leads_only {
        s.reps_see_own_leads_only = own;
    }
    if let Some(q) = change.capture_data_quality {
        s.capture_data_quality = q;
    }
    if let Some(reasons) = change.unqualified_reasons {
        s.unqualified_reasons = reasons;
    }
    if let Some(required) = change.unqualified_reason_required {
        s.unqualified_reason_required = required;
    }
    if let Some(moves) = change.contact_moves_new_to_contacted {
        s.contact_moves_new_to_contacted = moves;
    }
    if let Some(minutes) = change.response_sla_minutes {
        s.response_sla_minutes = minutes;
    }
    if let Some(hours) = change.business_hours {
        s.business_hours = hours;
    }
    s.validate()?;
    Ok(Json(
        tenants::update_settings(&*st.store, &caller.tenant.id, s)
            .await?
            .settings,
    ))
}
