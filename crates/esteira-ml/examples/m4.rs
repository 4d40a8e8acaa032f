//! Scores every forecasting baseline on the M4 Hourly and Weekly subsets and prints our
//! sMAPE / MASE / OWA beside the competition's published figures.
//!
//! Usage: `cargo run --release -p esteira-ml --example m4 [DATA_DIR]`
//! (or `M4_DATA=DIR`); the default is `../shared/datasets/m4` relative to the repository root.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use esteira_ml::forecast::{Method, m4};

struct Subset {
    name: &'static str,
    h: usize,
    m: usize,
}

const SUBSETS: [Subset; 2] = [
    Subset {
        name: "Hourly",
        h: 48,
        m: 24,
    },
    Subset {
        name: "Weekly",
        h: 13,
        m: 1,
    },
];

/// Published (sMAPE, MASE, OWA) per (method, subset).
type Published = HashMap<(String, String), (f64, f64, f64)>;

fn data_dir() -> PathBuf {
    if let Some(arg) = std::env::args().nth(1) {
        return PathBuf::from(arg);
    }
    if let Ok(dir) = std::env::var("M4_DATA") {
        return PathBuf::from(dir);
    }
    // CARGO_MANIFEST_DIR = <repo>/crates/esteira-ml
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/m4")
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))
}

fn published(dir: &Path) -> anyhow::Result<Published> {
    let text = read(&dir.join("published-scores.csv"))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let mut out = Published::new();
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        for subset in ["Weekly", "Hourly"] {
            let col = |metric: &str| -> Option<f64> {
                let name = format!("{metric}_{}", subset.to_lowercase());
                let i = header.iter().position(|h| *h == name)?;
                cells.get(i)?.parse().ok()
            };
            if let (Some(s), Some(m), Some(o)) = (col("smape"), col("mase"), col("owa")) {
                out.insert((cells[0].to_string(), subset.to_string()), (s, m, o));
            }
        }
    }
    Ok(out)
}

/// Mean sMAPE and MASE of `method` over all series (equal horizons, so the mean over series
/// equals the mean over all steps).
fn score(
    method: Method,
    train: &[(String, Vec<f64>)],
    test: &[(String, Vec<f64>)],
    h: usize,
    m: usize,
) -> anyhow::Result<(f64, f64)> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = train.len().div_ceil(threads).max(1);
    let parts: Vec<anyhow::Result<(f64, f64)>> = std::thread::scope(|s| {
        let handles: Vec<_> = train
            .chunks(chunk)
            .zip(test.chunks(chunk))
            .map(|(tr, te)| {
                s.spawn(move || -> anyhow::Result<(f64, f64)> {
                    let (mut ss, mut sm) = (0.0, 0.0);
                    for ((id, x), (tid, y)) in tr.iter().zip(te) {
                        anyhow::ensure!(id == tid, "train {id} vs test {tid}");
                        anyhow::ensure!(y.len() == h, "{id}: test has {} values", y.len());
                        let f = method.forecast(x, h, m)?;
                        ss += m4::smape(y, &f.mean);
                        sm += m4::mase(x, y, &f.mean, m);
                    }
                    Ok((ss, sm))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker panicked"))
            .collect()
    });
    let (mut ss, mut sm) = (0.0, 0.0);
    for p in parts {
        let (a, b) = p?;
        ss += a;
        sm += b;
    }
    let n = train.len() as f64;
    Ok((ss / n, sm / n))
}

/// Rounds to the printed precision, without a negative zero.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0 + 0.0
}

fn main() -> anyhow::Result<()> {
    let dir = data_dir();
    let published = published(&dir)?;
    for subset in &SUBSETS {
        let parse = |kind: &str| -> anyhow::Result<Vec<(String, Vec<f64>)>> {
            let path = dir.join(format!("{}-{kind}.csv", subset.name));
            m4::parse_m4_csv(&read(&path)?).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        };
        let (train, test) = (parse("train")?, parse("test")?);
        anyhow::ensure!(
            train.len() == test.len(),
            "{}: row counts differ",
            subset.name
        );
        let pub_of = |name: &str| published.get(&(name.to_string(), subset.name.to_string()));
        let (n2s, n2m, _) = *pub_of("Naive2")
            .ok_or_else(|| anyhow::anyhow!("no published Naive2 for {}", subset.name))?;
        println!(
            "\nM4 {} ({} series, h = {}, m = {})",
            subset.name,
            train.len(),
            subset.h,
            subset.m
        );
        println!(
            "{:<8} {:>8} {:>8} {:>7} | {:>8} {:>8} {:>7} | {:>8} {:>8}",
            "method",
            "sMAPE",
            "MASE",
            "OWA",
            "pub sMAPE",
            "pub MASE",
            "pub OWA",
            "d sMAPE",
            "d MASE"
        );
        for method in Method::ALL {
            let start = std::time::Instant::now();
            let (s, m) = score(method, &train, &test, subset.h, subset.m)?;
            let o = m4::owa(s, m, n2s, n2m);
            let (ps, pm, po) =
                pub_of(method.name())
                    .copied()
                    .unwrap_or((f64::NAN, f64::NAN, f64::NAN));
            println!(
                "{:<8} {:>8.3} {:>8.3} {:>7.3} | {:>9.3} {:>8.3} {:>7.3} | {:>+8.3} {:>+8.3}   ({:.1}s)",
                method.name(),
                s,
                m,
                o,
                ps,
                pm,
                po,
                round3(s - ps),
                round3(m - pm),
                start.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
