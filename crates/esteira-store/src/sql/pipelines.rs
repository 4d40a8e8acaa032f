//! [`PipelineStore`] on SQLite and PostgreSQL.
//!
//! The step queue is the `step_runs` table. A worker claims a row in a write transaction:
//! on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so concurrent workers never wait on each
//! other's candidate rows; on SQLite the transaction is `BEGIN IMMEDIATE`, which serialises
//! writers (one node). A claim sets a lease (owner, random token, expiry). Every later write
//! for that step checks the token, so a worker that lost its lease can neither heartbeat nor
//! commit.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use uuid::Uuid;

use super::{
    Bind, Dialect, SqlStore, bind_all, dyn_query, found, is_unique_violation, now_ms, text,
};
use crate::error::{Result, invalid};
use crate::pipelines::*;

const RUN_COLUMNS: &str = "run_id, pipeline, pipeline_version, digest, spec, pipeline_dir, params, status, \
    git_commit, git_dirty, firing_id, no_cache, experiment_id, cancel_requested, message, created_time, \
    start_time, end_time";

const EXECUTION_COLUMNS: &str = "execution_id, run_id, pipeline, step, step_type, attempt, status, worker_id, \
    host, cache_key, cache_document, reused_execution_id, reason, exit_code, log_tail, metrics, ready_time, \
    start_time, end_time";

const ARTIFACT_COLUMNS: &str = "artifact_id, kind, uri, digest, properties, created_time";

const FIRING_COLUMNS: &str = "firing_id, pipeline, trigger_name, kind, idempotency_key, cause, params, status, \
    run_id, message, fired_time";

fn opt_bool(row: &AnyRow, col: &str) -> Result<Option<bool>> {
    Ok(row.try_get::<Option<i64>, _>(col)?.map(|v| v != 0))
}

fn run_from_row(row: &AnyRow) -> Result<PipelineRunRecord> {
    Ok(PipelineRunRecord {
        run_id: row.try_get("run_id")?,
        pipeline: row.try_get("pipeline")?,
        pipeline_version: row.try_get("pipeline_version")?,
        digest: row.try_get("digest")?,
        spec: row.try_get("spec")?,
        pipeline_dir: row.try_get("pipeline_dir")?,
        params: row.try_get("params")?,
        status: RunStatus::parse(&row.try_get::<String, _>("status")?)?,
        git_commit: row.try_get("git_commit")?,
        git_dirty: opt_bool(row, "git_dirty")?,
        firing_id: row.try_get("firing_id")?,
        no_cache: row.try_get::<i64, _>("no_cache")? != 0,
        experiment_id: row.try_get("experiment_id")?,
        cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
        message: row.try_get("message")?,
        created_time: row.try_get("created_time")?,
        start_time: row.try_get("start_time")?,
        end_time: row.try_get("end_time")?,
    })
}

fn step_from_row(row: &AnyRow) -> Result<StepRunRecord> {
    Ok(StepRunRecord {
        run_id: row.try_get("run_id")?,
        step: row.try_get("step")?,
        status: StepStatus::parse(&row.try_get::<String, _>("status")?)?,
        attempts: row.try_get("attempts")?,
        failures: row.try_get("failures")?,
        ready_time: row.try_get("ready_time")?,
        lease_owner: row.try_get("lease_owner")?,
        execution_id: row.try_get("execution_id")?,
        mlflow_run_id: row.try_get("mlflow_run_id")?,
    })
}

fn execution_from_row(row: &AnyRow) -> Result<ExecutionRecord> {
    Ok(ExecutionRecord {
        execution_id: row.try_get("execution_id")?,
        run_id: row.try_get("run_id")?,
        pipeline: row.try_get("pipeline")?,
        step: row.try_get("step")?,
        step_type: row.try_get("step_type")?,
        attempt: row.try_get("attempt")?,
        status: row.try_get("status")?,
        worker_id: row.try_get("worker_id")?,
        host: row.try_get("host")?,
        cache_key: row.try_get("cache_key")?,
        cache_document: row.try_get("cache_document")?,
        reused_execution_id: row.try_get("reused_execution_id")?,
        reason: row.try_get("reason")?,
        exit_code: row.try_get("exit_code")?,
        log_tail: row.try_get("log_tail")?,
        metrics: row.try_get("metrics")?,
        ready_time: row.try_get("ready_time")?,
        start_time: row.try_get("start_time")?,
        end_time: row.try_get("end_time")?,
    })
}

fn artifact_from_row(row: &AnyRow) -> Result<ArtifactRecord> {
    Ok(ArtifactRecord {
        artifact_id: row.try_get("artifact_id")?,
        kind: row.try_get("kind")?,
        uri: row.try_get("uri")?,
        digest: row.try_get("digest")?,
        properties: text(row, "properties")?,
        created_time: row.try_get("created_time")?,
    })
}

fn event_from_row(row: &AnyRow) -> Result<EventRecord> {
    Ok(EventRecord {
        execution_id: row.try_get("execution_id")?,
        artifact_id: row.try_get("artifact_id")?,
        direction: row.try_get("direction")?,
        port: row.try_get("port")?,
        time: row.try_get("time")?,
    })
}

fn firing_from_row(row: &AnyRow) -> Result<FiringRecord> {
    Ok(FiringRecord {
        firing_id: row.try_get("firing_id")?,
        pipeline: row.try_get("pipeline")?,
        trigger_name: row.try_get("trigger_name")?,
        kind: row.try_get("kind")?,
        idempotency_key: row.try_get("idempotency_key")?,
        cause: row.try_get("cause")?,
        params: row.try_get("params")?,
        status: row.try_get("status")?,
        run_id: row.try_get("run_id")?,
        message: row.try_get("message")?,
        fired_time: row.try_get("fired_time")?,
    })
}

fn alias_change_from_row(row: &AnyRow) -> Result<AliasChange> {
    Ok(AliasChange {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        alias: row.try_get("alias")?,
        version: row.try_get("version")?,
        previous_version: row.try_get("previous_version")?,
        actor: row.try_get("actor")?,
        reason: row.try_get("reason")?,
        time: row.try_get("time")?,
    })
}

fn pipeline_from_row(row: &AnyRow) -> Result<PipelineRecord> {
    Ok(PipelineRecord {
        name: row.try_get("name")?,
        version: row.try_get("version")?,
        digest: row.try_get("digest")?,
        spec: row.try_get("spec")?,
        pipeline_dir: row.try_get("pipeline_dir")?,
        experiment_id: row.try_get("experiment_id")?,
        created_time: row.try_get("created_time")?,
        updated_time: row.try_get("updated_time")?,
    })
}

fn trigger_from_row(row: &AnyRow) -> Result<TriggerRecord> {
    Ok(TriggerRecord {
        pipeline: row.try_get("pipeline")?,
        name: row.try_get("name")?,
        kind: row.try_get("kind")?,
        spec: row.try_get("spec")?,
        cursor: row.try_get("cursor")?,
    })
}

impl Dialect {
    /// The row-locking clause of a queue claim.
    fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// The row-locking clause of a read that precedes an update of the same row.
    fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }
}

type Tx = Transaction<'static, Any>;

/// A listing query `head [filter] tail`: `filter` (a clause on `$2`) is kept only when its
/// value is given, `$1` is bound in either case.
struct OptionalFilter<'a> {
    /// `SELECT … FROM …`, and a `WHERE` on `$1` if the query has one.
    head: &'a str,
    /// `WHERE col = $2`, or `AND col = $2` after a `WHERE` in `head`.
    filter: &'a str,
    /// `ORDER BY …`, and a `LIMIT $1` if `$1` is the limit.
    tail: &'a str,
}

impl SqlStore {
    /// The rows of `query` from the reader, `$1` bound to `first` and `$2` to `value` (the
    /// filter is left out without it), each made a record by `from_row`.
    async fn list_filtered<T>(
        &self,
        query: OptionalFilter<'_>,
        first: Bind,
        value: Option<&str>,
        from_row: fn(&AnyRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut binds = vec![first];
        let filter = match value {
            Some(v) => {
                binds.push(Bind::Text(v.to_string()));
                query.filter
            }
            None => "",
        };
        let sql = format!("{} {filter} {}", query.head, query.tail);
        bind_all(dyn_query(sql), &binds)
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    async fn run_in(&self, tx: &mut Tx, run_id: &str) -> Result<PipelineRunRecord> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE run_id = $1"
        )))
        .bind(run_id)
        .fetch_optional(&mut **tx)
        .await?;
        run_from_row(&found(row, || {
            format!("Pipeline run '{run_id}' does not exist.")
        })?)
    }

    /// Claims one step: the oldest ready one, else one whose lease expired.
    async fn claim_in(
        &self,
        tx: &mut Tx,
        worker_id: &str,
        host: &str,
        lease_ms: i64,
        only_run: Option<&str>,
    ) -> Result<Option<ClaimedStep>> {
        let now = now_ms();
        let lock = self.dialect.skip_locked();
        let run_filter = if only_run.is_some() {
            " AND run_id = $2"
        } else {
            ""
        };
        let candidate = |condition: &str, order: &str| {
            let q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT run_id, step, step_type, execution_id, attempts, mlflow_run_id, reuse_execution_id, ready_time
                 FROM step_runs WHERE {condition}{run_filter} ORDER BY {order} LIMIT 1{lock}"
            )))
            .bind(now);
            match only_run {
                Some(run) => q.bind(run.to_string()),
                None => q,
            }
        };
        let mut row = candidate("status = 'READY' AND ready_time <= $1", "ready_time")
            .fetch_optional(&mut **tx)
            .await?;
        if row.is_none() {
            row = candidate("status = 'RUNNING' AND lease_expires < $1", "lease_expires")
                .fetch_optional(&mut **tx)
                .await?;
            if let Some(r) = &row {
                let lost: Option<String> = r.try_get("execution_id")?;
                sqlx::query(
                    "UPDATE executions SET status = 'LOST', end_time = $1,
                     reason = 'the worker stopped renewing its lease' WHERE execution_id = $2",
                )
                .bind(now)
                .bind(lost)
                .execute(&mut **tx)
                .await?;
            }
        }
        let Some(row) = row else { return Ok(None) };
        let run_id: String = row.try_get("run_id")?;
        let step: String = row.try_get("step")?;
        let attempt = row.try_get::<i64, _>("attempts")? + 1;
        let execution_id = Uuid::new_v4().simple().to_string();
        let lease_token = Uuid::new_v4().simple().to_string();
        let ready_time: Option<i64> = row.try_get("ready_time")?;
        sqlx::query(
            "UPDATE step_runs SET status = 'RUNNING', attempts = $1, lease_owner = $2, lease_token = $3,
             lease_expires = $4, execution_id = $5 WHERE run_id = $6 AND step = $7",
        )
        .bind(attempt)
        .bind(worker_id)
        .bind(&lease_token)
        .bind(now + lease_ms)
        .bind(&execution_id)
        .bind(&run_id)
        .bind(&step)
        .execute(&mut **tx)
        .await?;
        let run = self.run_in(tx, &run_id).await?;
        sqlx::query(
            "INSERT INTO executions (execution_id, run_id, pipeline, step, step_type, attempt, status,
             worker_id, host, ready_time, start_time) VALUES ($1, $2, $3, $4, $5, $6, 'RUNNING', $7, $8, $9, $10)",
        )
        .bind(&execution_id)
        .bind(&run_id)
        .bind(&run.pipeline)
        .bind(&step)
        .bind(row.try_get::<String, _>("step_type")?)
        .bind(attempt)
        .bind(worker_id)
        .bind(host)
        .bind(ready_time)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        self.associate(tx, &run, &execution_id).await?;
        let run = if run.status == RunStatus::Queued {
            sqlx::query(
                "UPDATE pipeline_runs SET status = 'RUNNING', start_time = $1 WHERE run_id = $2",
            )
            .bind(now)
            .bind(&run_id)
            .execute(&mut **tx)
            .await?;
            self.run_in(tx, &run_id).await?
        } else {
            run
        };
        Ok(Some(ClaimedStep {
            run,
            step,
            execution_id,
            attempt,
            lease_token,
            mlflow_run_id: row.try_get("mlflow_run_id")?,
            reuse_execution_id: row.try_get("reuse_execution_id")?,
            ready_time,
            claim_time: now,
        }))
    }

    /// Ensures the pipeline and run contexts exist and associates the execution with both.
    async fn associate(
        &self,
        tx: &mut Tx,
        run: &PipelineRunRecord,
        execution_id: &str,
    ) -> Result<()> {
        for (kind, name) in [("pipeline", &run.pipeline), ("pipeline_run", &run.run_id)] {
            let context_id = format!("{kind}:{name}");
            sqlx::query(
                "INSERT INTO lineage_contexts (context_id, kind, name, properties, created_time)
                 VALUES ($1, $2, $3, '{}', $4) ON CONFLICT (context_id) DO NOTHING",
            )
            .bind(&context_id)
            .bind(kind)
            .bind(name)
            .bind(now_ms())
            .execute(&mut **tx)
            .await?;
            sqlx::query(
                "INSERT INTO lineage_associations (context_id, execution_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
            )
            .bind(&context_id)
            .bind(execution_id)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    async fn insert_artifact(&self, tx: &mut Tx, a: &ArtifactRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO lineage_artifacts (artifact_id, kind, uri, digest, properties, created_time)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (artifact_id) DO NOTHING",
        )
        .bind(&a.artifact_id)
        .bind(&a.kind)
        .bind(&a.uri)
        .bind(&a.digest)
        .bind(&a.properties)
        .bind(a.created_time)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn insert_event(
        &self,
        tx: &mut Tx,
        execution_id: &str,
        direction: &str,
        pa: &PortArtifact,
    ) -> Result<()> {
        self.insert_artifact(tx, &pa.artifact).await?;
        sqlx::query(
            "INSERT INTO lineage_events (execution_id, artifact_id, direction, port, time)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(execution_id)
        .bind(&pa.artifact.artifact_id)
        .bind(direction)
        .bind(&pa.port)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn complete_in(&self, tx: &mut Tx, c: &Completion) -> Result<Completed> {
        let now = now_ms();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT status, lease_token, failures, max_failures FROM step_runs
             WHERE run_id = $1 AND step = $2{}",
            self.dialect.for_update()
        )))
        .bind(&c.run_id)
        .bind(&c.step)
        .fetch_optional(&mut **tx)
        .await?;
        let row = found(row, || {
            format!("Step '{}' of run '{}' does not exist.", c.step, c.run_id)
        })?;
        let held = row.try_get::<String, _>("status")? == "RUNNING"
            && row.try_get::<Option<String>, _>("lease_token")?.as_deref() == Some(&c.lease_token);
        if !held {
            self.end_execution(tx, c, "LOST", now).await?;
            return Ok(Completed::LeaseLost);
        }
        for input in &c.inputs {
            self.insert_event(tx, &c.execution_id, "INPUT", input)
                .await?;
        }
        let run = self.run_in(tx, &c.run_id).await?;
        let status = match &c.outcome {
            Outcome::Succeeded {
                outputs,
                reused_execution_id,
            } => {
                for output in outputs {
                    self.insert_event(tx, &c.execution_id, "OUTPUT", output)
                        .await?;
                    sqlx::query(
                        "INSERT INTO lineage_attributions (context_id, artifact_id) VALUES ($1, $2)
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(format!("pipeline_run:{}", run.run_id))
                    .bind(&output.artifact.artifact_id)
                    .execute(&mut **tx)
                    .await?;
                }
                let status = if reused_execution_id.is_some() {
                    "CACHED"
                } else {
                    "SUCCEEDED"
                };
                self.end_execution(tx, c, status, now).await?;
                self.set_step_status(tx, c, status, None).await?;
                self.release_dependents(tx, &c.run_id, &c.step, now).await?;
                status
            }
            Outcome::Failed { retry_at, .. } => {
                self.end_execution(tx, c, "FAILED", now).await?;
                let failures = row.try_get::<i64, _>("failures")? + 1;
                let retry = retry_at.filter(|_| {
                    failures <= row.try_get::<i64, _>("max_failures").unwrap_or(0)
                        && !run.cancel_requested
                });
                sqlx::query("UPDATE step_runs SET failures = $1 WHERE run_id = $2 AND step = $3")
                    .bind(failures)
                    .bind(&c.run_id)
                    .bind(&c.step)
                    .execute(&mut **tx)
                    .await?;
                if let Some(at) = retry {
                    self.set_step_status(tx, c, "READY", Some(at)).await?;
                    "READY"
                } else {
                    self.set_step_status(tx, c, "FAILED", None).await?;
                    self.skip_dependents(tx, &c.run_id, &c.step).await?;
                    "FAILED"
                }
            }
            Outcome::Cancelled => {
                self.end_execution(tx, c, "CANCELLED", now).await?;
                self.set_step_status(tx, c, "CANCELLED", None).await?;
                self.skip_dependents(tx, &c.run_id, &c.step).await?;
                "CANCELLED"
            }
        };
        if status == "FAILED" {
            let message = format!(
                "step {} failed: {}",
                c.step,
                c.reason.as_deref().unwrap_or("no reason given")
            );
            sqlx::query(
                "UPDATE pipeline_runs SET message = COALESCE(message, $1) WHERE run_id = $2",
            )
            .bind(message)
            .bind(&c.run_id)
            .execute(&mut **tx)
            .await?;
        }
        match self.finish_run_if_done(tx, &c.run_id, now).await? {
            Some(s) => Ok(Completed::RunEnded(s)),
            None => Ok(Completed::Recorded),
        }
    }

    async fn end_execution(
        &self,
        tx: &mut Tx,
        c: &Completion,
        status: &str,
        now: i64,
    ) -> Result<()> {
        let (reused, exit_code) = match &c.outcome {
            Outcome::Succeeded {
                reused_execution_id,
                ..
            } => (reused_execution_id.clone(), None),
            Outcome::Failed { exit_code, .. } => (None, *exit_code),
            Outcome::Cancelled => (None, None),
        };
        sqlx::query(
            "UPDATE executions SET status = $1, end_time = $2, cache_key = $3, cache_document = $4,
             reused_execution_id = $5, reason = $6, exit_code = $7, log_tail = $8, metrics = $9
             WHERE execution_id = $10",
        )
        .bind(status)
        .bind(now)
        .bind(&c.cache_key)
        .bind(&c.cache_document)
        .bind(reused)
        .bind(&c.reason)
        .bind(exit_code)
        .bind(&c.log_tail)
        .bind(&c.metrics)
        .bind(&c.execution_id)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn set_step_status(
        &self,
        tx: &mut Tx,
        c: &Completion,
        status: &str,
        ready_time: Option<i64>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE step_runs SET status = $1, ready_time = COALESCE($2, ready_time), lease_owner = NULL,
             lease_token = NULL, lease_expires = NULL WHERE run_id = $3 AND step = $4",
        )
        .bind(status)
        .bind(ready_time)
        .bind(&c.run_id)
        .bind(&c.step)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn release_dependents(
        &self,
        tx: &mut Tx,
        run_id: &str,
        step: &str,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE step_runs SET pending = pending - 1 WHERE run_id = $1
             AND step IN (SELECT step FROM step_edges WHERE run_id = $1 AND upstream = $2)",
        )
        .bind(run_id)
        .bind(step)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "UPDATE step_runs SET status = 'READY', ready_time = $1
             WHERE run_id = $2 AND status = 'WAITING' AND pending = 0",
        )
        .bind(now)
        .bind(run_id)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn skip_dependents(&self, tx: &mut Tx, run_id: &str, step: &str) -> Result<()> {
        sqlx::query(
            "WITH RECURSIVE downstream(step) AS (
                 SELECT step FROM step_edges WHERE run_id = $1 AND upstream = $2
                 UNION SELECT e.step FROM step_edges e JOIN downstream d ON e.upstream = d.step
                 WHERE e.run_id = $1)
             UPDATE step_runs SET status = 'SKIPPED' WHERE run_id = $1
             AND status IN ('WAITING', 'READY') AND step IN (SELECT step FROM downstream)",
        )
        .bind(run_id)
        .bind(step)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Ends the run when none of its steps is left to run; returns its final status.
    async fn finish_run_if_done(
        &self,
        tx: &mut Tx,
        run_id: &str,
        now: i64,
    ) -> Result<Option<RunStatus>> {
        let row = sqlx::query(
            "SELECT
                SUM(CASE WHEN status IN ('WAITING', 'READY', 'RUNNING') THEN 1 ELSE 0 END) AS open,
                SUM(CASE WHEN status IN ('FAILED', 'SKIPPED') THEN 1 ELSE 0 END) AS failed
             FROM step_runs WHERE run_id = $1",
        )
        .bind(run_id)
        .fetch_one(&mut **tx)
        .await?;
        let open: i64 = row.try_get::<Option<i64>, _>("open")?.unwrap_or(0);
        if open > 0 {
            return Ok(None);
        }
        let failed: i64 = row.try_get::<Option<i64>, _>("failed")?.unwrap_or(0);
        let run = self.run_in(tx, run_id).await?;
        if run.status.is_terminal() {
            return Ok(None);
        }
        let status = if run.cancel_requested {
            RunStatus::Cancelled
        } else if failed > 0 {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        };
        sqlx::query("UPDATE pipeline_runs SET status = $1, end_time = $2 WHERE run_id = $3")
            .bind(status.as_str())
            .bind(now)
            .bind(run_id)
            .execute(&mut **tx)
            .await?;
        Ok(Some(status))
    }

    async fn record_alias_move(
        &self,
        tx: &mut Tx,
        name: &str,
        alias: &str,
        version: Option<i64>,
        actor: &str,
        reason: &str,
    ) -> Result<Option<i64>> {
        let previous: Option<i64> = sqlx::query(
            "SELECT version FROM registered_model_aliases WHERE name = $1 AND alias = $2",
        )
        .bind(name)
        .bind(alias)
        .fetch_optional(&mut **tx)
        .await?
        .map(|r| r.try_get("version"))
        .transpose()?;
        sqlx::query(
            "INSERT INTO alias_history (name, alias, version, previous_version, actor, reason, time)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(name)
        .bind(alias)
        .bind(version)
        .bind(previous)
        .bind(actor)
        .bind(reason)
        .bind(now_ms())
        .execute(&mut **tx)
        .await?;
        Ok(previous)
    }

    /// Points an alias at a version inside `tx`, recording the move.
    pub(crate) async fn set_alias_in(
        &self,
        tx: &mut Tx,
        name: &str,
        alias: &str,
        version: i64,
        actor: &str,
        reason: &str,
    ) -> Result<Option<i64>> {
        let previous = self
            .record_alias_move(tx, name, alias, Some(version), actor, reason)
            .await?;
        sqlx::query(
            "INSERT INTO registered_model_aliases (name, alias, version) VALUES ($1, $2, $3)
             ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
        )
        .bind(name)
        .bind(alias)
        .bind(version)
        .execute(&mut **tx)
        .await?;
        Ok(previous)
    }

    /// Removes an alias inside `tx`, recording the removal.
    pub(crate) async fn delete_alias_in(
        &self,
        tx: &mut Tx,
        name: &str,
        alias: &str,
        actor: &str,
    ) -> Result<()> {
        self.record_alias_move(tx, name, alias, None, actor, "alias deleted")
            .await?;
        sqlx::query("DELETE FROM registered_model_aliases WHERE name = $1 AND alias = $2")
            .bind(name)
            .bind(alias)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl PipelineStore for SqlStore {
    async fn deploy_pipeline(
        &self,
        record: PipelineRecord,
        triggers: Vec<TriggerRecord>,
    ) -> Result<PipelineRecord> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let current = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT version, digest FROM pipelines WHERE name = $1{}",
            self.dialect.for_update()
        )))
        .bind(&record.name)
        .fetch_optional(&mut *tx)
        .await?;
        let version = match &current {
            None => 1,
            Some(r) if r.try_get::<String, _>("digest")? == record.digest => {
                r.try_get("version")?
            }
            Some(r) => r.try_get::<i64, _>("version")? + 1,
        };
        sqlx::query(
            "INSERT INTO pipelines (name, version, digest, spec, pipeline_dir, experiment_id, created_time, updated_time)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
             ON CONFLICT (name) DO UPDATE SET version = excluded.version, digest = excluded.digest,
             spec = excluded.spec, pipeline_dir = excluded.pipeline_dir,
             experiment_id = excluded.experiment_id, updated_time = excluded.updated_time",
        )
        .bind(&record.name)
        .bind(version)
        .bind(&record.digest)
        .bind(&record.spec)
        .bind(&record.pipeline_dir)
        .bind(&record.experiment_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO pipeline_versions (name, version, digest, spec, created_time) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (name, version) DO NOTHING",
        )
        .bind(&record.name)
        .bind(version)
        .bind(&record.digest)
        .bind(&record.spec)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let kept: Vec<String> = triggers.iter().map(|t| t.name.clone()).collect();
        let existing = sqlx::query("SELECT name, spec FROM pipeline_triggers WHERE pipeline = $1")
            .bind(&record.name)
            .fetch_all(&mut *tx)
            .await?;
        for row in existing {
            let name: String = row.try_get("name")?;
            let spec: String = row.try_get("spec")?;
            let same = triggers.iter().any(|t| t.name == name && t.spec == spec);
            if !same || !kept.contains(&name) {
                sqlx::query("DELETE FROM pipeline_triggers WHERE pipeline = $1 AND name = $2")
                    .bind(&record.name)
                    .bind(&name)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        for t in &triggers {
            sqlx::query(
                "INSERT INTO pipeline_triggers (pipeline, name, kind, spec, cursor) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (pipeline, name) DO NOTHING",
            )
            .bind(&record.name)
            .bind(&t.name)
            .bind(&t.kind)
            .bind(&t.spec)
            .bind(t.cursor)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.get_pipeline(&record.name).await
    }

    async fn get_pipeline(&self, name: &str) -> Result<PipelineRecord> {
        let row = sqlx::query(
            "SELECT name, version, digest, spec, pipeline_dir, experiment_id, created_time, updated_time
             FROM pipelines WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.reader)
        .await?;
        pipeline_from_row(&found(row, || {
            format!("Pipeline '{name}' is not deployed.")
        })?)
    }

    async fn list_pipelines(&self) -> Result<Vec<PipelineRecord>> {
        sqlx::query(
            "SELECT name, version, digest, spec, pipeline_dir, experiment_id, created_time, updated_time
             FROM pipelines ORDER BY name",
        )
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(pipeline_from_row)
        .collect()
    }

    async fn list_triggers(&self) -> Result<Vec<TriggerRecord>> {
        sqlx::query("SELECT pipeline, name, kind, spec, cursor FROM pipeline_triggers ORDER BY pipeline, name")
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(trigger_from_row)
            .collect()
    }

    async fn set_trigger_cursor(&self, pipeline: &str, name: &str, cursor: i64) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE pipeline_triggers SET cursor = $1 WHERE pipeline = $2 AND name = $3")
            .bind(cursor)
            .bind(pipeline)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_pipeline_run(&self, run: NewPipelineRun) -> Result<PipelineRunRecord> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO pipeline_runs (run_id, pipeline, pipeline_version, digest, spec, pipeline_dir, params,
             status, git_commit, git_dirty, firing_id, no_cache, experiment_id, created_time, seq)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'QUEUED', $8, $9, $10, $11, $12, $13,
             (SELECT COALESCE(MAX(seq), 0) + 1 FROM pipeline_runs))",
        )
        .bind(&run.run_id)
        .bind(&run.pipeline)
        .bind(run.pipeline_version)
        .bind(&run.digest)
        .bind(&run.spec)
        .bind(&run.pipeline_dir)
        .bind(&run.params)
        .bind(&run.git_commit)
        .bind(run.git_dirty.map(i64::from))
        .bind(&run.firing_id)
        .bind(i64::from(run.no_cache))
        .bind(&run.experiment_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                invalid(format!("Pipeline run '{}' already exists.", run.run_id))
            } else {
                e.into()
            }
        })?;
        for (upstream, step) in &run.edges {
            sqlx::query("INSERT INTO step_edges (run_id, upstream, step) VALUES ($1, $2, $3)")
                .bind(&run.run_id)
                .bind(upstream)
                .bind(step)
                .execute(&mut *tx)
                .await?;
        }
        for s in &run.steps {
            let pending = run.edges.iter().filter(|(_, d)| *d == s.step).count() as i64;
            let (status, ready) = if pending == 0 {
                ("READY", Some(now))
            } else {
                ("WAITING", None)
            };
            sqlx::query(
                "INSERT INTO step_runs (run_id, step, step_type, status, pending, max_failures, ready_time,
                 reuse_execution_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&run.run_id)
            .bind(&s.step)
            .bind(&s.step_type)
            .bind(status)
            .bind(pending)
            .bind(s.retries)
            .bind(ready)
            .bind(&s.reuse_execution_id)
            .execute(&mut *tx)
            .await?;
        }
        let record = self.run_in(&mut tx, &run.run_id).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn get_pipeline_run(&self, run_id: &str) -> Result<PipelineRunRecord> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUN_COLUMNS} FROM pipeline_runs WHERE run_id = $1"
        )))
        .bind(run_id)
        .fetch_optional(&self.reader)
        .await?;
        run_from_row(&found(row, || {
            format!("Pipeline run '{run_id}' does not exist.")
        })?)
    }

    async fn list_pipeline_runs(
        &self,
        pipeline: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PipelineRunRecord>> {
        self.list_filtered(
            OptionalFilter {
                head: &format!("SELECT {RUN_COLUMNS} FROM pipeline_runs"),
                filter: "WHERE pipeline = $2",
                tail: "ORDER BY created_time DESC, seq DESC LIMIT $1",
            },
            Bind::Int(limit),
            pipeline,
            run_from_row,
        )
        .await
    }

    async fn count_active_runs(&self, pipeline: &str) -> Result<i64> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM pipeline_runs WHERE status IN ('QUEUED', 'RUNNING') AND pipeline = $1",
        )
        .bind(pipeline)
        .fetch_one(&self.reader)
        .await?
        .try_get("n")?)
    }

    async fn list_step_runs(&self, run_id: &str) -> Result<Vec<StepRunRecord>> {
        sqlx::query(
            "SELECT run_id, step, status, attempts, failures, ready_time, lease_owner, execution_id, mlflow_run_id
             FROM step_runs WHERE run_id = $1 ORDER BY step",
        )
        .bind(run_id)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(step_from_row)
        .collect()
    }

    async fn step_executions(
        &self,
        run_id: &str,
        steps: &[String],
    ) -> Result<std::collections::BTreeMap<String, String>> {
        let mut found = std::collections::BTreeMap::new();
        for chunk in steps.chunks(500) {
            let sql = format!(
                "SELECT step, execution_id FROM step_runs WHERE run_id = $1 AND step IN ({})
                 AND execution_id IS NOT NULL",
                super::placeholders(2, chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(run_id);
            for step in chunk {
                q = q.bind(step);
            }
            for row in q.fetch_all(&self.reader).await? {
                found.insert(row.try_get("step")?, row.try_get("execution_id")?);
            }
        }
        Ok(found)
    }

    async fn cancel_pipeline_run(&self, run_id: &str) -> Result<PipelineRunRecord> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let run = self.run_in(&mut tx, run_id).await?;
        if !run.status.is_terminal() {
            sqlx::query("UPDATE pipeline_runs SET cancel_requested = 1 WHERE run_id = $1")
                .bind(run_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE step_runs SET status = 'CANCELLED' WHERE run_id = $1 AND status IN ('WAITING', 'READY')",
            )
            .bind(run_id)
            .execute(&mut *tx)
            .await?;
            self.finish_run_if_done(&mut tx, run_id, now).await?;
        }
        let run = self.run_in(&mut tx, run_id).await?;
        tx.commit().await?;
        Ok(run)
    }

    async fn claim_step(
        &self,
        worker_id: &str,
        host: &str,
        lease_ms: i64,
        only_run: Option<&str>,
    ) -> Result<Option<ClaimedStep>> {
        let mut tx = self.begin().await?;
        let claimed = self
            .claim_in(&mut tx, worker_id, host, lease_ms, only_run)
            .await?;
        tx.commit().await?;
        Ok(claimed)
    }

    async fn heartbeat(
        &self,
        run_id: &str,
        step: &str,
        lease_token: &str,
        lease_ms: i64,
    ) -> Result<Heartbeat> {
        let mut tx = self.begin().await?;
        let updated = sqlx::query(
            "UPDATE step_runs SET lease_expires = $1 WHERE run_id = $2 AND step = $3
             AND status = 'RUNNING' AND lease_token = $4",
        )
        .bind(now_ms() + lease_ms)
        .bind(run_id)
        .bind(step)
        .bind(lease_token)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let beat = if updated == 0 {
            Heartbeat::Lost
        } else if self.run_in(&mut tx, run_id).await?.cancel_requested {
            Heartbeat::Cancelled
        } else {
            Heartbeat::Extended
        };
        tx.commit().await?;
        Ok(beat)
    }

    async fn set_step_mlflow_run(
        &self,
        run_id: &str,
        step: &str,
        mlflow_run_id: &str,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE step_runs SET mlflow_run_id = $1 WHERE run_id = $2 AND step = $3")
            .bind(mlflow_run_id)
            .bind(run_id)
            .bind(step)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn complete_step(&self, completion: Completion) -> Result<Completed> {
        let mut tx = self.begin().await?;
        let done = self.complete_in(&mut tx, &completion).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn find_cached_execution(&self, cache_key: &str) -> Result<Option<ExecutionRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE cache_key = $1
             AND status IN ('SUCCEEDED', 'CACHED') ORDER BY end_time DESC LIMIT 1"
        )))
        .bind(cache_key)
        .fetch_optional(&self.reader)
        .await?
        .as_ref()
        .map(execution_from_row)
        .transpose()
    }

    async fn previous_execution(
        &self,
        pipeline: &str,
        step: &str,
        exclude_run: &str,
    ) -> Result<Option<ExecutionRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE pipeline = $1 AND step = $2
             AND run_id <> $3 AND cache_document IS NOT NULL AND status <> 'RUNNING'
             ORDER BY start_time DESC LIMIT 1"
        )))
        .bind(pipeline)
        .bind(step)
        .bind(exclude_run)
        .fetch_optional(&self.reader)
        .await?
        .as_ref()
        .map(execution_from_row)
        .transpose()
    }

    async fn get_execution(&self, execution_id: &str) -> Result<ExecutionRecord> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE execution_id = $1"
        )))
        .bind(execution_id)
        .fetch_optional(&self.reader)
        .await?;
        execution_from_row(&found(row, || {
            format!("Execution '{execution_id}' does not exist.")
        })?)
    }

    async fn list_executions(&self, run_id: &str) -> Result<Vec<ExecutionRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EXECUTION_COLUMNS} FROM executions WHERE run_id = $1 ORDER BY start_time, execution_id"
        )))
        .bind(run_id)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(execution_from_row)
        .collect()
    }

    async fn execution_outputs(&self, execution_id: &str) -> Result<Vec<PortArtifact>> {
        let rows = sqlx::query(
            "SELECT e.port, a.artifact_id, a.kind, a.uri, a.digest, a.properties, a.created_time
             FROM lineage_events e JOIN lineage_artifacts a ON a.artifact_id = e.artifact_id
             WHERE e.execution_id = $1 AND e.direction = 'OUTPUT' ORDER BY e.port",
        )
        .bind(execution_id)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PortArtifact {
                    port: r.try_get("port")?,
                    artifact: artifact_from_row(r)?,
                })
            })
            .collect()
    }

    async fn execution_events(&self, execution_id: &str) -> Result<Vec<EventRecord>> {
        sqlx::query(
            "SELECT execution_id, artifact_id, direction, port, time FROM lineage_events
             WHERE execution_id = $1 ORDER BY direction, port",
        )
        .bind(execution_id)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(event_from_row)
        .collect()
    }

    async fn artifact_events(&self, artifact_id: &str) -> Result<Vec<EventRecord>> {
        sqlx::query(
            "SELECT execution_id, artifact_id, direction, port, time FROM lineage_events
             WHERE artifact_id = $1 ORDER BY time, execution_id",
        )
        .bind(artifact_id)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(event_from_row)
        .collect()
    }

    async fn get_artifact(&self, artifact_id: &str) -> Result<ArtifactRecord> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ARTIFACT_COLUMNS} FROM lineage_artifacts WHERE artifact_id = $1"
        )))
        .bind(artifact_id)
        .fetch_optional(&self.reader)
        .await?;
        artifact_from_row(&found(row, || {
            format!("Artifact '{artifact_id}' does not exist.")
        })?)
    }

    async fn find_artifacts_by_uri(&self, uri: &str) -> Result<Vec<ArtifactRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ARTIFACT_COLUMNS} FROM lineage_artifacts WHERE uri = $1 ORDER BY created_time DESC"
        )))
        .bind(uri)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(artifact_from_row)
        .collect()
    }

    async fn add_output_artifact(
        &self,
        execution_id: &str,
        port: &str,
        artifact: ArtifactRecord,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let pa = PortArtifact {
            port: port.to_string(),
            artifact,
        };
        self.insert_event(&mut tx, execution_id, "OUTPUT", &pa)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_firing(&self, firing: NewFiring) -> Result<Option<FiringRecord>> {
        let firing_id = Uuid::new_v4().simple().to_string();
        let mut tx = self.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO trigger_firings (firing_id, pipeline, trigger_name, kind, idempotency_key, cause,
             params, status, fired_time, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, 'FIRED', $8,
             (SELECT COALESCE(MAX(seq), 0) + 1 FROM trigger_firings))
             ON CONFLICT (pipeline, trigger_name, idempotency_key) DO NOTHING",
        )
        .bind(&firing_id)
        .bind(&firing.pipeline)
        .bind(&firing.trigger_name)
        .bind(&firing.kind)
        .bind(&firing.idempotency_key)
        .bind(&firing.cause)
        .bind(&firing.params)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if inserted == 0 {
            return Ok(None);
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {FIRING_COLUMNS} FROM trigger_firings WHERE firing_id = $1"
        )))
        .bind(&firing_id)
        .fetch_one(&self.writer)
        .await?;
        firing_from_row(&row).map(Some)
    }

    async fn set_firing_outcome(
        &self,
        firing_id: &str,
        status: &str,
        run_id: Option<&str>,
        message: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE trigger_firings SET status = $1, run_id = $2, message = $3 WHERE firing_id = $4")
            .bind(status)
            .bind(run_id)
            .bind(message)
            .bind(firing_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_firings(&self, pipeline: Option<&str>, limit: i64) -> Result<Vec<FiringRecord>> {
        self.list_filtered(
            OptionalFilter {
                head: &format!("SELECT {FIRING_COLUMNS} FROM trigger_firings"),
                filter: "WHERE pipeline = $2",
                tail: "ORDER BY fired_time DESC, seq DESC LIMIT $1",
            },
            Bind::Int(limit),
            pipeline,
            firing_from_row,
        )
        .await
    }

    async fn move_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
        actor: &str,
        reason: &str,
    ) -> Result<Option<i64>> {
        esteira_core::validation::alias(alias)?;
        let v = esteira_core::validation::version_number(version)?;
        self.get_model_version(name, version).await?;
        let mut tx = self.begin().await?;
        let previous = self
            .set_alias_in(&mut tx, name, alias, v, actor, reason)
            .await?;
        tx.commit().await?;
        Ok(previous)
    }

    async fn alias_history(&self, name: &str, alias: Option<&str>) -> Result<Vec<AliasChange>> {
        self.model_exists(name).await?;
        self.list_filtered(
            OptionalFilter {
                head: "SELECT id, name, alias, version, previous_version, actor, reason, time \
                       FROM alias_history WHERE name = $1",
                filter: "AND alias = $2",
                tail: "ORDER BY id",
            },
            Bind::Text(name.to_string()),
            alias,
            alias_change_from_row,
        )
        .await
    }
}
