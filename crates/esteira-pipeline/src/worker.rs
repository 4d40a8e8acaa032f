//! Workers: claim queued steps, run them, and commit their outputs.
//!
//! A worker loops: claim a step (with a lease), resolve its inputs from the lineage graph,
//! compute its cache key, and either reuse an earlier execution's outputs or download the
//! inputs, run the step (renewing the lease by heartbeats), upload its outputs under a
//! directory of its own execution, and commit. The commit checks the lease, so an execution
//! whose lease expired (its worker was presumed dead and the step given to another) records
//! nothing; its uploads are deleted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use esteira_artifacts::ArtifactPath;
use esteira_core::entities::{Metric, RunStatus as MlflowStatus, Tag};
use esteira_store::pipelines::{
    ArtifactRecord, ClaimedStep, Completed, Completion, Heartbeat, Outcome, PortArtifact, RunStatus,
};
use esteira_store::{NewRun, RunUpdate};
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::engine::{ESTEIRA_VERSION, Engine, from_json, now_ms};
use crate::error::{Error, Result};
use crate::registry::StoreRegistry;
use crate::spec::{InputRef, PipelineSpec, StepKind, StepSpec, substitute_text};
use crate::step::{ArtifactKind, StepContext, StepError, StepLog, StepOrigin, StepOutput};
use crate::{builtin, command, digest};

/// How a worker identifies itself and paces its work.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Unique among workers (recorded on every execution).
    pub id: String,
    /// The machine it runs on.
    pub host: String,
    /// How long a claim holds without a heartbeat; heartbeats come every third of it.
    pub lease: Duration,
    /// How long to wait before polling again when the queue is empty (workers of the same
    /// process are also woken at once when a step commits).
    pub idle_poll: Duration,
    /// Only claim steps of this run (the local runner), else any.
    pub only_run: Option<String>,
    /// Where inputs and outputs of running steps live (one directory per execution,
    /// removed after it).
    pub work_root: PathBuf,
}

impl WorkerConfig {
    /// A configuration with a generated id, this host's name, a 30 s lease and a 25 ms poll.
    pub fn new(work_root: PathBuf) -> Self {
        let host = hostname();
        WorkerConfig {
            id: format!("{host}-{}-{}", std::process::id(), short_id()),
            host,
            lease: Duration::from_secs(30),
            idle_poll: Duration::from_millis(25),
            only_run: None,
            work_root,
        }
    }
}

/// Executes queued steps.
pub struct Worker {
    engine: Arc<Engine>,
    config: WorkerConfig,
}

/// Lines of a step's log kept in its execution record.
const LOG_TAIL_LINES: usize = 40;

/// How an attempt ended, before it is committed.
struct Attempt {
    outcome: Outcome,
    inputs: Vec<PortArtifact>,
    cache_key: Option<String>,
    cache_document: Option<String>,
    reason: Option<String>,
    log: Vec<String>,
    metrics: BTreeMap<String, f64>,
    uploaded: Option<ArtifactPath>,
}

impl Worker {
    /// A worker of `engine`.
    pub fn new(engine: Arc<Engine>, config: WorkerConfig) -> Self {
        Worker { engine, config }
    }

    /// The worker's configuration.
    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// Claims and executes steps until `stop` turns true. A failing step is recorded, not
    /// returned; only store failures end the loop early.
    ///
    /// # Errors
    /// Store errors.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) -> Result<()> {
        while !*stop.borrow() {
            if !self.run_once().await? {
                tokio::select! {
                    _ = tokio::time::sleep(self.config.idle_poll) => {}
                    _ = self.engine.work_ready() => {}
                    _ = stop.changed() => {}
                }
            }
        }
        Ok(())
    }

    /// Claims one step and executes it. Returns whether there was one.
    ///
    /// # Errors
    /// Store errors.
    pub async fn run_once(&self) -> Result<bool> {
        let lease_ms = self.config.lease.as_millis() as i64;
        let Some(claimed) = self
            .engine
            .store()
            .claim_step(
                &self.config.id,
                &self.config.host,
                lease_ms,
                self.config.only_run.as_deref(),
            )
            .await?
        else {
            return Ok(false);
        };
        self.execute(claimed).await?;
        Ok(true)
    }

    async fn execute(&self, claimed: ClaimedStep) -> Result<()> {
        let spec: PipelineSpec = from_json(&claimed.run.spec)?;
        let Some(step) = spec.steps.get(&claimed.step) else {
            return Err(Error::NotFound(format!(
                "step {:?} is not in the spec of run {}",
                claimed.step, claimed.run.run_id
            )));
        };
        let mlflow_run = self.step_mlflow_run(&claimed).await?;
        let (beat_tx, beat_rx) = watch::channel(Heartbeat::Extended);
        let heartbeat = self.spawn_heartbeat(&claimed, beat_tx);
        let work = self.config.work_root.join(&claimed.execution_id);
        let attempt = self
            .attempt(&claimed, &spec, step, &mlflow_run, &work, beat_rx.clone())
            .await;
        heartbeat.abort();
        let _ = tokio::fs::remove_dir_all(&work).await;
        let attempt = match attempt {
            Ok(a) => a,
            Err(e) => failed_attempt(e.to_string(), Vec::new(), Vec::new()),
        };
        let lost = *beat_rx.borrow() == Heartbeat::Lost;
        self.commit(&claimed, step, &mlflow_run, attempt, lost)
            .await
    }

    async fn commit(
        &self,
        claimed: &ClaimedStep,
        step: &StepSpec,
        mlflow_run: &StepRun,
        attempt: Attempt,
        lost: bool,
    ) -> Result<()> {
        let store = self.engine.store();
        let outcome = match attempt.outcome {
            Outcome::Failed { exit_code, .. } => Outcome::Failed {
                retry_at: Some(now_ms() + backoff_ms(step, claimed)),
                exit_code,
            },
            other => other,
        };
        let status = match &outcome {
            Outcome::Succeeded { .. } => MlflowStatus::Finished,
            Outcome::Failed { .. } => MlflowStatus::Failed,
            Outcome::Cancelled => MlflowStatus::Killed,
        };
        let completion = Completion {
            run_id: claimed.run.run_id.clone(),
            step: claimed.step.clone(),
            lease_token: if lost {
                String::new()
            } else {
                claimed.lease_token.clone()
            },
            execution_id: claimed.execution_id.clone(),
            outcome,
            inputs: attempt.inputs,
            cache_key: attempt.cache_key,
            cache_document: attempt.cache_document,
            reason: attempt.reason.clone(),
            log_tail: Some(tail(&attempt.log)),
            metrics: Some(serde_json::to_string(&attempt.metrics).unwrap_or_default()),
        };
        let cached = matches!(
            &completion.outcome,
            Outcome::Succeeded {
                reused_execution_id: Some(_),
                ..
            }
        );
        let completed = store.complete_step(completion).await?;
        self.engine.notify_work();
        match completed {
            Completed::LeaseLost => {
                if let Some(dir) = attempt.uploaded {
                    self.delete_uploads(&dir).await;
                }
                return Ok(());
            }
            Completed::Recorded => {}
            Completed::RunEnded(run_status) => {
                self.finish_run(&claimed.run.run_id, run_status).await?;
            }
        }
        self.close_step_run(mlflow_run, status, &attempt.metrics, cached, claimed)
            .await
    }

    async fn delete_uploads(&self, dir: &ArtifactPath) {
        let artifacts = self.engine.artifacts();
        let mut pending = vec![dir.clone()];
        while let Some(d) = pending.pop() {
            let Ok(entries) = artifacts.list(Some(&d)).await else {
                continue;
            };
            for e in entries {
                let Ok(child) = ArtifactPath::parse(&e.path).map(|p| d.join(&p)) else {
                    continue;
                };
                if e.is_dir {
                    pending.push(child);
                } else if let Err(err) = artifacts.delete(&child).await {
                    tracing::warn!(path = %child, error = %err, "could not delete an orphaned output");
                }
            }
        }
    }

    async fn finish_run(&self, run_id: &str, status: RunStatus) -> Result<()> {
        self.engine.end_mlflow_run(run_id, status).await?;
        if status == RunStatus::Succeeded {
            let run = self.engine.store().get_pipeline_run(run_id).await?;
            self.engine.fire_downstream(&run).await?;
        }
        Ok(())
    }

    async fn close_step_run(
        &self,
        run: &StepRun,
        status: MlflowStatus,
        metrics: &BTreeMap<String, f64>,
        cached: bool,
        claimed: &ClaimedStep,
    ) -> Result<()> {
        let now = now_ms();
        let points: Vec<Metric> = metrics
            .iter()
            .map(|(k, v)| Metric {
                key: k.clone(),
                value: *v,
                timestamp: now,
                step: claimed.attempt - 1,
                dataset_name: None,
                dataset_digest: None,
                model_id: None,
                run_id: None,
            })
            .collect();
        let tags = vec![
            tag("esteira.execution", &claimed.execution_id),
            tag("esteira.worker", &self.config.id),
            tag("esteira.cache_hit", &cached.to_string()),
        ];
        let store = self.engine.store();
        store.log_batch(&run.run_id, &points, &[], &tags).await?;
        store
            .update_run(
                &run.run_id,
                RunUpdate {
                    status: Some(status),
                    end_time: Some(now),
                    run_name: None,
                },
            )
            .await?;
        Ok(())
    }

    fn spawn_heartbeat(
        &self,
        claimed: &ClaimedStep,
        beat: watch::Sender<Heartbeat>,
    ) -> tokio::task::JoinHandle<()> {
        let engine = self.engine.clone();
        let lease = self.config.lease;
        let (run_id, step, token) = (
            claimed.run.run_id.clone(),
            claimed.step.clone(),
            claimed.lease_token.clone(),
        );
        tokio::spawn(async move {
            let lease_ms = lease.as_millis() as i64;
            loop {
                tokio::time::sleep(lease / 3).await;
                match engine
                    .store()
                    .heartbeat(&run_id, &step, &token, lease_ms)
                    .await
                {
                    Ok(Heartbeat::Extended) => {}
                    Ok(other) => {
                        let _ = beat.send(other);
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "heartbeat failed; retrying"),
                }
            }
        })
    }

    async fn step_mlflow_run(&self, claimed: &ClaimedStep) -> Result<StepRun> {
        let store = self.engine.store();
        if let Some(id) = &claimed.mlflow_run_id {
            let run = store
                .update_run(
                    id,
                    RunUpdate {
                        status: Some(MlflowStatus::Running),
                        end_time: None,
                        run_name: None,
                    },
                )
                .await?;
            return Ok(StepRun {
                run_id: id.clone(),
                experiment_id: run.experiment_id,
                artifact_uri: run.artifact_uri,
            });
        }
        let run = store
            .create_run(NewRun {
                experiment_id: claimed.run.experiment_id.clone(),
                user_id: "esteira".into(),
                run_name: Some(claimed.step.clone()),
                start_time: None,
                tags: vec![
                    tag("mlflow.parentRunId", &claimed.run.run_id),
                    tag("esteira.pipeline", &claimed.run.pipeline),
                    tag("esteira.step", &claimed.step),
                ],
            })
            .await?;
        store
            .set_step_mlflow_run(&claimed.run.run_id, &claimed.step, &run.info.run_id)
            .await?;
        Ok(StepRun {
            run_id: run.info.run_id,
            experiment_id: run.info.experiment_id,
            artifact_uri: run.info.artifact_uri,
        })
    }

    async fn attempt(
        &self,
        claimed: &ClaimedStep,
        spec: &PipelineSpec,
        step: &StepSpec,
        mlflow_run: &StepRun,
        work: &Path,
        beat: watch::Receiver<Heartbeat>,
    ) -> Result<Attempt> {
        let params: BTreeMap<String, Value> = from_json(&claimed.run.params)?;
        let pipeline_dir = PathBuf::from(&claimed.run.pipeline_dir);
        let resolved = match step.resolved_params(&params) {
            Ok(p) => p,
            Err(e) => return Ok(failed_attempt(e.to_string(), Vec::new(), Vec::new())),
        };
        let inputs = match self
            .resolve_inputs(claimed, step, &params, &pipeline_dir)
            .await
        {
            Ok(i) => i,
            Err(e) => return Ok(failed_attempt(e.to_string(), Vec::new(), Vec::new())),
        };
        let sources = match data_sources(step, &resolved, &pipeline_dir) {
            Ok(s) => s,
            Err(e) => return Ok(failed_attempt(e, Vec::new(), Vec::new())),
        };
        let mut port_inputs: Vec<PortArtifact> =
            inputs.iter().map(|i| i.artifact.clone()).collect();
        port_inputs.extend(sources.iter().flatten().cloned());
        let key = match self.cache_key(claimed, step, &resolved, &port_inputs, &pipeline_dir) {
            Ok(k) => k,
            Err(e) => return Ok(failed_attempt(e, port_inputs, Vec::new())),
        };
        let cacheable = sources.is_some();
        if cacheable && let Some(reused) = self.reusable(claimed, step, &key).await? {
            return Ok(Attempt {
                inputs: port_inputs,
                ..reused
            });
        }
        let miss_reason = if cacheable {
            self.miss_reason(claimed, step, &key.1).await?
        } else {
            "ran: an ingest from S3 or SQL always runs (its data is only known once read)".into()
        };
        let local = self.download_inputs(&inputs, &work.join("in")).await?;
        let out_dir = work.join("out");
        tokio::fs::create_dir_all(&out_dir)
            .await
            .map_err(|e| Error::io(&out_dir, e))?;
        let log = StepLog::default();
        let origin = StepOrigin {
            pipeline: spec.name.clone(),
            run_id: claimed.run.run_id.clone(),
            step: claimed.step.clone(),
            mlflow_run_id: mlflow_run.run_id.clone(),
            execution_id: claimed.execution_id.clone(),
        };
        let registry = StoreRegistry::new(self.engine.clone(), mlflow_run.artifact_uri.clone());
        let ctx = StepContext {
            origin: &origin,
            params: &resolved,
            inputs: &local,
            out_dir: &out_dir,
            pipeline_dir: &pipeline_dir,
            registry: &registry,
            log: &log,
        };
        let result = self
            .run_step(step, &params, &ctx, mlflow_run, beat.clone())
            .await;
        let mut attempt = match result {
            Ok(output) => {
                self.succeeded(
                    claimed,
                    step,
                    &inputs,
                    &local,
                    output,
                    mlflow_run,
                    (&log, &out_dir),
                )
                .await?
            }
            Err(e) if *beat.borrow() == Heartbeat::Cancelled => Attempt {
                outcome: Outcome::Cancelled,
                reason: Some(format!("cancelled: {e}")),
                ..failed_attempt(String::new(), Vec::new(), log.lines())
            },
            Err(e) => {
                let reason = e.to_string();
                let mut failed = failed_attempt(reason.clone(), Vec::new(), log.lines());
                failed.outcome = Outcome::Failed {
                    retry_at: None,
                    exit_code: exit_code_in(&reason),
                };
                failed
            }
        };
        attempt.inputs = port_inputs;
        attempt.cache_key = Some(key.0);
        attempt.cache_document = Some(key.1.to_string());
        if matches!(attempt.outcome, Outcome::Succeeded { .. }) {
            attempt.reason = Some(miss_reason);
        }
        Ok(attempt)
    }

    async fn run_step(
        &self,
        step: &StepSpec,
        params: &BTreeMap<String, Value>,
        ctx: &StepContext<'_>,
        mlflow_run: &StepRun,
        mut beat: watch::Receiver<Heartbeat>,
    ) -> std::result::Result<StepOutput, StepError> {
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let run = async {
            match &step.kind {
                StepKind::Builtin(kind) => builtin::run(*kind, ctx).await,
                StepKind::Command(template) => {
                    let argv = match command_args(template, params) {
                        Ok(a) => a,
                        Err(e) => {
                            return Err(StepError::Param {
                                param: "command".into(),
                                reason: e.to_string(),
                            });
                        }
                    };
                    let tracking = self.engine.tracking_uri().map(|uri| command::Tracking {
                        uri: uri.to_string(),
                        run_id: mlflow_run.run_id.clone(),
                        experiment_id: mlflow_run.experiment_id.clone(),
                    });
                    command::run_command(
                        &argv,
                        ctx,
                        &step.outputs,
                        &step.env,
                        tracking.as_ref(),
                        cancel_rx,
                    )
                    .await
                }
            }
        };
        let stopped = async {
            loop {
                if beat.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
                if *beat.borrow() != Heartbeat::Extended {
                    return format!("{:?}", *beat.borrow()).to_lowercase();
                }
            }
        };
        let timeout = async {
            match step.timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::pin!(run);
        tokio::select! {
            result = &mut run => result,
            why = stopped => {
                let _ = cancel_tx.send(true);
                let _ = (&mut run).await;
                Err(StepError::Failed(format!("stopped: the run was {why}")))
            }
            _ = timeout => {
                let _ = cancel_tx.send(true);
                let _ = (&mut run).await;
                Err(StepError::Failed(format!(
                    "timed out after {:?} (timeout = {:?})",
                    step.timeout.unwrap_or_default(),
                    step.timeout.unwrap_or_default()
                )))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn succeeded(
        &self,
        claimed: &ClaimedStep,
        step: &StepSpec,
        inputs: &[ResolvedInput],
        local: &BTreeMap<String, PathBuf>,
        output: StepOutput,
        mlflow_run: &StepRun,
        (log, out_dir): (&StepLog, &Path),
    ) -> Result<Attempt> {
        let root = ArtifactPath::from_proxy_uri(&mlflow_run.artifact_uri)?.join(
            &ArtifactPath::parse(&format!("outputs/{}", claimed.execution_id))?,
        );
        let mut outputs = Vec::new();
        for (port, kind) in &step.outputs {
            let Some(path) = output.outputs.get(port) else {
                return Ok(failed_attempt(
                    format!("the step did not produce its output {port:?}"),
                    Vec::new(),
                    log.lines(),
                ));
            };
            if let Some(passed) = passed_through(path, inputs, local) {
                outputs.push(PortArtifact {
                    port: port.clone(),
                    artifact: passed,
                });
                continue;
            }
            let artifact = self
                .upload_output(&root, port, *kind, (path, out_dir), claimed)
                .await?;
            outputs.push(PortArtifact {
                port: port.clone(),
                artifact,
            });
        }
        Ok(Attempt {
            outcome: Outcome::Succeeded {
                outputs,
                reused_execution_id: None,
            },
            inputs: Vec::new(),
            cache_key: None,
            cache_document: None,
            reason: None,
            log: log.lines(),
            metrics: output.metrics,
            uploaded: Some(root),
        })
    }

    async fn upload_output(
        &self,
        root: &ArtifactPath,
        port: &str,
        kind: ArtifactKind,
        (path, out_dir): (&Path, &Path),
        claimed: &ClaimedStep,
    ) -> Result<ArtifactRecord> {
        let artifacts = self.engine.artifacts();
        let digest = digest::path_digest(path).map_err(|e| Error::invalid(port, e.to_string()))?;
        let dest = root.join(&ArtifactPath::parse(port)?);
        let target = if path.is_dir() {
            artifacts.upload_dir(path, &dest).await?;
            dest
        } else {
            // A file the step wrote directly in its output directory keeps its name beside
            // the others (unique there); any other file goes below a directory named after
            // its port. (A directory holding one file of its own name would read as that
            // file to MLflow's artifact listing.)
            let name = path
                .file_name()
                .map_or_else(|| port.to_string(), |n| n.to_string_lossy().into_owned());
            let parent = if path.parent() == Some(out_dir) {
                root.clone()
            } else {
                dest
            };
            let file = parent.join(&ArtifactPath::parse(&name)?);
            artifacts.upload_file(path, &file).await?;
            file
        };
        Ok(ArtifactRecord {
            artifact_id: short_id(),
            kind: kind.name().to_string(),
            uri: target.to_proxy_uri(),
            digest: Some(digest),
            properties: serde_json::json!({
                "pipeline": claimed.run.pipeline,
                "run_id": claimed.run.run_id,
                "step": claimed.step,
                "port": port,
            })
            .to_string(),
            created_time: now_ms(),
        })
    }

    async fn resolve_inputs(
        &self,
        claimed: &ClaimedStep,
        step: &StepSpec,
        params: &BTreeMap<String, Value>,
        pipeline_dir: &Path,
    ) -> Result<Vec<ResolvedInput>> {
        let store = self.engine.store();
        let upstream: Vec<String> = step.upstream().into_iter().map(str::to_string).collect();
        let executions = store
            .step_executions(&claimed.run.run_id, &upstream)
            .await?;
        let mut resolved = Vec::new();
        for (port, input) in &step.inputs {
            let artifact = match input {
                InputRef::Step {
                    step: upstream,
                    output,
                } => {
                    let execution = executions.get(upstream).cloned().ok_or_else(|| {
                        Error::NotFound(format!("step {upstream:?} has no committed execution"))
                    })?;
                    store
                        .execution_outputs(&execution)
                        .await?
                        .into_iter()
                        .find(|o| &o.port == output)
                        .map(|o| o.artifact)
                        .ok_or_else(|| {
                            Error::NotFound(format!(
                                "execution {execution} of step {upstream:?} has no output {output:?}"
                            ))
                        })?
                }
                InputRef::External(text) => external_artifact(text, params, pipeline_dir)?,
            };
            resolved.push(ResolvedInput {
                artifact: PortArtifact {
                    port: port.clone(),
                    artifact,
                },
            });
        }
        Ok(resolved)
    }

    fn cache_key(
        &self,
        claimed: &ClaimedStep,
        step: &StepSpec,
        resolved: &Map<String, Value>,
        inputs: &[PortArtifact],
        pipeline_dir: &Path,
    ) -> std::result::Result<(String, Value), String> {
        let code =
            digest::code_digest(pipeline_dir, &claimed.step, step).map_err(|e| e.to_string())?;
        let digests: BTreeMap<String, String> = inputs
            .iter()
            .map(|i| {
                (
                    i.port.clone(),
                    i.artifact.digest.clone().unwrap_or_default(),
                )
            })
            .collect();
        let key = digest::cache_key(
            &claimed.step,
            step,
            resolved,
            &digests,
            &code,
            ESTEIRA_VERSION,
        );
        let document = digest::cache_key_parts(
            &claimed.step,
            step,
            resolved,
            &digests,
            &code,
            ESTEIRA_VERSION,
        );
        Ok((key, document))
    }

    /// The attempt that reuses an earlier execution, when `--from` names one or the cache
    /// has a match whose outputs still exist.
    async fn reusable(
        &self,
        claimed: &ClaimedStep,
        step: &StepSpec,
        key: &(String, Value),
    ) -> Result<Option<Attempt>> {
        let store = self.engine.store();
        let (execution, reason) = if let Some(id) = &claimed.reuse_execution_id {
            let e = store.get_execution(id).await?;
            let why = format!(
                "resumed with --from: reused execution {} of run {}",
                e.execution_id, e.run_id
            );
            (e, why)
        } else if step.cache && !claimed.run.no_cache {
            let Some(e) = store.find_cached_execution(&key.0).await? else {
                return Ok(None);
            };
            let why = format!(
                "cache hit: same definition, params, code and input digests as execution {} of run {}",
                e.execution_id, e.run_id
            );
            (e, why)
        } else {
            return Ok(None);
        };
        let source = execution
            .reused_execution_id
            .clone()
            .unwrap_or(execution.execution_id.clone());
        let outputs = store.execution_outputs(&execution.execution_id).await?;
        for o in &outputs {
            if !self.output_exists(&o.artifact).await? {
                return Ok(None);
            }
        }
        let metrics = execution
            .metrics
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_default();
        Ok(Some(Attempt {
            outcome: Outcome::Succeeded {
                outputs,
                reused_execution_id: Some(source),
            },
            inputs: Vec::new(),
            cache_key: Some(key.0.clone()),
            cache_document: Some(key.1.to_string()),
            reason: Some(reason),
            log: Vec::new(),
            metrics,
            uploaded: None,
        }))
    }

    async fn output_exists(&self, artifact: &ArtifactRecord) -> Result<bool> {
        if let Some((name, version)) = artifact
            .uri
            .strip_prefix("models:/")
            .and_then(|r| r.rsplit_once('/'))
        {
            return Ok(self
                .engine
                .store()
                .get_model_version(name, version)
                .await
                .is_ok());
        }
        match ArtifactPath::from_proxy_uri(&artifact.uri) {
            Ok(path) => Ok(self.engine.artifacts().exists(&path).await?),
            Err(_) => Ok(Path::new(&artifact.uri).exists()),
        }
    }

    /// Why the step runs: caching is off, or what changed since the step's previous
    /// execution in the pipeline.
    async fn miss_reason(
        &self,
        claimed: &ClaimedStep,
        step: &StepSpec,
        document: &Value,
    ) -> Result<String> {
        if !step.cache {
            return Ok("ran: cache = false for this step".into());
        }
        if claimed.run.no_cache {
            return Ok("ran: caching is off for this run (--no-cache or --from)".into());
        }
        let previous = self
            .engine
            .store()
            .previous_execution(&claimed.run.pipeline, &claimed.step, &claimed.run.run_id)
            .await?;
        let Some(prev) = previous else {
            return Ok("ran: no earlier execution of this step".into());
        };
        let old: Value = prev
            .cache_document
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .unwrap_or(Value::Null);
        let changes = digest::explain_difference(&old, document);
        Ok(if changes.is_empty() {
            format!(
                "ran: execution {} had the same key but did not succeed or its outputs are gone",
                prev.execution_id
            )
        } else {
            format!(
                "ran: changed since execution {}: {}",
                prev.execution_id,
                changes.join("; ")
            )
        })
    }

    /// Downloads the inputs into `dir` (eight at a time); returns each port's local path.
    async fn download_inputs(
        &self,
        inputs: &[ResolvedInput],
        dir: &Path,
    ) -> Result<BTreeMap<String, PathBuf>> {
        use futures::{StreamExt, TryStreamExt};
        let downloads: Vec<_> = inputs
            .iter()
            .map(|input| self.download_input(input, dir))
            .collect();
        futures::stream::iter(downloads)
            .buffer_unordered(8)
            .try_collect()
            .await
    }

    async fn download_input(&self, input: &ResolvedInput, dir: &Path) -> Result<(String, PathBuf)> {
        let artifacts = self.engine.artifacts();
        let a = &input.artifact.artifact;
        let port = input.artifact.port.clone();
        let Ok(path) = ArtifactPath::from_proxy_uri(&a.uri) else {
            return Ok((port, PathBuf::from(&a.uri)));
        };
        let target = dir.join(&port);
        if ArtifactKind::from_name(&a.kind).is_some_and(ArtifactKind::is_directory) {
            artifacts.download_dir(&path, &target).await?;
            return Ok((port, target));
        }
        let file = target.join(path.file_name().unwrap_or("data"));
        artifacts.download_file(&path, &file).await?;
        Ok((port, file))
    }
}

/// The MLflow run of a step.
struct StepRun {
    run_id: String,
    experiment_id: String,
    artifact_uri: String,
}

struct ResolvedInput {
    artifact: PortArtifact,
}

/// The input artifact `path` came from, when a step passed an input through as an output.
fn passed_through(
    path: &Path,
    inputs: &[ResolvedInput],
    local: &BTreeMap<String, PathBuf>,
) -> Option<ArtifactRecord> {
    let (port, _) = local.iter().find(|(_, p)| p.as_path() == path)?;
    inputs
        .iter()
        .find(|i| &i.artifact.port == port)
        .map(|i| i.artifact.artifact.clone())
}

/// The files an ingest step reads, as lineage inputs (port `source:<path>`); `Some(empty)`
/// for other steps; `None` when they cannot be known before running (S3, SQL), which makes
/// the step uncacheable.
fn data_sources(
    step: &StepSpec,
    params: &Map<String, Value>,
    pipeline_dir: &Path,
) -> std::result::Result<Option<Vec<PortArtifact>>, String> {
    if step.kind != StepKind::Builtin(crate::step::BuiltinKind::Ingest) {
        return Ok(Some(Vec::new()));
    }
    let Some(files) = builtin::ingest_sources(pipeline_dir, params).map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    files
        .iter()
        .map(|path| {
            let digest = digest::path_digest(path).map_err(|e| e.to_string())?;
            Ok(PortArtifact {
                port: format!("source:{}", path.display()),
                artifact: local_artifact(path, digest),
            })
        })
        .collect::<std::result::Result<Vec<_>, String>>()
        .map(Some)
}

/// An artifact record for a local file or directory outside the artifact store, with an id
/// derived from its path and digest (the same content at the same place is one artifact).
fn local_artifact(path: &Path, digest: String) -> ArtifactRecord {
    let uri = path.display().to_string();
    ArtifactRecord {
        artifact_id: format!(
            "ext-{}",
            &crate::spec::hex_digest(format!("{uri}\n{digest}").as_bytes())[..32]
        ),
        kind: if path.is_dir() { "directory" } else { "file" }.to_string(),
        uri,
        digest: Some(digest),
        properties: "{}".into(),
        created_time: now_ms(),
    }
}

fn external_artifact(
    text: &str,
    params: &BTreeMap<String, Value>,
    pipeline_dir: &Path,
) -> Result<ArtifactRecord> {
    let value = substitute_text(text, params)?;
    let text = match value {
        Value::String(s) => s,
        other => other.to_string(),
    };
    if text.contains("://") {
        return Err(Error::invalid(
            text,
            "external inputs are local paths; read URLs with an ingest step",
        ));
    }
    let path = pipeline_dir.join(&text);
    let digest = digest::path_digest(&path).map_err(|e| Error::invalid(&text, e.to_string()))?;
    Ok(local_artifact(&path, digest))
}

/// A command's arguments with `${params.NAME}` replaced.
fn command_args(template: &[String], params: &BTreeMap<String, Value>) -> Result<Vec<String>> {
    template
        .iter()
        .map(|arg| {
            substitute_text(arg, params).map(|v| match v {
                Value::String(s) => s,
                other => other.to_string(),
            })
        })
        .collect()
}

/// The process exit code a command step's failure message names (`exit code N`).
fn exit_code_in(reason: &str) -> Option<i64> {
    let rest = &reason[reason.find("exit code ")? + "exit code ".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn failed_attempt(reason: String, inputs: Vec<PortArtifact>, log: Vec<String>) -> Attempt {
    Attempt {
        outcome: Outcome::Failed {
            retry_at: None,
            exit_code: None,
        },
        inputs,
        cache_key: None,
        cache_document: None,
        reason: Some(reason),
        log,
        metrics: BTreeMap::new(),
        uploaded: None,
    }
}

/// The wait before retrying: the step's backoff doubled for each earlier failure.
fn backoff_ms(step: &StepSpec, claimed: &ClaimedStep) -> i64 {
    let base = step.retry_backoff.as_millis() as i64;
    let doublings = (claimed.attempt - 1).clamp(0, 16) as u32;
    base.saturating_mul(1 << doublings)
}

fn tail(lines: &[String]) -> String {
    let start = lines.len().saturating_sub(LOG_TAIL_LINES);
    lines[start..].join("\n")
}

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        key: key.to_string(),
        value: value.to_string(),
    }
}

fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// This machine's name (`HOSTNAME`, `/etc/hostname`, else `localhost`).
pub fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
