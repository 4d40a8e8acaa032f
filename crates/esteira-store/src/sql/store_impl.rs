//! The [`MetadataStore`] implementation: each operation forwards to the inherent method of
//! the same name in this module's files.

use async_trait::async_trait;
use esteira_core::entities::{
    DatasetInput, Experiment, LoggedModel, LoggedModelStatus, Metric, ModelInput, ModelOutput,
    ModelVersion, Param, RegisteredModel, Run, RunInfo, Stage, Tag,
};

use super::SqlStore;
use crate::*;

#[async_trait]
impl MetadataStore for SqlStore {
    async fn create_experiment(&self, new: NewExperiment) -> Result<String> {
        SqlStore::create_experiment(self, new).await
    }

    async fn get_experiment(&self, experiment_id: &str) -> Result<Experiment> {
        SqlStore::get_experiment(self, experiment_id).await
    }

    async fn get_experiment_by_name(&self, name: &str) -> Result<Experiment> {
        SqlStore::get_experiment_by_name(self, name).await
    }

    async fn search_experiments(&self, query: &ExperimentQuery) -> Result<Page<Experiment>> {
        SqlStore::search_experiments(self, query).await
    }

    async fn rename_experiment(&self, experiment_id: &str, new_name: &str) -> Result<()> {
        SqlStore::rename_experiment(self, experiment_id, new_name).await
    }

    async fn delete_experiment(&self, experiment_id: &str) -> Result<()> {
        SqlStore::delete_experiment(self, experiment_id).await
    }

    async fn restore_experiment(&self, experiment_id: &str) -> Result<()> {
        SqlStore::restore_experiment(self, experiment_id).await
    }

    async fn set_experiment_tag(&self, experiment_id: &str, tag: &Tag) -> Result<()> {
        SqlStore::set_experiment_tag(self, experiment_id, tag).await
    }

    async fn delete_experiment_tag(&self, experiment_id: &str, key: &str) -> Result<()> {
        SqlStore::delete_experiment_tag(self, experiment_id, key).await
    }

    async fn create_run(&self, new: NewRun) -> Result<Run> {
        SqlStore::create_run(self, new).await
    }

    async fn get_run(&self, run_id: &str) -> Result<Run> {
        SqlStore::get_run(self, run_id).await
    }

    async fn update_run(&self, run_id: &str, update: RunUpdate) -> Result<RunInfo> {
        SqlStore::update_run(self, run_id, update).await
    }

    async fn delete_run(&self, run_id: &str) -> Result<()> {
        self.set_run_stage(run_id, esteira_core::entities::LifecycleStage::Deleted)
            .await
    }

    async fn restore_run(&self, run_id: &str) -> Result<()> {
        self.set_run_stage(run_id, esteira_core::entities::LifecycleStage::Active)
            .await
    }

    async fn log_batch(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Param],
        tags: &[Tag],
    ) -> Result<()> {
        SqlStore::log_batch(self, run_id, metrics, params, tags).await
    }

    async fn delete_run_tag(&self, run_id: &str, key: &str) -> Result<()> {
        SqlStore::delete_run_tag(self, run_id, key).await
    }

    async fn log_inputs(
        &self,
        run_id: &str,
        datasets: &[DatasetInput],
        models: &[ModelInput],
    ) -> Result<()> {
        SqlStore::log_inputs(self, run_id, datasets, models).await
    }

    async fn log_outputs(&self, run_id: &str, models: &[ModelOutput]) -> Result<()> {
        SqlStore::log_outputs(self, run_id, models).await
    }

    async fn get_metric_history(&self, query: &MetricHistoryQuery) -> Result<Page<Metric>> {
        SqlStore::get_metric_history(self, query).await
    }

    async fn search_runs(&self, query: &RunQuery) -> Result<Page<Run>> {
        SqlStore::search_runs(self, query).await
    }

    async fn create_registered_model(&self, new: NewRegisteredModel) -> Result<RegisteredModel> {
        SqlStore::create_registered_model(self, new).await
    }

    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        SqlStore::get_registered_model(self, name).await
    }

    async fn rename_registered_model(&self, name: &str, new_name: &str) -> Result<RegisteredModel> {
        SqlStore::rename_registered_model(self, name, new_name).await
    }

    async fn update_registered_model(
        &self,
        name: &str,
        description: &str,
    ) -> Result<RegisteredModel> {
        SqlStore::update_registered_model(self, name, description).await
    }

    async fn delete_registered_model(&self, name: &str) -> Result<()> {
        SqlStore::delete_registered_model(self, name).await
    }

    async fn search_registered_models(
        &self,
        query: &RegistryQuery,
    ) -> Result<Page<RegisteredModel>> {
        SqlStore::search_registered_models(self, query).await
    }

    async fn get_latest_versions(&self, name: &str, stages: &[Stage]) -> Result<Vec<ModelVersion>> {
        SqlStore::get_latest_versions(self, name, stages).await
    }

    async fn set_registered_model_tag(&self, name: &str, tag: &Tag) -> Result<()> {
        SqlStore::set_registered_model_tag(self, name, tag).await
    }

    async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()> {
        SqlStore::delete_registered_model_tag(self, name, key).await
    }

    async fn create_model_version(&self, new: NewModelVersion) -> Result<ModelVersion> {
        SqlStore::create_model_version(self, new).await
    }

    async fn get_model_version(&self, name: &str, version: &str) -> Result<ModelVersion> {
        SqlStore::get_model_version(self, name, version).await
    }

    async fn update_model_version(
        &self,
        name: &str,
        version: &str,
        description: &str,
    ) -> Result<ModelVersion> {
        SqlStore::update_model_version(self, name, version, description).await
    }

    async fn get_model_version_download_uri(&self, name: &str, version: &str) -> Result<String> {
        SqlStore::get_model_version_download_uri(self, name, version).await
    }

    async fn delete_model_version(&self, name: &str, version: &str) -> Result<()> {
        SqlStore::delete_model_version(self, name, version).await
    }

    async fn transition_model_version_stage(
        &self,
        name: &str,
        version: &str,
        stage: Stage,
        archive_existing_versions: bool,
    ) -> Result<ModelVersion> {
        SqlStore::transition_model_version_stage(
            self,
            name,
            version,
            stage,
            archive_existing_versions,
        )
        .await
    }

    async fn search_model_versions(&self, query: &RegistryQuery) -> Result<Page<ModelVersion>> {
        SqlStore::search_model_versions(self, query).await
    }

    async fn set_model_version_tag(&self, name: &str, version: &str, tag: &Tag) -> Result<()> {
        SqlStore::set_model_version_tag(self, name, version, tag).await
    }

    async fn delete_model_version_tag(&self, name: &str, version: &str, key: &str) -> Result<()> {
        SqlStore::delete_model_version_tag(self, name, version, key).await
    }

    async fn set_registered_model_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
    ) -> Result<()> {
        SqlStore::set_registered_model_alias(self, name, alias, version).await
    }

    async fn delete_registered_model_alias(&self, name: &str, alias: &str) -> Result<()> {
        SqlStore::delete_registered_model_alias(self, name, alias).await
    }

    async fn get_model_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        SqlStore::get_model_version_by_alias(self, name, alias).await
    }

    async fn create_logged_model(&self, new: NewLoggedModel) -> Result<LoggedModel> {
        SqlStore::create_logged_model(self, new).await
    }

    async fn get_logged_model(&self, model_id: &str) -> Result<LoggedModel> {
        SqlStore::get_logged_model(self, model_id).await
    }

    async fn finalize_logged_model(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
    ) -> Result<LoggedModel> {
        SqlStore::finalize_logged_model(self, model_id, status).await
    }

    async fn delete_logged_model(&self, model_id: &str) -> Result<()> {
        SqlStore::delete_logged_model(self, model_id).await
    }

    async fn set_logged_model_tags(&self, model_id: &str, tags: &[Tag]) -> Result<()> {
        SqlStore::set_logged_model_tags(self, model_id, tags).await
    }

    async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()> {
        SqlStore::delete_logged_model_tag(self, model_id, key).await
    }

    async fn log_logged_model_params(&self, model_id: &str, params: &[Param]) -> Result<()> {
        SqlStore::log_logged_model_params(self, model_id, params).await
    }

    async fn search_logged_models(&self, query: &LoggedModelQuery) -> Result<Page<LoggedModel>> {
        SqlStore::search_logged_models(self, query).await
    }
}
