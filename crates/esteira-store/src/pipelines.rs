//! The pipeline side of the metadata store: deployed pipelines, runs, the step queue with
//! leases, the lineage graph (artifacts, executions, events, contexts), triggers and their
//! firings, and the alias history.
//!
//! The store knows nothing of `pipeline.toml`: specs travel as JSON text, and the DAG as
//! the edges given when a run is created.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::Result;

/// A deployed pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineRecord {
    /// Its name.
    pub name: String,
    /// Deploy counter: grows when a deploy changes the digest.
    pub version: i64,
    /// SHA-256 of the pipeline file.
    pub digest: String,
    /// The parsed spec, as JSON.
    pub spec: String,
    /// Where relative paths of the pipeline resolve on workers.
    pub pipeline_dir: String,
    /// The MLflow experiment its runs go to.
    pub experiment_id: String,
    /// Milliseconds since the epoch.
    pub created_time: i64,
    /// Milliseconds since the epoch.
    pub updated_time: i64,
}

/// A trigger of a deployed pipeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerRecord {
    /// The pipeline.
    pub pipeline: String,
    /// The trigger's name.
    pub name: String,
    /// Its type (`cron`, `new_data`, ...).
    pub kind: String,
    /// Its definition, as JSON.
    pub spec: String,
    /// The time up to which it was evaluated (cron), milliseconds since the epoch.
    pub cursor: Option<i64>,
}

/// The status of a pipeline run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunStatus {
    /// Created; no step has started.
    Queued,
    /// At least one step has started.
    Running,
    /// Every step succeeded (or was reused).
    Succeeded,
    /// A step failed for good.
    Failed,
    /// Cancelled by a user.
    Cancelled,
}

/// The status of a step in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StepStatus {
    /// Waiting for upstream steps.
    Waiting,
    /// In the queue (or waiting for its retry time).
    Ready,
    /// Claimed by a worker.
    Running,
    /// Ran and committed its outputs.
    Succeeded,
    /// Reused the outputs of an earlier execution.
    Cached,
    /// Failed for good.
    Failed,
    /// Not run because a step it depends on failed.
    Skipped,
    /// Cancelled.
    Cancelled,
}

macro_rules! text_enum {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            /// The text stored in the database.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }

            /// Parses the stored text.
            ///
            /// # Errors
            /// An internal error for text this build does not know.
            pub fn parse(text: &str) -> Result<Self> {
                match text {
                    $($s => Ok(Self::$v),)*
                    other => Err(esteira_core::Error::internal(format!(
                        "unknown {} {other:?} in the database", stringify!($t)
                    )).into()),
                }
            }
        }
    };
}

text_enum!(RunStatus {
    Queued => "QUEUED", Running => "RUNNING", Succeeded => "SUCCEEDED",
    Failed => "FAILED", Cancelled => "CANCELLED",
});
text_enum!(StepStatus {
    Waiting => "WAITING", Ready => "READY", Running => "RUNNING", Succeeded => "SUCCEEDED",
    Cached => "CACHED", Failed => "FAILED", Skipped => "SKIPPED", Cancelled => "CANCELLED",
});

impl RunStatus {
    /// Whether the run has ended.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

impl StepStatus {
    /// Whether the step has ended in this run.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Waiting | Self::Ready | Self::Running)
    }
}

/// A new pipeline run with its steps and edges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPipelineRun {
    /// The run's id (its MLflow run id, created beforehand).
    pub run_id: String,
    /// The pipeline's name.
    pub pipeline: String,
    /// The deployed version, or `None` for a local file.
    pub pipeline_version: Option<i64>,
    /// SHA-256 of the pipeline file.
    pub digest: String,
    /// The parsed spec, as JSON.
    pub spec: String,
    /// Where relative paths resolve.
    pub pipeline_dir: String,
    /// The run's params, as a JSON object.
    pub params: String,
    /// The git commit of the pipeline's repository, if it is one.
    pub git_commit: Option<String>,
    /// Whether that work tree had uncommitted changes.
    pub git_dirty: Option<bool>,
    /// The trigger firing that started it.
    pub firing_id: Option<String>,
    /// Whether caching is off for the whole run.
    pub no_cache: bool,
    /// The MLflow experiment.
    pub experiment_id: String,
    /// The steps.
    pub steps: Vec<NewStepRun>,
    /// `(upstream, step)` pairs: `step` reads from `upstream`.
    pub edges: Vec<(String, String)>,
}

/// A step of a new run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewStepRun {
    /// The step's name.
    pub step: String,
    /// The step's type (`train`, `command`, ...).
    pub step_type: String,
    /// How many failed attempts are retried.
    pub retries: i64,
    /// An earlier execution whose outputs this step must reuse (`--from`).
    pub reuse_execution_id: Option<String>,
}

/// A pipeline run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineRunRecord {
    /// The run's id (also its MLflow run id).
    pub run_id: String,
    /// The pipeline's name.
    pub pipeline: String,
    /// The deployed version, if any.
    pub pipeline_version: Option<i64>,
    /// SHA-256 of the pipeline file.
    pub digest: String,
    /// The parsed spec, as JSON.
    pub spec: String,
    /// Where relative paths resolve.
    pub pipeline_dir: String,
    /// The params, as a JSON object.
    pub params: String,
    /// Its status.
    pub status: RunStatus,
    /// The git commit, if any.
    pub git_commit: Option<String>,
    /// Whether the work tree was dirty.
    pub git_dirty: Option<bool>,
    /// The firing that started it.
    pub firing_id: Option<String>,
    /// Whether caching was off.
    pub no_cache: bool,
    /// The MLflow experiment.
    pub experiment_id: String,
    /// Whether a cancel was asked for.
    pub cancel_requested: bool,
    /// Why it ended, when it failed.
    pub message: Option<String>,
    /// Milliseconds since the epoch.
    pub created_time: i64,
    /// When its first step started.
    pub start_time: Option<i64>,
    /// When it ended.
    pub end_time: Option<i64>,
}

/// A step's state in a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRunRecord {
    /// The run.
    pub run_id: String,
    /// The step.
    pub step: String,
    /// Its status.
    pub status: StepStatus,
    /// Executions started (including lost ones).
    pub attempts: i64,
    /// Failed attempts.
    pub failures: i64,
    /// When it became ready (or may be retried).
    pub ready_time: Option<i64>,
    /// The worker holding it.
    pub lease_owner: Option<String>,
    /// The committed or current execution.
    pub execution_id: Option<String>,
    /// Its MLflow run (a child of the pipeline run).
    pub mlflow_run_id: Option<String>,
}

/// A step handed to a worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimedStep {
    /// The run.
    pub run: PipelineRunRecord,
    /// The step.
    pub step: String,
    /// The execution created for this attempt.
    pub execution_id: String,
    /// 1 for the first attempt.
    pub attempt: i64,
    /// Proves the lease in heartbeats and the completion.
    pub lease_token: String,
    /// The step's MLflow run, when an earlier attempt created it.
    pub mlflow_run_id: Option<String>,
    /// An execution whose outputs must be reused (`--from`).
    pub reuse_execution_id: Option<String>,
    /// When the step became ready, milliseconds since the epoch.
    pub ready_time: Option<i64>,
    /// When it was claimed.
    pub claim_time: i64,
}

/// What a heartbeat learns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heartbeat {
    /// The lease was extended.
    Extended,
    /// The run was cancelled: stop the step.
    Cancelled,
    /// The lease was lost (it expired and another worker took the step): stop, and do not
    /// commit.
    Lost,
}

/// An artifact in the lineage graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRecord {
    /// Its id.
    pub artifact_id: String,
    /// What it holds (`dataset`, `model`, ..., `external`, `model_version`).
    pub kind: String,
    /// Where it is (`runs:/`, `models:/`, an artifact store path or an external path).
    pub uri: String,
    /// SHA-256 of its content, when known.
    pub digest: Option<String>,
    /// Free JSON properties.
    pub properties: String,
    /// Milliseconds since the epoch.
    pub created_time: i64,
}

/// An artifact a completing step read or wrote, by port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortArtifact {
    /// The port.
    pub port: String,
    /// The artifact; a new one is inserted when its id is not yet known.
    pub artifact: ArtifactRecord,
}

/// How an execution ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// It ran (or reused an earlier execution) and its outputs are ready.
    Succeeded {
        /// The outputs (new artifacts, or the reused execution's).
        outputs: Vec<PortArtifact>,
        /// Set when the outputs are an earlier execution's.
        reused_execution_id: Option<String>,
    },
    /// It failed; `retry_at` when it will be retried.
    Failed {
        /// Milliseconds since the epoch, when a retry is due.
        retry_at: Option<i64>,
        /// The process exit code, for command steps.
        exit_code: Option<i64>,
    },
    /// It was stopped because the run was cancelled.
    Cancelled,
}

/// The end of an execution, as a worker reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The run.
    pub run_id: String,
    /// The step.
    pub step: String,
    /// The lease's token.
    pub lease_token: String,
    /// The execution.
    pub execution_id: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The inputs read.
    pub inputs: Vec<PortArtifact>,
    /// The cache key.
    pub cache_key: Option<String>,
    /// The document the key hashes, as JSON.
    pub cache_document: Option<String>,
    /// Why it was reused, or why it failed.
    pub reason: Option<String>,
    /// The last lines of its log.
    pub log_tail: Option<String>,
    /// Its metrics, as a JSON object.
    pub metrics: Option<String>,
}

/// What a completion changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completed {
    /// The lease had been lost: nothing was recorded but the execution's loss.
    LeaseLost,
    /// Recorded; the run goes on.
    Recorded,
    /// Recorded, and the run ended with this status.
    RunEnded(RunStatus),
}

/// An execution in the lineage graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    /// Its id.
    pub execution_id: String,
    /// The pipeline run.
    pub run_id: String,
    /// The pipeline.
    pub pipeline: String,
    /// The step.
    pub step: String,
    /// The step's type (`train`, `command`, ...).
    pub step_type: String,
    /// 1 for the first attempt.
    pub attempt: i64,
    /// `RUNNING`, `SUCCEEDED`, `CACHED`, `FAILED`, `LOST` or `CANCELLED`.
    pub status: String,
    /// The worker.
    pub worker_id: String,
    /// The worker's host.
    pub host: String,
    /// The cache key.
    pub cache_key: Option<String>,
    /// The document the key hashes, as JSON.
    pub cache_document: Option<String>,
    /// The execution whose outputs were reused.
    pub reused_execution_id: Option<String>,
    /// Why it was reused, or why it failed.
    pub reason: Option<String>,
    /// A command step's exit code.
    pub exit_code: Option<i64>,
    /// The last lines of its log.
    pub log_tail: Option<String>,
    /// Its metrics, as a JSON object.
    pub metrics: Option<String>,
    /// When its step became ready.
    pub ready_time: Option<i64>,
    /// When it started.
    pub start_time: i64,
    /// When it ended.
    pub end_time: Option<i64>,
}

/// An edge of the lineage graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// The execution.
    pub execution_id: String,
    /// The artifact.
    pub artifact_id: String,
    /// `INPUT` or `OUTPUT`.
    pub direction: String,
    /// The port.
    pub port: String,
    /// Milliseconds since the epoch.
    pub time: i64,
}

/// A trigger firing to record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewFiring {
    /// The pipeline.
    pub pipeline: String,
    /// The trigger's name (`manual` for CLI and API runs without a trigger).
    pub trigger_name: String,
    /// The trigger's type.
    pub kind: String,
    /// Firings with the same key for the same trigger collapse into the first.
    pub idempotency_key: String,
    /// Why it fired, in words.
    pub cause: String,
    /// Params it passes to the run, as a JSON object.
    pub params: String,
}

/// A recorded firing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiringRecord {
    /// Its id.
    pub firing_id: String,
    /// The pipeline.
    pub pipeline: String,
    /// The trigger's name.
    pub trigger_name: String,
    /// The trigger's type.
    pub kind: String,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// Why it fired.
    pub cause: String,
    /// Params passed, as JSON.
    pub params: String,
    /// `FIRED`, `STARTED` (a run), `SKIPPED` (held back) or `FAILED` (the run could not start).
    pub status: String,
    /// The run it started.
    pub run_id: Option<String>,
    /// Why it was skipped or failed.
    pub message: Option<String>,
    /// Milliseconds since the epoch.
    pub fired_time: i64,
}

/// A move of a registered model's alias.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasChange {
    /// Order of the change.
    pub id: i64,
    /// The registered model.
    pub name: String,
    /// The alias.
    pub alias: String,
    /// The version it points to after the change; `None` when it was deleted.
    pub version: Option<i64>,
    /// The version it pointed to before.
    pub previous_version: Option<i64>,
    /// Who moved it.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// Milliseconds since the epoch.
    pub time: i64,
}

/// Pipelines, runs, the step queue, lineage, triggers and alias history.
#[async_trait]
pub trait PipelineStore: Send + Sync {
    /// Records a deploy of `record.name`. The version grows when the digest changed. The
    /// pipeline's triggers are replaced by `triggers`; a trigger whose name and definition
    /// are unchanged keeps its cursor.
    async fn deploy_pipeline(
        &self,
        record: PipelineRecord,
        triggers: Vec<TriggerRecord>,
    ) -> Result<PipelineRecord>;
    /// A deployed pipeline. `RESOURCE_DOES_NOT_EXIST` when unknown.
    async fn get_pipeline(&self, name: &str) -> Result<PipelineRecord>;
    /// Every deployed pipeline, by name.
    async fn list_pipelines(&self) -> Result<Vec<PipelineRecord>>;
    /// Every trigger of every deployed pipeline.
    async fn list_triggers(&self) -> Result<Vec<TriggerRecord>>;
    /// Moves a trigger's cursor.
    async fn set_trigger_cursor(&self, pipeline: &str, name: &str, cursor: i64) -> Result<()>;

    /// Creates a run with its steps; steps without upstream steps are ready at once.
    async fn create_pipeline_run(&self, run: NewPipelineRun) -> Result<PipelineRunRecord>;
    /// A run. `RESOURCE_DOES_NOT_EXIST` when unknown.
    async fn get_pipeline_run(&self, run_id: &str) -> Result<PipelineRunRecord>;
    /// Runs, newest first, optionally of one pipeline.
    async fn list_pipeline_runs(
        &self,
        pipeline: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PipelineRunRecord>>;
    /// How many runs of `pipeline` are queued or running.
    async fn count_active_runs(&self, pipeline: &str) -> Result<i64>;
    /// The steps of a run, by name.
    async fn list_step_runs(&self, run_id: &str) -> Result<Vec<StepRunRecord>>;
    /// The committed (or current) execution of each of `steps` in a run, by step name;
    /// steps without one are left out.
    async fn step_executions(
        &self,
        run_id: &str,
        steps: &[String],
    ) -> Result<std::collections::BTreeMap<String, String>>;
    /// Asks a run to stop: waiting and ready steps are cancelled at once, running ones at
    /// their next heartbeat. Returns the run as it is after the request.
    async fn cancel_pipeline_run(&self, run_id: &str) -> Result<PipelineRunRecord>;

    /// Claims the oldest ready step, or a running one whose lease expired (its execution is
    /// marked lost), for `lease_ms`; only steps of `only_run` when given. `None` when there
    /// is nothing to do.
    async fn claim_step(
        &self,
        worker_id: &str,
        host: &str,
        lease_ms: i64,
        only_run: Option<&str>,
    ) -> Result<Option<ClaimedStep>>;
    /// Extends a lease by `lease_ms`.
    async fn heartbeat(
        &self,
        run_id: &str,
        step: &str,
        lease_token: &str,
        lease_ms: i64,
    ) -> Result<Heartbeat>;
    /// Records the step's MLflow run.
    async fn set_step_mlflow_run(
        &self,
        run_id: &str,
        step: &str,
        mlflow_run_id: &str,
    ) -> Result<()>;
    /// Ends an execution in one transaction: lineage events, the step's status, the
    /// dependents released (or skipped after a final failure), and the run's end when no
    /// step is left. Nothing is recorded but the loss when the lease is no longer held.
    async fn complete_step(&self, completion: Completion) -> Result<Completed>;

    /// The newest successful execution (run or reused) with this cache key.
    async fn find_cached_execution(&self, cache_key: &str) -> Result<Option<ExecutionRecord>>;
    /// The newest finished execution of `step` of `pipeline` outside run `exclude_run`
    /// that recorded a cache document (to explain a cache miss).
    async fn previous_execution(
        &self,
        pipeline: &str,
        step: &str,
        exclude_run: &str,
    ) -> Result<Option<ExecutionRecord>>;
    /// An execution. `RESOURCE_DOES_NOT_EXIST` when unknown.
    async fn get_execution(&self, execution_id: &str) -> Result<ExecutionRecord>;
    /// The executions of a run, in start order.
    async fn list_executions(&self, run_id: &str) -> Result<Vec<ExecutionRecord>>;
    /// The outputs of an execution, by port.
    async fn execution_outputs(&self, execution_id: &str) -> Result<Vec<PortArtifact>>;
    /// The input and output events of an execution.
    async fn execution_events(&self, execution_id: &str) -> Result<Vec<EventRecord>>;
    /// The events that read or wrote an artifact.
    async fn artifact_events(&self, artifact_id: &str) -> Result<Vec<EventRecord>>;
    /// An artifact. `RESOURCE_DOES_NOT_EXIST` when unknown.
    async fn get_artifact(&self, artifact_id: &str) -> Result<ArtifactRecord>;
    /// The artifacts at `uri`, newest first.
    async fn find_artifacts_by_uri(&self, uri: &str) -> Result<Vec<ArtifactRecord>>;
    /// Records an artifact outside any execution (a registered model version) and an
    /// output event from `execution_id` to it.
    async fn add_output_artifact(
        &self,
        execution_id: &str,
        port: &str,
        artifact: ArtifactRecord,
    ) -> Result<()>;

    /// Records a firing. `None` when a firing with the same key exists (a duplicate).
    async fn record_firing(&self, firing: NewFiring) -> Result<Option<FiringRecord>>;
    /// Sets a firing's outcome.
    async fn set_firing_outcome(
        &self,
        firing_id: &str,
        status: &str,
        run_id: Option<&str>,
        message: Option<&str>,
    ) -> Result<()>;
    /// Firings, newest first, optionally of one pipeline.
    async fn list_firings(&self, pipeline: Option<&str>, limit: i64) -> Result<Vec<FiringRecord>>;

    /// Points `alias` at `version` and records who and why; returns the previous version.
    async fn move_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
        actor: &str,
        reason: &str,
    ) -> Result<Option<i64>>;
    /// The changes of `alias` (or of every alias) of a model, oldest first.
    async fn alias_history(&self, name: &str, alias: Option<&str>) -> Result<Vec<AliasChange>>;
}
