//! Lineage queries: what produced an artifact, a model version or a run, and what used it
//! since. Both directions walk the indexed event table (`lineage_events` by execution and
//! by artifact).

use std::collections::{BTreeSet, VecDeque};

use esteira_store::Store;
use esteira_store::pipelines::{ArtifactRecord, ExecutionRecord};
use serde::Serialize;

use crate::error::{Error, Result};

/// One node of a lineage answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "node", rename_all = "snake_case")]
pub enum Node {
    /// An artifact.
    Artifact {
        /// Distance from the subject (negative upstream, positive downstream).
        depth: i64,
        /// The artifact.
        artifact: ArtifactRecord,
    },
    /// An execution of a step.
    Execution {
        /// Distance from the subject.
        depth: i64,
        /// The execution.
        execution: Box<ExecutionRecord>,
        /// Its params' document (the cache key document), when recorded.
        params: Option<serde_json::Value>,
    },
}

/// The lineage of a subject.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Lineage {
    /// What was asked about, as given.
    pub subject: String,
    /// Data, code, params and steps that produced it, nearest first.
    pub upstream: Vec<Node>,
    /// What used it since, nearest first.
    pub downstream: Vec<Node>,
}

/// What a lineage subject names.
enum Start {
    Artifacts(Vec<String>),
    Executions(Vec<String>),
}

/// The lineage of `subject`: a model version (`models:/NAME/VERSION`), an artifact id or
/// URI, a pipeline run id, or an execution id.
///
/// # Errors
/// [`Error::NotFound`] when nothing in the lineage graph matches; store errors.
pub async fn lineage(store: &dyn Store, subject: &str, max_depth: usize) -> Result<Lineage> {
    let start = resolve(store, subject).await?;
    Ok(Lineage {
        subject: subject.to_string(),
        upstream: walk_from(store, &start, true, max_depth).await?,
        downstream: walk_from(store, &start, false, max_depth).await?,
    })
}

async fn resolve(store: &dyn Store, subject: &str) -> Result<Start> {
    let by_uri = store.find_artifacts_by_uri(subject).await?;
    if !by_uri.is_empty() {
        return Ok(Start::Artifacts(
            by_uri.into_iter().map(|a| a.artifact_id).collect(),
        ));
    }
    if let Ok(a) = store.get_artifact(subject).await {
        return Ok(Start::Artifacts(vec![a.artifact_id]));
    }
    if let Ok(e) = store.get_execution(subject).await {
        return Ok(Start::Executions(vec![e.execution_id]));
    }
    if store.get_pipeline_run(subject).await.is_ok() {
        let executions = store.list_executions(subject).await?;
        let ids = executions
            .into_iter()
            .filter(|e| matches!(e.status.as_str(), "SUCCEEDED" | "CACHED"))
            .map(|e| e.execution_id)
            .collect();
        return Ok(Start::Executions(ids));
    }
    Err(Error::NotFound(format!(
        "nothing in the lineage graph is {subject:?} (give models:/NAME/VERSION, an artifact id or URI, a pipeline run id or an execution id)"
    )))
}

async fn walk_from(
    store: &dyn Store,
    start: &Start,
    upstream: bool,
    max_depth: usize,
) -> Result<Vec<Node>> {
    let mut walk = Walk::new(upstream, max_depth);
    match start {
        Start::Artifacts(ids) => {
            for id in ids {
                walk.seen_artifacts.insert(id.clone());
                walk.queue.push_back(Item::Artifact(id.clone(), 0));
            }
        }
        Start::Executions(ids) => {
            for id in ids {
                walk.seen_executions.insert(id.clone());
                walk.queue.push_back(Item::Execution(id.clone(), 0));
            }
        }
    }
    walk.run(store).await
}

enum Item {
    Artifact(String, usize),
    Execution(String, usize),
}

struct Walk {
    upstream: bool,
    max_depth: usize,
    queue: VecDeque<Item>,
    seen_artifacts: BTreeSet<String>,
    seen_executions: BTreeSet<String>,
    nodes: Vec<Node>,
}

impl Walk {
    fn new(upstream: bool, max_depth: usize) -> Self {
        Walk {
            upstream,
            max_depth,
            queue: VecDeque::new(),
            seen_artifacts: BTreeSet::new(),
            seen_executions: BTreeSet::new(),
            nodes: Vec::new(),
        }
    }

    fn signed(&self, depth: usize) -> i64 {
        if self.upstream {
            -(depth as i64)
        } else {
            depth as i64
        }
    }

    async fn run(mut self, store: &dyn Store) -> Result<Vec<Node>> {
        // Upstream: an artifact came from the execution that OUTPUT it, an execution from
        // the artifacts it took as INPUT. Downstream: the reverse.
        let (from_artifact, from_execution) = if self.upstream {
            ("OUTPUT", "INPUT")
        } else {
            ("INPUT", "OUTPUT")
        };
        while let Some(item) = self.queue.pop_front() {
            match item {
                Item::Artifact(id, depth) => {
                    if depth >= self.max_depth {
                        continue;
                    }
                    for e in store.artifact_events(&id).await? {
                        if e.direction == from_artifact
                            && self.seen_executions.insert(e.execution_id.clone())
                        {
                            let execution = store.get_execution(&e.execution_id).await?;
                            let params = execution
                                .cache_document
                                .as_deref()
                                .and_then(|d| serde_json::from_str(d).ok());
                            self.nodes.push(Node::Execution {
                                depth: self.signed(depth + 1),
                                execution: Box::new(execution),
                                params,
                            });
                            self.queue
                                .push_back(Item::Execution(e.execution_id, depth + 1));
                        }
                    }
                }
                Item::Execution(id, depth) => {
                    if depth >= self.max_depth {
                        continue;
                    }
                    for e in store.execution_events(&id).await? {
                        if e.direction == from_execution
                            && self.seen_artifacts.insert(e.artifact_id.clone())
                        {
                            let artifact = store.get_artifact(&e.artifact_id).await?;
                            self.nodes.push(Node::Artifact {
                                depth: self.signed(depth + 1),
                                artifact,
                            });
                            self.queue
                                .push_back(Item::Artifact(e.artifact_id, depth + 1));
                        }
                    }
                }
            }
        }
        Ok(self.nodes)
    }
}
