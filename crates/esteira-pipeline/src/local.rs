//! Running a pipeline on this machine: the run goes through the same queue as on a server,
//! executed by in-process workers that take only this run's steps.

use std::sync::Arc;
use std::time::Duration;

use esteira_store::pipelines::{PipelineRunRecord, StepRunRecord};
use tokio::sync::watch;

use crate::engine::{Engine, RunRequest};
use crate::error::{Error, Result};
use crate::worker::{Worker, WorkerConfig};

/// How a local run executes.
#[derive(Clone, Debug)]
pub struct LocalOptions {
    /// How many steps run at the same time.
    pub workers: usize,
    /// The workers' settings (`only_run` is set by [`run_local`]).
    pub worker: WorkerConfig,
    /// How often progress is reported.
    pub progress_every: Duration,
}

/// Submits `request` and executes it with in-process workers until it ends. `progress` is
/// called with the steps' states whenever they change; when `cancel` turns true the run is
/// cancelled (running steps are stopped at their next heartbeat).
///
/// # Errors
/// As [`Engine::submit`]; store errors while it runs. A failing step is not an error: it is
/// in the returned run's status.
pub async fn run_local(
    engine: Arc<Engine>,
    request: RunRequest,
    options: LocalOptions,
    mut progress: impl FnMut(&PipelineRunRecord, &[StepRunRecord]),
    mut cancel: watch::Receiver<bool>,
) -> Result<(PipelineRunRecord, Vec<StepRunRecord>)> {
    let run = engine.submit(request).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut workers = Vec::new();
    for i in 0..options.workers.max(1) {
        let mut config = options.worker.clone();
        config.id = format!("{}-{i}", config.id);
        config.only_run = Some(run.run_id.clone());
        let worker = Worker::new(engine.clone(), config);
        let stop = stop_rx.clone();
        workers.push(tokio::spawn(async move { worker.run(stop).await }));
    }
    let watched = watch_run(
        &engine,
        &run.run_id,
        (&options, &workers),
        &mut progress,
        &mut cancel,
    )
    .await;
    let _ = stop_tx.send(true);
    for w in workers {
        match w.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => {
                return Err(Error::invalid(
                    "worker",
                    format!("a worker task failed: {e}"),
                ));
            }
        }
    }
    watched
}

/// Follows the run until it ends, or until every worker has stopped (a store failure; the
/// caller then returns the workers' error).
async fn watch_run(
    engine: &Engine,
    run_id: &str,
    (options, workers): (&LocalOptions, &[tokio::task::JoinHandle<Result<()>>]),
    progress: &mut impl FnMut(&PipelineRunRecord, &[StepRunRecord]),
    cancel: &mut watch::Receiver<bool>,
) -> Result<(PipelineRunRecord, Vec<StepRunRecord>)> {
    let store = engine.store();
    let mut last: Vec<StepRunRecord> = Vec::new();
    let mut cancelled = false;
    loop {
        let run = store.get_pipeline_run(run_id).await?;
        let steps = store.list_step_runs(run_id).await?;
        if steps != last {
            progress(&run, &steps);
            last = steps.clone();
        }
        if run.status.is_terminal() {
            return Ok((run, steps));
        }
        if workers.iter().all(|w| w.is_finished()) {
            return Err(Error::invalid(
                "worker",
                format!("every worker stopped before run {run_id} ended"),
            ));
        }
        tokio::select! {
            _ = tokio::time::sleep(options.progress_every) => {}
            changed = cancel.changed(), if !cancelled => {
                if changed.is_ok() && *cancel.borrow() {
                    cancelled = true;
                    engine.cancel(run_id).await?;
                }
            }
        }
    }
}
