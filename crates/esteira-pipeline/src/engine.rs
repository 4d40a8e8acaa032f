//! The engine: submits runs (each also an MLflow run), deploys pipelines, records trigger
//! firings and cancels runs. Workers ([`crate::worker`]) execute the steps it queues.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use esteira_artifacts::ArtifactStore;
use esteira_core::entities::{Param, RunStatus as MlflowStatus, Tag};
use esteira_store::pipelines::{
    FiringRecord, NewFiring, NewPipelineRun, NewStepRun, PipelineRecord, PipelineRunRecord,
    RunStatus, TriggerRecord,
};
use esteira_store::{NewExperiment, NewRun, RunUpdate, Store};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::spec::{PipelineSpec, StepKind, TriggerKind};

/// The version of Esteira, part of every cache key.
pub const ESTEIRA_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The trigger name recorded for runs started by hand (CLI or API).
pub const MANUAL_TRIGGER: &str = "manual";

/// Runs pipelines over a metadata store and an artifact store.
pub struct Engine {
    store: Arc<dyn Store>,
    artifacts: ArtifactStore,
    tracking_uri: Option<String>,
    work_ready: tokio::sync::Notify,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct RunRequest {
    /// The pipeline.
    pub spec: PipelineSpec,
    /// Where its relative paths resolve (the directory of `pipeline.toml`).
    pub pipeline_dir: PathBuf,
    /// Params, defaults already merged with overrides.
    pub params: BTreeMap<String, Value>,
    /// Turns caching off for every step.
    pub no_cache: bool,
    /// Re-run this step and everything downstream of it, without the cache; reuse the rest
    /// from `from_run`.
    pub from_step: Option<String>,
    /// The run to reuse outputs from; the pipeline's newest run when `None`.
    pub from_run: Option<String>,
    /// The firing that caused the run.
    pub firing_id: Option<String>,
    /// The deployed version being run.
    pub pipeline_version: Option<i64>,
    /// Who asked for it.
    pub user: String,
}

/// What became of a firing.
#[derive(Clone, Debug, PartialEq)]
pub enum FireOutcome {
    /// A firing with the same idempotency key was already recorded.
    Duplicate,
    /// Recorded, and a run started.
    Started {
        /// The firing.
        firing: FiringRecord,
        /// The run.
        run_id: String,
    },
    /// Recorded, but held back (too many active runs) or failed to start.
    NotStarted {
        /// The firing.
        firing: FiringRecord,
        /// Why.
        reason: String,
    },
}

/// A firing to record.
#[derive(Clone, Debug, PartialEq)]
pub struct FireRequest {
    /// The pipeline.
    pub pipeline: String,
    /// The trigger's name ([`MANUAL_TRIGGER`] for hand-started runs).
    pub trigger: String,
    /// The trigger's type.
    pub kind: String,
    /// Duplicate keys collapse.
    pub idempotency_key: String,
    /// Why it fired.
    pub cause: String,
    /// Params for the run.
    pub params: BTreeMap<String, Value>,
    /// Who or what fired it.
    pub user: String,
}

impl Engine {
    /// An engine over `store` and `artifacts`.
    pub fn new(store: Arc<dyn Store>, artifacts: ArtifactStore) -> Self {
        Engine {
            store,
            artifacts,
            tracking_uri: None,
            work_ready: tokio::sync::Notify::new(),
        }
    }

    /// Sets the tracking server URL given to command steps as `MLFLOW_TRACKING_URI`.
    pub fn with_tracking_uri(mut self, uri: Option<String>) -> Self {
        self.tracking_uri = uri;
        self
    }

    /// The metadata store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The artifact store.
    pub fn artifacts(&self) -> &ArtifactStore {
        &self.artifacts
    }

    /// Wakes this process's idle workers: steps may have become ready (a run was submitted
    /// or a step committed). Workers in other processes find them at their next poll.
    pub fn notify_work(&self) {
        self.work_ready.notify_waiters();
    }

    /// Completes when [`Engine::notify_work`] is next called.
    pub async fn work_ready(&self) {
        self.work_ready.notified().await;
    }

    /// The tracking server URL for command steps, if any.
    pub fn tracking_uri(&self) -> Option<&str> {
        self.tracking_uri.as_deref()
    }

    /// Creates the run (an MLflow run in the pipeline's experiment, and its steps in the
    /// queue).
    ///
    /// # Errors
    /// [`Error::Invalid`] for an unknown `from_step` or a `from_run` of another pipeline or
    /// without a successful execution of a step to reuse; store errors.
    pub async fn submit(&self, req: RunRequest) -> Result<PipelineRunRecord> {
        let reuse = self.reused_executions(&req).await?;
        let experiment_id = self.experiment_for(&req.spec.name).await?;
        let git = git_state(&req.pipeline_dir);
        let mut tags = vec![
            tag("esteira.pipeline", &req.spec.name),
            tag("esteira.pipeline.digest", &req.spec.digest),
            tag("mlflow.source.type", "PIPELINE"),
            tag("mlflow.source.name", &req.spec.name),
        ];
        if let Some(v) = req.pipeline_version {
            tags.push(tag("esteira.pipeline.version", &v.to_string()));
        }
        if let Some((commit, dirty)) = &git {
            tags.push(tag("mlflow.source.git.commit", commit));
            tags.push(tag("esteira.git.dirty", &dirty.to_string()));
        }
        if let Some(f) = &req.firing_id {
            tags.push(tag("esteira.firing", f));
        }
        let mlflow_run = self
            .store
            .create_run(NewRun {
                experiment_id: experiment_id.clone(),
                user_id: req.user.clone(),
                run_name: None,
                start_time: None,
                tags,
            })
            .await?;
        let run_id = mlflow_run.info.run_id.clone();
        let params: Vec<Param> = req
            .params
            .iter()
            .map(|(k, v)| Param {
                key: k.clone(),
                value: match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
            })
            .collect();
        self.store.log_batch(&run_id, &[], &params, &[]).await?;
        let new = new_run(&req, run_id.clone(), experiment_id, git, reuse)?;
        match self.store.create_pipeline_run(new).await {
            Ok(run) => {
                self.notify_work();
                Ok(run)
            }
            Err(e) => {
                self.end_mlflow_run(&run_id, RunStatus::Failed).await?;
                Err(e.into())
            }
        }
    }

    /// For `--from STEP`: the execution each step outside STEP's downstream reuses.
    async fn reused_executions(&self, req: &RunRequest) -> Result<BTreeMap<String, String>> {
        let Some(from) = &req.from_step else {
            return Ok(BTreeMap::new());
        };
        if !req.spec.steps.contains_key(from) {
            return Err(Error::invalid(
                "--from",
                format!("the pipeline has no step {from:?}"),
            ));
        }
        let previous = match &req.from_run {
            Some(id) => self.store.get_pipeline_run(id).await?,
            None => self
                .store
                .list_pipeline_runs(Some(&req.spec.name), 1)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    Error::invalid(
                        "--from",
                        format!("pipeline {:?} has no earlier run to resume", req.spec.name),
                    )
                })?,
        };
        if previous.pipeline != req.spec.name {
            return Err(Error::invalid(
                "--run",
                format!(
                    "run {} belongs to pipeline {:?}",
                    previous.run_id, previous.pipeline
                ),
            ));
        }
        let rerun = req.spec.downstream(from);
        let steps = self.store.list_step_runs(&previous.run_id).await?;
        let mut reuse = BTreeMap::new();
        for name in req.spec.steps.keys() {
            if name == from || rerun.contains(name) {
                continue;
            }
            let done = steps.iter().find(|s| {
                &s.step == name
                    && matches!(
                        s.status,
                        esteira_store::pipelines::StepStatus::Succeeded
                            | esteira_store::pipelines::StepStatus::Cached
                    )
            });
            let execution = done.and_then(|s| s.execution_id.clone()).ok_or_else(|| {
                Error::invalid(
                    "--from",
                    format!(
                        "step {name:?} did not succeed in run {}, so its outputs cannot be reused",
                        previous.run_id
                    ),
                )
            })?;
            reuse.insert(name.clone(), execution);
        }
        Ok(reuse)
    }

    async fn experiment_for(&self, name: &str) -> Result<String> {
        match self.store.get_experiment_by_name(name).await {
            Ok(e) => Ok(e.experiment_id),
            Err(e) if e.code() == esteira_core::ErrorCode::ResourceDoesNotExist => {
                match self
                    .store
                    .create_experiment(NewExperiment {
                        name: name.to_string(),
                        artifact_location: None,
                        tags: vec![tag("esteira.pipeline", name)],
                    })
                    .await
                {
                    Ok(id) => Ok(id),
                    Err(e) if e.code() == esteira_core::ErrorCode::ResourceAlreadyExists => {
                        Ok(self.store.get_experiment_by_name(name).await?.experiment_id)
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Ends the MLflow run of a pipeline run with the status matching `status`.
    ///
    /// # Errors
    /// Store errors.
    pub async fn end_mlflow_run(&self, run_id: &str, status: RunStatus) -> Result<()> {
        let status = match status {
            RunStatus::Succeeded => MlflowStatus::Finished,
            RunStatus::Cancelled => MlflowStatus::Killed,
            RunStatus::Queued | RunStatus::Running => MlflowStatus::Running,
            RunStatus::Failed => MlflowStatus::Failed,
        };
        self.store
            .update_run(
                run_id,
                RunUpdate {
                    status: Some(status),
                    end_time: Some(now_ms()),
                    run_name: None,
                },
            )
            .await?;
        Ok(())
    }

    /// Asks a run to stop. Steps not started are cancelled now, running ones at their next
    /// heartbeat. A run that had already ended is returned unchanged (its MLflow run too).
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown run; store errors.
    pub async fn cancel(&self, run_id: &str) -> Result<PipelineRunRecord> {
        let before = self.store.get_pipeline_run(run_id).await?;
        if before.status.is_terminal() {
            return Ok(before);
        }
        let run = self.store.cancel_pipeline_run(run_id).await?;
        // Another status means the run ended on its own meanwhile; its worker ends the
        // MLflow run.
        if run.status == RunStatus::Cancelled {
            self.end_mlflow_run(run_id, run.status).await?;
        }
        Ok(run)
    }

    /// Registers `spec` with the store, with its triggers.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming an `upstream` trigger that would close a loop (the pipeline
    /// following itself, or deployed pipelines that follow it), where every successful run
    /// would start the next forever; store errors.
    pub async fn deploy(&self, spec: &PipelineSpec, pipeline_dir: &Path) -> Result<PipelineRecord> {
        self.check_upstream_loops(spec).await?;
        let experiment_id = self.experiment_for(&spec.name).await?;
        let record = PipelineRecord {
            name: spec.name.clone(),
            version: 0,
            digest: spec.digest.clone(),
            spec: to_json(spec)?,
            pipeline_dir: pipeline_dir.display().to_string(),
            experiment_id,
            created_time: 0,
            updated_time: 0,
        };
        let triggers = spec
            .triggers
            .iter()
            .map(|t| {
                Ok(TriggerRecord {
                    pipeline: spec.name.clone(),
                    name: t.name.clone(),
                    kind: t.kind.type_name().to_string(),
                    spec: to_json(&t.kind)?,
                    cursor: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(self.store.deploy_pipeline(record, triggers).await?)
    }

    /// Refuses an `upstream` trigger of `spec` that, with the deployed pipelines' upstream
    /// triggers, leads back to `spec` itself.
    async fn check_upstream_loops(&self, spec: &PipelineSpec) -> Result<()> {
        let mut follows: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for t in self.store.list_triggers().await? {
            if t.pipeline == spec.name {
                continue;
            }
            if let Ok(TriggerKind::Upstream { pipeline }) = from_json::<TriggerKind>(&t.spec) {
                follows.entry(t.pipeline).or_default().push(pipeline);
            }
        }
        for t in &spec.triggers {
            let TriggerKind::Upstream { pipeline } = &t.kind else {
                continue;
            };
            if let Some(chain) = follow_chain(&follows, pipeline, &spec.name) {
                let names: Vec<&str> = std::iter::once(spec.name.as_str())
                    .chain(chain.iter().map(String::as_str))
                    .collect();
                let links: Vec<String> = names
                    .windows(2)
                    .map(|w| format!("{:?} follows {:?}", w[0], w[1]))
                    .collect();
                return Err(Error::invalid(
                    format!("triggers.{}", t.name),
                    format!(
                        "{}: every successful run would start the next one forever",
                        links.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Records a firing of a deployed pipeline and starts a run for it, unless it is a
    /// duplicate or the trigger's `max_concurrent` runs are active.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for a pipeline that is not deployed; store errors. A run
    /// that cannot start (a bad param) is recorded on the firing, not returned as an error.
    pub async fn fire(&self, req: FireRequest) -> Result<FireOutcome> {
        let record = self.store.get_pipeline(&req.pipeline).await?;
        let spec: PipelineSpec = from_json(&record.spec)?;
        let firing = self
            .store
            .record_firing(NewFiring {
                pipeline: req.pipeline.clone(),
                trigger_name: req.trigger.clone(),
                kind: req.kind.clone(),
                idempotency_key: req.idempotency_key.clone(),
                cause: req.cause.clone(),
                params: to_json(&req.params)?,
            })
            .await?;
        let Some(firing) = firing else {
            return Ok(FireOutcome::Duplicate);
        };
        if let Some(limit) = max_concurrent(&spec, &req.trigger) {
            let active = self.store.count_active_runs(&req.pipeline).await?;
            if active >= i64::from(limit) {
                let reason = format!("{active} runs active, max_concurrent is {limit}");
                return self.not_started(firing, "SKIPPED", reason).await;
            }
        }
        let params = match merged_params(&spec, &req.params) {
            Ok(p) => p,
            Err(e) => return self.not_started(firing, "FAILED", e.to_string()).await,
        };
        let request = RunRequest {
            spec,
            pipeline_dir: PathBuf::from(&record.pipeline_dir),
            params,
            no_cache: false,
            from_step: None,
            from_run: None,
            firing_id: Some(firing.firing_id.clone()),
            pipeline_version: Some(record.version),
            user: req.user.clone(),
        };
        match self.submit(request).await {
            Ok(run) => {
                self.store
                    .set_firing_outcome(&firing.firing_id, "STARTED", Some(&run.run_id), None)
                    .await?;
                let firing = FiringRecord {
                    status: "STARTED".into(),
                    run_id: Some(run.run_id.clone()),
                    ..firing
                };
                Ok(FireOutcome::Started {
                    firing,
                    run_id: run.run_id,
                })
            }
            Err(e) => self.not_started(firing, "FAILED", e.to_string()).await,
        }
    }

    /// Records a firing that starts no run (a new-data trigger's baseline), so the same
    /// data never fires later. Returns whether it was new.
    ///
    /// # Errors
    /// Store errors.
    pub async fn record_baseline(&self, req: FireRequest) -> Result<bool> {
        let firing = self
            .store
            .record_firing(NewFiring {
                pipeline: req.pipeline,
                trigger_name: req.trigger,
                kind: req.kind,
                idempotency_key: req.idempotency_key,
                cause: req.cause,
                params: to_json(&req.params)?,
            })
            .await?;
        let Some(firing) = firing else {
            return Ok(false);
        };
        self.store
            .set_firing_outcome(
                &firing.firing_id,
                "BASELINE",
                None,
                Some("present when the trigger was first evaluated"),
            )
            .await?;
        Ok(true)
    }

    async fn not_started(
        &self,
        mut firing: FiringRecord,
        status: &str,
        reason: String,
    ) -> Result<FireOutcome> {
        self.store
            .set_firing_outcome(&firing.firing_id, status, None, Some(&reason))
            .await?;
        firing.status = status.to_string();
        firing.message = Some(reason.clone());
        Ok(FireOutcome::NotStarted { firing, reason })
    }

    /// Fires the `upstream` triggers of every deployed pipeline that follows `run`'s
    /// pipeline. Called when a run succeeds; only runs of a deployed pipeline (not local runs
    /// of a file that happens to have the same name) fire anything.
    ///
    /// # Errors
    /// Store errors.
    pub async fn fire_downstream(&self, run: &PipelineRunRecord) -> Result<Vec<FireOutcome>> {
        let mut outcomes = Vec::new();
        if run.pipeline_version.is_none() {
            return Ok(outcomes);
        }
        for t in self.store.list_triggers().await? {
            let Ok(TriggerKind::Upstream { pipeline }) = from_json::<TriggerKind>(&t.spec) else {
                continue;
            };
            if pipeline != run.pipeline {
                continue;
            }
            outcomes.push(
                self.fire(FireRequest {
                    pipeline: t.pipeline.clone(),
                    trigger: t.name.clone(),
                    kind: t.kind.clone(),
                    idempotency_key: format!("upstream:{}", run.run_id),
                    cause: format!("pipeline {} run {} succeeded", run.pipeline, run.run_id),
                    params: BTreeMap::new(),
                    user: "esteira".into(),
                })
                .await?,
            );
        }
        Ok(outcomes)
    }
}

/// The pipelines from `start` to `target` (both included) along "follows" links, when
/// `target` can be reached.
fn follow_chain(
    follows: &BTreeMap<String, Vec<String>>,
    start: &str,
    target: &str,
) -> Option<Vec<String>> {
    let mut seen = std::collections::BTreeSet::new();
    let mut pending = vec![vec![start.to_string()]];
    while let Some(chain) = pending.pop() {
        let last = chain.last()?;
        if last == target {
            return Some(chain);
        }
        if !seen.insert(last.clone()) {
            continue;
        }
        for next in follows.get(last).into_iter().flatten() {
            let mut longer = chain.clone();
            longer.push(next.clone());
            pending.push(longer);
        }
    }
    None
}

fn max_concurrent(spec: &PipelineSpec, trigger: &str) -> Option<u32> {
    spec.triggers
        .iter()
        .find(|t| t.name == trigger)
        .and_then(|t| match t.kind {
            TriggerKind::Cron { max_concurrent, .. } => Some(max_concurrent),
            _ => None,
        })
}

/// The pipeline's default params overridden by `given`; a text value is read as the
/// default's type (so `"28"` overrides the integer 14), any other value must have the
/// default's JSON type (an integer default takes integers only).
///
/// # Errors
/// [`Error::Invalid`] naming a param the pipeline does not have or a value of the wrong
/// type.
pub fn merged_params(
    spec: &PipelineSpec,
    given: &BTreeMap<String, Value>,
) -> Result<BTreeMap<String, Value>> {
    let mut params = spec.params.clone();
    for (k, v) in given {
        let Some(default) = params.get(k) else {
            return Err(Error::invalid(
                format!("params.{k}"),
                format!("pipeline {:?} has no such param", spec.name),
            ));
        };
        let value = match v {
            Value::String(text) => crate::spec::typed_param(k, default, text)?,
            other if same_type(default, other) => other.clone(),
            other => {
                return Err(Error::invalid(
                    format!("params.{k}"),
                    format!("{other} is not of the type of the default {default}"),
                ));
            }
        };
        params.insert(k.clone(), value);
    }
    Ok(params)
}

/// Whether a non-text `value` may replace `default`: the same JSON type, and an integer
/// for an integer default.
fn same_type(default: &Value, value: &Value) -> bool {
    match (default, value) {
        (Value::Number(d), Value::Number(v)) => d.is_f64() || !v.is_f64(),
        (Value::Bool(_), Value::Bool(_))
        | (Value::Array(_), Value::Array(_))
        | (Value::Object(_), Value::Object(_)) => true,
        _ => false,
    }
}

fn new_run(
    req: &RunRequest,
    run_id: String,
    experiment_id: String,
    git: Option<(String, bool)>,
    mut reuse: BTreeMap<String, String>,
) -> Result<NewPipelineRun> {
    let steps = req
        .spec
        .steps
        .iter()
        .map(|(name, s)| NewStepRun {
            step: name.clone(),
            step_type: step_type(&s.kind).to_string(),
            retries: i64::from(s.retries),
            reuse_execution_id: reuse.remove(name),
        })
        .collect();
    let edges = req
        .spec
        .steps
        .iter()
        .flat_map(|(name, s)| {
            s.upstream()
                .into_iter()
                .map(move |u| (u.to_string(), name.clone()))
        })
        .collect();
    let (git_commit, git_dirty) = match git {
        Some((c, d)) => (Some(c), Some(d)),
        None => (None, None),
    };
    Ok(NewPipelineRun {
        run_id,
        pipeline: req.spec.name.clone(),
        pipeline_version: req.pipeline_version,
        digest: req.spec.digest.clone(),
        spec: to_json(&req.spec)?,
        pipeline_dir: req.pipeline_dir.display().to_string(),
        params: to_json(&req.params)?,
        git_commit,
        git_dirty,
        firing_id: req.firing_id.clone(),
        no_cache: req.no_cache || req.from_step.is_some(),
        experiment_id,
        steps,
        edges,
    })
}

/// The type name of a step kind (`train`, `command`...).
pub fn step_type(kind: &StepKind) -> &'static str {
    match kind {
        StepKind::Builtin(b) => b.name(),
        StepKind::Command(_) => "command",
    }
}

/// The commit and dirty flag of the git work tree holding `dir`, if it is in one.
fn git_state(dir: &Path) -> Option<(String, bool)> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"])?;
    let dirty = !git(&["status", "--porcelain", "--", "."])?.is_empty();
    Some((commit, dirty))
}

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.to_string(),
        value: value.to_string(),
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `value` as JSON text.
///
/// # Errors
/// [`Error::Invalid`] when it cannot be encoded.
pub fn to_json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::invalid("json", e.to_string()))
}

/// JSON text stored by this crate, decoded.
///
/// # Errors
/// [`Error::Invalid`] when it does not decode (a store written by another version).
pub fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::invalid("stored json", e.to_string()))
}
