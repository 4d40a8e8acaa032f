//! The `gate` step: applies promotion rules to an `evaluate` report and writes the
//! [`Blessing`].
//!
//! Param `rules` (required): a table of metric name → rule, the rule format of the CLI's
//! gate file (MLflow's `MetricThreshold`): `greater_is_better` (required), and at least one
//! of `threshold`, `min_absolute_change`, `min_relative_change`. Rules are evaluated by
//! [`esteira_ml::gate::evaluate`] with the report's candidate and champion metrics.
//!
//! Without a champion (the report's `champion` is null: first deployment, or a champion that
//! could not be scored) there is nothing to improve on, so only the `threshold` rules apply;
//! the change rules are skipped and say so in the reasons. (Given no baseline, the gate
//! module itself would fail every change rule, and a pipeline could then never deploy its
//! first model.) With a champion that lacks a metric, the change rules of that metric fail,
//! as the gate module decides.
//!
//! The blessing has one reason per rule: `<metric> <rule> passed|failed: <detail>`, or
//! `<metric> <rule> skipped: no champion to compare with`. A refusal is not a step failure;
//! the metric `blessed` is 1 or 0.

use std::collections::BTreeMap;

use esteira_ml::gate::{self, GateRule, MetricThreshold, RuleKind};
use serde_json::Value;

use super::evaluate::EvaluationReport;
use super::io::{self, param, param_error};
use super::model_params::check_known_params;
use crate::step::{Blessing, StepContext, StepError, StepOutput};

/// Runs the step.
///
/// # Errors
/// [`StepError::Param`] naming `rules` or `rules.<metric>` for a missing or malformed rule,
/// or a metric the report does not hold; [`StepError::Input`] when the report cannot be
/// read; [`StepError::Failed`] when the blessing cannot be written.
pub async fn run(ctx: &StepContext<'_>) -> Result<StepOutput, StepError> {
    check_known_params(ctx, "`gate`", &["rules"])?;
    let rules = rules(ctx)?;
    let report: EvaluationReport = io::read_json(ctx, "report")?;
    for metric in rules.keys() {
        if !report.candidate.contains_key(metric) {
            let available: Vec<&str> = report.candidate.keys().map(String::as_str).collect();
            return Err(param_error(
                &format!("rules.{metric}"),
                format!(
                    "the evaluation report has no candidate metric `{metric}` (metrics: {})",
                    available.join(", ")
                ),
            ));
        }
    }
    let blessing = decide(&rules, &report)?;
    for line in &blessing.reasons {
        ctx.log.line(line.clone());
    }
    ctx.log.line(if blessing.blessed {
        "blessed"
    } else {
        "not blessed"
    });
    let out = io::write_json(ctx, "blessing", &blessing)?;
    Ok(StepOutput {
        outputs: BTreeMap::from([("blessing".to_string(), out)]),
        metrics: BTreeMap::from([(
            "blessed".to_string(),
            if blessing.blessed { 1.0 } else { 0.0 },
        )]),
    })
}

/// The `rules` param, each rule validated.
fn rules(ctx: &StepContext<'_>) -> Result<BTreeMap<String, MetricThreshold>, StepError> {
    let table = match param(ctx, "rules") {
        None | Some(Value::Null) => return Err(param_error("rules", "is required".into())),
        Some(Value::Object(table)) if table.is_empty() => {
            return Err(param_error("rules", "has no metric".into()));
        }
        Some(Value::Object(table)) => table,
        Some(other) => {
            return Err(param_error(
                "rules",
                format!("must be a table of metric rules, not {other}"),
            ));
        }
    };
    table
        .iter()
        .map(|(metric, rule)| {
            let key = format!("rules.{metric}");
            let rule: GateRule = serde_json::from_value(rule.clone())
                .map_err(|e| param_error(&key, e.to_string()))?;
            let threshold = rule
                .into_threshold(metric)
                .map_err(|e| param_error(&key, e.to_string()))?;
            Ok((metric.clone(), threshold))
        })
        .collect()
}

/// The verdict on `report` under `rules`; without a champion only the thresholds apply.
fn decide(
    rules: &BTreeMap<String, MetricThreshold>,
    report: &EvaluationReport,
) -> Result<Blessing, StepError> {
    let mut skipped = Vec::new();
    let applied: BTreeMap<String, MetricThreshold> = match &report.champion {
        Some(_) => rules.clone(),
        None => rules
            .iter()
            .filter_map(|(metric, rule)| {
                if rule.min_absolute_change.is_some() {
                    skipped.push(skip_reason(metric, RuleKind::MinAbsoluteChange));
                }
                if rule.min_relative_change.is_some() {
                    skipped.push(skip_reason(metric, RuleKind::MinRelativeChange));
                }
                let threshold = rule.threshold?;
                Some((
                    metric.clone(),
                    MetricThreshold::new(rule.greater_is_better).with_threshold(threshold),
                ))
            })
            .collect(),
    };
    let verdict = gate::evaluate(&applied, &report.candidate, report.champion.as_ref())
        .map_err(|e| param_error("rules", e.to_string()))?;
    let mut reasons: Vec<String> = verdict
        .metrics
        .iter()
        .flat_map(|m| {
            m.rules.iter().map(|r| {
                let result = if r.passed { "passed" } else { "failed" };
                format!("{} {} {result}: {}", m.metric, rule_name(r.rule), r.detail)
            })
        })
        .collect();
    reasons.extend(skipped);
    Ok(Blessing {
        blessed: verdict.passed,
        reasons,
    })
}

fn skip_reason(metric: &str, rule: RuleKind) -> String {
    format!(
        "{metric} {} skipped: no champion to compare with",
        rule_name(rule)
    )
}

fn rule_name(rule: RuleKind) -> &'static str {
    match rule {
        RuleKind::Threshold => "threshold",
        RuleKind::MinAbsoluteChange => "min_absolute_change",
        RuleKind::MinRelativeChange => "min_relative_change",
    }
}
