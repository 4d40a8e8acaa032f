//! Speed and accuracy of `auto_ets` beside statsforecast's AutoETS on the same data
//! (run by `bench/ets_speed.sh`, which makes the data and the peer's results).
//!
//! Usage: `cargo run --release -p esteira-ml --example ets_speed -- DATA.csv PEER.csv`
//!
//! DATA.csv: `id,t0,..` one series per row. PEER.csv: `id,model,seconds,f1..f14` for a
//! subset of the series (statsforecast on one core). The last 14 points of each series are
//! held out; every series is fitted on the rest with season 7 and forecast 14 steps ahead.
//! Prints time per series (one thread, then all cores), the speed ratio, sMAPE and MASE on
//! the held-out points, and how often both chose the same model.

use std::time::Instant;

use esteira_ml::forecast::{AutoEtsOptions, auto_ets, m4};
use rayon::prelude::*;

const H: usize = 14;
const M: usize = 7;

/// Splits one CSV line, honouring double quotes.
fn cells(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for ch in line.trim_end_matches('\r').chars() {
        match ch {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(ch),
        }
    }
    out.push(cur);
    out
}

fn read_csv(path: &str) -> anyhow::Result<Vec<Vec<String>>> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading {path}: {e}"))?;
    Ok(text
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(cells)
        .collect())
}

fn parse(v: &str, what: &str) -> anyhow::Result<f64> {
    v.parse()
        .map_err(|_| anyhow::anyhow!("{what}: {v:?} is not a number"))
}

struct Series {
    id: String,
    train: Vec<f64>,
    test: Vec<f64>,
}

struct Peer {
    model: String,
    seconds: f64,
    mean: Vec<f64>,
}

/// Mean sMAPE and MASE over all steps of all given (series, forecast) pairs.
fn accuracy<'a>(pairs: impl Iterator<Item = (&'a Series, &'a [f64])>) -> (f64, f64) {
    let (mut s, mut a, mut k) = (0.0, 0.0, 0usize);
    for (ser, f) in pairs {
        s += m4::smape(&ser.test, f);
        a += m4::mase(&ser.train, &ser.test, f, M);
        k += 1;
    }
    (s / k as f64, a / k as f64)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        anyhow::bail!("usage: ets_speed DATA.csv PEER.csv");
    }
    let mut series = Vec::new();
    for row in read_csv(&args[1])? {
        let values = row[1..]
            .iter()
            .map(|v| parse(v, &row[0]))
            .collect::<anyhow::Result<Vec<f64>>>()?;
        if values.len() <= H {
            anyhow::bail!("series {} has only {} values", row[0], values.len());
        }
        let cut = values.len() - H;
        series.push(Series {
            id: row[0].clone(),
            train: values[..cut].to_vec(),
            test: values[cut..].to_vec(),
        });
    }
    let mut peers = std::collections::HashMap::new();
    for row in read_csv(&args[2])? {
        let mean = row[3..]
            .iter()
            .map(|v| parse(v, &row[0]))
            .collect::<anyhow::Result<Vec<f64>>>()?;
        peers.insert(
            row[0].clone(),
            Peer {
                model: row[1].clone(),
                seconds: parse(&row[2], &row[0])?,
                mean,
            },
        );
    }
    let opts = AutoEtsOptions::default();
    let fit = |s: &Series| -> anyhow::Result<(String, Vec<f64>)> {
        let model = auto_ets(&s.train, M, &opts)?;
        let fc = model.forecast(H)?;
        Ok((model.model, fc.mean))
    };

    // One thread: every series, one after the other, timed one by one.
    let mut ours = Vec::with_capacity(series.len());
    let mut secs = Vec::with_capacity(series.len());
    let start_all = Instant::now();
    for s in &series {
        let t = Instant::now();
        let r = fit(s)?;
        secs.push(t.elapsed().as_secs_f64());
        ours.push(r);
    }
    let one_thread_wall = start_all.elapsed().as_secs_f64();

    // All cores.
    let threads = rayon::current_num_threads();
    let t = Instant::now();
    let par: Vec<(String, Vec<f64>)> = series
        .par_iter()
        .map(fit)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let all_cores_wall = t.elapsed().as_secs_f64();
    if par.iter().zip(&ours).any(|(a, b)| a != b) {
        anyhow::bail!("parallel and sequential fits differ");
    }

    // The peer's subset.
    let subset: Vec<usize> = (0..series.len())
        .filter(|&i| peers.contains_key(&series[i].id))
        .collect();
    if subset.is_empty() {
        anyhow::bail!("no series of {} in {}", args[2], args[1]);
    }
    let peer_of = |i: usize| &peers[&series[i].id];
    let peer_secs: Vec<f64> = subset.iter().map(|&i| peer_of(i).seconds).collect();
    let our_subset_secs: Vec<f64> = subset.iter().map(|&i| secs[i]).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (peer_ms, our_sub_ms) = (1e3 * mean(&peer_secs), 1e3 * mean(&our_subset_secs));
    let (p_smape, p_mase) = accuracy(
        subset
            .iter()
            .map(|&i| (&series[i], peer_of(i).mean.as_slice())),
    );
    let (o_smape, o_mase) = accuracy(subset.iter().map(|&i| (&series[i], ours[i].1.as_slice())));
    let (a_smape, a_mase) = accuracy(series.iter().zip(&ours).map(|(s, o)| (s, o.1.as_slice())));
    let same = subset
        .iter()
        .filter(|&&i| peer_of(i).model == ours[i].0)
        .count();
    let n_all = series.len();

    println!(
        "AutoETS, season 7, h = {H}, {} points per series ({} fitted, {H} held out)\n",
        series[0].train.len() + H,
        series[0].train.len()
    );
    println!(
        "| side | series | threads | ms / series (mean) | ms / series (median) | sMAPE | MASE |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| statsforecast 2.1.1 AutoETS | {} | 1 | {:.1} | {:.1} | {:.3} | {:.4} |",
        subset.len(),
        peer_ms,
        1e3 * median(peer_secs.clone()),
        p_smape,
        p_mase
    );
    println!(
        "| Esteira auto_ets (same series) | {} | 1 | {:.2} | {:.2} | {:.3} | {:.4} |",
        subset.len(),
        our_sub_ms,
        1e3 * median(our_subset_secs),
        o_smape,
        o_mase
    );
    println!(
        "| Esteira auto_ets (all series) | {n_all} | 1 | {:.2} | {:.2} | {:.3} | {:.4} |",
        1e3 * one_thread_wall / n_all as f64,
        1e3 * median(secs.clone()),
        a_smape,
        a_mase
    );
    println!(
        "| Esteira auto_ets (all series) | {n_all} | {threads} | {:.2} (wall / series) | | {:.3} | {:.4} |",
        1e3 * all_cores_wall / n_all as f64,
        a_smape,
        a_mase
    );
    println!();
    println!(
        "speed per core, same series: {:.1}x (statsforecast {peer_ms:.1} ms / Esteira {our_sub_ms:.2} ms)",
        peer_ms / our_sub_ms
    );
    println!(
        "all {threads} cores vs statsforecast on one: {:.1}x",
        peer_ms / (1e3 * all_cores_wall / n_all as f64)
    );
    println!(
        "sMAPE ratio Esteira / statsforecast: {:.3}; MASE ratio: {:.3} (below 1: Esteira more accurate)",
        o_smape / p_smape,
        o_mase / p_mase
    );
    println!("same model chosen: {same} of {} series", subset.len());
    Ok(())
}
