//! The metadata store: experiments, runs, metrics, params, tags, datasets, the model
//! registry and MLflow 3 logged models.
//!
//! [`MetadataStore`] is the one trait the server and the CLI use. [`SqlStore`] implements it
//! on SQLite (the embedded default) and on PostgreSQL with one body of SQL: the few places
//! where the dialects differ go through [`sql::Dialect`]. Each back end has its own folder of
//! versioned migrations, applied on open. Every write is one transaction.

pub mod endpoints;
mod error;
pub mod monitors;
pub mod pipelines;
pub mod predictions;
pub mod sql;
mod types;

pub use endpoints::EndpointStore;
pub use error::{Error, Result};
pub use monitors::MonitorStore;
pub use pipelines::PipelineStore;
pub use predictions::PredictionStore;

/// The whole metadata store: MLflow's entities, the pipelines', the serving endpoints', the
/// prediction log's and the monitors'.
pub trait Store:
    MetadataStore + PipelineStore + EndpointStore + PredictionStore + MonitorStore
{
}

impl<T: MetadataStore + PipelineStore + EndpointStore + PredictionStore + MonitorStore> Store
    for T
{
}
pub use sql::SqlStore;
pub use types::*;

use async_trait::async_trait;
use esteira_core::entities::{
    DatasetInput, Experiment, LoggedModel, LoggedModelStatus, Metric, ModelInput, ModelOutput,
    ModelVersion, Param, RegisteredModel, Run, RunInfo, Stage, Tag,
};

/// Everything Esteira records about experiments, runs, the registry and logged models.
///
/// Contract shared by every implementation (checked by the conformance suite in
/// `tests/conformance.rs`):
/// - missing entities are `RESOURCE_DOES_NOT_EXIST`, duplicates `RESOURCE_ALREADY_EXISTS`,
///   bad values and writes to deleted runs `INVALID_PARAMETER_VALUE` (as MLflow),
///   writes to deleted experiments `INVALID_STATE`;
/// - params are write-once (the same value again is accepted), metric history is
///   append-only and keeps insertion order, tags are last-write-wins;
/// - a `log_batch` is applied wholly or not at all;
/// - experiment "0" named "Default" always exists.
#[async_trait]
pub trait MetadataStore: Send + Sync {
    /// Creates an experiment; returns its id.
    async fn create_experiment(&self, new: NewExperiment) -> Result<String>;
    /// Gets an experiment by id.
    async fn get_experiment(&self, experiment_id: &str) -> Result<Experiment>;
    /// Gets an experiment by name (active or deleted).
    async fn get_experiment_by_name(&self, name: &str) -> Result<Experiment>;
    /// Searches experiments.
    async fn search_experiments(&self, query: &ExperimentQuery) -> Result<Page<Experiment>>;
    /// Renames an experiment.
    async fn rename_experiment(&self, experiment_id: &str, new_name: &str) -> Result<()>;
    /// Soft-deletes an experiment and its runs.
    async fn delete_experiment(&self, experiment_id: &str) -> Result<()>;
    /// Restores a soft-deleted experiment and its runs.
    async fn restore_experiment(&self, experiment_id: &str) -> Result<()>;
    /// Sets (upserts) an experiment tag.
    async fn set_experiment_tag(&self, experiment_id: &str, tag: &Tag) -> Result<()>;
    /// Deletes an experiment tag.
    async fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> Result<()>;

    /// Creates a run.
    async fn create_run(&self, new: NewRun) -> Result<Run>;
    /// Gets a run with its latest metrics, params, tags, inputs and outputs.
    async fn get_run(&self, run_id: &str) -> Result<Run>;
    /// Updates a run's status, end time and name.
    async fn update_run(&self, run_id: &str, update: RunUpdate) -> Result<RunInfo>;
    /// Soft-deletes a run.
    async fn delete_run(&self, run_id: &str) -> Result<()>;
    /// Restores a soft-deleted run.
    async fn restore_run(&self, run_id: &str) -> Result<()>;
    /// Logs metrics, params and tags atomically.
    async fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Param],
        tags: &[Tag],
    ) -> Result<()>;
    /// Deletes a run tag.
    async fn delete_run_tag(&self, run_id: &str, key: &str) -> Result<()>;
    /// Records the datasets and logged models a run used.
    async fn log_inputs(
        &self,
        run_id: &str,
        datasets: &[DatasetInput],
        models: &[ModelInput],
    ) -> Result<()>;
    /// Records the logged models a run produced.
    async fn log_outputs(&self, run_id: &str, models: &[ModelOutput]) -> Result<()>;
    /// A metric's history in insertion order, paged.
    async fn get_metric_history(&self, query: &MetricHistoryQuery) -> Result<Page<Metric>>;
    /// Searches runs with MLflow's filter language.
    async fn search_runs(&self, query: &RunQuery) -> Result<Page<Run>>;

    /// Creates a registered model.
    async fn create_registered_model(&self, new: NewRegisteredModel) -> Result<RegisteredModel>;
    /// Gets a registered model with its latest versions, tags and aliases.
    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel>;
    /// Renames a registered model; its versions follow.
    async fn rename_registered_model(&self, name: &str, new_name: &str) -> Result<RegisteredModel>;
    /// Sets a registered model's description.
    async fn update_registered_model(
        &self,
        name: &str,
        description: &str,
    ) -> Result<RegisteredModel>;
    /// Deletes a registered model with its versions, tags and aliases.
    async fn delete_registered_model(&self, name: &str) -> Result<()>;
    /// Searches registered models.
    async fn search_registered_models(
        &self,
        query: &RegistryQuery,
    ) -> Result<Page<RegisteredModel>>;
    /// The latest version in each of the given stages (all stages when empty).
    async fn get_latest_versions(&self, name: &str, stages: &[Stage]) -> Result<Vec<ModelVersion>>;
    /// Sets a registered model tag.
    async fn set_registered_model_tag(&self, name: &str, tag: &Tag) -> Result<()>;
    /// Deletes a registered model tag.
    async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()>;
    /// Creates the next version of a registered model.
    async fn create_model_version(&self, new: NewModelVersion) -> Result<ModelVersion>;
    /// Gets a model version.
    async fn get_model_version(&self, name: &str, version: &str) -> Result<ModelVersion>;
    /// Sets a model version's description.
    async fn update_model_version(
        &self,
        name: &str,
        version: &str,
        description: &str,
    ) -> Result<ModelVersion>;
    /// Where a model version's files are (the logged model's location for MLflow 3 versions).
    async fn get_model_version_download_uri(&self, name: &str, version: &str) -> Result<String>;
    /// Deletes a model version and the aliases pointing at it.
    async fn delete_model_version(&self, name: &str, version: &str) -> Result<()>;
    /// Moves a version to a stage, optionally archiving the others in that stage.
    async fn transition_model_version_stage(
        &self,
        name: &str,
        version: &str,
        stage: Stage,
        archive_existing_versions: bool,
    ) -> Result<ModelVersion>;
    /// Searches model versions.
    async fn search_model_versions(&self, query: &RegistryQuery) -> Result<Page<ModelVersion>>;
    /// Sets a model version tag.
    async fn set_model_version_tag(&self, name: &str, version: &str, tag: &Tag) -> Result<()>;
    /// Deletes a model version tag.
    async fn delete_model_version_tag(&self, name: &str, version: &str, key: &str) -> Result<()>;
    /// Points an alias at a version (moving it if it exists).
    async fn set_registered_model_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
    ) -> Result<()>;
    /// Removes an alias.
    async fn delete_registered_model_alias(&self, name: &str, alias: &str) -> Result<()>;
    /// The version an alias points at.
    async fn get_model_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion>;

    /// Creates an MLflow 3 logged model (status pending).
    async fn create_logged_model(&self, new: NewLoggedModel) -> Result<LoggedModel>;
    /// Gets a logged model.
    async fn get_logged_model(&self, model_id: &str) -> Result<LoggedModel>;
    /// Sets a logged model's status (finalize).
    async fn finalize_logged_model(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
    ) -> Result<LoggedModel>;
    /// Soft-deletes a logged model.
    async fn delete_logged_model(&self, model_id: &str) -> Result<()>;
    /// Sets logged model tags.
    async fn set_logged_model_tags(&self, model_id: &str, tags: &[Tag]) -> Result<()>;
    /// Deletes a logged model tag.
    async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()>;
    /// Logs logged model params (write-once, like run params).
    async fn log_logged_model_params(&self, model_id: &str, params: &[Param]) -> Result<()>;
    /// Searches logged models.
    async fn search_logged_models(&self, query: &LoggedModelQuery) -> Result<Page<LoggedModel>>;
}
