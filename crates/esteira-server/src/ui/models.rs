//! Registered models: the searchable list, a model's versions, aliases and alias history,
//! and the lineage of a model version (or any lineage subject).

use std::fmt::Write;

use axum::extract::{Path, State};
use esteira_pipeline::lineage::{self, Node};
use esteira_store::{Paging, RegistryQuery};

use super::html::{enc, escape, headers, link, page, query, table, time, token_pager};
use super::{PAGE_SIZE, Params, UiError, UiResult};
use crate::AppState;

/// Alias changes shown on a model page at most (the newest).
const MAX_ALIAS_CHANGES: usize = 200;

/// How far a lineage page walks from its subject.
const LINEAGE_DEPTH: usize = 20;

fn paging(params: &Params) -> Paging {
    let token = params.get("page_token");
    Paging {
        max_results: PAGE_SIZE as i64,
        page_token: (!token.is_empty()).then(|| token.to_string()),
    }
}

fn model_href(name: &str) -> String {
    format!("/ui/models/{}", enc(name))
}

pub(super) async fn models(State(s): State<AppState>, params: Params) -> UiResult {
    let filter = params.get("filter").trim();
    let found = s
        .store
        .search_registered_models(&RegistryQuery {
            filter: (!filter.is_empty()).then(|| filter.to_string()),
            order_by: vec!["name ASC".into()],
            paging: paging(&params),
        })
        .await?;
    let rows: Vec<Vec<String>> = found
        .items
        .iter()
        .map(|m| {
            let latest = m
                .latest_versions
                .iter()
                .map(|v| escape(&v.version))
                .collect::<Vec<_>>()
                .join(", ");
            let aliases = m
                .aliases
                .iter()
                .map(|a| format!("{}→{}", escape(&a.alias), escape(&a.version)))
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                link(&model_href(&m.name), &m.name),
                latest,
                aliases,
                time(Some(m.last_updated_timestamp)),
                escape(&m.description),
            ]
        })
        .collect();
    let body = format!(
        "<form class=\"bar\" method=\"get\"><input type=\"text\" name=\"filter\" aria-label=\"filter\" placeholder=\"name LIKE '%demand%'\" value=\"{}\">\
         <input type=\"submit\" value=\"Search\"></form>{}{}",
        escape(params.get("filter")),
        table(
            &headers(&[
                "name",
                "latest versions",
                "aliases",
                "last update",
                "description"
            ]),
            &rows,
            "No registered model matches."
        ),
        token_pager(
            &[("filter", params.get("filter"))],
            "/ui/models",
            (!params.get("page_token").is_empty()).then(|| params.get("page_token")),
            found.next_page_token.as_deref()
        )
    );
    Ok(page("/ui/models", "Registered models", &body))
}

/// A string literal of MLflow's search language holding `text`.
fn literal(text: &str) -> String {
    if text.contains('\'') {
        format!("\"{text}\"")
    } else {
        format!("'{text}'")
    }
}

pub(super) async fn model(
    State(s): State<AppState>,
    Path(name): Path<String>,
    params: Params,
) -> UiResult {
    let model = s.store.get_registered_model(&name).await?;
    let versions = s
        .store
        .search_model_versions(&RegistryQuery {
            filter: Some(format!("name = {}", literal(&name))),
            order_by: vec!["version_number DESC".into()],
            paging: paging(&params),
        })
        .await?;
    let lineage_href = |v: &str| {
        format!(
            "/ui/lineage{}",
            query(&[("subject", &format!("models:/{name}/{v}"))])
        )
    };
    let version_rows: Vec<Vec<String>> = versions
        .items
        .iter()
        .map(|v| {
            let run = if v.run_id.is_empty() {
                String::new()
            } else {
                link(&format!("/ui/runs/{}", enc(&v.run_id)), &v.run_id)
            };
            vec![
                escape(&v.version),
                escape(&v.aliases.join(", ")),
                escape(v.current_stage.as_str()),
                escape(&v.status),
                time(Some(v.creation_timestamp)),
                run,
                escape(&v.source),
                link(&lineage_href(&v.version), "lineage"),
            ]
        })
        .collect();
    let alias_rows: Vec<Vec<String>> = model
        .aliases
        .iter()
        .map(|a| vec![escape(&a.alias), escape(&a.version)])
        .collect();
    let history = s.store.alias_history(&name, None).await?;
    let version_text = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "—".into());
    let history_rows: Vec<Vec<String>> = history
        .iter()
        .rev()
        .take(MAX_ALIAS_CHANGES)
        .map(|c| {
            vec![
                time(Some(c.time)),
                escape(&c.alias),
                version_text(c.previous_version),
                version_text(c.version),
                escape(&c.actor),
                escape(&c.reason),
            ]
        })
        .collect();
    let mut body = format!(
        "<p>{}</p><h2>Aliases</h2>{}<h2>Versions</h2>{}{}",
        escape(&model.description),
        table(&headers(&["alias", "version"]), &alias_rows, "No alias."),
        table(
            &headers(&[
                "version", "aliases", "stage", "status", "created", "run", "source", "lineage"
            ]),
            &version_rows,
            "No version."
        ),
        token_pager(
            &[],
            &model_href(&name),
            (!params.get("page_token").is_empty()).then(|| params.get("page_token")),
            versions.next_page_token.as_deref()
        )
    );
    let _ = write!(
        body,
        "<h2>Alias history</h2><p class=\"muted\">Which version held which alias when, newest first{}.</p>{}",
        if history.len() > MAX_ALIAS_CHANGES {
            format!(
                " (the latest {MAX_ALIAS_CHANGES} of {} changes)",
                history.len()
            )
        } else {
            String::new()
        },
        table(
            &headers(&[
                "time",
                "alias",
                "from version",
                "to version",
                "actor",
                "reason"
            ]),
            &history_rows,
            "No alias has moved through Esteira yet."
        )
    );
    Ok(page("/ui/models", &format!("Model {name}"), &body))
}

fn node_row(node: &Node) -> Vec<String> {
    match node {
        Node::Artifact { depth, artifact } => vec![
            depth.to_string(),
            "artifact".into(),
            escape(&artifact.kind),
            escape(&artifact.uri),
            time(Some(artifact.created_time)),
        ],
        Node::Execution {
            depth, execution, ..
        } => vec![
            depth.to_string(),
            "execution".into(),
            format!(
                "{} / {} ({})",
                link(
                    &format!("/ui/pipelines/{}", enc(&execution.pipeline)),
                    &execution.pipeline
                ),
                escape(&execution.step),
                escape(&execution.status)
            ),
            link(
                &format!("/ui/pipeline-runs/{}", enc(&execution.run_id)),
                &format!("run {}", execution.run_id),
            ),
            time(Some(execution.start_time)),
        ],
    }
}

pub(super) async fn lineage(State(s): State<AppState>, params: Params) -> UiResult {
    let subject = params.get("subject").trim();
    if subject.is_empty() {
        return Err(UiError::bad_request(
            "Missing 'subject': a model version (models:/NAME/VERSION), an artifact id or URI, a pipeline run id or an execution id.",
        ));
    }
    let found = lineage::lineage(&*s.store, subject, LINEAGE_DEPTH).await?;
    let head = headers(&["depth", "node", "what", "where", "time"]);
    let upstream: Vec<Vec<String>> = found.upstream.iter().map(node_row).collect();
    let downstream: Vec<Vec<String>> = found.downstream.iter().map(node_row).collect();
    let body = format!(
        "<p class=\"muted\">Negative depths are upstream (what produced it), positive downstream (what used it).</p>\
         <h2>Upstream</h2>{}<h2>Downstream</h2>{}",
        table(&head, &upstream, "Nothing upstream."),
        table(&head, &downstream, "Nothing downstream.")
    );
    Ok(page("/ui/models", &format!("Lineage of {subject}"), &body))
}
