//! MLflow 3 logged models, which `log_model` creates before uploading a model's files.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use esteira_core::entities::{LoggedModelStatus, Tag};
use esteira_core::json::de_opt_i64;
use esteira_core::validation;
use esteira_store::{LoggedModelQuery, NewLoggedModel, Paging};
use serde::Deserialize;
use serde_json::{Value, json};

use super::required;
use crate::AppState;
use crate::error::ApiResult;
use crate::input::{Input, de};
use crate::reply;
use crate::service;

#[derive(Deserialize)]
struct CreateLoggedModel {
    #[serde(default, deserialize_with = "de::opt_string")]
    experiment_id: Option<String>,
    name: Option<String>,
    model_type: Option<String>,
    source_run_id: Option<String>,
    #[serde(default)]
    params: Vec<Tag>,
    #[serde(default)]
    tags: Vec<Tag>,
}

pub(super) async fn create(State(s): State<AppState>, input: Input) -> ApiResult<Response> {
    let r: CreateLoggedModel = input.parse()?;
    let model = s
        .store
        .create_logged_model(NewLoggedModel {
            experiment_id: required(&r.experiment_id, "experiment_id")?.to_string(),
            name: r.name,
            model_type: r.model_type,
            source_run_id: r.source_run_id,
            params: r.params,
            tags: r.tags,
        })
        .await?;
    Ok(reply::one("model", model))
}

pub(super) async fn get(
    State(s): State<AppState>,
    Path(model_id): Path<String>,
) -> ApiResult<Response> {
    let model = s.store.get_logged_model(&model_id).await?;
    Ok(reply::one("model", model))
}

#[derive(Deserialize)]
struct Finalize {
    #[serde(default, deserialize_with = "de::opt_string")]
    status: Option<String>,
}

pub(super) async fn finalize(
    State(s): State<AppState>,
    Path(model_id): Path<String>,
    input: Input,
) -> ApiResult<Response> {
    let r: Finalize = input.parse()?;
    let status = LoggedModelStatus::parse(required(&r.status, "status")?)?;
    let model = s.store.finalize_logged_model(&model_id, status).await?;
    Ok(reply::one("model", model))
}

pub(super) async fn delete(
    State(s): State<AppState>,
    Path(model_id): Path<String>,
) -> ApiResult<Json<Value>> {
    s.store.delete_logged_model(&model_id).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct TagsOrParams {
    #[serde(default)]
    tags: Vec<Tag>,
    #[serde(default)]
    params: Vec<Tag>,
}

pub(super) async fn set_tags(
    State(s): State<AppState>,
    Path(model_id): Path<String>,
    input: Input,
) -> ApiResult<Response> {
    let r: TagsOrParams = input.parse()?;
    s.store.set_logged_model_tags(&model_id, &r.tags).await?;
    let model = s.store.get_logged_model(&model_id).await?;
    Ok(reply::one("model", model))
}

pub(super) async fn delete_tag(
    State(s): State<AppState>,
    Path((model_id, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    s.store.delete_logged_model_tag(&model_id, &key).await?;
    Ok(Json(json!({})))
}

pub(super) async fn log_params(
    State(s): State<AppState>,
    Path(model_id): Path<String>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: TagsOrParams = input.parse()?;
    s.store
        .log_logged_model_params(&model_id, &r.params)
        .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct OrderBy {
    field_name: Option<String>,
    #[serde(default, deserialize_with = "de::opt_bool")]
    ascending: Option<bool>,
}

#[derive(Deserialize)]
struct Search {
    #[serde(default, deserialize_with = "de::strings")]
    experiment_ids: Vec<String>,
    filter: Option<String>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    max_results: Option<i64>,
    #[serde(default)]
    order_by: Vec<OrderBy>,
    page_token: Option<String>,
}

pub(super) async fn search(State(s): State<AppState>, input: Input) -> ApiResult<Response> {
    let r: Search = input.parse()?;
    let order_by = r
        .order_by
        .into_iter()
        .map(|o| {
            Ok((
                required(&o.field_name, "order_by.field_name")?.to_string(),
                o.ascending.unwrap_or(true),
            ))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let page = s
        .store
        .search_logged_models(&LoggedModelQuery {
            experiment_ids: r.experiment_ids,
            filter: r.filter,
            order_by,
            paging: Paging {
                max_results: validation::max_results(r.max_results.unwrap_or(100), 50_000)?,
                page_token: r.page_token,
            },
        })
        .await?;
    Ok(reply::page("models", page))
}

#[derive(Deserialize)]
struct ListArtifacts {
    artifact_directory_path: Option<String>,
}

pub(super) async fn list_artifacts(
    State(s): State<AppState>,
    Path(model_id): Path<String>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: ListArtifacts = input.parse()?;
    let model = s.store.get_logged_model(&model_id).await?;
    let root = model.info.artifact_uri;
    let files =
        service::list_artifacts_under(&s.artifacts, &root, r.artifact_directory_path.as_deref())
            .await?;
    Ok(Json(json!({ "root_uri": root, "files": files })))
}
