//! Recognisable `log-batch` payloads and the all-or-nothing check over them.
//!
//! Batch `id` logs metrics `b{id}_m{k}` (k < 10) at steps 0..50 (500 points), params
//! `b{id}_p{j}` and tags `b{id}_t{j}` (j < 50), with values derived from `id`, so that after
//! a crash every key can be traced back to the request that carried it.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use crate::support::Api;

/// Metric keys per batch.
pub const METRIC_KEYS: u64 = 10;
/// Steps per metric key.
pub const STEPS: u64 = 50;
/// Params per batch (also tags per batch).
pub const PARAMS: u64 = 50;
/// Everything one batch writes: metric points, params and tags.
pub const BATCH_SIZE: u64 = METRIC_KEYS * STEPS + 2 * PARAMS;

const T0: i64 = 1_700_000_000_000;

fn metric_value(id: u64, step: u64) -> f64 {
    (id * 1000 + step) as f64
}

/// The `runs/log-batch` body of batch `id` for `run_id`.
pub fn body(id: u64, run_id: &str) -> Value {
    let mut metrics = Vec::with_capacity((METRIC_KEYS * STEPS) as usize);
    for k in 0..METRIC_KEYS {
        for step in 0..STEPS {
            metrics.push(json!({
                "key": format!("b{id}_m{k}"),
                "value": metric_value(id, step),
                "timestamp": T0 + step as i64,
                "step": step,
            }));
        }
    }
    let params: Vec<Value> = (0..PARAMS)
        .map(|j| json!({"key": format!("b{id}_p{j}"), "value": format!("pv{id}_{j}")}))
        .collect();
    let tags: Vec<Value> = (0..PARAMS)
        .map(|j| json!({"key": format!("b{id}_t{j}"), "value": format!("tv{id}_{j}")}))
        .collect();
    json!({"run_id": run_id, "metrics": metrics, "params": params, "tags": tags})
}

/// What the client learnt about one batch.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// HTTP 200: the server said it is stored.
    Acked,
    /// An HTTP error answer: the server said it is not stored.
    Rejected(u16, Value),
    /// No answer (the server died or closed the connection): either way is allowed.
    Unknown(String),
}

impl Outcome {
    /// For failure messages.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Acked => "HTTP 200".to_string(),
            Outcome::Rejected(status, body) => format!("HTTP {status} {body}"),
            Outcome::Unknown(error) => format!("no answer ({error})"),
        }
    }
}

/// One batch sent.
#[derive(Debug, Clone)]
pub struct Record {
    /// Batch id.
    pub id: u64,
    /// The run it went to.
    pub run_id: String,
    /// What the client saw.
    pub outcome: Outcome,
}

/// Counts from a verification.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    /// Acknowledged batches (all found complete).
    pub acked: usize,
    /// Unanswered batches found complete.
    pub unknown_present: usize,
    /// Unanswered batches found absent.
    pub unknown_absent: usize,
    /// Batches answered with an error (all found absent).
    pub rejected: usize,
}

/// Checks every record against the server: each batch is either complete or absent, every
/// acknowledged batch is complete, every rejected batch is absent. Panics with the details
/// of every violation.
pub async fn verify(api: &Api, records: &[Record]) -> Tally {
    let mut by_run: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    for r in records {
        by_run.entry(r.run_id.clone()).or_default().push(r.clone());
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (run_id, recs) in by_run {
        let api = api.clone();
        tasks.spawn(async move { verify_run(&api, &run_id, &recs).await });
    }
    let mut tally = Tally::default();
    let mut problems = Vec::new();
    while let Some(res) = tasks.join_next().await {
        let (t, p) = res.expect("verification task");
        tally.acked += t.acked;
        tally.unknown_present += t.unknown_present;
        tally.unknown_absent += t.unknown_absent;
        tally.rejected += t.rejected;
        problems.extend(p);
    }
    assert!(
        problems.is_empty(),
        "{} batch(es) violate all-or-nothing / durability:\n{}",
        problems.len(),
        problems.join("\n")
    );
    tally
}

fn kv_map(run: &Value, field: &str) -> HashMap<String, String> {
    run["data"][field]
        .as_array()
        .into_iter()
        .flatten()
        .map(|kv| {
            (
                kv["key"].as_str().unwrap_or_default().to_string(),
                kv["value"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn verify_run(api: &Api, run_id: &str, records: &[Record]) -> (Tally, Vec<String>) {
    let run = api.get("runs/get", &[("run_id", run_id)]).await["run"].clone();
    let params = kv_map(&run, "params");
    let tags = kv_map(&run, "tags");
    let mut tally = Tally::default();
    let mut problems = Vec::new();
    for r in records {
        let id = r.id;
        let mut found = 0u64;
        let mut wrong = Vec::new();
        for j in 0..PARAMS {
            if let Some(v) = params.get(&format!("b{id}_p{j}")) {
                found += 1;
                if *v != format!("pv{id}_{j}") {
                    wrong.push(format!("param b{id}_p{j}={v}"));
                }
            }
            if let Some(v) = tags.get(&format!("b{id}_t{j}")) {
                found += 1;
                if *v != format!("tv{id}_{j}") {
                    wrong.push(format!("tag b{id}_t{j}={v}"));
                }
            }
        }
        for k in 0..METRIC_KEYS {
            let key = format!("b{id}_m{k}");
            let history = api
                .get(
                    "metrics/get-history",
                    &[("run_id", run_id), ("metric_key", &key)],
                )
                .await;
            for m in history["metrics"].as_array().into_iter().flatten() {
                found += 1;
                let step = m["step"].as_u64().unwrap_or(u64::MAX);
                if step >= STEPS || m["value"].as_f64() != Some(metric_value(id, step)) {
                    wrong.push(format!("metric {key}: {m}"));
                }
            }
        }
        let complete = found == BATCH_SIZE && wrong.is_empty();
        let absent = found == 0;
        let verdict = match (&r.outcome, complete, absent) {
            (Outcome::Acked, true, _) => {
                tally.acked += 1;
                None
            }
            (Outcome::Rejected(..), _, true) => {
                tally.rejected += 1;
                None
            }
            (Outcome::Unknown(_), true, _) => {
                tally.unknown_present += 1;
                None
            }
            (Outcome::Unknown(_), _, true) => {
                tally.unknown_absent += 1;
                None
            }
            (Outcome::Acked, false, _) => Some("acknowledged with 200 but not all stored"),
            (Outcome::Rejected(..), _, false) => Some("answered with an error but (partly) stored"),
            (Outcome::Unknown(_), false, false) => Some("partly stored"),
        };
        if let Some(why) = verdict {
            problems.push(format!(
                "batch {id} (run {run_id}, {}): {why}: {found}/{BATCH_SIZE} entries \
                 found{}",
                r.outcome.describe(),
                if wrong.is_empty() {
                    String::new()
                } else {
                    format!(", wrong values: {}", wrong.join("; "))
                }
            ));
        }
    }
    (tally, problems)
}
