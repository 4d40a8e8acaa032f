//! Rolling-origin backtesting: window layout, metrics on known series, summaries, and the
//! skip / error rules.

use esteira_ml::backtest::{
    Backtest, BacktestError, BacktestSpec, Summary, UNNAMED_SERIES, backtest_many, backtest_series,
};
use esteira_ml::forecast::Method;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * (1.0 + b.abs())
}

fn assert_close(got: f64, want: f64, what: &str) {
    assert!(close(got, want), "{what}: got {got}, want {want}");
}

fn spec(horizon: usize, windows: usize, step: usize, season: usize) -> BacktestSpec {
    BacktestSpec {
        horizon,
        windows,
        step,
        season,
    }
}

fn ramp(n: usize, slope: f64) -> Vec<f64> {
    (0..n).map(|t| 10.0 + slope * t as f64).collect()
}

/// Metric values of every window, latest first.
fn per_window(bt: &Backtest, metric: &str) -> Vec<Option<f64>> {
    bt.windows
        .iter()
        .map(|w| w.metrics.get(metric).copied())
        .collect()
}

#[test]
fn window_boundaries_are_exact() {
    // n = 10, h = 2, step = 2: train lengths 10 - 2 - 2k = 8, 6, 4.
    let series = ramp(10, 1.0);
    let bt = backtest_series(&series, Method::Naive, spec(2, 3, 2, 1)).unwrap();
    let got: Vec<(usize, usize, usize)> = bt
        .windows
        .iter()
        .map(|w| (w.window, w.origin, w.train_len))
        .collect();
    assert_eq!(got, vec![(0, 7, 8), (1, 5, 6), (2, 3, 4)]);

    // The scored points really are series[train_len..train_len + h]: on a ramp with
    // naive, the bias is -(1 + 2) / 2 whichever block is used, so check with a series
    // whose last block differs from the others.
    let mut bumped = series.clone();
    bumped[9] += 100.0; // only in window 0's test block (indices 8, 9)
    let bt2 = backtest_series(&bumped, Method::Naive, spec(2, 3, 2, 1)).unwrap();
    assert_close(
        bt2.windows[0].metrics["mae"],
        (1.0 + 102.0) / 2.0,
        "window 0 mae",
    );
    assert_close(bt2.windows[1].metrics["mae"], 1.5, "window 1 mae");
    assert_close(bt2.windows[2].metrics["mae"], 1.5, "window 2 mae");
}

#[test]
fn minimum_length_is_horizon_plus_steps_plus_min_train() {
    let s = spec(2, 3, 2, 1);
    assert_eq!(s.min_train(), 3);
    assert_eq!(s.required_len(), 2 + 2 * 2 + 3);
    let seasonal = spec(1, 1, 1, 12);
    assert_eq!(seasonal.min_train(), 24);
    assert_eq!(seasonal.required_len(), 25);

    // Exactly the minimum: the earliest window trains on exactly min_train points.
    let bt = backtest_series(&ramp(9, 1.0), Method::Naive, s).unwrap();
    assert_eq!(bt.windows.last().unwrap().train_len, 3);
    // One point fewer is too short.
    let err = backtest_series(&ramp(8, 1.0), Method::Naive, s).unwrap_err();
    assert_eq!(
        err,
        BacktestError::TooShort {
            series: UNNAMED_SERIES.into(),
            len: 8,
            needed: 9
        }
    );
}

#[test]
fn seasonal_naive_on_periodic_series_has_zero_smape_everywhere() {
    let pattern = [1.0, 5.0, 3.0, 7.0];
    let series: Vec<f64> = (0..24).map(|t| pattern[t % 4]).collect();
    let bt = backtest_series(&series, Method::SeasonalNaive, spec(4, 5, 1, 4)).unwrap();
    assert_eq!(bt.windows.len(), 5);
    for w in &bt.windows {
        assert_eq!(w.metrics["smape"], 0.0, "window {}", w.window);
        assert_eq!(w.metrics["mae"], 0.0, "window {}", w.window);
        // Zero-width intervals still contain the exact forecasts.
        assert_eq!(w.metrics["coverage95"], 1.0, "window {}", w.window);
        // The training data has no seasonal variation: MASE is undefined and left out.
        assert!(!w.metrics.contains_key("mase"), "window {}", w.window);
    }
    assert_eq!(bt.summary["smape"].n, 5);
    assert_eq!(bt.summary["smape"].max, 0.0);
    assert!(!bt.summary.contains_key("mase"));

    // Control: plain naive on the same series is far from zero, so the check can fail.
    let naive = backtest_series(&series, Method::Naive, spec(4, 5, 1, 4)).unwrap();
    assert!(naive.summary["smape"].min > 10.0);
}

#[test]
fn naive_on_linear_ramp_gives_known_errors() {
    // Naive on a ramp of slope s misses step k by s*k: MAE = s(h+1)/2,
    // RMSE = s*sqrt((h+1)(2h+1)/6), bias = -s(h+1)/2, MASE = MAE / s = (h+1)/2.
    let (s, h) = (0.5, 4usize);
    let series = ramp(40, s);
    let bt = backtest_series(&series, Method::Naive, spec(h, 6, 3, 1)).unwrap();
    let hf = h as f64;
    for w in &bt.windows {
        let m = &w.metrics;
        assert_close(m["mae"], s * (hf + 1.0) / 2.0, "mae");
        assert_close(
            m["rmse"],
            s * ((hf + 1.0) * (2.0 * hf + 1.0) / 6.0).sqrt(),
            "rmse",
        );
        assert_close(m["bias"], -s * (hf + 1.0) / 2.0, "bias");
        assert_close(m["mase"], (hf + 1.0) / 2.0, "mase");
        assert!(m.contains_key("coverage80") && m.contains_key("coverage95"));
    }
    assert_close(bt.summary["mae"].mean, 1.25, "summary mae mean");
    assert_eq!(bt.summary["mae"].std, 0.0);
}

/// Naive, h = 1, season 1: window k's error is |x[n-1-k] - x[n-2-k]|.
/// Window 0: 16 vs 13 → 3; window 1: 13 vs 11 → 2; window 2: 11 vs 10 → 1.
fn step_series() -> Vec<f64> {
    vec![10.0, 10.0, 10.0, 10.0, 11.0, 13.0, 16.0]
}

#[test]
fn summary_mean_and_sample_std_by_hand() {
    let bt = backtest_series(&step_series(), Method::Naive, spec(1, 3, 1, 1)).unwrap();
    assert_eq!(
        per_window(&bt, "mae"),
        vec![Some(3.0), Some(2.0), Some(1.0)]
    );
    // mean 2, sample std sqrt(((1)^2 + 0 + (-1)^2) / 2) = 1 (population std would be 0.816).
    let mae = bt.summary["mae"];
    assert_eq!(mae.n, 3);
    assert_close(mae.mean, 2.0, "mean");
    assert_close(mae.std, 1.0, "std");
    assert_eq!((mae.min, mae.max), (1.0, 3.0));
    let b = bt.summary["bias"];
    assert_close(b.mean, -2.0, "bias mean");

    // MASE: window 0 scale = mean(0,0,0,1,2) = 0.6 → 5; window 1 scale = mean(0,0,0,1) =
    // 0.25 → 8; window 2 trains on a constant (scale 0) → undefined, left out.
    assert_eq!(per_window(&bt, "mase")[2], None);
    assert_close(bt.windows[0].metrics["mase"], 5.0, "mase w0");
    assert_close(bt.windows[1].metrics["mase"], 8.0, "mase w1");
    let mase = bt.summary["mase"];
    assert_eq!(mase.n, 2);
    assert_close(mase.mean, 6.5, "mase mean");
    assert_close(mase.std, 1.5 * 2f64.sqrt(), "mase std");
}

#[test]
fn summary_of_edge_cases() {
    assert_eq!(Summary::of(&[]), None);
    let one = Summary::of(&[4.0]).unwrap();
    assert_eq!(
        (one.n, one.mean, one.std, one.min, one.max),
        (1, 4.0, 0.0, 4.0, 4.0)
    );
    // Large offset: a one-pass formula would lose the spread.
    let big = Summary::of(&[1e9 + 1.0, 1e9 + 2.0, 1e9 + 3.0]).unwrap();
    assert_close(big.std, 1.0, "std with offset");
}

#[test]
fn single_window_has_zero_std() {
    let bt = backtest_series(&step_series(), Method::Naive, spec(1, 1, 1, 1)).unwrap();
    assert_eq!(bt.windows.len(), 1);
    assert_eq!(bt.summary["mae"].std, 0.0);
    assert_eq!(bt.summary["mae"].mean, 3.0);
}

#[test]
fn many_pools_every_window_and_skips_short_series() {
    let input = vec![
        ("steps".to_string(), step_series()),
        ("tiny".to_string(), vec![1.0, 2.0]),
        ("ramp".to_string(), ramp(7, 2.0)),
        ("empty".to_string(), vec![]),
    ];
    let res = backtest_many(&input, Method::Naive, spec(1, 3, 1, 1)).unwrap();
    let names: Vec<&str> = res.series.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["steps", "ramp"]);

    let skipped: Vec<&str> = res.skipped.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(skipped, vec!["tiny", "empty"]);
    assert!(
        res.skipped[0].1.contains("too short"),
        "{}",
        res.skipped[0].1
    );
    assert!(
        res.skipped[0].1.contains("2 points"),
        "{}",
        res.skipped[0].1
    );
    assert!(
        res.skipped[0].1.contains("at least 6"),
        "{}",
        res.skipped[0].1
    );

    // Pooled over the six windows [3, 2, 1] and [2, 2, 2]: mean 2, sample std
    // sqrt(2 / 5); the mean of the per-series stds would be 0.5.
    let mae = res.pooled["mae"];
    assert_eq!(mae.n, 6);
    assert_close(mae.mean, 2.0, "pooled mean");
    assert_close(mae.std, (2.0f64 / 5.0).sqrt(), "pooled std");
    assert_eq!((mae.min, mae.max), (1.0, 3.0));
    // MASE is defined in 2 windows of "steps" and all 3 of "ramp".
    assert_eq!(res.pooled["mase"].n, 5);
}

#[test]
fn all_series_skipped_gives_empty_result() {
    let input = vec![("a".to_string(), vec![1.0; 3])];
    let res = backtest_many(&input, Method::Naive, spec(2, 2, 1, 1)).unwrap();
    assert!(res.series.is_empty());
    assert_eq!(res.skipped.len(), 1);
    assert!(res.pooled.is_empty());
}

#[test]
fn nan_series_is_an_error_naming_it() {
    let mut bad = ramp(20, 1.0);
    bad[5] = f64::NAN;
    let input = vec![
        ("good".to_string(), ramp(20, 1.0)),
        ("store-7".to_string(), bad),
    ];
    let err = backtest_many(&input, Method::Naive, spec(2, 2, 1, 1)).unwrap_err();
    match &err {
        BacktestError::NonFinite { series, index, .. } => {
            assert_eq!(series, "store-7");
            assert_eq!(*index, 5);
        }
        other => panic!("expected NonFinite, got {other:?}"),
    }
    assert!(err.to_string().contains("store-7"), "{err}");

    // Invalid values are not excused by being short: still an error, not a skip.
    let input = vec![("short-inf".to_string(), vec![1.0, f64::INFINITY])];
    let err = backtest_many(&input, Method::Naive, spec(2, 2, 1, 1)).unwrap_err();
    assert!(
        matches!(&err, BacktestError::NonFinite { series, index: 1, .. } if series == "short-inf"),
        "{err:?}"
    );
}

#[test]
fn spec_validation_names_the_field() {
    let series = ramp(50, 1.0);
    for (bad, field) in [
        (spec(0, 2, 1, 1), "horizon"),
        (spec(2, 0, 1, 1), "windows"),
        (spec(2, 2, 0, 1), "step"),
        (spec(2, 2, 1, 0), "season"),
    ] {
        let err = backtest_series(&series, Method::Naive, bad).unwrap_err();
        assert!(
            matches!(&err, BacktestError::InvalidSpec { field: f, .. } if *f == field),
            "{field}: {err:?}"
        );
        let err = backtest_many(&[("x".into(), series.clone())], Method::Naive, bad).unwrap_err();
        assert!(
            matches!(&err, BacktestError::InvalidSpec { field: f, .. } if *f == field),
            "{field}: {err:?}"
        );
    }
    assert!(spec(1, 1, 1, 1).validate().is_ok());
}

#[test]
fn results_round_trip_through_json() {
    let input = vec![
        ("steps".to_string(), step_series()),
        ("tiny".to_string(), vec![1.0]),
    ];
    let res = backtest_many(&input, Method::Naive, spec(1, 3, 1, 1)).unwrap();
    let json = serde_json::to_string(&res).unwrap();
    let back: esteira_ml::backtest::BacktestMany = serde_json::from_str(&json).unwrap();
    // The workspace's serde_json parses floats without `float_roundtrip`, which may be off
    // by one ULP; everything else must come back identical.
    let ulp = |a: f64, b: f64| (a - b).abs() <= 4.0 * f64::EPSILON * a.abs().max(b.abs());
    assert_eq!(back.skipped, res.skipped);
    assert_eq!(back.series.len(), res.series.len());
    for (b, r) in back.series.iter().zip(&res.series) {
        assert_eq!(b.name, r.name);
        for (bw, rw) in b.backtest.windows.iter().zip(&r.backtest.windows) {
            assert_eq!(
                (bw.window, bw.origin, bw.train_len),
                (rw.window, rw.origin, rw.train_len)
            );
            assert!(bw.metrics.keys().eq(rw.metrics.keys()));
            for (k, v) in &rw.metrics {
                assert!(ulp(bw.metrics[k], *v), "{k}: {} vs {v}", bw.metrics[k]);
            }
        }
    }
    for (k, r) in &res.pooled {
        let b = back.pooled[k];
        assert_eq!(b.n, r.n);
        for (x, y) in [
            (b.mean, r.mean),
            (b.std, r.std),
            (b.min, r.min),
            (b.max, r.max),
        ] {
            assert!(ulp(x, y), "{k}: {x} vs {y}");
        }
    }
    assert_eq!(back.pooled.len(), res.pooled.len());
    let s: BacktestSpec =
        serde_json::from_str(r#"{"horizon":3,"windows":2,"step":1,"season":7}"#).unwrap();
    assert_eq!(s, spec(3, 2, 1, 7));
}

#[test]
fn every_method_runs_on_a_seasonal_series() {
    let pattern = [1.3, 0.8, 1.1, 0.8];
    let series: Vec<f64> = (0..48)
        .map(|t| (100.0 + t as f64) * pattern[t % 4])
        .collect();
    for method in Method::EVERY {
        let bt = backtest_series(&series, method, spec(4, 3, 2, 4)).unwrap();
        assert_eq!(bt.windows.len(), 3, "{method}");
        for key in ["smape", "mase", "mae", "rmse", "wape", "bias"] {
            assert_eq!(bt.summary[key].n, 3, "{method} {key}");
            assert!(bt.summary[key].mean.is_finite(), "{method} {key}");
        }
        // Every method has intervals on a series this long.
        assert!(bt.summary.contains_key("coverage80"), "{method}");
        assert!(bt.summary.contains_key("coverage95"), "{method}");
    }
}
