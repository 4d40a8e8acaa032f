//! Experiments, the runs table (MLflow's filter and order, params and metrics columns), a
//! run, and the comparison of runs with their metric histories.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use axum::extract::{Path, State};
use esteira_core::entities::{Metric, Run, ViewType};
use esteira_store::{ExperimentQuery, MetricHistoryQuery, Paging, RunQuery};

use super::chart::{Chart, Series};
use super::html::{
    enc, escape, headers, link, number, page, query, span, table, time, token_pager,
};
use super::{PAGE_SIZE, Params, UiError, UiResult};
use crate::AppState;

/// Columns of each kind (params, metrics) the runs table shows at most.
const MAX_KEY_COLUMNS: usize = 15;

/// Runs a comparison takes at most.
const MAX_COMPARED: usize = 20;

/// Metrics charted on a run or comparison page at most.
const MAX_CHARTS: usize = 12;

/// Points of one metric history read for a chart at most.
const MAX_HISTORY_POINTS: i64 = 1000;

fn paging(params: &Params) -> Paging {
    let token = params.get("page_token");
    Paging {
        max_results: PAGE_SIZE as i64,
        page_token: (!token.is_empty()).then(|| token.to_string()),
    }
}

fn optional(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The filter and order form of a searchable listing.
fn search_form(params: &Params, filter_hint: &str, order_hint: &str) -> String {
    format!(
        "<form class=\"bar\" method=\"get\">\
         <input type=\"text\" name=\"filter\" aria-label=\"filter\" placeholder=\"{}\" value=\"{}\">\
         <input type=\"text\" name=\"order\" aria-label=\"order\" placeholder=\"{}\" value=\"{}\">\
         <input type=\"submit\" value=\"Search\"></form>",
        escape(filter_hint),
        escape(params.get("filter")),
        escape(order_hint),
        escape(params.get("order")),
    )
}

pub(super) async fn experiments(State(s): State<AppState>, params: Params) -> UiResult {
    let found = s
        .store
        .search_experiments(&ExperimentQuery {
            view_type: ViewType::ActiveOnly,
            filter: optional(params.get("filter")),
            order_by: optional(params.get("order")).into_iter().collect(),
            paging: paging(&params),
        })
        .await?;
    let rows: Vec<Vec<String>> = found
        .items
        .iter()
        .map(|e| {
            vec![
                escape(&e.experiment_id),
                link(
                    &format!("/ui/experiments/{}", enc(&e.experiment_id)),
                    &e.name,
                ),
                time(Some(e.creation_time)),
                time(Some(e.last_update_time)),
            ]
        })
        .collect();
    let base = [
        ("filter", params.get("filter")),
        ("order", params.get("order")),
    ];
    let body = format!(
        "{}{}{}",
        search_form(&params, "name LIKE '%demand%'", "name ASC"),
        table(
            &headers(&["id", "name", "created", "last update"]),
            &rows,
            "No experiment matches."
        ),
        token_pager(
            &base,
            "/ui/experiments",
            optional(params.get("page_token")).as_deref(),
            found.next_page_token.as_deref()
        )
    );
    Ok(page("/ui/experiments", "Experiments", &body))
}

/// A key as MLflow's search language names it: backquoted unless it is a plain identifier.
fn search_key(kind: &str, key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        format!("{kind}.{key}")
    } else {
        format!("{kind}.`{key}`")
    }
}

/// A column header that sorts by `key`: ascending, or descending when already ascending.
fn sort_header(path: &str, params: &Params, key: &str, label: &str) -> String {
    let current = params.get("order");
    let (order, mark) = if current == format!("{key} ASC") {
        (format!("{key} DESC"), " ▲")
    } else if current == format!("{key} DESC") {
        (format!("{key} ASC"), " ▼")
    } else {
        (format!("{key} ASC"), "")
    };
    let href = format!(
        "{path}{}",
        query(&[("filter", params.get("filter")), ("order", &order)])
    );
    format!("{}{mark}", link(&href, label))
}

/// The union of the keys in the page's runs, sorted, at most [`MAX_KEY_COLUMNS`].
fn columns<'a>(keys: impl Iterator<Item = &'a str>) -> (Vec<&'a str>, bool) {
    let all: BTreeSet<&str> = keys.collect();
    let cut = all.len() > MAX_KEY_COLUMNS;
    (all.into_iter().take(MAX_KEY_COLUMNS).collect(), cut)
}

pub(super) async fn runs(
    State(s): State<AppState>,
    Path(id): Path<String>,
    params: Params,
) -> UiResult {
    let experiment = s.store.get_experiment(&id).await?;
    let found = s
        .store
        .search_runs(&RunQuery {
            experiment_ids: vec![id.clone()],
            filter: optional(params.get("filter")),
            view_type: ViewType::ActiveOnly,
            order_by: optional(params.get("order")).into_iter().collect(),
            paging: paging(&params),
        })
        .await?;
    let path = format!("/ui/experiments/{}", enc(&id));
    let (param_keys, params_cut) = columns(
        found
            .items
            .iter()
            .flat_map(|r| r.data.params.iter().map(|p| p.key.as_str())),
    );
    let (metric_keys, metrics_cut) = columns(
        found
            .items
            .iter()
            .flat_map(|r| r.data.metrics.iter().map(|m| m.key.as_str())),
    );
    let mut head = vec![
        "compare".to_string(),
        sort_header(&path, &params, "attributes.run_name", "run"),
        "status".into(),
        sort_header(&path, &params, "attributes.start_time", "start"),
        "duration".into(),
    ];
    head.extend(param_keys.iter().map(|k| {
        sort_header(
            &path,
            &params,
            &search_key("params", k),
            &format!("param {k}"),
        )
    }));
    head.extend(metric_keys.iter().map(|k| {
        sort_header(
            &path,
            &params,
            &search_key("metrics", k),
            &format!("metric {k}"),
        )
    }));
    let rows: Vec<Vec<String>> = found
        .items
        .iter()
        .map(|r| run_row(r, &param_keys, &metric_keys))
        .collect();
    let base = [
        ("filter", params.get("filter")),
        ("order", params.get("order")),
    ];
    let mut body = format!(
        "<p class=\"muted\">Experiment {} · {}</p>{}",
        escape(&experiment.experiment_id),
        escape(&experiment.artifact_location),
        search_form(
            &params,
            "metrics.rmse < 1 and params.alpha = '0.5'",
            "metrics.rmse ASC"
        ),
    );
    if params_cut || metrics_cut {
        let _ = write!(
            body,
            "<p class=\"muted\">Showing the first {MAX_KEY_COLUMNS} param and metric columns of this page.</p>"
        );
    }
    let _ = write!(
        body,
        "<form method=\"get\" action=\"/ui/compare\">{}<input type=\"submit\" value=\"Compare selected runs\"></form>{}",
        table(&head, &rows, "No run matches."),
        token_pager(
            &base,
            &path,
            optional(params.get("page_token")).as_deref(),
            found.next_page_token.as_deref()
        )
    );
    Ok(page(
        "/ui/experiments",
        &format!("Experiment {}", experiment.name),
        &body,
    ))
}

fn run_row(r: &Run, param_keys: &[&str], metric_keys: &[&str]) -> Vec<String> {
    let info = &r.info;
    let name = if info.run_name.is_empty() {
        &info.run_id
    } else {
        &info.run_name
    };
    let mut row = vec![
        format!(
            "<input type=\"checkbox\" name=\"run\" value=\"{}\">",
            escape(&info.run_id)
        ),
        link(&format!("/ui/runs/{}", enc(&info.run_id)), name),
        format!(
            "<span class=\"status-{s}\">{s}</span>",
            s = info.status.as_str()
        ),
        time(info.start_time),
        span(info.start_time, info.end_time),
    ];
    for k in param_keys {
        let value = r.data.params.iter().find(|p| p.key == *k);
        row.push(escape(value.map(|p| p.value.as_str()).unwrap_or_default()));
    }
    for k in metric_keys {
        let value = r.data.metrics.iter().find(|m| m.key == *k);
        row.push(value.map(|m| number(m.value)).unwrap_or_default());
    }
    row
}

/// A metric's history for a chart, by step (by time when every point has the same step).
async fn history(s: &AppState, run_id: &str, key: &str) -> Result<(Vec<Metric>, bool), UiError> {
    let mut points = s
        .store
        .get_metric_history(&MetricHistoryQuery {
            run_ids: vec![run_id.to_string()],
            metric_key: key.to_string(),
            paging: Paging {
                max_results: MAX_HISTORY_POINTS,
                page_token: None,
            },
        })
        .await?
        .items;
    let by_time = points.windows(2).all(|w| w[0].step == w[1].step) && points.len() > 1;
    if by_time {
        points.sort_by_key(|m| m.timestamp);
    } else {
        points.sort_by_key(|m| (m.step, m.timestamp));
    }
    Ok((points, by_time))
}

fn series(name: &str, points: &[Metric], by_time: bool) -> Series {
    Series {
        name: name.to_string(),
        points: points
            .iter()
            .map(|m| {
                let x = if by_time { m.timestamp } else { m.step };
                (x as f64, m.value)
            })
            .collect(),
    }
}

pub(super) async fn run(State(s): State<AppState>, Path(id): Path<String>) -> UiResult {
    let r = s.store.get_run(&id).await?;
    let experiment = s.store.get_experiment(&r.info.experiment_id).await?;
    let info = &r.info;
    let mut body = format!(
        "<dl class=\"kv\"><dt>run id</dt><dd>{}</dd><dt>experiment</dt><dd>{}</dd><dt>status</dt><dd class=\"status-{s}\">{s}</dd>\
         <dt>user</dt><dd>{}</dd><dt>start</dt><dd>{}</dd><dt>duration</dt><dd>{}</dd></dl>",
        escape(&info.run_id),
        link(
            &format!("/ui/experiments/{}", enc(&experiment.experiment_id)),
            &experiment.name
        ),
        escape(&info.user_id),
        time(info.start_time),
        span(info.start_time, info.end_time),
        s = info.status.as_str(),
    );
    let metric_rows: Vec<Vec<String>> = r
        .data
        .metrics
        .iter()
        .map(|m| {
            vec![
                escape(&m.key),
                number(m.value),
                m.step.to_string(),
                time(Some(m.timestamp)),
            ]
        })
        .collect();
    let _ = write!(
        body,
        "<h2>Metrics</h2>{}",
        table(
            &headers(&["metric", "latest value", "step", "time"]),
            &metric_rows,
            "No metric."
        )
    );
    for m in r.data.metrics.iter().take(MAX_CHARTS) {
        let (points, by_time) = history(&s, &id, &m.key).await?;
        if points.len() > 1 {
            let chart = Chart {
                id: &format!("metric-{}", m.key),
                series: vec![series(&m.key, &points, by_time)],
                band: vec![],
                threshold: None,
                y_include: &[],
                x_is_time: by_time,
            };
            let _ = write!(body, "<h2>{}</h2>{}", escape(&m.key), chart.render());
        }
    }
    let kv = |pairs: &[esteira_core::entities::Tag]| -> Vec<Vec<String>> {
        pairs
            .iter()
            .map(|p| vec![escape(&p.key), escape(&p.value)])
            .collect()
    };
    let _ = write!(
        body,
        "<h2>Params</h2>{}<h2>Tags</h2>{}",
        table(
            &headers(&["param", "value"]),
            &kv(&r.data.params),
            "No param."
        ),
        table(&headers(&["tag", "value"]), &kv(&r.data.tags), "No tag.")
    );
    let name = if info.run_name.is_empty() {
        &info.run_id
    } else {
        &info.run_name
    };
    Ok(page("/ui/experiments", &format!("Run {name}"), &body))
}

/// One row per key, one column per run; rows whose values differ are marked.
fn side_by_side(
    runs: &[Run],
    values: impl Fn(&Run) -> BTreeMap<String, String>,
) -> Vec<Vec<String>> {
    let per_run: Vec<BTreeMap<String, String>> = runs.iter().map(values).collect();
    let keys: BTreeSet<&String> = per_run.iter().flat_map(|m| m.keys()).collect();
    keys.into_iter()
        .map(|k| {
            let cells: Vec<Option<&String>> = per_run.iter().map(|m| m.get(k)).collect();
            let differs = cells.windows(2).any(|w| w[0] != w[1]);
            let mut row = vec![if differs {
                format!("<strong>{}</strong>", escape(k))
            } else {
                escape(k)
            }];
            row.extend(
                cells
                    .iter()
                    .map(|c| escape(c.map(String::as_str).unwrap_or_default())),
            );
            row
        })
        .collect()
}

pub(super) async fn compare(State(s): State<AppState>, params: Params) -> UiResult {
    let ids = params.all("run");
    if ids.len() < 2 {
        return Err(UiError::bad_request(format!(
            "Comparing needs at least 2 runs (?run=ID&run=ID); got {}.",
            ids.len()
        )));
    }
    if ids.len() > MAX_COMPARED {
        return Err(UiError::bad_request(format!(
            "Comparing takes at most {MAX_COMPARED} runs; got {}.",
            ids.len()
        )));
    }
    let mut runs = Vec::with_capacity(ids.len());
    for id in &ids {
        runs.push(s.store.get_run(id).await?);
    }
    let label = |r: &Run| {
        if r.info.run_name.is_empty() {
            r.info.run_id.clone()
        } else {
            r.info.run_name.clone()
        }
    };
    let mut head = vec![escape("key")];
    head.extend(
        runs.iter()
            .map(|r| link(&format!("/ui/runs/{}", enc(&r.info.run_id)), &label(r))),
    );
    let param_rows = side_by_side(&runs, |r| {
        r.data
            .params
            .iter()
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect()
    });
    let metric_rows = side_by_side(&runs, |r| {
        r.data
            .metrics
            .iter()
            .map(|m| (m.key.clone(), number(m.value)))
            .collect()
    });
    let mut body = format!(
        "<p class=\"muted\">Keys in bold differ between the runs.</p><h2>Params</h2>{}<h2>Metrics</h2>{}",
        table(&head, &param_rows, "No param."),
        table(&head, &metric_rows, "No metric."),
    );
    let keys: BTreeSet<&str> = runs
        .iter()
        .flat_map(|r| r.data.metrics.iter().map(|m| m.key.as_str()))
        .collect();
    for key in keys.into_iter().take(MAX_CHARTS) {
        let mut lines = Vec::new();
        let mut all_by_time = true;
        for r in &runs {
            let (points, by_time) = history(&s, &r.info.run_id, key).await?;
            all_by_time &= by_time;
            lines.push((label(r), points));
        }
        let chart = Chart {
            id: &format!("compare-{key}"),
            series: lines
                .iter()
                .map(|(name, points)| series(name, points, all_by_time))
                .collect(),
            band: vec![],
            threshold: None,
            y_include: &[],
            x_is_time: all_by_time,
        };
        let _ = write!(body, "<h2>{}</h2>{}", escape(key), chart.render());
    }
    Ok(page(
        "/ui/experiments",
        &format!("Comparing {} runs", runs.len()),
        &body,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_keys_that_are_not_identifiers() {
        assert_eq!(search_key("metrics", "rmse"), "metrics.rmse");
        assert_eq!(search_key("metrics", "val loss"), "metrics.`val loss`");
        assert_eq!(escape(&search_key("params", "a<b")), "params.`a&lt;b`");
    }
}
