//! Inputs and queries of the [`crate::MetadataStore`] operations.

use esteira_core::entities::{RunStatus, Tag, ViewType};

/// One page of results and the token of the next page, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Opaque token for the next page; `None` on the last page.
    pub next_page_token: Option<String>,
}

/// Paging parameters shared by searches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    /// Page size (already validated to be positive).
    pub max_results: i64,
    /// Token from a previous page.
    pub page_token: Option<String>,
}

/// A new experiment.
#[derive(Debug, Clone, Default)]
pub struct NewExperiment {
    /// Unique name.
    pub name: String,
    /// Explicit artifact location; the store's default root when `None`.
    pub artifact_location: Option<String>,
    /// Initial tags.
    pub tags: Vec<Tag>,
}

/// A query over experiments.
#[derive(Debug, Clone)]
pub struct ExperimentQuery {
    /// Which lifecycle stages.
    pub view_type: ViewType,
    /// MLflow filter over `name`, `tags.<key>`, `creation_time`, `last_update_time`.
    pub filter: Option<String>,
    /// Order-by clauses.
    pub order_by: Vec<String>,
    /// Paging.
    pub paging: Paging,
}

/// A new run.
#[derive(Debug, Clone, Default)]
pub struct NewRun {
    /// The experiment; "0" when empty.
    pub experiment_id: String,
    /// Who creates it.
    pub user_id: String,
    /// Display name; generated when empty.
    pub run_name: Option<String>,
    /// Milliseconds since the epoch.
    pub start_time: Option<i64>,
    /// Initial tags.
    pub tags: Vec<Tag>,
}

/// Changes to a run.
#[derive(Debug, Clone, Default)]
pub struct RunUpdate {
    /// New status.
    pub status: Option<RunStatus>,
    /// End time in milliseconds.
    pub end_time: Option<i64>,
    /// New display name.
    pub run_name: Option<String>,
}

/// A query over one metric's history.
#[derive(Debug, Clone)]
pub struct MetricHistoryQuery {
    /// The runs (one for `get-history`, several for the bulk variants).
    pub run_ids: Vec<String>,
    /// The metric key.
    pub metric_key: String,
    /// Paging.
    pub paging: Paging,
}

/// A query over runs.
#[derive(Debug, Clone)]
pub struct RunQuery {
    /// The experiments to search.
    pub experiment_ids: Vec<String>,
    /// MLflow filter string.
    pub filter: Option<String>,
    /// Which lifecycle stages.
    pub view_type: ViewType,
    /// Order-by clauses (`metrics.rmse DESC`, ...).
    pub order_by: Vec<String>,
    /// Paging.
    pub paging: Paging,
}

/// A query over registered models or model versions.
#[derive(Debug, Clone)]
pub struct RegistryQuery {
    /// MLflow filter string.
    pub filter: Option<String>,
    /// Order-by clauses.
    pub order_by: Vec<String>,
    /// Paging.
    pub paging: Paging,
}

/// A new registered model.
#[derive(Debug, Clone, Default)]
pub struct NewRegisteredModel {
    /// Unique name.
    pub name: String,
    /// Initial tags.
    pub tags: Vec<Tag>,
    /// Free text.
    pub description: Option<String>,
}

/// A new model version.
#[derive(Debug, Clone, Default)]
pub struct NewModelVersion {
    /// The registered model.
    pub name: String,
    /// Where the model's files are.
    pub source: String,
    /// The run that produced it.
    pub run_id: Option<String>,
    /// Initial tags.
    pub tags: Vec<Tag>,
    /// A link to the run.
    pub run_link: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// The MLflow 3 logged model it comes from.
    pub model_id: Option<String>,
}

/// A new MLflow 3 logged model.
#[derive(Debug, Clone, Default)]
pub struct NewLoggedModel {
    /// The experiment.
    pub experiment_id: String,
    /// Its name; generated when empty.
    pub name: Option<String>,
    /// The model type given by the client.
    pub model_type: Option<String>,
    /// The run that logs it.
    pub source_run_id: Option<String>,
    /// Initial params.
    pub params: Vec<Tag>,
    /// Initial tags.
    pub tags: Vec<Tag>,
}

/// A query over logged models.
#[derive(Debug, Clone)]
pub struct LoggedModelQuery {
    /// The experiments to search.
    pub experiment_ids: Vec<String>,
    /// MLflow filter string.
    pub filter: Option<String>,
    /// Order-by: (field, ascending).
    pub order_by: Vec<(String, bool)>,
    /// Paging.
    pub paging: Paging,
}
