//! [`MonitorStore`] on SQLite and PostgreSQL.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Row, Transaction};

use super::{SqlStore, dyn_query, found, is_unique_violation, now_ms};
use crate::Result;
use crate::error::{Error, invalid};
use crate::monitors::{
    Decision, DefinitionKind, DefinitionRecord, MonitorResult, MonitorStore, NewDecision,
    NewMonitorResult,
};

fn table(kind: DefinitionKind) -> &'static str {
    match kind {
        DefinitionKind::Monitor => "monitors",
        DefinitionKind::Policy => "retrain_policies",
    }
}

fn missing(kind: DefinitionKind, name: &str) -> String {
    format!("{} '{name}' does not exist.", capitalised(kind.as_str()))
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn conflict(message: String) -> Error {
    Error::Domain(esteira_core::Error::invalid_state(message))
}

fn require_json(what: &str, text: &str) -> Result<()> {
    serde_json::from_str::<serde_json::Value>(text)
        .map(|_| ())
        .map_err(|e| invalid(format!("{what} must be JSON: {e}")))
}

fn definition_from_row(row: &AnyRow) -> Result<DefinitionRecord> {
    Ok(DefinitionRecord {
        name: row.try_get("name")?,
        spec: row.try_get("spec")?,
        state: row.try_get("state")?,
        state_version: row.try_get("state_version")?,
        created_time: row.try_get("created_time")?,
        updated_time: row.try_get("updated_time")?,
    })
}

fn result_from_row(row: &AnyRow) -> Result<MonitorResult> {
    Ok(MonitorResult {
        id: row.try_get("id")?,
        monitor: row.try_get("monitor")?,
        window_start: row.try_get("window_start")?,
        window_end: row.try_get("window_end")?,
        alarm: row.try_get::<i64, _>("alarm")? != 0,
        drift_share: row.try_get("drift_share")?,
        report: row.try_get("report")?,
        created_time: row.try_get("created_time")?,
    })
}

fn decision_from_row(row: &AnyRow) -> Result<Decision> {
    Ok(Decision {
        id: row.try_get("id")?,
        policy: row.try_get("policy")?,
        evaluated_time: row.try_get("evaluated_time")?,
        outcome: row.try_get("outcome")?,
        reasons: row.try_get("reasons")?,
        pipeline: row.try_get("pipeline")?,
        firing_id: row.try_get("firing_id")?,
        compute_seconds: row.try_get("compute_seconds")?,
        created_time: row.try_get("created_time")?,
    })
}

const DECISION_COLUMNS: &str = "id, policy, evaluated_time, outcome, reasons, pipeline, firing_id, compute_seconds, created_time";

/// Moves the state of `name` from `expected_version` to the next version, or fails with
/// `INVALID_STATE` (someone else moved it) or `RESOURCE_DOES_NOT_EXIST`.
async fn advance_state(
    tx: &mut Transaction<'static, Any>,
    kind: DefinitionKind,
    name: &str,
    expected_version: i64,
    state: &str,
) -> Result<()> {
    require_json(&format!("{} state", kind.as_str()), state)?;
    let sql = format!(
        "UPDATE {} SET state = $1, state_version = state_version + 1, updated_time = $2
         WHERE name = $3 AND state_version = $4",
        table(kind)
    );
    let updated = dyn_query(sql)
        .bind(state)
        .bind(now_ms())
        .bind(name)
        .bind(expected_version)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if updated == 1 {
        return Ok(());
    }
    let sql = format!("SELECT state_version FROM {} WHERE name = $1", table(kind));
    let current: Option<i64> = sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?;
    let current = found(current, || missing(kind, name))?;
    Err(conflict(format!(
        "{} '{name}' was updated by another evaluation (state version {current}, expected {expected_version}); evaluate it again",
        kind.as_str()
    )))
}

fn check_result(monitor: &str, r: &NewMonitorResult) -> Result<()> {
    if r.window_end <= r.window_start {
        return Err(invalid(format!(
            "monitor '{monitor}': window end {} is not after its start {}",
            r.window_end, r.window_start
        )));
    }
    require_json(&format!("monitor '{monitor}': report"), &r.report)
}

async fn insert_result(
    tx: &mut Transaction<'static, Any>,
    monitor: &str,
    r: &NewMonitorResult,
    now: i64,
) -> Result<()> {
    let inserted = sqlx::query(
        "INSERT INTO monitor_results (monitor, window_start, window_end, alarm, drift_share, report, created_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(monitor)
    .bind(r.window_start)
    .bind(r.window_end)
    .bind(i64::from(r.alarm))
    .bind(r.drift_share)
    .bind(&r.report)
    .bind(now)
    .execute(&mut **tx)
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => Err(conflict(format!(
            "monitor '{monitor}': the window ending at {} is already recorded",
            r.window_end
        ))),
        other => other.map(|_| ()).map_err(Error::from),
    }
}

#[async_trait]
impl MonitorStore for SqlStore {
    async fn put_definition(
        &self,
        kind: DefinitionKind,
        name: &str,
        spec: &str,
        reset_state: bool,
    ) -> Result<DefinitionRecord> {
        if name.trim().is_empty() {
            return Err(invalid(format!(
                "{}: 'name' must not be empty",
                kind.as_str()
            )));
        }
        require_json(&format!("{} '{name}': spec", kind.as_str()), spec)?;
        let now = now_ms();
        let keep_or_reset = if reset_state {
            "state = '{}', state_version = t.state_version + 1,"
        } else {
            ""
        };
        let sql = format!(
            "INSERT INTO {t} AS t (name, spec, state, state_version, created_time, updated_time)
             VALUES ($1, $2, '{{}}', 0, $3, $3)
             ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, {keep_or_reset}
             updated_time = excluded.updated_time",
            t = table(kind)
        );
        let mut tx = self.begin().await?;
        dyn_query(sql)
            .bind(name)
            .bind(spec)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.get_definition(kind, name).await
    }

    async fn get_definition(&self, kind: DefinitionKind, name: &str) -> Result<DefinitionRecord> {
        let sql = format!(
            "SELECT name, spec, state, state_version, created_time, updated_time FROM {} WHERE name = $1",
            table(kind)
        );
        let row = dyn_query(sql)
            .bind(name)
            .fetch_optional(&self.writer)
            .await?;
        definition_from_row(&found(row, || missing(kind, name))?)
    }

    async fn list_definitions(&self, kind: DefinitionKind) -> Result<Vec<DefinitionRecord>> {
        let sql = format!(
            "SELECT name, spec, state, state_version, created_time, updated_time FROM {} ORDER BY name",
            table(kind)
        );
        dyn_query(sql)
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(definition_from_row)
            .collect()
    }

    async fn delete_definition(&self, kind: DefinitionKind, name: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let sql = format!("DELETE FROM {} WHERE name = $1", table(kind));
        let deleted = dyn_query(sql)
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if kind == DefinitionKind::Monitor {
            sqlx::query("DELETE FROM monitor_results WHERE monitor = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
        found((deleted > 0).then_some(()), || missing(kind, name))?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_monitor_results(
        &self,
        monitor: &str,
        expected_version: i64,
        state: &str,
        results: &[NewMonitorResult],
    ) -> Result<()> {
        for r in results {
            check_result(monitor, r)?;
        }
        let mut tx = self.begin().await?;
        advance_state(
            &mut tx,
            DefinitionKind::Monitor,
            monitor,
            expected_version,
            state,
        )
        .await?;
        let now = now_ms();
        for r in results {
            insert_result(&mut tx, monitor, r, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_monitor_results(
        &self,
        monitor: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<MonitorResult>> {
        sqlx::query(
            "SELECT id, monitor, window_start, window_end, alarm, drift_share, report, created_time
             FROM monitor_results WHERE monitor = $1 AND window_end >= $2 AND window_end < $3
             ORDER BY window_end",
        )
        .bind(monitor)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(result_from_row)
        .collect()
    }

    async fn record_decision(
        &self,
        policy: &str,
        expected_version: i64,
        state: &str,
        decision: &NewDecision,
    ) -> Result<Decision> {
        decision.validate()?;
        let mut tx = self.begin().await?;
        advance_state(
            &mut tx,
            DefinitionKind::Policy,
            policy,
            expected_version,
            state,
        )
        .await?;
        let sql = format!(
            "INSERT INTO retrain_decisions (policy, evaluated_time, outcome, reasons, pipeline, firing_id, compute_seconds, created_time)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {DECISION_COLUMNS}"
        );
        let row = dyn_query(sql)
            .bind(policy)
            .bind(decision.evaluated_time)
            .bind(&decision.outcome)
            .bind(&decision.reasons)
            .bind(&decision.pipeline)
            .bind(decision.firing_id.clone())
            .bind(decision.compute_seconds)
            .bind(now_ms())
            .fetch_one(&mut *tx)
            .await;
        let row = match row {
            Err(e) if is_unique_violation(&e) => {
                return Err(conflict(format!(
                    "policy '{policy}': the evaluation at {} is already recorded",
                    decision.evaluated_time
                )));
            }
            other => other?,
        };
        let recorded = decision_from_row(&row)?;
        tx.commit().await?;
        Ok(recorded)
    }

    async fn list_decisions(
        &self,
        policy: Option<&str>,
        from_ms: i64,
        to_ms: i64,
        limit: i64,
    ) -> Result<Vec<Decision>> {
        let sql = format!(
            "SELECT {DECISION_COLUMNS} FROM retrain_decisions
             WHERE (CAST($1 AS TEXT) IS NULL OR policy = $1) AND evaluated_time >= $2 AND evaluated_time < $3
             ORDER BY evaluated_time DESC, policy DESC LIMIT $4"
        );
        let mut decisions = dyn_query(sql)
            .bind(policy)
            .bind(from_ms)
            .bind(to_ms)
            .bind(limit.max(0))
            .fetch_all(&self.reader)
            .await?
            .iter()
            .map(decision_from_row)
            .collect::<Result<Vec<_>>>()?;
        decisions.reverse();
        Ok(decisions)
    }
}
