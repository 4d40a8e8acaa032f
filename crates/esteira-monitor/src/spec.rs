//! `monitors.toml`: monitors and retrain policies, parsed and checked.
//!
//! ```toml
//! [[monitor]]
//! name = "demand-accuracy"
//! endpoint = "demand"          # or: files = "data/live/*.parquet" / query = "SELECT ..." with database
//! every = "1d"                 # windows end at multiples of this (UTC)
//! window = "7d"                # each result covers the last 7 days
//!
//! [monitor.drift]
//! reference = "data/train.parquet"
//! columns = ["price", "promo"]
//! methods = { price = "psi" }
//! thresholds = { price = 0.2 }
//! drift_share = 0.5
//!
//! [monitor.performance]
//! metric = "mae"
//! band = { k = 3.0, reference_windows = 4 }
//! detectors = ["page_hinkley"]
//!
//! [[policy]]
//! name = "demand-retrain"
//! pipeline = "demand"
//! trigger = "monitor"
//! cooldown = "7d"
//! budget = { retrains = 4, per = "30d" }
//! rules = [
//!   { monitor = "demand-accuracy", when = "mae > band.upper" },
//!   { monitor = "demand-drift", when = "drift_share >= 0.5", windows = 3 },
//! ]
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{MonitorError, Result};

/// A `monitors.toml` file: monitors and policies.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorsFile {
    /// The monitors.
    #[serde(default)]
    pub monitor: Vec<MonitorSpec>,
    /// The retrain policies.
    #[serde(default)]
    pub policy: Vec<PolicySpec>,
}

/// One monitor: where its data comes from, its windows, and what it checks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorSpec {
    /// Unique among monitors.
    pub name: String,
    /// The serving endpoint whose prediction log (and ground truth) is monitored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Parquet or CSV files (a path or glob) holding the monitored rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<String>,
    /// A SQL query on `database` returning the monitored rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The PostgreSQL URL `query` runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// For `files` and `query`: the column holding each row's time (a timestamp, a date,
    /// or milliseconds since the epoch), which places rows in windows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_column: Option<String>,
    /// How often a window ends (`1d`, `6h`, ...); windows end at multiples of it since the
    /// epoch (UTC).
    pub every: String,
    /// How long each window is; defaults to `every`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// Data drift against a reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftSpec>,
    /// Model performance once ground truth is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance: Option<PerformanceSpec>,
}

/// Drift settings of a monitor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftSpec {
    /// The reference data: Parquet or CSV files (a path or glob), e.g. the training data.
    pub reference: String,
    /// The columns compared; defaults to every column of the reference (except the time
    /// column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// A method per column (Evidently's names); others get Evidently's default choice.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub methods: BTreeMap<String, String>,
    /// A threshold per column; others get their method's default.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub thresholds: BTreeMap<String, f64>,
    /// The share of drifted columns at which the dataset drifts (default 0.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_share: Option<f64>,
}

/// Performance settings of a monitor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerformanceSpec {
    /// The metric watched: `mae`, `rmse`, `mape`, `smape`, `bias` or `accuracy`.
    pub metric: String,
    /// For `files`/`query` monitors: the column with the prediction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction_column: Option<String>,
    /// For `files`/`query` monitors: the column with the observed value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_column: Option<String>,
    /// How late ground truth may arrive after its prediction (default `7d`): the window's
    /// ground truth is paired with the predictions made up to this long before the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_delay: Option<String>,
    /// The alarm band around the metric's normal values.
    #[serde(default)]
    pub band: BandSpec,
    /// Sequential detectors run over the residuals: `cusum`, `page_hinkley`, `adwin`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detectors: Vec<String>,
}

/// Where an alarm band comes from: the first `reference_windows` windows with a value, or
/// given values (e.g. a backtest's folds), widened by `k` standard deviations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandSpec {
    /// Standard deviations on each side of the mean (default 3).
    #[serde(default = "default_k")]
    pub k: f64,
    /// How many first windows make the band when `values` is not given (default 4).
    #[serde(default = "default_reference_windows")]
    pub reference_windows: usize,
    /// The metric's values in normal conditions (e.g. backtest folds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<f64>>,
}

fn default_k() -> f64 {
    3.0
}

fn default_reference_windows() -> usize {
    4
}

impl Default for BandSpec {
    fn default() -> Self {
        BandSpec {
            k: default_k(),
            reference_windows: default_reference_windows(),
            values: None,
        }
    }
}

/// A retrain policy: rules over monitor results, with cooldown and budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Unique among policies.
    pub name: String,
    /// The deployed pipeline a retrain runs.
    pub pipeline: String,
    /// The pipeline's hook trigger fired (default `monitor`).
    #[serde(default = "default_trigger")]
    pub trigger: String,
    /// No retrain within this long after the previous one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<String>,
    /// At most so many retrains per period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetSpec>,
    /// Retrain when any rule holds.
    pub rules: Vec<RuleSpec>,
}

fn default_trigger() -> String {
    "monitor".to_string()
}

/// At most `retrains` retrains in any `per` period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    /// How many retrains.
    pub retrains: u32,
    /// The period (`30d`).
    pub per: String,
}

/// One rule: a condition on a monitor's latest windows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// The monitor whose results are read.
    pub monitor: String,
    /// The condition (see [`Condition`]).
    pub when: String,
    /// How many consecutive latest windows must meet it (default 1).
    #[serde(default = "default_windows")]
    pub windows: usize,
}

fn default_windows() -> usize {
    1
}

/// A rule's condition, parsed from `when`:
/// - `alarm`: the window raised an alert;
/// - `drift`: the dataset drifted;
/// - `drift_share >= 0.5` (any of `>`, `>=`, `<`, `<=`);
/// - `mae > band.upper`, `mae < band.lower`: the metric outside its band;
/// - `mae > 12.5`: the metric against a number;
/// - `detector page_hinkley`: that detector fired in the window.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// The window's alarm flag.
    Alarm,
    /// The dataset-level drift verdict.
    Drift,
    /// A value compared with a number or the band.
    Compare {
        /// `drift_share` or a performance metric's name.
        value: String,
        /// The comparison.
        op: Comparison,
        /// The other side.
        bound: Bound,
    },
    /// A sequential detector fired.
    Detector(String),
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// `>`
    Greater,
    /// `>=`
    GreaterOrEqual,
    /// `<`
    Less,
    /// `<=`
    LessOrEqual,
}

impl Comparison {
    /// Whether `a op b`.
    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Comparison::Greater => a > b,
            Comparison::GreaterOrEqual => a >= b,
            Comparison::Less => a < b,
            Comparison::LessOrEqual => a <= b,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Comparison::Greater => ">",
            Comparison::GreaterOrEqual => ">=",
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
        }
    }
}

impl std::fmt::Display for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.symbol())
    }
}

/// The right side of a comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    /// A number.
    Value(f64),
    /// The band's upper edge.
    BandUpper,
    /// The band's lower edge.
    BandLower,
}

/// The metrics a performance monitor may watch.
pub const METRICS: [&str; 6] = ["mae", "rmse", "mape", "smape", "bias", "accuracy"];
/// The sequential detectors.
pub const DETECTORS: [&str; 3] = ["cusum", "page_hinkley", "adwin"];

impl Condition {
    /// Parses a rule's `when`.
    ///
    /// # Errors
    /// A message saying what is accepted.
    pub fn parse(text: &str) -> std::result::Result<Condition, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.as_slice() {
            ["alarm"] => Ok(Condition::Alarm),
            ["drift"] => Ok(Condition::Drift),
            ["detector", name] if DETECTORS.contains(name) => {
                Ok(Condition::Detector(name.to_string()))
            }
            ["detector", name] => Err(format!(
                "unknown detector {name:?}; use one of {DETECTORS:?}"
            )),
            [value, op, bound] => Ok(Condition::Compare {
                value: parse_value_name(value)?,
                op: parse_op(op)?,
                bound: parse_bound(bound)?,
            }),
            _ => Err(format!(
                "{text:?} is not a condition; use `alarm`, `drift`, `detector NAME`, \
                 `drift_share >= 0.5`, `METRIC > band.upper` or `METRIC > NUMBER`"
            )),
        }
    }
}

fn parse_value_name(name: &str) -> std::result::Result<String, String> {
    if name == "drift_share" || METRICS.contains(&name) {
        Ok(name.to_string())
    } else {
        Err(format!(
            "unknown value {name:?}; use drift_share or a metric of {METRICS:?}"
        ))
    }
}

fn parse_op(op: &str) -> std::result::Result<Comparison, String> {
    match op {
        ">" => Ok(Comparison::Greater),
        ">=" => Ok(Comparison::GreaterOrEqual),
        "<" => Ok(Comparison::Less),
        "<=" => Ok(Comparison::LessOrEqual),
        other => Err(format!("unknown comparison {other:?}; use >, >=, < or <=")),
    }
}

fn parse_bound(bound: &str) -> std::result::Result<Bound, String> {
    match bound {
        "band.upper" => Ok(Bound::BandUpper),
        "band.lower" => Ok(Bound::BandLower),
        number => number
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Bound::Value)
            .ok_or_else(|| format!("{number:?} is neither a number nor band.upper / band.lower")),
    }
}

/// Parses `500ms`, `30s`, `10m`, `2h`, `7d` into milliseconds (more than zero).
///
/// # Errors
/// A message saying what is accepted.
pub fn parse_duration_ms(text: &str) -> std::result::Result<i64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s, 10m, 6h or 7d"))?;
    let unit_ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{text:?} has no unit; use ms, s, m, h or d")),
    };
    match value.checked_mul(unit_ms) {
        Some(ms) if ms > 0 => Ok(ms),
        Some(_) => Err(format!("{text:?} must be longer than zero")),
        None => Err(format!("{text:?} is too long")),
    }
}

fn config(field: String, reason: impl Into<String>) -> MonitorError {
    MonitorError::Config {
        field,
        reason: reason.into(),
    }
}

impl MonitorsFile {
    /// Parses and checks a `monitors.toml`.
    ///
    /// # Errors
    /// [`MonitorError::Config`]: for TOML errors the field is `file:line:column`, else the
    /// path of the field at fault (`monitor 'x'.drift.drift_share`).
    pub fn parse(text: &str, file_name: &str) -> Result<MonitorsFile> {
        let parsed: MonitorsFile = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|s| line_column(text, s.start))
                .unwrap_or((1, 1));
            config(
                format!("{file_name}:{line}:{column}"),
                e.message().to_string(),
            )
        })?;
        parsed.validate()?;
        Ok(parsed)
    }

    /// Checks names are unique, each monitor and policy is valid, and every rule names a
    /// monitor of this file (or `known_monitors`).
    ///
    /// # Errors
    /// [`MonitorError::Config`] naming the field.
    pub fn validate(&self) -> Result<()> {
        unique(self.monitor.iter().map(|m| m.name.as_str()), "monitor")?;
        unique(self.policy.iter().map(|p| p.name.as_str()), "policy")?;
        for m in &self.monitor {
            m.validate()?;
        }
        for p in &self.policy {
            p.validate()?;
        }
        Ok(())
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

fn unique<'a>(names: impl Iterator<Item = &'a str>, kind: &str) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for name in names {
        if name.trim().is_empty() {
            return Err(config(format!("{kind}.name"), "must not be empty"));
        }
        if !seen.insert(name) {
            return Err(config(
                format!("{kind} '{name}'"),
                format!("two {kind}s are named {name:?}"),
            ));
        }
    }
    Ok(())
}

impl MonitorSpec {
    /// The window's end period in milliseconds.
    ///
    /// # Errors
    /// [`MonitorError::Config`] for a bad duration.
    pub fn every_ms(&self) -> Result<i64> {
        parse_duration_ms(&self.every).map_err(|e| config(self.field("every"), e))
    }

    /// The window's length in milliseconds (`window`, or `every`).
    ///
    /// # Errors
    /// [`MonitorError::Config`] for a bad duration.
    pub fn window_ms(&self) -> Result<i64> {
        match &self.window {
            Some(w) => parse_duration_ms(w).map_err(|e| config(self.field("window"), e)),
            None => self.every_ms(),
        }
    }

    fn field(&self, name: &str) -> String {
        format!("monitor '{}'.{name}", self.name)
    }

    /// How late ground truth may arrive, in milliseconds (`performance.label_delay`, default
    /// 7 days; 0 without `[performance]`).
    ///
    /// # Errors
    /// [`MonitorError::Config`] for a bad duration.
    pub fn label_delay_ms(&self) -> Result<i64> {
        match self.performance.as_ref().map(|p| p.label_delay.as_deref()) {
            None => Ok(0),
            Some(None) => Ok(7 * 86_400_000),
            Some(Some(d)) => {
                parse_duration_ms(d).map_err(|e| config(self.field("performance.label_delay"), e))
            }
        }
    }

    /// Checks the monitor.
    ///
    /// # Errors
    /// [`MonitorError::Config`] naming the field: not exactly one of `endpoint`, `files`,
    /// `query`; `query` without `database` (or the reverse); `files`/`query` without
    /// `time_column`; bad durations; neither `drift` nor `performance`; bad drift or
    /// performance settings.
    pub fn validate(&self) -> Result<()> {
        let sources = [&self.endpoint, &self.files, &self.query]
            .iter()
            .filter(|s| s.is_some())
            .count();
        if sources != 1 {
            return Err(config(
                self.field("endpoint"),
                "give exactly one source: endpoint, files or query",
            ));
        }
        if self.query.is_some() != self.database.is_some() {
            return Err(config(
                self.field("database"),
                "a query needs its database (a postgres:// URL), and a database its query",
            ));
        }
        if self.endpoint.is_none() && self.time_column.is_none() {
            return Err(config(
                self.field("time_column"),
                "required with files or query: it places rows in windows",
            ));
        }
        self.every_ms()?;
        self.window_ms()?;
        if self.drift.is_none() && self.performance.is_none() {
            return Err(config(
                self.field("drift"),
                "a monitor needs [drift], [performance] or both",
            ));
        }
        if let Some(d) = &self.drift {
            self.validate_drift(d)?;
        }
        if let Some(p) = &self.performance {
            self.validate_performance(p)?;
        }
        Ok(())
    }

    fn validate_drift(&self, d: &DriftSpec) -> Result<()> {
        if d.reference.trim().is_empty() {
            return Err(config(self.field("drift.reference"), "must not be empty"));
        }
        if let Some(share) = d.drift_share
            && !(share > 0.0 && share <= 1.0)
        {
            return Err(config(
                self.field("drift.drift_share"),
                format!("{share} is not in (0, 1]"),
            ));
        }
        for (column, method) in &d.methods {
            if let Err(MonitorError::Config { reason, .. }) = method.parse::<crate::drift::Method>()
            {
                return Err(config(
                    self.field(&format!("drift.methods.{column}")),
                    reason,
                ));
            }
        }
        for (column, threshold) in &d.thresholds {
            if !threshold.is_finite() || *threshold < 0.0 {
                return Err(config(
                    self.field(&format!("drift.thresholds.{column}")),
                    format!("{threshold} is not a finite number >= 0"),
                ));
            }
        }
        Ok(())
    }

    fn validate_performance(&self, p: &PerformanceSpec) -> Result<()> {
        if !METRICS.contains(&p.metric.as_str()) {
            return Err(config(
                self.field("performance.metric"),
                format!("unknown metric {:?}; use one of {METRICS:?}", p.metric),
            ));
        }
        if self.endpoint.is_none() && (p.prediction_column.is_none() || p.target_column.is_none()) {
            return Err(config(
                self.field("performance.prediction_column"),
                "files and query monitors need prediction_column and target_column",
            ));
        }
        self.label_delay_ms()?;
        if !(p.band.k.is_finite() && p.band.k > 0.0) {
            return Err(config(
                self.field("performance.band.k"),
                format!("{} is not a number > 0", p.band.k),
            ));
        }
        match &p.band.values {
            Some(values) if values.len() < 2 || values.iter().any(|v| !v.is_finite()) => {
                return Err(config(
                    self.field("performance.band.values"),
                    "needs at least 2 finite values",
                ));
            }
            None if p.band.reference_windows < 2 => {
                return Err(config(
                    self.field("performance.band.reference_windows"),
                    "must be at least 2 (a band needs a standard deviation)",
                ));
            }
            _ => {}
        }
        for d in &p.detectors {
            if !DETECTORS.contains(&d.as_str()) {
                return Err(config(
                    self.field("performance.detectors"),
                    format!("unknown detector {d:?}; use {DETECTORS:?}"),
                ));
            }
        }
        Ok(())
    }
}

impl PolicySpec {
    fn field(&self, name: &str) -> String {
        format!("policy '{}'.{name}", self.name)
    }

    /// The cooldown in milliseconds (0 without one).
    ///
    /// # Errors
    /// [`MonitorError::Config`] for a bad duration.
    pub fn cooldown_ms(&self) -> Result<i64> {
        match &self.cooldown {
            Some(c) => parse_duration_ms(c).map_err(|e| config(self.field("cooldown"), e)),
            None => Ok(0),
        }
    }

    /// The budget as (retrains, period in milliseconds).
    ///
    /// # Errors
    /// [`MonitorError::Config`] for a bad period.
    pub fn budget_ms(&self) -> Result<Option<(u32, i64)>> {
        self.budget
            .as_ref()
            .map(|b| {
                parse_duration_ms(&b.per)
                    .map(|per| (b.retrains, per))
                    .map_err(|e| config(self.field("budget.per"), e))
            })
            .transpose()
    }

    /// The rules' conditions, in order.
    ///
    /// # Errors
    /// [`MonitorError::Config`] naming the rule.
    pub fn conditions(&self) -> Result<Vec<Condition>> {
        self.rules
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Condition::parse(&r.when)
                    .map_err(|e| config(self.field(&format!("rules[{i}].when")), e))
            })
            .collect()
    }

    /// Checks the policy.
    ///
    /// # Errors
    /// [`MonitorError::Config`] naming the field: an empty pipeline or trigger, no rules,
    /// a rule with 0 windows or a bad condition, bad durations, a budget of 0 retrains.
    pub fn validate(&self) -> Result<()> {
        if self.pipeline.trim().is_empty() {
            return Err(config(self.field("pipeline"), "must not be empty"));
        }
        if self.trigger.trim().is_empty() {
            return Err(config(self.field("trigger"), "must not be empty"));
        }
        if self.rules.is_empty() {
            return Err(config(
                self.field("rules"),
                "a policy needs at least one rule",
            ));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.windows == 0 {
                return Err(config(
                    self.field(&format!("rules[{i}].windows")),
                    "must be at least 1",
                ));
            }
            if rule.monitor.trim().is_empty() {
                return Err(config(
                    self.field(&format!("rules[{i}].monitor")),
                    "must not be empty",
                ));
            }
        }
        self.conditions()?;
        self.cooldown_ms()?;
        if let Some((0, _)) = self.budget_ms()? {
            return Err(config(
                self.field("budget.retrains"),
                "must be at least 1 (remove the policy to stop retraining)",
            ));
        }
        Ok(())
    }
}
