//! Scores every forecasting method on the M4 Hourly and Weekly subsets and prints our
//! sMAPE / MASE / OWA beside the competition's published figures, with the wall time of each
//! row (all series in parallel on every core).
//!
//! Usage: `cargo run --release -p esteira-ml --example m4 -- [DATA_DIR] [--rules]
//! [--statsmodels-mstl-seconds S]`
//! (or `M4_DATA=DIR`); the default is `../shared/datasets/m4` relative to the repository root.
//! `--rules` adds the ensemble rules that were compared to choose `EnsembleRule::default`.
//! `--statsmodels-mstl-seconds S` (from `bench/m4.sh`) times our MSTL decomposition of every
//! Hourly series on one thread and prints it beside statsmodels' time `S` for the same work.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use esteira_ml::forecast::{
    EnsembleRule, Forecast, ForecastError, Method, NonSeasonal, Weighting, fit, fit_auto, fit_mstl,
    m4, mstl,
};
use rayon::prelude::*;

struct Subset {
    name: &'static str,
    h: usize,
    m: usize,
    /// Periods given to MSTL and Auto (the first is the one the M4 methods inside Auto use).
    seasons: &'static [usize],
}

/// Ensemble rules compared by `--rules`: (windows, top_k, weighting).
const RULES: [(usize, usize, Weighting); 8] = [
    (1, 1, Weighting::Equal),
    (3, 1, Weighting::Equal),
    (3, 3, Weighting::Equal),
    (3, 3, Weighting::InverseScore),
    (3, 5, Weighting::InverseScore),
    (3, 7, Weighting::InverseScore),
    (3, 10, Weighting::InverseScore),
    (5, 5, Weighting::InverseScore),
];

const SUBSETS: [Subset; 2] = [
    Subset {
        name: "Hourly",
        h: 48,
        m: 24,
        seasons: &[24, 168],
    },
    Subset {
        name: "Weekly",
        h: 13,
        m: 1,
        seasons: &[1, 52],
    },
];

/// Published (sMAPE, MASE, OWA) per (method, subset).
type Published = HashMap<(String, String), (f64, f64, f64)>;

/// Command-line options.
struct Options {
    dir: PathBuf,
    rules: bool,
    statsmodels_mstl_seconds: Option<f64>,
}

fn options() -> anyhow::Result<Options> {
    let mut dir = None;
    let mut rules = false;
    let mut statsmodels_mstl_seconds = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rules" => rules = true,
            "--statsmodels-mstl-seconds" => {
                let v = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--statsmodels-mstl-seconds needs a value"))?;
                statsmodels_mstl_seconds = Some(v.parse()?);
            }
            _ => dir = Some(PathBuf::from(arg)),
        }
    }
    Ok(Options {
        dir: dir.unwrap_or_else(data_dir),
        rules,
        statsmodels_mstl_seconds,
    })
}

fn data_dir() -> PathBuf {
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

/// Forecasts (with intervals where the method has them) of `h` steps after a history.
type Runner = Box<dyn Fn(&[f64], usize) -> Result<Forecast, ForecastError> + Sync>;

/// One row of the table: how each series is forecast.
struct Row {
    label: String,
    /// Published row to print beside ours.
    published: Option<&'static str>,
    run: Runner,
}

fn method_row(method: Method, m: usize) -> Row {
    Row {
        label: method.name().to_string(),
        published: Some(method.name()),
        run: Box::new(move |x, h| method.forecast(x, h, m)),
    }
}

fn fitted_row(label: String, method: Method, seasons: Vec<usize>) -> Row {
    Row {
        label,
        published: None,
        run: Box::new(move |x, h| Ok(fit(method, x, h, &seasons)?.forecast(h))),
    }
}

fn auto_row(label: String, seasons: Vec<usize>, rule: EnsembleRule) -> Row {
    Row {
        label,
        published: None,
        run: Box::new(move |x, h| Ok(fit_auto(x, h, &seasons, &rule)?.forecast(h))),
    }
}

/// Scores of a row over all series.
struct Scores {
    smape: f64,
    mase: f64,
    /// Share of the test values inside the 95 % interval, when every forecast had one.
    coverage95: Option<f64>,
}

/// Mean sMAPE and MASE of a row over all series, in parallel (equal horizons, so the mean
/// over series equals the mean over all steps), and the 95 % interval coverage.
fn score(
    row: &Row,
    train: &[(String, Vec<f64>)],
    test: &[(String, Vec<f64>)],
    h: usize,
    m: usize,
) -> anyhow::Result<Scores> {
    let per_series: Vec<anyhow::Result<(f64, f64, Option<usize>)>> = train
        .par_iter()
        .zip(test)
        .map(|((id, x), (tid, y))| {
            anyhow::ensure!(id == tid, "train {id} vs test {tid}");
            anyhow::ensure!(y.len() == h, "{id}: test has {} values", y.len());
            let f = (row.run)(x, h).map_err(|e| anyhow::anyhow!("{id}: {e}"))?;
            let inside = f
                .lower95
                .as_ref()
                .zip(f.upper95.as_ref())
                .map(|(lo, hi)| (0..h).filter(|&k| lo[k] <= y[k] && y[k] <= hi[k]).count());
            Ok((m4::smape(y, &f.mean), m4::mase(x, y, &f.mean, m), inside))
        })
        .collect();
    let (mut ss, mut sm, mut inside) = (0.0, 0.0, Some(0));
    for p in per_series {
        let (a, b, c) = p?;
        ss += a;
        sm += b;
        inside = inside.zip(c).map(|(t, c)| t + c);
    }
    let n = train.len() as f64;
    Ok(Scores {
        smape: ss / n,
        mase: sm / n,
        coverage95: inside.map(|i| i as f64 / (n * h as f64)),
    })
}

/// Rounds to the printed precision, without a negative zero.
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0 + 0.0
}

/// Times `mstl` over every Hourly series (periods 24 and 168) on this thread.
fn time_mstl(train: &[(String, Vec<f64>)]) -> anyhow::Result<f64> {
    let start = std::time::Instant::now();
    for (id, x) in train {
        mstl(x, &[24, 168], false).map_err(|e| anyhow::anyhow!("{id}: {e}"))?;
    }
    Ok(start.elapsed().as_secs_f64())
}

fn main() -> anyhow::Result<()> {
    let opts = options()?;
    let dir = opts.dir.clone();
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
            "{:<28} {:>8} {:>8} {:>7} {:>6} | {:>8} {:>8} {:>7} | {:>8} {:>8} | {:>8}",
            "method",
            "sMAPE",
            "MASE",
            "OWA",
            "cov95",
            "pub sMAPE",
            "pub MASE",
            "pub OWA",
            "d sMAPE",
            "d MASE",
            "wall"
        );
        let mut rows: Vec<Row> = Method::ALL
            .into_iter()
            .map(|method| method_row(method, subset.m))
            .collect();
        let periods: Vec<String> = subset
            .seasons
            .iter()
            .filter(|p| **p > 1)
            .map(ToString::to_string)
            .collect();
        for inner in [NonSeasonal::Ses, NonSeasonal::Damped, NonSeasonal::Theta] {
            let seasons = subset.seasons.to_vec();
            rows.push(Row {
                label: format!("MSTL({})+{}", periods.join(","), inner.name()),
                published: None,
                run: Box::new(move |x, h| Ok(fit_mstl(x, h, &seasons, inner)?.forecast(h))),
            });
        }
        rows.push(fitted_row(
            "AutoETS".to_string(),
            Method::AutoEts,
            subset.seasons.to_vec(),
        ));
        rows.push(fitted_row(
            "Auto".to_string(),
            Method::Auto,
            subset.seasons.to_vec(),
        ));
        let compared: &[(usize, usize, Weighting)] = if opts.rules { &RULES } else { &[] };
        for &(windows, top_k, weighting) in compared {
            let rule = EnsembleRule {
                windows,
                top_k,
                weighting,
            };
            rows.push(auto_row(
                format!("Auto w{windows} k{top_k} {weighting:?}"),
                subset.seasons.to_vec(),
                rule,
            ));
        }
        for row in &rows {
            let start = std::time::Instant::now();
            let scores = score(row, &train, &test, subset.h, subset.m)?;
            let (s, m) = (scores.smape, scores.mase);
            let o = m4::owa(s, m, n2s, n2m);
            let coverage = scores
                .coverage95
                .map_or_else(|| "-".to_string(), |c| format!("{c:.3}"));
            let ours = format!("{:<28} {s:>8.3} {m:>8.3} {o:>7.3} {coverage:>6}", row.label);
            let wall = start.elapsed().as_secs_f64();
            match row.published.and_then(pub_of) {
                Some(&(ps, pm, po)) => println!(
                    "{ours} | {ps:>9.3} {pm:>8.3} {po:>7.3} | {:>+8.3} {:>+8.3} | {wall:>7.2}s",
                    round3(s - ps),
                    round3(m - pm),
                ),
                None => println!(
                    "{ours} | {:>9} {:>8} {:>7} | {:>8} {:>8} | {wall:>7.2}s",
                    "-", "-", "-", "-", "-"
                ),
            }
        }
        // Published rows with no counterpart here, for reference.
        let best = published
            .iter()
            .filter(|((name, s), _)| s == subset.name && name.starts_with("submission-"))
            .min_by(|a, b| a.1.2.total_cmp(&b.1.2));
        let com = pub_of("Com").map(|p| ("Com".to_string(), *p));
        let best = best.map(|((name, _), p)| (format!("best {name}"), *p));
        for (name, (ps, pm, po)) in [com, best].into_iter().flatten() {
            println!(
                "{:<28} {:>8} {:>8} {:>7} | {ps:>9.3} {pm:>8.3} {po:>7.3} | {:>8} {:>8} |",
                format!("pub {name}"),
                "-",
                "-",
                "-",
                "-",
                "-"
            );
        }
        if let (Some(peer), "Hourly") = (opts.statsmodels_mstl_seconds, subset.name) {
            let ours = time_mstl(&train)?;
            println!(
                "\nMSTL(24,168) decomposition of the {} Hourly series, one thread",
                train.len()
            );
            println!("{:<12} {:>10} {:>10}", "", "seconds", "ratio");
            println!("{:<12} {:>10.3} {:>10.2}", "statsmodels", peer, 1.0);
            println!("{:<12} {:>10.3} {:>10.2}", "esteira", ours, ours / peer);
        }
    }
    Ok(())
}
