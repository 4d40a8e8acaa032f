//! Pipelines: the deployed ones with their triggers and the latest runs, a pipeline's runs,
//! and a run with its DAG coloured by step status, its steps and every execution (durations,
//! cache hits and why a step was not reused, exit codes, log tails).

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::extract::{Path, State};
use esteira_core::ErrorCode;
use esteira_pipeline::engine::from_json;
use esteira_pipeline::graph;
use esteira_pipeline::service::run_details;
use esteira_pipeline::spec::PipelineSpec;
use esteira_store::pipelines::{ExecutionRecord, PipelineRunRecord};

use super::html::{enc, escape, headers, link, number_pager, page, span, table, time};
use super::{PAGE_SIZE, Params, UiError, UiResult, page_of};
use crate::{ApiError, AppState};

fn pipeline_href(name: &str) -> String {
    format!("/ui/pipelines/{}", enc(name))
}

fn run_href(id: &str) -> String {
    format!("/ui/pipeline-runs/{}", enc(id))
}

fn status_cell(status: &str) -> String {
    format!("<span class=\"status-{s}\">{s}</span>", s = escape(status))
}

fn run_rows(runs: &[PipelineRunRecord]) -> Vec<Vec<String>> {
    runs.iter()
        .map(|r| {
            vec![
                link(&run_href(&r.run_id), &r.run_id),
                link(&pipeline_href(&r.pipeline), &r.pipeline),
                status_cell(r.status.as_str()),
                time(Some(r.created_time)),
                span(r.start_time, r.end_time),
                escape(r.message.as_deref().unwrap_or_default()),
            ]
        })
        .collect()
}

const RUN_HEADERS: [&str; 6] = [
    "run", "pipeline", "status", "created", "duration", "message",
];

/// Page `page` of the runs (of one pipeline, or all), newest first, and whether there is a
/// next page.
async fn runs_page(
    s: &AppState,
    pipeline: Option<&str>,
    page: usize,
) -> Result<(Vec<PipelineRunRecord>, bool), UiError> {
    let limit = (page * PAGE_SIZE + 1) as i64;
    let runs = s.store.list_pipeline_runs(pipeline, limit).await?;
    Ok(page_of(runs, page))
}

pub(super) async fn pipelines(State(s): State<AppState>, params: Params) -> UiResult {
    let page_number = params.page()?;
    let deployed = s.store.list_pipelines().await?;
    let triggers = s.store.list_triggers().await?;
    let mut triggers_of: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for t in &triggers {
        triggers_of
            .entry(t.pipeline.as_str())
            .or_default()
            .push(format!("{} ({})", t.name, t.kind));
    }
    let deployed_rows: Vec<Vec<String>> = deployed
        .iter()
        .map(|p| {
            vec![
                link(&pipeline_href(&p.name), &p.name),
                p.version.to_string(),
                escape(&p.digest.chars().take(12).collect::<String>()),
                escape(
                    &triggers_of
                        .get(p.name.as_str())
                        .map(|t| t.join(", "))
                        .unwrap_or_default(),
                ),
                time(Some(p.updated_time)),
            ]
        })
        .collect();
    let (runs, has_next) = runs_page(&s, None, page_number).await?;
    let body = format!(
        "<h2>Deployed</h2>{}<h2>Runs</h2>{}{}",
        table(
            &headers(&["pipeline", "version", "digest", "triggers", "deployed"]),
            &deployed_rows,
            "No pipeline is deployed."
        ),
        table(
            &headers(&RUN_HEADERS),
            &run_rows(&runs),
            "No pipeline has run."
        ),
        number_pager(&[], "/ui/pipelines", page_number, has_next)
    );
    Ok(page("/ui/pipelines", "Pipelines", &body))
}

pub(super) async fn pipeline(
    State(s): State<AppState>,
    Path(name): Path<String>,
    params: Params,
) -> UiResult {
    let page_number = params.page()?;
    let deployed = match s.store.get_pipeline(&name).await {
        Ok(p) => Some(p),
        Err(e) if e.code() == ErrorCode::ResourceDoesNotExist => None,
        Err(e) => return Err(e.into()),
    };
    let (runs, has_next) = runs_page(&s, Some(&name), page_number).await?;
    if deployed.is_none() && runs.is_empty() && page_number == 1 {
        return Err(ApiError::new(
            ErrorCode::ResourceDoesNotExist,
            format!("Pipeline '{name}' is not deployed and has no run."),
        )
        .into());
    }
    let mut body = match &deployed {
        Some(p) => format!(
            "<dl class=\"kv\"><dt>version</dt><dd>{}</dd><dt>digest</dt><dd>{}</dd><dt>directory</dt><dd>{}</dd><dt>deployed</dt><dd>{}</dd></dl>",
            p.version,
            escape(&p.digest),
            escape(&p.pipeline_dir),
            time(Some(p.updated_time))
        ),
        None => {
            "<p class=\"muted\">Not deployed (runs from <code>esteira pipeline run</code>).</p>"
                .into()
        }
    };
    if let Some(p) = &deployed
        && let Ok(spec) = from_json::<PipelineSpec>(&p.spec)
    {
        let _ = write!(
            body,
            "<h2>Graph</h2><div class=\"dag\">{}</div>",
            graph::svg(&spec, None)
        );
    }
    let _ = write!(
        body,
        "<h2>Runs</h2>{}{}",
        table(
            &headers(&RUN_HEADERS),
            &run_rows(&runs),
            "No run on this page."
        ),
        number_pager(&[], &pipeline_href(&name), page_number, has_next)
    );
    Ok(page("/ui/pipelines", &format!("Pipeline {name}"), &body))
}

fn execution_row(e: &ExecutionRecord) -> Vec<String> {
    let cache = match &e.reused_execution_id {
        Some(id) => format!("<span class=\"good\">hit</span> (reused {})", escape(id)),
        None => "miss".into(),
    };
    let log = match &e.log_tail {
        Some(tail) if !tail.is_empty() => format!(
            "<details><summary>log tail</summary><pre>{}</pre></details>",
            escape(tail)
        ),
        _ => String::new(),
    };
    vec![
        escape(&e.step),
        e.attempt.to_string(),
        status_cell(&e.status),
        time(Some(e.start_time)),
        span(Some(e.start_time), e.end_time),
        cache,
        escape(e.reason.as_deref().unwrap_or_default()),
        e.exit_code.map(|c| c.to_string()).unwrap_or_default(),
        escape(&e.worker_id),
        log,
    ]
}

pub(super) async fn run(State(s): State<AppState>, Path(id): Path<String>) -> UiResult {
    let details = run_details(&*s.store, &id).await?;
    let run = &details.run;
    let status: BTreeMap<String, String> = details
        .steps
        .iter()
        .map(|st| (st.step.clone(), st.status.as_str().to_lowercase()))
        .collect();
    let dag = match from_json::<PipelineSpec>(&run.spec) {
        Ok(spec) => graph::svg(&spec, Some(&status)),
        Err(e) => format!(
            "<p class=\"muted\">The graph cannot be drawn: {}</p>",
            escape(&e.to_string())
        ),
    };
    let committed: BTreeMap<&str, &ExecutionRecord> = details
        .executions
        .iter()
        .map(|e| (e.execution_id.as_str(), e))
        .collect();
    let step_rows: Vec<Vec<String>> = details
        .steps
        .iter()
        .map(|st| {
            let exec = st.execution_id.as_deref().and_then(|id| committed.get(id));
            vec![
                escape(&st.step),
                status_cell(st.status.as_str()),
                st.attempts.to_string(),
                exec.map(|e| span(Some(e.start_time), e.end_time))
                    .unwrap_or_default(),
                match exec.and_then(|e| e.reused_execution_id.as_ref()) {
                    Some(_) => "<span class=\"good\">hit</span>".into(),
                    None if exec.is_some() => "miss".into(),
                    None => String::new(),
                },
                escape(exec.and_then(|e| e.reason.as_deref()).unwrap_or_default()),
            ]
        })
        .collect();
    let exec_rows: Vec<Vec<String>> = details.executions.iter().map(execution_row).collect();
    let body = format!(
        "<dl class=\"kv\"><dt>pipeline</dt><dd>{}</dd><dt>status</dt><dd>{}</dd><dt>created</dt><dd>{}</dd>\
         <dt>duration</dt><dd>{}</dd><dt>params</dt><dd><code>{}</code></dd><dt>git commit</dt><dd>{}</dd><dt>message</dt><dd>{}</dd></dl>\
         <h2>Graph</h2><div class=\"dag\">{dag}</div><h2>Steps</h2>{}<h2>Executions</h2>{}",
        link(&pipeline_href(&run.pipeline), &run.pipeline),
        status_cell(run.status.as_str()),
        time(Some(run.created_time)),
        span(run.start_time, run.end_time),
        escape(&run.params),
        escape(run.git_commit.as_deref().unwrap_or_default()),
        escape(run.message.as_deref().unwrap_or_default()),
        table(
            &headers(&[
                "step",
                "status",
                "attempts",
                "duration",
                "cache",
                "why not reused"
            ]),
            &step_rows,
            "No step."
        ),
        table(
            &headers(&[
                "step",
                "attempt",
                "status",
                "start",
                "duration",
                "cache",
                "reason",
                "exit code",
                "worker",
                "log"
            ]),
            &exec_rows,
            "No execution yet."
        ),
    );
    Ok(page("/ui/pipelines", &format!("Pipeline run {id}"), &body))
}
