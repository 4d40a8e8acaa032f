//! A deployed pipeline on PostgreSQL executed by two `esteira worker` processes: one is
//! killed with SIGKILL in the middle of a step, the step runs again on the other, the run
//! succeeds, and only one set of outputs is committed.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{PgDatabase, Server, cli, postgres_url};

/// A step that records when it starts and ends (in a shared file) and sleeps long enough
/// to be killed mid-way.
const SLOW_PY: &str = r#"
import os, sys, time
log = os.path.join(os.path.dirname(os.path.abspath(__file__)), "slow.log")
with open(log, "a") as f:
    f.write(f"start {os.getpid()} {time.time()}\n")
time.sleep(float(sys.argv[1]))
with open(os.environ["ESTEIRA_OUTPUT_RESULT"], "w") as f:
    f.write("done\n")
with open(log, "a") as f:
    f.write(f"end {os.getpid()} {time.time()}\n")
"#;

fn pipeline_toml(python: &str) -> String {
    format!(
        r#"
[pipeline]
name = "two-workers"

[steps.ingest]
type = "ingest"
params = {{ path = "./data.csv" }}

[steps.slow]
command = ["{python}", "slow.py", "4"]
inputs = {{ data = "ingest.data" }}
outputs = {{ result = "file" }}

[steps.fast_a]
command = ["sh", "-c", "echo a > $ESTEIRA_OUTPUT_OUT"]
inputs = {{ data = "ingest.data" }}
outputs = {{ out = "file" }}

[steps.fast_b]
command = ["sh", "-c", "echo b > $ESTEIRA_OUTPUT_OUT"]
inputs = {{ data = "ingest.data" }}
outputs = {{ out = "file" }}

[steps.join]
command = ["sh", "-c", "cat $ESTEIRA_INPUT_SLOW $ESTEIRA_INPUT_A $ESTEIRA_INPUT_B > $ESTEIRA_OUTPUT_ALL"]
inputs = {{ slow = "slow.result", a = "fast_a.out", b = "fast_b.out" }}
outputs = {{ all = "file" }}

[[triggers]]
name = "on-demand"
type = "hook"
"#
    )
}

async fn get(url: &str, path: &str, query: &[(&str, &str)]) -> Value {
    let resp = reqwest::Client::new()
        .get(format!("{url}/api/2.0/esteira/{path}"))
        .query(query)
        .send()
        .await
        .expect("reach the server");
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.expect("json")
}

#[tokio::test]
async fn a_worker_killed_mid_step_loses_it_to_the_other_and_the_run_succeeds() {
    let Some(admin) = postgres_url("a_worker_killed_mid_step") else {
        return;
    };
    let db = PgDatabase::create(&admin, "workers").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let python = crate::pipeline::python();
    std::fs::write(d.join("data.csv"), "x,y\n1,2\n3,4\n").expect("write data");
    std::fs::write(d.join("slow.py"), SLOW_PY).expect("write step");
    std::fs::write(
        d.join("pipeline.toml"),
        pipeline_toml(&python.display().to_string()),
    )
    .expect("write pipeline");
    let artifacts = d.join("artifacts").display().to_string();
    let stores = [
        "--store",
        db.url.as_str(),
        "--artifacts",
        artifacts.as_str(),
    ];
    let mut server_args = stores.to_vec();
    server_args.extend_from_slice(&["--workers", "0"]);
    let server = Server::start(&server_args, &[], d, &d.join("server.log"));
    let mut workers = Vec::new();
    for id in ["w1", "w2"] {
        let mut args = stores.to_vec();
        args.extend_from_slice(&["--lease", "1500ms", "--id", id]);
        workers.push((
            id,
            Server::start_worker(&args, &[], d, &d.join(format!("{id}.log"))),
        ));
    }

    cli(
        &[
            "pipeline",
            "deploy",
            "pipeline.toml",
            "--server",
            &server.url,
        ],
        &[],
        d,
    )
    .await
    .ok();
    let trigger = [
        "pipeline",
        "trigger",
        "two-workers",
        "--hook",
        "on-demand",
        "--idempotency-key",
        "k1",
        "--server",
        &server.url,
        "--json",
    ];
    let fired = cli(&trigger, &[], d).await.json();
    let run_id = fired["run_id"].as_str().expect("a run started").to_string();
    let again = cli(&trigger, &[], d).await.json();
    assert_eq!(
        again["status"], "DUPLICATE",
        "the same key starts no second run"
    );

    // Wait until the slow step is running, then kill its worker.
    let deadline = Instant::now() + Duration::from_secs(60);
    let holder = loop {
        let details = get(&server.url, "pipelines/runs/get", &[("run_id", &run_id)]).await;
        let slow = details["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|x| x["step"] == "slow"))
            .cloned()
            .unwrap_or(Value::Null);
        if slow["status"] == "RUNNING" && d.join("slow.log").exists() {
            break slow["lease_owner"]
                .as_str()
                .expect("a lease owner")
                .to_string();
        }
        assert!(Instant::now() < deadline, "slow never started: {details}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let victim = workers
        .iter_mut()
        .find(|(id, _)| *id == holder)
        .expect("holder is w1 or w2");
    victim.1.kill9();
    let survivor = if holder == "w1" { "w2" } else { "w1" };

    let details = loop {
        let details = get(&server.url, "pipelines/runs/get", &[("run_id", &run_id)]).await;
        let status = details["run"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if ["SUCCEEDED", "FAILED", "CANCELLED"].contains(&status.as_str()) {
            break details;
        }
        assert!(
            Instant::now() < deadline,
            "the run did not finish: {details}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(details["run"]["status"], "SUCCEEDED", "{details}");
    let executions = details["executions"].as_array().expect("executions");
    let slow: Vec<&Value> = executions.iter().filter(|e| e["step"] == "slow").collect();
    let summary: Vec<(String, String)> = slow
        .iter()
        .map(|e| {
            (
                e["status"].as_str().unwrap_or("").into(),
                e["worker_id"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("LOST".to_string(), holder.clone()),
            ("SUCCEEDED".to_string(), survivor.to_string())
        ],
        "{details}"
    );

    // The killed worker's step process died with it: the step never ran twice at once.
    let log = std::fs::read_to_string(d.join("slow.log")).expect("slow.log");
    let starts = log.lines().filter(|l| l.starts_with("start")).count();
    let ends = log.lines().filter(|l| l.starts_with("end")).count();
    assert_eq!((starts, ends), (2, 1), "{log}");

    // One committed output for the step, under the surviving execution.
    let succeeded = slow[1]["execution_id"].as_str().expect("id");
    let lineage = get(&server.url, "lineage", &[("subject", succeeded)]).await;
    let outputs: Vec<&Value> = lineage["downstream"]
        .as_array()
        .expect("downstream")
        .iter()
        .filter(|n| n["depth"] == 1)
        .collect();
    assert_eq!(outputs.len(), 1, "{lineage}");
    assert!(
        outputs[0]["artifact"]["uri"]
            .as_str()
            .is_some_and(|u| u.contains(succeeded))
    );
    let firings = get(
        &server.url,
        "pipelines/firings/list",
        &[("pipeline", "two-workers")],
    )
    .await;
    assert_eq!(
        firings["firings"].as_array().map(Vec::len),
        Some(1),
        "{firings}"
    );
    assert_eq!(firings["firings"][0]["run_id"], json!(run_id));
}
