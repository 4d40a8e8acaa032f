//! `esteira pipeline ...`: a continuous-training pipeline of built-in steps and a custom
//! Python step, run on the embedded store; caching, changed params, resume, failures,
//! retries, timeouts, lineage, rollback and pipeline-file errors.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{Out, cli};
use crate::train::sales_csv;

/// The Python of the project's virtual environment (mlflow, pandas, pyarrow).
pub fn python() -> PathBuf {
    let venv = std::env::var("ESTEIRA_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv"));
    venv.join("bin/python")
}

/// A step that reads the test split and the evaluation, writes a summary, reports metrics
/// through the metrics file and logs one metric with the real `mlflow` client.
const REPORT_PY: &str = r#"
import json, os, sys
import mlflow
import pandas as pd

test = pd.read_parquet(os.environ["ESTEIRA_INPUT_TEST"])
evaluation = json.load(open(os.environ["ESTEIRA_INPUT_EVALUATION"]))
params = json.load(open(os.environ["ESTEIRA_PARAMS"]))
with open(os.environ["ESTEIRA_OUTPUT_SUMMARY"], "w") as f:
    f.write(f"{len(test)} rows, mase {evaluation['candidate']['mase']:.4f}, note {params['note']}\n")
with open(os.environ["ESTEIRA_METRICS"], "w") as f:
    json.dump({"test_rows": len(test)}, f)
mlflow.log_metric("logged_from_python", 7.5)
print("report written", flush=True)
"#;

fn pipeline_toml(python: &Path, extra: &str) -> String {
    format!(
        r#"
[pipeline]
name = "demand-e2e"

[params]
data = "./sales.csv"
horizon = 14
method = "naive2"
note = "first"

[steps.ingest]
type = "ingest"
params = {{ path = "${{params.data}}" }}

[steps.validate]
type = "validate"
inputs = {{ data = "ingest.data" }}
params = {{ min_rows = 50, ranges = {{ units = {{ min = 0 }} }} }}

[steps.split]
type = "split"
inputs = {{ data = "validate.data" }}
params = {{ time = "date", id = "store_item", horizon = "${{params.horizon}}" }}

[steps.train]
type = "train"
inputs = {{ train = "split.train" }}
params = {{ kind = "forecast", id = "store_item", time = "date", target = "units", horizon = "${{params.horizon}}", method = "${{params.method}}" }}

[steps.evaluate]
type = "evaluate"
inputs = {{ model = "train.model", test = "split.test" }}
params = {{ champion = "demand-e2e@champion" }}

[steps.gate]
type = "gate"
inputs = {{ report = "evaluate.report" }}
params = {{ rules = {{ mase = {{ greater_is_better = false, threshold = 10.0 }} }} }}

[steps.register]
type = "register"
inputs = {{ model = "train.model", blessing = "gate.blessing" }}
params = {{ name = "demand-e2e" }}

[steps.deploy]
type = "deploy"
inputs = {{ version = "register.version", blessing = "gate.blessing" }}

[steps.report]
command = ["{python}", "report.py"]
inputs = {{ test = "split.test", evaluation = "evaluate.report" }}
outputs = {{ summary = "file" }}
params = {{ note = "${{params.note}}" }}
{extra}
"#,
        python = python.display()
    )
}

struct Project {
    dir: tempfile::TempDir,
    store: String,
    artifacts: String,
}

impl Project {
    fn new(extra: &str) -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::write(d.join("sales.csv"), sales_csv(120)).expect("write data");
        std::fs::write(d.join("report.py"), REPORT_PY).expect("write step");
        std::fs::write(d.join("pipeline.toml"), pipeline_toml(&python(), extra)).expect("write");
        Project {
            store: format!("sqlite://{}", d.join("data/esteira.db").display()),
            artifacts: d.join("data/artifacts").display().to_string(),
            dir,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    async fn run(&self, extra: &[&str]) -> Out {
        let mut args = vec![
            "pipeline",
            "run",
            "pipeline.toml",
            "--json",
            "--store",
            &self.store,
            "--artifacts",
            &self.artifacts,
        ];
        args.extend_from_slice(extra);
        cli(&args, &[], self.path()).await
    }

    /// `esteira ARGS --store ...` (and `--artifacts` for the pipeline commands).
    async fn cmd(&self, args: &[&str]) -> Out {
        let mut full: Vec<&str> = args.to_vec();
        full.extend_from_slice(&["--store", &self.store]);
        if ["pipeline", "lineage"].contains(&args[0]) || args.get(1) == Some(&"rollback") {
            full.extend_from_slice(&["--artifacts", &self.artifacts]);
        }
        cli(&full, &[], self.path()).await
    }
}

/// Step name → status of a `pipeline run --json` answer.
fn statuses(details: &Value) -> Vec<(String, String)> {
    details["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap_or_default().to_string(),
                s["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn status_of(details: &Value, step: &str) -> String {
    statuses(details)
        .into_iter()
        .find(|(s, _)| s == step)
        .map(|(_, st)| st)
        .unwrap_or_else(|| panic!("no step {step} in {details}"))
}

fn run_json(out: &Out) -> Value {
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {out:#?}"))
}

#[tokio::test]
async fn a_pipeline_runs_end_to_end_then_caches_reruns_and_resumes() {
    let p = Project::new("");
    let first = p.run(&[]).await;
    let details = first.json();
    assert_eq!(details["run"]["status"], "SUCCEEDED", "{first:#?}");
    assert!(
        statuses(&details).iter().all(|(_, s)| s == "SUCCEEDED"),
        "{details}"
    );
    assert!(
        first.stderr.contains("train") && first.stderr.contains("RUNNING"),
        "live progress: {}",
        first.stderr
    );
    let run_id = details["run"]["run_id"]
        .as_str()
        .expect("run id")
        .to_string();
    let executions = details["executions"].as_array().expect("executions");
    assert_eq!(executions.len(), 9);
    let report = executions
        .iter()
        .find(|e| e["step"] == "report")
        .expect("report step");
    assert!(
        report["log_tail"]
            .as_str()
            .unwrap_or("")
            .contains("report written"),
        "stdout captured: {report}"
    );

    // The pipeline run is an MLflow run with its steps as nested runs; the Python step's
    // mlflow.log_metric landed on its own step run.
    let runs = p
        .cmd(&[
            "runs",
            "list",
            "--experiment",
            "demand-e2e",
            "--json",
            "--max-results",
            "50",
        ])
        .await
        .json();
    let runs = runs.as_array().expect("runs");
    assert_eq!(runs.len(), 10, "1 pipeline run + 9 step runs");
    let tag = |r: &Value, k: &str| {
        r["data"]["tags"]
            .as_array()
            .and_then(|t| t.iter().find(|x| x["key"] == k))
            .and_then(|x| x["value"].as_str())
            .map(str::to_string)
    };
    let children: Vec<&Value> = runs
        .iter()
        .filter(|r| tag(r, "mlflow.parentRunId").as_deref() == Some(run_id.as_str()))
        .collect();
    assert_eq!(children.len(), 9);
    let report_run = children
        .iter()
        .find(|r| tag(r, "esteira.step").as_deref() == Some("report"))
        .expect("the report step's run");
    let metrics = report_run["data"]["metrics"].as_array().expect("metrics");
    let metric = |k: &str| {
        metrics
            .iter()
            .find(|m| m["key"] == k)
            .map(|m| m["value"].clone())
    };
    assert_eq!(metric("logged_from_python"), Some(Value::from(7.5)));
    assert_eq!(metric("test_rows"), Some(Value::from(42.0)));

    // Registered and deployed: the champion alias points at version 1.
    let model = p
        .cmd(&["models", "show", "demand-e2e", "--json"])
        .await
        .json();
    assert_eq!(model["aliases"][0]["alias"], "champion", "{model}");

    // Lineage: the model version came from train, split, validate, ingest and sales.csv.
    let lineage = p
        .cmd(&["lineage", "models:/demand-e2e/1", "--json"])
        .await
        .json();
    let up = lineage["upstream"].as_array().expect("upstream");
    let steps: Vec<&str> = up
        .iter()
        .filter_map(|n| n["execution"]["step"].as_str())
        .collect();
    for s in [
        "register", "train", "split", "validate", "ingest", "gate", "evaluate",
    ] {
        assert!(
            steps.contains(&s),
            "{s} missing upstream of the model: {steps:?}"
        );
    }
    let source = up
        .iter()
        .find(|n| {
            n["artifact"]["uri"]
                .as_str()
                .is_some_and(|u| u.ends_with("sales.csv"))
        })
        .expect("the CSV is in the lineage");
    assert_eq!(
        source["artifact"]["digest"].as_str().map(str::len),
        Some(64)
    );
    let down = p.cmd(&["lineage", &run_id, "--json"]).await.json();
    assert!(down["upstream"].as_array().is_some_and(|u| !u.is_empty()));

    // A second identical run is fully cached, and says which execution it reused.
    let second = run_json(&p.run(&[]).await);
    assert_eq!(second["run"]["status"], "SUCCEEDED");
    assert!(
        statuses(&second).iter().all(|(_, s)| s == "CACHED"),
        "{second}"
    );
    let reason = second["executions"][0]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.contains("cache hit") && reason.contains(&run_id),
        "{reason}"
    );

    // A changed param re-runs exactly the steps that read it and those downstream.
    let third = run_json(&p.run(&["--param", "note=second"]).await);
    for (step, status) in statuses(&third) {
        let expected = if step == "report" {
            "SUCCEEDED"
        } else {
            "CACHED"
        };
        assert_eq!(status, expected, "{step}: {third}");
    }
    let why = third["executions"]
        .as_array()
        .and_then(|e| e.iter().find(|x| x["step"] == "report"))
        .and_then(|x| x["reason"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(why.contains("note"), "the miss names the param: {why}");
    let fourth = run_json(&p.run(&["--param", "method=snaive"]).await);
    for (step, status) in statuses(&fourth) {
        let rerun =
            ["train", "evaluate", "gate", "register", "deploy", "report"].contains(&step.as_str());
        assert_eq!(
            status,
            if rerun { "SUCCEEDED" } else { "CACHED" },
            "{step}: {fourth}"
        );
    }

    // --no-cache runs everything; --from resumes from a step and reuses the rest.
    let fifth = run_json(&p.run(&["--no-cache"]).await);
    assert!(
        statuses(&fifth).iter().all(|(_, s)| s == "SUCCEEDED"),
        "{fifth}"
    );
    let sixth = run_json(&p.run(&["--from", "gate", "--no-cache"]).await);
    for (step, status) in statuses(&sixth) {
        let rerun = ["gate", "register", "deploy"].contains(&step.as_str());
        assert_eq!(
            status,
            if rerun { "SUCCEEDED" } else { "CACHED" },
            "{step}: {sixth}"
        );
    }
    let resumed = sixth["executions"]
        .as_array()
        .and_then(|e| e.iter().find(|x| x["step"] == "train"))
        .and_then(|x| x["reason"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(resumed.contains("--from"), "{resumed}");

    // Every deploy moved the alias; rollback goes back one champion and records why.
    let rollback = p
        .cmd(&[
            "models",
            "rollback",
            "demand-e2e",
            "--reason",
            "bad week",
            "--json",
        ])
        .await
        .json();
    let r = &rollback["rollback"];
    assert_eq!(
        r["to_version"].as_i64(),
        Some(r["from_version"].as_i64().unwrap_or(0) - 1),
        "{rollback}"
    );
    assert!(
        r["change"]["reason"]
            .as_str()
            .is_some_and(|s| s.contains("bad week"))
    );
    assert!(
        r["change"]["actor"]
            .as_str()
            .is_some_and(|s| s.contains('@'))
    );
}

#[tokio::test]
async fn failures_stop_dependents_retries_recover_and_timeouts_fire() {
    let extra = r#"
[steps.flaky]
command = ["sh", "-c", "if [ -f marker ]; then echo recovered; else touch marker; echo first try fails >&2; exit 3; fi"]
retries = 2
retry_backoff = "100ms"

[steps.broken]
command = ["sh", "-c", "echo about to fail; echo bad thing >&2; exit 4"]
inputs = { data = "ingest.data" }
outputs = { out = "file" }

[steps.after_broken]
command = ["true"]
inputs = { x = "broken.out" }

[steps.slow]
command = ["sleep", "30"]
timeout = "1s"
"#;
    let p = Project::new(extra);
    let out = p.run(&[]).await;
    assert_eq!(out.code, Some(1), "a failed run exits 1: {out:#?}");
    let details = run_json(&out);
    assert_eq!(details["run"]["status"], "FAILED");
    assert_eq!(status_of(&details, "flaky"), "SUCCEEDED");
    assert_eq!(status_of(&details, "broken"), "FAILED");
    assert_eq!(status_of(&details, "after_broken"), "SKIPPED");
    assert_eq!(status_of(&details, "slow"), "FAILED");
    assert_eq!(
        status_of(&details, "deploy"),
        "SUCCEEDED",
        "independent branches go on"
    );
    let executions = details["executions"].as_array().expect("executions");
    let of = |step: &str| {
        executions
            .iter()
            .filter(|e| e["step"] == step)
            .collect::<Vec<_>>()
    };
    assert_eq!(of("flaky").len(), 2, "one failure, one retry");
    let broken = of("broken")[0];
    assert_eq!(broken["exit_code"], 4);
    assert!(
        broken["log_tail"]
            .as_str()
            .is_some_and(|t| t.contains("bad thing")),
        "{broken}"
    );
    assert!(
        of("slow")[0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("timed out"))
    );

    let run_id = details["run"]["run_id"].as_str().expect("id");
    let show = p.cmd(&["pipeline", "show", run_id]).await;
    let text = show.ok();
    assert!(
        text.contains("exit code 4") && text.contains("| stderr: bad thing"),
        "{text}"
    );
}

#[tokio::test]
async fn pipeline_files_with_errors_are_refused_with_their_location() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: [(&str, &str, &[&str]); 6] = [
        (
            "[pipeline]\nname = \"p\"\n[steps.a]\ntype = \"trian\"\n",
            "unknown step type",
            &["p.toml:4:8", "steps.a.type", "\"trian\""],
        ),
        (
            "[pipeline]\nname = \"p\"\n[steps.a]\ncommand = [\"x\"]\ninputs = { i = \"b.o\" }\noutputs = { o = \"file\" }\n[steps.b]\ncommand = [\"y\"]\ninputs = { i = \"a.o\" }\noutputs = { o = \"file\" }\n",
            "cycle",
            &["cycle", "\"a\"", "\"b\""],
        ),
        (
            "[pipeline]\nname = \"p\"\n[steps.t]\ntype = \"train\"\ninputs = { train = \"nope.data\" }\n",
            "unknown input",
            &[
                "p.toml:5:20",
                "steps.t.inputs.train",
                "unknown step \"nope\"",
            ],
        ),
        (
            "[pipeline]\nname = \"p\"\n[steps.i]\ntype = \"ingest\"\n[steps.g]\ntype = \"gate\"\ninputs = { report = \"i.data\" }\n",
            "type mismatch",
            &["type mismatch", "report", "dataset"],
        ),
        (
            "[pipeline]\nname = \"p\"\n[[triggers]]\ntype = \"cron\"\nschedule = \"61 * * * *\"\n",
            "invalid cron",
            &["p.toml:5:12", "triggers[0].schedule"],
        ),
        (
            "[pipeline]\nname = \"p\"\n[steps.a]\ntype = \"ingest\"\nretries = \"many\"\n",
            "wrong type",
            &["p.toml:5", "retries"],
        ),
    ];
    for (text, what, needles) in cases {
        std::fs::write(dir.path().join("p.toml"), text).expect("write");
        let out = cli(&["pipeline", "validate", "p.toml"], &[], dir.path()).await;
        assert_eq!(out.code, Some(1), "{what}: {out:#?}");
        for n in needles {
            assert!(
                out.stderr.contains(n),
                "{what}: stderr lacks {n:?}: {}",
                out.stderr
            );
        }
    }
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demand/pipeline.toml");
    let example = example.display().to_string();
    let checked = cli(&["pipeline", "validate", &example], &[], dir.path()).await;
    assert!(
        checked
            .ok()
            .contains("valid pipeline \"demand\": 9 steps, 3 triggers"),
        "{checked:#?}"
    );
    let p = Project::new("");
    let ok = cli(&["pipeline", "validate", "pipeline.toml"], &[], p.path()).await;
    assert!(
        ok.ok().contains("valid pipeline \"demand-e2e\": 9 steps"),
        "{ok:#?}"
    );
    let graph = cli(
        &["pipeline", "graph", "pipeline.toml", "--format", "dot"],
        &[],
        p.path(),
    )
    .await;
    assert!(graph.ok().contains("digraph"), "{graph:#?}");
    let bad_param = p.run(&["--param", "horizon=soon"]).await;
    bad_param.fails_with(&["horizon", "soon"]);
    let unknown = p.run(&["--param", "nope=1"]).await;
    unknown.fails_with(&["unknown param \"nope\""]);
    let from = p.run(&["--from", "nope"]).await;
    from.fails_with(&["--from", "no step \"nope\""]);
}
