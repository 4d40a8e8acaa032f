//! Service functions shared by the HTTP handlers and the CLI.

use std::collections::BTreeMap;
use std::path::Path;

use esteira_store::Store;
use esteira_store::pipelines::{
    AliasChange, ExecutionRecord, PipelineRecord, PipelineRunRecord, StepRunRecord,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::{Engine, FireOutcome, FireRequest, MANUAL_TRIGGER};
use crate::error::{Error, Result};
use crate::spec::{PipelineSpec, TriggerKind};

/// A run with its steps and every execution (attempts, cache hits, lost leases).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunDetails {
    /// The run.
    pub run: PipelineRunRecord,
    /// Its steps.
    pub steps: Vec<StepRunRecord>,
    /// Every execution of its steps, in start order.
    pub executions: Vec<ExecutionRecord>,
}

/// Parses `source` (the text of `file`) and deploys it with its triggers.
///
/// # Errors
/// [`Error::Spec`] for an invalid file (including an invalid cron expression or an unknown
/// step type); store errors.
pub async fn deploy_source(
    engine: &Engine,
    file: &str,
    source: &str,
    pipeline_dir: &Path,
) -> Result<PipelineRecord> {
    let spec = PipelineSpec::parse(file, source)?;
    engine.deploy(&spec, pipeline_dir).await
}

/// Fires a deployed pipeline by hand or through a `hook` trigger: `trigger` names a hook
/// trigger of the pipeline, or is `None` for a manual run. Without an idempotency key every
/// call starts a run.
///
/// # Errors
/// [`Error::Invalid`] when `trigger` is not a hook trigger of the pipeline;
/// `RESOURCE_DOES_NOT_EXIST` when the pipeline is not deployed; store errors.
pub async fn trigger(
    engine: &Engine,
    pipeline: &str,
    trigger: Option<&str>,
    params: BTreeMap<String, Value>,
    idempotency_key: Option<String>,
    cause: Option<String>,
    user: &str,
) -> Result<FireOutcome> {
    let record = engine.store().get_pipeline(pipeline).await?;
    let (name, kind) = match trigger {
        None => (MANUAL_TRIGGER.to_string(), "manual"),
        Some(t) => {
            let spec: PipelineSpec = crate::engine::from_json(&record.spec)?;
            let found = spec.triggers.iter().find(|x| x.name == t);
            match found.map(|x| &x.kind) {
                Some(TriggerKind::Hook) => (t.to_string(), "hook"),
                Some(other) => {
                    return Err(Error::invalid(
                        "trigger",
                        format!(
                            "trigger {t:?} is a {} trigger, not a hook",
                            other.type_name()
                        ),
                    ));
                }
                None => {
                    let hooks: Vec<&str> = spec
                        .triggers
                        .iter()
                        .filter(|x| x.kind == TriggerKind::Hook)
                        .map(|x| x.name.as_str())
                        .collect();
                    return Err(Error::invalid(
                        "trigger",
                        format!(
                            "pipeline {pipeline:?} has no trigger {t:?}; its hooks are {hooks:?}"
                        ),
                    ));
                }
            }
        }
    };
    let key = idempotency_key.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let cause = cause.unwrap_or_else(|| format!("{kind} by {user}"));
    engine
        .fire(FireRequest {
            pipeline: pipeline.to_string(),
            trigger: name,
            kind: kind.to_string(),
            idempotency_key: key,
            cause,
            params,
            user: user.to_string(),
        })
        .await
}

/// A run with its steps and executions.
///
/// # Errors
/// `RESOURCE_DOES_NOT_EXIST` for an unknown run; store errors.
pub async fn run_details(store: &dyn Store, run_id: &str) -> Result<RunDetails> {
    Ok(RunDetails {
        run: store.get_pipeline_run(run_id).await?,
        steps: store.list_step_runs(run_id).await?,
        executions: store.list_executions(run_id).await?,
    })
}

/// What a rollback did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollback {
    /// The registered model.
    pub name: String,
    /// The alias moved.
    pub alias: String,
    /// The version it pointed to.
    pub from_version: i64,
    /// The version it points to now.
    pub to_version: i64,
    /// The history entry recorded.
    pub change: AliasChange,
}

/// Moves `alias` of `name` back to the version it pointed to before its current one,
/// recording `actor` and `reason`.
///
/// # Errors
/// [`Error::Invalid`] when the alias is not set or never pointed elsewhere;
/// `RESOURCE_DOES_NOT_EXIST` for an unknown model; store errors.
pub async fn rollback(
    store: &dyn Store,
    name: &str,
    alias: &str,
    actor: &str,
    reason: &str,
) -> Result<Rollback> {
    let history = store.alias_history(name, Some(alias)).await?;
    let current = store
        .get_model_version_by_alias(name, alias)
        .await
        .map_err(|_| Error::invalid("alias", format!("{name}@{alias} is not set")))?;
    let current: i64 = current.version.parse().unwrap_or_default();
    let previous = champions(&history)
        .into_iter()
        .rev()
        .find(|v| *v != current)
        .ok_or_else(|| {
            Error::invalid(
                "alias",
                format!("{name}@{alias} has no earlier version to go back to"),
            )
        })?;
    let reason = if reason.is_empty() {
        format!("{ROLLBACK} from version {current}")
    } else {
        format!("{ROLLBACK} from version {current}: {reason}")
    };
    store
        .move_alias(name, alias, &previous.to_string(), actor, &reason)
        .await?;
    let change = store
        .alias_history(name, Some(alias))
        .await?
        .pop()
        .ok_or_else(|| Error::NotFound("the rollback left no history entry".into()))?;
    Ok(Rollback {
        name: name.to_string(),
        alias: alias.to_string(),
        from_version: current,
        to_version: previous,
        change,
    })
}

/// How the reason of a rollback's history entry starts.
const ROLLBACK: &str = "rollback";

/// The versions an alias held, oldest first, with rolled-back promotions removed: a
/// promotion pushes its version, a rollback pops the version it undid, a deletion clears.
fn champions(history: &[AliasChange]) -> Vec<i64> {
    let mut stack: Vec<i64> = Vec::new();
    for change in history {
        match change.version {
            None => stack.clear(),
            Some(_) if change.reason.starts_with(ROLLBACK) => {
                stack.pop();
            }
            Some(v) => {
                if stack.last() != Some(&v) {
                    stack.push(v);
                }
            }
        }
    }
    stack
}
