//! The monitoring services the CLI and the server call: deploy a `monitors.toml`, run a
//! monitor over its due windows, evaluate the retrain policies, list decisions.
//!
//! A monitor's windows end at multiples of its `every` (UTC). [`run_monitor`] evaluates
//! every window that ended since the last one recorded (the first time, only the latest),
//! and records the reports with the monitor's new state in one transaction, so a window is
//! never recorded twice, even by two servers. [`evaluate_policies`] then evaluates each
//! policy once per new window end of the monitors it reads, and records one decision per
//! evaluation; a `retrain` fires the pipeline's hook trigger with an idempotency key made
//! of the policy and the time, so a retried evaluation never fires twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use esteira_artifacts::ArtifactStore;
use esteira_pipeline::engine::{Engine, FireOutcome};
use esteira_store::Store;
use esteira_store::monitors::{
    Decision, DefinitionKind, DefinitionRecord, MonitorResult, NewDecision, NewMonitorResult,
};
use esteira_store::pipelines::RunStatus;
use serde::{Deserialize, Serialize};

use crate::error::{MonitorError, Result};
use crate::policy::{self, Outcome, Verdict, WindowSummary};
use crate::source::{SourceContext, load_window};
use crate::spec::{MonitorSpec, MonitorsFile, PolicySpec};
use crate::window::{self, MonitorState, WindowReport};

/// Fires a pipeline's hook trigger for a retrain.
#[async_trait]
pub trait RetrainTrigger: Send + Sync {
    /// Fires `trigger` of `pipeline`; a second call with the same `idempotency_key` starts
    /// nothing new. Returns the firing's id.
    ///
    /// # Errors
    /// Why the pipeline could not be fired (not deployed, no such hook, store failure).
    async fn fire(
        &self,
        pipeline: &str,
        trigger: &str,
        idempotency_key: &str,
        cause: &str,
    ) -> Result<String>;
}

/// Fires retrains through a pipeline engine: the pipeline's hook trigger, as
/// `esteira pipeline trigger NAME --hook TRIGGER` does.
pub struct EngineTrigger {
    /// The engine whose store records the firing and queues the run.
    pub engine: Arc<Engine>,
}

/// Who fires retrains, as firings record it.
pub const RETRAIN_USER: &str = "esteira-monitor";

/// A pipeline firing made for a retrain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fired {
    /// The firing's id.
    pub firing_id: String,
    /// The run it started, when it started one now (not for a duplicate or a firing held
    /// back by `max_concurrent`).
    pub run_id: Option<String>,
}

/// Fires `trigger` (a hook) of `pipeline` through `engine` under `idempotency_key`; a
/// duplicate key returns the firing already recorded.
///
/// # Errors
/// [`MonitorError::Retrain`] when the pipeline is not deployed, has no such hook, or the
/// duplicate firing cannot be found; store errors.
pub async fn fire_hook(
    engine: &Engine,
    pipeline: &str,
    trigger: &str,
    idempotency_key: &str,
    cause: &str,
) -> Result<Fired> {
    let failed = |reason: String| MonitorError::Retrain {
        pipeline: pipeline.to_string(),
        reason,
    };
    let outcome = esteira_pipeline::service::trigger(
        engine,
        pipeline,
        Some(trigger),
        BTreeMap::new(),
        Some(idempotency_key.to_string()),
        Some(cause.to_string()),
        RETRAIN_USER,
    )
    .await
    .map_err(|e| failed(e.to_string()))?;
    match outcome {
        FireOutcome::Started { firing, run_id } => Ok(Fired {
            firing_id: firing.firing_id,
            run_id: Some(run_id),
        }),
        FireOutcome::NotStarted { firing, .. } => Ok(Fired {
            firing_id: firing.firing_id,
            run_id: None,
        }),
        FireOutcome::Duplicate => engine
            .store()
            .list_firings(Some(pipeline), i64::from(u16::MAX))
            .await?
            .into_iter()
            .find(|f| f.idempotency_key == idempotency_key)
            .map(|f| Fired {
                firing_id: f.firing_id,
                run_id: None,
            })
            .ok_or_else(|| {
                failed(format!(
                    "firing {idempotency_key:?} is recorded as a duplicate but cannot be found"
                ))
            }),
    }
}

#[async_trait]
impl RetrainTrigger for EngineTrigger {
    async fn fire(
        &self,
        pipeline: &str,
        trigger: &str,
        idempotency_key: &str,
        cause: &str,
    ) -> Result<String> {
        Ok(
            fire_hook(&self.engine, pipeline, trigger, idempotency_key, cause)
                .await?
                .firing_id,
        )
    }
}

/// What the services work with.
pub struct Services<'a> {
    /// The metadata store.
    pub store: &'a dyn Store,
    /// The artifact store (the prediction log's files).
    pub artifacts: &'a ArtifactStore,
    /// How a retrain is started.
    pub trigger: &'a dyn RetrainTrigger,
}

/// Most windows one run of a monitor evaluates (a monitor that was stopped for longer
/// catches up over several runs).
pub const MAX_WINDOWS_PER_RUN: usize = 400;

/// What [`deploy`] stored.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Deployed {
    /// Monitors created or whose definition changed (their progress starts over).
    pub monitors_changed: Vec<String>,
    /// Monitors whose definition was already the same.
    pub monitors_unchanged: Vec<String>,
    /// Policies stored.
    pub policies: Vec<String>,
}

/// Stores the monitors and policies of a parsed `monitors.toml`. Relative `files` and
/// `drift.reference` paths are made absolute against `base_dir` first. A monitor whose
/// definition changed starts over (its state is reset; its recorded windows stay).
///
/// # Errors
/// [`MonitorError::Config`] when a policy rule names a monitor that is neither in the file
/// nor deployed; store errors.
pub async fn deploy(store: &dyn Store, file: &MonitorsFile, base_dir: &Path) -> Result<Deployed> {
    let mut known: BTreeSet<String> = store
        .list_definitions(DefinitionKind::Monitor)
        .await?
        .into_iter()
        .map(|r| r.name)
        .collect();
    known.extend(file.monitor.iter().map(|m| m.name.clone()));
    for p in &file.policy {
        for (i, rule) in p.rules.iter().enumerate() {
            if !known.contains(&rule.monitor) {
                return Err(MonitorError::Config {
                    field: format!("policy '{}'.rules[{i}].monitor", p.name),
                    reason: format!("no monitor is named {:?}", rule.monitor),
                });
            }
        }
    }
    let mut deployed = Deployed::default();
    for m in &file.monitor {
        let spec = to_json(&absolute_paths(m, base_dir))?;
        let previous = store.get_definition(DefinitionKind::Monitor, &m.name).await;
        let unchanged = previous.as_ref().is_ok_and(|r| same_json(&r.spec, &spec));
        store
            .put_definition(DefinitionKind::Monitor, &m.name, &spec, !unchanged)
            .await?;
        if unchanged {
            deployed.monitors_unchanged.push(m.name.clone());
        } else {
            deployed.monitors_changed.push(m.name.clone());
        }
    }
    for p in &file.policy {
        store
            .put_definition(DefinitionKind::Policy, &p.name, &to_json(p)?, false)
            .await?;
        deployed.policies.push(p.name.clone());
    }
    Ok(deployed)
}

fn absolute_paths(m: &MonitorSpec, base_dir: &Path) -> MonitorSpec {
    let absolute = |p: &str| {
        if Path::new(p).is_absolute() || p.contains("://") {
            p.to_string()
        } else {
            base_dir.join(p).display().to_string()
        }
    };
    let mut m = m.clone();
    m.files = m.files.as_deref().map(absolute);
    if let Some(d) = &mut m.drift {
        d.reference = absolute(&d.reference);
    }
    m
}

fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| MonitorError::Input {
        source_name: "definition".into(),
        reason: e.to_string(),
    })
}

fn same_json(a: &str, b: &str) -> bool {
    let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).ok();
    parse(a).is_some() && parse(a) == parse(b)
}

fn stored<T: for<'de> Deserialize<'de>>(record: &DefinitionRecord, what: &str) -> Result<T> {
    serde_json::from_str(&record.spec).map_err(|e| MonitorError::Input {
        source_name: format!("{what} '{}'", record.name),
        reason: format!("the stored definition cannot be read: {e}"),
    })
}

fn stored_state<T: for<'de> Deserialize<'de> + Default>(record: &DefinitionRecord) -> Result<T> {
    if record.state.trim() == "{}" {
        return Ok(T::default());
    }
    serde_json::from_str(&record.state).map_err(|e| MonitorError::Input {
        source_name: record.name.clone(),
        reason: format!("the stored state cannot be read: {e}"),
    })
}

/// The window ends due at `now`: those after `cursor` up to the latest multiple of
/// `every` at or before `now`, at most [`MAX_WINDOWS_PER_RUN`] (the oldest first); without
/// a cursor only the latest.
pub fn due_window_ends(cursor: Option<i64>, now: i64, every: i64) -> Vec<i64> {
    let latest = now.div_euclid(every) * every;
    match cursor {
        None => vec![latest],
        Some(c) => {
            let first = (c.div_euclid(every) + 1) * every;
            (0..)
                .map(|k| first + k * every)
                .take_while(|end| *end <= latest)
                .take(MAX_WINDOWS_PER_RUN)
                .collect()
        }
    }
}

/// Evaluates the windows of monitor `name` due at `now` (milliseconds since the epoch) and
/// records them. Returns the recorded windows (none when nothing was due).
///
/// # Errors
/// `RESOURCE_DOES_NOT_EXIST` for an unknown monitor; [`MonitorError::Input`] when the
/// data cannot be read (nothing is recorded then); `INVALID_STATE` when another
/// evaluation recorded first.
pub async fn run_monitor(s: &Services<'_>, name: &str, now: i64) -> Result<Vec<MonitorResult>> {
    let record = s
        .store
        .get_definition(DefinitionKind::Monitor, name)
        .await?;
    let spec: MonitorSpec = stored(&record, "monitor")?;
    spec.validate()?;
    let mut state: MonitorState = stored_state(&record)?;
    let every = spec.every_ms()?;
    let length = spec.window_ms()?;
    let ends: Vec<i64> = due_window_ends(state.cursor, now, every)
        .into_iter()
        .filter(|end| state.cursor.is_none_or(|c| *end > c))
        .collect();
    if ends.is_empty() {
        return Ok(Vec::new());
    }
    let ctx = SourceContext {
        store: s.store,
        artifacts: s.artifacts,
    };
    let mut results = Vec::with_capacity(ends.len());
    for end in &ends {
        let start = end - length;
        let data = load_window(&spec, &ctx, start, *end).await?;
        let report = window::evaluate(&spec, &mut state, data, start, *end).await?;
        results.push(new_result(&report)?);
        state.cursor = Some(*end);
    }
    s.store
        .record_monitor_results(name, record.state_version, &to_json(&state)?, &results)
        .await?;
    let first = ends[0];
    Ok(s.store
        .list_monitor_results(name, first, ends[ends.len() - 1] + 1)
        .await?)
}

fn new_result(report: &WindowReport) -> Result<NewMonitorResult> {
    Ok(NewMonitorResult {
        window_start: report.window_start,
        window_end: report.window_end,
        alarm: report.summary.alarm,
        drift_share: report.summary.drift_share,
        report: to_json(report)?,
    })
}

/// The state a policy keeps: the latest time it was evaluated for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyState {
    /// The latest evaluated window end.
    pub evaluated_until: Option<i64>,
}

/// Reads a window report back from a recorded result.
///
/// # Errors
/// [`MonitorError::Input`] when the stored report cannot be read.
pub fn report_of(result: &MonitorResult) -> Result<WindowReport> {
    serde_json::from_str(&result.report).map_err(|e| MonitorError::Input {
        source_name: format!("monitor '{}' window {}", result.monitor, result.window_end),
        reason: format!("the stored report cannot be read: {e}"),
    })
}

/// Evaluates every policy at each window end its monitors recorded since its last
/// evaluation, up to `now`, recording one decision per evaluation. Returns the new
/// decisions.
///
/// # Errors
/// Store errors; [`MonitorError::Config`] for a stored policy that no longer validates.
/// A retrain whose firing fails is recorded nowhere and the error returned (the next
/// evaluation tries again with the same idempotency key).
pub async fn evaluate_policies(s: &Services<'_>, now: i64) -> Result<Vec<Decision>> {
    let mut decisions = Vec::new();
    for record in s.store.list_definitions(DefinitionKind::Policy).await? {
        decisions.extend(evaluate_policy(s, &record, now).await?);
    }
    Ok(decisions)
}

async fn evaluate_policy(
    s: &Services<'_>,
    record: &DefinitionRecord,
    now: i64,
) -> Result<Vec<Decision>> {
    let policy: PolicySpec = stored(record, "policy")?;
    policy.validate()?;
    let state: PolicyState = stored_state(record)?;
    let since = state.evaluated_until.map_or(i64::MIN, |t| t + 1);
    let monitors: BTreeSet<&str> = policy.rules.iter().map(|r| r.monitor.as_str()).collect();
    if !any_new_window(s.store, &monitors, since, now).await? {
        return Ok(Vec::new());
    }
    let mut histories: BTreeMap<String, Vec<WindowSummary>> = BTreeMap::new();
    for monitor in &monitors {
        let results = s
            .store
            .list_monitor_results(monitor, i64::MIN, now + 1)
            .await?;
        let summaries = results
            .iter()
            .map(|r| report_of(r).map(|report| report.summary))
            .collect::<Result<Vec<_>>>()?;
        histories.insert(monitor.to_string(), summaries);
    }
    let times: BTreeSet<i64> = histories
        .values()
        .flatten()
        .map(|w| w.window_end)
        .filter(|t| *t >= since && *t <= now)
        .collect();
    let mut decisions = Vec::with_capacity(times.len());
    for (version, at) in (record.state_version..).zip(times) {
        let past = past_retrains(s.store, &policy.name, at).await?;
        let verdict = policy::evaluate(&policy, at, &histories, &past)?;
        let decision = decide(s, &policy, at, &verdict).await?;
        let new_state = PolicyState {
            evaluated_until: Some(at),
        };
        decisions.push(
            s.store
                .record_decision(&policy.name, version, &to_json(&new_state)?, &decision)
                .await?,
        );
    }
    Ok(decisions)
}

/// Whether any of `monitors` recorded a window ending in `[since, now]` (most evaluations
/// find none, and then read no history).
async fn any_new_window(
    store: &dyn Store,
    monitors: &BTreeSet<&str>,
    since: i64,
    now: i64,
) -> Result<bool> {
    for monitor in monitors {
        if !store
            .list_monitor_results(monitor, since, now.saturating_add(1))
            .await?
            .is_empty()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

async fn past_retrains(store: &dyn Store, policy: &str, at: i64) -> Result<Vec<i64>> {
    Ok(store
        .list_decisions(Some(policy), i64::MIN, at, i64::MAX)
        .await?
        .into_iter()
        .filter(|d| d.outcome == Outcome::Retrain.as_str())
        .map(|d| d.evaluated_time)
        .collect())
}

async fn decide(
    s: &Services<'_>,
    policy: &PolicySpec,
    at: i64,
    verdict: &Verdict,
) -> Result<NewDecision> {
    let reasons = serde_json::json!({
        "rules": verdict.rules,
        "held_back": verdict.held_back,
    });
    let firing_id = if verdict.outcome == Outcome::Retrain {
        let met: Vec<String> = verdict
            .rules
            .iter()
            .filter(|r| r.met)
            .map(|r| format!("{}: {} ({})", r.monitor, r.when, r.detail))
            .collect();
        let cause = format!("policy {}: {}", policy.name, met.join("; "));
        let key = format!("policy:{}:{at}", policy.name);
        Some(
            s.trigger
                .fire(&policy.pipeline, &policy.trigger, &key, &cause)
                .await?,
        )
    } else {
        None
    };
    Ok(NewDecision {
        evaluated_time: at,
        outcome: verdict.outcome.as_str().to_string(),
        reasons: reasons.to_string(),
        pipeline: policy.pipeline.clone(),
        firing_id,
        compute_seconds: training_cost(s.store, &policy.pipeline).await?,
    })
}

/// How many of the pipeline's latest successful runs the training cost is averaged over.
const COST_RUNS: i64 = 5;

/// The compute one run of `pipeline` costs, in seconds: the mean, over its latest
/// successful runs, of the summed durations of the steps that ran (steps reused from the
/// cache cost nothing). `None` when the pipeline has no successful run yet.
///
/// # Errors
/// Store errors.
pub async fn training_cost(store: &dyn Store, pipeline: &str) -> Result<Option<f64>> {
    let runs = store
        .list_pipeline_runs(Some(pipeline), COST_RUNS * 4)
        .await?;
    let mut costs = Vec::new();
    for run in runs
        .iter()
        .filter(|r| r.status == RunStatus::Succeeded)
        .take(COST_RUNS as usize)
    {
        let executions = store.list_executions(&run.run_id).await?;
        let ms: i64 = executions
            .iter()
            .filter(|e| e.reused_execution_id.is_none() && e.status == "SUCCEEDED")
            .filter_map(|e| e.end_time.map(|end| (end - e.start_time).max(0)))
            .sum();
        costs.push(ms as f64 / 1000.0);
    }
    Ok((!costs.is_empty()).then(|| costs.iter().sum::<f64>() / costs.len() as f64))
}

/// Decisions with their totals.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DecisionLedger {
    /// The decisions, oldest first.
    pub decisions: Vec<Decision>,
    /// How many of each outcome.
    pub counts: BTreeMap<String, usize>,
    /// The estimated compute the retrains cost, seconds.
    pub retrain_seconds: f64,
    /// The estimated compute the other decisions saved against retraining at every
    /// evaluation, seconds.
    pub saved_seconds: f64,
}

/// The decisions evaluated in `[from, to)` (of one policy, or all), at most `limit`, with
/// their totals.
///
/// # Errors
/// Store errors.
pub async fn decisions(
    store: &dyn Store,
    policy: Option<&str>,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<DecisionLedger> {
    let decisions = store.list_decisions(policy, from, to, limit).await?;
    let mut counts = BTreeMap::new();
    let (mut retrain_seconds, mut saved_seconds) = (0.0, 0.0);
    for d in &decisions {
        *counts.entry(d.outcome.clone()).or_insert(0) += 1;
        let seconds = d.compute_seconds.unwrap_or(0.0);
        if d.outcome == Outcome::Retrain.as_str() {
            retrain_seconds += seconds;
        } else {
            saved_seconds += seconds;
        }
    }
    Ok(DecisionLedger {
        decisions,
        counts,
        retrain_seconds,
        saved_seconds,
    })
}

/// Runs [`tick`] every `interval` until `stop` turns true; failures are logged, and the
/// next tick tries again.
pub async fn run(
    store: Arc<dyn Store>,
    artifacts: ArtifactStore,
    trigger: Arc<dyn RetrainTrigger>,
    interval: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
        let services = Services {
            store: store.as_ref(),
            artifacts: &artifacts,
            trigger: trigger.as_ref(),
        };
        let now = chrono::Utc::now().timestamp_millis();
        match tick(&services, now).await {
            Ok(done) => {
                for (monitor, error) in &done.failed {
                    tracing::warn!(%monitor, %error, "a monitor failed");
                }
                for d in &done.decisions {
                    tracing::info!(policy = %d.policy, outcome = %d.outcome, "retrain decision");
                }
            }
            Err(error) => tracing::warn!(%error, "evaluating the retrain policies failed"),
        }
    }
}

/// What one [`tick`] did.
#[derive(Debug, Default)]
pub struct Tick {
    /// Windows recorded, per monitor.
    pub windows: BTreeMap<String, Vec<MonitorResult>>,
    /// Monitors that failed, with the error.
    pub failed: BTreeMap<String, String>,
    /// Decisions recorded.
    pub decisions: Vec<Decision>,
}

/// Runs every monitor due at `now`, then evaluates the policies. A monitor that fails is
/// reported and the others still run.
///
/// # Errors
/// Store errors while listing monitors or evaluating policies.
pub async fn tick(s: &Services<'_>, now: i64) -> Result<Tick> {
    let mut done = Tick::default();
    for record in s.store.list_definitions(DefinitionKind::Monitor).await? {
        match run_monitor(s, &record.name, now).await {
            Ok(results) if results.is_empty() => {}
            Ok(results) => {
                done.windows.insert(record.name.clone(), results);
            }
            Err(e) => {
                done.failed.insert(record.name.clone(), e.to_string());
            }
        }
    }
    done.decisions = evaluate_policies(s, now).await?;
    Ok(done)
}
