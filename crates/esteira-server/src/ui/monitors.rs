//! Monitors and retrain decisions: the monitors and policies, a monitor's drift share and
//! watched metric against its band over time, its latest per-column drift and its alerts,
//! and the decision ledger with reasons and the compute each decision cost or saved.

use std::fmt::Write;

use axum::extract::{Path, State};
use esteira_monitor::service::{self, report_of};
use esteira_monitor::window::{MonitorState, WindowReport};
use esteira_store::monitors::{Decision, DefinitionKind};
use serde_json::Value;

use super::chart::{Chart, Series};
use super::html::{
    duration, enc, escape, headers, link, number, number_pager, opt_number, page, table, time,
};
use super::{PAGE_SIZE, Params, UiResult, page_of};
use crate::AppState;

/// Windows charted on a monitor page at most (the latest).
const MAX_CHARTED_WINDOWS: usize = 500;

/// Windows the per-column drift history shows at most (the latest).
const COLUMN_HISTORY_WINDOWS: usize = 20;

/// Decisions the ledger's totals cover at most (the latest).
const MAX_TOTALLED_DECISIONS: i64 = 10_000;

fn monitor_href(name: &str) -> String {
    format!("/ui/monitors/{}", enc(name))
}

/// A field of a definition's JSON, as text.
fn spec_field(spec: &str, field: &str) -> String {
    match serde_json::from_str::<Value>(spec)
        .ok()
        .and_then(|v| v.get(field).cloned())
    {
        Some(Value::String(s)) => s,
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

pub(super) async fn monitors(State(s): State<AppState>, _: Params) -> UiResult {
    let monitors = s.store.list_definitions(DefinitionKind::Monitor).await?;
    let policies = s.store.list_definitions(DefinitionKind::Policy).await?;
    let monitor_rows: Vec<Vec<String>> = monitors
        .iter()
        .map(|m| {
            let cursor = serde_json::from_str::<MonitorState>(&m.state)
                .ok()
                .and_then(|st| st.cursor);
            vec![
                link(&monitor_href(&m.name), &m.name),
                time(cursor),
                time(Some(m.updated_time)),
            ]
        })
        .collect();
    let policy_rows: Vec<Vec<String>> = policies
        .iter()
        .map(|p| {
            vec![
                link(&format!("/ui/decisions?policy={}", enc(&p.name)), &p.name),
                escape(&spec_field(&p.spec, "pipeline")),
                time(Some(p.updated_time)),
            ]
        })
        .collect();
    let body = format!(
        "<h2>Monitors</h2>{}<h2>Retrain policies</h2>{}",
        table(
            &headers(&["monitor", "evaluated until", "deployed"]),
            &monitor_rows,
            "No monitor is deployed (esteira monitor deploy monitors.toml)."
        ),
        table(
            &headers(&["policy", "pipeline", "deployed"]),
            &policy_rows,
            "No retrain policy is deployed."
        )
    );
    Ok(page("/ui/monitors", "Monitors", &body))
}

fn drift_chart(reports: &[WindowReport]) -> Option<String> {
    let points: Vec<(f64, f64)> = reports
        .iter()
        .filter_map(|r| r.summary.drift_share.map(|v| (r.window_end as f64, v)))
        .collect();
    if points.is_empty() {
        return None;
    }
    let threshold = reports
        .iter()
        .rev()
        .find_map(|r| r.drift.as_ref().map(|d| d.drift_share));
    let chart = Chart {
        id: "drift-share",
        series: vec![Series {
            name: "drifted share of columns".into(),
            points,
        }],
        band: vec![],
        threshold,
        y_include: &[0.0, 1.0],
        x_is_time: true,
    };
    Some(format!(
        "<h2>Drifted share of columns</h2><p class=\"muted\">The dashed line is the share at which the dataset counts as drifted.</p>{}",
        chart.render()
    ))
}

/// Each column's verdict in the latest [`COLUMN_HISTORY_WINDOWS`] windows with drift, as a
/// table: one row per column, one cell per window (newest last), the score in the tooltip.
fn column_history(reports: &[WindowReport]) -> Option<String> {
    let with_drift: Vec<&WindowReport> = reports.iter().filter(|r| r.drift.is_some()).collect();
    let recent = &with_drift[with_drift.len().saturating_sub(COLUMN_HISTORY_WINDOWS)..];
    let latest = recent.last()?.drift.as_ref()?;
    let mut head = vec![escape("column")];
    head.extend(recent.iter().map(|r| escape(&time(Some(r.window_end)))));
    let rows: Vec<Vec<String>> = latest
        .columns
        .iter()
        .map(|column| {
            let mut row = vec![escape(&column.column)];
            row.extend(recent.iter().map(|r| {
                let found = r
                    .drift
                    .as_ref()
                    .and_then(|d| d.columns.iter().find(|c| c.column == column.column));
                match found {
                    Some(c) => {
                        let (class, mark) = match c.drifted {
                            Some(true) => ("bad", "drifted"),
                            Some(false) => ("good", "no"),
                            None => ("muted", "n/a"),
                        };
                        format!(
                            "<span class=\"{class}\" title=\"score {}\">{mark}</span>",
                            opt_number(c.score)
                        )
                    }
                    None => String::new(),
                }
            }));
            row
        })
        .collect();
    Some(format!(
        "<h2>Drift per column over time</h2>{}",
        table(&head, &rows, "No column compared.")
    ))
}

fn metric_chart(reports: &[WindowReport]) -> Option<String> {
    let points: Vec<(f64, f64)> = reports
        .iter()
        .filter_map(|r| {
            r.summary
                .metric
                .as_ref()
                .map(|m| (r.window_end as f64, m.value))
        })
        .collect();
    if points.is_empty() {
        return None;
    }
    let band: Vec<(f64, f64, f64)> = reports
        .iter()
        .filter_map(|r| {
            let band = r.performance.as_ref()?.band.as_ref()?;
            Some((r.window_end as f64, band.lower, band.upper))
        })
        .collect();
    let name = reports
        .iter()
        .rev()
        .find_map(|r| r.performance.as_ref().map(|p| p.metric.clone()))
        .unwrap_or_default();
    let chart = Chart {
        id: "metric",
        series: vec![Series {
            name: name.clone(),
            points,
        }],
        band,
        threshold: None,
        y_include: &[],
        x_is_time: true,
    };
    Some(format!(
        "<h2>{} against its band</h2><p class=\"muted\">The shaded area is the alarm band (mean ± k·σ of the reference).</p>{}",
        escape(&name),
        chart.render()
    ))
}

fn latest_section(w: &WindowReport) -> String {
    let mut out = format!(
        "<h2>Latest window: {} to {}</h2><p>{} row(s).</p>",
        time(Some(w.window_start)),
        time(Some(w.window_end)),
        w.rows
    );
    if w.alerts.is_empty() {
        out.push_str("<p class=\"good\">No alert.</p>");
    } else {
        out.push_str("<ul class=\"bad\">");
        for a in &w.alerts {
            let _ = write!(out, "<li>{}</li>", escape(a));
        }
        out.push_str("</ul>");
    }
    if let Some(why) = &w.drift_not_computed {
        let _ = write!(
            out,
            "<p class=\"muted\">Drift not computed: {}</p>",
            escape(why)
        );
    }
    if let Some(d) = &w.drift {
        let rows: Vec<Vec<String>> = d
            .columns
            .iter()
            .map(|c| {
                vec![
                    escape(&c.column),
                    c.kind.map(|k| k.to_string()).unwrap_or_default(),
                    c.method.map(|m| m.name().to_string()).unwrap_or_default(),
                    opt_number(c.threshold),
                    opt_number(c.score),
                    match c.drifted {
                        Some(true) => "<span class=\"bad\">drifted</span>".into(),
                        Some(false) => "<span class=\"good\">no</span>".into(),
                        None => String::new(),
                    },
                    escape(c.not_computed.as_deref().unwrap_or_default()),
                ]
            })
            .collect();
        let _ = write!(
            out,
            "<h3>Drift per column</h3>{}<p>Drifted share {} (the dataset drifts at {}).</p>",
            table(
                &headers(&[
                    "column",
                    "kind",
                    "method",
                    "threshold",
                    "score",
                    "drifted",
                    "not computed"
                ]),
                &rows,
                "No column compared."
            ),
            opt_number(d.share),
            number(d.drift_share)
        );
    }
    if let Some(p) = &w.performance {
        let _ = write!(
            out,
            "<h3>Performance</h3><p>{} = {} over {} pair(s); band {}; verdict {}.</p>",
            escape(&p.metric),
            opt_number(p.value),
            p.pairs,
            p.band
                .as_ref()
                .map(|b| format!("[{}, {}]", number(b.lower), number(b.upper)))
                .unwrap_or_else(|| "not yet known".into()),
            p.verdict
                .map(|v| format!("{v:?}").to_lowercase())
                .unwrap_or_else(|| "none".into())
        );
        if let Some(why) = &p.not_computed {
            let _ = write!(out, "<p class=\"muted\">Not computed: {}</p>", escape(why));
        }
    }
    out
}

pub(super) async fn monitor(
    State(s): State<AppState>,
    Path(name): Path<String>,
    params: Params,
) -> UiResult {
    let page_number = params.page()?;
    s.store
        .get_definition(DefinitionKind::Monitor, &name)
        .await?;
    let results = s
        .store
        .list_monitor_results(&name, i64::MIN, i64::MAX)
        .await?;
    let skip = results.len().saturating_sub(MAX_CHARTED_WINDOWS);
    let charted = results[skip..]
        .iter()
        .map(report_of)
        .collect::<Result<Vec<_>, _>>()?;
    let mut body = String::new();
    match charted.last() {
        None => body.push_str("<p class=\"muted\">No window has been evaluated yet.</p>"),
        Some(latest) => {
            let _ = write!(
                body,
                "<p>{} window(s); the charts show the latest {}.</p>",
                results.len(),
                charted.len()
            );
            body.push_str(&latest_section(latest));
            body.extend(drift_chart(&charted));
            body.extend(column_history(&charted));
            body.extend(metric_chart(&charted));
        }
    }
    let newest_first: Vec<_> = results
        .iter()
        .rev()
        .take(page_number * PAGE_SIZE + 1)
        .collect();
    let (rows, has_next) = page_of(newest_first, page_number);
    let window_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let report = report_of(r).ok();
            let metric = report
                .as_ref()
                .and_then(|w| w.summary.metric.as_ref())
                .map(|m| format!("{} {}", m.name, number(m.value)))
                .unwrap_or_default();
            let alerts = report
                .as_ref()
                .map(|w| w.alerts.join("; "))
                .unwrap_or_default();
            vec![
                time(Some(r.window_start)),
                time(Some(r.window_end)),
                opt_number(r.drift_share),
                escape(&metric),
                if r.alarm {
                    format!("<span class=\"bad\">{}</span>", escape(&alerts))
                } else {
                    "<span class=\"good\">none</span>".into()
                },
            ]
        })
        .collect();
    let _ = write!(
        body,
        "<h2>Windows and alerts</h2>{}{}",
        table(
            &headers(&["start", "end", "drifted share", "metric", "alerts"]),
            &window_rows,
            "No window on this page."
        ),
        number_pager(&[], &monitor_href(&name), page_number, has_next)
    );
    Ok(page("/ui/monitors", &format!("Monitor {name}"), &body))
}

/// The reasons of a decision for people: each rule, met or not, with its detail, and why it
/// was held back; the JSON text itself when it has another shape.
fn reasons(text: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return escape(text);
    };
    let Some(rules) = value.get("rules").and_then(Value::as_array) else {
        return format!("<code>{}</code>", escape(text));
    };
    let mut out = String::from("<ul>");
    for rule in rules {
        let field = |f: &str| {
            rule.get(f)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let met = rule.get("met").and_then(Value::as_bool).unwrap_or(false);
        let _ = write!(
            out,
            "<li class=\"{}\">{}: {} ({})</li>",
            if met { "bad" } else { "muted" },
            escape(&field("monitor")),
            escape(&field("when")),
            escape(&field("detail")),
        );
    }
    match value.get("held_back") {
        Some(Value::Null) | None => {}
        Some(Value::String(why)) => {
            let _ = write!(out, "<li>held back: {}</li>", escape(why));
        }
        Some(other) => {
            let _ = write!(out, "<li>held back: {}</li>", escape(&other.to_string()));
        }
    }
    out.push_str("</ul>");
    out
}

fn decision_row(d: &Decision) -> Vec<String> {
    let compute = d
        .compute_seconds
        .map(|secs| duration((secs * 1000.0).round() as i64))
        .unwrap_or_else(|| "unknown".into());
    let (cost, saved) = if d.outcome == "retrain" {
        (compute, String::new())
    } else {
        (String::new(), compute)
    };
    vec![
        time(Some(d.evaluated_time)),
        link(
            &format!("/ui/decisions?policy={}", enc(&d.policy)),
            &d.policy,
        ),
        format!(
            "<span class=\"{}\">{}</span>",
            if d.outcome == "retrain" {
                "bad"
            } else {
                "good"
            },
            escape(&d.outcome)
        ),
        reasons(&d.reasons),
        link(&format!("/ui/pipelines/{}", enc(&d.pipeline)), &d.pipeline),
        escape(d.firing_id.as_deref().unwrap_or_default()),
        cost,
        saved,
    ]
}

pub(super) async fn decisions(State(s): State<AppState>, params: Params) -> UiResult {
    let page_number = params.page()?;
    let policy = params.get("policy").trim();
    let policy = (!policy.is_empty()).then_some(policy);
    if let Some(p) = policy {
        s.store.get_definition(DefinitionKind::Policy, p).await?;
    }
    let latest = s
        .store
        .list_decisions(
            policy,
            i64::MIN,
            i64::MAX,
            (page_number * PAGE_SIZE + 1) as i64,
        )
        .await?;
    let (rows, has_next) = page_of(latest.into_iter().rev().collect(), page_number);
    let ledger = service::decisions(
        s.store.as_ref(),
        policy,
        i64::MIN,
        i64::MAX,
        MAX_TOTALLED_DECISIONS,
    )
    .await?;
    let counts = ledger
        .counts
        .iter()
        .map(|(k, v)| format!("{} {v}", escape(k)))
        .collect::<Vec<_>>()
        .join(", ");
    let body = format!(
        "<p>{} decision(s){}: {}. Retraining cost {}; the decisions not to retrain saved {} (estimated from the pipeline's past runs).</p>{}{}",
        ledger.decisions.len(),
        if ledger.decisions.len() as i64 >= MAX_TOTALLED_DECISIONS {
            format!(" (the latest {MAX_TOTALLED_DECISIONS})")
        } else {
            String::new()
        },
        if counts.is_empty() {
            "none".into()
        } else {
            counts
        },
        duration((ledger.retrain_seconds * 1000.0).round() as i64),
        duration((ledger.saved_seconds * 1000.0).round() as i64),
        table(
            &headers(&[
                "evaluated for",
                "policy",
                "outcome",
                "reasons",
                "pipeline",
                "firing",
                "compute cost",
                "compute saved"
            ]),
            &rows.iter().map(decision_row).collect::<Vec<_>>(),
            "No decision on this page."
        ),
        number_pager(
            &[("policy", policy.unwrap_or_default())],
            "/ui/decisions",
            page_number,
            has_next
        )
    );
    let title = match policy {
        Some(p) => format!("Decisions of {p}"),
        None => "Retrain decisions".into(),
    };
    Ok(page("/ui/decisions", &title, &body))
}
