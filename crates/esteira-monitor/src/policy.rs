//! The retrain policy engine: rules over the latest monitor windows, then cooldown and
//! budget, giving one outcome per evaluation.
//!
//! The engine is pure: it reads window summaries and the times of past retrains and says
//! what to do and why; [`crate::service`] records the decision and fires the pipeline.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::spec::{Bound, Condition, PolicySpec};

/// What a policy needs to know about one monitor window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowSummary {
    /// The window's end, milliseconds since the epoch.
    pub window_end: i64,
    /// Whether the window raised an alert.
    pub alarm: bool,
    /// The dataset-level drift verdict, when drift was computed.
    pub drift: Option<bool>,
    /// The share of drifted columns, when drift was computed.
    pub drift_share: Option<f64>,
    /// The watched metric's name and value, when computed.
    pub metric: Option<MetricValue>,
    /// The detectors that fired in the window.
    #[serde(default)]
    pub detectors_fired: Vec<String>,
}

/// A performance metric's value and its band.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricValue {
    /// The metric's name (`mae`, ...).
    pub name: String,
    /// Its value in the window.
    pub value: f64,
    /// The band's lower edge, once known.
    pub band_lower: Option<f64>,
    /// The band's upper edge, once known.
    pub band_upper: Option<f64>,
}

/// A policy evaluation's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// A rule holds: retrain now.
    Retrain,
    /// No rule holds: retraining would waste compute.
    Avoided,
    /// A rule holds but the previous retrain is too recent.
    Cooldown,
    /// A rule holds but the period's retrains are spent.
    Budget,
}

impl Outcome {
    /// The outcome's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Retrain => "retrain",
            Outcome::Avoided => "avoided",
            Outcome::Cooldown => "cooldown",
            Outcome::Budget => "budget",
        }
    }
}

/// One rule's check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleCheck {
    /// The monitor read.
    pub monitor: String,
    /// The condition, as written.
    pub when: String,
    /// Whether it held over the required windows.
    pub met: bool,
    /// Why, with the values seen.
    pub detail: String,
}

/// The engine's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// What to do.
    pub outcome: Outcome,
    /// Every rule's check, in the policy's order.
    pub rules: Vec<RuleCheck>,
    /// Why a retrain was held back, for `cooldown` and `budget`.
    pub held_back: Option<String>,
}

/// Evaluates `policy` at time `at`.
///
/// `windows` holds each monitor's summaries by window end (only those ending at or
/// before `at` are read); `past_retrains` the evaluated times of the policy's earlier
/// `retrain` decisions.
///
/// A rule with `windows = k` holds when the monitor's latest k windows all meet its
/// condition. When a rule holds: `cooldown` if a retrain happened less than the cooldown
/// before `at`, `budget` if the budget's period before `at` already holds that many
/// retrains, else `retrain`. When none holds: `avoided`.
///
/// # Errors
/// [`crate::MonitorError::Config`] when the policy's durations or conditions are invalid.
pub fn evaluate(
    policy: &PolicySpec,
    at: i64,
    windows: &BTreeMap<String, Vec<WindowSummary>>,
    past_retrains: &[i64],
) -> Result<Verdict> {
    let conditions = policy.conditions()?;
    let rules: Vec<RuleCheck> = policy
        .rules
        .iter()
        .zip(&conditions)
        .map(|(rule, condition)| {
            let latest: Vec<&WindowSummary> = windows
                .get(&rule.monitor)
                .map(|all| all.iter().filter(|w| w.window_end <= at).collect())
                .unwrap_or_default();
            let (met, detail) = check_rule(condition, &latest, rule.windows);
            RuleCheck {
                monitor: rule.monitor.clone(),
                when: rule.when.clone(),
                met,
                detail,
            }
        })
        .collect();
    if !rules.iter().any(|r| r.met) {
        return Ok(Verdict {
            outcome: Outcome::Avoided,
            rules,
            held_back: None,
        });
    }
    let held_back = hold_back(policy, at, past_retrains)?;
    let outcome = held_back.as_ref().map_or(Outcome::Retrain, |(o, _)| *o);
    Ok(Verdict {
        outcome,
        rules,
        held_back: held_back.map(|(_, why)| why),
    })
}

fn hold_back(
    policy: &PolicySpec,
    at: i64,
    past_retrains: &[i64],
) -> Result<Option<(Outcome, String)>> {
    let before: Vec<i64> = past_retrains.iter().copied().filter(|t| *t < at).collect();
    let cooldown = policy.cooldown_ms()?;
    if let Some(last) = before.iter().max()
        && cooldown > 0
        && at - last < cooldown
    {
        return Ok(Some((
            Outcome::Cooldown,
            format!(
                "the previous retrain was {} ago, within the cooldown of {}",
                human_duration(at - last),
                human_duration(cooldown)
            ),
        )));
    }
    if let Some((retrains, per)) = policy.budget_ms()? {
        let spent = before.iter().filter(|t| at - **t < per).count();
        if spent >= retrains as usize {
            return Ok(Some((
                Outcome::Budget,
                format!(
                    "{spent} retrain(s) in the last {} already spend the budget of {retrains}",
                    human_duration(per)
                ),
            )));
        }
    }
    Ok(None)
}

/// Checks a condition over the latest `needed` windows of `history` (by window end).
fn check_rule(condition: &Condition, history: &[&WindowSummary], needed: usize) -> (bool, String) {
    if history.len() < needed {
        return (
            false,
            format!(
                "needs {needed} window(s), the monitor has {} so far",
                history.len()
            ),
        );
    }
    let latest = &history[history.len() - needed..];
    let mut seen = Vec::with_capacity(needed);
    for window in latest {
        match check_window(condition, window) {
            Ok((true, what)) => seen.push(what),
            Ok((false, what)) => {
                let count = if needed > 1 {
                    format!(" (needed in each of the last {needed} windows)")
                } else {
                    String::new()
                };
                return (false, format!("not met: {what}{count}"));
            }
            Err(why) => return (false, format!("not computed: {why}")),
        }
    }
    (true, format!("met: {}", seen.join("; ")))
}

/// Whether one window meets the condition, with the values compared.
fn check_window(
    condition: &Condition,
    w: &WindowSummary,
) -> std::result::Result<(bool, String), String> {
    match condition {
        Condition::Alarm => Ok((w.alarm, format!("alarm {}", w.alarm))),
        Condition::Drift => w
            .drift
            .map(|d| (d, format!("dataset drift {d}")))
            .ok_or_else(|| "the window has no drift result".to_string()),
        Condition::Detector(name) => {
            let fired = w.detectors_fired.iter().any(|d| d == name);
            Ok((fired, format!("detector {name} fired {fired}")))
        }
        Condition::Compare { value, op, bound } => {
            let (actual, band) = if value == "drift_share" {
                let share = w
                    .drift_share
                    .ok_or_else(|| "the window has no drift share".to_string())?;
                (share, None)
            } else {
                let m = w
                    .metric
                    .as_ref()
                    .filter(|m| &m.name == value)
                    .ok_or_else(|| format!("the window has no {value}"))?;
                (m.value, Some(m))
            };
            let (limit, limit_name) = match bound {
                Bound::Value(v) => (*v, format!("{v}")),
                Bound::BandUpper => (
                    band.and_then(|m| m.band_upper)
                        .ok_or_else(|| format!("{value} has no band yet"))?,
                    "band.upper".to_string(),
                ),
                Bound::BandLower => (
                    band.and_then(|m| m.band_lower)
                        .ok_or_else(|| format!("{value} has no band yet"))?,
                    "band.lower".to_string(),
                ),
            };
            let holds = op.holds(actual, limit);
            let shown = if matches!(bound, Bound::Value(_)) {
                limit_name
            } else {
                format!("{limit_name} {}", round4(limit))
            };
            Ok((
                holds,
                format!("{value} {} {op} {shown} is {holds}", round4(actual)),
            ))
        }
    }
}

fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

/// `3d 4h`, `25m`, `1500ms`: a short human form of a duration in milliseconds.
pub fn human_duration(ms: i64) -> String {
    const UNITS: [(i64, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    let mut rest = ms;
    let mut parts = Vec::new();
    for (size, unit) in UNITS {
        if rest >= size {
            parts.push(format!("{}{unit}", rest / size));
            rest %= size;
        }
        if parts.len() == 2 {
            break;
        }
    }
    if parts.is_empty() {
        format!("{ms}ms")
    } else {
        parts.join(" ")
    }
}
