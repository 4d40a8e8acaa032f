//! Esteira side of `bench/tabular.sh`: fits our `gbdt` on the data `bench/tabular_peer.py` wrote
//! (same rows, same split), times fit and predict, and prints a table beside scikit-learn's
//! `HistGradientBoosting*` figures from the same run (`sklearn.json`), with ratios.
//!
//! Usage: `cargo run --release -p esteira-ml --example tabular_bench -- DATA_DIR`

use std::path::{Path, PathBuf};
use std::time::Instant;

use esteira_ml::tabular::{self, Algorithm, FeatureColumn, Features, Target, Task};
use serde_json::{Value, json};

type Error = Box<dyn std::error::Error>;

fn read_f64(path: &Path) -> Result<Vec<f64>, Error> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() % 8 != 0 {
        return Err(format!("{}: size is not a multiple of 8", path.display()).into());
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect())
}

/// The first `take` rows of a column-major `rows × cols` file.
fn features(path: &Path, rows: usize, cols: usize, take: usize) -> Result<Features, Error> {
    let data = read_f64(path)?;
    if data.len() != rows * cols {
        return Err(format!("{}: expected {rows}×{cols} values", path.display()).into());
    }
    let names = (0..cols).map(|j| format!("f{j}")).collect();
    let columns = data
        .chunks_exact(rows)
        .map(|c| FeatureColumn::Numeric(c[..take].to_vec()))
        .collect();
    Ok(Features::new(names, columns)?)
}

/// CPU seconds (user + system, all threads) of this process so far, from `/proc/self/stat`
/// (Linux; clock ticks assumed to be 100 Hz, the kernel's `USER_HZ`). `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn labels(codes: &[f64]) -> Vec<String> {
    codes.iter().map(|c| format!("{}", *c as i64)).collect()
}

struct Timing {
    task: String,
    sk_fit: f64,
    sk_fit_cpu: f64,
    fit: f64,
    fit_cpu: f64,
    sk_predict: f64,
    predict: f64,
}

struct Row {
    task: String,
    metric: &'static str,
    sklearn: f64,
    esteira: f64,
    higher_is_better: bool,
}

/// One model on one task.
struct Case<'a> {
    label: String,
    task: &'a str,
    algorithm: Algorithm,
    params: Value,
    x_train: &'a Features,
    y_train: &'a [f64],
    x_test: &'a Features,
    y_test: &'a [f64],
    /// scikit-learn's figures for the same case.
    peer: &'a Value,
}

fn evaluate(c: &Case<'_>) -> Result<(Vec<Row>, Timing), Error> {
    let num = |k: &str| {
        c.peer[k]
            .as_f64()
            .ok_or(format!("sklearn.json: {} {k}", c.label))
    };
    let n_test = c.y_test.len();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut rows = Vec::new();
    let (fit_s, fit_cpu, predict_s);
    if c.task == "regression" {
        let model = tabular::fit(
            Task::Regression,
            c.algorithm,
            &c.params,
            c.x_train,
            Target::Values(c.y_train),
        )?;
        fit_s = t0.elapsed().as_secs_f64();
        fit_cpu = cpu_seconds().zip(cpu0).map_or(f64::NAN, |(b, a)| b - a);
        let t0 = Instant::now();
        let pred = model.predict(c.x_test)?;
        predict_s = t0.elapsed().as_secs_f64();
        let mean = c.y_test.iter().sum::<f64>() / n_test as f64;
        let sse: f64 = c
            .y_test
            .iter()
            .zip(&pred)
            .map(|(a, b)| (a - b).powi(2))
            .sum();
        let sst: f64 = c.y_test.iter().map(|a| (a - mean).powi(2)).sum();
        rows.push(Row {
            task: c.label.clone(),
            metric: "RMSE",
            sklearn: num("rmse")?,
            esteira: (sse / n_test as f64).sqrt(),
            higher_is_better: false,
        });
        rows.push(Row {
            task: c.label.clone(),
            metric: "R²",
            sklearn: num("r2")?,
            esteira: 1.0 - sse / sst,
            higher_is_better: true,
        });
    } else {
        let y = labels(c.y_train);
        let model = tabular::fit(
            Task::Classification,
            c.algorithm,
            &c.params,
            c.x_train,
            Target::Labels(&y),
        )?;
        fit_s = t0.elapsed().as_secs_f64();
        fit_cpu = cpu_seconds().zip(cpu0).map_or(f64::NAN, |(b, a)| b - a);
        let t0 = Instant::now();
        let proba = model.predict_proba(c.x_test)?;
        predict_s = t0.elapsed().as_secs_f64();
        let truth = labels(c.y_test);
        let mut correct = 0usize;
        let mut ll = 0.0;
        for (row, label) in proba.rows.iter().zip(&truth) {
            let best = (0..row.len()).fold(0, |b, k| if row[k] > row[b] { k } else { b });
            if &proba.classes[best] == label {
                correct += 1;
            }
            let k = proba.classes.iter().position(|c| c == label).unwrap_or(0);
            ll -= row[k].clamp(1e-15, 1.0).ln();
        }
        rows.push(Row {
            task: c.label.clone(),
            metric: "accuracy",
            sklearn: num("accuracy")?,
            esteira: correct as f64 / n_test as f64,
            higher_is_better: true,
        });
        rows.push(Row {
            task: c.label.clone(),
            metric: "log loss",
            sklearn: num("log_loss")?,
            esteira: ll / n_test as f64,
            higher_is_better: false,
        });
    }
    eprintln!(
        "esteira {}: fit {fit_s:.2}s predict {predict_s:.2}s",
        c.label
    );
    let timing = Timing {
        task: c.label.clone(),
        sk_fit: num("fit_s")?,
        sk_fit_cpu: num("fit_cpu_s")?,
        fit: fit_s,
        fit_cpu,
        sk_predict: num("predict_s")?,
        predict: predict_s,
    };
    Ok((rows, timing))
}

fn print_tables(quality: &[Row], timing: &[Timing]) {
    println!(
        "| task | metric | scikit-learn | Esteira | Esteira / sklearn | relative diff (+ = Esteira better) |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    for r in quality {
        let rel = (r.esteira - r.sklearn) / r.sklearn.abs();
        let better = if r.higher_is_better { rel } else { -rel };
        println!(
            "| {} | {} | {:.5} | {:.5} | {:.4} | {:+.3}% |",
            r.task,
            r.metric,
            r.sklearn,
            r.esteira,
            r.esteira / r.sklearn,
            100.0 * better
        );
    }
    println!(
        "\n| task | sklearn fit s | Esteira fit s | fit speed-up | sklearn fit CPU s | Esteira fit CPU s | CPU ratio | sklearn predict s | Esteira predict s | predict speed-up |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for t in timing {
        println!(
            "| {} | {:.2} | {:.2} | {:.2}× | {:.2} | {:.2} | {:.2}× | {:.3} | {:.3} | {:.2}× |",
            t.task,
            t.sk_fit,
            t.fit,
            t.sk_fit / t.fit,
            t.sk_fit_cpu,
            t.fit_cpu,
            t.sk_fit_cpu / t.fit_cpu,
            t.sk_predict,
            t.predict,
            t.sk_predict / t.predict
        );
    }
}

fn main() -> Result<(), Error> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: tabular_bench DATA_DIR")?,
    );
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json"))?)?;
    let peer: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("sklearn.json"))?)?;
    let n_train = meta["n_train"].as_u64().ok_or("meta.n_train")? as usize;
    let n_test = meta["n_test"].as_u64().ok_or("meta.n_test")? as usize;
    let p = meta["n_features"].as_u64().ok_or("meta.n_features")? as usize;
    let rf_rows = meta["rf_rows"].as_u64().unwrap_or(0) as usize;
    let tasks: Vec<String> = meta["tasks"]
        .as_array()
        .ok_or("meta.tasks")?
        .iter()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    let threads = rayon::current_num_threads();

    let (mut gbdt_quality, mut gbdt_timing) = (Vec::new(), Vec::new());
    let (mut rf_quality, mut rf_timing) = (Vec::new(), Vec::new());
    for task in &tasks {
        let x_path = dir.join(format!("{task}_X_train.f64"));
        let x_train = features(&x_path, n_train, p, n_train)?;
        let x_test = features(&dir.join(format!("{task}_X_test.f64")), n_test, p, n_test)?;
        let y_train = read_f64(&dir.join(format!("{task}_y_train.f64")))?;
        let y_test = read_f64(&dir.join(format!("{task}_y_test.f64")))?;
        // scikit-learn runs with early_stopping=False; "auto" would turn ours on above 10 000 rows.
        let (rows, timing) = evaluate(&Case {
            label: task.clone(),
            task,
            algorithm: Algorithm::Gbdt,
            params: json!({"early_stopping": false}),
            x_train: &x_train,
            y_train: &y_train,
            x_test: &x_test,
            y_test: &y_test,
            peer: &peer["tasks"][task],
        })?;
        gbdt_quality.extend(rows);
        gbdt_timing.push(timing);
        if rf_rows > 0 && peer["rf"].get(task).is_some() {
            let x_small = features(&x_path, n_train, p, rf_rows)?;
            let (rows, timing) = evaluate(&Case {
                label: format!("{task} (forest)"),
                task,
                algorithm: Algorithm::RandomForest,
                params: json!({"random_state": 0}),
                x_train: &x_small,
                y_train: &y_train[..rf_rows],
                x_test: &x_test,
                y_test: &y_test,
                peer: &peer["rf"][task],
            })?;
            rf_quality.extend(rows);
            rf_timing.push(timing);
        }
    }

    println!(
        "\nGBDT: Esteira gbdt vs scikit-learn {} HistGradientBoosting* (early_stopping=False, defaults)",
        peer["sklearn"].as_str().unwrap_or("?")
    );
    println!(
        "{n_train} train rows, {n_test} holdout rows, {p} features (5% NaN in 3); Esteira on {threads} rayon threads, sklearn on its OpenMP default\n"
    );
    print_tables(&gbdt_quality, &gbdt_timing);
    if !rf_timing.is_empty() {
        println!(
            "\nRandom forest: Esteira random_forest vs scikit-learn RandomForest* (100 trees, n_jobs=-1, defaults), {rf_rows} train rows, same holdout\n"
        );
        print_tables(&rf_quality, &rf_timing);
    }
    println!(
        "\nspeed-up = sklearn seconds / Esteira seconds (wall); CPU = user+system seconds of all threads during fit."
    );
    Ok(())
}
