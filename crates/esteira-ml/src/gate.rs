//! The promotion gate: decides whether a candidate model may replace the baseline
//! (production) model, with MLflow's `MetricThreshold` semantics
//! (`mlflow/models/evaluation/validation.py`, `MetricThreshold` and `_validate`, MLflow 3.17).
//!
//! For each metric with a [`MetricThreshold`], with `c` the candidate value and `b` the
//! baseline value:
//!
//! - **missing candidate**: the metric fails and no rule is evaluated (every rule is
//!   reported as failed with that reason).
//! - **`threshold` t**: passes iff `c >= t` when greater is better, `c <= t` otherwise
//!   (non-strict). Evaluated even when the baseline is missing.
//! - **missing baseline**: if a `min_absolute_change` or `min_relative_change` rule is set
//!   and the baseline has no value for the metric (or there is no baseline at all), those
//!   rules fail with "baseline missing" and the metric fails.
//! - **`min_absolute_change` a** (> 0): passes iff `c >= b + a` (greater is better) or
//!   `c <= b - a` (lower is better), non-strict; `b ± a` is computed in `f64` first, as
//!   MLflow does before converting to `Decimal` (which then compares exactly, i.e. the same
//!   as comparing the `f64` values).
//! - **`min_relative_change` r** (in `[0, 1]`): if `b == 0` it falls back to "strictly
//!   better by 1e-10": `c >= b + 1e-10` / `c <= b - 1e-10`. Otherwise the relative change is
//!   `(c - b) / |b|` (greater is better) or `(b - c) / |b|` (lower is better) and the rule
//!   passes iff `change >= r` (MLflow fails iff `change < r`). Dividing by `|b|` keeps the
//!   direction right for negative baselines (e.g. R² < 0): with `b = -0.5`, `c = -0.4`,
//!   greater is better, the change is `+0.2`.
//! - the metric passes iff no rule failed and nothing was missing; the verdict passes iff
//!   every metric passes. Metrics present in the candidate but without a threshold are
//!   ignored.
//!
//! Deliberate differences from MLflow, all on inputs where MLflow crashes or silently
//! passes: a change rule with `min_relative_change = 0.0` and no baseline value reports a
//! missing baseline (MLflow's truthiness check skips it and then raises `TypeError`);
//! a non-empty baseline that lacks the metric is a missing baseline (MLflow raises
//! `KeyError`; only an empty baseline dict reaches its missing-baseline path);
//! `baseline = None` is "all baselines missing" (MLflow raises `TypeError`); a NaN or
//! infinite candidate or baseline value fails every rule that reads it (MLflow's
//! `change < r` is false for NaN, so a NaN candidate would pass the relative rule).
//! Non-finite values are written to JSON as `null`.
//!
//! `tests/vectors/mlflow_gate_crosscheck.py` replays the gate test cases through MLflow's
//! own `_validate` (all agree).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Offset used by MLflow when `min_relative_change` meets a baseline of exactly 0.
pub const ZERO_BASELINE_EPSILON: f64 = 1e-10;

/// Rules for one metric, as MLflow's `MetricThreshold`. At least one of the three rules must
/// be set; see [`MetricThreshold::validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricThreshold {
    /// Absolute bound on the candidate value (`>=` if greater is better, else `<=`).
    #[serde(default)]
    pub threshold: Option<f64>,
    /// Minimum improvement over the baseline, in metric units; must be > 0.
    #[serde(default)]
    pub min_absolute_change: Option<f64>,
    /// Minimum improvement over the baseline as a fraction of `|baseline|`; in `[0, 1]`.
    #[serde(default)]
    pub min_relative_change: Option<f64>,
    /// Whether a larger metric value is better.
    pub greater_is_better: bool,
}

impl MetricThreshold {
    /// A threshold with no rule yet; add rules with the `with_*` methods.
    pub fn new(greater_is_better: bool) -> Self {
        Self {
            threshold: None,
            min_absolute_change: None,
            min_relative_change: None,
            greater_is_better,
        }
    }

    /// Set the absolute `threshold` rule.
    pub fn with_threshold(mut self, t: f64) -> Self {
        self.threshold = Some(t);
        self
    }

    /// Set the `min_absolute_change` rule.
    pub fn with_min_absolute_change(mut self, a: f64) -> Self {
        self.min_absolute_change = Some(a);
        self
    }

    /// Set the `min_relative_change` rule.
    pub fn with_min_relative_change(mut self, r: f64) -> Self {
        self.min_relative_change = Some(r);
        self
    }

    /// Check the rule parameters as MLflow's `MetricThreshold.__init__` does.
    ///
    /// Errors ([`GateError::InvalidThreshold`]): no rule set; `threshold` not finite;
    /// `min_absolute_change` not finite or `<= 0`; `min_relative_change` NaN or outside
    /// `[0, 1]`.
    pub fn validate(&self, metric: &str) -> Result<(), GateError> {
        let bad = |reason: &str| {
            Err(GateError::InvalidThreshold {
                metric: metric.to_string(),
                reason: reason.to_string(),
            })
        };
        if self.threshold.is_none()
            && self.min_absolute_change.is_none()
            && self.min_relative_change.is_none()
        {
            return bad("no threshold was specified");
        }
        if let Some(t) = self.threshold
            && !t.is_finite()
        {
            return bad("`threshold` must be a finite number");
        }
        if let Some(a) = self.min_absolute_change
            && !(a.is_finite() && a > 0.0)
        {
            return bad("`min_absolute_change` must be a positive number");
        }
        if let Some(r) = self.min_relative_change
            && !(0.0..=1.0).contains(&r)
        {
            return bad("`min_relative_change` must be between 0 and 1");
        }
        Ok(())
    }
}

/// One metric's rule as written by people: a `[metrics.NAME]` table of the CLI's gate file
/// or a `rules.NAME` entry of a pipeline's `gate` step. It holds [`MetricThreshold`]'s
/// fields (`greater_is_better` required) and refuses unknown ones, so a misspelt rule is an
/// error rather than a rule silently left out.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateRule {
    /// Whether a larger metric value is better.
    pub greater_is_better: bool,
    /// See [`MetricThreshold::threshold`].
    pub threshold: Option<f64>,
    /// See [`MetricThreshold::min_absolute_change`].
    pub min_absolute_change: Option<f64>,
    /// See [`MetricThreshold::min_relative_change`].
    pub min_relative_change: Option<f64>,
}

impl GateRule {
    /// The rule as a [`MetricThreshold`] for `metric`, validated.
    ///
    /// # Errors
    /// As [`MetricThreshold::validate`].
    pub fn into_threshold(self, metric: &str) -> Result<MetricThreshold, GateError> {
        let threshold = MetricThreshold {
            threshold: self.threshold,
            min_absolute_change: self.min_absolute_change,
            min_relative_change: self.min_relative_change,
            greater_is_better: self.greater_is_better,
        };
        threshold.validate(metric)?;
        Ok(threshold)
    }
}

/// A gate configuration error (the verdict itself is never an error).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum GateError {
    /// A [`MetricThreshold`] has invalid parameters.
    #[error("invalid threshold for metric `{metric}`: {reason}")]
    InvalidThreshold { metric: String, reason: String },
}

/// Which rule a [`RuleOutcome`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    Threshold,
    MinAbsoluteChange,
    MinRelativeChange,
}

/// The result of one rule for one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleOutcome {
    pub rule: RuleKind,
    /// The rule parameter (threshold, minimum absolute or relative change).
    pub value: f64,
    /// For `threshold` and `min_absolute_change` (and the zero-baseline fallback of
    /// `min_relative_change`): the bound the candidate was compared with. For
    /// `min_relative_change`: the observed relative change. `None` if not evaluated.
    pub observed: Option<f64>,
    pub passed: bool,
    /// Human-readable explanation.
    pub detail: String,
}

/// The result for one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricVerdict {
    pub metric: String,
    pub greater_is_better: bool,
    pub candidate: Option<f64>,
    pub baseline: Option<f64>,
    pub missing_candidate: bool,
    /// A change rule is set but there is no baseline value.
    pub missing_baseline: bool,
    pub rules: Vec<RuleOutcome>,
    pub passed: bool,
}

/// The gate's decision, saved as the "blessing" JSON artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// True iff every metric passed.
    pub passed: bool,
    /// One entry per metric with a threshold, in metric-name order.
    pub metrics: Vec<MetricVerdict>,
}

impl Verdict {
    /// The metrics that failed.
    pub fn failures(&self) -> impl Iterator<Item = &MetricVerdict> {
        self.metrics.iter().filter(|m| !m.passed)
    }
}

/// Evaluate the candidate's metrics against `thresholds` and, for the change rules, the
/// baseline's metrics (`None` when there is no model in production yet: every change rule
/// then fails as missing its baseline). See the module docs for the exact rules.
///
/// Errors: [`GateError::InvalidThreshold`] if any threshold fails
/// [`MetricThreshold::validate`]; nothing is evaluated then.
pub fn evaluate(
    thresholds: &BTreeMap<String, MetricThreshold>,
    candidate: &BTreeMap<String, f64>,
    baseline: Option<&BTreeMap<String, f64>>,
) -> Result<Verdict, GateError> {
    for (name, t) in thresholds {
        t.validate(name)?;
    }
    let metrics: Vec<MetricVerdict> = thresholds
        .iter()
        .map(|(name, t)| {
            evaluate_metric(
                name,
                t,
                candidate.get(name).copied(),
                baseline.and_then(|b| b.get(name).copied()),
            )
        })
        .collect();
    Ok(Verdict {
        passed: metrics.iter().all(|m| m.passed),
        metrics,
    })
}

/// `c` is at least as good as `bound` (MLflow's `>=` / `<=` comparator); false for NaN.
fn at_least_as_good(c: f64, bound: f64, greater_is_better: bool) -> bool {
    if greater_is_better {
        c >= bound
    } else {
        c <= bound
    }
}

fn shift(b: f64, by: f64, greater_is_better: bool) -> f64 {
    if greater_is_better { b + by } else { b - by }
}

fn evaluate_metric(
    name: &str,
    t: &MetricThreshold,
    candidate: Option<f64>,
    baseline: Option<f64>,
) -> MetricVerdict {
    let gib = t.greater_is_better;
    let cmp = if gib { ">=" } else { "<=" };
    let has_change_rule = t.min_absolute_change.is_some() || t.min_relative_change.is_some();
    let missing_candidate = candidate.is_none();
    let missing_baseline = !missing_candidate && has_change_rule && baseline.is_none();
    let mut rules = Vec::new();

    let not_evaluated = |rule, value, detail: &str| RuleOutcome {
        rule,
        value,
        observed: None,
        passed: false,
        detail: detail.to_string(),
    };

    if let Some(tv) = t.threshold {
        rules.push(match candidate {
            None => not_evaluated(RuleKind::Threshold, tv, "candidate metric missing"),
            Some(c) => {
                let passed = at_least_as_good(c, tv, gib);
                RuleOutcome {
                    rule: RuleKind::Threshold,
                    value: tv,
                    observed: Some(tv),
                    passed,
                    detail: format!("candidate {c} {cmp} threshold {tv}: {passed}"),
                }
            }
        });
    }

    if let Some(a) = t.min_absolute_change {
        rules.push(match (candidate, baseline) {
            (None, _) => not_evaluated(RuleKind::MinAbsoluteChange, a, "candidate metric missing"),
            (_, None) => not_evaluated(RuleKind::MinAbsoluteChange, a, "baseline metric missing"),
            (Some(c), Some(b)) => {
                let bound = shift(b, a, gib);
                let passed = at_least_as_good(c, bound, gib);
                RuleOutcome {
                    rule: RuleKind::MinAbsoluteChange,
                    value: a,
                    observed: Some(bound),
                    passed,
                    detail: format!(
                        "candidate {c} {cmp} baseline {b} {} {a} = {bound}: {passed}",
                        if gib { "+" } else { "-" }
                    ),
                }
            }
        });
    }

    if let Some(r) = t.min_relative_change {
        rules.push(match (candidate, baseline) {
            (None, _) => not_evaluated(RuleKind::MinRelativeChange, r, "candidate metric missing"),
            (_, None) => not_evaluated(RuleKind::MinRelativeChange, r, "baseline metric missing"),
            (Some(c), Some(b)) if b == 0.0 => {
                let bound = shift(b, ZERO_BASELINE_EPSILON, gib);
                let passed = at_least_as_good(c, bound, gib);
                RuleOutcome {
                    rule: RuleKind::MinRelativeChange,
                    value: r,
                    observed: Some(bound),
                    passed,
                    detail: format!(
                        "baseline is 0, fallback to strict improvement: candidate {c} {cmp} \
                         {bound}: {passed}"
                    ),
                }
            }
            (Some(c), Some(b)) => {
                let change = if gib {
                    (c - b) / b.abs()
                } else {
                    (b - c) / b.abs()
                };
                // MLflow: failed = change < r. Written as `>=` so that NaN fails.
                let passed = change >= r;
                RuleOutcome {
                    rule: RuleKind::MinRelativeChange,
                    value: r,
                    observed: Some(change),
                    passed,
                    detail: format!(
                        "relative change {change} (candidate {c}, baseline {b}) >= {r}: {passed}"
                    ),
                }
            }
        });
    }

    let passed = !missing_candidate && !missing_baseline && rules.iter().all(|o| o.passed);
    MetricVerdict {
        metric: name.to_string(),
        greater_is_better: gib,
        candidate,
        baseline,
        missing_candidate,
        missing_baseline,
        rules,
        passed,
    }
}
