//! `esteira monitor ...` and `esteira decisions` on the embedded store: a drift monitor over
//! files whose policy fires a deployed pipeline's hook trigger exactly once, the HTML
//! report, the decision ledger, and bad input.

use std::fmt::Write as _;
use std::path::Path;

use crate::support::cli;

const PIPELINE: &str = r#"
[pipeline]
name = "demand"

[steps.retrain]
command = ["sh", "-c", "echo retrained"]

[[triggers]]
name = "monitor"
type = "hook"
"#;

const MONITORS: &str = r#"
[[monitor]]
name = "inputs"
files = "live/*.csv"
time_column = "date"
every = "1d"

[monitor.drift]
reference = "train.csv"

[[policy]]
name = "retrain-demand"
pipeline = "demand"
cooldown = "7d"
rules = [{ monitor = "inputs", when = "drift" }]
"#;

/// Days of 2025-01 (`first`, counted from Jan 1) with a price level: 200 rows a day of
/// `date,price,promo`, deterministic.
fn days_csv(first: u32, days: u32, price: f64, promo_every: u32) -> String {
    let mut text = String::from("date,price,promo\n");
    for day in first..first + days {
        for i in 0..200u32 {
            let wobble = f64::from((i * 37 + day * 11) % 100) / 50.0 - 1.0;
            let promo = if i % promo_every == 0 { "yes" } else { "no" };
            let _ = writeln!(text, "2025-01-{:02},{:.3},{promo}", day + 1, price + wobble);
        }
    }
    text
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write a test file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drift_monitor_fires_the_pipeline_once_and_keeps_its_ledger() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir(d.join("live")).expect("mkdir");
    let store = format!("sqlite://{}", d.join("m.db").display());
    let artifacts = d.join("artifacts").display().to_string();
    let target = ["--store", store.as_str(), "--artifacts", artifacts.as_str()];
    let run = |args: Vec<&str>| {
        let mut all = args;
        all.extend_from_slice(&target);
        all.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    write(d, "pipeline.toml", PIPELINE);
    write(d, "monitors.toml", MONITORS);
    write(d, "train.csv", &days_csv(0, 10, 10.0, 5));
    write(&d.join("live"), "a.csv", &days_csv(10, 2, 10.0, 5));
    write(&d.join("live"), "b.csv", &days_csv(12, 2, 14.0, 2));
    let call = |args: Vec<String>| async move {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&refs, &[], d).await
    };
    let deployed = call(run(vec!["monitor", "deploy", "monitors.toml"])).await;
    call(run(vec!["pipeline", "deploy", "pipeline.toml"]))
        .await
        .ok();
    assert!(
        deployed.ok().contains("monitor inputs: deployed"),
        "{deployed:#?}"
    );
    assert!(deployed.ok().contains("policy retrain-demand: deployed"));
    // Jan 11 and 12 as in training; Jan 13 and 14 with prices up and twice the promotions.
    let first = call(run(vec!["monitor", "run", "--at", "2025-01-12"])).await;
    assert!(
        first
            .ok()
            .contains("window 2025-01-11 00:00 to 2025-01-12 00:00, 200 row(s): no alert"),
        "{first:#?}"
    );
    assert!(
        first
            .ok()
            .contains("policy retrain-demand at 2025-01-12 00:00: avoided")
    );
    let later = call(run(vec![
        "monitor",
        "run",
        "inputs",
        "--at",
        "2025-01-15T06:00:00Z",
        "--json",
    ]))
    .await;
    let body = later.json();
    let windows = body["windows"]["inputs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(windows.len(), 3, "{body:#}");
    assert_eq!(windows[0]["alerts"], serde_json::json!([]));
    let columns = &windows[1]["drift"]["columns"];
    assert_eq!(columns[0]["column"], "price");
    assert_eq!(columns[0]["method"], "wasserstein");
    assert_eq!(columns[0]["drifted"], true);
    assert_eq!(columns[1]["method"], "jensenshannon");
    let outcomes: Vec<&str> = body["decisions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["outcome"].as_str())
        .collect();
    // The window of Jan 12 is as in training; Jan 13 drifts: retrain; Jan 14 drifts too
    // but falls within the cooldown.
    assert_eq!(outcomes, ["avoided", "retrain", "cooldown"]);
    let firings = call(run(vec!["pipeline", "firings", "demand", "--json"]))
        .await
        .json();
    let firings = firings["firings"].as_array().cloned().unwrap_or_default();
    assert_eq!(firings.len(), 1, "{firings:#?}");
    assert_eq!(firings[0]["trigger_name"], "monitor");
    assert!(
        firings[0]["cause"]
            .as_str()
            .unwrap_or_default()
            .contains("policy retrain-demand: inputs: drift"),
        "{firings:#?}"
    );
    // Nothing is due any more: no window, no decision, no firing.
    let again = call(run(vec!["monitor", "run", "--at", "2025-01-15T07:00:00Z"])).await;
    assert!(
        again.ok().contains("monitor inputs: no window due"),
        "{again:#?}"
    );
    let ledger = call(run(vec!["decisions", "--json"])).await.json();
    assert_eq!(ledger["counts"]["avoided"], 2);
    assert_eq!(ledger["counts"]["retrain"], 1);
    assert_eq!(ledger["counts"]["cooldown"], 1);
    let table = call(run(vec!["decisions"])).await;
    assert!(
        table.ok().contains("2 avoided, 1 cooldown, 1 retrain"),
        "{table:#?}"
    );
    assert!(
        table
            .ok()
            .contains("held back: the previous retrain was 1d ago")
    );
    let html = d.join("report.html");
    let html_arg = html.display().to_string();
    call(run(vec![
        "monitor", "history", "inputs", "--html", &html_arg,
    ]))
    .await
    .ok();
    let page = std::fs::read_to_string(&html).expect("the report");
    assert!(page.contains("<svg id=\"drift-share\""));
    let live = days_csv(12, 2, 14.0, 2);
    for row in live.lines().skip(1).take(50) {
        assert!(
            !page.contains(row),
            "a raw row leaked into the report: {row}"
        );
    }
    let history = call(run(vec!["monitor", "history", "inputs"])).await;
    assert_eq!(history.ok().matches("2025-01-1").count(), 4, "{history:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_monitor_input_is_refused_with_its_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let store = format!("sqlite://{}", d.join("m.db").display());
    write(
        d,
        "bad.toml",
        &MONITORS.replace("every = \"1d\"", "every = \"daily\""),
    );
    cli(&["monitor", "validate", "bad.toml"], &[], d)
        .await
        .fails_with(&["monitor 'inputs'.every", "\"daily\" is not a duration"]);
    write(d, "typo.toml", &MONITORS.replace("cooldown", "cooldwn"));
    cli(&["monitor", "validate", "typo.toml"], &[], d)
        .await
        .fails_with(&["typo.toml:14:1", "unknown field `cooldwn`"]);
    write(d, "ok.toml", MONITORS);
    let valid = cli(&["monitor", "validate", "ok.toml"], &[], d).await;
    assert!(valid.ok().contains("1 monitor(s), 1 polic"));
    cli(&["monitor", "run", "nope", "--store", &store], &[], d)
        .await
        .fails_with(&["Monitor 'nope' does not exist"]);
    cli(
        &["monitor", "run", "--at", "yesterday", "--store", &store],
        &[],
        d,
    )
    .await
    .fails_with(&["--at: \"yesterday\" is neither RFC 3339 nor YYYY-MM-DD"]);
    cli(&["decisions", "--limit", "0", "--store", &store], &[], d)
        .await
        .fails_with(&["--limit: must be at least 1"]);
    // A monitor whose files are gone fails with the pattern named (exit 1), others run.
    std::fs::create_dir(d.join("live")).expect("mkdir");
    write(d, "train.csv", &days_csv(0, 2, 10.0, 5));
    cli(&["monitor", "deploy", "ok.toml", "--store", &store], &[], d)
        .await
        .ok();
    cli(
        &["monitor", "run", "--at", "2025-01-05", "--store", &store],
        &[],
        d,
    )
    .await
    .fails_with(&["monitor inputs: failed", "live/*.csv", "no file matches"]);
}
