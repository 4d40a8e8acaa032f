//! Dataset drift of two files with Evidently's defaults, for `bench/drift.sh`.
//!
//! `cargo run --release --example drift_bench -p esteira-monitor -- REFERENCE CURRENT`
//! prints JSON: the seconds from opening the files to the verdicts, and every column's method,
//! threshold, score and verdict.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use esteira_monitor::dataset::{DriftOptions, dataset_drift, open_source};
use serde_json::json;

fn run(reference: &Path, current: &Path) -> esteira_monitor::Result<serde_json::Value> {
    let start = Instant::now();
    let reference = open_source(reference)?;
    let current = open_source(current)?;
    let drift = dataset_drift(
        reference.as_ref(),
        current.as_ref(),
        &DriftOptions::default(),
    )?;
    let seconds = start.elapsed().as_secs_f64();
    let columns: serde_json::Map<String, serde_json::Value> = drift
        .columns
        .iter()
        .map(|c| {
            let verdict = json!({
                "method": c.method,
                "threshold": c.threshold,
                "score": c.score,
                "drifted": c.drifted,
                "not_computed": c.not_computed,
            });
            (c.column.clone(), verdict)
        })
        .collect();
    let mut drifted: Vec<&str> = drift
        .columns
        .iter()
        .filter(|c| c.drifted == Some(true))
        .map(|c| c.column.as_str())
        .collect();
    drifted.sort_unstable();
    Ok(json!({
        "drift_s": seconds,
        "threads": rayon::current_num_threads(),
        "rows_reference": drift.rows_reference,
        "rows_current": drift.rows_current,
        "drifted_columns_count": drift.drifted_count,
        "dataset_drift": drift.dataset_drift,
        "columns": columns,
        "drifted": drifted,
    }))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [reference, current] = args.as_slice() else {
        eprintln!("usage: drift_bench REFERENCE CURRENT (Parquet or CSV files)");
        return ExitCode::from(2);
    };
    match run(Path::new(reference), Path::new(current)) {
        Ok(out) => {
            println!("{out:#}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("drift_bench: {error}");
            ExitCode::FAILURE
        }
    }
}
