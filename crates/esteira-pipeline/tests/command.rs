//! Command steps run real processes: Python scripts from `tests/fixtures/command`, `sh`
//! and `sleep`.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::NoRegistry;

use esteira_pipeline::command::{Tracking, run_command};
use esteira_pipeline::step::{
    ArtifactKind, StepContext, StepError, StepLog, StepOrigin, StepOutput,
};
use serde_json::{Map, Value, json};
use tokio::sync::watch;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/command")
}

/// The workspace's virtualenv Python when there is one, else `python3` from `PATH`.
fn python() -> String {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    if venv.exists() {
        venv.display().to_string()
    } else {
        "python3".into()
    }
}

/// One step's setting: the fixtures directory as the pipeline directory and a fresh
/// output directory.
struct Step {
    out: tempfile::TempDir,
    pipeline_dir: PathBuf,
    origin: StepOrigin,
    params: Map<String, Value>,
    inputs: BTreeMap<String, PathBuf>,
    outputs: BTreeMap<String, ArtifactKind>,
    env: BTreeMap<String, String>,
    log: StepLog,
}

impl Step {
    fn new() -> Step {
        Step {
            out: tempfile::tempdir().expect("temp dir"),
            pipeline_dir: fixtures(),
            origin: StepOrigin {
                pipeline: "demand".into(),
                run_id: "run-7".into(),
                step: "train".into(),
                mlflow_run_id: "mlflow-run-7".into(),
                execution_id: "exec-1".into(),
            },
            params: Map::new(),
            inputs: BTreeMap::new(),
            outputs: BTreeMap::new(),
            env: BTreeMap::new(),
            log: StepLog::default(),
        }
    }

    fn output(mut self, port: &str, kind: ArtifactKind) -> Step {
        self.outputs.insert(port.into(), kind);
        self
    }

    fn input(mut self, port: &str, path: PathBuf) -> Step {
        self.inputs.insert(port.into(), path);
        self
    }

    async fn run_with(
        &self,
        argv: &[&str],
        tracking: Option<&Tracking>,
        cancel: watch::Receiver<bool>,
    ) -> Result<StepOutput, StepError> {
        let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
        let ctx = StepContext {
            origin: &self.origin,
            params: &self.params,
            inputs: &self.inputs,
            out_dir: self.out.path(),
            pipeline_dir: &self.pipeline_dir,
            registry: &NoRegistry,
            log: &self.log,
        };
        run_command(&argv, &ctx, &self.outputs, &self.env, tracking, cancel).await
    }

    async fn run(&self, argv: &[&str]) -> Result<StepOutput, StepError> {
        let (_never, cancel) = watch::channel(false);
        self.run_with(argv, None, cancel).await
    }

    /// The log without the `$ command` line.
    fn output_lines(&self) -> Vec<String> {
        self.log.lines().into_iter().skip(1).collect()
    }
}

fn failure(result: Result<StepOutput, StepError>) -> String {
    match result {
        Err(StepError::Failed(message)) => message,
        other => panic!("expected StepError::Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_python_step_reads_its_input_and_writes_outputs_and_metrics() {
    let mut step = Step::new()
        .input("data", fixtures().join("sales.csv"))
        .output("summary", ArtifactKind::Report)
        .output("model", ArtifactKind::Model);
    step.params.insert("scale".into(), json!(2));
    let python = python();
    let output = step
        .run(&[&python, "train.py"])
        .await
        .expect("step succeeds");

    // sales.csv has y = 1.5, 2 and 3: total (1.5 + 2 + 3) * scale 2 = 13.
    let summary_path = step.out.path().join("summary.json");
    assert_eq!(output.outputs["summary"], summary_path);
    assert_eq!(output.outputs["model"], step.out.path().join("model"));
    let summary: Value =
        serde_json::from_slice(&std::fs::read(&summary_path).expect("summary")).expect("json");
    assert_eq!(summary, json!({"rows": 3, "total": 13.0}));
    assert!(step.out.path().join("model/weights.txt").is_file());
    assert_eq!(
        output.metrics,
        BTreeMap::from([("rows".to_string(), 3.0), ("total".to_string(), 13.0)])
    );
    // The two lines come on two pipes at once, so either may be read first.
    let mut lines = step.output_lines();
    lines.sort();
    assert_eq!(lines, vec!["read 3 rows", "stderr: scale applied"]);
    assert_eq!(step.log.lines()[0], format!("$ {python} train.py"));
}

#[tokio::test]
async fn placeholders_in_arguments_become_absolute_paths() {
    let step = Step::new()
        .input("data", fixtures().join("sales.csv"))
        .output("table", ArtifactKind::File);
    let python = python();
    let output = step
        .run(&[
            &python,
            "args.py",
            "{input.data}",
            "--out={output.table}",
            "{params}",
            "{metrics}",
            "{literal} {input.data",
        ])
        .await
        .expect("step succeeds");
    let out = step.out.path();
    assert_eq!(
        step.output_lines(),
        vec![
            fixtures().join("sales.csv").display().to_string(),
            format!("--out={}", out.join("table").display()),
            out.join(".esteira/params.json").display().to_string(),
            out.join(".esteira/metrics").display().to_string(),
            "{literal} {input.data".to_string(),
        ]
    );
    assert_eq!(
        std::fs::read_to_string(&output.outputs["table"]).expect("table"),
        "written through a placeholder\n"
    );
}

#[tokio::test]
async fn a_placeholder_for_an_unconnected_input_names_the_port() {
    let step = Step::new();
    match step.run(&["echo", "{input.features}"]).await {
        Err(StepError::Input { input, reason }) => {
            assert_eq!(input, "features");
            assert!(reason.contains("not connected"), "{reason}");
        }
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_input_file_names_the_port() {
    let step = Step::new().input("data", fixtures().join("no-such.csv"));
    match step.run(&["true"]).await {
        Err(StepError::Input { input, reason }) => {
            assert_eq!(input, "data");
            assert_eq!(
                reason,
                format!(
                    "{} does not exist",
                    fixtures().join("no-such.csv").display()
                )
            );
        }
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_placeholder_for_an_undeclared_output_names_it() {
    let step = Step::new().output("summary", ArtifactKind::File);
    let message = failure(step.run(&["echo", "{output.report}"]).await);
    assert!(message.contains("{output.report}"), "{message}");
    assert!(message.contains("[\"summary\"]"), "{message}");
}

#[tokio::test]
async fn the_environment_names_ports_paths_step_and_mlflow_run() {
    let mut step = Step::new()
        .input("train-data", fixtures().join("sales.csv"))
        .output("scores", ArtifactKind::Dataset)
        .output("verdict", ArtifactKind::Blessing)
        .output("version", ArtifactKind::ModelVersion)
        .output("notes", ArtifactKind::File)
        .output("plots", ArtifactKind::Directory);
    step.env.insert("GREETING".into(), "olá".into());
    let tracking = Tracking {
        uri: "http://127.0.0.1:5000".into(),
        run_id: "mlflow-run-7".into(),
        experiment_id: "12".into(),
    };
    let (_never, cancel) = watch::channel(false);
    let python = python();
    // env.py writes no outputs, so the step fails after the command exits zero; the log
    // still holds what the command saw.
    let message = failure(
        step.run_with(&[&python, "env.py"], Some(&tracking), cancel)
            .await,
    );
    assert!(
        message.contains("output `notes` (file) was not written"),
        "{message}"
    );
    let out = step.out.path().display().to_string();
    let sales = fixtures().join("sales.csv").display().to_string();
    let expected: Vec<String> = [
        format!("ESTEIRA_INPUT_TRAIN_DATA={sales}"),
        format!("ESTEIRA_METRICS={out}/.esteira/metrics"),
        format!("ESTEIRA_OUTPUT_DIR={out}"),
        format!("ESTEIRA_OUTPUT_NOTES={out}/notes"),
        format!("ESTEIRA_OUTPUT_PLOTS={out}/plots"),
        format!("ESTEIRA_OUTPUT_SCORES={out}/scores.parquet"),
        format!("ESTEIRA_OUTPUT_VERDICT={out}/verdict.json"),
        format!("ESTEIRA_OUTPUT_VERSION={out}/version.json"),
        format!("ESTEIRA_PARAMS={out}/.esteira/params.json"),
        "ESTEIRA_PARAMS_JSON={}".to_string(),
        "ESTEIRA_PIPELINE=demand".to_string(),
        "ESTEIRA_RUN_ID=run-7".to_string(),
        "ESTEIRA_STEP=train".to_string(),
        "GREETING=olá".to_string(),
        "MLFLOW_EXPERIMENT_ID=12".to_string(),
        "MLFLOW_RUN_ID=mlflow-run-7".to_string(),
        "MLFLOW_TRACKING_URI=http://127.0.0.1:5000".to_string(),
    ]
    .into();
    assert_eq!(step.output_lines(), expected);
}

#[tokio::test]
async fn two_ports_with_the_same_variable_name_are_refused() {
    let step = Step::new()
        .output("a-b", ArtifactKind::File)
        .output("a_b", ArtifactKind::File);
    let message = failure(step.run(&["true"]).await);
    assert!(message.contains("\"a-b\" and \"a_b\""), "{message}");
    assert!(message.contains("ESTEIRA_OUTPUT_A_B"), "{message}");
}

#[tokio::test]
async fn an_output_port_that_is_not_a_file_name_is_refused() {
    for port in ["../escape", ".esteira", ""] {
        let step = Step::new().output(port, ArtifactKind::File);
        let message = failure(step.run(&["true"]).await);
        assert_eq!(
            message,
            format!(
                "output port {port:?} cannot be a file name: it must not be empty, start with `.` or hold `/`"
            )
        );
    }
}

#[tokio::test]
async fn a_missing_pipeline_directory_is_named() {
    let mut step = Step::new();
    step.pipeline_dir = PathBuf::from("/nonexistent/esteira/pipeline");
    let message = failure(step.run(&["true"]).await);
    assert_eq!(
        message,
        "the pipeline directory /nonexistent/esteira/pipeline is not a directory"
    );
}

#[tokio::test]
async fn stale_metrics_from_an_earlier_attempt_are_not_reported() {
    let step = Step::new();
    step.run(&["sh", "-c", "echo 'rows 3' > \"$ESTEIRA_METRICS\""])
        .await
        .expect("first attempt");
    let output = step.run(&["true"]).await.expect("second attempt");
    assert!(output.metrics.is_empty(), "{:?}", output.metrics);
}

#[tokio::test]
async fn output_lines_arrive_in_order_and_long_lines_are_cut() {
    let step = Step::new();
    let python = python();
    step.run(&[&python, "interleave.py"])
        .await
        .expect("succeeds");
    let lines = step.output_lines();
    assert_eq!(
        lines[..3],
        [
            "first on stdout",
            "stderr: second on stderr",
            "third on stdout"
        ]
    );
    // 70000 x's: one line of the 64 KiB limit (65536), then the other 4464.
    assert_eq!(lines[3], "x".repeat(65536));
    assert_eq!(lines[4], "x".repeat(70000 - 65536));
    assert_eq!(lines[5], "no newline at the end");
    assert_eq!(lines.len(), 6);
}

#[tokio::test]
async fn a_non_zero_exit_reports_the_code_and_the_last_twenty_lines() {
    let step = Step::new();
    let python = python();
    let message = failure(step.run(&[&python, "fail.py"]).await);
    let (head, tail) = message.split_once('\n').expect("a tail");
    assert_eq!(
        head,
        format!("`{python}` failed: exit code 3; last log lines:")
    );
    let expected: Vec<String> = (10..30).map(|i| format!("line {i}")).collect();
    assert_eq!(tail.lines().collect::<Vec<_>>(), expected);
}

#[tokio::test]
async fn death_by_a_signal_names_the_signal() {
    let step = Step::new();
    let message = failure(step.run(&["sh", "-c", "kill -9 $$"]).await);
    assert!(
        message.starts_with("`sh` failed: killed by signal 9 (SIGKILL)"),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_program_is_named() {
    let step = Step::new();
    let message = failure(step.run(&["esteira-no-such-program"]).await);
    assert!(
        message.starts_with("program `esteira-no-such-program` not found on PATH"),
        "{message}"
    );
    let message = failure(step.run(&["./no-such-script.sh"]).await);
    assert_eq!(
        message,
        format!(
            "program `./no-such-script.sh` not found at {}",
            fixtures().join("no-such-script.sh").display()
        )
    );
}

#[tokio::test]
async fn a_program_without_execute_permission_is_named() {
    // The fixture scripts are not executable; they are run through `python`.
    let step = Step::new();
    let message = failure(step.run(&["./fail.py"]).await);
    assert!(
        message.starts_with("program `./fail.py` (") && message.contains("is not executable"),
        "{message}"
    );
}

#[tokio::test]
async fn a_missing_output_is_named() {
    let step = Step::new().output("report", ArtifactKind::Report);
    let message = failure(step.run(&["true"]).await);
    assert!(
        message.starts_with("output `report` (report) was not written"),
        "{message}"
    );
    assert!(
        message.contains(&step.out.path().join("report.json").display().to_string()),
        "{message}"
    );
}

#[tokio::test]
async fn an_output_of_the_wrong_shape_is_named() {
    let step = Step::new().output("model", ArtifactKind::Model);
    let message = failure(
        step.run(&["sh", "-c", "echo weights > \"$ESTEIRA_OUTPUT_MODEL\""])
            .await,
    );
    assert!(
        message.starts_with("output `model` (model) at ")
            && message.ends_with("is a file, but must be a directory"),
        "{message}"
    );
}

#[tokio::test]
async fn metrics_may_be_a_json_object() {
    let step = Step::new();
    let output = step
        .run(&[
            "sh",
            "-c",
            "echo '{\"mape\": 0.125, \"rows\": 40}' > \"$ESTEIRA_METRICS\"",
        ])
        .await
        .expect("succeeds");
    assert_eq!(
        output.metrics,
        BTreeMap::from([("mape".to_string(), 0.125), ("rows".to_string(), 40.0)])
    );
}

#[tokio::test]
async fn malformed_metrics_name_the_line() {
    let step = Step::new();
    let message = failure(
        step.run(&[
            "sh",
            "-c",
            "printf 'rows 3\\nmape high\\n' > \"$ESTEIRA_METRICS\"",
        ])
        .await,
    );
    assert!(message.starts_with("metrics file "), "{message}");
    assert!(
        message.ends_with("line 2: expected `name value` with a finite number, got \"mape high\""),
        "{message}"
    );
}

#[tokio::test]
async fn a_json_metric_that_is_not_a_number_is_named() {
    let step = Step::new();
    let message = failure(
        step.run(&[
            "sh",
            "-c",
            "echo '{\"mape\": \"low\"}' > \"$ESTEIRA_METRICS\"",
        ])
        .await,
    );
    assert!(
        message.ends_with("metric \"mape\" is \"low\", not a finite number"),
        "{message}"
    );
}

/// Whether process `pid` is gone (or a zombie waiting to be reaped by init).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

/// Whether process `pid` is gone within 2 s: a killed process takes a moment to exit
/// after its pipes close.
async fn gone_soon(pid: u32) -> bool {
    let start = Instant::now();
    while !gone(pid) {
        if start.elapsed() > Duration::from_secs(2) {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// Waits until the log has `count` output lines, and returns them as process ids.
async fn pids_in_log(step: &Step, count: usize) -> Vec<u32> {
    let start = Instant::now();
    loop {
        let lines = step.output_lines();
        if lines.len() >= count {
            return lines[..count]
                .iter()
                .map(|l| l.parse().expect("a pid"))
                .collect();
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no pids in {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `argv`, cancels it once it printed `pids` process ids, and returns them, the
/// result and how long cancelling took.
async fn cancel_after_start(
    argv: &[&str],
    pids: usize,
) -> (Vec<u32>, Result<StepOutput, StepError>, Duration) {
    let step = Step::new();
    let (cancel, cancelled) = watch::channel(false);
    let run = step.run_with(argv, None, cancelled);
    let watch_and_cancel = async {
        let found = pids_in_log(&step, pids).await;
        for pid in &found {
            assert!(!gone(*pid), "process {pid} should be running");
        }
        cancel.send(true).expect("receiver alive");
        (found, Instant::now())
    };
    let (result, (found, cancelled_at)) = tokio::join!(run, watch_and_cancel);
    (found, result, cancelled_at.elapsed())
}

#[tokio::test]
async fn cancelling_kills_the_child() {
    let (pids, result, took) = cancel_after_start(&["sh", "-c", "echo $$; exec sleep 30"], 1).await;
    assert_eq!(failure(result), "cancelled");
    assert!(gone_soon(pids[0]).await, "sleep {} still running", pids[0]);
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[tokio::test]
async fn cancelling_kills_grandchildren_too() {
    let (pids, result, _) =
        cancel_after_start(&["sh", "-c", "echo $$; sleep 30 & echo $!; wait"], 2).await;
    assert_eq!(failure(result), "cancelled");
    for pid in pids {
        assert!(gone_soon(pid).await, "process {pid} still running");
    }
}

#[tokio::test]
async fn a_child_ignoring_sigterm_is_killed_after_the_grace_period() {
    let (pids, result, took) =
        cancel_after_start(&["sh", "-c", "trap '' TERM; echo $$; sleep 30"], 1).await;
    assert_eq!(failure(result), "cancelled");
    assert!(gone_soon(pids[0]).await, "sh {} still running", pids[0]);
    assert!(
        took >= Duration::from_millis(4900) && took < Duration::from_secs(9),
        "took {took:?}, expected the 5 s grace"
    );
}

#[tokio::test]
async fn processes_left_behind_are_killed_when_the_command_exits() {
    let step = Step::new();
    let started = Instant::now();
    step.run(&["sh", "-c", "sleep 30 & echo $!"])
        .await
        .expect("succeeds");
    let pid: u32 = step.output_lines()[0].parse().expect("a pid");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(gone_soon(pid).await, "background sleep {pid} still running");
}

#[tokio::test]
async fn dropping_the_run_kills_the_process_group() {
    let step = Step::new();
    let (_never, cancel) = watch::channel(false);
    let run = step.run_with(
        &["sh", "-c", "echo $$; sleep 30 & echo $!; wait"],
        None,
        cancel,
    );
    let timed_out = tokio::time::timeout(Duration::from_secs(1), run).await;
    assert!(timed_out.is_err(), "the run should still be going");
    for pid in pids_in_log(&step, 2).await {
        assert!(gone_soon(pid).await, "process {pid} still running");
    }
}

#[tokio::test]
async fn an_already_cancelled_step_starts_nothing() {
    let step = Step::new();
    let (_cancel, cancelled) = watch::channel(true);
    let result = step
        .run_with(&["sh", "-c", "echo started"], None, cancelled)
        .await;
    assert_eq!(failure(result), "cancelled");
    assert!(step.log.lines().is_empty());
}
