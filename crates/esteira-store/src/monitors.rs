//! Monitors, retrain policies, the results of monitor windows and the retrain decisions.
//!
//! A monitor's or a policy's definition is JSON text that the monitoring crate parses and
//! validates; so is the state each keeps between evaluations (a cursor, detector states, a
//! reference profile). A state changes only together with the results or the decision that
//! produced it, in one transaction, and only when the caller saw the latest state
//! (`expected_version`): two servers evaluating the same monitor cannot both record a window.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::error::invalid;

/// Which definitions a call is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefinitionKind {
    /// A drift or performance monitor.
    Monitor,
    /// A retrain policy.
    Policy,
}

impl DefinitionKind {
    /// `monitor` or `policy`, as messages name it.
    pub fn as_str(self) -> &'static str {
        match self {
            DefinitionKind::Monitor => "monitor",
            DefinitionKind::Policy => "policy",
        }
    }
}

/// A stored monitor or policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefinitionRecord {
    /// Its name, unique within its kind.
    pub name: String,
    /// Its definition, as JSON.
    pub spec: String,
    /// Its progress between evaluations, as JSON (`{}` when new).
    pub state: String,
    /// Incremented at every state change, starting at 0.
    pub state_version: i64,
    /// Milliseconds since the epoch.
    pub created_time: i64,
    /// Milliseconds since the epoch.
    pub updated_time: i64,
}

/// One evaluated window of a monitor, to record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewMonitorResult {
    /// The window's start, milliseconds since the epoch (inclusive).
    pub window_start: i64,
    /// The window's end, milliseconds since the epoch (exclusive); unique per monitor.
    pub window_end: i64,
    /// Whether the window raised an alert.
    pub alarm: bool,
    /// The share of drifted columns, when drift was computed.
    pub drift_share: Option<f64>,
    /// The window's report, as JSON.
    pub report: String,
}

/// A recorded monitor window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorResult {
    /// Its id, increasing in recording order.
    pub id: i64,
    /// The monitor's name.
    pub monitor: String,
    /// See [`NewMonitorResult`].
    pub window_start: i64,
    /// See [`NewMonitorResult`].
    pub window_end: i64,
    /// See [`NewMonitorResult`].
    pub alarm: bool,
    /// See [`NewMonitorResult`].
    pub drift_share: Option<f64>,
    /// See [`NewMonitorResult`].
    pub report: String,
    /// When it was recorded, milliseconds since the epoch.
    pub created_time: i64,
}

/// One evaluation of a retrain policy, to record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewDecision {
    /// The time the policy was evaluated for, milliseconds since the epoch; unique per
    /// policy.
    pub evaluated_time: i64,
    /// `retrain`, `avoided`, `cooldown` or `budget`.
    pub outcome: String,
    /// The reasons, as JSON.
    pub reasons: String,
    /// The pipeline the policy retrains.
    pub pipeline: String,
    /// The pipeline firing a `retrain` caused.
    pub firing_id: Option<String>,
    /// The compute the decision cost (`retrain`) or saved (the others), in seconds, when it
    /// could be estimated.
    pub compute_seconds: Option<f64>,
}

/// The outcomes a decision may have.
pub const DECISION_OUTCOMES: [&str; 4] = ["retrain", "avoided", "cooldown", "budget"];

impl NewDecision {
    /// Checks the fields: a known outcome, a non-empty pipeline, reasons that are JSON, a
    /// finite non-negative `compute_seconds`.
    ///
    /// # Errors
    /// `INVALID_PARAMETER_VALUE` naming the field.
    pub fn validate(&self) -> Result<()> {
        if !DECISION_OUTCOMES.contains(&self.outcome.as_str()) {
            return Err(invalid(format!(
                "decision: 'outcome' {:?} is not one of {DECISION_OUTCOMES:?}",
                self.outcome
            )));
        }
        if self.pipeline.trim().is_empty() {
            return Err(invalid("decision: 'pipeline' must not be empty"));
        }
        if serde_json::from_str::<serde_json::Value>(&self.reasons).is_err() {
            return Err(invalid("decision: 'reasons' must be JSON"));
        }
        if let Some(s) = self.compute_seconds
            && !(s.is_finite() && s >= 0.0)
        {
            return Err(invalid(format!(
                "decision: 'compute_seconds' must be a finite number of seconds >= 0, got {s}"
            )));
        }
        Ok(())
    }
}

/// A recorded decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Its id, increasing in recording order.
    pub id: i64,
    /// The policy's name.
    pub policy: String,
    /// See [`NewDecision`].
    pub evaluated_time: i64,
    /// See [`NewDecision`].
    pub outcome: String,
    /// See [`NewDecision`].
    pub reasons: String,
    /// See [`NewDecision`].
    pub pipeline: String,
    /// See [`NewDecision`].
    pub firing_id: Option<String>,
    /// See [`NewDecision`].
    pub compute_seconds: Option<f64>,
    /// When it was recorded, milliseconds since the epoch.
    pub created_time: i64,
}

/// Monitors, policies, their results and decisions.
///
/// Time windows are half-open: `from_ms <= t < to_ms`.
#[async_trait]
pub trait MonitorStore: Send + Sync {
    /// Creates a monitor or policy, or replaces its definition. A new definition starts
    /// with state `{}`; replacing the definition keeps the state unless `reset_state`.
    ///
    /// # Errors
    /// `INVALID_PARAMETER_VALUE` for an empty name or a spec that is not JSON.
    async fn put_definition(
        &self,
        kind: DefinitionKind,
        name: &str,
        spec: &str,
        reset_state: bool,
    ) -> Result<DefinitionRecord>;
    /// A monitor or policy. `RESOURCE_DOES_NOT_EXIST` when unknown.
    async fn get_definition(&self, kind: DefinitionKind, name: &str) -> Result<DefinitionRecord>;
    /// Every monitor or policy, by name.
    async fn list_definitions(&self, kind: DefinitionKind) -> Result<Vec<DefinitionRecord>>;
    /// Deletes a monitor (with its results) or a policy (its decisions stay).
    /// `RESOURCE_DOES_NOT_EXIST` when unknown.
    async fn delete_definition(&self, kind: DefinitionKind, name: &str) -> Result<()>;

    /// Records a monitor's evaluated windows and its new state, all or nothing.
    ///
    /// # Errors
    /// `RESOURCE_DOES_NOT_EXIST` for an unknown monitor; `INVALID_STATE` when the monitor's
    /// state version is not `expected_version` (someone else recorded first) or a window end
    /// is already recorded; `INVALID_PARAMETER_VALUE` for a window that ends before it starts,
    /// a state or report that is not JSON.
    async fn record_monitor_results(
        &self,
        monitor: &str,
        expected_version: i64,
        state: &str,
        results: &[NewMonitorResult],
    ) -> Result<()>;
    /// The recorded windows of `monitor` whose end is in the window, by end.
    async fn list_monitor_results(
        &self,
        monitor: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<MonitorResult>>;

    /// Records a policy evaluation and the policy's new state, all or nothing.
    ///
    /// # Errors
    /// As [`MonitorStore::record_monitor_results`], and those of [`NewDecision::validate`].
    async fn record_decision(
        &self,
        policy: &str,
        expected_version: i64,
        state: &str,
        decision: &NewDecision,
    ) -> Result<Decision>;
    /// Decisions evaluated in the window (of one policy, or all), by evaluated time then
    /// policy, at most `limit` (the latest ones when there are more).
    async fn list_decisions(
        &self,
        policy: Option<&str>,
        from_ms: i64,
        to_ms: i64,
        limit: i64,
    ) -> Result<Vec<Decision>>;
}
