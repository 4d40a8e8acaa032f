//! `monitors.toml`: a full file parses; each kind of mistake is refused naming its field.

use esteira_monitor::MonitorError;
use esteira_monitor::spec::{Condition, MonitorsFile, parse_duration_ms};

const FULL: &str = r#"
[[monitor]]
name = "demand-accuracy"
endpoint = "demand"
every = "1d"
window = "7d"

[monitor.performance]
metric = "mae"
band = { k = 2.5, reference_windows = 6 }
detectors = ["page_hinkley", "cusum"]

[[monitor]]
name = "demand-drift"
files = "live/*.parquet"
time_column = "date"
every = "1d"

[monitor.drift]
reference = "train.parquet"
columns = ["price", "promo"]
thresholds = { price = 0.2 }
drift_share = 0.4

[[policy]]
name = "demand-retrain"
pipeline = "demand"
cooldown = "7d"
budget = { retrains = 4, per = "30d" }
rules = [
  { monitor = "demand-accuracy", when = "mae > band.upper" },
  { monitor = "demand-drift", when = "drift_share >= 0.5", windows = 3 },
]
"#;

fn refused(text: &str) -> (String, String) {
    match MonitorsFile::parse(text, "monitors.toml") {
        Err(MonitorError::Config { field, reason }) => (field, reason),
        other => panic!("expected a config error, got {other:?}"),
    }
}

/// `FULL` with `from` replaced by `to` (which must occur).
fn with(from: &str, to: &str) -> String {
    assert!(FULL.contains(from), "{from}");
    FULL.replacen(from, to, 1)
}

#[test]
fn a_full_file_parses_with_its_defaults() -> anyhow::Result<()> {
    let file = MonitorsFile::parse(FULL, "monitors.toml")?;
    let accuracy = &file.monitor[0];
    assert_eq!(accuracy.every_ms()?, 86_400_000);
    assert_eq!(accuracy.window_ms()?, 7 * 86_400_000);
    let perf = accuracy.performance.as_ref().expect("performance");
    assert_eq!((perf.band.k, perf.band.reference_windows), (2.5, 6));
    let drift = &file.monitor[1];
    assert_eq!(drift.window_ms()?, 86_400_000, "window defaults to every");
    let policy = &file.policy[0];
    assert_eq!(policy.trigger, "monitor");
    assert_eq!(policy.rules[0].windows, 1);
    assert_eq!(policy.cooldown_ms()?, 7 * 86_400_000);
    assert_eq!(policy.budget_ms()?, Some((4, 30 * 86_400_000)));
    assert!(matches!(
        &policy.conditions()?[1],
        Condition::Compare { value, .. } if value == "drift_share"
    ));
    // The stored form (JSON) reads back equal.
    let json = serde_json::to_string(&file)?;
    assert_eq!(serde_json::from_str::<MonitorsFile>(&json)?, file);
    Ok(())
}

#[test]
fn toml_mistakes_are_located() {
    let (field, reason) = refused(&with("every = \"1d\"\nwindow", "evry = \"1d\"\nwindow"));
    assert_eq!(field, "monitors.toml:5:1");
    assert!(reason.contains("unknown field `evry`"), "{reason}");
    let (field, _) = refused("[[monitor]]\nname = 3\n");
    assert_eq!(field, "monitors.toml:2:8");
}

#[test]
fn each_bad_setting_is_refused_naming_its_field() {
    let cases = [
        (
            with(
                "endpoint = \"demand\"",
                "endpoint = \"demand\"\nfiles = \"x.csv\"",
            ),
            "monitor 'demand-accuracy'.endpoint",
            "exactly one source",
        ),
        (
            with("files = \"live/*.parquet\"", "query = \"SELECT 1\""),
            "monitor 'demand-drift'.database",
            "needs its database",
        ),
        (
            with("time_column = \"date\"\n", ""),
            "monitor 'demand-drift'.time_column",
            "required with files or query",
        ),
        (
            with("window = \"7d\"", "window = \"7 days\""),
            "monitor 'demand-accuracy'.window",
            "has no unit",
        ),
        (
            with("every = \"1d\"\nwindow", "every = \"0d\"\nwindow"),
            "monitor 'demand-accuracy'.every",
            "longer than zero",
        ),
        (
            with("drift_share = 0.4", "drift_share = 1.5"),
            "monitor 'demand-drift'.drift.drift_share",
            "1.5 is not in (0, 1]",
        ),
        (
            with("price = 0.2", "price = -1.0"),
            "monitor 'demand-drift'.drift.thresholds.price",
            "not a finite number >= 0",
        ),
        (
            with("metric = \"mae\"", "metric = \"r2\""),
            "monitor 'demand-accuracy'.performance.metric",
            "unknown metric \"r2\"",
        ),
        (
            with(
                "thresholds = { price = 0.2 }",
                "methods = { price = \"t-test\" }",
            ),
            "monitor 'demand-drift'.drift.methods.price",
            "unknown drift method `t-test`",
        ),
        (
            with("k = 2.5", "k = 0.0"),
            "monitor 'demand-accuracy'.performance.band.k",
            "not a number > 0",
        ),
        (
            with("reference_windows = 6", "reference_windows = 1"),
            "monitor 'demand-accuracy'.performance.band.reference_windows",
            "at least 2",
        ),
        (
            with("reference_windows = 6", "values = [1.0]"),
            "monitor 'demand-accuracy'.performance.band.values",
            "at least 2 finite values",
        ),
        (
            with("\"page_hinkley\", \"cusum\"", "\"kswin\""),
            "monitor 'demand-accuracy'.performance.detectors",
            "unknown detector \"kswin\"",
        ),
        (
            with("pipeline = \"demand\"", "pipeline = \"\""),
            "policy 'demand-retrain'.pipeline",
            "must not be empty",
        ),
        (
            with("windows = 3", "windows = 0"),
            "policy 'demand-retrain'.rules[1].windows",
            "at least 1",
        ),
        (
            with("when = \"mae > band.upper\"", "when = \"mae is high\""),
            "policy 'demand-retrain'.rules[0].when",
            "unknown comparison \"is\"",
        ),
        (
            with("retrains = 4", "retrains = 0"),
            "policy 'demand-retrain'.budget.retrains",
            "at least 1",
        ),
        (
            with("cooldown = \"7d\"", "cooldown = \"a week\""),
            "policy 'demand-retrain'.cooldown",
            "not a duration",
        ),
        (
            with("name = \"demand-drift\"", "name = \"demand-accuracy\""),
            "monitor 'demand-accuracy'",
            "two monitors are named",
        ),
        (
            with("rules = [", "rules = []\nold_rules = ["),
            "monitors.toml:31:1",
            "unknown field `old_rules`",
        ),
    ];
    for (text, field, reason) in cases {
        let (got_field, got_reason) = refused(&text);
        assert_eq!(got_field, field, "{got_reason}");
        assert!(got_reason.contains(reason), "{got_reason} lacks {reason}");
    }
}

#[test]
fn a_policy_without_rules_is_refused() {
    let text = "[[policy]]\nname = \"p\"\npipeline = \"demand\"\nrules = []\n";
    assert_eq!(
        refused(text),
        (
            "policy 'p'.rules".to_string(),
            "a policy needs at least one rule".to_string()
        )
    );
}

#[test]
fn durations() {
    assert_eq!(parse_duration_ms("90s"), Ok(90_000));
    assert_eq!(parse_duration_ms("6h"), Ok(21_600_000));
    assert!(parse_duration_ms("1.5d").is_err());
    assert!(parse_duration_ms("99999999999999999d").is_err());
}
