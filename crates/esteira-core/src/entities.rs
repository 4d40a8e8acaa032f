//! Tracking and registry entities, serialized in MLflow's JSON shape so that the same
//! values go to the `mlflow` client, to the CLI's `--json` output and into tests.

use serde::{Deserialize, Serialize};

use crate::json::{de_f64, de_i64, de_opt_i64, ser_f64};

/// Whether an entity is live or soft-deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LifecycleStage {
    /// Visible in default searches.
    #[default]
    Active,
    /// Soft-deleted: hidden from default searches, restorable.
    Deleted,
}

impl LifecycleStage {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleStage::Active => "active",
            LifecycleStage::Deleted => "deleted",
        }
    }

    /// Parses a stored name.
    ///
    /// # Errors
    /// `INVALID_PARAMETER_VALUE` for any other name.
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s {
            "active" => Ok(LifecycleStage::Active),
            "deleted" => Ok(LifecycleStage::Deleted),
            other => Err(crate::Error::invalid(format!(
                "Invalid lifecycle stage {other:?}: expected 'active' or 'deleted'"
            ))),
        }
    }
}

/// Which lifecycle stages a search returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ViewType {
    /// Only active entities.
    #[default]
    ActiveOnly,
    /// Only deleted entities.
    DeletedOnly,
    /// Both.
    All,
}

impl ViewType {
    /// Parses the wire name (`ACTIVE_ONLY`, `DELETED_ONLY`, `ALL`) or its protobuf number.
    ///
    /// # Errors
    /// `INVALID_PARAMETER_VALUE` naming `view_type`.
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s {
            "ACTIVE_ONLY" | "1" => Ok(ViewType::ActiveOnly),
            "DELETED_ONLY" | "2" => Ok(ViewType::DeletedOnly),
            "ALL" | "3" => Ok(ViewType::All),
            other => Err(crate::Error::invalid(format!(
                "Invalid value {other:?} for parameter 'view_type': expected ACTIVE_ONLY, DELETED_ONLY or ALL"
            ))),
        }
    }

    /// The lifecycle stages this view includes.
    pub fn stages(self) -> &'static [LifecycleStage] {
        match self {
            ViewType::ActiveOnly => &[LifecycleStage::Active],
            ViewType::DeletedOnly => &[LifecycleStage::Deleted],
            ViewType::All => &[LifecycleStage::Active, LifecycleStage::Deleted],
        }
    }
}

/// A run's status, as the client sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    /// Started and not yet terminated.
    #[default]
    Running,
    /// Created but waiting to start.
    Scheduled,
    /// Ended successfully.
    Finished,
    /// Ended with an error.
    Failed,
    /// Stopped from outside.
    Killed,
}

impl RunStatus {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "RUNNING",
            RunStatus::Scheduled => "SCHEDULED",
            RunStatus::Finished => "FINISHED",
            RunStatus::Failed => "FAILED",
            RunStatus::Killed => "KILLED",
        }
    }

    /// Parses the wire name or its protobuf number.
    ///
    /// # Errors
    /// `INVALID_PARAMETER_VALUE` naming `status`.
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s {
            "RUNNING" | "1" => Ok(RunStatus::Running),
            "SCHEDULED" | "2" => Ok(RunStatus::Scheduled),
            "FINISHED" | "3" => Ok(RunStatus::Finished),
            "FAILED" | "4" => Ok(RunStatus::Failed),
            "KILLED" | "5" => Ok(RunStatus::Killed),
            other => Err(crate::Error::invalid(format!(
                "Invalid value {other:?} for parameter 'status': expected RUNNING, SCHEDULED, FINISHED, FAILED or KILLED"
            ))),
        }
    }
}

/// A key/value tag (experiment, run, registry and logged-model tags share this shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// The key.
    pub key: String,
    /// The value; MLflow allows an empty value.
    #[serde(default)]
    pub value: String,
}

/// A run parameter: write-once per run.
pub type Param = Tag;

/// An experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Experiment {
    /// The numeric id, as a string ("0" is Default).
    pub experiment_id: String,
    /// The unique name.
    pub name: String,
    /// Where the artifacts of its runs go.
    #[serde(default)]
    pub artifact_location: String,
    /// Active or deleted.
    #[serde(default)]
    pub lifecycle_stage: LifecycleStage,
    /// Milliseconds since the epoch.
    #[serde(default, deserialize_with = "de_i64")]
    pub last_update_time: i64,
    /// Milliseconds since the epoch.
    #[serde(default, deserialize_with = "de_i64")]
    pub creation_time: i64,
    /// Tags in key order.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// One point of a metric's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// The metric's name.
    pub key: String,
    /// The value; NaN and infinities are kept.
    #[serde(deserialize_with = "de_f64", serialize_with = "ser_f64")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[serde(default, deserialize_with = "de_i64")]
    pub timestamp: i64,
    /// The step, 0 by default.
    #[serde(default, deserialize_with = "de_i64")]
    pub step: i64,
    /// The dataset the metric was computed on (MLflow 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_name: Option<String>,
    /// The digest of that dataset (MLflow 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<String>,
    /// The logged model the metric belongs to (MLflow 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// The run that logged it, filled in on reads that span runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

/// A run's identity and status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RunInfo {
    /// The run id (32 hex characters).
    pub run_id: String,
    /// The same id, under its deprecated name.
    #[serde(default)]
    pub run_uuid: String,
    /// The run's display name.
    #[serde(default)]
    pub run_name: String,
    /// The experiment it belongs to.
    pub experiment_id: String,
    /// Who created it.
    #[serde(default)]
    pub user_id: String,
    /// Its status.
    #[serde(default)]
    pub status: RunStatus,
    /// Milliseconds since the epoch.
    #[serde(
        default,
        deserialize_with = "de_opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_time: Option<i64>,
    /// Milliseconds since the epoch, once terminated.
    #[serde(
        default,
        deserialize_with = "de_opt_i64",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_time: Option<i64>,
    /// The root of its artifacts.
    #[serde(default)]
    pub artifact_uri: String,
    /// Active or deleted.
    #[serde(default)]
    pub lifecycle_stage: LifecycleStage,
}

/// A run's metrics (latest value of each), params and tags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RunData {
    /// The latest point of each metric, in key order.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Params in key order.
    #[serde(default)]
    pub params: Vec<Param>,
    /// Tags in key order.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A dataset as MLflow describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Dataset {
    /// Its name.
    pub name: String,
    /// A digest of its content.
    pub digest: String,
    /// The kind of source (e.g. `local`, `s3`).
    #[serde(default)]
    pub source_type: String,
    /// The source, as JSON text.
    #[serde(default)]
    pub source: String,
    /// The schema, as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The profile, as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

/// A dataset used by a run, with tags such as `mlflow.data.context`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DatasetInput {
    /// Tags of the use.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// The dataset.
    pub dataset: Dataset,
}

/// A logged model used by a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInput {
    /// The logged model's id.
    pub model_id: String,
}

/// A logged model produced by a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelOutput {
    /// The logged model's id.
    pub model_id: String,
    /// The step at which it was produced.
    #[serde(default, deserialize_with = "de_i64")]
    pub step: i64,
}

/// What a run consumed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RunInputs {
    /// Datasets.
    #[serde(default)]
    pub dataset_inputs: Vec<DatasetInput>,
    /// Logged models.
    #[serde(default)]
    pub model_inputs: Vec<ModelInput>,
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RunOutputs {
    /// Logged models.
    #[serde(default)]
    pub model_outputs: Vec<ModelOutput>,
}

/// A run with its data, inputs and outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Run {
    /// Identity and status.
    pub info: RunInfo,
    /// Latest metrics, params, tags.
    #[serde(default)]
    pub data: RunData,
    /// Datasets and models used.
    #[serde(default)]
    pub inputs: RunInputs,
    /// Models produced.
    #[serde(default)]
    pub outputs: RunOutputs,
}

/// A registered model's alias pointing at one of its versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    /// The alias (e.g. `champion`).
    pub alias: String,
    /// The version number, as a string.
    pub version: String,
}

/// A model registry stage (deprecated by MLflow in favour of aliases, still used).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Stage {
    /// No stage.
    #[default]
    None,
    /// Staging.
    Staging,
    /// Production.
    Production,
    /// Archived.
    Archived,
}

impl Stage {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::None => "None",
            Stage::Staging => "Staging",
            Stage::Production => "Production",
            Stage::Archived => "Archived",
        }
    }

    /// Parses a stage name case-insensitively, as MLflow does.
    ///
    /// # Errors
    /// `INVALID_PARAMETER_VALUE` naming `stage`.
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Stage::None),
            "staging" => Ok(Stage::Staging),
            "production" => Ok(Stage::Production),
            "archived" => Ok(Stage::Archived),
            _ => Err(crate::Error::invalid(format!(
                "Invalid Model Version stage: {s}. Value must be one of None, Staging, Production, Archived."
            ))),
        }
    }
}

/// One version of a registered model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ModelVersion {
    /// The registered model's name.
    pub name: String,
    /// The version number, as a string.
    pub version: String,
    /// Milliseconds since the epoch.
    #[serde(default, deserialize_with = "de_i64")]
    pub creation_timestamp: i64,
    /// Milliseconds since the epoch.
    #[serde(default, deserialize_with = "de_i64")]
    pub last_updated_timestamp: i64,
    /// Who created it.
    #[serde(default)]
    pub user_id: String,
    /// Its stage.
    #[serde(default)]
    pub current_stage: Stage,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Where the model's files are.
    #[serde(default)]
    pub source: String,
    /// The run that produced it, if any.
    #[serde(default)]
    pub run_id: String,
    /// Always `READY`: versions are usable as soon as they are created.
    #[serde(default)]
    pub status: String,
    /// Details of the status.
    #[serde(default)]
    pub status_message: String,
    /// Tags in key order.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// A link to the run, if given.
    #[serde(default)]
    pub run_link: String,
    /// Aliases pointing at this version.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The MLflow 3 logged model it was registered from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
}

/// A registered model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RegisteredModel {
    /// The unique name.
    pub name: String,
    /// Milliseconds since the epoch.
    #[serde(default, deserialize_with = "de_i64")]
    pub creation_timestamp: i64,
    /// Milliseconds since the epoch.
    #[serde(default, deserialize_with = "de_i64")]
    pub last_updated_timestamp: i64,
    /// Who created it.
    #[serde(default)]
    pub user_id: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// The latest version in each stage.
    #[serde(default)]
    pub latest_versions: Vec<ModelVersion>,
    /// Tags in key order.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Aliases in alias order.
    #[serde(default)]
    pub aliases: Vec<Alias>,
}

/// The upload state of an MLflow 3 logged model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LoggedModelStatus {
    /// Not given.
    LoggedModelStatusUnspecified,
    /// Created, files still uploading.
    #[default]
    LoggedModelPending,
    /// Files uploaded.
    LoggedModelReady,
    /// The upload failed.
    LoggedModelUploadFailed,
}

impl LoggedModelStatus {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            LoggedModelStatus::LoggedModelStatusUnspecified => "LOGGED_MODEL_STATUS_UNSPECIFIED",
            LoggedModelStatus::LoggedModelPending => "LOGGED_MODEL_PENDING",
            LoggedModelStatus::LoggedModelReady => "LOGGED_MODEL_READY",
            LoggedModelStatus::LoggedModelUploadFailed => "LOGGED_MODEL_UPLOAD_FAILED",
        }
    }

    /// Parses the wire name or its protobuf number.
    ///
    /// # Errors
    /// `INVALID_PARAMETER_VALUE` naming `status`.
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s {
            "LOGGED_MODEL_STATUS_UNSPECIFIED" | "0" => Ok(Self::LoggedModelStatusUnspecified),
            "LOGGED_MODEL_PENDING" | "1" => Ok(Self::LoggedModelPending),
            "LOGGED_MODEL_READY" | "2" => Ok(Self::LoggedModelReady),
            "LOGGED_MODEL_UPLOAD_FAILED" | "3" => Ok(Self::LoggedModelUploadFailed),
            other => Err(crate::Error::invalid(format!(
                "Invalid value {other:?} for parameter 'status': expected a LoggedModelStatus"
            ))),
        }
    }
}

/// A registry version created from a logged model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The registered model.
    pub name: String,
    /// The version number.
    pub version: String,
}

/// An MLflow 3 logged model's identity and state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LoggedModelInfo {
    /// `m-` followed by 32 hex characters.
    pub model_id: String,
    /// The experiment it belongs to.
    pub experiment_id: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Milliseconds since the epoch.
    #[serde(default, deserialize_with = "de_i64")]
    pub creation_timestamp_ms: i64,
    /// Milliseconds since the epoch.
    #[serde(default, deserialize_with = "de_i64")]
    pub last_updated_timestamp_ms: i64,
    /// Where its files are.
    #[serde(default)]
    pub artifact_uri: String,
    /// Upload state.
    #[serde(default)]
    pub status: LoggedModelStatus,
    /// The model type given by the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    /// The run that logged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_run_id: Option<String>,
    /// Details of the status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// Tags in key order.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Registry versions made from it.
    #[serde(default)]
    pub registrations: Vec<Registration>,
}

/// An MLflow 3 logged model's params and metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LoggedModelData {
    /// Params in key order.
    #[serde(default)]
    pub params: Vec<Param>,
    /// Every metric point linked to the model, by key then step.
    #[serde(default)]
    pub metrics: Vec<Metric>,
}

/// An MLflow 3 logged model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LoggedModel {
    /// Identity and state.
    pub info: LoggedModelInfo,
    /// Params and metrics.
    #[serde(default)]
    pub data: LoggedModelData,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_serializes_in_mlflow_shape() {
        let run = Run {
            info: RunInfo {
                run_id: "abc".into(),
                run_uuid: "abc".into(),
                experiment_id: "1".into(),
                start_time: Some(5),
                ..Default::default()
            },
            ..Default::default()
        };
        let json = serde_json::to_value(&run).unwrap();
        assert_eq!(json["info"]["status"], "RUNNING");
        assert_eq!(json["info"]["lifecycle_stage"], "active");
        assert_eq!(json["info"]["start_time"], 5);
        assert!(json["info"].get("end_time").is_none());
        let back: Run = serde_json::from_value(json).unwrap();
        assert_eq!(back, run);
    }

    #[test]
    fn enums_parse_names_and_numbers() {
        assert_eq!(RunStatus::parse("3").unwrap(), RunStatus::Finished);
        assert_eq!(ViewType::parse("ALL").unwrap(), ViewType::All);
        assert_eq!(Stage::parse("production").unwrap(), Stage::Production);
        assert!(Stage::parse("prod").unwrap_err().message.contains("prod"));
        assert!(
            RunStatus::parse("DONE")
                .unwrap_err()
                .message
                .contains("status")
        );
    }
}
