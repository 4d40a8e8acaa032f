//! The MLflow model registry: registered models, versions, stages, tags and aliases.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use esteira_core::entities::{Stage, Tag};
use esteira_core::json::de_opt_i64;
use esteira_core::validation;
use esteira_store::{NewModelVersion, NewRegisteredModel, Paging, RegistryQuery};
use serde::Deserialize;
use serde_json::{Value, json};

use super::required;
use crate::AppState;
use crate::error::ApiResult;
use crate::input::{Input, de};
use crate::reply;

#[derive(Deserialize)]
struct ModelRequest {
    name: Option<String>,
    new_name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
    key: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    value: Option<String>,
    alias: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    version: Option<String>,
    #[serde(default, deserialize_with = "de::strings")]
    stages: Vec<String>,
}

impl ModelRequest {
    fn name(&self) -> ApiResult<&str> {
        required(&self.name, "name")
    }

    fn version(&self) -> ApiResult<&str> {
        required(&self.version, "version")
    }

    fn tag(&self) -> ApiResult<Tag> {
        Ok(Tag {
            key: required(&self.key, "key")?.to_string(),
            value: self.value.clone().unwrap_or_default(),
        })
    }
}

pub(super) async fn create_registered_model(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Response> {
    let r: ModelRequest = input.parse()?;
    let m = s
        .store
        .create_registered_model(NewRegisteredModel {
            name: r.name()?.to_string(),
            tags: r.tags,
            description: r.description,
        })
        .await?;
    Ok(reply::one("registered_model", m))
}

pub(super) async fn get_registered_model(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Response> {
    let r: ModelRequest = input.parse()?;
    let m = s.store.get_registered_model(r.name()?).await?;
    Ok(reply::one("registered_model", m))
}

pub(super) async fn rename_registered_model(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Response> {
    let r: ModelRequest = input.parse()?;
    let m = s
        .store
        .rename_registered_model(r.name()?, required(&r.new_name, "new_name")?)
        .await?;
    Ok(reply::one("registered_model", m))
}

pub(super) async fn update_registered_model(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Response> {
    let r: ModelRequest = input.parse()?;
    let m = s
        .store
        .update_registered_model(r.name()?, r.description.as_deref().unwrap_or_default())
        .await?;
    Ok(reply::one("registered_model", m))
}

pub(super) async fn delete_registered_model(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: ModelRequest = input.parse()?;
    s.store.delete_registered_model(r.name()?).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct Search {
    filter: Option<String>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    max_results: Option<i64>,
    #[serde(default, deserialize_with = "de::strings")]
    order_by: Vec<String>,
    page_token: Option<String>,
}

impl Search {
    fn query(self, default_max: i64, limit: i64) -> ApiResult<RegistryQuery> {
        Ok(RegistryQuery {
            filter: self.filter,
            order_by: self.order_by,
            paging: Paging {
                max_results: validation::max_results(
                    self.max_results.unwrap_or(default_max),
                    limit,
                )?,
                page_token: self.page_token,
            },
        })
    }
}

pub(super) async fn search_registered_models(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Response> {
    let r: Search = input.parse()?;
    let page = s
        .store
        .search_registered_models(&r.query(100, 1000)?)
        .await?;
    Ok(reply::page("registered_models", page))
}

pub(super) async fn get_latest_versions(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Response> {
    let r: ModelRequest = input.parse()?;
    let stages = r
        .stages
        .iter()
        .map(|st| Stage::parse(st))
        .collect::<Result<Vec<_>, _>>()?;
    let versions = s.store.get_latest_versions(r.name()?, &stages).await?;
    Ok(reply::one("model_versions", versions))
}

pub(super) async fn set_registered_model_tag(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: ModelRequest = input.parse()?;
    s.store
        .set_registered_model_tag(r.name()?, &r.tag()?)
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn delete_registered_model_tag(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: ModelRequest = input.parse()?;
    s.store
        .delete_registered_model_tag(r.name()?, required(&r.key, "key")?)
        .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct CreateVersion {
    name: Option<String>,
    source: Option<String>,
    run_id: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
    run_link: Option<String>,
    description: Option<String>,
    model_id: Option<String>,
}

pub(super) async fn create_model_version(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Response> {
    let r: CreateVersion = input.parse()?;
    let v = s
        .store
        .create_model_version(NewModelVersion {
            name: required(&r.name, "name")?.to_string(),
            source: required(&r.source, "source")?.to_string(),
            run_id: r.run_id,
            tags: r.tags,
            run_link: r.run_link,
            description: r.description,
            model_id: r.model_id,
        })
        .await?;
    Ok(reply::one("model_version", v))
}

pub(super) async fn get_model_version(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Response> {
    let r: ModelRequest = input.parse()?;
    let v = s.store.get_model_version(r.name()?, r.version()?).await?;
    Ok(reply::one("model_version", v))
}

pub(super) async fn update_model_version(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Response> {
    let r: ModelRequest = input.parse()?;
    let v = s
        .store
        .update_model_version(
            r.name()?,
            r.version()?,
            r.description.as_deref().unwrap_or_default(),
        )
        .await?;
    Ok(reply::one("model_version", v))
}

pub(super) async fn delete_model_version(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: ModelRequest = input.parse()?;
    s.store
        .delete_model_version(r.name()?, r.version()?)
        .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct Transition {
    name: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    version: Option<String>,
    stage: Option<String>,
    #[serde(default, deserialize_with = "de::opt_bool")]
    archive_existing_versions: Option<bool>,
}

pub(super) async fn transition_stage(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Response> {
    let r: Transition = input.parse()?;
    let stage = Stage::parse(required(&r.stage, "stage")?)?;
    let v = s
        .store
        .transition_model_version_stage(
            required(&r.name, "name")?,
            required(&r.version, "version")?,
            stage,
            r.archive_existing_versions.unwrap_or(false),
        )
        .await?;
    Ok(reply::one("model_version", v))
}

pub(super) async fn search_model_versions(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Response> {
    let r: Search = input.parse()?;
    let page = s
        .store
        .search_model_versions(&r.query(10_000, 200_000)?)
        .await?;
    Ok(reply::page("model_versions", page))
}

pub(super) async fn get_download_uri(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Response> {
    let r: ModelRequest = input.parse()?;
    let uri = s
        .store
        .get_model_version_download_uri(r.name()?, r.version()?)
        .await?;
    Ok(reply::one("artifact_uri", uri))
}

pub(super) async fn set_model_version_tag(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: ModelRequest = input.parse()?;
    s.store
        .set_model_version_tag(r.name()?, r.version()?, &r.tag()?)
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn delete_model_version_tag(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: ModelRequest = input.parse()?;
    s.store
        .delete_model_version_tag(r.name()?, r.version()?, required(&r.key, "key")?)
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn set_alias(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: ModelRequest = input.parse()?;
    s.store
        .set_registered_model_alias(r.name()?, required(&r.alias, "alias")?, r.version()?)
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn delete_alias(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: ModelRequest = input.parse()?;
    s.store
        .delete_registered_model_alias(r.name()?, required(&r.alias, "alias")?)
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn get_by_alias(State(s): State<AppState>, input: Input) -> ApiResult<Response> {
    let r: ModelRequest = input.parse()?;
    let v = s
        .store
        .get_model_version_by_alias(r.name()?, required(&r.alias, "alias")?)
        .await?;
    Ok(reply::one("model_version", v))
}
