//! `esteira train`, `predict`, `evaluate` and `backtest` on files, logging into a store opened
//! directly (the same REST code path as a server), and their bad input.

use std::path::Path;

use serde_json::Value;

use crate::support::cli;

/// Series a, b, c: level 50 + 10·i, weekly pattern, slow trend, deterministic noise;
/// `days` days from 2024-01-01.
pub fn sales_csv(days: usize) -> String {
    let mut text = String::from("store_item,date,units\n");
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        for d in 0..days {
            let weekly = [0.0, 3.0, 5.0, 2.0, -1.0, -4.0, -5.0][d % 7];
            let noise = ((d * 7919 + i * 104_729) % 11) as f64 / 5.0 - 1.0;
            let v = 50.0 + 10.0 * i as f64 + 0.05 * d as f64 + weekly + noise;
            let date = start + chrono::Days::new(d as u64);
            text.push_str(&format!("{id},{date},{v:.3}\n"));
        }
    }
    text
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

const COLUMNS: [&str; 6] = ["--id", "store_item", "--time", "date", "--target", "units"];

#[tokio::test]
async fn train_registers_predict_and_evaluate_gate_through_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let train = write(d, "train.csv", &sales_csv(140));
    let all = write(d, "all.csv", &sales_csv(154));
    let store = format!("sqlite://{}", d.join("db/esteira.db").display());
    let artifacts = d.join("artifacts").display().to_string();
    let tracking = [
        "--store",
        &store,
        "--artifacts",
        &artifacts,
        "--experiment",
        "demand",
    ];

    let mut args = vec![
        "train",
        "--data",
        &train,
        "--horizon",
        "14",
        "--register",
        "demand",
        "--json",
    ];
    args.extend(COLUMNS);
    args.extend(tracking);
    let theta = cli(&args, &[], d).await.json();
    assert_eq!(theta["report"]["series"], 3);
    assert_eq!(theta["report"]["seasons"]["7"], 3, "{theta}");
    assert_eq!(theta["registered"]["version"], "1");
    assert!(
        theta["backtest"]["smape"]["mean"]
            .as_f64()
            .is_some_and(|v| v > 0.0 && v < 10.0),
        "{theta}"
    );
    let model_dir = d.join(theta["model"].as_str().expect("model dir"));
    assert!(model_dir.join("MLmodel").is_file());

    let run_id = theta["run_id"].as_str().expect("run id");
    let run = cli(
        &["runs", "show", run_id, "--store", &store, "--json"],
        &[],
        d,
    )
    .await
    .json();
    let params: Vec<(&str, &str)> = run["data"]["params"]
        .as_array()
        .expect("params")
        .iter()
        .map(|p| {
            (
                p["key"].as_str().unwrap_or(""),
                p["value"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        params.contains(&("method", "auto")) && params.contains(&("horizon", "14")),
        "{params:?}"
    );
    let metric = |run: &Value, key: &str| {
        run["data"]["metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .find(|m| m["key"] == key)
            .map(|m| m["value"].clone())
    };
    assert_eq!(metric(&run, "series"), Some(3.0.into()));
    assert!(metric(&run, "backtest_smape_mean").is_some());
    assert_eq!(run["info"]["status"], "FINISHED");

    let preds = d.join("preds.csv").display().to_string();
    let mut predict = vec!["predict", "--model", "models:/demand/1", "--output", &preds];
    predict.extend(["--store", &store, "--artifacts", &artifacts]);
    cli(&predict, &[], d).await.ok();
    let text = std::fs::read_to_string(&preds).expect("predictions");
    assert_eq!(text.lines().count(), 1 + 3 * 14);
    assert!(
        text.starts_with("store_item,date,step,forecast,lo_95,lo_80,hi_80,hi_95\na,2024-05-20,1,"),
        "{text}"
    );

    cli(
        &[
            "models", "alias", "set", "demand", "champion", "1", "--store", &store,
        ],
        &[],
        d,
    )
    .await
    .ok();
    let mut naive = vec![
        "train",
        "--data",
        &train,
        "--horizon",
        "14",
        "--method",
        "naive",
        "--register",
        "demand",
        "--json",
    ];
    naive.extend(COLUMNS);
    naive.extend(tracking);
    assert_eq!(
        cli(&naive, &[], d).await.json()["registered"]["version"],
        "2"
    );

    let gate = write(
        d,
        "gate.toml",
        "[metrics.mase]\ngreater_is_better = false\nmin_relative_change = 0.05\n",
    );
    let blessing = d.join("blessing.json").display().to_string();
    let evaluate = |candidate: &'static str, baseline: &'static str| {
        let mut a = vec![
            "evaluate",
            "--model",
            candidate,
            "--baseline",
            baseline,
            "--data",
            &all,
        ];
        a.extend(["--gate", &gate, "--blessing", &blessing]);
        a.extend(tracking);
        a.iter().map(|s| s.to_string()).collect::<Vec<String>>()
    };
    let refused = evaluate("models:/demand/2", "models:/demand@champion");
    let refused: Vec<&str> = refused.iter().map(String::as_str).collect();
    let out = cli(&refused, &[], d).await;
    assert_eq!(out.code, Some(2), "{out:#?}");
    assert!(out.stdout.contains("gate: failed"), "{out:#?}");
    let verdict: Value =
        serde_json::from_str(&std::fs::read_to_string(&blessing).expect("blessing")).expect("json");
    assert_eq!(verdict["passed"], false);
    assert_eq!(verdict["metrics"][0]["metric"], "mase");
    let (c, b) = (
        verdict["metrics"][0]["candidate"].as_f64(),
        verdict["metrics"][0]["baseline"].as_f64(),
    );
    assert!(c > b, "naive must score worse than theta: {verdict}");

    let blessed = evaluate("models:/demand/1", "models:/demand/2");
    let blessed: Vec<&str> = blessed.iter().map(String::as_str).collect();
    let out = cli(&blessed, &[], d).await;
    assert_eq!(out.code, Some(0), "{out:#?}");
    let verdict: Value =
        serde_json::from_str(&std::fs::read_to_string(&blessing).expect("blessing")).expect("json");
    assert_eq!(verdict["passed"], true);
}

#[tokio::test]
async fn backtest_compares_methods() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let data = write(d, "s.csv", &sales_csv(120));
    let mut args = vec![
        "backtest",
        "--data",
        &data,
        "--horizon",
        "7",
        "--windows",
        "4",
        "--method",
        "naive,snaive",
        "--json",
    ];
    args.extend(COLUMNS);
    let out = cli(&args, &[], d).await.json();
    for method in ["naive", "snaive"] {
        assert_eq!(out[method]["series"].as_array().map(Vec::len), Some(3));
        assert_eq!(out[method]["pooled"]["mae"]["n"], 12, "{out}");
    }
    let naive = out["naive"]["pooled"]["mase"]["mean"]
        .as_f64()
        .expect("mase");
    let snaive = out["snaive"]["pooled"]["mase"]["mean"]
        .as_f64()
        .expect("mase");
    assert!(
        snaive < naive,
        "a weekly pattern favours the seasonal naive: {out}"
    );
}

#[tokio::test]
async fn bad_training_input_fails_with_the_column_or_series() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let good = write(d, "s.csv", &sales_csv(30));
    let train_with = |data: String, target: &'static str, extra: Vec<&'static str>| {
        let mut a: Vec<String> = ["train", "--data", &data, "--horizon", "7"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(
            ["--id", "store_item", "--time", "date", "--target", target]
                .iter()
                .map(|s| s.to_string()),
        );
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let train = |data: String, extra: Vec<&'static str>| train_with(data, "units", extra);
    let run = |args: Vec<String>| async move {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&refs, &[], d).await
    };
    run(train_with(good.clone(), "sold", vec![]))
        .await
        .fails_with(&["unknown column 'sold'", "store_item, date, units"]);
    run(train_with(good.clone(), "store_item", vec![]))
        .await
        .fails_with(&["column 'store_item'", "expected a number"]);
    let dup = write(
        d,
        "dup.csv",
        "store_item,date,units\na,2024-01-01,1\na,2024-01-02,2\na,2024-01-02,3\n",
    );
    run(train(dup, vec![]))
        .await
        .fails_with(&["series 'a'", "2024-01-02", "more than once"]);
    let nan = write(
        d,
        "nan.csv",
        "store_item,date,units\na,2024-01-01,1\nb,2024-01-01,1\nb,2024-01-02,NaN\n",
    );
    run(train(nan, vec![]))
        .await
        .fails_with(&["series 'b'", "NaN", "2024-01-02"]);
    let empty = write(d, "empty.csv", "store_item,date,units\n");
    run(train(empty, vec![])).await.fails_with(&["no rows"]);
    run(train(good.clone(), vec!["--method", "prophet"]))
        .await
        .fails_with(&["unknown method 'prophet'"]);
    run(train(good.clone(), vec!["--season", "0"]))
        .await
        .fails_with(&["season", "at least 1"]);
    run(train(good.clone(), vec!["--register", "demand"]))
        .await
        .fails_with(&["--register needs a tracking store"]);
    run(train(good.clone(), vec!["--output", "m"])).await.ok();
    run(train(good.clone(), vec!["--output", "m"]))
        .await
        .fails_with(&["already exists"]);
    let zero: Vec<String> = [
        "train",
        "--data",
        &good,
        "--horizon",
        "0",
        "--id",
        "store_item",
        "--time",
        "date",
        "--target",
        "units",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    run(zero).await.fails_with(&["horizon", "at least 1"]);

    let out = d.join("f.csv").display().to_string();
    cli(&["predict", "--model", &good, "--output", &out], &[], d)
        .await
        .fails_with(&["is not a model"]);
    cli(
        &[
            "predict",
            "--model",
            "models:/demand@champion",
            "--output",
            &out,
        ],
        &[],
        d,
    )
    .await
    .fails_with(&["needs a tracking store"]);
    let ids = write(d, "ids.csv", "store_item\nzz\n");
    cli(
        &["predict", "--model", "m", "--input", &ids, "--output", &out],
        &[],
        d,
    )
    .await
    .fails_with(&["unknown series 'zz'"]);
    let bad_gates = [
        ("min_relative = 0.1", ["invalid gate file", "min_relative"]),
        ("min_relative_change = 7", ["mase", "min_relative_change"]),
    ];
    for (rule, needles) in bad_gates {
        let text = format!("[metrics.mase]\ngreater_is_better = false\n{rule}\n");
        let gate = write(d, "gate.toml", &text);
        let args = ["evaluate", "--model", "m", "--data", &good, "--gate", &gate];
        cli(&args, &[], d).await.fails_with(&needles);
    }
}

/// y = 3·x1 − 2·x2 + 10·[city = b] + small deterministic noise; x1, x2 on a grid.
fn tabular_csv(rows: usize) -> String {
    let mut text = String::from("x1,x2,city,y,label\n");
    for i in 0..rows {
        let (x1, x2) = ((i % 37) as f64, (i % 23) as f64 / 2.0);
        let city = ["a", "b", "c"][i % 3];
        let noise = ((i * 7919) % 13) as f64 / 13.0 - 0.5;
        let y = 3.0 * x1 - 2.0 * x2 + if city == "b" { 10.0 } else { 0.0 } + noise;
        let label = if y > 40.0 { "high" } else { "low" };
        text.push_str(&format!("{x1},{x2},{city},{y:.4},{label}\n"));
    }
    text
}

#[tokio::test]
async fn tabular_training_tunes_with_child_runs_and_predicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let data = write(d, "t.csv", &tabular_csv(600));
    let store = format!("sqlite://{}", d.join("db/esteira.db").display());
    let artifacts = d.join("artifacts").display().to_string();
    let space = r#"{"alpha": {"float": [0.001, 10.0], "log": true}}"#;
    let args = [
        "train",
        "--data",
        &data,
        "--kind",
        "regression",
        "--target",
        "y",
        "--features",
        "x1,x2,city",
        "--algorithm",
        "ridge",
        "--tune",
        space,
        "--trials",
        "4",
        "--store",
        &store,
        "--artifacts",
        &artifacts,
        "--experiment",
        "houses",
        "--output",
        "ridge",
        "--json",
    ];
    let out = cli(&args, &[], d).await.json();
    assert!(
        out["holdout"]["r2"].as_f64().is_some_and(|r2| r2 > 0.99),
        "{out}"
    );
    assert_eq!(out["tuning"]["trials"], 4);
    let parent = out["run_id"].as_str().expect("run id");
    let filter = format!("tags.mlflow.parentRunId = '{parent}'");
    let children = cli(
        &[
            "runs",
            "list",
            "--experiment",
            "houses",
            "--filter",
            &filter,
            "--store",
            &store,
            "--json",
        ],
        &[],
        d,
    )
    .await
    .json();
    let children = children.as_array().expect("runs");
    assert_eq!(children.len(), 4);
    let best: Vec<&Value> = children
        .iter()
        .filter(|r| {
            r["data"]["tags"].as_array().is_some_and(|t| {
                t.iter()
                    .any(|t| t["key"] == "esteira.best_trial" && t["value"] == "true")
            })
        })
        .collect();
    assert_eq!(best.len(), 1);
    assert!(children.iter().all(|r| {
        r["data"]["params"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["key"] == "alpha"))
    }));

    let input = write(d, "in.csv", "x1,x2,city\n10,2,b\n0,0,a\n");
    let preds = d.join("p.csv").display().to_string();
    cli(
        &[
            "predict", "--model", "ridge", "--input", &input, "--output", &preds,
        ],
        &[],
        d,
    )
    .await
    .ok();
    let text = std::fs::read_to_string(&preds).expect("predictions");
    let values: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|l| l.parse().expect("number"))
        .collect();
    assert_eq!(text.lines().next(), Some("prediction"));
    assert!(
        (values[0] - 36.0).abs() < 1.0 && values[1].abs() < 1.0,
        "{values:?}"
    );

    let unseen = write(d, "unseen.csv", "x1,x2,city\n1,1,zurich\n");
    cli(
        &[
            "predict", "--model", "ridge", "--input", &unseen, "--output", &preds,
        ],
        &[],
        d,
    )
    .await
    .fails_with(&["city", "zurich"]);
    let missing = write(d, "missing.csv", "x1,city\n1,a\n");
    cli(
        &[
            "predict", "--model", "ridge", "--input", &missing, "--output", &preds,
        ],
        &[],
        d,
    )
    .await
    .fails_with(&["x2"]);

    let args = [
        "train",
        "--data",
        &data,
        "--kind",
        "classification",
        "--target",
        "label",
        "--features",
        "x1,x2,city",
        "--output",
        "gbdt",
        "--json",
    ];
    let out = cli(&args, &[], d).await.json();
    assert!(
        out["holdout"]["accuracy"].as_f64().is_some_and(|a| a > 0.9),
        "{out}"
    );
    cli(
        &[
            "predict", "--model", "gbdt", "--input", &input, "--output", &preds,
        ],
        &[],
        d,
    )
    .await
    .ok();
    let text = std::fs::read_to_string(&preds).expect("predictions");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("prediction,proba_high,proba_low"));
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let sum: f64 = cells[1..]
            .iter()
            .map(|c| c.parse::<f64>().expect("proba"))
            .sum();
        assert!((sum - 1.0).abs() < 1e-9, "{line}");
    }
}

#[tokio::test]
async fn bad_tabular_flags_and_params_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let data = write(d, "t.csv", &tabular_csv(100));
    let base = [
        "train",
        "--data",
        &data,
        "--kind",
        "regression",
        "--target",
        "y",
        "--features",
        "x1,x2,city",
    ];
    let with = |extra: &[&'static str]| {
        let mut a: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |args: Vec<String>| async move {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&refs, &[], d).await
    };
    run(with(&["--horizon", "7"]))
        .await
        .fails_with(&["--horizon", "forecast only"]);
    run(with(&["--params", "{max_iter"]))
        .await
        .fails_with(&["--params is not valid JSON"]);
    run(with(&["--params", "[1]"]))
        .await
        .fails_with(&["--params must be a JSON object"]);
    run(with(&["--params", r#"{"max_depth_of_trees": 3}"#]))
        .await
        .fails_with(&["max_depth_of_trees"]);
    run(with(&["--params", r#"{"learning_rate": -1}"#]))
        .await
        .fails_with(&["learning_rate"]);
    run(with(&["--tune", r#"{"alpha": {"float": [5, 1]}}"#]))
        .await
        .fails_with(&["alpha"]);
    run(with(&["--test-fraction", "1.5"]))
        .await
        .fails_with(&["test_fraction", "between 0 and 1"]);
    let nan = write(d, "nan.csv", "x1,y\n1,2\n2,NaN\n3,4\n");
    let args: Vec<String> = [
        "train",
        "--data",
        &nan,
        "--kind",
        "regression",
        "--target",
        "y",
        "--algorithm",
        "linear",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    run(args).await.fails_with(&["not finite"]);
    let one_class = write(d, "one.csv", "x1,label\n1,a\n2,a\n3,a\n4,a\n");
    let args: Vec<String> = [
        "train",
        "--data",
        &one_class,
        "--kind",
        "classification",
        "--target",
        "label",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    run(args).await.fails_with(&["at least two classes"]);
}

#[tokio::test]
async fn tabular_models_pass_or_fail_the_gate_on_new_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let data = write(d, "t.csv", &tabular_csv(400));
    let fresh = write(d, "fresh.csv", &tabular_csv(150));
    for (algorithm, output) in [("ridge", "ridge"), ("gbdt", "gbdt")] {
        let args = [
            "train",
            "--data",
            &data,
            "--kind",
            "regression",
            "--target",
            "y",
            "--features",
            "x1,x2,city",
            "--algorithm",
            algorithm,
            "--output",
            output,
        ];
        cli(&args, &[], d).await.ok();
    }
    let gate = write(
        d,
        "gate.toml",
        "[metrics.rmse]\ngreater_is_better = false\nthreshold = 5.0\nmin_absolute_change = 0.01\n",
    );
    let out = cli(
        &[
            "evaluate",
            "--model",
            "ridge",
            "--baseline",
            "gbdt",
            "--data",
            &fresh,
            "--gate",
            &gate,
            "--json",
        ],
        &[],
        d,
    )
    .await;
    let result: Value = serde_json::from_str(&out.stdout).expect("json");
    let ridge = result["candidate"]["rmse"].as_f64().expect("rmse");
    let gbdt = result["baseline"]["rmse"].as_f64().expect("rmse");
    assert!(
        ridge < 1.0 && ridge + 0.01 <= gbdt,
        "a linear truth favours ridge: {result}"
    );
    assert_eq!(
        (out.code, &result["verdict"]["passed"]),
        (Some(0), &Value::Bool(true)),
        "{out:#?}"
    );
    let out = cli(
        &[
            "evaluate",
            "--model",
            "gbdt",
            "--baseline",
            "ridge",
            "--data",
            &fresh,
            "--gate",
            &gate,
        ],
        &[],
        d,
    )
    .await;
    assert_eq!(out.code, Some(2), "{out:#?}");
    let no_target = write(d, "nt.csv", "x1,x2,city\n1,2,a\n");
    cli(
        &["evaluate", "--model", "ridge", "--data", &no_target],
        &[],
        d,
    )
    .await
    .fails_with(&["unknown column 'y'"]);
}

#[tokio::test]
async fn predict_runs_an_onnx_model_with_string_and_float_columns() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../esteira-ml/tests/fixtures/onnx");
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(fixtures.join(name)).expect("fixture"))
            .expect("json")
    };
    let (inputs, expected) = (
        read("mixed_inputs.json"),
        read("mixed_inputs.expected.json"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut csv = String::from("city,x0,x1,x2\n");
    for row in 0..100 {
        let cell = |c: &str| inputs[c][row].to_string();
        csv.push_str(&format!(
            "{},{},{},{}\n",
            inputs["city"][row].as_str().expect("city"),
            cell("x0"),
            cell("x1"),
            cell("x2")
        ));
    }
    let input = write(d, "in.csv", &csv);
    let output = d.join("out.csv").display().to_string();
    let model = fixtures.join("mixed_inputs.onnx").display().to_string();
    cli(
        &[
            "predict", "--model", &model, "--input", &input, "--output", &output,
        ],
        &[],
        d,
    )
    .await
    .ok();
    let text = std::fs::read_to_string(&output).expect("predictions");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("variable"));
    for (row, line) in lines.enumerate() {
        let got: f64 = line.parse().expect("number");
        let want = expected["variable"][row].as_f64().expect("expected");
        assert!(
            (got - want).abs() <= 1e-5 * want.abs().max(1.0),
            "row {row}: {got} vs {want}"
        );
    }
    let bad = write(d, "bad.csv", "city,x0,x1,x2\n1,2,3,4\n");
    cli(
        &[
            "predict", "--model", &model, "--input", &bad, "--output", &output,
        ],
        &[],
        d,
    )
    .await
    .fails_with(&["city"]);
}

/// Series a, b with a known promotion flag lifting demand by 6; `with_units` false leaves the
/// target out (future rows).
fn promo_csv(days: std::ops::Range<usize>, with_units: bool) -> String {
    let mut text = String::from(if with_units {
        "id,date,promo,units\n"
    } else {
        "id,date,promo\n"
    });
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date");
    for (i, id) in ["a", "b"].iter().enumerate() {
        for d in days.clone() {
            let promo = u8::from((d * 7 + i) % 5 == 0);
            let date = start + chrono::Days::new(d as u64);
            let units = 50.0
                + 30.0 * i as f64
                + 6.0 * f64::from(promo)
                + [0.0, 2.0, 3.0, 1.0, -1.0, -2.0, -3.0][d % 7];
            match with_units {
                true => text.push_str(&format!("{id},{date},{promo},{units}\n")),
                false => text.push_str(&format!("{id},{date},{promo}\n")),
            }
        }
    }
    text
}

#[tokio::test]
async fn exogenous_columns_need_future_values_to_predict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let data = write(d, "t.csv", &promo_csv(0..140, true));
    let args = [
        "train",
        "--data",
        &data,
        "--id",
        "id",
        "--time",
        "date",
        "--target",
        "units",
        "--exog",
        "promo",
        "--horizon",
        "7",
        "--method",
        "ses",
        "--output",
        "m",
        "--json",
    ];
    let out = cli(&args, &[], d).await.json();
    assert!(
        out["backtest"]["mae"]["mean"]
            .as_f64()
            .is_some_and(|m| m < 1.0),
        "{out}"
    );
    let future = write(d, "f.csv", &promo_csv(140..147, false));
    let preds = d.join("p.csv").display().to_string();
    cli(
        &[
            "predict", "--model", "m", "--input", &future, "--output", &preds,
        ],
        &[],
        d,
    )
    .await
    .ok();
    let text = std::fs::read_to_string(&preds).expect("predictions");
    assert_eq!(text.lines().count(), 1 + 2 * 7);
    cli(&["predict", "--model", "m", "--output", &preds], &[], d)
        .await
        .fails_with(&["--input is required", "promo"]);
    let actuals = write(d, "a.csv", &promo_csv(140..147, true));
    let out = cli(
        &["evaluate", "--model", "m", "--data", &actuals, "--json"],
        &[],
        d,
    )
    .await
    .json();
    assert!(
        out["candidate"]["overall"]["mae"]
            .as_f64()
            .is_some_and(|m| m < 1.0),
        "{out}"
    );
    let tabular = [
        "train",
        "--data",
        &data,
        "--kind",
        "regression",
        "--target",
        "units",
        "--exog",
        "promo",
    ];
    cli(&tabular, &[], d)
        .await
        .fails_with(&["--exog", "forecast only"]);
}
