//! MLflow tracking: experiments, runs, metrics, params, tags, inputs and outputs.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use esteira_core::entities::{
    DatasetInput, Metric, ModelInput, ModelOutput, RunStatus, Tag, ViewType,
};
use esteira_core::json::{de_opt_f64, de_opt_i64};
use esteira_core::validation::{self, MAX_RESULTS_PER_PAGE};
use esteira_store::{
    ExperimentQuery, MetricHistoryQuery, NewExperiment, NewRun, Paging, RunQuery, RunUpdate,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::required;
use crate::AppState;
use crate::error::ApiResult;
use crate::input::{Input, de};
use crate::reply;
use crate::service;

/// Search results per page when the client gives no `max_results`.
const DEFAULT_MAX_RESULTS: i64 = 1000;

fn paging(max_results: Option<i64>, page_token: Option<String>) -> ApiResult<Paging> {
    Ok(Paging {
        max_results: validation::max_results(
            max_results.unwrap_or(DEFAULT_MAX_RESULTS),
            MAX_RESULTS_PER_PAGE,
        )?,
        page_token,
    })
}

fn view_type(v: Option<String>) -> ApiResult<ViewType> {
    Ok(v.map(|v| ViewType::parse(&v))
        .transpose()?
        .unwrap_or_default())
}

#[derive(Deserialize)]
struct CreateExperiment {
    name: Option<String>,
    artifact_location: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
}

pub(super) async fn create_experiment(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: CreateExperiment = input.parse()?;
    let name = validation::experiment_name(r.name.as_deref())?.to_string();
    let id = s
        .store
        .create_experiment(NewExperiment {
            name,
            artifact_location: r.artifact_location.filter(|l| !l.is_empty()),
            tags: r.tags,
        })
        .await?;
    Ok(Json(json!({ "experiment_id": id })))
}

#[derive(Deserialize)]
struct ExperimentId {
    #[serde(default, deserialize_with = "de::opt_string")]
    experiment_id: Option<String>,
}

pub(super) async fn get_experiment(State(s): State<AppState>, input: Input) -> ApiResult<Response> {
    let r: ExperimentId = input.parse()?;
    let e = s
        .store
        .get_experiment(required(&r.experiment_id, "experiment_id")?)
        .await?;
    Ok(reply::one("experiment", e))
}

#[derive(Deserialize)]
struct ExperimentName {
    experiment_name: Option<String>,
}

pub(super) async fn get_experiment_by_name(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Response> {
    let r: ExperimentName = input.parse()?;
    let e = s
        .store
        .get_experiment_by_name(required(&r.experiment_name, "experiment_name")?)
        .await?;
    Ok(reply::one("experiment", e))
}

#[derive(Deserialize)]
struct SearchExperiments {
    #[serde(default, deserialize_with = "de_opt_i64")]
    max_results: Option<i64>,
    page_token: Option<String>,
    filter: Option<String>,
    #[serde(default, deserialize_with = "de::strings")]
    order_by: Vec<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    view_type: Option<String>,
}

pub(super) async fn search_experiments(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Response> {
    let r: SearchExperiments = input.parse()?;
    let page = s
        .store
        .search_experiments(&ExperimentQuery {
            view_type: view_type(r.view_type)?,
            filter: r.filter,
            order_by: r.order_by,
            paging: paging(r.max_results, r.page_token)?,
        })
        .await?;
    Ok(reply::page("experiments", page))
}

#[derive(Deserialize)]
struct UpdateExperiment {
    #[serde(default, deserialize_with = "de::opt_string")]
    experiment_id: Option<String>,
    new_name: Option<String>,
}

pub(super) async fn update_experiment(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: UpdateExperiment = input.parse()?;
    let id = required(&r.experiment_id, "experiment_id")?;
    if let Some(name) = &r.new_name {
        s.store.rename_experiment(id, name).await?;
    }
    Ok(Json(json!({})))
}

pub(super) async fn delete_experiment(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: ExperimentId = input.parse()?;
    s.store
        .delete_experiment(required(&r.experiment_id, "experiment_id")?)
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn restore_experiment(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: ExperimentId = input.parse()?;
    s.store
        .restore_experiment(required(&r.experiment_id, "experiment_id")?)
        .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct ExperimentTag {
    #[serde(default, deserialize_with = "de::opt_string")]
    experiment_id: Option<String>,
    key: Option<String>,
    #[serde(default)]
    value: String,
}

pub(super) async fn set_experiment_tag(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: ExperimentTag = input.parse()?;
    let tag = Tag {
        key: required(&r.key, "key")?.to_string(),
        value: r.value,
    };
    s.store
        .set_experiment_tag(required(&r.experiment_id, "experiment_id")?, &tag)
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn delete_experiment_tag(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: ExperimentTag = input.parse()?;
    s.store
        .delete_experiment_tag(
            required(&r.experiment_id, "experiment_id")?,
            required(&r.key, "key")?,
        )
        .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct CreateRun {
    #[serde(default, deserialize_with = "de::opt_string")]
    experiment_id: Option<String>,
    user_id: Option<String>,
    run_name: Option<String>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    start_time: Option<i64>,
    #[serde(default)]
    tags: Vec<Tag>,
}

pub(super) async fn create_run(State(s): State<AppState>, input: Input) -> ApiResult<Response> {
    let r: CreateRun = input.parse()?;
    let run = s
        .store
        .create_run(NewRun {
            experiment_id: r.experiment_id.unwrap_or_default(),
            user_id: r.user_id.unwrap_or_default(),
            run_name: r.run_name,
            start_time: r.start_time,
            tags: r.tags,
        })
        .await?;
    Ok(reply::one("run", run))
}

/// A request naming a run as `run_id` or by its deprecated name `run_uuid`.
#[derive(Deserialize)]
struct RunRef {
    run_id: Option<String>,
    run_uuid: Option<String>,
}

impl RunRef {
    fn id(&self) -> ApiResult<&str> {
        let id = required(&self.run_id, "run_id")
            .or_else(|e| required(&self.run_uuid, "run_id").map_err(|_| e))?;
        validation::run_id("run_id", id)?;
        Ok(id)
    }
}

#[derive(Deserialize)]
struct UpdateRun {
    #[serde(flatten)]
    run: RunRef,
    #[serde(default, deserialize_with = "de::opt_string")]
    status: Option<String>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    end_time: Option<i64>,
    run_name: Option<String>,
}

pub(super) async fn update_run(State(s): State<AppState>, input: Input) -> ApiResult<Response> {
    let r: UpdateRun = input.parse()?;
    let info = s
        .store
        .update_run(
            r.run.id()?,
            RunUpdate {
                status: r.status.map(|st| RunStatus::parse(&st)).transpose()?,
                end_time: r.end_time,
                run_name: r.run_name,
            },
        )
        .await?;
    Ok(reply::one("run_info", info))
}

pub(super) async fn delete_run(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: RunRef = input.parse()?;
    s.store.delete_run(r.id()?).await?;
    Ok(Json(json!({})))
}

pub(super) async fn restore_run(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: RunRef = input.parse()?;
    s.store.restore_run(r.id()?).await?;
    Ok(Json(json!({})))
}

pub(super) async fn get_run(State(s): State<AppState>, input: Input) -> ApiResult<Response> {
    let r: RunRef = input.parse()?;
    let run = s.store.get_run(r.id()?).await?;
    Ok(reply::one("run", run))
}

#[derive(Deserialize)]
struct LogMetric {
    #[serde(flatten)]
    run: RunRef,
    key: Option<String>,
    #[serde(default, deserialize_with = "de_opt_f64")]
    value: Option<f64>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    timestamp: Option<i64>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    step: Option<i64>,
    model_id: Option<String>,
    dataset_name: Option<String>,
    dataset_digest: Option<String>,
}

pub(super) async fn log_metric(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: LogMetric = input.parse()?;
    let metric = Metric {
        key: required(&r.key, "key")?.to_string(),
        value: r.value.ok_or_else(|| {
            crate::error::ApiError::invalid("Missing value for required parameter 'value'.")
        })?,
        timestamp: r.timestamp.ok_or_else(|| {
            crate::error::ApiError::invalid("Missing value for required parameter 'timestamp'.")
        })?,
        step: r.step.unwrap_or(0),
        dataset_name: r.dataset_name,
        dataset_digest: r.dataset_digest,
        model_id: r.model_id,
        run_id: None,
    };
    s.store.log_batch(r.run.id()?, &[metric], &[], &[]).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct KeyValue {
    #[serde(flatten)]
    run: RunRef,
    key: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    value: Option<String>,
}

impl KeyValue {
    fn tag(&self) -> ApiResult<Tag> {
        Ok(Tag {
            key: required(&self.key, "key")?.to_string(),
            value: self.value.clone().unwrap_or_default(),
        })
    }
}

pub(super) async fn log_param(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: KeyValue = input.parse()?;
    s.store
        .log_batch(r.run.id()?, &[], &[r.tag()?], &[])
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn set_tag(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: KeyValue = input.parse()?;
    s.store
        .log_batch(r.run.id()?, &[], &[], &[r.tag()?])
        .await?;
    Ok(Json(json!({})))
}

pub(super) async fn delete_tag(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: KeyValue = input.parse()?;
    s.store
        .delete_run_tag(r.run.id()?, required(&r.key, "key")?)
        .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct LogBatch {
    #[serde(flatten)]
    run: RunRef,
    #[serde(default)]
    metrics: Vec<Metric>,
    #[serde(default)]
    params: Vec<Tag>,
    #[serde(default)]
    tags: Vec<Tag>,
}

pub(super) async fn log_batch(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: LogBatch = input.parse()?;
    s.store
        .log_batch(r.run.id()?, &r.metrics, &r.params, &r.tags)
        .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct LogInputs {
    #[serde(flatten)]
    run: RunRef,
    #[serde(default)]
    datasets: Vec<DatasetInput>,
    #[serde(default)]
    models: Vec<ModelInput>,
}

pub(super) async fn log_inputs(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: LogInputs = input.parse()?;
    s.store
        .log_inputs(r.run.id()?, &r.datasets, &r.models)
        .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct LogOutputs {
    #[serde(flatten)]
    run: RunRef,
    #[serde(default)]
    models: Vec<ModelOutput>,
}

pub(super) async fn log_outputs(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: LogOutputs = input.parse()?;
    s.store.log_outputs(r.run.id()?, &r.models).await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct LogModel {
    #[serde(flatten)]
    run: RunRef,
    model_json: Option<String>,
}

pub(super) async fn log_model(State(s): State<AppState>, input: Input) -> ApiResult<Json<Value>> {
    let r: LogModel = input.parse()?;
    service::append_model_history(
        s.store.as_ref(),
        r.run.id()?,
        required(&r.model_json, "model_json")?,
    )
    .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct SearchRuns {
    #[serde(default, deserialize_with = "de::strings")]
    experiment_ids: Vec<String>,
    filter: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    run_view_type: Option<String>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    max_results: Option<i64>,
    #[serde(default, deserialize_with = "de::strings")]
    order_by: Vec<String>,
    page_token: Option<String>,
}

pub(super) async fn search_runs(State(s): State<AppState>, input: Input) -> ApiResult<Response> {
    let r: SearchRuns = input.parse()?;
    let page = s
        .store
        .search_runs(&RunQuery {
            experiment_ids: r.experiment_ids,
            filter: r.filter,
            view_type: view_type(r.run_view_type)?,
            order_by: r.order_by,
            paging: paging(r.max_results, r.page_token)?,
        })
        .await?;
    Ok(reply::page("runs", page))
}

#[derive(Deserialize)]
struct MetricHistory {
    #[serde(default, deserialize_with = "de::strings")]
    run_id: Vec<String>,
    #[serde(default, deserialize_with = "de::strings")]
    run_uuid: Vec<String>,
    #[serde(default, deserialize_with = "de::strings")]
    run_ids: Vec<String>,
    metric_key: Option<String>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    max_results: Option<i64>,
    page_token: Option<String>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    start_step: Option<i64>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    end_step: Option<i64>,
}

impl MetricHistory {
    fn query(self, default_max: i64) -> ApiResult<MetricHistoryQuery> {
        let mut run_ids = self.run_id;
        run_ids.extend(self.run_uuid);
        run_ids.extend(self.run_ids);
        Ok(MetricHistoryQuery {
            run_ids,
            metric_key: required(&self.metric_key, "metric_key")?.to_string(),
            paging: Paging {
                max_results: validation::max_results(
                    self.max_results.unwrap_or(default_max),
                    i64::MAX,
                )?,
                page_token: self.page_token,
            },
        })
    }
}

/// Most points of one run's history read to sample it.
const MAX_HISTORY_READ: i64 = 1_000_000;

/// Points of one metric's history per page when the client gives no `max_results`.
const HISTORY_PAGE: i64 = 25_000;

pub(super) async fn get_metric_history(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Response> {
    let r: MetricHistory = input.parse()?;
    let page = s.store.get_metric_history(&r.query(HISTORY_PAGE)?).await?;
    Ok(reply::page("metrics", page))
}

pub(super) async fn get_metric_history_bulk(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Response> {
    let r: MetricHistory = input.parse()?;
    let page = s.store.get_metric_history(&r.query(HISTORY_PAGE)?).await?;
    Ok(reply::one("metrics", page.items))
}

pub(super) async fn get_metric_history_bulk_interval(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Response> {
    let mut r: MetricHistory = input.parse()?;
    let (start, end) = (r.start_step, r.end_step);
    // `max_results` is the sample size per run; each whole history is read, then thinned.
    let sample = r.max_results.take().unwrap_or(320);
    let query = r.query(MAX_HISTORY_READ)?;
    let metrics = service::sampled_history(s.store.as_ref(), query, start, end, sample).await?;
    Ok(reply::one("metrics", metrics))
}

#[derive(Deserialize)]
struct ListArtifacts {
    #[serde(flatten)]
    run: RunRef,
    path: Option<String>,
}

pub(super) async fn list_run_artifacts(
    State(s): State<AppState>,
    input: Input,
) -> ApiResult<Json<Value>> {
    let r: ListArtifacts = input.parse()?;
    let run = s.store.get_run(r.run.id()?).await?;
    let files =
        service::list_artifacts_under(&s.artifacts, &run.info.artifact_uri, r.path.as_deref())
            .await?;
    Ok(Json(
        json!({ "root_uri": run.info.artifact_uri, "files": files }),
    ))
}
