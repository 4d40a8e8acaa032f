//! The contract between the executor and a step, and the ports of the built-in types.
//!
//! A step reads its inputs from local paths and writes its outputs under its own empty
//! output directory. The executor downloads inputs from the artifact store before the
//! step starts, and uploads and records the outputs only after it succeeds, so a step
//! never sees the store and a failed step leaves nothing behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What an artifact passed between steps holds. An output port of one kind only feeds an
/// input port of the same kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactKind {
    /// A table, stored as one Parquet file.
    Dataset,
    /// A saved model directory (`MLmodel` + `esteira.json`, or an ONNX model).
    Model,
    /// A JSON report (validation results, evaluation metrics, ...).
    Report,
    /// The promotion gate's verdict as JSON; see [`Blessing`].
    Blessing,
    /// A registered model version as JSON; see [`ModelVersionRef`].
    ModelVersion,
    /// Any single file.
    File,
    /// Any directory.
    Directory,
}

impl ArtifactKind {
    /// Every kind, in declaration order.
    pub const ALL: [ArtifactKind; 7] = [
        ArtifactKind::Dataset,
        ArtifactKind::Model,
        ArtifactKind::Report,
        ArtifactKind::Blessing,
        ArtifactKind::ModelVersion,
        ArtifactKind::File,
        ArtifactKind::Directory,
    ];

    /// The name used in `pipeline.toml`.
    pub fn name(self) -> &'static str {
        match self {
            ArtifactKind::Dataset => "dataset",
            ArtifactKind::Model => "model",
            ArtifactKind::Report => "report",
            ArtifactKind::Blessing => "blessing",
            ArtifactKind::ModelVersion => "model_version",
            ArtifactKind::File => "file",
            ArtifactKind::Directory => "directory",
        }
    }

    /// The kind named `name` in `pipeline.toml`, if any.
    pub fn from_name(name: &str) -> Option<ArtifactKind> {
        ArtifactKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether artifacts of this kind are directories (otherwise single files).
    pub fn is_directory(self) -> bool {
        matches!(self, ArtifactKind::Model | ArtifactKind::Directory)
    }
}

/// The built-in step types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuiltinKind {
    /// CSV or Parquet files or globs (local or S3), or a SQL query against PostgreSQL.
    Ingest,
    /// Schema, statistics and anomaly rules.
    Validate,
    /// Time-based, random or stratified train/test split.
    Split,
    /// Feature engineering: lags, rolling means, calendar features.
    Transform,
    /// Trains a built-in model.
    Train,
    /// Tunes a built-in model's hyperparameters and trains the best.
    Tune,
    /// Scores the candidate, and the registry's champion, on held-out data.
    Evaluate,
    /// The promotion gate over an evaluation report, producing a blessing.
    Gate,
    /// Registers a model version with its lineage.
    Register,
    /// Moves an alias to a blessed model version.
    Deploy,
    /// Scores a dataset with a model.
    BatchPredict,
}

/// One input or output port of a step type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Port {
    /// The port's name, as used in `inputs = { name = "step.output" }`.
    pub name: &'static str,
    /// The kind of artifact it takes or gives.
    pub kind: ArtifactKind,
    /// Whether an input port must be connected (outputs are always produced).
    pub required: bool,
}

const fn port(name: &'static str, kind: ArtifactKind) -> Port {
    Port {
        name,
        kind,
        required: true,
    }
}

const fn optional(name: &'static str, kind: ArtifactKind) -> Port {
    Port {
        name,
        kind,
        required: false,
    }
}

impl BuiltinKind {
    /// Every built-in type.
    pub const ALL: [BuiltinKind; 11] = [
        BuiltinKind::Ingest,
        BuiltinKind::Validate,
        BuiltinKind::Split,
        BuiltinKind::Transform,
        BuiltinKind::Train,
        BuiltinKind::Tune,
        BuiltinKind::Evaluate,
        BuiltinKind::Gate,
        BuiltinKind::Register,
        BuiltinKind::Deploy,
        BuiltinKind::BatchPredict,
    ];

    /// The name used as `type = "..."` in `pipeline.toml`.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinKind::Ingest => "ingest",
            BuiltinKind::Validate => "validate",
            BuiltinKind::Split => "split",
            BuiltinKind::Transform => "transform",
            BuiltinKind::Train => "train",
            BuiltinKind::Tune => "tune",
            BuiltinKind::Evaluate => "evaluate",
            BuiltinKind::Gate => "gate",
            BuiltinKind::Register => "register",
            BuiltinKind::Deploy => "deploy",
            BuiltinKind::BatchPredict => "batch_predict",
        }
    }

    /// The type named `name`, if any.
    pub fn from_name(name: &str) -> Option<BuiltinKind> {
        BuiltinKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The input ports.
    pub fn inputs(self) -> &'static [Port] {
        use ArtifactKind::*;
        match self {
            BuiltinKind::Ingest => &[],
            BuiltinKind::Validate | BuiltinKind::Split | BuiltinKind::Transform => {
                const { &[port("data", Dataset)] }
            }
            BuiltinKind::Train | BuiltinKind::Tune => const { &[port("train", Dataset)] },
            BuiltinKind::Evaluate => const { &[port("model", Model), port("test", Dataset)] },
            BuiltinKind::Gate => const { &[port("report", Report)] },
            BuiltinKind::Register => {
                const { &[port("model", Model), optional("blessing", Blessing)] }
            }
            BuiltinKind::Deploy => {
                const { &[port("version", ModelVersion), port("blessing", Blessing)] }
            }
            BuiltinKind::BatchPredict => {
                const { &[optional("model", Model), port("data", Dataset)] }
            }
        }
    }

    /// The output ports.
    pub fn outputs(self) -> &'static [Port] {
        use ArtifactKind::*;
        match self {
            BuiltinKind::Ingest | BuiltinKind::Transform => const { &[port("data", Dataset)] },
            BuiltinKind::Validate => const { &[port("data", Dataset), port("report", Report)] },
            BuiltinKind::Split => const { &[port("train", Dataset), port("test", Dataset)] },
            BuiltinKind::Train | BuiltinKind::Tune => {
                const { &[port("model", Model), port("report", Report)] }
            }
            BuiltinKind::Evaluate => const { &[port("report", Report)] },
            BuiltinKind::Gate => const { &[port("blessing", Blessing)] },
            BuiltinKind::Register => const { &[port("version", ModelVersion)] },
            BuiltinKind::Deploy => const { &[port("report", Report)] },
            BuiltinKind::BatchPredict => const { &[port("predictions", Dataset)] },
        }
    }
}

/// The promotion gate's verdict, the content of a [`ArtifactKind::Blessing`] artifact.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Blessing {
    /// Whether the candidate may be deployed.
    pub blessed: bool,
    /// Why, in one line per rule.
    pub reasons: Vec<String>,
}

/// A registered model version, the content of a [`ArtifactKind::ModelVersion`] artifact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelVersionRef {
    /// The registered model's name.
    pub name: String,
    /// The version number, as text.
    pub version: String,
}

/// Who ran a step, for the registry's lineage tags and the alias history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepOrigin {
    /// The pipeline's name.
    pub pipeline: String,
    /// The pipeline run's id (also its MLflow run id).
    pub run_id: String,
    /// The step's name.
    pub step: String,
    /// The step's MLflow run id (a child of the pipeline run).
    pub mlflow_run_id: String,
    /// The execution's id in the lineage graph.
    pub execution_id: String,
}

/// The model registry as steps see it. The executor implements it over the metadata and
/// artifact stores.
#[async_trait::async_trait]
pub trait Registry: Send + Sync {
    /// Downloads the version that `name@alias` points to into the empty directory `dest`.
    /// Returns `None` when the model or the alias does not exist.
    ///
    /// # Errors
    /// A store or download failure, as a message.
    async fn fetch_alias(
        &self,
        name: &str,
        alias: &str,
        dest: &Path,
    ) -> Result<Option<ModelVersionRef>, String>;

    /// Uploads the model directory `model_dir` and registers it as a new version of
    /// `name` (creating the registered model if needed), tagged with its origin.
    ///
    /// # Errors
    /// A store or upload failure, as a message.
    async fn register(
        &self,
        name: &str,
        model_dir: &Path,
        origin: &StepOrigin,
    ) -> Result<ModelVersionRef, String>;

    /// Points `alias` of `version.name` at `version.version` and records the move in the
    /// alias history with `reason`. Returns the version the alias pointed to before.
    ///
    /// # Errors
    /// A store failure, or a missing model version, as a message.
    async fn set_alias(
        &self,
        version: &ModelVersionRef,
        alias: &str,
        reason: &str,
        origin: &StepOrigin,
    ) -> Result<Option<String>, String>;
}

/// Lines a step writes to its log. The executor keeps the tail in the run's record.
#[derive(Debug, Default)]
pub struct StepLog {
    lines: Mutex<Vec<String>>,
}

impl StepLog {
    /// Appends one line.
    pub fn line(&self, line: impl Into<String>) {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line.into());
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Everything a step may use.
pub struct StepContext<'a> {
    /// Where the step comes from (pipeline, run, step, execution).
    pub origin: &'a StepOrigin,
    /// The step's params, with `${params.*}` already substituted.
    pub params: &'a Map<String, Value>,
    /// Local paths of the connected input ports, by port name.
    pub inputs: &'a BTreeMap<String, PathBuf>,
    /// An empty directory the step owns. Outputs must be written inside it.
    pub out_dir: &'a Path,
    /// The directory of `pipeline.toml`; relative paths in params resolve against it.
    pub pipeline_dir: &'a Path,
    /// The model registry.
    pub registry: &'a dyn Registry,
    /// The step's log.
    pub log: &'a StepLog,
}

/// What a successful step gives back.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepOutput {
    /// Local path of every output port, by port name (inside `out_dir`, or an input's
    /// path passed through unchanged).
    pub outputs: BTreeMap<String, PathBuf>,
    /// Metrics to log on the step's MLflow run.
    pub metrics: BTreeMap<String, f64>,
}

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// A param is missing, of the wrong type or out of range.
    #[error("param `{param}`: {reason}")]
    Param {
        /// The param's name (dotted for nested keys).
        param: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An input could not be read or has the wrong content.
    #[error("input `{input}`: {reason}")]
    Input {
        /// The input port's name.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The step ran and failed (a validation rule, the gate refusing, a training error...).
    #[error("{0}")]
    Failed(String),
}
