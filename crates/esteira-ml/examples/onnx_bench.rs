//! Latency and throughput of `OnnxModel::predict` on the GradientBoostingRegressor fixture (100
//! trees of depth 3, 10 float features) beside Python onnxruntime and scikit-learn's `predict` on the
//! same rows, in one run (`bench/onnx.sh`).
//!
//! Each round runs the Python peer (`bench/onnx_peer.py`, which times onnxruntime and scikit-learn
//! and prints JSON) and then Esteira, with the same protocol: batch-1 latency over 2000 calls after
//! 20 warm-up calls (p50, p99), and rows/s at batches 1, 100, 1000, 10000 (repeat for at least 1 s
//! and 5 calls). The rows are the fixture's 1000 test rows, repeated for larger batches. The table
//! shows the median of the rounds and Esteira's speed-up (>1: Esteira faster), once with ONNX
//! Runtime's default intra-op threads on both sides and once with one thread on both sides
//! (scikit-learn's figures are the same in both tables).
//!
//! Usage: `cargo run --release -p esteira-ml --example onnx_bench -- [--python PY] [--rounds N]`
//! (default `.venv/bin/python` of the workspace, 3 rounds).

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use esteira_ml::onnx::{Column, OnnxModel, SessionOptions};
use serde_json::Value;

const BATCHES: [usize; 4] = [1, 100, 1000, 10000];
const LATENCY_CALLS: usize = 2000;
const WARMUP: usize = 20;
const MIN_TIME: Duration = Duration::from_secs(1);
const MIN_REPS: usize = 5;

/// One engine's figures: batch-1 latency (µs) and rows/s per batch size.
#[derive(Debug, Clone)]
struct Figures {
    p50_us: f64,
    p99_us: f64,
    rows_per_s: Vec<f64>,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx")
}

/// The fixture rows as 10 columns of `batch` values (rows repeated in order).
fn columns(rows: &[Vec<f64>], batch: usize) -> Vec<(String, Column)> {
    (0..rows[0].len())
        .map(|c| {
            let values = (0..batch).map(|r| rows[r % rows.len()][c]).collect();
            (format!("x{c}"), Column::F64(values))
        })
        .collect()
}

fn esteira(model: &OnnxModel, rows: &[Vec<f64>]) -> anyhow::Result<Figures> {
    let one = columns(rows, 1);
    for _ in 0..WARMUP {
        model.predict(&one, 1)?;
    }
    let mut times = Vec::with_capacity(LATENCY_CALLS);
    for _ in 0..LATENCY_CALLS {
        let t0 = Instant::now();
        model.predict(&one, 1)?;
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let p50_us = median(&times) * 1e6;
    let p99_us = times[LATENCY_CALLS * 99 / 100] * 1e6;

    let mut rows_per_s = Vec::with_capacity(BATCHES.len());
    for batch in BATCHES {
        let cols = columns(rows, batch);
        for _ in 0..3 {
            model.predict(&cols, batch)?;
        }
        let start = Instant::now();
        let mut reps = 0;
        loop {
            model.predict(&cols, batch)?;
            reps += 1;
            let elapsed = start.elapsed();
            if elapsed >= MIN_TIME && reps >= MIN_REPS {
                rows_per_s.push((reps * batch) as f64 / elapsed.as_secs_f64());
                break;
            }
        }
    }
    Ok(Figures {
        p50_us,
        p99_us,
        rows_per_s,
    })
}

fn peer_figures(json: &Value, engine: &str) -> anyhow::Result<Figures> {
    let e = &json[engine];
    let num = |v: &Value, what: &str| {
        v.as_f64()
            .with_context(|| format!("peer output has no {engine}.{what}"))
    };
    Ok(Figures {
        p50_us: num(&e["p50_us"], "p50_us")?,
        p99_us: num(&e["p99_us"], "p99_us")?,
        rows_per_s: BATCHES
            .iter()
            .map(|b| num(&e["rows_per_s"][b.to_string()], &format!("rows_per_s.{b}")))
            .collect::<anyhow::Result<_>>()?,
    })
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// The per-metric median over rounds.
fn median_figures(rounds: &[Figures]) -> Figures {
    let med = |f: &dyn Fn(&Figures) -> f64| {
        let mut v: Vec<f64> = rounds.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        median(&v)
    };
    Figures {
        p50_us: med(&|f| f.p50_us),
        p99_us: med(&|f| f.p99_us),
        rows_per_s: (0..BATCHES.len())
            .map(|i| med(&|f| f.rows_per_s[i]))
            .collect(),
    }
}

fn print_table(title: &str, e: &Figures, o: &Figures, s: &Figures) {
    println!();
    println!("{title}");
    println!();
    println!(
        "| {:<28} | {:>12} | {:>16} | {:>12} | {:>14} | {:>14} |",
        "metric", "Esteira", "onnxruntime (py)", "scikit-learn", "vs onnxrt (x)", "vs sklearn (x)"
    );
    println!(
        "|{}|{}|{}|{}|{}|{}|",
        "-".repeat(30),
        "-".repeat(14),
        "-".repeat(18),
        "-".repeat(14),
        "-".repeat(16),
        "-".repeat(16)
    );
    let latency_row = |name: &str, e: f64, o: f64, s: f64| {
        println!(
            "| {name:<28} | {e:>12.1} | {o:>16.1} | {s:>12.1} | {:>14.2} | {:>14.2} |",
            o / e,
            s / e
        );
    };
    latency_row("latency p50, batch 1 (us)", e.p50_us, o.p50_us, s.p50_us);
    latency_row("latency p99, batch 1 (us)", e.p99_us, o.p99_us, s.p99_us);
    for (i, batch) in BATCHES.iter().enumerate() {
        let (er, or, sr) = (e.rows_per_s[i], o.rows_per_s[i], s.rows_per_s[i]);
        println!(
            "| {:<28} | {er:>12.0} | {or:>16.0} | {sr:>12.0} | {:>14.2} | {:>14.2} |",
            format!("rows/s, batch {batch}"),
            er / or,
            er / sr
        );
    }
}

fn main() -> anyhow::Result<()> {
    let mut python = workspace().join(".venv/bin/python");
    let mut rounds = 3usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--python" => python = PathBuf::from(args.next().context("--python needs a path")?),
            "--rounds" => {
                rounds = args
                    .next()
                    .context("--rounds needs a number")?
                    .parse()
                    .context("--rounds")?;
                if rounds == 0 {
                    bail!("--rounds must be at least 1");
                }
            }
            other => bail!("unknown argument {other} (expected --python PY, --rounds N)"),
        }
    }
    let peer = workspace().join("bench/onnx_peer.py");

    let inputs: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("inputs.json"))?)?;
    let rows: Vec<Vec<f64>> = inputs["rows"]
        .as_array()
        .context("inputs.json rows")?
        .iter()
        .map(|r| {
            r.as_array()
                .context("row")?
                .iter()
                .map(|v| v.as_f64().context("number"))
                .collect()
        })
        .collect::<anyhow::Result<_>>()?;

    let model = OnnxModel::load(fixtures().join("gbr.onnx"))?;
    // The same predictions as scikit-learn before timing anything.
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(
        fixtures().join("gbr.expected.json"),
    )?)?;
    let out = model.predict(&columns(&rows, rows.len()), rows.len())?;
    let got = out.get("variable").context("output 'variable'")?;
    let mut max_rel = 0.0f64;
    for (r, want) in expected["variable"]
        .as_array()
        .context("expected")?
        .iter()
        .enumerate()
    {
        let want = want.as_f64().context("expected value")?;
        let g = got.get(r, 0).context("prediction")?;
        max_rel = max_rel.max((g - want).abs() / want.abs().max(1e-12));
    }
    if max_rel > 1e-5 {
        bail!("Esteira's predictions differ from scikit-learn's (max relative error {max_rel:e})");
    }

    let one_thread = OnnxModel::load_with(
        fixtures().join("gbr.onnx"),
        SessionOptions {
            intra_op_threads: Some(NonZeroUsize::MIN),
            intra_op_spinning: None,
        },
    )?;
    let mut ours = Vec::new();
    let mut ours_1 = Vec::new();
    let mut ort_py = Vec::new();
    let mut ort_py_1 = Vec::new();
    let mut sklearn = Vec::new();
    let mut versions = String::new();
    for round in 1..=rounds {
        eprintln!("round {round}/{rounds}: Python peer (onnxruntime, scikit-learn) ...");
        let output = Command::new(&python)
            .arg(&peer)
            .arg(fixtures())
            .output()
            .with_context(|| format!("running {} {}", python.display(), peer.display()))?;
        if !output.status.success() {
            bail!(
                "the Python peer failed ({}):\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let json: Value = serde_json::from_slice(&output.stdout).context("peer output")?;
        ort_py.push(peer_figures(&json, "onnxruntime")?);
        ort_py_1.push(peer_figures(&json, "onnxruntime_1thread")?);
        sklearn.push(peer_figures(&json, "sklearn")?);
        versions = json["versions"].to_string();
        eprintln!("round {round}/{rounds}: Esteira ...");
        ours.push(esteira(&model, &rows)?);
        ours_1.push(esteira(&one_thread, &rows)?);
    }
    let sklearn = median_figures(&sklearn);

    println!(
        "GradientBoostingRegressor (100 trees, depth 3, 10 features) via ONNX; median of {rounds} rounds"
    );
    println!(
        "Esteira: OnnxModel::predict (release, ort, {}); Python: {versions}",
        esteira_ml::onnx::init_runtime()?.display()
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!(
            "machine: {} cores, load average {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            load.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    println!("max relative difference Esteira vs scikit-learn on 1000 rows: {max_rel:.1e}");
    print_table(
        "ONNX Runtime's default intra-op threads (Esteira and onnxruntime alike)",
        &median_figures(&ours),
        &median_figures(&ort_py),
        &sklearn,
    );
    print_table(
        "1 intra-op thread (Esteira and onnxruntime alike)",
        &median_figures(&ours_1),
        &median_figures(&ort_py_1),
        &sklearn,
    );
    println!();
    println!(
        "speed-up columns: how many times faster Esteira is (latency: theirs/ours; rows/s: ours/theirs)."
    );
    Ok(())
}
