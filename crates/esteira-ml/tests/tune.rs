//! Hyperparameter search: grid against scikit-learn's `ParameterGrid`, successive halving against
//! scikit-learn's `HalvingGridSearchCV`, random sampling against the distributions it must follow
//! (Kolmogorov-Smirnov, critical values from SciPy). Fixtures come from
//! `tests/fixtures/tune/generate.py`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use esteira_ml::tune::{
    Direction, NoObserver, Observer, Outcome, Param, SearchSpace, Strategy, Trial, TrialRecord,
    TuneConfig, TuneError, TuneResult, tune,
};
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tune")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn config(strategy: Strategy, direction: Direction, max_parallelism: Option<usize>) -> TuneConfig {
    TuneConfig {
        strategy,
        direction,
        max_parallelism,
    }
}

fn close(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol * want.abs().max(1.0)
}

/// The objective of `grid.json` (same formula as generate.py's `grid_objective`).
fn grid_objective(trial: &Trial) -> Result<f64, TuneError> {
    let penalty = match trial.str("loss")? {
        "squared" => 0.3,
        "absolute" => 0.2,
        _ => 0.0,
    };
    Ok((trial.f64("alpha")?.log10() + 1.0).powi(2)
        + (trial.f64("depth")? - 6.0).powi(2) / 4.0
        + (trial.f64("leaves")? - 2.0).powi(2)
        + penalty
        + (trial.f64("lr")? - 0.5).powi(2))
}

/// Parameter maps equal, floats to 1e-12 relative.
fn same_params(got: &serde_json::Map<String, Value>, want: &Value) -> bool {
    let want = want.as_object().unwrap();
    got.len() == want.len()
        && got.iter().all(|(k, g)| match (g, &want[k]) {
            (Value::Number(a), Value::Number(b)) if a.is_f64() || b.is_f64() => {
                close(a.as_f64().unwrap(), b.as_f64().unwrap(), 1e-12)
            }
            (a, b) => a == b,
        })
}

#[test]
fn grid_enumerates_scikit_learn_parameter_grid_and_finds_the_optimum() {
    let fx = fixture("grid.json");
    let space: SearchSpace = serde_json::from_value(fx["space"].clone()).unwrap();
    let want = fx["grid"].as_array().unwrap();

    let grid = space.grid().unwrap();
    assert_eq!(grid.len(), want.len());
    assert_eq!(grid.len(), 5 * 3 * 3 * 3 * 3);
    for (i, (g, w)) in grid.iter().zip(want).enumerate() {
        assert!(same_params(g, w), "point {i}: got {g:?}, want {w}");
    }
    // int steps over [1, 4]: linspace gives 2.5, rounded half to even like NumPy.
    assert!(matches!(
        &space.params()[2],
        (name, Param::Int { grid: Some(g), .. }) if name == "leaves" && g == &[1, 2, 4]
    ));

    for threads in [Some(1), Some(3)] {
        let result = tune(
            &space,
            &config(Strategy::Grid, Direction::Minimize, threads),
            |t: &Trial, _| grid_objective(t),
            &NoObserver,
        )
        .unwrap();
        assert_eq!(result.trials.len(), want.len());
        let values = fx["values"].as_array().unwrap();
        for (i, record) in result.trials.iter().enumerate() {
            assert_eq!(record.trial.id, i);
            assert_eq!((record.trial.rung, record.budget), (0, 1.0));
            assert!(same_params(&record.trial.params, &want[i]), "trial {i}");
            let v = record.value().unwrap();
            assert!(close(v, values[i].as_f64().unwrap(), 1e-12), "trial {i}");
        }
        let best = fx["best_index"].as_u64().unwrap() as usize;
        assert_eq!(result.best.trial.id, best);
        assert_eq!(result.best, result.trials[best]);
        assert_eq!(result.best.trial.str("loss").unwrap(), "huber");
    }
}

/// The objective of `halving.json` (generate.py's `halving_score`).
fn halving_score(c: f64, budget: f64, n: f64) -> f64 {
    -((c - (0.6 * n + 0.137)).powi(2)) / n + (1.0 - budget) * 4.0 * (1.7 * c).cos()
}

/// Rungs of a result: (budget, candidates, values) per rung.
fn rungs(result: &TuneResult) -> Vec<(f64, Vec<usize>, Vec<f64>)> {
    let mut by_rung: BTreeMap<usize, (f64, Vec<usize>, Vec<f64>)> = BTreeMap::new();
    for r in &result.trials {
        let entry = by_rung
            .entry(r.trial.rung)
            .or_insert((r.budget, Vec::new(), Vec::new()));
        assert_eq!(entry.0, r.budget, "one budget per rung");
        entry.1.push(r.trial.candidate);
        entry.2.push(r.value().unwrap());
    }
    by_rung.into_values().collect()
}

#[test]
fn halving_promotes_the_same_candidates_as_scikit_learn() {
    for case in fixture("halving.json")["cases"].as_array().unwrap() {
        let n = case["n"].as_u64().unwrap() as usize;
        let eta = case["eta"].as_u64().unwrap() as usize;
        let space =
            SearchSpace::from_value(&json!({"c": {"choice": (0..n).collect::<Vec<_>>()}})).unwrap();
        let result = tune(
            &space,
            &config(Strategy::HalvingGrid { eta }, Direction::Maximize, Some(2)),
            |t: &Trial, budget| -> Result<f64, TuneError> {
                Ok(halving_score(t.f64("c")?, budget, n as f64))
            },
            &NoObserver,
        )
        .unwrap();
        let got = rungs(&result);
        let want = case["iterations"].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "n={n} eta={eta}: rungs");
        for (rung, ((budget, candidates, values), w)) in got.iter().zip(want).enumerate() {
            let what = format!("n={n} eta={eta} rung {rung}");
            assert!(
                close(*budget, w["budget"].as_f64().unwrap(), 1e-15),
                "{what}"
            );
            // Grid candidates are numbered in grid order, so candidate k has c = k.
            let mut pairs: Vec<(usize, f64)> = candidates
                .iter()
                .copied()
                .zip(values.iter().copied())
                .collect();
            pairs.sort_by_key(|p| p.0);
            let mut want_pairs: Vec<(usize, f64)> = w["candidates"]
                .as_array()
                .unwrap()
                .iter()
                .zip(w["scores"].as_array().unwrap())
                .map(|(c, s)| (c.as_u64().unwrap() as usize, s.as_f64().unwrap()))
                .collect();
            want_pairs.sort_by_key(|p| p.0);
            assert_eq!(
                pairs.iter().map(|p| p.0).collect::<Vec<_>>(),
                want_pairs.iter().map(|p| p.0).collect::<Vec<_>>(),
                "{what}: candidates"
            );
            for ((c, v), (_, s)) in pairs.iter().zip(&want_pairs) {
                assert!(
                    close(*v, *s, 1e-12),
                    "{what}: candidate {c} scored {v}, want {s}"
                );
            }
            // Only the last rung gets the full budget.
            assert_eq!(*budget == 1.0, rung == want.len() - 1, "{what}");
        }
        assert_eq!(
            result.best.trial.candidate,
            case["best"].as_u64().unwrap() as usize,
            "n={n} eta={eta}: best"
        );
        assert_eq!(result.best.trial.rung, want.len() - 1);
        // Ids follow creation order, rung by rung.
        for (i, r) in result.trials.iter().enumerate() {
            assert_eq!(r.trial.id, i);
        }
    }
}

#[test]
fn random_halving_follows_the_same_schedule() {
    // Case n=30, eta=4 of halving.json: rungs of 30, 8, 2 candidates at budgets 1/16, 1/4, 1.
    let case = &fixture("halving.json")["cases"][3];
    assert_eq!(
        (case["n"].as_u64(), case["eta"].as_u64()),
        (Some(30), Some(4))
    );
    let space =
        SearchSpace::from_json(r#"{"x": {"float": [-5, 5]}, "k": {"int": [0, 9]}}"#).unwrap();
    let result = tune(
        &space,
        &config(
            Strategy::Halving {
                candidates: 30,
                seed: 11,
                eta: 4,
            },
            Direction::Minimize,
            None,
        ),
        |t: &Trial, budget| -> Result<f64, TuneError> {
            Ok((t.f64("x")? - 1.0).powi(2) + t.f64("k")? * (1.0 - budget))
        },
        &NoObserver,
    )
    .unwrap();
    let got = rungs(&result);
    for ((budget, candidates, values), w) in got.iter().zip(case["iterations"].as_array().unwrap())
    {
        assert!(close(*budget, w["budget"].as_f64().unwrap(), 1e-15));
        assert_eq!(candidates.len(), w["candidates"].as_array().unwrap().len());
        assert!(values.iter().all(|v| v.is_finite()));
    }
    assert_eq!(got.len(), case["iterations"].as_array().unwrap().len());
    // Each rung's survivors are the best quarter (rounded up) of the rung before.
    for pair in got.windows(2) {
        let (prev, next) = (&pair[0], &pair[1]);
        let mut ranked: Vec<(f64, usize)> =
            prev.2.iter().copied().zip(prev.1.iter().copied()).collect();
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
        let top: BTreeSet<usize> = ranked
            .iter()
            .take(prev.1.len().div_ceil(4))
            .map(|p| p.1)
            .collect();
        assert_eq!(top, next.1.iter().copied().collect::<BTreeSet<_>>());
    }
}

fn sampling_space() -> SearchSpace {
    SearchSpace::from_json(
        r#"{
            "alpha": {"float": [0.001, 10.0], "log": true},
            "x": {"float": [-2.0, 3.0]},
            "k": {"int": [8, 64]},
            "m": {"int": [1, 1000], "log": true},
            "loss": {"choice": ["a", "b", "c"]}
        }"#,
    )
    .unwrap()
}

fn sampled(result: &TuneResult, name: &str) -> Vec<f64> {
    result
        .trials
        .iter()
        .map(|r| r.trial.f64(name).unwrap())
        .collect()
}

/// Two-sided KS statistic of `values` against `cdf`; for integer data pass the CDF at k and
/// just below k (`cdf(k - 1)`), which the empirical CDF jumps between.
fn ks(mut values: Vec<f64>, cdf: impl Fn(f64) -> f64, discrete: bool) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len() as f64;
    let mut d: f64 = 0.0;
    let mut i = 0;
    while i < values.len() {
        let x = values[i];
        let mut j = i;
        while j < values.len() && values[j] == x {
            j += 1;
        }
        let below = if discrete { cdf(x - 1.0) } else { cdf(x) };
        d = d
            .max((i as f64 / n - below).abs())
            .max((j as f64 / n - cdf(x)).abs());
        i = j;
    }
    d
}

#[test]
fn random_search_respects_bounds_and_scales() {
    let stats = fixture("sampling.json");
    let n = stats["n"].as_u64().unwrap() as usize;
    let critical = stats["ks_critical"].as_f64().unwrap();
    let result = tune(
        &sampling_space(),
        &config(
            Strategy::Random {
                trials: n,
                seed: 2026,
            },
            Direction::Minimize,
            None,
        ),
        |_: &Trial, _| Ok::<f64, TuneError>(0.0),
        &NoObserver,
    )
    .unwrap();
    assert_eq!(result.trials.len(), n);

    let alpha = sampled(&result, "alpha");
    assert!(alpha.iter().all(|&a| (0.001..=10.0).contains(&a)));
    let (lo, hi) = (0.001f64.ln(), 10f64.ln());
    let d = ks(
        alpha,
        |a| ((a.ln() - lo) / (hi - lo)).clamp(0.0, 1.0),
        false,
    );
    assert!(
        d < critical,
        "alpha is not log-uniform: KS {d} >= {critical}"
    );

    let x = sampled(&result, "x");
    assert!(x.iter().all(|&v| (-2.0..=3.0).contains(&v)));
    let d = ks(x, |v| ((v + 2.0) / 5.0).clamp(0.0, 1.0), false);
    assert!(d < critical, "x is not uniform: KS {d} >= {critical}");

    for r in &result.trials {
        r.trial.i64("k").unwrap();
        r.trial.i64("m").unwrap();
    }
    let k = sampled(&result, "k");
    assert!(k.iter().all(|&v| (8.0..=64.0).contains(&v)));
    let d = ks(k, |v| ((v.floor() - 7.0) / 57.0).clamp(0.0, 1.0), true);
    assert!(
        d < critical,
        "k is not uniform over 8..=64: KS {d} >= {critical}"
    );

    // Log-uniform over integers: P(m <= j) = ln((j + 1) / 1) / ln(1001).
    let m = sampled(&result, "m");
    assert!(m.iter().all(|&v| (1.0..=1000.0).contains(&v)));
    let d = ks(
        m,
        |v| ((v.floor() + 1.0).max(1.0).ln() / 1001f64.ln()).clamp(0.0, 1.0),
        true,
    );
    assert!(
        d < critical,
        "m is not log-uniform over 1..=1000: KS {d} >= {critical}"
    );

    let losses: BTreeSet<String> = result
        .trials
        .iter()
        .map(|r| r.trial.str("loss").unwrap().to_string())
        .collect();
    assert_eq!(losses, BTreeSet::from(["a".into(), "b".into(), "c".into()]));
}

#[test]
fn random_search_is_reproducible_whatever_the_parallelism() {
    let space = sampling_space();
    let run = |seed: u64, threads: Option<usize>| {
        tune(
            &space,
            &config(
                Strategy::Random { trials: 64, seed },
                Direction::Maximize,
                threads,
            ),
            |t: &Trial, _| -> Result<f64, TuneError> {
                Ok(t.f64("x")? * t.f64("alpha")?.ln() + t.f64("k")? / t.f64("m")?)
            },
            &NoObserver,
        )
        .unwrap()
    };
    let one = run(5, Some(1));
    for threads in [Some(2), Some(4), None] {
        assert_eq!(run(5, threads), one, "{threads:?} threads");
    }
    let other = run(6, Some(2));
    assert_ne!(other.trials[0].trial.params, one.trials[0].trial.params);
    // The best is the maximum, ties to the lowest id.
    let max = one
        .trials
        .iter()
        .filter_map(TrialRecord::value)
        .fold(f64::MIN, f64::max);
    assert_eq!(one.best.value(), Some(max));
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<(bool, usize, f64)>>,
    finished: Mutex<Vec<TrialRecord>>,
}

impl Observer for Recorder {
    fn trial_started(&self, trial: &Trial, budget: f64) {
        self.events.lock().unwrap().push((true, trial.id, budget));
    }

    fn trial_finished(&self, record: &TrialRecord) {
        self.events
            .lock()
            .unwrap()
            .push((false, record.trial.id, record.budget));
        self.finished.lock().unwrap().push(record.clone());
    }
}

#[test]
fn observer_sees_every_start_and_finish() {
    let space = SearchSpace::from_json(r#"{"x": {"float": [0, 1]}}"#).unwrap();
    let recorder = Recorder::default();
    let result = tune(
        &space,
        &config(
            Strategy::Halving {
                candidates: 10,
                seed: 3,
                eta: 3,
            },
            Direction::Minimize,
            Some(3),
        ),
        |t: &Trial, _| -> Result<f64, String> {
            let x = t.f64("x").map_err(|e| e.to_string())?;
            if x > 0.9 {
                Err(format!("x {x} too large"))
            } else {
                Ok(x)
            }
        },
        &recorder,
    )
    .unwrap();
    assert_eq!(result.trials.len(), 10 + 4 + 2);
    let events = recorder.events.into_inner().unwrap();
    assert_eq!(events.len(), 2 * result.trials.len());
    for record in &result.trials {
        let id = record.trial.id;
        let starts: Vec<usize> = (0..events.len())
            .filter(|&i| events[i].0 && events[i].1 == id)
            .collect();
        let ends: Vec<usize> = (0..events.len())
            .filter(|&i| !events[i].0 && events[i].1 == id)
            .collect();
        assert_eq!((starts.len(), ends.len()), (1, 1), "trial {id}");
        assert!(starts[0] < ends[0], "trial {id} finished before it started");
        assert_eq!(events[starts[0]].2, record.budget);
    }
    let mut finished = recorder.finished.into_inner().unwrap();
    finished.sort_by_key(|r| r.trial.id);
    assert_eq!(finished, result.trials);
}

#[test]
fn failed_trials_are_recorded_and_do_not_abort() {
    let fx = fixture("grid.json");
    let space: SearchSpace = serde_json::from_value(fx["space"].clone()).unwrap();
    let result = tune(
        &space,
        &config(Strategy::Grid, Direction::Minimize, Some(2)),
        |t: &Trial, _| -> Result<f64, String> {
            if t.str("loss").unwrap() == "absolute" {
                return Err(format!("absolute loss diverged (trial {})", t.id));
            }
            if t.i64("depth").unwrap() == 10 {
                return Ok(f64::NAN);
            }
            if t.i64("depth").unwrap() == 2 && t.f64("lr").unwrap() == 0.9 {
                return Ok(f64::INFINITY);
            }
            grid_objective(t).map_err(|e| e.to_string())
        },
        &NoObserver,
    )
    .unwrap();
    assert_eq!(result.trials.len(), 405);
    let mut failed = 0;
    for r in &result.trials {
        let loss = r.trial.str("loss").unwrap();
        let depth = r.trial.i64("depth").unwrap();
        let lr = r.trial.f64("lr").unwrap();
        match &r.outcome {
            Outcome::Failed(e) if loss == "absolute" => {
                assert_eq!(e, &format!("absolute loss diverged (trial {})", r.trial.id));
                failed += 1;
            }
            Outcome::Failed(e) if depth == 10 => {
                assert_eq!(e, "objective returned NaN");
                failed += 1;
            }
            Outcome::Failed(e) if depth == 2 && lr == 0.9 => {
                assert_eq!(e, "objective returned inf");
                failed += 1;
            }
            Outcome::Value(_) => {}
            other => panic!("trial {}: unexpected {other:?}", r.trial.id),
        }
    }
    assert_eq!(failed, 135 + 90 + 30);
    // The optimum (huber, depth 6) did not fail.
    assert_eq!(
        result.best.trial.id,
        fx["best_index"].as_u64().unwrap() as usize
    );

    // In halving, a failed candidate is not promoted, even if it was the best.
    let space =
        SearchSpace::from_value(&json!({"c": {"choice": (0..9).collect::<Vec<_>>()}})).unwrap();
    let result = tune(
        &space,
        &config(Strategy::HalvingGrid { eta: 3 }, Direction::Minimize, None),
        |t: &Trial, _| -> Result<f64, String> {
            let c = t.i64("c").unwrap();
            if c == 0 {
                Err("c 0 crashed".into())
            } else {
                Ok(c as f64)
            }
        },
        &NoObserver,
    )
    .unwrap();
    let got = rungs_with_failures(&result);
    assert_eq!(
        got,
        vec![(0..9).collect::<Vec<_>>(), vec![1, 2, 3], vec![1]]
    );
    assert_eq!(result.best.trial.candidate, 1);
}

fn rungs_with_failures(result: &TuneResult) -> Vec<Vec<usize>> {
    let mut by_rung: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for r in &result.trials {
        by_rung
            .entry(r.trial.rung)
            .or_default()
            .push(r.trial.candidate);
    }
    by_rung.into_values().collect()
}

#[test]
fn all_trials_failing_is_an_error_naming_the_first() {
    let space = SearchSpace::from_json(r#"{"x": {"float": [0, 1], "steps": 4}}"#).unwrap();
    let err = tune(
        &space,
        &config(Strategy::Grid, Direction::Minimize, None),
        |t: &Trial, _| -> Result<f64, String> { Err(format!("no data for trial {}", t.id)) },
        &NoObserver,
    )
    .unwrap_err();
    assert!(
        matches!(&err, TuneError::AllTrialsFailed { trials: 4, first_id: 0, first_error } if first_error == "no data for trial 0"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "all 4 trials failed; trial 0: no data for trial 0"
    );
}

#[test]
fn max_parallelism_bounds_concurrent_trials() {
    let space = SearchSpace::from_json(r#"{"x": {"float": [0, 1]}}"#).unwrap();
    for limit in [1, 3] {
        let active = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        tune(
            &space,
            &config(
                Strategy::Random {
                    trials: 12,
                    seed: 1,
                },
                Direction::Minimize,
                Some(limit),
            ),
            |t: &Trial, _| -> Result<f64, TuneError> {
                let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                active.fetch_sub(1, Ordering::SeqCst);
                t.f64("x")
            },
            &NoObserver,
        )
        .unwrap();
        let peak = peak.into_inner();
        assert!(peak <= limit, "limit {limit}: {peak} trials ran at once");
        if limit > 1 {
            assert!(peak > 1, "limit {limit}: trials never overlapped");
        }
    }
}

fn space_error(json: &str) -> TuneError {
    SearchSpace::from_json(json).unwrap_err()
}

#[test]
fn each_bad_space_is_an_error_naming_the_parameter() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"a": {"float": [0, 1], "stpes": 3}}"#,
            "unknown field `stpes`",
        ),
        (
            r#"{"a": {"log": true}}"#,
            "needs exactly one of `float`, `int`, `choice`, got none",
        ),
        (
            r#"{"a": {"float": [0, 1], "int": [0, 1]}}"#,
            "got float and int",
        ),
        (
            r#"{"a": {"float": [1]}}"#,
            "`float` takes [low, high], got 1 values",
        ),
        (
            r#"{"a": {"int": [1, 2, 3]}}"#,
            "`int` takes [low, high], got 3 values",
        ),
        (r#"{"a": {"float": [2, 1]}}"#, "low 2 > high 1"),
        (r#"{"a": {"int": [9, 3]}}"#, "low 9 > high 3"),
        (r#"{"a": {"float": [1.5, 1.5]}}"#, "empty range [1.5, 1.5]"),
        (r#"{"a": {"int": [3, 3]}}"#, "empty range [3, 3]"),
        (
            r#"{"a": {"float": [0, 1], "log": true}}"#,
            "`log` needs low > 0, got low 0",
        ),
        (
            r#"{"a": {"int": [-2, 5], "log": true}}"#,
            "`log` needs low > 0, got low -2",
        ),
        (r#"{"a": {"choice": []}}"#, "`choice` is empty"),
        (
            r#"{"a": {"choice": ["x", "y", "x"]}}"#,
            "`choice` value \"x\" appears twice",
        ),
        (
            r#"{"a": {"choice": [1, 2], "log": true}}"#,
            "`log` applies to `float` and `int` ranges, not to `choice`",
        ),
        (
            r#"{"a": {"choice": [1, 2], "steps": 2}}"#,
            "`steps` applies to",
        ),
        (
            r#"{"a": {"float": [0, 1], "steps": 1}}"#,
            "`steps` must be at least 2",
        ),
        (
            r#"{"a": {"float": [0, 1], "steps": 3, "grid": [0.5]}}"#,
            "either `steps` or `grid`",
        ),
        (r#"{"a": {"float": [0, 1], "grid": []}}"#, "`grid` is empty"),
        (
            r#"{"a": {"float": [0, 1], "grid": [0.5, 1.5]}}"#,
            "grid value 1.5 is outside [0, 1]",
        ),
        (
            r#"{"a": {"float": [0, 1], "grid": [0.5, "x"]}}"#,
            "grid value \"x\" is not a number",
        ),
        (
            r#"{"a": {"int": [0, 10], "grid": [2, 2.5]}}"#,
            "grid value 2.5 is not an integer",
        ),
        (
            r#"{"a": {"int": [0, 10], "grid": [2, 2]}}"#,
            "`grid` value 2 appears twice",
        ),
        (
            r#"{"a": {"int": [0, 3], "steps": 5}}"#,
            "`steps` 5 exceeds the 4 integers in [0, 3]",
        ),
        (
            r#"{"a": {"int": [1.5, 3]}}"#,
            "invalid type: floating point `1.5`, expected i64",
        ),
        (r#"{"a": 3}"#, "invalid type"),
    ];
    for (json, reason) in cases {
        // A valid parameter validated before the bad one ("B" sorts before "a"): the error names "a".
        let with_good = json.replacen('{', r#"{"B": {"float": [0, 1]}, "#, 1);
        let err = space_error(&with_good);
        match &err {
            TuneError::InvalidParam { param, reason: r } => {
                assert_eq!(param, "a", "{json}");
                assert!(r.contains(reason), "{json}: reason {r:?} lacks {reason:?}");
            }
            other => panic!("{json}: {other:?}"),
        }
        assert!(
            err.to_string().starts_with("search space parameter 'a': "),
            "{err}"
        );
        // Through serde (as when the space is a field of a pipeline config).
        let via_serde = serde_json::from_str::<SearchSpace>(&with_good).unwrap_err();
        assert!(
            via_serde.to_string().contains("parameter 'a'"),
            "{via_serde}"
        );
    }

    assert!(matches!(space_error("{}"), TuneError::EmptySpace));
    assert!(matches!(space_error("[1, 2]"), TuneError::SpaceNotObject(m) if m == "got an array"));
    assert!(matches!(
        space_error("{\"a\": "),
        TuneError::SpaceNotObject(_)
    ));
}

#[test]
fn bad_settings_are_errors_naming_the_setting() {
    let space =
        SearchSpace::from_json(r#"{"x": {"float": [0, 1]}, "y": {"int": [0, 4]}}"#).unwrap();
    let objective = |t: &Trial, _: f64| t.f64("x");
    let cases = [
        (Strategy::Random { trials: 0, seed: 1 }, None, "trials"),
        (
            Strategy::Halving {
                candidates: 0,
                seed: 1,
                eta: 3,
            },
            None,
            "candidates",
        ),
        (
            Strategy::Halving {
                candidates: 9,
                seed: 1,
                eta: 1,
            },
            None,
            "eta",
        ),
        (Strategy::HalvingGrid { eta: 0 }, None, "eta"),
        (
            Strategy::Random { trials: 3, seed: 1 },
            Some(0),
            "max_parallelism",
        ),
    ];
    for (strategy, threads, setting) in cases {
        let err = tune(
            &space,
            &config(strategy.clone(), Direction::Minimize, threads),
            objective,
            &NoObserver,
        )
        .unwrap_err();
        assert!(
            matches!(&err, TuneError::InvalidSetting { setting: s, .. } if *s == setting),
            "{strategy:?}: {err:?}"
        );
        assert!(err.to_string().contains(&format!("`{setting}`")), "{err}");
    }
    // Grid search needs steps or grid on every range: the first such parameter is named.
    for strategy in [Strategy::Grid, Strategy::HalvingGrid { eta: 3 }] {
        let err = tune(
            &space,
            &config(strategy, Direction::Minimize, None),
            objective,
            &NoObserver,
        )
        .unwrap_err();
        assert!(
            matches!(&err, TuneError::NotGriddable(p) if p == "x"),
            "{err:?}"
        );
        assert!(err.to_string().contains("'x'"), "{err}");
    }
}

#[test]
fn configs_and_results_round_trip_through_json() {
    let parsed: TuneConfig = serde_json::from_str(
        r#"{"strategy": {"kind": "halving", "candidates": 27, "seed": 4}, "direction": "maximize"}"#,
    )
    .unwrap();
    assert_eq!(
        parsed,
        TuneConfig {
            strategy: Strategy::Halving {
                candidates: 27,
                seed: 4,
                eta: 3
            },
            direction: Direction::Maximize,
            max_parallelism: None,
        }
    );
    for bad in [
        r#"{"strategy": {"kind": "random", "trials": 5, "seed": 1, "n": 2}, "direction": "minimize"}"#,
        r#"{"strategy": {"kind": "grid"}, "direction": "minimize", "threads": 2}"#,
        r#"{"strategy": {"kind": "bayes"}, "direction": "minimize"}"#,
    ] {
        assert!(serde_json::from_str::<TuneConfig>(bad).is_err(), "{bad}");
    }

    let space = SearchSpace::from_json(
        r#"{"x": {"float": [0, 1], "steps": 3}, "l": {"choice": ["a", "b"]}}"#,
    )
    .unwrap();
    let result = tune(
        &space,
        &config(Strategy::Grid, Direction::Minimize, None),
        |t: &Trial, _| -> Result<f64, String> {
            if t.str("l").unwrap() == "b" {
                Err("b failed".into())
            } else {
                Ok(t.f64("x").unwrap())
            }
        },
        &NoObserver,
    )
    .unwrap();
    let text = serde_json::to_string(&result).unwrap();
    let back: TuneResult = serde_json::from_str(&text).unwrap();
    assert_eq!(back, result);
    let value: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["best"]["outcome"], json!({"value": 0.0}));
    assert_eq!(value["trials"][3]["outcome"], json!({"failed": "b failed"}));
    assert_eq!(
        value["best"]["trial"]["params"],
        json!({"l": "a", "x": 0.0})
    );
}

#[test]
fn trial_accessors_name_the_parameter() {
    let trial = Trial {
        id: 0,
        candidate: 0,
        rung: 0,
        params: json!({"x": 0.5, "k": 3, "loss": "huber"})
            .as_object()
            .unwrap()
            .clone(),
    };
    assert_eq!(trial.f64("k").unwrap(), 3.0);
    assert_eq!(trial.i64("k").unwrap(), 3);
    assert_eq!(trial.str("loss").unwrap(), "huber");
    let err = trial.i64("x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "trial parameter 'x': expected an integer, got 0.5"
    );
    let err = trial.f64("loss").unwrap_err();
    assert_eq!(
        err.to_string(),
        "trial parameter 'loss': expected a number, got \"huber\""
    );
    let err = trial.str("missing").unwrap_err();
    assert_eq!(
        err.to_string(),
        "trial parameter 'missing': not in this trial"
    );
}
