//! Hyperparameter search over any model: grid, random and successive-halving search of a
//! [`SearchSpace`] declared in JSON, with trials run in parallel on rayon.
//!
//! # The search space
//!
//! A JSON object from parameter name to a parameter declaration; each declaration has exactly one of
//! `float`, `int` or `choice` (unknown fields are errors):
//!
//! ```json
//! {
//!   "alpha":          {"float": [0.001, 10.0], "log": true, "steps": 5},
//!   "max_leaf_nodes": {"int": [8, 64], "grid": [8, 16, 32, 64]},
//!   "learning_rate":  {"float": [0.01, 0.3]},
//!   "loss":           {"choice": ["squared_error", "absolute_error"]}
//! }
//! ```
//!
//! - `float: [low, high]`: a real in `low <= x <= high` (finite, `low < high`);
//! - `int: [low, high]`: an integer in `low <= k <= high` (`low < high`; a fixed value is a one-value
//!   `choice`);
//! - `log: true` (ranges only): sampled uniformly in `ln x` (needs `low > 0`);
//! - `steps: n` (ranges only, `n >= 2`): the grid values, `n` points from `low` to `high` evenly
//!   spaced (in `ln x` with `log`), like NumPy's `linspace` / `geomspace`; for `int` they are rounded
//!   half to even (NumPy's `round`) and repeated values dropped, and `n` may not exceed the number
//!   of integers in the range;
//! - `grid: [..]` (ranges only, instead of `steps`): explicit grid values, within the range, no
//!   repeats;
//! - `choice: [..]` (non-empty, no repeats): any JSON values, taken as given.
//!
//! Random and halving search sample ranges from the whole range; grid search (and halving over a
//! grid) needs `steps` or `grid` on every range. Parameters are ordered by name.
//! [`SearchSpace`] implements `Deserialize` (any serde format, e.g. a table of `pipeline.toml`) with
//! the same validation as [`SearchSpace::from_json`].
//!
//! # Strategies and trials
//!
//! A [`Trial`] is one evaluation of the objective `Fn(&Trial, budget) -> Result<f64, E>`. The
//! budget is `1.0` except in successive halving, where rung `r` of `R` gets `eta^(r - (R-1))` (e.g.
//! 1/9, 1/3, 1): the objective decides what it means (a fraction of the data, of the trees, ...).
//! - [`Strategy::Grid`]: every point of the cartesian product, in scikit-learn's `ParameterGrid`
//!   order (parameters by name, the last one varying fastest);
//! - [`Strategy::Random`]: `trials` points drawn with a seeded generator, all before any trial runs,
//!   so the trials and their ids depend only on the seed, never on the number of threads;
//! - [`Strategy::Halving`] / [`Strategy::HalvingGrid`]: successive halving (as scikit-learn's
//!   `HalvingRandomSearchCV` / `HalvingGridSearchCV` with the budget as the resource): `n`
//!   candidates (random, or the grid), `R = 1 + floor(log_eta(n))` rungs; after each rung but the
//!   last the best `ceil(count / eta)` candidates that succeeded go on to the next one.
//!
//! Trials of a rung run in parallel (at most `max_parallelism` at a time, rayon's global pool when
//! unset). A trial whose objective returns an error (or a NaN / infinite value) is recorded as
//! [`Outcome::Failed`] and the search goes on; only when every trial fails is the search an error.
//! The best trial is the best value in the direction asked, ties going to the lowest trial id; in
//! successive halving it is taken from the highest rung with a successful trial. A panic in the
//! objective propagates to the caller.

use std::fmt::Display;

use rayon::prelude::*;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::rng::SplitMix64;

/// Errors of search-space parsing, configuration and search.
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    /// The search space is not a JSON object of parameter declarations.
    #[error("search space must be a JSON object of parameters: {0}")]
    SpaceNotObject(String),
    /// The search space declares no parameter.
    #[error("search space has no parameters")]
    EmptySpace,
    /// A parameter declaration is invalid.
    #[error("search space parameter '{param}': {reason}")]
    InvalidParam {
        /// The parameter.
        param: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Grid search over a range without `steps` or `grid`.
    #[error(
        "search space parameter '{0}': grid search needs `steps` or `grid` on the range (or a `choice`)"
    )]
    NotGriddable(String),
    /// The cartesian product has more points than `usize` can count.
    #[error("the grid has too many points to enumerate")]
    GridTooLarge,
    /// A strategy or configuration setting is out of range.
    #[error("invalid tuning setting `{setting}`: {reason}")]
    InvalidSetting {
        /// The setting (`trials`, `candidates`, `eta`, `max_parallelism`).
        setting: &'static str,
        /// Why.
        reason: String,
    },
    /// The rayon thread pool could not be built.
    #[error("cannot start the tuning thread pool: {0}")]
    ThreadPool(String),
    /// Every trial failed.
    #[error("all {trials} trials failed; trial {first_id}: {first_error}")]
    AllTrialsFailed {
        /// Number of trials run.
        trials: usize,
        /// The id of the first failed trial.
        first_id: usize,
        /// Its error.
        first_error: String,
    },
    /// A trial parameter asked for by [`Trial::f64`], [`Trial::i64`] or [`Trial::str`] is missing
    /// or of another type.
    #[error("trial parameter '{param}': {reason}")]
    TrialParam {
        /// The parameter.
        param: String,
        /// Why.
        reason: String,
    },
}

/// Result alias for this module.
pub type Result<T, E = TuneError> = std::result::Result<T, E>;

/// One parameter of a [`SearchSpace`], validated.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// A real range, with its grid values if declared (`steps` or `grid`).
    Float {
        /// Lower bound (inclusive).
        low: f64,
        /// Upper bound (inclusive).
        high: f64,
        /// Sampled uniformly in `ln x`.
        log: bool,
        /// Grid values, or `None` if the range has neither `steps` nor `grid`.
        grid: Option<Vec<f64>>,
    },
    /// An integer range, with its grid values if declared.
    Int {
        /// Lower bound (inclusive).
        low: i64,
        /// Upper bound (inclusive).
        high: i64,
        /// Sampled log-uniformly: `floor(exp(U(ln low, ln(high + 1))))`, capped at `high`.
        log: bool,
        /// Grid values, or `None` if the range has neither `steps` nor `grid`.
        grid: Option<Vec<i64>>,
    },
    /// One of these values.
    Choice(Vec<Value>),
}

/// The declaration of one parameter as written (see the module documentation).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParam {
    float: Option<Vec<f64>>,
    int: Option<Vec<i64>>,
    choice: Option<Vec<Value>>,
    log: Option<bool>,
    steps: Option<usize>,
    grid: Option<Vec<Value>>,
}

/// A validated search space: parameters ordered by name.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchSpace {
    params: Vec<(String, Param)>,
}

impl<'de> Deserialize<'de> for SearchSpace {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        SearchSpace::from_value(&value).map_err(serde::de::Error::custom)
    }
}

impl SearchSpace {
    /// Parses and validates a search space from JSON text.
    ///
    /// # Errors
    /// [`TuneError::SpaceNotObject`] if the text is not a JSON object; otherwise as
    /// [`from_value`](Self::from_value).
    pub fn from_json(text: &str) -> Result<Self> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| TuneError::SpaceNotObject(e.to_string()))?;
        Self::from_value(&value)
    }

    /// Validates a search space given as a JSON value (e.g. converted from `pipeline.toml`).
    ///
    /// # Errors
    /// [`TuneError::SpaceNotObject`] if `value` is not an object, [`TuneError::EmptySpace`] if it
    /// has no parameters, and [`TuneError::InvalidParam`] naming the parameter for: an unknown
    /// field or a value of the wrong type, none or several of `float` / `int` / `choice`, a range
    /// that is not `[low, high]`, a non-finite bound, `low > high`, an empty range (`low == high`),
    /// `log` with `low <= 0`, `log` / `steps` / `grid` on a `choice`, `steps < 2` (or more steps
    /// than integers in an `int` range), both `steps` and `grid`, an empty `grid` or `choice`, a
    /// grid value outside the range or not an integer for `int`, and repeated grid or choice values.
    pub fn from_value(value: &Value) -> Result<Self> {
        let Value::Object(map) = value else {
            return Err(TuneError::SpaceNotObject(format!(
                "got {}",
                json_type_name(value)
            )));
        };
        if map.is_empty() {
            return Err(TuneError::EmptySpace);
        }
        let mut params = map
            .iter()
            .map(|(name, decl)| Ok((name.clone(), parse_param(name, decl)?)))
            .collect::<Result<Vec<_>>>()?;
        params.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self { params })
    }

    /// The parameters, ordered by name.
    pub fn params(&self) -> &[(String, Param)] {
        &self.params
    }

    /// Every point of the grid, in scikit-learn's `ParameterGrid` order (parameters by name, the
    /// last varying fastest).
    ///
    /// # Errors
    /// [`TuneError::NotGriddable`] naming the first range without `steps` or `grid`;
    /// [`TuneError::GridTooLarge`] if the number of points overflows `usize`.
    pub fn grid(&self) -> Result<Vec<Map<String, Value>>> {
        let axes = self
            .params
            .iter()
            .map(|(name, param)| {
                let values: Vec<Value> = match param {
                    Param::Float { grid: Some(g), .. } => {
                        g.iter().map(|&v| float_value(v)).collect()
                    }
                    Param::Int { grid: Some(g), .. } => g.iter().map(|&v| Value::from(v)).collect(),
                    Param::Choice(values) => values.clone(),
                    Param::Float { grid: None, .. } | Param::Int { grid: None, .. } => {
                        return Err(TuneError::NotGriddable(name.clone()));
                    }
                };
                Ok((name, values))
            })
            .collect::<Result<Vec<_>>>()?;
        let total = axes
            .iter()
            .try_fold(1usize, |n, (_, v)| n.checked_mul(v.len()))
            .ok_or(TuneError::GridTooLarge)?;
        let mut points = Vec::with_capacity(total);
        let mut index = vec![0usize; axes.len()];
        for _ in 0..total {
            points.push(
                axes.iter()
                    .zip(&index)
                    .map(|((name, values), &i)| ((*name).clone(), values[i].clone()))
                    .collect(),
            );
            // Odometer: the last parameter varies fastest.
            for (slot, (_, values)) in index.iter_mut().zip(&axes).rev() {
                *slot += 1;
                if *slot < values.len() {
                    break;
                }
                *slot = 0;
            }
        }
        Ok(points)
    }

    /// One random point.
    fn sample(&self, rng: &mut SplitMix64) -> Map<String, Value> {
        self.params
            .iter()
            .map(|(name, param)| {
                let value = match param {
                    Param::Float { low, high, log, .. } => {
                        let u = rng.unit();
                        let x = if *log {
                            (low.ln() + u * (high.ln() - low.ln())).exp()
                        } else {
                            low + u * (high - low)
                        };
                        float_value(x.clamp(*low, *high))
                    }
                    Param::Int { low, high, log, .. } => {
                        let k = if *log {
                            let (a, b) = ((*low as f64).ln(), (*high as f64 + 1.0).ln());
                            let x = (a + rng.unit() * (b - a)).exp().floor();
                            // `as` saturates; the clamp keeps rounding at the ends inside the range.
                            (x as i64).clamp(*low, *high)
                        } else {
                            let span = (i128::from(*high) - i128::from(*low) + 1) as u128;
                            let offset = match u64::try_from(span) {
                                Ok(n) => rng.below(n),
                                Err(_) => rng.next_u64(),
                            };
                            (i128::from(*low) + i128::from(offset)) as i64
                        };
                        Value::from(k)
                    }
                    Param::Choice(values) => {
                        values[rng.below(values.len() as u64) as usize].clone()
                    }
                };
                (name.clone(), value)
            })
            .collect()
    }
}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A finite `f64` as a JSON number (every value this module produces is finite).
fn float_value(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

fn parse_param(name: &str, decl: &Value) -> Result<Param> {
    let invalid = |reason: String| TuneError::InvalidParam {
        param: name.to_string(),
        reason,
    };
    let raw: RawParam = serde_json::from_value(decl.clone()).map_err(|e| invalid(e.to_string()))?;
    let kinds: Vec<&str> = [
        ("float", raw.float.is_some()),
        ("int", raw.int.is_some()),
        ("choice", raw.choice.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, present)| present.then_some(k))
    .collect();
    if kinds.len() != 1 {
        return Err(invalid(format!(
            "needs exactly one of `float`, `int`, `choice`, got {}",
            if kinds.is_empty() {
                "none".to_string()
            } else {
                kinds.join(" and ")
            }
        )));
    }
    let log = raw.log.unwrap_or(false);
    if let Some(values) = raw.choice {
        for (field, present) in [
            ("log", raw.log.is_some()),
            ("steps", raw.steps.is_some()),
            ("grid", raw.grid.is_some()),
        ] {
            if present {
                return Err(invalid(format!(
                    "`{field}` applies to `float` and `int` ranges, not to `choice`"
                )));
            }
        }
        if values.is_empty() {
            return Err(invalid("`choice` is empty".into()));
        }
        check_distinct(&values, "choice").map_err(invalid)?;
        return Ok(Param::Choice(values));
    }
    if raw.steps.is_some() && raw.grid.is_some() {
        return Err(invalid("give either `steps` or `grid`, not both".into()));
    }
    if let Some(s) = raw.steps
        && s < 2
    {
        return Err(invalid(format!(
            "`steps` must be at least 2 (both ends of the range), got {s}"
        )));
    }
    if let Some(grid) = &raw.grid {
        if grid.is_empty() {
            return Err(invalid("`grid` is empty".into()));
        }
        check_distinct(grid, "grid").map_err(invalid)?;
    }
    if let Some(bounds) = raw.float {
        let [low, high] = bounds[..] else {
            return Err(invalid(format!(
                "`float` takes [low, high], got {} values",
                bounds.len()
            )));
        };
        if !low.is_finite() || !high.is_finite() {
            return Err(invalid(format!(
                "bounds must be finite, got [{low}, {high}]"
            )));
        }
        check_bounds(low, high, log).map_err(invalid)?;
        let grid = match (raw.steps, raw.grid) {
            (Some(steps), _) => Some(float_steps(low, high, log, steps)),
            (None, Some(values)) => Some(
                values
                    .iter()
                    .map(|v| {
                        let x = v
                            .as_f64()
                            .ok_or_else(|| format!("grid value {v} is not a number"))?;
                        if x < low || x > high {
                            return Err(format!("grid value {v} is outside [{low}, {high}]"));
                        }
                        Ok(x)
                    })
                    .collect::<std::result::Result<Vec<_>, String>>()
                    .map_err(invalid)?,
            ),
            (None, None) => None,
        };
        return Ok(Param::Float {
            low,
            high,
            log,
            grid,
        });
    }
    let bounds = raw.int.unwrap_or_default();
    let [low, high] = bounds[..] else {
        return Err(invalid(format!(
            "`int` takes [low, high], got {} values",
            bounds.len()
        )));
    };
    check_bounds(low, high, log).map_err(invalid)?;
    let grid = match (raw.steps, raw.grid) {
        (Some(steps), _) => {
            let count = i128::from(high) - i128::from(low) + 1;
            if steps as i128 > count {
                return Err(invalid(format!(
                    "`steps` {steps} exceeds the {count} integers in [{low}, {high}]"
                )));
            }
            let mut values: Vec<i64> = float_steps(low as f64, high as f64, log, steps)
                .into_iter()
                .map(|x| (x.round_ties_even() as i64).clamp(low, high))
                .collect();
            values.dedup();
            Some(values)
        }
        (None, Some(values)) => Some(
            values
                .iter()
                .map(|v| {
                    let k = v
                        .as_i64()
                        .ok_or_else(|| format!("grid value {v} is not an integer"))?;
                    if k < low || k > high {
                        return Err(format!("grid value {v} is outside [{low}, {high}]"));
                    }
                    Ok(k)
                })
                .collect::<std::result::Result<Vec<_>, String>>()
                .map_err(invalid)?,
        ),
        (None, None) => None,
    };
    Ok(Param::Int {
        low,
        high,
        log,
        grid,
    })
}

fn check_bounds<T: PartialOrd + Display + Copy + Default>(
    low: T,
    high: T,
    log: bool,
) -> std::result::Result<(), String> {
    if low > high {
        return Err(format!("low {low} > high {high}"));
    }
    if low == high {
        return Err(format!(
            "empty range [{low}, {high}]: low must be below high (a fixed value is a one-value `choice`)"
        ));
    }
    if log && low <= T::default() {
        return Err(format!("`log` needs low > 0, got low {low}"));
    }
    Ok(())
}

fn check_distinct(values: &[Value], field: &str) -> std::result::Result<(), String> {
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            return Err(format!("`{field}` value {v} appears twice"));
        }
    }
    Ok(())
}

/// `steps` points from `low` to `high` inclusive, evenly spaced (in `ln x` if `log`); the ends are
/// exact.
fn float_steps(low: f64, high: f64, log: bool, steps: usize) -> Vec<f64> {
    let last = (steps - 1) as f64;
    (0..steps)
        .map(|i| {
            if i == 0 {
                low
            } else if i == steps - 1 {
                high
            } else if log {
                (low.ln() + (high.ln() - low.ln()) * i as f64 / last).exp()
            } else {
                low + (high - low) * i as f64 / last
            }
        })
        .collect()
}

/// Whether lower or higher objective values are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Lower is better (losses, errors).
    Minimize,
    /// Higher is better (scores, accuracy).
    Maximize,
}

impl Direction {
    /// True when `a` is strictly better than `b`.
    fn better(self, a: f64, b: f64) -> bool {
        match self {
            Direction::Minimize => a < b,
            Direction::Maximize => a > b,
        }
    }
}

fn default_eta() -> usize {
    3
}

/// How to search. As JSON: `{"kind": "grid"}`, `{"kind": "random", "trials": 50, "seed": 1}`,
/// `{"kind": "halving", "candidates": 27, "seed": 1, "eta": 3}` (`eta` defaults to 3),
/// `{"kind": "halving_grid", "eta": 3}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Strategy {
    /// Every point of the grid.
    Grid,
    /// `trials` random points.
    Random {
        /// Number of trials (at least 1).
        trials: usize,
        /// Seed of the generator.
        seed: u64,
    },
    /// Successive halving over `candidates` random points.
    Halving {
        /// Number of initial candidates (at least 1).
        candidates: usize,
        /// Seed of the generator.
        seed: u64,
        /// Reduction factor (at least 2): the best `1/eta` go on, with `eta` times the budget.
        #[serde(default = "default_eta")]
        eta: usize,
    },
    /// Successive halving over every point of the grid.
    HalvingGrid {
        /// Reduction factor (at least 2).
        #[serde(default = "default_eta")]
        eta: usize,
    },
}

/// A search: strategy, direction and parallelism.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuneConfig {
    /// How candidates are chosen.
    pub strategy: Strategy,
    /// Whether the objective is minimised or maximised.
    pub direction: Direction,
    /// At most this many trials at a time (at least 1); rayon's global pool when `None`.
    #[serde(default)]
    pub max_parallelism: Option<usize>,
}

/// One evaluation of the objective.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Unique in the search, from 0 in the order trials are created.
    pub id: usize,
    /// The candidate (point of the space) evaluated: equal to `id` except in successive halving,
    /// where a candidate is evaluated once per rung it reaches.
    pub candidate: usize,
    /// The successive-halving rung (0 for grid and random search).
    pub rung: usize,
    /// Parameter values by name.
    pub params: Map<String, Value>,
}

impl Trial {
    fn param(&self, name: &str) -> Result<&Value> {
        self.params.get(name).ok_or_else(|| TuneError::TrialParam {
            param: name.to_string(),
            reason: "not in this trial".into(),
        })
    }

    fn wrong_type(name: &str, value: &Value, expected: &str) -> TuneError {
        TuneError::TrialParam {
            param: name.to_string(),
            reason: format!("expected {expected}, got {value}"),
        }
    }

    /// The parameter `name` as a number (an integer parameter converts).
    ///
    /// # Errors
    /// [`TuneError::TrialParam`] if it is missing or not a number.
    pub fn f64(&self, name: &str) -> Result<f64> {
        let value = self.param(name)?;
        value
            .as_f64()
            .ok_or_else(|| Self::wrong_type(name, value, "a number"))
    }

    /// The parameter `name` as an integer.
    ///
    /// # Errors
    /// [`TuneError::TrialParam`] if it is missing or not an integer.
    pub fn i64(&self, name: &str) -> Result<i64> {
        let value = self.param(name)?;
        value
            .as_i64()
            .ok_or_else(|| Self::wrong_type(name, value, "an integer"))
    }

    /// The parameter `name` as a string.
    ///
    /// # Errors
    /// [`TuneError::TrialParam`] if it is missing or not a string.
    pub fn str(&self, name: &str) -> Result<&str> {
        let value = self.param(name)?;
        value
            .as_str()
            .ok_or_else(|| Self::wrong_type(name, value, "a string"))
    }
}

/// What a trial gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The objective value (finite).
    Value(f64),
    /// The objective's error, or why its value was rejected (NaN or infinite).
    Failed(String),
}

/// A finished trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// The trial.
    pub trial: Trial,
    /// The budget handed to the objective.
    pub budget: f64,
    /// Its value or error.
    pub outcome: Outcome,
}

impl TrialRecord {
    /// The objective value, `None` if the trial failed.
    pub fn value(&self) -> Option<f64> {
        match self.outcome {
            Outcome::Value(v) => Some(v),
            Outcome::Failed(_) => None,
        }
    }
}

/// The outcome of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneResult {
    /// The best successful trial (see the module documentation).
    pub best: TrialRecord,
    /// Every trial, by id.
    pub trials: Vec<TrialRecord>,
}

/// Told when each trial starts and finishes (e.g. to log it as an MLflow child run). Called from
/// the worker threads, possibly concurrently; every started trial is reported finished.
pub trait Observer: Sync {
    /// Trial `trial` is about to run with `budget`.
    fn trial_started(&self, trial: &Trial, budget: f64) {
        let _ = (trial, budget);
    }

    /// A trial finished (succeeded or failed).
    fn trial_finished(&self, record: &TrialRecord) {
        let _ = record;
    }
}

/// An [`Observer`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}

/// Runs a search of `space` with `config`, evaluating `objective(trial, budget)`.
///
/// # Errors
/// [`TuneError::InvalidSetting`] for `trials`, `candidates` or `max_parallelism` of 0 or `eta`
/// below 2; [`TuneError::NotGriddable`] / [`TuneError::GridTooLarge`] for grid strategies;
/// [`TuneError::ThreadPool`] if the pool cannot start; [`TuneError::AllTrialsFailed`] if no trial
/// succeeded. Failed trials are otherwise recorded, not errors.
///
/// # Panics
/// A panic in `objective` or `observer` propagates.
pub fn tune<F, E>(
    space: &SearchSpace,
    config: &TuneConfig,
    objective: F,
    observer: &dyn Observer,
) -> Result<TuneResult>
where
    F: Fn(&Trial, f64) -> Result<f64, E> + Sync,
    E: Display,
{
    let at_least = |setting: &'static str, value: usize, min: usize| {
        if value < min {
            Err(TuneError::InvalidSetting {
                setting,
                reason: format!("must be at least {min}, got {value}"),
            })
        } else {
            Ok(())
        }
    };
    match config.strategy {
        Strategy::Grid => {}
        Strategy::Random { trials, .. } => at_least("trials", trials, 1)?,
        Strategy::Halving {
            candidates, eta, ..
        } => {
            at_least("candidates", candidates, 1)?;
            at_least("eta", eta, 2)?;
        }
        Strategy::HalvingGrid { eta } => at_least("eta", eta, 2)?,
    }
    let pool = match config.max_parallelism {
        None => None,
        Some(n) => {
            at_least("max_parallelism", n, 1)?;
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .map_err(|e| TuneError::ThreadPool(e.to_string()))?,
            )
        }
    };
    let runner = Runner {
        objective: &objective,
        observer,
        pool: pool.as_ref(),
    };
    let sample = |n: usize, seed: u64| {
        let mut rng = SplitMix64::new(seed);
        (0..n).map(|_| space.sample(&mut rng)).collect::<Vec<_>>()
    };
    let (trials, best) = match config.strategy {
        Strategy::Grid => one_round(&runner, space.grid()?, config.direction),
        Strategy::Random { trials, seed } => {
            one_round(&runner, sample(trials, seed), config.direction)
        }
        Strategy::Halving {
            candidates,
            seed,
            eta,
        } => halving(&runner, sample(candidates, seed), eta, config.direction),
        Strategy::HalvingGrid { eta } => halving(&runner, space.grid()?, eta, config.direction),
    };
    match best {
        Some(i) => Ok(TuneResult {
            best: trials[i].clone(),
            trials,
        }),
        None => {
            let (first_id, first_error) = trials
                .iter()
                .find_map(|r| match &r.outcome {
                    Outcome::Failed(e) => Some((r.trial.id, e.clone())),
                    Outcome::Value(_) => None,
                })
                .unwrap_or_default();
            Err(TuneError::AllTrialsFailed {
                trials: trials.len(),
                first_id,
                first_error,
            })
        }
    }
}

struct Runner<'a, F> {
    objective: &'a F,
    observer: &'a dyn Observer,
    pool: Option<&'a rayon::ThreadPool>,
}

impl<F, E> Runner<'_, F>
where
    F: Fn(&Trial, f64) -> Result<f64, E> + Sync,
    E: Display,
{
    /// Runs the trials in parallel; records in the order given.
    fn run(&self, trials: Vec<Trial>, budget: f64) -> Vec<TrialRecord> {
        let work = || {
            trials
                .into_par_iter()
                .map(|trial| {
                    self.observer.trial_started(&trial, budget);
                    let outcome = match (self.objective)(&trial, budget) {
                        Ok(v) if v.is_finite() => Outcome::Value(v),
                        Ok(v) => Outcome::Failed(format!("objective returned {v}")),
                        Err(e) => Outcome::Failed(e.to_string()),
                    };
                    let record = TrialRecord {
                        trial,
                        budget,
                        outcome,
                    };
                    self.observer.trial_finished(&record);
                    record
                })
                .collect()
        };
        match self.pool {
            Some(pool) => pool.install(work),
            None => work(),
        }
    }
}

/// Index of the best successful record among `indices` (ties: the first).
fn best_of(
    records: &[TrialRecord],
    indices: impl Iterator<Item = usize>,
    direction: Direction,
) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for i in indices {
        if let Some(v) = records[i].value()
            && best.is_none_or(|(_, b)| direction.better(v, b))
        {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

/// Grid or random search: every point once with the full budget.
fn one_round<F, E>(
    runner: &Runner<'_, F>,
    points: Vec<Map<String, Value>>,
    direction: Direction,
) -> (Vec<TrialRecord>, Option<usize>)
where
    F: Fn(&Trial, f64) -> Result<f64, E> + Sync,
    E: Display,
{
    let trials = points
        .into_iter()
        .enumerate()
        .map(|(id, params)| Trial {
            id,
            candidate: id,
            rung: 0,
            params,
        })
        .collect();
    let records = runner.run(trials, 1.0);
    let best = best_of(&records, 0..records.len(), direction);
    (records, best)
}

/// Successive halving (see the module documentation).
fn halving<F, E>(
    runner: &Runner<'_, F>,
    candidates: Vec<Map<String, Value>>,
    eta: usize,
    direction: Direction,
) -> (Vec<TrialRecord>, Option<usize>)
where
    F: Fn(&Trial, f64) -> Result<f64, E> + Sync,
    E: Display,
{
    // R = 1 + floor(log_eta(n)), in integers.
    let mut rungs = 1;
    let mut reach = eta;
    while reach <= candidates.len() {
        rungs += 1;
        match reach.checked_mul(eta) {
            Some(next) => reach = next,
            None => break,
        }
    }
    let mut records: Vec<TrialRecord> = Vec::new();
    let mut alive: Vec<usize> = (0..candidates.len()).collect();
    let mut best = None;
    for rung in 0..rungs {
        let budget = 1.0 / (eta as f64).powi((rungs - 1 - rung) as i32);
        let first = records.len();
        let trials = alive
            .iter()
            .enumerate()
            .map(|(k, &c)| Trial {
                id: first + k,
                candidate: c,
                rung,
                params: candidates[c].clone(),
            })
            .collect();
        records.extend(runner.run(trials, budget));
        if let Some(b) = best_of(&records, first..records.len(), direction) {
            best = Some(b);
        }
        let keep = alive.len().div_ceil(eta);
        let mut ranked: Vec<(usize, f64)> = (first..records.len())
            .filter_map(|i| records[i].value().map(|v| (i, v)))
            .collect();
        // Stable sort: equal values keep the order of their candidates.
        ranked.sort_by(|(_, a), (_, b)| match direction {
            Direction::Minimize => a.total_cmp(b),
            Direction::Maximize => b.total_cmp(a),
        });
        alive = ranked
            .iter()
            .take(keep)
            .map(|&(i, _)| records[i].trial.candidate)
            .collect();
        alive.sort_unstable();
        if alive.is_empty() {
            break;
        }
    }
    (records, best)
}
