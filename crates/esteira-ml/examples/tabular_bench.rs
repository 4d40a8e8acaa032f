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

fn features(path: &Path, rows: usize, cols: usize) -> Result<Features, Error> {
    let data = read_f64(path)?;
    if data.len() != rows * cols {
        return Err(format!("{}: expected {rows}×{cols} values", path.display()).into());
    }
    let names = (0..cols).map(|j| format!("f{j}")).collect();
    let columns = data
        .chunks_exact(rows)
        .map(|c| FeatureColumn::Numeric(c.to_vec()))
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
    let tasks: Vec<String> = meta["tasks"]
        .as_array()
        .ok_or("meta.tasks")?
        .iter()
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    let threads = rayon::current_num_threads();

    let mut quality: Vec<Row> = Vec::new();
    let mut timing: Vec<Timing> = Vec::new();
    for task in &tasks {
        let x_train = features(&dir.join(format!("{task}_X_train.f64")), n_train, p)?;
        let x_test = features(&dir.join(format!("{task}_X_test.f64")), n_test, p)?;
        let y_train = read_f64(&dir.join(format!("{task}_y_train.f64")))?;
        let y_test = read_f64(&dir.join(format!("{task}_y_test.f64")))?;
        let sk = &peer["tasks"][task];
        let num = |k: &str| sk[k].as_f64().ok_or(format!("sklearn.json: {task}.{k}"));
        // scikit-learn runs with early_stopping=False; "auto" would turn ours on above 10 000 rows.
        let params = json!({"early_stopping": false});
        let cpu0 = cpu_seconds();
        let (fit_s, predict_s, cpu1) = if task == "regression" {
            let t0 = Instant::now();
            let model = tabular::fit(
                Task::Regression,
                Algorithm::Gbdt,
                &params,
                &x_train,
                Target::Values(&y_train),
            )?;
            let fit_s = t0.elapsed().as_secs_f64();
            let cpu1 = cpu_seconds();
            let t0 = Instant::now();
            let pred = model.predict(&x_test)?;
            let predict_s = t0.elapsed().as_secs_f64();
            let mean = y_test.iter().sum::<f64>() / n_test as f64;
            let sse: f64 = y_test.iter().zip(&pred).map(|(a, b)| (a - b).powi(2)).sum();
            let sst: f64 = y_test.iter().map(|a| (a - mean).powi(2)).sum();
            quality.push(Row {
                task: task.clone(),
                metric: "RMSE",
                sklearn: num("rmse")?,
                esteira: (sse / n_test as f64).sqrt(),
                higher_is_better: false,
            });
            quality.push(Row {
                task: task.clone(),
                metric: "R²",
                sklearn: num("r2")?,
                esteira: 1.0 - sse / sst,
                higher_is_better: true,
            });
            (fit_s, predict_s, cpu1)
        } else {
            let y = labels(&y_train);
            let t0 = Instant::now();
            let model = tabular::fit(
                Task::Classification,
                Algorithm::Gbdt,
                &params,
                &x_train,
                Target::Labels(&y),
            )?;
            let fit_s = t0.elapsed().as_secs_f64();
            let cpu1 = cpu_seconds();
            let t0 = Instant::now();
            let proba = model.predict_proba(&x_test)?;
            let predict_s = t0.elapsed().as_secs_f64();
            let truth = labels(&y_test);
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
            quality.push(Row {
                task: task.clone(),
                metric: "accuracy",
                sklearn: num("accuracy")?,
                esteira: correct as f64 / n_test as f64,
                higher_is_better: true,
            });
            quality.push(Row {
                task: task.clone(),
                metric: "log loss",
                sklearn: num("log_loss")?,
                esteira: ll / n_test as f64,
                higher_is_better: false,
            });
            (fit_s, predict_s, cpu1)
        };
        let fit_cpu = match (cpu0, cpu1) {
            (Some(a), Some(b)) => b - a,
            _ => f64::NAN,
        };
        eprintln!("esteira {task}: fit {fit_s:.2}s predict {predict_s:.2}s");
        timing.push(Timing {
            task: task.clone(),
            sk_fit: num("fit_s")?,
            sk_fit_cpu: num("fit_cpu_s")?,
            fit: fit_s,
            fit_cpu,
            sk_predict: num("predict_s")?,
            predict: predict_s,
        });
    }

    println!(
        "\nGBDT: Esteira gbdt vs scikit-learn {} HistGradientBoosting* (early_stopping=False, defaults)",
        peer["sklearn"].as_str().unwrap_or("?")
    );
    println!(
        "{n_train} train rows, {n_test} holdout rows, {p} features (5% NaN in 3); Esteira on {threads} rayon threads, sklearn on its OpenMP default\n"
    );
    println!(
        "| task | metric | scikit-learn | Esteira | Esteira / sklearn | relative diff (+ = Esteira better) |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    for r in &quality {
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
    for t in &timing {
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
    println!(
        "\nspeed-up = sklearn seconds / Esteira seconds (wall); CPU = user+system seconds of all threads during fit."
    );
    Ok(())
}
