//! `esteira quickstart --no-serve` end to end on a small world: the story it leaves in the
//! store (one alarm episode after the change, one retrain caused by it, the retrained
//! version as the champion, "avoided" before the change), determinism from the seed, and
//! bad flags.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use esteira_monitor::service;
use esteira_store::MetadataStore;
use esteira_store::SqlStore;
use esteira_store::monitors::{Decision, MonitorStore};
use esteira_store::pipelines::{PipelineStore, RunStatus};
use serde_json::Value;

use crate::support::Server;

/// The replay ends on this day (pinned, so that the calendar is the same on every run).
const END: &str = "2025-10-20";
const DAYS: i64 = 45;
const CHANGE_DAY: i64 = 22;
/// As in `monitors.toml`: ground truth arrives two days late.
const LABEL_DELAY_DAYS: i64 = 2;
/// As in `monitors.toml`: seven windows in a row out of the band.
const RULE_WINDOWS: i64 = 7;
const DAY_MS: i64 = 86_400_000;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `esteira quickstart ARGS` in `cwd` (at most three minutes).
async fn quickstart(args: &[&str], cwd: &Path) -> Run {
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_esteira"));
    cmd.arg("quickstart")
        .args(args)
        .current_dir(cwd)
        .env_remove("ESTEIRA_CONFIG")
        .env("ESTEIRA_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(180), cmd.output())
        .await
        .expect("the quickstart took over three minutes")
        .expect("run esteira");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        took: started.elapsed(),
    }
}

/// 5 stores × 6 products: 30 series, enough for a window's sMAPE to separate the change from
/// the noise (with 9 series, some seeds see one in-band window inside the change's alarms).
fn small(dir: &str, seed: &str) -> Vec<String> {
    let days = DAYS.to_string();
    let change = CHANGE_DAY.to_string();
    let args = [
        "--dir",
        dir,
        "--no-serve",
        "--stores",
        "5",
        "--products",
        "6",
        "--days",
        &days,
        "--change-day",
        &change,
        "--end",
        END,
        "--seed",
        seed,
    ];
    args.iter().map(|s| s.to_string()).collect()
}

/// Midnight of the replay's day `d` (0 = the first replayed day).
fn replay_day_ms(d: i64) -> i64 {
    let end = NaiveDate::parse_from_str(END, "%Y-%m-%d").expect("END is a date");
    let first = end - chrono::Days::new(DAYS as u64);
    first
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_millis()
        + d * DAY_MS
}

/// What the store says happened.
struct Told {
    decisions: Vec<Decision>,
    retrain_seconds: f64,
    saved_seconds: f64,
    /// (window end, alarm, metric value) of every monitor window.
    windows: Vec<(i64, bool, Option<f64>)>,
}

async fn told(dir: &Path) -> (SqlStore, Told) {
    let url = format!("sqlite://{}", dir.join("esteira.db").display());
    let store = SqlStore::open(&url)
        .await
        .expect("open the quickstart's store");
    let ledger = service::decisions(&store, None, i64::MIN, i64::MAX, 10_000)
        .await
        .expect("the ledger");
    let windows = store
        .list_monitor_results("demand-accuracy", i64::MIN, i64::MAX)
        .await
        .expect("monitor results")
        .iter()
        .map(|r| {
            let report = service::report_of(r).expect("a stored report");
            (
                r.window_end,
                r.alarm,
                report.performance.and_then(|p| p.value),
            )
        })
        .collect();
    (
        store,
        Told {
            decisions: ledger.decisions,
            retrain_seconds: ledger.retrain_seconds,
            saved_seconds: ledger.saved_seconds,
            windows,
        },
    )
}

/// Runs of consecutive alarmed windows: (first window end, last window end).
fn episodes(windows: &[(i64, bool, Option<f64>)]) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    let mut previous_alarmed = false;
    for (end, alarm, _) in windows {
        match (alarm, previous_alarmed) {
            (true, false) => out.push((*end, *end)),
            (true, true) => {
                if let Some(last) = out.last_mut() {
                    last.1 = *end;
                }
            }
            _ => {}
        }
        previous_alarmed = *alarm;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_catches_the_change_and_promotes_one_retrained_model() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let run = quickstart(
        &small("qs", "7")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        tmp.path(),
    )
    .await;
    println!("quickstart took {:?}\n{}", run.took, run.stdout);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let dir = tmp.path().join("qs");
    assert!(dir.join("pipeline.toml").exists() && dir.join("monitors.toml").exists());
    assert!(dir.join("data/sales/history.parquet").exists());
    let (store, t) = told(&dir).await;
    // The first ground truth of the new policy (replayed day 22) arrives on day 24 and is
    // judged in the window that ends at the midnight after it.
    let change_judged = replay_day_ms(CHANGE_DAY + LABEL_DELAY_DAYS + 1);
    let after: Vec<(i64, i64)> = episodes(&t.windows)
        .into_iter()
        .filter(|(_, last)| *last >= change_judged)
        .collect();
    assert_eq!(after.len(), 1, "alarm episodes after the change: {after:?}");
    assert_eq!(
        after[0].0, change_judged,
        "the alarm starts with the first shifted truth"
    );
    // One retrain, at the seventh alarmed window in a row, naming the rule that held.
    let retrains: Vec<&Decision> = t
        .decisions
        .iter()
        .filter(|d| d.outcome == "retrain")
        .collect();
    assert_eq!(retrains.len(), 1, "{:#?}", t.decisions);
    let retrain = retrains[0];
    assert_eq!(
        retrain.evaluated_time,
        change_judged + (RULE_WINDOWS - 1) * DAY_MS
    );
    let reasons: Value = serde_json::from_str(&retrain.reasons).expect("reasons are JSON");
    let rule = &reasons["rules"][0];
    assert_eq!(rule["when"], "smape > band.upper");
    assert_eq!(rule["monitor"], "demand-accuracy");
    assert_eq!(rule["met"], true);
    // Every decision carries the compute one retrain costs (the mean of the pipeline's
    // successful runs, measured); the ledger counts the retrain's cost and the savings.
    assert!(
        t.decisions
            .iter()
            .all(|d| d.compute_seconds.is_some_and(|s| s > 0.0))
    );
    assert!(t.retrain_seconds > 0.0 && t.saved_seconds > t.retrain_seconds);
    // Before the change reached the monitor, every evaluation avoided a retrain.
    let before: Vec<&str> = t
        .decisions
        .iter()
        .filter(|d| d.evaluated_time < change_judged)
        .map(|d| d.outcome.as_str())
        .collect();
    assert!(before.len() >= 15, "{before:?}");
    assert!(before.iter().all(|o| *o == "avoided"), "{before:?}");
    // The retrain's run registered version 2, and the deploy step moved the alias to it.
    let firing = retrain.firing_id.clone().expect("the retrain fired");
    let runs = store
        .list_pipeline_runs(Some("demand"), 10)
        .await
        .expect("runs");
    assert_eq!(runs.len(), 2, "{runs:#?}");
    let retrained = runs
        .iter()
        .find(|r| r.firing_id.as_deref() == Some(firing.as_str()))
        .expect("the run of the retrain's firing");
    assert_eq!(retrained.status, RunStatus::Succeeded);
    let history = store
        .alias_history("demand", Some("champion"))
        .await
        .expect("alias history");
    let moves: Vec<(Option<i64>, Option<i64>)> = history
        .iter()
        .map(|c| (c.previous_version, c.version))
        .collect();
    assert_eq!(moves, [(None, Some(1)), (Some(1), Some(2))]);
    let champion = store
        .get_model_version_by_alias("demand", "champion")
        .await
        .expect("a champion");
    assert_eq!(champion.version, "2");
    let steps_of_retrain: Vec<String> = store
        .list_step_runs(&retrained.run_id)
        .await
        .expect("step runs")
        .into_iter()
        .filter_map(|s| s.mlflow_run_id)
        .collect();
    assert!(
        steps_of_retrain.contains(&champion.run_id),
        "version 2 comes from run {}, not from the retrain's steps {steps_of_retrain:?}",
        champion.run_id
    );
    // The story says so too.
    assert!(run.stdout.contains("ALARM: smape"), "{}", run.stdout);
    assert!(run.stdout.contains("RETRAIN"), "{}", run.stdout);
    assert!(
        run.stdout.contains("models:/demand@champion is version 2"),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_tells_the_same_story() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut told_by = Vec::new();
    for dir in ["one", "two"] {
        let run = quickstart(
            &small(dir, "11")
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            tmp.path(),
        )
        .await;
        assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
        let (_, t) = told(&tmp.path().join(dir)).await;
        let decisions: Vec<(i64, String)> = t
            .decisions
            .iter()
            .map(|d| (d.evaluated_time, d.outcome.clone()))
            .collect();
        told_by.push((decisions, t.windows));
    }
    assert_eq!(told_by[0], told_by[1]);
    let one = std::fs::read(tmp.path().join("one/data/sales/history.parquet")).expect("read");
    let two = std::fs::read(tmp.path().join("two/data/sales/history.parquet")).expect("read");
    assert_eq!(one, two);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flags_name_the_flag() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cases: [(&[&str], i32, &str); 6] = [
        (&["--stores", "0"], 1, "--stores"),
        (&["--products", "100"], 1, "--products"),
        (&["--days", "10"], 1, "--days"),
        (&["--days", "60", "--change-day", "5"], 1, "--change-day"),
        (&["--end", "2025-13-01"], 1, "--end"),
        (&["--days", "many"], 2, "--days"),
    ];
    for (args, code, flag) in cases {
        let mut all = vec!["--dir", "bad", "--no-serve"];
        all.extend_from_slice(args);
        let run = quickstart(&all, tmp.path()).await;
        assert_eq!(run.code, Some(code), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(flag), "{args:?}: {}", run.stderr);
        assert!(
            !tmp.path().join("bad/esteira.db").exists(),
            "{args:?} created a store"
        );
    }
    // A directory that already holds a quickstart is refused before anything is written.
    std::fs::create_dir(tmp.path().join("used")).expect("mkdir");
    std::fs::write(tmp.path().join("used/esteira.db"), b"").expect("write");
    let run = quickstart(&["--dir", "used", "--no-serve"], tmp.path()).await;
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("--dir") && run.stderr.contains("already holds"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_story_the_directory_is_served() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut args: Vec<String> = small("served", "7")
        .into_iter()
        .filter(|a| a != "--no-serve")
        .collect();
    args.splice(0..0, ["quickstart", "--port", "0"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = Server::start_raw(&args, &[], tmp.path(), &tmp.path().join("server.log"));
    let api = server.api();
    let alias = api
        .get(
            "registered-models/alias",
            &[("name", "demand"), ("alias", "champion")],
        )
        .await;
    assert_eq!(alias["model_version"]["version"], "2");
    let ledger: Value = reqwest::get(format!(
        "{}/api/2.0/esteira/decisions/list?max_results=1000",
        server.url
    ))
    .await
    .expect("GET decisions/list")
    .json()
    .await
    .expect("a JSON ledger");
    let decisions = ledger["ledger"]["decisions"].as_array().expect("decisions");
    // The replay's decisions, and maybe some of the server's own monitor loop, which
    // carries on from the replay's end (pinned in the past here) to now.
    assert!(decisions.len() as i64 >= DAYS, "{}", decisions.len());
    assert_eq!(ledger["ledger"]["counts"]["retrain"], 1);
    server.stop_gracefully(Duration::from_secs(30));
}
