//! Group commit for `log_batch`: concurrent calls are written together, in one transaction
//! with one metrics insert and one latest-metrics upsert for the whole group, instead of a
//! transaction each. On SQLite every statement is a hand-off to the connection's thread, so
//! grouping divides that cost by the group's size.
//!
//! Each call keeps its own outcome: its params and tags go in under a savepoint, so a call
//! with a conflicting param is rolled back alone; a call whose run is missing or deleted is
//! left out. A call is answered only once its group is committed. If the group's
//! transaction fails for another reason, its calls are replayed one at a time so that each
//! gets its own answer.

use std::collections::HashMap;

use esteira_core::entities::{LifecycleStage, Metric, Param, Tag};
use sqlx::{AnyPool, Row};
use tokio::sync::{mpsc, oneshot};

use super::runs::{insert_metrics, insert_params, upsert_tags};
use super::{Bind, Dialect, bind_all, dyn_query, placeholders};
use crate::error::{Error, Result, invalid, not_found};

/// Calls waiting to be written; past this the callers wait for room.
const QUEUE_CAPACITY: usize = 1024;
/// Most calls in one group.
const MAX_GROUP_CALLS: usize = 128;
/// Most metric points in one group.
const MAX_GROUP_POINTS: usize = 20_000;

/// One `log_batch` call.
pub(crate) struct Job {
    pub run_id: String,
    pub metrics: Vec<Metric>,
    pub params: Vec<Param>,
    pub tags: Vec<Tag>,
    pub done: oneshot::Sender<Result<()>>,
}

/// The queue into the writer task. The task ends when the last sender is dropped.
pub(crate) struct Batcher {
    queue: mpsc::Sender<Job>,
}

impl Batcher {
    /// Starts the writer task on the current runtime.
    pub(crate) fn start(dialect: Dialect, writer: AnyPool) -> Batcher {
        let (queue, jobs) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(write_groups(dialect, writer, jobs));
        Batcher { queue }
    }

    /// Queues a call and waits until it is committed or refused.
    pub(crate) async fn submit(
        &self,
        run_id: &str,
        metrics: &[Metric],
        params: &[Param],
        tags: &[Tag],
    ) -> Result<()> {
        let (done, answer) = oneshot::channel();
        let job = Job {
            run_id: run_id.to_string(),
            metrics: metrics.to_vec(),
            params: params.to_vec(),
            tags: tags.to_vec(),
            done,
        };
        let stopped = || {
            Error::Domain(esteira_core::Error::internal(
                "the metadata writer has stopped",
            ))
        };
        self.queue.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn write_groups(dialect: Dialect, writer: AnyPool, mut jobs: mpsc::Receiver<Job>) {
    while let Some(first) = jobs.recv().await {
        let mut points = first.metrics.len();
        let mut group = vec![first];
        while group.len() < MAX_GROUP_CALLS && points < MAX_GROUP_POINTS {
            match jobs.try_recv() {
                Ok(job) => {
                    points += job.metrics.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        write_group(dialect, &writer, group).await;
    }
}

async fn write_group(dialect: Dialect, writer: &AnyPool, group: Vec<Job>) {
    match try_group(dialect, writer, &group).await {
        Ok(outcomes) => {
            for (job, outcome) in group.into_iter().zip(outcomes) {
                let _ = job.done.send(outcome);
            }
        }
        Err(e) if group.len() == 1 => {
            if let Some(job) = group.into_iter().next() {
                let _ = job.done.send(Err(e));
            }
        }
        Err(_) => {
            for job in group {
                let outcome = match try_group(dialect, writer, std::slice::from_ref(&job)).await {
                    Ok(mut one) => one.pop().unwrap_or(Ok(())),
                    Err(e) => Err(e),
                };
                let _ = job.done.send(outcome);
            }
        }
    }
}

/// Writes a group in one transaction. `Ok` holds each call's outcome; `Err` is a failure of
/// the whole transaction (nothing of the group is written).
async fn try_group(dialect: Dialect, writer: &AnyPool, group: &[Job]) -> Result<Vec<Result<()>>> {
    let mut tx = writer.begin_with(dialect.begin_write()).await?;
    let stages = run_stages(&mut tx, group).await?;
    let mut outcomes: Vec<Result<()>> = group
        .iter()
        .map(|job| match stages.get(&job.run_id).map(String::as_str) {
            None => Err(not_found(format!("Run with id={} not found", job.run_id))),
            Some(stage) if stage != LifecycleStage::Active.as_str() => Err(invalid(format!(
                "The run {} must be in the 'active' state. Current state is {stage}.",
                job.run_id
            ))),
            Some(_) => Ok(()),
        })
        .collect();
    for (job, outcome) in group.iter().zip(outcomes.iter_mut()) {
        if outcome.is_err() || (job.params.is_empty() && job.tags.is_empty()) {
            continue;
        }
        sqlx::query("SAVEPOINT esteira_call")
            .execute(&mut *tx)
            .await?;
        let written = async {
            insert_params(
                &mut tx,
                "params",
                "run_uuid",
                &job.run_id,
                &job.params,
                "run ID",
            )
            .await?;
            upsert_tags(&mut tx, &job.run_id, &job.tags).await
        }
        .await;
        match written {
            Ok(()) => {}
            Err(Error::Domain(refused)) => {
                sqlx::query("ROLLBACK TO SAVEPOINT esteira_call")
                    .execute(&mut *tx)
                    .await?;
                *outcome = Err(Error::Domain(refused));
            }
            Err(failure) => return Err(failure),
        }
        sqlx::query("RELEASE SAVEPOINT esteira_call")
            .execute(&mut *tx)
            .await?;
    }
    let accepted: Vec<(&str, &[Metric])> = group
        .iter()
        .zip(&outcomes)
        .filter(|(_, outcome)| outcome.is_ok())
        .map(|(job, _)| (job.run_id.as_str(), job.metrics.as_slice()))
        .collect();
    insert_metrics(&mut tx, &accepted).await?;
    tx.commit().await?;
    Ok(outcomes)
}

/// The lifecycle stage of each run the group names.
async fn run_stages(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    group: &[Job],
) -> Result<HashMap<String, String>> {
    let mut ids: Vec<&str> = group.iter().map(|j| j.run_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let binds: Vec<Bind> = ids.iter().map(|id| Bind::Text(id.to_string())).collect();
    let sql = format!(
        "SELECT run_uuid, lifecycle_stage FROM runs WHERE run_uuid IN ({})",
        placeholders(1, ids.len())
    );
    bind_all(dyn_query(sql), &binds)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("run_uuid")?, r.try_get("lifecycle_stage")?)))
        .collect()
}
