//! Esteira's own API for pipelines, runs, triggers, lineage and alias history, under
//! `/api/2.0/esteira`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::Json;
use axum::extract::State;
use esteira_core::json::de_opt_i64;
use esteira_pipeline::engine::FireOutcome;
use esteira_pipeline::{lineage, service};
use serde::Deserialize;
use serde_json::{Value, json};

use super::required;
use crate::AppState;
use crate::error::ApiResult;
use crate::input::Input;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployRequest {
    /// The text of `pipeline.toml`.
    source: String,
    /// The file's name, for error locations.
    file: Option<String>,
    /// Where relative paths resolve on workers.
    pipeline_dir: String,
}

pub(super) async fn deploy(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: DeployRequest = input.parse()?;
    let file = r.file.as_deref().unwrap_or("pipeline.toml");
    let record =
        service::deploy_source(&s.engine, file, &r.source, &PathBuf::from(&r.pipeline_dir)).await?;
    Ok(Json(json!({ "pipeline": record })))
}

#[derive(Deserialize)]
struct NameRequest {
    name: Option<String>,
}

pub(super) async fn get_pipeline(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: NameRequest = input.parse()?;
    let record = s.store.get_pipeline(required(&r.name, "name")?).await?;
    Ok(Json(json!({ "pipeline": record })))
}

pub(super) async fn list_pipelines(State(s): State<AppState>) -> ApiResult<Json<Value>> {
    let pipelines = s.store.list_pipelines().await?;
    let triggers = s.store.list_triggers().await?;
    Ok(Json(
        json!({ "pipelines": pipelines, "triggers": triggers }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerRequest {
    name: String,
    trigger: Option<String>,
    #[serde(default)]
    params: BTreeMap<String, Value>,
    idempotency_key: Option<String>,
    cause: Option<String>,
    user: Option<String>,
}

pub(super) async fn trigger(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: TriggerRequest = input.parse()?;
    let outcome = service::trigger(
        &s.engine,
        &r.name,
        r.trigger.as_deref(),
        r.params,
        r.idempotency_key,
        r.cause,
        r.user.as_deref().unwrap_or("api"),
    )
    .await?;
    Ok(Json(match outcome {
        FireOutcome::Duplicate => json!({ "status": "DUPLICATE" }),
        FireOutcome::Started { firing, run_id } => {
            json!({ "status": "STARTED", "firing": firing, "run_id": run_id })
        }
        FireOutcome::NotStarted { firing, reason } => {
            json!({ "status": firing.status, "firing": firing, "reason": reason })
        }
    }))
}

#[derive(Deserialize)]
struct ListRequest {
    pipeline: Option<String>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    max_results: Option<i64>,
}

impl ListRequest {
    fn limit(&self) -> ApiResult<i64> {
        match self.max_results {
            None => Ok(100),
            Some(n) if (1..=10_000).contains(&n) => Ok(n),
            Some(n) => Err(crate::ApiError::invalid(format!(
                "Invalid value {n} for parameter 'max_results': must be between 1 and 10000"
            ))),
        }
    }
}

pub(super) async fn list_runs(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: ListRequest = input.parse()?;
    let runs = s
        .store
        .list_pipeline_runs(r.pipeline.as_deref(), r.limit()?)
        .await?;
    Ok(Json(json!({ "runs": runs })))
}

#[derive(Deserialize)]
struct RunRequest {
    run_id: Option<String>,
}

pub(super) async fn get_run(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: RunRequest = input.parse()?;
    let details = service::run_details(&*s.store, required(&r.run_id, "run_id")?).await?;
    Ok(Json(serde_json::to_value(details).unwrap_or_default()))
}

pub(super) async fn cancel_run(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: RunRequest = input.parse()?;
    let run = s.engine.cancel(required(&r.run_id, "run_id")?).await?;
    Ok(Json(json!({ "run": run })))
}

pub(super) async fn list_firings(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: ListRequest = input.parse()?;
    let firings = s
        .store
        .list_firings(r.pipeline.as_deref(), r.limit()?)
        .await?;
    Ok(Json(json!({ "firings": firings })))
}

#[derive(Deserialize)]
struct LineageRequest {
    subject: Option<String>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    depth: Option<i64>,
}

pub(super) async fn get_lineage(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: LineageRequest = input.parse()?;
    let depth = match r.depth {
        None => 20,
        Some(d) if (1..=1000).contains(&d) => d as usize,
        Some(d) => {
            return Err(crate::ApiError::invalid(format!(
                "Invalid value {d} for parameter 'depth': must be between 1 and 1000"
            )));
        }
    };
    let found = lineage::lineage(&*s.store, required(&r.subject, "subject")?, depth).await?;
    Ok(Json(serde_json::to_value(found).unwrap_or_default()))
}

#[derive(Deserialize)]
struct AliasRequest {
    name: Option<String>,
    alias: Option<String>,
    reason: Option<String>,
    actor: Option<String>,
}

pub(super) async fn alias_history(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: AliasRequest = input.parse()?;
    let history = s
        .store
        .alias_history(required(&r.name, "name")?, r.alias.as_deref())
        .await?;
    Ok(Json(json!({ "history": history })))
}

pub(super) async fn rollback(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: AliasRequest = input.parse()?;
    let done = service::rollback(
        &*s.store,
        required(&r.name, "name")?,
        r.alias.as_deref().unwrap_or("champion"),
        r.actor.as_deref().unwrap_or("api"),
        r.reason.as_deref().unwrap_or_default(),
    )
    .await?;
    Ok(Json(json!({ "rollback": done })))
}
